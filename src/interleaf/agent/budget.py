"""Budgets that end a run, and loop detection."""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field

from interleaf.agent.events import Finished, Status
from interleaf.agent.flow import LimitsExceeded
from interleaf.transcript import ToolCall, Usage


@dataclass(frozen=True, slots=True)
class Budget:
    """Limits for one run; ``None`` means no limit. Tokens count input plus output over all steps."""

    max_steps: int | None = 50
    max_tokens: int | None = None
    max_seconds: float | None = None
    max_cost: float | None = None
    repeat_limit: int = 3
    """Stop when the model makes the same tool calls (same names, same arguments) this many steps in a row."""


@dataclass(frozen=True, slots=True)
class Prices:
    """Dollars per million tokens."""

    input: float
    output: float
    cache_read: float | None = None

    def cost(self, usage: Usage) -> float:
        cached = usage.cache_read_tokens or 0
        fresh = max((usage.input_tokens or 0) - cached, 0)
        cache_price = self.cache_read if self.cache_read is not None else self.input
        return (fresh * self.input + cached * cache_price + (usage.output_tokens or 0) * self.output) / 1e6


@dataclass
class Meter:
    """Counts what a run has used and says when a budget is spent."""

    budget: Budget
    prices: Prices | None = None
    started: float = field(default_factory=time.monotonic)
    steps: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: float | None = None
    _recent: deque[str] = field(default_factory=deque)

    def add_usage(self, usage: Usage | None) -> None:
        if usage is None:
            return
        self.usage = self.usage + usage
        if self.prices is not None:
            self.cost = (self.cost or 0.0) + self.prices.cost(usage)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    @property
    def tokens(self) -> int:
        return (self.usage.input_tokens or 0) + (self.usage.output_tokens or 0)

    def exhausted(self) -> tuple[Status, str] | None:
        """The budget that is spent, with a message saying how to allow more, or ``None``."""
        b = self.budget
        if b.max_steps is not None and self.steps >= b.max_steps:
            return (
                "max_steps",
                f"stopped after {self.steps} steps (the step budget); raise it with --max-steps",
            )
        if b.max_tokens is not None and self.tokens >= b.max_tokens:
            return "token_budget", f"stopped after {self.tokens:,} tokens (budget {b.max_tokens:,})"
        if b.max_seconds is not None and self.seconds >= b.max_seconds:
            return "time_budget", f"stopped after {self.seconds:.0f} s (budget {b.max_seconds:.0f} s)"
        if b.max_cost is not None and self.cost is not None and self.cost >= b.max_cost:
            return "cost_budget", f"stopped at ${self.cost:.4f} (budget ${b.max_cost:.2f})"
        return None

    def finished(self, status: Status, answer: str, reason: str) -> Finished:
        """The event ending a run, with what the run used."""
        return Finished(
            status, answer, reason, steps=self.steps, usage=self.usage, seconds=self.seconds, cost=self.cost
        )

    def check(self) -> None:
        """Raise :class:`LimitsExceeded` when a budget is spent."""
        spent = self.exhausted()
        if spent is not None:
            raise LimitsExceeded(*spent)

    def repeated(self, calls: tuple[ToolCall, ...]) -> bool:
        """Record this step's calls; True when the same calls came ``repeat_limit`` steps in a row."""
        signature = json.dumps(
            [(c.name, c.arguments if c.raw_arguments is None else c.raw_arguments) for c in calls],
            sort_keys=True,
        )
        self._recent.append(signature)
        while len(self._recent) > self.budget.repeat_limit:
            self._recent.popleft()
        return len(self._recent) == self.budget.repeat_limit and len(set(self._recent)) == 1
