"""A pytest plugin that counts what the gateway fuzz test sent and what came back, per test.

``bench_gateway_fuzz`` runs ``tests/integration/test_gateway_fuzz.py`` with ``-p benchmarks.fuzz_tally``:
the plugin wraps the test module's ``_post`` (one request, its status and body) to count the answers by
status, and records each test's outcome. The counts go, as JSON, to the file named by
``INTERLEAF_FUZZ_TALLY`` when the session ends. The test itself is run unchanged.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TALLY_ENV = "INTERLEAF_FUZZ_TALLY"
_statuses: dict[str, Counter[int]] = {}
_outcomes: dict[str, str] = {}
_current: list[str] = [""]


def pytest_runtest_setup(item: pytest.Item) -> None:
    module = getattr(item, "module", None)
    post = getattr(module, "_post", None)
    if module is None or post is None:
        raise pytest.UsageError(
            f"{item.nodeid}: the fuzz test has no _post(url, raw) -> (status, body) any more; "
            "update benchmarks/fuzz_tally.py to count its requests"
        )
    _current[0] = item.name
    if not getattr(post, "_tallied", False):
        module._post = _tallying(post)


def _tallying(post: Callable[[str, bytes], tuple[int, bytes]]) -> Callable[[str, bytes], tuple[int, bytes]]:
    def counted(url: str, raw: bytes) -> tuple[int, bytes]:
        status, body = post(url, raw)
        _statuses.setdefault(_current[0], Counter())[status] += 1
        return status, body

    counted._tallied = True  # type: ignore[attr-defined]
    return counted


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or report.outcome != "passed":
        name = report.nodeid.rsplit("::", 1)[-1]
        _outcomes[name] = report.outcome if report.when == "call" else f"{report.outcome} in {report.when}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get(TALLY_ENV)
    if not target:
        return
    tally: dict[str, Any] = {
        name: {
            "statuses": {str(k): v for k, v in sorted(counts.items())},
            "outcome": _outcomes.get(name, "?"),
        }
        for name, counts in _statuses.items()
    }
    for name, outcome in _outcomes.items():
        tally.setdefault(name, {"statuses": {}, "outcome": outcome})
    Path(target).write_text(json.dumps(tally))
