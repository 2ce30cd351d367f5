"""What the agent tells its observers: the terminal view, ``--json`` output, and tests.

Model output streams through as wire stream events (thinking and text deltas for live display); the
rest are agent events. ``to_json`` gives the one-line JSON form that ``interleaf run --json`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias

from interleaf.transcript import (
    Block,
    RedactedThinking,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    Usage,
    block_to_json,
)
from interleaf.wire.events import StreamEvent

Status = Literal[
    "done",
    "max_steps",
    "token_budget",
    "time_budget",
    "cost_budget",
    "loop_detected",
    "context_full",
    "interrupted",
    "model_error",
]


@dataclass(frozen=True, slots=True)
class StepStarted:
    step: int
    """1-based step number within this run."""


@dataclass(frozen=True, slots=True)
class BlockDone:
    """A complete thinking or text block of the model's reply."""

    block: Thinking | RedactedThinking | Text


@dataclass(frozen=True, slots=True)
class ToolCalled:
    call: ToolCall
    approved: bool = True
    note: str | None = None
    """Why a call was not approved, or how it was approved ("always" for this session)."""


@dataclass(frozen=True, slots=True)
class ToolReturned:
    call: ToolCall
    result: ToolResult
    brief: str
    seconds: float


@dataclass(frozen=True, slots=True)
class UsageReported:
    step: Usage | None
    total: Usage
    cost: float | None = None
    """Dollars so far, when the profile knows prices."""


@dataclass(frozen=True, slots=True)
class PlanUpdated:
    items: tuple[dict[str, str], ...]


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the user should know that is not an error (a compaction, a retry, a restarted kernel)."""

    message: str


@dataclass(frozen=True, slots=True)
class Finished:
    status: Status
    answer: str
    message: str = ""
    """Why the run stopped when it was not ``done``."""
    steps: int = 0
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    cost: float | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    message: str


AgentEvent: TypeAlias = (
    StepStarted
    | BlockDone
    | ToolCalled
    | ToolReturned
    | UsageReported
    | PlanUpdated
    | Notice
    | Finished
    | Failed
)


class Observer(Protocol):
    """Receives everything that happens, in order. Must not raise; must return quickly."""

    def model_event(self, event: StreamEvent) -> None: ...

    def agent_event(self, event: AgentEvent) -> None: ...


class NullObserver:
    def model_event(self, event: StreamEvent) -> None:
        pass

    def agent_event(self, event: AgentEvent) -> None:
        pass


@dataclass
class RecordingObserver:
    """Keeps every event; used by tests and by sub-agents reporting to their parent."""

    model_events: list[StreamEvent] = field(default_factory=list)
    agent_events: list[AgentEvent] = field(default_factory=list)

    def model_event(self, event: StreamEvent) -> None:
        self.model_events.append(event)

    def agent_event(self, event: AgentEvent) -> None:
        self.agent_events.append(event)


def _usage_json(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        k: v
        for k, v in (
            ("input_tokens", usage.input_tokens),
            ("output_tokens", usage.output_tokens),
            ("cache_read_tokens", usage.cache_read_tokens),
            ("cache_write_tokens", usage.cache_write_tokens),
            ("reasoning_tokens", usage.reasoning_tokens),
        )
        if v is not None
    }


def to_json(event: AgentEvent) -> dict[str, Any]:
    """The ``--json`` line for an event."""
    if isinstance(event, BlockDone):
        block: Block = event.block
        if isinstance(block, Text):
            return {"type": "text", "text": block.text}
        return {"type": "thinking", "block": block_to_json(block)}
    if isinstance(event, ToolCalled):
        out: dict[str, Any] = {
            "type": "tool_call",
            "id": event.call.id,
            "name": event.call.name,
            "arguments": event.call.arguments,
            "approved": event.approved,
        }
        if event.note:
            out["note"] = event.note
        return out
    if isinstance(event, ToolReturned):
        return {
            "type": "tool_result",
            "id": event.call.id,
            "name": event.call.name,
            "is_error": bool(event.result.is_error),
            "content": event.result.text,
            "seconds": round(event.seconds, 3),
        }
    if isinstance(event, UsageReported):
        return {
            "type": "usage",
            "step": _usage_json(event.step),
            "total": _usage_json(event.total),
            "cost": event.cost,
        }
    if isinstance(event, Finished):
        return {
            "type": "final",
            "status": event.status,
            "answer": event.answer,
            "message": event.message,
            "steps": event.steps,
            "usage": _usage_json(event.usage),
            "seconds": round(event.seconds, 3),
            "cost": event.cost,
        }
    if isinstance(event, Failed):
        return {"type": "error", "message": event.message}
    if isinstance(event, PlanUpdated):
        return {"type": "plan", "items": list(event.items)}
    if isinstance(event, Notice):
        return {"type": "notice", "message": event.message}
    return {"type": "step", "step": event.step}
