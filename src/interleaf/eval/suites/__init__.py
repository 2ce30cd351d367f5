"""The suites ``interleaf eval run --suite`` knows, imported only when asked for (bfcl loads a wheel)."""

from __future__ import annotations

import difflib

from interleaf.eval.spec import Suite, SuiteError

SUITES: dict[str, str] = {
    "needle": "thinking retention and long-context recall of the model's own reasoning (generated)",
    "bfcl-multi-turn": "Berkeley Function Calling Leaderboard v4 multi-turn (needs `interleaf eval pull`)",
    "coding": "20 small code-run-fix tasks judged by hidden pytest tests",
}


def get_suite(name: str) -> Suite:
    """The suite called ``name``; an unknown name lists the known ones."""
    key = name.strip().lower()
    if key == "needle":
        from interleaf.eval.suites.needle import NeedleSuite

        return NeedleSuite()
    if key == "bfcl-multi-turn":
        from interleaf.eval.suites.bfcl import BfclSuite

        return BfclSuite()
    if key == "coding":
        from interleaf.eval.suites.coding import CodingSuite

        return CodingSuite()
    close = difflib.get_close_matches(key, SUITES, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise SuiteError(f"unknown suite {name!r}{hint}; known suites: {', '.join(SUITES)}")
