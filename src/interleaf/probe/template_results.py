"""What ``interleaf probe template`` found, cell by cell: plain values with their JSON forms.

:class:`interleaf.probe.report.TemplateReport` holds them. Nothing here renders or decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["FieldResult", "MessageVerdict", "StackResult", "Survival", "TemplateOption"]


class Survival(StrEnum):
    """What became of one assistant message's reasoning in the rendered prompt."""

    KEPT = "kept"
    """Rendered, in the template's own format (the template parsed or read it)."""
    DROPPED = "dropped"
    VERBATIM = "verbatim"
    """In the prompt, but as plain text: the prompt is the same when the tags are spelled otherwise."""
    ERROR = "error"
    """The template raised; ``detail`` says what."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageVerdict:
    """One assistant message of one probe conversation (``loop`` or ``nudged``) under one carrier."""

    conversation: str
    number: int
    index: int
    """Position in the conversation (system = 0)."""
    place: str
    after_last_user: bool
    after_last_final: bool
    survival: Survival
    detail: str = ""

    @property
    def label(self) -> str:
        return f"assistant {self.number}"

    @property
    def survives(self) -> bool:
        return self.survival is Survival.KEPT

    def to_json(self) -> dict[str, Any]:
        return {
            "conversation": self.conversation,
            "index": self.index,
            "label": self.label,
            "place": self.place,
            "after_last_user": self.after_last_user,
            "after_last_final": self.after_last_final,
            "survival": self.survival.value,
            "detail": self.detail,
        }


def loop_survival(messages: tuple[MessageVerdict, ...]) -> str:
    """One word for the current tool loop (assistants 3 and 4 of the ``loop`` conversation): their
    common survival, or ``partial`` when they differ."""
    found = {m.survival for m in messages if m.conversation == "loop" and m.number >= 3}
    if not found:
        return Survival.ERROR.value
    return found.pop().value if len(found) == 1 else "partial"


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldResult:
    """How the template treats reasoning carried one way (a field, or inline in ``content``).

    ``rule`` names the pattern (:mod:`interleaf.probe.template_rules`) and ``evidence`` the messages
    that show it. ``arguments`` is the tool-call argument form that rendered (``dict`` or
    ``JSON string``); ``argument_errors`` what the forms tried before it raised."""

    field: str
    messages: tuple[MessageVerdict, ...] = ()
    rule: str = ""
    evidence: tuple[str, ...] = ()
    arguments: str | None = None
    argument_errors: tuple[str, ...] = ()
    error: str | None = None
    rendered: str = ""
    rendered_nudged: str = ""

    @property
    def keeps_loop(self) -> bool:
        """Both assistant messages of the current tool loop keep their reasoning, parsed."""
        return loop_survival(self.messages) == Survival.KEPT.value

    @property
    def loop(self) -> str:
        return loop_survival(self.messages)

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "rule": self.rule,
            "evidence": list(self.evidence),
            "keeps_tool_loop": self.keeps_loop,
            "tool_loop": self.loop,
            "arguments": self.arguments,
            "argument_errors": list(self.argument_errors),
            "error": self.error,
            "messages": [m.to_json() for m in self.messages],
            "rendered": self.rendered,
            "rendered_nudged": self.rendered_nudged,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class StackResult:
    """A serving stack given reasoning in one field by the client: what the template then received
    (``sees``), what survived of the current tool loop (``loop``: kept, dropped, verbatim, error or
    partial) and of every message (``messages``, in JSON as survival words per conversation)."""

    stack: str
    sends: str
    sees: tuple[str, ...]
    loop: str
    rule: str
    messages: tuple[MessageVerdict, ...] = ()
    arguments: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        survival: dict[str, list[str]] = {}
        for message in self.messages:
            survival.setdefault(message.conversation, []).append(message.survival.value)
        return {
            "stack": self.stack,
            "sends": self.sends,
            "sees": list(self.sees),
            "tool_loop": self.loop,
            "rule": self.rule,
            "messages": survival,
            "arguments": self.arguments,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateOption:
    """A variable the template reads that a caller may set (``chat_template_kwargs``), with the values
    the template compares it with, and whether this run passed it."""

    name: str
    compared_with: tuple[str, ...] = ()
    passed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "compared_with": list(self.compared_with), "passed": self.passed}
