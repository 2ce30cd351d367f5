"""The app x dialect table (direct and gateway side by side) as Markdown, and the results as JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.compat.apps import APPS
from tests.compat.dialects import DIALECTS
from tests.compat.runner import CellResult
from tests.compat.suite import Failure


def _short(result: CellResult | None) -> str:
    if result is None:
        return "·"
    if result.status == "not-run":
        return "not run"
    text = f"{result.turns}/3 turns, {result.kept}/{result.expected} kept"
    if result.restored is not None:
        extra = [f"{result.restored} restored"]
        if result.missing:
            extra.append(f"{result.missing} missing")
        if result.foreign:
            extra.append(f"{result.foreign} foreign")
        text += f" ({', '.join(extra)})"
    return ("✓ " if result.status == "passed" else "✗ ") + text


def markdown(results: Sequence[CellResult]) -> str:
    """Rows: app (API it speaks); columns: upstream dialect; a cell: ``direct`` / ``gateway``."""
    by_key = {(r.cell.app, r.cell.api, r.cell.dialect, r.cell.route): r for r in results}
    rows = sorted({(r.cell.app, r.cell.api) for r in results}, key=lambda k: (list(APPS).index(k[0]), k[1]))
    dialects = [d for d in DIALECTS if any(r.cell.dialect == d for r in results)]
    head = (
        "| app (API) | " + " | ".join(f"{d} ({DIALECTS[d].profile or 'no profile'})" for d in dialects) + " |"
    )
    lines = [head, "|" + "---|" * (len(dialects) + 1)]
    for app, api in rows:
        cells = []
        for dialect in dialects:
            direct = by_key.get((app, api, dialect, "direct"))
            gateway = by_key.get((app, api, dialect, "gateway"))
            if direct is None and gateway is None:
                cells.append("")
                continue
            parts = []
            if direct is not None:
                parts.append(f"D: {_short(direct)}")
            if gateway is not None:
                parts.append(f"G: {_short(gateway)}")
            cells.append("<br>".join(parts))
        lines.append(f"| {app} {APPS[app].version} ({api}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reasons(results: Sequence[CellResult]) -> str:
    """One line per cell that did not pass, with its exact reason."""
    lines = []
    for result in sorted(results, key=lambda r: r.cell.key):
        if result.status == "not-run":
            lines.append(f"- `{result.cell.key}`: {result.summary()}")
        elif result.status != "passed":
            lines.append(f"- `{result.cell.key}`: {result.summary()} — {result.reason}")
    return "\n".join(lines)


def document(results: Sequence[CellResult], broken: Sequence[Failure], seconds: float) -> dict[str, Any]:
    return {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(seconds, 1),
        "apps": {
            a.name: {"version": a.version, "registry": a.registry, "package": a.package}
            for a in APPS.values()
        },
        "dialects": {
            d.name: {"api": d.api, "profile": d.profile, "model": d.model} for d in DIALECTS.values()
        },
        "failures": [{"cell": f.cell.key, "why": f.why} for f in broken],
        "cells": [r.as_json() for r in results],
    }


def write_json(path: Path, results: Sequence[CellResult], broken: Sequence[Failure], seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document(results, broken, seconds), indent=1, ensure_ascii=False) + "\n")
