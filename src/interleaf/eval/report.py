"""``interleaf eval report DIR``: one self-contained ``report.html`` (plots inlined), the same plots as
PNG files under ``DIR/plots/``, and an HTML page for every transcript the report links to."""

from __future__ import annotations

import base64
import time
from collections import Counter, defaultdict
from pathlib import Path

from interleaf.eval import plots
from interleaf.eval.report_data import RunData, load_run, summary_rows
from interleaf.eval.results import TrialRecord
from interleaf.eval.stats import DEFAULT_RESAMPLES, largest_differences
from interleaf.eval.transcripts import templates, write_transcripts

MAX_DIFFERENCES = 20
MAX_ERRORS = 30
SAMPLES_PER_CONDITION = 8


def write_report(directory: Path, *, resamples: int = DEFAULT_RESAMPLES) -> Path:
    """Write the report of the run in ``directory``; returns the path of ``report.html``."""
    data = load_run(directory)
    stats = data.stats(resamples)
    deltas = data.deltas(resamples)
    plot_dir = directory / "plots"
    made: list[tuple[str, Path]] = []
    if stats:
        title = f"{data.run.get('suite')}: {data.run.get('model')} via {data.run.get('profile')}"
        made.append(
            ("pass@1 per condition", plots.pass_rates(stats, data.chance, title, plot_dir / "pass_rates.png"))
        )
    if deltas:
        made.append(
            (f"difference vs {data.baseline}", plots.deltas(deltas, data.baseline, plot_dir / "deltas.png"))
        )
    if any("context_tokens" in r.task_info for r in data.records):
        made.append(
            ("accuracy vs context length", plots.needle_lengths(data, plot_dir / "needle_lengths.png"))
        )
    by_task = _sessions_by_task(data.records)
    differences = largest_differences(data.records, data.baseline, MAX_DIFFERENCES)
    errors = [r for r in data.records if r.outcome == "error"][:MAX_ERRORS]
    wanted = [sid for row in differences for sid, _ in by_task[(str(row["task"]), data.baseline)]]
    wanted += [sid for row in differences for sid, _ in by_task[(str(row["task"]), str(row["condition"]))]]
    wanted += [r.session_id for r in errors if r.session_id]
    samples = _samples(data)
    wanted += [r.session_id for rows in samples.values() for r in rows if r.session_id]
    links = write_transcripts(directory, wanted)

    def anchors(task: str, condition: str) -> list[dict[str, str]]:
        return [
            {"href": links[sid], "label": f"trial {trial} ({outcome})"}
            for sid, (trial, outcome) in by_task[(task, condition)]
            if sid in links
        ]

    rows = summary_rows(data, resamples)
    details = sorted({r.detail for r in data.records if not r.passed})
    html = (
        templates()
        .get_template("report.html.j2")
        .render(
            run=data.run,
            directory=directory.name,
            policies=data.policies,
            records=len(data.records),
            written=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            warnings=_warnings(data),
            columns=list(rows[0]) if rows else [],
            rows=rows,
            baseline=data.baseline,
            plots=[
                {
                    "title": title,
                    "file": f"plots/{path.name}",
                    "data": base64.b64encode(path.read_bytes()).decode(),
                }
                for title, path in made
            ],
            details=details,
            outcome_counts=_outcome_counts(data, details),
            samples={
                condition: [
                    {"href": links[r.session_id], "label": f"{r.task} #{r.trial}", "outcome": r.outcome}
                    for r in rows
                    if r.session_id in links
                ]
                for condition, rows in samples.items()
            },
            differences=[
                {
                    **row,
                    "base_links": anchors(str(row["task"]), data.baseline),
                    "links": anchors(str(row["task"]), str(row["condition"])),
                }
                for row in differences
            ],
            errors=[
                {"key": r.key, "error": r.error or r.detail, "href": links.get(r.session_id or "", "")}
                for r in errors
            ],
        )
    )
    path = directory / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def _sessions_by_task(records: list[TrialRecord]) -> dict[tuple[str, str], list[tuple[str, tuple[int, str]]]]:
    sessions: dict[tuple[str, str], list[tuple[str, tuple[int, str]]]] = defaultdict(list)
    for record in sorted(records, key=lambda r: r.trial):
        if record.session_id:
            sessions[(record.task, record.condition)].append(
                (record.session_id, (record.trial, record.outcome))
            )
    return sessions


def _outcome_counts(data: RunData, details: list[str]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for record in data.records:
        if not record.passed:
            counts[record.condition][record.detail] += 1
    return {condition: dict(counts[condition]) for condition in data.conditions if condition in counts}


def _samples(data: RunData) -> dict[str, list[TrialRecord]]:
    """The first trials of each condition, so every report opens some transcripts of each side."""
    return {
        condition: [r for r in data.records if r.condition == condition][:SAMPLES_PER_CONDITION]
        for condition in data.conditions
    }


def _warnings(data: RunData) -> list[str]:
    """Facts that change how the numbers read, said up front."""
    notes: list[str] = []
    graded = [r for r in data.records if r.outcome != "error"]
    if graded and all(r.metrics.thinking_tokens == 0 for r in graded):
        notes.append(
            "The model produced no thinking in any trial, so every condition sent the same requests: "
            "differences between conditions here are sampling noise, not the effect of keeping thinking."
        )
    leaked = sum(1 for r in graded if r.detail == "leaked")
    if leaked:
        notes.append(
            f"In {leaked} trial(s) the model wrote its secret outside its thinking; those count as failures."
        )
    errors = len(data.records) - len(graded)
    if errors:
        notes.append(
            f"{errors} trial(s) could not run (after one retry); see Errors below. They are left out of the rates."
        )
    return notes
