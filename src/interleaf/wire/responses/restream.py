"""Format-neutral stream events in, a complete Responses SSE event sequence out.

:class:`StreamEncoder` serves a reply from any API to a Responses client as it arrives:
``response.created``, ``response.in_progress``, then per item ``output_item.added``, its part and
delta events and ``output_item.done``, and at the end ``response.completed`` (``response.incomplete``
for a reply cut by its token limit) whose ``response`` is :func:`encode_response` of the reply.
Thinking becomes a reasoning item: live text goes out as ``reasoning_text`` deltas; a block whose
text did not stream gets the part events of its final item (its summary parts, say). The items in
``output_item.done`` and ``response.completed`` are the reply's own: a reasoning item that came from a
Responses upstream is sent back byte-exact.

Which items the blocks form is decided as the blocks start: a text block joins the message item still
open unless its ``BlockStart`` carries an id (the Responses assembler sets it on a message's first
text, and on a reasoning item, whose id must not change between ``added`` and ``done``).
:func:`stream_payloads` streams a stored reply from its :class:`BlockEnd` events alone, where every
block is known whole, so its items come out exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from interleaf.transcript import (
    Block,
    JSONDict,
    Opaque,
    ReasoningDialect,
    RedactedThinking,
    Response,
    Text,
    Thinking,
    ToolCall,
    Usage,
)
from interleaf.wire.errors import Losses
from interleaf.wire.events import (
    BlockDelta,
    BlockEnd,
    BlockKind,
    BlockStart,
    MessageEnd,
    MessageStart,
    StreamEvent,
    UsageUpdate,
)
from interleaf.wire.responses.common import (
    FORMAT,
    MESSAGE_FIELDS,
    PART_SOURCE,
    PLAIN,
    ItemIds,
    loss,
)
from interleaf.wire.responses.content import encode_output_text
from interleaf.wire.responses.items import ItemWriter, encode_thinking, encode_tool_call
from interleaf.wire.responses.outgoing import (
    Emitter,
    ItemKind,
    OutItem,
    Part,
    reasoning_part_events,
    same_json,
)
from interleaf.wire.responses.replies import FALLBACK_ID, encode_response

__all__ = ["StreamEncoder", "response_events", "stream_payloads"]

RESPONSES = ReasoningDialect.RESPONSES


class StreamEncoder:
    """Stream events in, Responses event payloads out (each one's ``type`` is its SSE event name).

    ``native``: the reply comes from a Responses server, so its items' own fields are re-sent as
    they are; from another API only what Responses defines goes out. ``response_id`` and ``model``
    default to :class:`MessageStart`'s. What cannot be streamed as it should is recorded in ``losses``.
    """

    def __init__(
        self,
        *,
        response_id: str | None = None,
        model: str | None = None,
        created_at: int = 0,
        native: bool = False,
        losses: Losses | None = None,
    ) -> None:
        self._id = response_id
        self._model = model
        self._created_at = created_at
        self._native = native
        self._losses = losses
        self._writer = ItemWriter(native=native, reply=True)
        self._emit = Emitter()
        self._started = False
        self._items: list[OutItem] = []
        self._blocks: dict[int, tuple[OutItem, int]] = {}  # block index -> its item, part position
        self._accepting: OutItem | None = None  # the message item later text blocks join
        self._ids = ItemIds(None)
        self._usage: Usage | None = None

    # ------------------------------------------------------------------------------- framing

    def _frame(self) -> JSONDict:
        return {
            "id": self._id,
            "object": "response",
            "created_at": self._created_at,
            "status": "in_progress",
            "error": None,
            "incomplete_details": None,
            "model": self._model or "",
            "output": [],
            "usage": None,
        }

    def _start(self, event: MessageStart | None = None) -> list[JSONDict]:
        if self._started:
            return []
        self._started = True
        if event is not None:
            self._id = self._id or event.id
            self._model = self._model or event.model
            self._usage = event.usage
        self._id = self._id or FALLBACK_ID
        self._ids = ItemIds(self._id)
        return [
            self._emit.event("response.created", response=self._frame()),
            self._emit.event("response.in_progress", response=self._frame()),
        ]

    def error(self, code: str, message: str) -> list[JSONDict]:
        """An ``error`` event, for a stream that fails after it started."""
        return [self._emit.event("error", code=code, message=message, param=None)]

    # -------------------------------------------------------------------------------- events

    def encode(self, event: StreamEvent) -> list[JSONDict]:
        if isinstance(event, MessageStart):
            return self._start(event)
        out = self._start()
        if isinstance(event, BlockStart):
            if event.index not in self._blocks:
                out.extend(self._block_start(event.index, event.kind, event.id, event.name))
        elif isinstance(event, BlockDelta):
            out.extend(self._delta(event.index, event.text))
        elif isinstance(event, BlockEnd):
            out.extend(self._end(event.index, event.block))
        elif isinstance(event, UsageUpdate):
            self._usage = event.usage
        else:
            out.extend(self._finish(event.response))
        return out

    def _open(self, kind: ItemKind, skeleton: JSONDict) -> tuple[OutItem, list[JSONDict]]:
        item = OutItem(index=len(self._items), kind=kind, skeleton=skeleton)
        self._items.append(item)
        return item, [
            self._emit.event("response.output_item.added", output_index=item.index, item=dict(skeleton))
        ]

    def _close_accepting(self) -> list[JSONDict]:
        item, self._accepting = self._accepting, None
        if item is None:
            return []
        item.accepting = False
        return self._message_done(item)

    def _block_start(
        self, index: int, kind: BlockKind, block_id: str | None, name: str | None
    ) -> list[JSONDict]:
        if kind == "text":
            return self._text_start(index, block_id, new=block_id is not None)
        out = self._close_accepting()
        if kind == "redacted_thinking":
            return out  # its item is known only at its end
        if kind == "thinking":
            if block_id is None and not self._native:
                block_id = self._ids("rs")
            skeleton: JSONDict = {"id": block_id} if block_id is not None else {}
            skeleton.update(type="reasoning", summary=[])
            item, added = self._open("reasoning", skeleton)
        else:
            skeleton = {} if self._native else {"id": self._ids("fc")}
            skeleton.update(type="function_call", call_id=block_id or "", name=name or "")
            skeleton.update(arguments="", status="in_progress")
            item, added = self._open("function_call", skeleton)
            item.parts.append(Part("arguments"))
        self._blocks[index] = (item, 0)
        return [*out, *added]

    def _message(self, item_id: str | None, *, new: bool) -> tuple[OutItem, list[JSONDict]]:
        """The message item a text part goes in: the open one, or a new one."""
        if self._accepting is not None and not new:
            return self._accepting, []
        out = self._close_accepting()
        if item_id is None and not self._native:
            item_id = self._ids("msg")
        skeleton: JSONDict = {"id": item_id} if item_id is not None else {}
        skeleton.update(type="message", status="in_progress", content=[], role="assistant")
        item, added = self._open("message", skeleton)
        item.accepting = True
        self._accepting = item
        return item, [*out, *added]

    def _text_start(self, index: int, item_id: str | None, *, new: bool) -> list[JSONDict]:
        item, out = self._message(item_id, new=new)
        position = len(item.parts)
        item.parts.append(Part("output_text"))
        self._blocks[index] = (item, position)
        part = {"type": "output_text", "annotations": [], "text": ""}
        return [*out, self._emit.part("response.content_part.added", item, position, part=part)]

    def _delta(self, index: int, text: str) -> list[JSONDict]:
        located = self._blocks.get(index)
        if located is None or not text or located[0].final is not None:
            return []
        item, position = located
        if item.kind == "message":
            item.parts[position].sent.append(text)
            return [self._emit.part("response.output_text.delta", item, position, delta=text, logprobs=[])]
        if item.kind == "function_call":
            item.parts[0].sent.append(text)
            return [self._emit.call("response.function_call_arguments.delta", item, delta=text)]
        out: list[JSONDict] = []
        if not self._native:  # thinking from another API streams as the summary (see encode_thinking)
            if not item.parts:
                item.parts.append(Part("summary_text"))
                empty = {"type": "summary_text", "text": ""}
                out.append(
                    self._emit.event("response.reasoning_summary_part.added", **_summary(item), part=empty)
                )
            item.parts[0].sent.append(text)
            out.append(
                self._emit.event("response.reasoning_summary_text.delta", **_summary(item), delta=text)
            )
            return out
        if not item.parts:  # the reasoning_text part live thinking goes in
            item.parts.append(Part("reasoning_text"))
            empty = {"type": "reasoning_text", "text": ""}
            out.append(self._emit.part("response.content_part.added", item, 0, part=empty))
        item.parts[0].sent.append(text)
        out.append(self._emit.part("response.reasoning_text.delta", item, 0, delta=text))
        return out

    # ------------------------------------------------------------------------------ block ends

    def _end(self, index: int, block: Block) -> list[JSONDict]:
        out: list[JSONDict] = []
        if index not in self._blocks:
            out.extend(self._start_whole(index, block))
        located = self._blocks.get(index)
        if located is None or located[0].final is not None:
            return out
        item, position = located
        if item.kind == "message" and isinstance(block, Text):
            out.extend(self._rest(item, position, block.text, "response.output_text.delta", logprobs=[]))
            final = encode_output_text(block, "", native=self._native, reply=True, losses=None)
            text = "".join(item.parts[position].sent)
            out.append(self._emit.part("response.output_text.done", item, position, text=text, logprobs=[]))
            out.extend(self._part_done(item, position, final, block))
        elif item.kind == "message" and isinstance(block, Opaque):
            out.extend(self._part_done(item, position, dict(block.data), block))
        elif item.kind == "reasoning" and isinstance(block, Thinking | RedactedThinking):
            out.extend(self._end_reasoning(item, block))
        elif item.kind == "function_call" and isinstance(block, ToolCall):
            out.extend(self._end_call(item, block))
        elif item.kind == "item" and isinstance(block, Opaque):
            out.extend(self._item_done(item, dict(block.data)))
        return out

    def _end_call(self, item: OutItem, block: ToolCall) -> list[JSONDict]:
        final = encode_tool_call(block, "", self._writer)
        if "id" not in final and "id" in item.skeleton:
            final = {"id": item.skeleton["id"], **final}  # the id a call of a reply was given
        sent = "".join(item.parts[0].sent)
        out: list[JSONDict] = []
        if block.raw_arguments is None and sent and same_json(sent, block.arguments):
            # Arguments that had no text of their own (Anthropic's input object) go out as the text
            # the client already has: the same JSON, and the deltas add up to it.
            final["arguments"] = sent
            item.adopted = True
        else:
            out.extend(self._rest(item, 0, block.arguments_json, "response.function_call_arguments.delta"))
        arguments = final.get("arguments")
        text = arguments if isinstance(arguments, str) else "".join(item.parts[0].sent)
        out.append(self._emit.call("response.function_call_arguments.done", item, arguments=text))
        return [*out, *self._item_done(item, final)]

    def _part_done(self, item: OutItem, position: int, final: JSONDict, block: Block) -> list[JSONDict]:
        item.parts[position].final = final
        if position == 0 and isinstance(block, Text) and self._native:
            fields = block.extra.get(MESSAGE_FIELDS)
            item.fields = fields if isinstance(fields, Mapping) else None
            item.plain = block.extra.get(PLAIN) is True
        out = [self._emit.part("response.content_part.done", item, position, part=final)]
        return [*out, *self._message_done(item)]

    def _rest(self, item: OutItem, position: int, full: str, kind: str, **fields: Any) -> list[JSONDict]:
        """The delta that completes what the live deltas sent, so the client ends with ``full``."""
        part = item.parts[position]
        sent = "".join(part.sent)
        if not full.startswith(sent):
            loss(
                self._losses,
                f"output[{item.index}]",
                "re-streaming: the live deltas differ from the final text",
            )
            return []
        remainder = full[len(sent) :]
        if not remainder:
            return []
        part.sent.append(remainder)
        if item.kind == "function_call":
            return [self._emit.call(kind, item, delta=remainder, **fields)]
        return [self._emit.part(kind, item, position, delta=remainder, **fields)]

    def _start_whole(self, index: int, block: Block) -> list[JSONDict]:
        """The start of a block that arrives whole (a stored reply, an item that never streams)."""
        if isinstance(block, Text):
            fields = block.extra.get(MESSAGE_FIELDS) if self._native else None
            item_id = fields.get("id") if isinstance(fields, Mapping) else None
            return self._text_start(
                index, item_id if isinstance(item_id, str) else None, new=fields is not None
            )
        if isinstance(block, Opaque) and block.source == PART_SOURCE:
            item, out = self._message(None, new=False)
            item.parts.append(Part(str(block.data.get("type"))))
            self._blocks[index] = (item, len(item.parts) - 1)
            part_added = self._emit.part(
                "response.content_part.added", item, len(item.parts) - 1, part=dict(block.data)
            )
            return [*out, part_added]
        if isinstance(block, Thinking):
            item_id = block.item.get("id") if block.item is not None and block.dialect is RESPONSES else None
            return self._block_start(index, "thinking", item_id if isinstance(item_id, str) else None, None)
        if isinstance(block, ToolCall):
            return self._block_start(index, "tool_call", block.id, block.name)
        final: JSONDict | None = None
        kind: ItemKind = "item"
        if isinstance(block, RedactedThinking):
            final, kind = encode_thinking(block, "", None), "reasoning"
        elif isinstance(block, Opaque) and block.source == FORMAT:
            final = dict(block.data)
        if final is None:  # no Responses form: the final body reports it
            return []
        closed = self._close_accepting()
        item, added = self._open(kind, final)
        self._blocks[index] = (item, 0)
        return [*closed, *added]

    def _end_reasoning(self, item: OutItem, block: Thinking | RedactedThinking) -> list[JSONDict]:
        final = encode_thinking(block, "", None, reply=not self._native)
        if final is None:
            return []
        if "id" not in final and "id" in item.skeleton and not (block.dialect is RESPONSES and block.item):
            final = {"id": item.skeleton["id"], **final}  # the id a new item of a reply was given
        out: list[JSONDict] = []
        if item.parts and item.parts[0].kind == "summary_text":  # another API's thinking, streamed live
            text = block.text if isinstance(block, Thinking) else ""
            at = _summary(item)
            part = item.parts[0]
            sent = "".join(part.sent)
            if text.startswith(sent) and text != sent:
                part.sent.append(text[len(sent) :])
                out.append(
                    self._emit.event("response.reasoning_summary_text.delta", **at, delta=text[len(sent) :])
                )
            elif not text.startswith(sent):
                loss(
                    self._losses,
                    f"output[{item.index}]",
                    "re-streaming: the live deltas differ from the final text",
                )
            sent = "".join(part.sent)
            out.append(self._emit.event("response.reasoning_summary_text.done", **at, text=sent))
            summary = {"type": "summary_text", "text": sent}
            out.append(self._emit.event("response.reasoning_summary_part.done", **at, part=summary))
        elif item.parts:  # text went out live: complete that part
            text = block.text if isinstance(block, Thinking) else ""
            out.extend(self._rest(item, 0, text, "response.reasoning_text.delta"))
            sent = "".join(item.parts[0].sent)
            out.append(self._emit.part("response.reasoning_text.done", item, 0, text=sent))
            part_done = {"type": "reasoning_text", "text": sent}
            out.append(self._emit.part("response.content_part.done", item, 0, part=part_done))
        else:
            out.extend(reasoning_part_events(self._emit, item, final))
        announced = item.skeleton.get("id")
        if announced != final.get("id"):
            loss(
                self._losses,
                f"output[{item.index}]",
                f"re-streaming: reasoning item {final.get('id')!r} started as {announced!r}; strict clients "
                "reject an item whose id changed",
            )
        return [*out, *self._item_done(item, final)]

    def _message_done(self, item: OutItem) -> list[JSONDict]:
        if item.final is not None or item.accepting or any(p.final is None for p in item.parts):
            return []
        return self._item_done(item, item.message(native=self._native))

    def _item_done(self, item: OutItem, final: JSONDict) -> list[JSONDict]:
        item.final = final
        return [self._emit.event("response.output_item.done", output_index=item.index, item=final)]

    # -------------------------------------------------------------------------------- the end

    def _finish(self, response: Response) -> list[JSONDict]:
        out = self._close_accepting()
        for item in self._items:  # blocks that started and never ended: what was sent is all there is
            if item.final is not None:
                continue
            for part in item.parts:
                if part.final is None:
                    part.final = {"type": part.kind, "text": "".join(part.sent)}
            if item.kind == "message":
                out.extend(self._message_done(item))
            else:
                out.extend(self._item_done(item, item.unfinished()))
        usage = response.usage if response.usage is not None else self._usage
        body = encode_response(replace(response, id=self._id, usage=usage), losses=self._losses)
        for item, output in zip(self._items, body.get("output", []), strict=False):
            if item.adopted and item.final is not None and output.get("call_id") == item.final["call_id"]:
                output["arguments"] = item.final["arguments"]
        if [item.final for item in self._items] != body.get("output"):
            loss(self._losses, "output", "re-streaming: the items streamed differ from the reply's output")
        kind = "response.incomplete" if body.get("status") == "incomplete" else "response.completed"
        out.append(self._emit.event(kind, response=body))
        return out


def _summary(item: OutItem) -> JSONDict:
    """Where a reasoning item's one summary part is: the fields of its summary events."""
    return {"item_id": item.item_id, "output_index": item.index, "summary_index": 0}


def response_events(response: Response) -> Iterator[StreamEvent]:
    """The events of a stored reply for :class:`StreamEncoder`: every block whole in its BlockEnd."""
    yield MessageStart(id=response.id, model=response.model, usage=response.usage)
    for index, block in enumerate(response.message.blocks):
        yield BlockEnd(index, block)
    yield MessageEnd(response)


def stream_payloads(response: Response, *, losses: Losses | None = None) -> list[JSONDict]:
    """The event payloads that stream ``response``; a Responses client assembles
    ``encode_response(response)`` from them (every item whole, reasoning items byte-exact)."""
    native = response.source in (FORMAT, None)
    created = response.extra.get("created_at") if native else None
    encoder = StreamEncoder(
        response_id=response.id,
        model=response.model,
        created_at=created if isinstance(created, int) and not isinstance(created, bool) else 0,
        native=native,
        losses=losses,
    )
    return [payload for event in response_events(response) for payload in encoder.encode(event)]
