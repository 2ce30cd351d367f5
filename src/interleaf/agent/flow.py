"""How a step is cut short: exceptions that carry the messages that answer it.

Everything that stops a step early (a reply that cannot be read, a final answer, a spent budget, a
loop, a full context, a failing model server, Ctrl-C) is one of these, raised wherever it is found (the
loop, a model wrapper, compaction) and handled in one place, ``Agent.run``: the loop appends
``messages`` and, for an :class:`Exit`, ends the run with its status. The messages are tool results
answering calls that will not run, or the assistant's own reply; never a user message, which would
erase the thinking of the current loop on templates such as MiniMax-M2's (docs/agent.md).

The shape follows mini-swe-agent's ``InterruptAgentFlow(*messages)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from interleaf.agent.events import Status
from interleaf.transcript import Message, ToolCall, ToolResult


class FlowInterrupt(Exception):
    """Stops the current step; ``messages`` are appended to the task, in order."""

    def __init__(self, *messages: Message) -> None:
        super().__init__()
        self.messages = messages


class FormatError(FlowInterrupt):
    """The reply could not be read as the tool protocol asks. ``messages`` hold the reply and an error
    result for each of its calls; the run goes on, so the model can write them again."""


class Exit(FlowInterrupt):
    """Ends the run with ``status``: ``answer`` for the user, ``reason`` when it was not ``done``."""

    status: Status = "done"

    def __init__(self, *messages: Message, answer: str = "", reason: str = "") -> None:
        super().__init__(*messages)
        self.answer = answer
        self.reason = reason

    def __str__(self) -> str:
        return self.reason or self.answer


class Submitted(Exit):
    """The model gave its final answer."""

    def __init__(self, answer: str, *messages: Message) -> None:
        super().__init__(*messages, answer=answer)


class LimitsExceeded(Exit):
    """A budget is spent (steps, tokens, time or cost); ``status`` names which."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason=reason)
        self.status = status


class LoopDetected(Exit):
    status = "loop_detected"


class ContextFull(Exit):
    status = "context_full"


class ModelFailure(Exit):
    """The model server failed in a way retries did not fix; the reason says what to check."""

    status = "model_error"

    def __init__(self, reason: str) -> None:
        super().__init__(reason=reason)


class Interrupted(Exit):
    """The user stopped the run (Ctrl-C); ``messages`` answer the calls it cut off."""

    status = "interrupted"

    def __init__(self, *messages: Message) -> None:
        super().__init__(*messages, reason="interrupted; `interleaf run --resume` continues the session")


def answered(calls: Iterable[ToolCall], why: str) -> Message:
    """One tool message answering every call in ``calls`` with the error ``why``: every call gets a
    result, so the transcript stays valid for any backend and can be resumed."""
    return Message(
        role="tool",
        blocks=tuple(ToolResult(call_id=c.id, content=why, is_error=True, name=c.name) for c in calls),
    )


CUT_OFF = (
    "the session was interrupted around this call, so it may or may not have run; check its effects "
    "before running it again"
)
"""Why a call a crash or a Ctrl-C cut off has no result (``Agent.run`` answers it before the next task)."""
STOPPED = "interrupted by the user before this call finished"


def unanswered(messages: Sequence[Message], why: str) -> tuple[Message, ...]:
    """The results owed when the last message is an assistant's with calls and nothing answered them
    (a run cut off mid-step): each call answered with ``why``; else nothing."""
    if not messages or messages[-1].role != "assistant" or not messages[-1].tool_calls:
        return ()
    return (answered(messages[-1].tool_calls, why),)
