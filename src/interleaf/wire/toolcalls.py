"""Pieces shared by the parsers that read tool calls out of model text (``minimax``, ``textcalls``).

A model that writes its calls as text can get them wrong. Parsers never raise on such text: they
return the calls they could read plus a :class:`ToolCallParseError` for each one they could not, whose
``message`` is written to be sent back to the model as it stands.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count

__all__ = ["IdFactory", "ToolCallParseError", "new_call_id", "sequential_call_ids"]

IdFactory = Callable[[], str]
"""Makes the id of each parsed tool call, in the order the calls appear."""


@dataclass(frozen=True, slots=True)
class ToolCallParseError:
    """Text that was meant as a tool call but cannot run as written.

    ``message`` says what was wrong and how to write the call instead, addressed to the model: an agent
    sends it back as the call's tool result (``is_error``) instead of running the call. ``call_id`` is
    the id of the ToolCall the parser still made for it (an unknown tool, unreadable arguments, a
    parameter left out), so the reply has a call to answer; it is ``None`` when nothing could become a
    call (no tool name could be read), and the text then stays visible. ``tool`` is the tool name when
    it could be read; ``text`` is the offending source text.
    """

    message: str
    tool: str | None = None
    text: str = ""
    call_id: str | None = None

    def __str__(self) -> str:
        return self.message


def new_call_id() -> str:
    """A fresh tool-call id in the form vLLM gives M2 calls: ``call_`` and 24 hex digits."""
    return f"call_{uuid.uuid4().hex[:24]}"


def sequential_call_ids(start: int = 1) -> IdFactory:
    """A deterministic id factory for tests and reproducible conversions: ``call_000…001``, ``call_000…002``."""
    numbers: Iterator[int] = count(start)
    return lambda: f"call_{next(numbers):024x}"
