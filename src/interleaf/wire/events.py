"""Stream events: the format-neutral view of a reply as it arrives.

Every stream assembler (Anthropic SSE, OpenAI Chat chunks, raw M2 text) turns wire chunks into these
events, and every stream encoder turns them back into a client's wire format. ``index`` is the block's
position in the final assistant message. Deltas are for live display and re-streaming; the complete
block is in :class:`BlockEnd` (a thinking block's signature arrives last, so only ``BlockEnd`` carries
it) and the authoritative message is in :class:`MessageEnd`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from interleaf.transcript import Block, Response, Usage

BlockKind = Literal["thinking", "redacted_thinking", "text", "tool_call"]


@dataclass(frozen=True, slots=True)
class MessageStart:
    id: str | None = None
    model: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True, slots=True)
class BlockStart:
    index: int
    kind: BlockKind
    id: str | None = None
    """Tool-call id (tool_call blocks only)."""
    name: str | None = None
    """Tool name (tool_call blocks only)."""


@dataclass(frozen=True, slots=True)
class BlockDelta:
    """More of a block: thinking text, visible text, or a fragment of tool-call argument JSON."""

    index: int
    text: str


@dataclass(frozen=True, slots=True)
class BlockEnd:
    index: int
    block: Block


@dataclass(frozen=True, slots=True)
class UsageUpdate:
    usage: Usage


@dataclass(frozen=True, slots=True)
class MessageEnd:
    """The stream finished normally; ``response`` equals what the non-streamed call would return."""

    response: Response


StreamEvent: TypeAlias = MessageStart | BlockStart | BlockDelta | BlockEnd | UsageUpdate | MessageEnd


def block_kind(block: Block) -> BlockKind:
    """The stream kind of an assistant block (images and tool results never stream from a model)."""
    kind = block.kind
    if kind in ("thinking", "redacted_thinking", "text", "tool_call"):
        return kind
    raise ValueError(f"a {kind} block cannot appear in a streamed assistant reply")


def events_from_response(response: Response) -> list[StreamEvent]:
    """The events a stream of ``response`` carries, one delta a block; used to re-stream a stored reply."""
    from interleaf.transcript import Text, Thinking, ToolCall  # local: keep the module import-light

    events: list[StreamEvent] = [MessageStart(id=response.id, model=response.model, usage=response.usage)]
    for index, block in enumerate(response.message.blocks):
        if block.kind in ("image", "opaque", "tool_result"):
            continue  # no stream form; MessageEnd still carries the whole message
        if isinstance(block, ToolCall):
            events.append(BlockStart(index, "tool_call", id=block.id, name=block.name))
            if block.arguments or block.raw_arguments:
                events.append(BlockDelta(index, block.arguments_json))
        else:
            events.append(BlockStart(index, block_kind(block)))
            if isinstance(block, Thinking | Text) and block.text:
                events.append(BlockDelta(index, block.text))
        events.append(BlockEnd(index, block))
    events.append(MessageEnd(response))
    return events
