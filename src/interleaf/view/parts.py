"""What a timeline is made of: entries (a task, or a step with its tool results) and their parts, ready
for the templates. Built by :mod:`interleaf.view.timeline`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from interleaf.view.diffs import DiffLine

EntryKind = Literal["task", "step", "orphan"]


@dataclass(frozen=True, slots=True)
class Span:
    """Where one entry lies in the message sequence: ``start <= seq < stop``."""

    index: int
    kind: EntryKind
    step: int | None
    start: int
    stop: int


@dataclass(slots=True)
class ThinkingPart:
    text: str
    redacted: bool = False
    signed: bool = False
    dialect: str | None = None
    kind: str = "thinking"

    @property
    def headline(self) -> str:
        """The first non-empty line, what a folded block shows."""
        for line in self.text.splitlines():
            if line.strip():
                return line.strip()[:300]
        return ""


@dataclass(slots=True)
class TextPart:
    text: str
    kind: str = "text"


@dataclass(slots=True)
class ImagePart:
    media_type: str
    data: str | None
    url: str | None
    ref: str
    """``SEQ-BLOCK-PART``: where the image is in the session, for the image route."""
    href: str = ""
    """Where the page loads it from (the image route, or a ``data:`` URL in an export)."""


@dataclass(slots=True)
class ResultPart:
    text: str
    is_error: bool
    images: list[ImagePart] = field(default_factory=list)


@dataclass(slots=True)
class Approval:
    allowed: bool
    note: str
    reach: str


@dataclass(slots=True)
class CallPart:
    id: str
    name: str
    arguments: dict[str, Any]
    arguments_text: str
    arguments_error: str | None
    result: ResultPart | None = None
    seconds: float | None = None
    approval: Approval | None = None
    diff: list[DiffLine] | None = None
    subagent: SubagentRun | None = None
    kind: str = "call"

    @property
    def refused(self) -> bool:
        return self.approval is not None and not self.approval.allowed

    @property
    def interrupted(self) -> bool:
        text = self.result.text if self.result else ""
        return text.startswith(("interrupted", "the session was interrupted"))


@dataclass(slots=True)
class OtherPart:
    label: str
    detail: str
    kind: str = "other"


Part = ThinkingPart | TextPart | CallPart | OtherPart


@dataclass(slots=True)
class Marker:
    kind: str
    """compaction, finished, interrupted, stopped, note"""
    title: str
    detail: str = ""


@dataclass(slots=True)
class Usage:
    input_tokens: int | None
    output_tokens: int | None
    reasoning_tokens: int | None
    estimated: bool
    """No usage was recorded for this step: ``output_tokens`` is guessed from its text (4 characters a token)."""


@dataclass(slots=True)
class Entry:
    span: Span
    created: float | None = None
    parts: list[Part] = field(default_factory=list)
    images: list[ImagePart] = field(default_factory=list)
    """Images in a user message."""
    before: list[Marker] = field(default_factory=list)
    after: list[Marker] = field(default_factory=list)
    latency: float | None = None
    usage: Usage | None = None
    problem: str | None = None
    raw: str = ""
    """The stored JSON of a message that could not be read (cut), shown instead of its parts."""

    @property
    def calls(self) -> list[CallPart]:
        return [p for p in self.parts if isinstance(p, CallPart)]

    @property
    def thinking(self) -> list[ThinkingPart]:
        return [p for p in self.parts if isinstance(p, ThinkingPart)]


@dataclass(slots=True)
class SubagentRun:
    """A sub-agent's whole transcript, kept by its parent in a ``subagent`` note."""

    number: int
    """Which of the session's sub-agents (0-based, in the order they finished)."""
    task: str
    messages: list[dict[str, Any]]
    steps: int = 0
    status: str = ""
    entries: list[Entry] = field(default_factory=list)
    """Its timeline, when the page shows it inline."""


__all__ = [
    "Approval",
    "CallPart",
    "Entry",
    "EntryKind",
    "ImagePart",
    "Marker",
    "OtherPart",
    "Part",
    "ResultPart",
    "Span",
    "SubagentRun",
    "TextPart",
    "ThinkingPart",
    "Usage",
]
