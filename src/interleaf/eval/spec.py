"""What a suite is made of: tasks, the run of one task in one trial, and its grade.

A suite turns its options into :class:`Task` values (plain data that can travel to a Ray worker), and
opens a :class:`TaskRun` for one trial of one task: the tools the agent gets, the system prompt, the
user turns, and the grader that decides pass or fail from what happened. The harness (``trial.py``)
drives interleaf's own agent through the turns; a suite never talks to the model itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from interleaf.agent.events import Finished
from interleaf.tools.base import Tool
from interleaf.transcript import Message

Outcome = Literal["pass", "fail", "error"]


class SuiteError(ValueError):
    """A suite cannot be loaded or its options are wrong; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Task:
    """One task of a suite: an id unique in the suite and facts the report groups by.

    ``info`` holds small JSON values (``context_tokens``, ``hops``, ``category``...); ``chance`` is the
    pass rate of blind guessing where the suite knows it (drawn on the report as a floor).
    """

    id: str
    suite: str
    info: Mapping[str, Any] = field(default_factory=dict)
    chance: float | None = None


@dataclass(frozen=True, slots=True)
class Grade:
    """The verdict on one trial. ``detail`` is a short machine-friendly reason (``wrong_answer``,
    ``no_secret``, ``tests_failed``...); ``info`` carries anything the report may show."""

    passed: bool
    detail: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TurnResult:
    """What one user turn gave: the agent's ``Finished`` event."""

    index: int
    finished: Finished


class TaskRun(Protocol):
    """One trial of one task, opened by :meth:`Suite.open` and closed by the harness."""

    @property
    def system(self) -> str | None:
        """The system prompt, or ``None`` for the agent's own (the coding suite)."""
        ...

    @property
    def tools(self) -> Sequence[Tool] | None:
        """The agent's tools, or ``None`` for the agent's built-in ones (shell, files, python)."""
        ...

    @property
    def max_steps(self) -> int:
        """The agent's step budget for each user turn."""
        ...

    def turns(self) -> int:
        """How many user turns the task has."""
        ...

    def turn(self, index: int) -> tuple[str, Sequence[Tool]]:
        """The user message of turn ``index`` and tools that become available at that turn."""
        ...

    def continues(self, result: TurnResult) -> bool:
        """Whether the next turn runs after this one ended (a turn cut off by a budget ends the task)."""
        ...

    async def grade(self, results: Sequence[TurnResult], messages: Sequence[Message]) -> Grade:
        """Pass or fail, from the turns' results and the session's whole transcript."""
        ...

    async def aclose(self) -> None: ...


class Suite(Protocol):
    """A benchmark: named, versioned (the version goes into every result), made of tasks."""

    name: str
    version: str
    description: str

    def tasks(self, options: Mapping[str, str], seed: int) -> list[Task]:
        """The suite's tasks, in a stable order; ``options`` are the ``-o KEY=VALUE`` settings."""
        ...

    async def open(self, task: Task, workdir: Path, seed: int) -> TaskRun:
        """Prepare one trial of ``task`` in the fresh directory ``workdir``."""
        ...


def parse_int_list(text: str, *, name: str) -> list[int]:
    """``1,2,4`` or ``1-4`` (or a mix) as integers; the error names the option."""
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, sep, high = part.partition("-")
        try:
            if sep:
                values.extend(range(int(low), int(high) + 1))
            else:
                values.append(int(part))
        except ValueError:
            raise SuiteError(f"-o {name}={text!r}: write numbers like 1,2,4 or a range like 1-4") from None
    if not values:
        raise SuiteError(f"-o {name}= needs at least one value")
    return values


def parse_tokens(text: str, *, name: str) -> int:
    """``1024``, ``1k``, ``128k`` as a token count."""
    cleaned = text.strip().lower()
    scale = 1024 if cleaned.endswith("k") else 1
    try:
        value = int(float(cleaned.rstrip("k")) * scale)
    except ValueError:
        raise SuiteError(f"-o {name}: {text!r} is not a token count (write 1000, 1k or 128k)") from None
    if value <= 0:
        raise SuiteError(f"-o {name}: {text!r} must be positive")
    return value


def check_options(options: Mapping[str, str], known: Mapping[str, str], suite: str) -> None:
    """Refuse an option the suite does not have, listing the ones it has."""
    unknown = sorted(set(options) - set(known))
    if unknown:
        listed = "; ".join(f"{key}: {help_text}" for key, help_text in known.items()) or "none"
        raise SuiteError(f"suite {suite!r} has no option {', '.join(unknown)}; its options: {listed}")
