"""The numbers: pass@1, pass^k, means per trial, and paired bootstrap 95% intervals over tasks.

* pass@1: the mean over tasks of each task's share of passing trials.
* pass^k: tau-bench's measure of consistency, the chance that k trials of a task *all* pass, estimated
  per task without bias as ``C(c, k) / C(n, k)`` (c passes of n trials) and averaged over tasks; with
  n = k it is simply "all k passed".
* Intervals resample *tasks* (the unit the benchmark samples), with replacement, from a fixed seed; a
  delta between two conditions is computed per task first (paired: same task, same seeds), so the
  interval reflects only the task-to-task variation of the difference.

Errors (a trial that could not run) are left out of the rates and counted separately.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from math import comb

from interleaf.eval.results import TrialRecord

DEFAULT_RESAMPLES = 2000
BOOTSTRAP_SEED = 20251
"""Fixed, so the same results always give the same intervals."""


@dataclass(frozen=True, slots=True)
class Interval:
    value: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class ConditionStats:
    condition: str
    tasks: int
    trials: int
    errors: int
    pass_at_1: Interval
    pass_hat_k: float | None
    k: int
    mean_steps: float
    mean_input_tokens: float
    mean_output_tokens: float
    mean_thinking_tokens: float
    thinking_estimated: bool
    mean_wall_seconds: float
    mean_model_seconds: float
    mean_cost: float | None


@dataclass(frozen=True, slots=True)
class Delta:
    condition: str
    baseline: str
    tasks: int
    delta: Interval


def pass_hat_k(passes: int, trials: int, k: int) -> float:
    """tau-bench's unbiased pass^k for one task: C(c, k) / C(n, k)."""
    if trials < k:
        raise ValueError(f"pass^{k} needs at least {k} trials, got {trials}")
    return comb(passes, k) / comb(trials, k)


def task_rates(records: Iterable[TrialRecord]) -> dict[str, dict[str, tuple[int, int]]]:
    """``condition -> task -> (passes, graded trials)``."""
    rates: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for record in records:
        if record.outcome == "error":
            continue
        cell = rates[record.condition][record.task]
        cell[0] += record.passed
        cell[1] += 1
    return {c: {t: (v[0], v[1]) for t, v in tasks.items()} for c, tasks in rates.items()}


def bootstrap_mean(
    values: Sequence[float], resamples: int = DEFAULT_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> Interval:
    """The mean of ``values`` with a percentile bootstrap 95% interval (resampling the values)."""
    if not values:
        return Interval(float("nan"), float("nan"), float("nan"))
    mean = sum(values) / len(values)
    if len(values) == 1:
        return Interval(mean, mean, mean)
    rng = random.Random(seed)
    size = len(values)
    means = sorted(sum(values[rng.randrange(size)] for _ in range(size)) / size for _ in range(resamples))
    return Interval(mean, means[int(0.025 * (resamples - 1))], means[int(0.975 * (resamples - 1))])


def condition_stats(
    records: Sequence[TrialRecord], condition: str, k: int, resamples: int = DEFAULT_RESAMPLES
) -> ConditionStats:
    mine = [r for r in records if r.condition == condition]
    graded = [r for r in mine if r.outcome != "error"]
    per_task = task_rates(graded).get(condition, {})
    rates = [passes / trials for passes, trials in per_task.values() if trials]
    eligible = [(p, n) for p, n in per_task.values() if n >= k]
    hat = sum(pass_hat_k(p, n, k) for p, n in eligible) / len(eligible) if eligible and k > 1 else None
    costs = [r.metrics.cost for r in graded if r.metrics.cost is not None]

    def mean(values: Iterable[float]) -> float:
        items = list(values)
        return sum(items) / len(items) if items else 0.0

    return ConditionStats(
        condition=condition,
        tasks=len(per_task),
        trials=len(graded),
        errors=len(mine) - len(graded),
        pass_at_1=bootstrap_mean(rates, resamples),
        pass_hat_k=hat,
        k=k,
        mean_steps=mean(r.metrics.steps for r in graded),
        mean_input_tokens=mean(r.metrics.input_tokens for r in graded),
        mean_output_tokens=mean(r.metrics.output_tokens for r in graded),
        mean_thinking_tokens=mean(r.metrics.thinking_tokens for r in graded),
        thinking_estimated=any(r.metrics.thinking_estimated for r in graded),
        mean_wall_seconds=mean(r.metrics.wall_seconds for r in graded),
        mean_model_seconds=mean(r.metrics.model_seconds for r in graded),
        mean_cost=mean(costs) if costs else None,
    )


def paired_delta(
    records: Sequence[TrialRecord], condition: str, baseline: str, resamples: int = DEFAULT_RESAMPLES
) -> Delta:
    """``condition - baseline`` in pass@1 over the tasks both have graded trials for."""
    rates = task_rates(records)
    mine, base = rates.get(condition, {}), rates.get(baseline, {})
    common = sorted(set(mine) & set(base))
    diffs = [mine[t][0] / mine[t][1] - base[t][0] / base[t][1] for t in common]
    return Delta(condition, baseline, len(common), bootstrap_mean(diffs, resamples))


def grouped_accuracy(
    records: Sequence[TrialRecord], keys: Sequence[str]
) -> dict[tuple[str, ...], tuple[int, int]]:
    """``(condition, *task_info[keys]) -> (passes, graded)``: the needle plot's points."""
    cells: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
    for record in records:
        if record.outcome == "error":
            continue
        key = (record.condition, *(str(record.task_info.get(k, "")) for k in keys))
        cells[key][0] += record.passed
        cells[key][1] += 1
    return {key: (v[0], v[1]) for key, v in cells.items()}


def largest_differences(
    records: Sequence[TrialRecord], baseline: str, limit: int = 20
) -> list[dict[str, object]]:
    """Tasks whose pass rate differs most between ``baseline`` and another condition, largest first."""
    rates = task_rates(records)
    base = rates.get(baseline, {})
    rows: list[dict[str, object]] = []
    for condition, tasks in rates.items():
        if condition == baseline:
            continue
        for task, (passes, trials) in tasks.items():
            if task not in base:
                continue
            delta = passes / trials - base[task][0] / base[task][1]
            if delta:
                rows.append({"task": task, "condition": condition, "delta": delta})
    rows.sort(key=lambda row: (-abs(float(str(row["delta"]))), str(row["task"]), str(row["condition"])))
    return rows[:limit]
