"""``interleaf data stats``: what a dataset holds, from its rows and (when cleaned) its clean report."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa

from interleaf.data.dataset import Dataset, open_dataset, read_part
from interleaf.data.errors import DataError

COLUMNS = (
    "id",
    "source",
    "format",
    "domain",
    "tokens",
    "n_steps",
    "n_tool_calls",
    "thinking_blocks",
    "thinking_chars",
    "thinking_ratio",
    "judge_status",
    "judge_score",
    "judge_logic",
    "judge_redundancy",
    "judge_correctness",
    "judge_format",
    "judge_difficulty",
    "difficulty",
    "rule_hits",
    "scrubbed",
    "task_group",
)


def percentiles(values: list[float], points: tuple[int, ...] = (50, 90, 99)) -> dict[str, float]:
    if not values:
        return {}
    ordered = [round(value, 3) for value in sorted(values)]
    out = {f"p{p}": ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] for p in points}
    out["max"] = ordered[-1]
    out["mean"] = round(sum(ordered) / len(ordered), 3)
    return out


def load(path: Path) -> tuple[Dataset, list[dict[str, Any]], list[str]]:
    """The dataset, the stats columns of its rows, and problems with parts that could not be read."""
    dataset = open_dataset(path)
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for part in dataset.parts:
        try:
            table: pa.Table = read_part(part.path)
        except DataError as exc:
            problems.append(str(exc))
            continue
        rows.extend(table.select(list(COLUMNS)).to_pylist())
    return dataset, rows, problems


def compute(path: Path) -> dict[str, Any]:
    """Every figure ``stats`` prints and the HTML report plots."""
    dataset, rows, problems = load(path)
    report = dataset.report()
    judged = [r for r in rows if r["judge_score"] is not None]
    hits: Counter[str] = Counter()
    for row in rows:
        for rule in {hit["rule"] for hit in row["rule_hits"] or ()}:
            hits[rule] += 1
    stats: dict[str, Any] = {
        "dataset": str(path),
        "rows": len(rows),
        "cleaned": bool(report),
        "sources": dict(Counter(r["source"] for r in rows).most_common()),
        "formats": dict(Counter(r["format"] for r in rows).most_common()),
        "domains": dict(Counter(r["domain"] or "untagged" for r in rows).most_common()),
        "tokens": percentiles([r["tokens"] or 0 for r in rows]),
        "steps": percentiles([r["n_steps"] or 0 for r in rows]),
        "tool_calls": percentiles([r["n_tool_calls"] or 0 for r in rows]),
        "thinking_blocks": sum(r["thinking_blocks"] or 0 for r in rows),
        "thinking_ratio": percentiles([r["thinking_ratio"] or 0.0 for r in rows]),
        "rule_hits_kept": dict(hits.most_common()),
        "judge": {
            "judged": len(judged),
            "unjudged": sum(1 for r in rows if r["judge_status"] == "unjudged"),
            "score": percentiles([r["judge_score"] for r in judged]),
            **{
                f"mean_{name}": round(sum(r[f"judge_{name}"] for r in judged) / len(judged), 3)
                if judged
                else None
                for name in ("logic", "redundancy", "correctness", "format", "difficulty")
            },
        },
        "difficulty": percentiles([r["difficulty"] for r in rows if r["difficulty"] is not None]),
        "task_groups": len({r["task_group"] for r in rows if r["task_group"]}),
        "problems": problems,
    }
    if report:
        stats["clean"] = {
            "input_rows": report.get("input_rows"),
            "rejected": report.get("rejected"),
            "rejected_by": report.get("rejected_by", {}),
            "rules": report.get("rules", {}),
            "dedup": report.get("dedup", {}),
            "scrubbed": report.get("scrubbed", {}),
            "judge": report.get("judge"),
        }
    return stats


def values(path: Path) -> list[dict[str, Any]]:
    """The per-row columns the plots need."""
    return load(path)[1]
