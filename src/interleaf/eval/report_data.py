"""A run directory read back: its settings, the latest record of each trial, and the summary numbers
the terminal table, the HTML report and ``compare`` all show."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interleaf.eval.conditions import BASELINE, CONDITIONS
from interleaf.eval.results import ResultsError, ResultsFile, TrialRecord, read_run
from interleaf.eval.stats import DEFAULT_RESAMPLES, ConditionStats, Delta, condition_stats, paired_delta


@dataclass
class RunData:
    directory: Path
    run: dict[str, Any]
    records: list[TrialRecord]

    @property
    def conditions(self) -> list[str]:
        present = {r.condition for r in self.records}
        ordered = [c for c in CONDITIONS if c in present]
        return ordered + sorted(present - set(ordered))

    @property
    def policies(self) -> list[str]:
        return sorted({r.context_policy for r in self.records})

    @property
    def k(self) -> int:
        return int(self.run.get("k", 1))

    @property
    def baseline(self) -> str:
        return (
            BASELINE if BASELINE in self.conditions else (self.conditions[0] if self.conditions else BASELINE)
        )

    @property
    def chance(self) -> float | None:
        values = [float(v) for v in dict(self.run.get("chance", {})).values()]
        return sum(values) / len(values) if values else None

    def stats(self, resamples: int = DEFAULT_RESAMPLES) -> list[ConditionStats]:
        return [condition_stats(self.records, c, self.k, resamples) for c in self.conditions]

    def deltas(self, resamples: int = DEFAULT_RESAMPLES) -> list[Delta]:
        return [
            paired_delta(self.records, c, self.baseline, resamples)
            for c in self.conditions
            if c != self.baseline
        ]


def load_run(directory: Path) -> RunData:
    """Read ``run.json`` and ``results.jsonl``; keeps only each trial's latest record."""
    if not directory.is_dir():
        raise ResultsError(
            f"{directory} is not a directory; pass the --out directory of `interleaf eval run`"
        )
    run = read_run(directory)
    records = sorted(ResultsFile(directory).latest().values(), key=lambda r: r.key)
    return RunData(directory, run, records)


def percent(value: float) -> str:
    return "-" if value != value else f"{100 * value:.1f}%"


def summary_rows(data: RunData, resamples: int = DEFAULT_RESAMPLES) -> list[dict[str, str]]:
    """One row per condition, formatted for people."""
    deltas = {d.condition: d for d in data.deltas(resamples)}
    rows = []
    for stats in data.stats(resamples):
        delta = deltas.get(stats.condition)
        p = stats.pass_at_1
        rows.append(
            {
                "condition": stats.condition,
                "tasks": str(stats.tasks),
                "trials": str(stats.trials),
                "errors": str(stats.errors),
                "pass@1": percent(p.value),
                "95% CI": f"{100 * p.low:.0f}-{100 * p.high:.0f}" if p.low == p.low else "-",
                f"pass^{stats.k}": "-" if stats.pass_hat_k is None else percent(stats.pass_hat_k),
                f"vs {data.baseline}": "-"
                if delta is None
                else f"{100 * delta.delta.value:+.1f} [{100 * delta.delta.low:+.0f}, {100 * delta.delta.high:+.0f}]",
                "steps": f"{stats.mean_steps:.1f}",
                "tokens in/out": f"{stats.mean_input_tokens:,.0f} / {stats.mean_output_tokens:,.0f}",
                "thinking": f"{stats.mean_thinking_tokens:,.0f}{'~' if stats.thinking_estimated else ''}",
                "wall s": f"{stats.mean_wall_seconds:.1f}",
                "cost $": "-" if stats.mean_cost is None else f"{stats.mean_cost:.4f}",
            }
        )
    return rows


def summary_table(data: RunData) -> Any:
    """A compact summary as a rich Table for the terminal (the HTML report has every column)."""
    from rich.table import Table

    deltas = {d.condition: d.delta for d in data.deltas()}
    title = f"{data.run.get('suite')} · {data.run.get('model')} via {data.run.get('profile')}"
    table = Table(title=title, header_style="bold", box=None, padding=(0, 1))
    columns = ["condition", "trials", "err", "pass@1", "95% CI", f"vs {data.baseline}", "think", "wall s"]
    if data.k > 1:
        columns.insert(5, f"pass^{data.k}")
    for column in columns:
        table.add_column(column, justify="left" if column == "condition" else "right", no_wrap=True)
    for stats in data.stats():
        p, delta = stats.pass_at_1, deltas.get(stats.condition)
        row = [
            stats.condition,
            str(stats.trials),
            str(stats.errors),
            "-" if p.value != p.value else f"{100 * p.value:.0f}%",
            "-" if p.low != p.low else f"{100 * p.low:.0f}-{100 * p.high:.0f}",
            "-"
            if delta is None
            else f"{100 * delta.value:+.0f} [{100 * delta.low:+.0f},{100 * delta.high:+.0f}]",
            f"{stats.mean_thinking_tokens:,.0f}",
            f"{stats.mean_wall_seconds:.1f}",
        ]
        if data.k > 1:
            row.insert(5, "-" if stats.pass_hat_k is None else f"{100 * stats.pass_hat_k:.0f}%")
        table.add_row(*row)
    return table
