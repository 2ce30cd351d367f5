"""The HTML report of ``interleaf data stats --html``: one self-contained page, plots inline (PNG).

Plots (matplotlib, headless): trajectory lengths, thinking-to-action ratio, rule hits, judge scores,
difficulty, domains, and what cleaning removed (rules, near-duplicates, the per-task cap, judge,
difficulty).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

from interleaf.data.stats import compute, values


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 3.4), dpi=100)
    return figure, axes


def _png(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _histogram(
    data: list[float], title: str, xlabel: str, *, log: bool = False, bins: int = 30
) -> str | None:
    if not data:
        return None
    figure, axes = _figure()
    if log:
        low, high = max(min(data), 1), max(max(data), 2)
        edges = [low * (high / low) ** (i / bins) for i in range(bins + 1)] if high > low else bins
        axes.hist(data, bins=edges, color="#3b7dd8")
        axes.set_xscale("log")
    else:
        axes.hist(data, bins=bins, color="#3b7dd8")
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("rows")
    return _png(figure)


def _bars(counts: dict[str, float], title: str, ylabel: str = "rows") -> str | None:
    if not counts:
        return None
    figure, axes = _figure()
    names = list(counts)
    axes.bar(range(len(names)), [counts[n] for n in names], color="#3b7dd8")
    axes.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    return _png(figure)


def _judge_plot(rows: list[dict[str, Any]]) -> str | None:
    criteria = ("logic", "redundancy", "correctness", "format", "difficulty")
    judged = [r for r in rows if r["judge_score"] is not None]
    if not judged:
        return None
    figure, axes = _figure()
    width = 0.15
    for offset, name in enumerate(criteria):
        counts = [sum(1 for r in judged if r[f"judge_{name}"] == score) for score in range(1, 6)]
        axes.bar([s + (offset - 2) * width for s in range(1, 6)], counts, width=width, label=name)
    axes.set_xticks(range(1, 6))
    axes.set_xlabel("score")
    axes.set_ylabel("rows")
    axes.set_title(f"judge scores ({len(judged)} rows)")
    axes.legend(fontsize=7)
    return _png(figure)


def build(path: Path) -> str:
    """The report page for the dataset at ``path``."""
    stats = compute(path)
    rows = values(path)
    clean = stats.get("clean") or {}
    removed: dict[str, float] = dict(clean.get("rejected_by", {}))
    rule_rows = {name: info["rows"] for name, info in clean.get("rules", {}).items() if info.get("rows")}
    if not rule_rows:
        rule_rows = dict(stats["rule_hits_kept"])
    plots = [
        (
            "Trajectory length",
            _histogram([float(r["tokens"] or 1) for r in rows], "length", "tokens (estimate)", log=True),
        ),
        (
            "Thinking-to-action ratio",
            _histogram([r["thinking_ratio"] or 0.0 for r in rows], "thinking / (thinking + action)", "ratio"),
        ),
        ("Rule hits", _bars(rule_rows, "rows hit per rule")),
        ("Judge scores", _judge_plot(rows)),
        (
            "Difficulty",
            _histogram(
                [r["difficulty"] for r in rows if r["difficulty"] is not None], "difficulty", "score", bins=20
            ),
        ),
        ("Domains", _bars(stats["domains"], "domains")),
        ("Removed by cleaning", _bars(removed, "rows removed, by reason")),
    ]
    sections = []
    for title, image in plots:
        body = (
            f'<img alt="{html.escape(title)}" src="data:image/png;base64,{image}">'
            if image
            else '<p class="empty">no data for this plot</p>'
        )
        sections.append(f"<section><h2>{html.escape(title)}</h2>{body}</section>")
    summary = {
        "rows": stats["rows"],
        "cleaned": stats["cleaned"],
        "sources": stats["sources"],
        "domains": stats["domains"],
        "tokens": stats["tokens"],
        "steps": stats["steps"],
        "thinking blocks": stats["thinking_blocks"],
        "task groups": stats["task_groups"],
        "judge": stats["judge"],
    }
    if clean:
        summary["cleaning"] = {
            k: clean[k] for k in ("input_rows", "rejected", "rejected_by", "dedup", "scrubbed")
        }
    table = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td><code>{html.escape(_fmt(v))}</code></td></tr>"
        for k, v in summary.items()
    )
    return _PAGE.format(
        title=html.escape(f"interleaf data: {path.name}"),
        path=html.escape(str(path)),
        table=table,
        sections="\n".join(sections),
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float) and not math.isnan(value):
        return f"{value:g}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def write(path: Path, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build(path), encoding="utf-8")


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5rem; }}
th, td {{ text-align: left; padding: .25rem .75rem; border-bottom: 1px solid #ddd; vertical-align: top; }}
code {{ white-space: pre-wrap; word-break: break-word; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(30rem, 1fr)); gap: 1rem; }}
section {{ border: 1px solid #e3e3e3; border-radius: 6px; padding: .5rem 1rem; }}
img {{ max-width: 100%; }}
.empty {{ color: #888; }}
</style></head>
<body>
<h1>{title}</h1>
<p><code>{path}</code></p>
<table>{table}</table>
<div class="grid">
{sections}
</div>
</body></html>
"""
