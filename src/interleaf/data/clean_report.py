"""The last step of cleaning: the decided columns put onto the rows, and ``report.json``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from interleaf.data.check import TASK_SIGNATURE, THINKING_SIGNATURE
from interleaf.data.judge.runner import JudgeReport, Outcome
from interleaf.data.rows import SCHEMA, conform
from interleaf.data.rules import RuleSet

if TYPE_CHECKING:
    from interleaf.data.clean_settings import CleanSettings


def with_columns(
    table: pa.Table,
    rows: list[dict[str, Any]],
    judged: dict[str, Outcome],
    judge_name: str | None,
    group_of: list[str | None],
    dup_of: list[str | None],
    pass_rate: list[float | None],
    difficulty: list[float | None],
    parts_json: list[str | None],
    drop_reason: list[str | None],
) -> pa.Table:
    judge_columns: dict[str, list[Any]] = {
        name: []
        for name in (
            "judge_status",
            "judge_logic",
            "judge_redundancy",
            "judge_correctness",
            "judge_format",
            "judge_difficulty",
            "judge_score",
            "judge_reason",
            "judge_model",
        )
    }
    for row in rows:
        outcome = judged.get(row["id"])
        verdict = outcome.verdict if outcome else None
        judge_columns["judge_status"].append(outcome.status if outcome else None)
        for name in ("logic", "redundancy", "correctness", "format", "difficulty"):
            judge_columns[f"judge_{name}"].append(getattr(verdict, name) if verdict else None)
        judge_columns["judge_score"].append(verdict.score if verdict else None)
        judge_columns["judge_reason"].append(
            verdict.reason if verdict else (outcome.note or None) if outcome else None
        )
        judge_columns["judge_model"].append(judge_name if verdict else None)
    replacements: dict[str, list[Any]] = {
        **judge_columns,
        "task_group": group_of,
        "dup_of": dup_of,
        "pass_rate": pass_rate,
        "difficulty": difficulty,
        "difficulty_parts": parts_json,
        "drop_reason": drop_reason,
    }
    base = table.drop_columns([TASK_SIGNATURE, THINKING_SIGNATURE])
    for name, values in replacements.items():
        index = base.schema.get_field_index(name)
        base = base.set_column(index, SCHEMA.field(name), pa.array(values, type=SCHEMA.field(name).type))
    return conform(base)


def _histogram(values: list[float], bins: int = 10) -> list[int]:
    counts = [0] * bins
    for value in values:
        counts[min(int(value * bins), bins - 1)] += 1
    return counts


def build_report(
    source: Path,
    full: pa.Table,
    kept: pa.Table,
    rejected: pa.Table,
    rule_counts: dict[str, dict[str, Any]],
    duplicates: dict[str, str],
    groups: dict[str, str],
    capped: set[str],
    judge_report: JudgeReport | None,
    settings: CleanSettings,
    problems: list[str],
) -> dict[str, Any]:
    reasons = Counter(
        reason.split(" of ")[0].split(" in task group")[0].split(" <")[0]
        for reason in rejected.column("drop_reason").to_pylist()
        if reason
    )
    kept_rows = kept.select(["domain", "difficulty", "judge_score", "scrubbed"]).to_pylist()
    scores = [r["judge_score"] for r in kept_rows if r["judge_score"] is not None]
    judge: dict[str, Any] | None = None
    if judge_report is not None:
        judge = {
            "judge": judge_report.judge,
            "endpoint": judge_report.endpoint,
            "judged": judge_report.judged,
            "from_cache": judge_report.cached,
            "unjudged": judge_report.unjudged,
            "skipped": judge_report.skipped,
            "retried": judge_report.retried,
            "calls": judge_report.calls,
            "seconds": judge_report.seconds,
            "error": judge_report.error,
            "mean_score": round(sum(scores) / len(scores), 3) if scores else None,
            "min_judge": settings.min_judge,
        }
        for name in ("logic", "redundancy", "correctness", "format", "difficulty"):
            values = [v for v in full.column(f"judge_{name}").to_pylist() if v is not None]
            judge[f"mean_{name}"] = round(sum(values) / len(values), 3) if values else None
    difficulties = [r["difficulty"] for r in kept_rows if r["difficulty"] is not None]
    return {
        "source": str(source),
        "input_rows": full.num_rows,
        "kept": kept.num_rows,
        "rejected": rejected.num_rows,
        "rejected_by": dict(sorted(reasons.items())),
        "rules": rule_counts,
        "rule_settings": RuleSet(settings.rules).settings(),
        "scrubbed": {
            "rows": sum(1 for v in full.column("scrubbed").to_pylist() if v),
            "replacements": sum(v or 0 for v in full.column("scrubbed").to_pylist()),
        },
        "dedup": {
            "thinking_threshold": settings.dedup.thinking_threshold,
            "task_threshold": settings.dedup.task_threshold,
            "max_per_task": settings.dedup.max_per_task,
            "near_duplicates_removed": len(duplicates),
            "over_max_per_task": len(capped),
            "task_groups": len(set(groups.values())),
        },
        "judge": judge,
        "domains": dict(Counter(r["domain"] for r in kept_rows).most_common()),
        "difficulty": {
            "mean": round(sum(difficulties) / len(difficulties), 4) if difficulties else None,
            "histogram": _histogram(difficulties),
            "min_difficulty": settings.min_difficulty,
        },
        "problems": problems,
    }
