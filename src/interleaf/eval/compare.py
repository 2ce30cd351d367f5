"""``interleaf eval compare DIR1 DIR2``: two runs of one suite (two models, two deployments) side by side.

For each condition both runs have: pass@1 of each, and the paired difference (run 2 - run 1) over the
tasks both graded, with a bootstrap 95% interval over those tasks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interleaf.eval.report_data import RunData, load_run, percent
from interleaf.eval.results import ResultsError
from interleaf.eval.stats import DEFAULT_RESAMPLES, bootstrap_mean, condition_stats, task_rates


def compare_runs(first: Path, second: Path, *, resamples: int = DEFAULT_RESAMPLES) -> dict[str, Any]:
    one, two = load_run(first), load_run(second)
    if one.run.get("suite") != two.run.get("suite"):
        raise ResultsError(
            f"{first} ran {one.run.get('suite')!r} and {second} ran {two.run.get('suite')!r}; compare runs of one suite"
        )
    rows = []
    for condition in [c for c in one.conditions if c in two.conditions]:
        a = condition_stats(one.records, condition, one.k, resamples)
        b = condition_stats(two.records, condition, two.k, resamples)
        rates_a = task_rates(one.records).get(condition, {})
        rates_b = task_rates(two.records).get(condition, {})
        common = sorted(set(rates_a) & set(rates_b))
        diffs = [rates_b[t][0] / rates_b[t][1] - rates_a[t][0] / rates_a[t][1] for t in common]
        delta = bootstrap_mean(diffs, resamples)
        rows.append(
            {
                "condition": condition,
                "first": {
                    "pass_at_1": a.pass_at_1.value,
                    "low": a.pass_at_1.low,
                    "high": a.pass_at_1.high,
                    "trials": a.trials,
                },
                "second": {
                    "pass_at_1": b.pass_at_1.value,
                    "low": b.pass_at_1.low,
                    "high": b.pass_at_1.high,
                    "trials": b.trials,
                },
                "common_tasks": len(common),
                "delta": {"value": delta.value, "low": delta.low, "high": delta.high},
            }
        )
    if not rows:
        raise ResultsError(f"{first} and {second} share no condition; nothing to compare")
    return {"suite": one.run.get("suite"), "first": _label(one), "second": _label(two), "conditions": rows}


def _label(data: RunData) -> dict[str, Any]:
    return {
        "directory": str(data.directory),
        "model": data.run.get("model"),
        "profile": data.run.get("profile"),
        "endpoint": data.run.get("endpoint"),
        "suite_version": data.run.get("suite_version"),
    }


def comparison_table(result: dict[str, Any]) -> Any:
    from rich.table import Table

    first, second = result["first"], result["second"]
    table = Table(
        title=f"{result['suite']}: 1 = {first['model']} ({first['profile']}), 2 = {second['model']} ({second['profile']})",
        header_style="bold",
    )
    for column in ("condition", "pass@1 run 1", "pass@1 run 2", "2 - 1 (points)", "common tasks"):
        table.add_column(column, justify="left" if column == "condition" else "right")
    for row in result["conditions"]:
        a, b, d = row["first"], row["second"], row["delta"]
        table.add_row(
            row["condition"],
            f"{percent(a['pass_at_1'])} [{percent(a['low'])}, {percent(a['high'])}]",
            f"{percent(b['pass_at_1'])} [{percent(b['low'])}, {percent(b['high'])}]",
            f"{100 * d['value']:+.1f} [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]",
            str(row["common_tasks"]),
        )
    return table
