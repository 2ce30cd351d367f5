"""The report's PNG plots (matplotlib, headless): pass@1 per condition with 95% intervals, deltas
against the baseline, and for ``needle`` accuracy against context length per condition and hop count."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from interleaf.eval.report_data import RunData
from interleaf.eval.stats import ConditionStats, Delta, grouped_accuracy

COLOURS = {"keep": "#2b6cb0", "drop": "#c53030", "restored": "#2f855a", "current-loop": "#b7791f"}
_MARKERS = ("o", "s", "^", "D", "v")


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("the report's plots need matplotlib: pip install 'interleaf[eval]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pass_rates(stats: Sequence[ConditionStats], chance: float | None, title: str, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=110)
    names = [s.condition for s in stats]
    values = [100 * s.pass_at_1.value for s in stats]
    lows = [max(0.0, v - 100 * s.pass_at_1.low) for v, s in zip(values, stats, strict=True)]
    highs = [max(0.0, 100 * s.pass_at_1.high - v) for v, s in zip(values, stats, strict=True)]
    ax.bar(names, values, yerr=[lows, highs], capsize=6, color=[COLOURS.get(n, "#718096") for n in names])
    for index, value in enumerate(values):
        ax.annotate(f"{value:.0f}%", (index, value), textcoords="offset points", xytext=(14, 3), fontsize=9)
    if chance is not None:
        ax.axhline(100 * chance, color="#4a5568", linestyle=":", linewidth=1)
        ax.annotate(
            "chance", (len(names) - 0.5, 100 * chance), fontsize=8, color="#4a5568", va="bottom", ha="right"
        )
    ax.set_ylim(0, 105)
    ax.set_ylabel("pass@1 (%) with 95% CI")
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, plt, path)


def deltas(values: Sequence[Delta], baseline: str, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.6 * max(1, len(values))), dpi=110)
    names = [d.condition for d in values]
    centre = [100 * d.delta.value for d in values]
    low = [c - 100 * d.delta.low for c, d in zip(centre, values, strict=True)]
    high = [100 * d.delta.high - c for c, d in zip(centre, values, strict=True)]
    ax.errorbar(centre, names, xerr=[low, high], fmt="o", capsize=5, color="#2d3748")
    ax.axvline(0, color="#a0aec0", linewidth=1)
    ax.set_xlabel(f"pass@1 difference vs {baseline} (points), paired bootstrap 95% CI")
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, plt, path)


def needle_lengths(data: RunData, path: Path) -> Path:
    """Accuracy vs context length: one line per condition (colour) and hop count (marker, dash)."""
    plt = _pyplot()
    cells = grouped_accuracy(data.records, ("context_tokens", "hops"))
    fig, ax = plt.subplots(figsize=(8.4, 4.2), dpi=110)
    hops = sorted({int(key[2]) for key in cells})
    for condition in data.conditions:
        for index, hop in enumerate(hops):
            points = sorted(
                (int(key[1]), 100 * passes / graded)
                for key, (passes, graded) in cells.items()
                if key[0] == condition and int(key[2]) == hop and graded
            )
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            ax.plot(
                xs,
                ys,
                marker=_MARKERS[index % len(_MARKERS)],
                linestyle="-" if index == 0 else (0, (4, 1 + index)),
                color=COLOURS.get(condition, "#718096"),
                label=f"{condition}, {hop} hop{'s' if hop > 1 else ''}",
            )
    if data.chance is not None:
        ax.axhline(100 * data.chance, color="#4a5568", linestyle=":", linewidth=1, label="chance")
    ax.set_xscale("log", base=2)
    lengths = sorted({int(key[1]) for key in cells})
    ax.set_xticks(lengths, [f"{n // 1024}k" if n % 1024 == 0 else str(n) for n in lengths])
    ax.minorticks_off()
    ax.set_xlabel("total context (tokens)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-3, 103)
    ax.set_title("needle: recall of the model's own reasoning vs context length", fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, plt, path)


def _save(fig: Any, plt: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
    return path
