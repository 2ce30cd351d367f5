"""Responses SSE event payloads in, format-neutral stream events and a Response out.

The final items come from ``response.output_item.done`` and the terminal event
(``response.completed`` / ``response.incomplete``), never from the deltas: those items are whole
(``encrypted_content`` arrives there) and authoritative. The response is the terminal event's
``response`` decoded by :func:`decode_response` (its ``output`` filled from the done items when a
server leaves it out), so it equals the non-streamed body's decoding for every chunking.

Live events follow the way servers stream: one item at a time, in ``output_index`` order. Text parts
start at ``content_part.added``; a function call at ``output_item.added`` (its ``call_id`` and name
are there); a reasoning item at its first summary or reasoning_text part, its text live from
whichever of the two arrives first, parts joined as in the decoded block. An item that starts before
the one before it is done stops the live events; :class:`BlockEnd` (at each item's done, or at the end)
and :class:`MessageEnd` always carry the authoritative blocks. ``BlockStart.id`` is the call id of a
tool call, and the item id of a reasoning item and of a message item's first text, so a
Responses client can be given the same items back (:mod:`.restream`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from interleaf.transcript import Block, JSONDict, RedactedThinking, Response, Text, Thinking, ToolCall
from interleaf.wire.errors import StreamIncompleteError, StreamServerError
from interleaf.wire.events import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    MessageEnd,
    MessageStart,
    StreamEvent,
    UsageUpdate,
)
from interleaf.wire.responses.common import SEPARATOR, as_object, require
from interleaf.wire.responses.items import decode_output_item
from interleaf.wire.responses.replies import decode_response, raise_failure

__all__ = ["StreamAssembler"]

_LIFECYCLE = ("response.created", "response.in_progress", "response.queued")
_TERMINAL = ("response.completed", "response.incomplete")


@dataclass
class _Item:
    """The item streaming now, as far as live events go."""

    index: int
    kind: Any
    base: int
    item_id: str | None
    parts: int = 0  # message: content parts seen
    text_parts: tuple[int, ...] = ()  # message: the parts announced as text blocks
    whole: bool = False  # message: starts with a part that is no output_text, so kept whole
    source: str | None = None  # reasoning: "content" or "summary", where the live text comes from
    part: int = -1  # reasoning: the part the live text is in
    broken: bool = False  # reasoning: live text stopped (parts out of order, or both sources)


class StreamAssembler:
    """Responses event payloads (each SSE event's parsed ``data``) in, stream events out.

    :meth:`feed` raises StreamServerError on an ``error`` event or ``response.failed``, and
    WireFormatError on a malformed event. :attr:`done` is true once the terminal event arrived;
    :meth:`finish` gives the response and raises StreamIncompleteError before that.
    """

    def __init__(self) -> None:
        self._started = False
        self._done = False
        self._response: Response | None = None
        self._added: dict[int, JSONDict] = {}
        self._items: dict[int, JSONDict] = {}
        self._blocks: list[Block] = []  # the blocks of the items done so far (while live)
        self._announced: set[int] = set()
        self._live = True
        self._open: _Item | None = None
        self._last = -1  # the output_index of the last item opened live

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, payload: Any) -> list[StreamEvent]:
        """One event's ``data`` object (parsed JSON)."""
        payload = as_object(payload, "event")
        kind = payload.get("type")
        if self._done:
            return []
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            frame = payload.get("response") if kind in _LIFECYCLE else None
            frame = frame if isinstance(frame, Mapping) else {}
            events.append(MessageStart(id=_str(frame.get("id")), model=_str(frame.get("model"))))
        if kind == "error":
            code = payload.get("code") or payload.get("type")
            raise StreamServerError(str(code), str(payload.get("message", "")))
        if kind == "response.failed":
            raise_failure(as_object(payload.get("response"), "response.failed.response"))
            raise StreamServerError("failed", "the response failed and the server said no more")
        if kind in _TERMINAL:
            events.extend(self._terminal(as_object(payload.get("response"), f"{kind}.response")))
        elif kind == "response.output_item.added":
            events.extend(self._item_added(payload))
        elif kind == "response.output_item.done":
            events.extend(self._item_done(payload))
        elif isinstance(kind, str) and self._live:
            events.extend(self._delta(kind, payload))
        return events

    # ------------------------------------------------------------------------------------ items

    def _item_added(self, payload: Mapping[str, Any]) -> list[StreamEvent]:
        index = require(payload, "output_index", int, "response.output_item.added")
        item = payload.get("item")
        if item is None:  # an empty announcement some servers send
            return []
        item = dict(as_object(item, "response.output_item.added.item"))
        self._added[index] = item
        if not self._live:
            return []
        if self._open is not None or index <= self._last:
            self._live = False  # items interleave: block positions are unknown until the end
            return []
        self._last = index
        current = self._open = _Item(index, item.get("type"), len(self._blocks), _str(item.get("id")))
        if current.kind != "function_call":
            return []
        call_id, name = item.get("call_id"), item.get("name")
        if not isinstance(call_id, str) or not isinstance(name, str):
            return []  # announced at its done, whole
        self._announced.add(current.base)
        events: list[StreamEvent] = [BlockStart(current.base, "tool_call", id=call_id, name=name)]
        arguments = item.get("arguments")
        if isinstance(arguments, str) and arguments:
            events.append(BlockDelta(current.base, arguments))
        return events

    def _item_done(self, payload: Mapping[str, Any]) -> list[StreamEvent]:
        index = require(payload, "output_index", int, "response.output_item.done")
        item = dict(as_object(payload.get("item"), "response.output_item.done.item"))
        self._items[index] = item
        if not self._live:
            return []
        current = self._open
        if current is None and index > self._last:
            self._last = index  # done with no added: the whole item at once
            current = _Item(index, item.get("type"), len(self._blocks), None)
        if current is None or current.index != index:
            self._live = False
            return []
        self._open = None
        previous = self._blocks[-1] if self._blocks else None
        blocks = decode_output_item(item, f"output[{index}]", previous)
        events: list[StreamEvent] = []
        for offset, block in enumerate(blocks):
            position = current.base + offset
            events.extend(self._end(position, block, _str(item.get("id")) if offset == 0 else None))
        self._blocks.extend(blocks)
        return events

    def _end(self, position: int, block: Block, item_id: str | None) -> list[StreamEvent]:
        """BlockEnd, after a BlockStart for a streamable block that was never announced."""
        events: list[StreamEvent] = []
        if position not in self._announced:
            self._announced.add(position)
            if isinstance(block, ToolCall):
                events.append(BlockStart(position, "tool_call", id=block.id, name=block.name))
            elif isinstance(block, Thinking | RedactedThinking | Text):
                events.append(BlockStart(position, block.kind, id=item_id))
        events.append(BlockEnd(position, block))
        return events

    # ----------------------------------------------------------------------------------- deltas

    def _delta(self, kind: str, payload: Mapping[str, Any]) -> list[StreamEvent]:
        current = self._open
        index = payload.get("output_index")
        if current is None or index != current.index:
            return []
        if current.kind == "message":
            return self._message_part(current, kind, payload)
        if current.kind == "function_call":
            delta = payload.get("delta")
            if kind == "response.function_call_arguments.delta" and current.base in self._announced:
                return [BlockDelta(current.base, delta)] if isinstance(delta, str) and delta else []
            return []
        if current.kind == "reasoning":
            return self._reasoning(current, kind, payload)
        return []

    def _message_part(self, current: _Item, kind: str, payload: Mapping[str, Any]) -> list[StreamEvent]:
        part_index = payload.get("content_index")
        if not isinstance(part_index, int) or current.whole:
            return []
        events: list[StreamEvent] = []
        if kind == "response.content_part.added":
            part = payload.get("part")
            part_kind = part.get("type") if isinstance(part, Mapping) else None
            if part_index != current.parts:
                self._live = False  # parts out of order
                return []
            current.parts += 1
            if part_index == 0 and part_kind != "output_text":
                current.whole = True  # kept whole (a refusal): no live text
                return []
            if part_kind == "output_text":
                position = current.base + part_index
                current.text_parts += (part_index,)
                self._announced.add(position)
                events.append(BlockStart(position, "text", id=current.item_id if part_index == 0 else None))
                text = part.get("text") if isinstance(part, Mapping) else None
                if isinstance(text, str) and text:
                    events.append(BlockDelta(position, text))
            return events
        delta = payload.get("delta")
        if (
            kind == "response.output_text.delta"
            and part_index in current.text_parts
            and isinstance(delta, str)
        ):
            events.extend([BlockDelta(current.base + part_index, delta)] if delta else [])
        return events

    def _reasoning(self, current: _Item, kind: str, payload: Mapping[str, Any]) -> list[StreamEvent]:
        if kind in ("response.reasoning_summary_part.added", "response.reasoning_summary_text.delta"):
            source, part_index = "summary", payload.get("summary_index")
        elif kind == "response.reasoning_text.delta":
            source, part_index = "content", payload.get("content_index")
        elif kind == "response.content_part.added":
            part = payload.get("part")
            if not isinstance(part, Mapping) or part.get("type") != "reasoning_text":
                return []
            source, part_index = "content", payload.get("content_index")
        else:
            return []
        if current.broken or not isinstance(part_index, int):
            return []
        if current.source is None:
            current.source = source
        elif current.source != source:
            # The block's text is its reasoning_text when it has any: a summary shown live would not
            # lead to it. Summary after reasoning_text changes nothing.
            current.broken = source == "content"
            return []
        events: list[StreamEvent] = []
        if current.base not in self._announced:
            self._announced.add(current.base)
            events.append(BlockStart(current.base, "thinking", id=current.item_id))
        if part_index < current.part:
            current.broken = True
            return events
        while current.part < part_index:
            current.part += 1
            if current.part > 0:
                events.append(BlockDelta(current.base, SEPARATOR))
        delta = payload.get("delta")
        if kind.endswith(".delta") and isinstance(delta, str) and delta:
            events.append(BlockDelta(current.base, delta))
        return events

    # ---------------------------------------------------------------------------------- the end

    def _terminal(self, body: Mapping[str, Any]) -> list[StreamEvent]:
        body = dict(body)
        if body.get("output") is None:
            missing = sorted(set(self._added) - set(self._items))
            if missing:
                raise StreamIncompleteError(
                    f"the Responses stream ended with output item {missing[0]} unfinished and no output "
                    "in its final event; the reply is incomplete and was not recorded"
                )
            body["output"] = [self._items[i] for i in sorted(self._items)]
        response = decode_response(body)
        events: list[StreamEvent] = []
        blocks = response.message.blocks
        for position in range(len(self._blocks), len(blocks)):  # the BlockEnds not sent at an item's done
            events.extend(self._end(position, blocks[position], None))
        if response.usage is not None:
            events.append(UsageUpdate(response.usage))
        events.append(MessageEnd(response))
        self._response = response
        self._done = True
        return events

    def response(self) -> Response:
        """The response; raises StreamIncompleteError until the terminal event has arrived."""
        if self._response is None:
            raise StreamIncompleteError(
                "the Responses stream ended before response.completed; the reply is incomplete and "
                "was not recorded"
            )
        return self._response

    def finish(self) -> Response:
        return self.response()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
