"""The compatibility suite as one pytest test: every installed app, every cell of the matrix.

It is not a ``test_*`` module, so a plain ``pytest`` does not collect it: ``scripts/compat`` (``make
compat``, and ``make test`` in CI) installs the pinned apps into .cache/compat, then names this file to
pytest. Narrow it with INTERLEAF_COMPAT_APPS / _DIALECTS (comma-separated), widen the
cross-format routes with INTERLEAF_COMPAT_FULL=1, and run the gateway from the last commit instead of
the working tree with INTERLEAF_COMPAT_GATEWAY_SRC=head.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from tests.compat.gateway import gateway_source
from tests.compat.sandbox import CACHE
from tests.compat.suite import default_jobs, failures, matrix, run_matrix
from tests.compat.table import markdown, reasons, write_json


def _listed(name: str) -> list[str]:
    return [item for item in os.environ.get(name, "").split(",") if item]


@pytest.mark.timeout(1800)
def test_every_app_keeps_its_thinking_through_the_gateway() -> None:
    """Every gateway cell that runs finishes the 3-step task with every earlier thinking block back
    exactly, and none does worse through the gateway than the same app talking to the model direct."""
    cells = matrix(
        _listed("INTERLEAF_COMPAT_APPS"),
        _listed("INTERLEAF_COMPAT_DIALECTS"),
        full=os.environ.get("INTERLEAF_COMPAT_FULL") == "1",
    )
    started = time.monotonic()
    results = asyncio.run(
        run_matrix(
            cells,
            jobs=int(os.environ.get("INTERLEAF_COMPAT_JOBS", default_jobs())),
            gateway_src=gateway_source(os.environ.get("INTERLEAF_COMPAT_GATEWAY_SRC", "checkout")),
        )
    )
    broken = failures(results)
    write_json(CACHE / "results.json", results, broken, time.monotonic() - started)
    ran = [r for r in results if r.status != "not-run"]
    assert ran, "no app is installed in .cache/compat: run scripts/compat"
    assert not broken, (
        f"{len(broken)} gateway cell(s) lose thinking or do worse than direct:\n"
        + "\n".join(f"  {f.cell.key}: {f.why}" for f in broken)
        + "\n\n"
        + markdown(results)
        + "\n\nEvery cell that did not pass:\n"
        + reasons(results)
    )
