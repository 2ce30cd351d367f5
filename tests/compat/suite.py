"""The matrix of cells (app x API x upstream dialect x route), run a few at a time, and its verdict.

Same-format cells run DIRECT and through the GATEWAY; cross-format cells (an Anthropic app in front of
a Chat upstream, a Chat or Responses app in front of an Anthropic upstream...) exist only through the
gateway. A gateway cell fails when it does not finish the task with every earlier thinking block back
exactly, or when it does worse than the same cell direct.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.compat.apps import APPS
from tests.compat.dialects import DIALECTS
from tests.compat.fixtures import write_fixture
from tests.compat.runner import Cell, CellResult, run_cell

# Cross-format routes run by default: one or two upstreams per client API keep the suite to a few
# minutes on two cores (``full=True`` runs every upstream dialect behind every client API).
CROSS_FORMAT = {
    "anthropic": ("reasoning_content", "reasoning_details"),
    "openai-chat": ("anthropic",),
    "openai-responses": ("anthropic", "reasoning_content"),
}


def matrix(
    apps: Sequence[str] = (),
    dialects: Sequence[str] = (),
    apis: Sequence[str] = (),
    routes: Sequence[str] = (),
    *,
    full: bool = False,
) -> list[Cell]:
    """The cells, optionally filtered (an empty filter takes all). Same-format cells run direct and
    through the gateway; cross-format ones only through it (all of them with ``full``)."""
    cells: list[Cell] = []
    for app in APPS.values():
        if apps and app.name not in apps:
            continue
        for api in app.apis:
            if apis and api not in apis:
                continue
            for dialect in DIALECTS.values():
                if dialects and dialect.name not in dialects:
                    continue
                candidates: list[Cell] = []
                if dialect.api == api:
                    candidates.append(Cell(app.name, api, dialect.name, "direct"))
                elif not (full or dialects or dialect.name in CROSS_FORMAT[api]):
                    continue
                candidates.append(Cell(app.name, api, dialect.name, "gateway"))
                cells.extend(c for c in candidates if not routes or c.route in routes)
    return cells


async def run_matrix(
    cells: Iterable[Cell],
    *,
    jobs: int = 3,
    gateway_src: Path | None = None,
    fixtures: Path | None = None,
    progress: bool = False,
) -> list[CellResult]:
    """Run ``cells`` ``jobs`` at a time; with ``fixtures``, write each direct cell's request shapes
    there (texts replaced, keys redacted)."""
    limit = asyncio.Semaphore(jobs)

    async def one(cell: Cell) -> CellResult:
        async with limit:
            result, requests = await run_cell(cell, gateway_src=gateway_src)
            if fixtures is not None and cell.route == "direct" and requests and result.status != "not-run":
                write_fixture(fixtures, cell, requests, result)
            if progress:
                print(f"  {cell.key:<58} {result.summary()}  [{result.seconds:g} s]", flush=True)
            return result

    return list(await asyncio.gather(*(one(cell) for cell in cells)))


@dataclass(frozen=True)
class Failure:
    cell: Cell
    why: str


def failures(results: Sequence[CellResult]) -> list[Failure]:
    """The gateway cells that break the promise: thinking not all kept, or worse than direct."""
    direct = {(r.cell.app, r.cell.api, r.cell.dialect): r for r in results if r.cell.route == "direct"}
    out: list[Failure] = []
    for result in results:
        if result.cell.route != "gateway" or result.status == "not-run":
            continue
        if result.status != "passed":
            out.append(Failure(result.cell, f"{result.summary()}: {result.reason}"))
            continue
        before = direct.get((result.cell.app, result.cell.api, result.cell.dialect))
        if before is not None and (before.turns, before.kept) > (result.turns, result.kept):
            out.append(Failure(result.cell, f"worse than direct ({before.summary()} -> {result.summary()})"))
    return out


def default_jobs() -> int:
    """Cells at once: one per core plus one (the apps mostly wait on the network and on Node's start)."""
    return max(2, min(4, (os.cpu_count() or 2) + 1))
