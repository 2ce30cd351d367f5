"""Difficulty in [0, 1]: harder, more complex trajectories train better, so cleaning can keep them.

Components, each in [0, 1] (missing ones are left out and the weights renormalised):

* ``steps``: assistant steps, log-scaled, 1 step → 0, 32 or more → 1;
* ``tools``: distinct tools used, 0 → 0, 6 or more → 1;
* ``tokens``: the token estimate, log-scaled, 256 → 0, 32k or more → 1;
* ``judge``: the judge's difficulty rating, 1 → 0, 5 → 1;
* ``pass_rate``: 1 − the task's pass rate over its eval trials (a task every trial solves is easy).

Weights: steps 0.2, tools 0.15, tokens 0.15, judge 0.25, pass_rate 0.25. ``difficulty_parts`` keeps
the components of each row, so a threshold can be explained.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

WEIGHTS: Mapping[str, float] = {"steps": 0.2, "tools": 0.15, "tokens": 0.15, "judge": 0.25, "pass_rate": 0.25}


def _log_scale(value: float, low: float, high: float) -> float:
    if value <= low:
        return 0.0
    if value >= high:
        return 1.0
    return math.log(value / low) / math.log(high / low)


def components(
    *, steps: int, tools: int, tokens: int, judge_difficulty: int | None, pass_rate: float | None
) -> dict[str, float]:
    parts = {
        "steps": _log_scale(max(steps, 1), 1, 32),
        "tools": min(tools / 6, 1.0),
        "tokens": _log_scale(max(tokens, 1), 256, 32_768),
    }
    if judge_difficulty is not None:
        parts["judge"] = (min(max(judge_difficulty, 1), 5) - 1) / 4
    if pass_rate is not None:
        parts["pass_rate"] = 1.0 - pass_rate
    return {key: round(value, 4) for key, value in parts.items()}


def score(parts: Mapping[str, float]) -> float:
    """The weighted mean of the components present."""
    total = sum(WEIGHTS[key] for key in parts)
    return round(sum(WEIGHTS[key] * value for key, value in parts.items()) / total, 4) if total else 0.0
