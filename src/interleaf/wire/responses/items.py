"""Responses items that are not user-side messages: reasoning, assistant messages, function calls and
their outputs; every other item kept whole.

* ``reasoning`` is a thinking block whose ``item`` is the whole item, byte-exact (key order, unknown
  keys, ``id``, ``encrypted_content``, ``status``) and replayed verbatim. Its text is the ``content``
  parts' text joined (``reasoning_text``, what gpt-oss servers return), else the ``summary`` parts'
  text joined (what OpenAI returns); an item with no parts and an ``encrypted_content`` is
  :class:`RedactedThinking` with that blob as ``data``. Thinking from another API becomes a new item
  with its text in ``content`` and no ``encrypted_content`` (blobs are never minted; an Anthropic
  signature cannot travel, a loss), and no ``id`` either except in a reply (:class:`ItemIds`).
* ``function_call`` is a :class:`ToolCall` whose id is the ``call_id`` (what the output refers to);
  the item's ``id``, ``status`` and unknown fields ride in ``extra``.
* ``function_call_output`` is a :class:`ToolResult`; an output list with parts interleaf does not model
  stays whole in ``extra["output"]``.
* An assistant ``message`` is one :class:`Text` per ``output_text`` part (other parts after the first
  one: ``Opaque(source=PART_SOURCE)``), its own fields recorded on the first (see ``common``). A message
  that does not start with an ``output_text`` part (a refusal, no parts) is kept whole.
* Every other item (``custom_tool_call``, ``web_search_call``, ``mcp_*``, ``compaction``,
  ``item_reference``, types added later...) is ``Opaque(source="responses")`` at its position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from interleaf.transcript import (
    Block,
    Image,
    JSONDict,
    Opaque,
    ReasoningDialect,
    RedactedThinking,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    parse_arguments,
)
from interleaf.wire.errors import Losses, WireFormatError
from interleaf.wire.responses.common import (
    FORMAT,
    MESSAGE_FIELDS,
    PART_SOURCE,
    PLAIN,
    PLAIN_ASSISTANT,
    SEPARATOR,
    ItemIds,
    as_object,
    at,
    describe,
    foreign_fields,
    kind_of,
    loss,
    merge_extra,
    require,
    rest,
)
from interleaf.wire.responses.content import decode_input_part, encode_input_part, encode_output_text

__all__ = [
    "ItemWriter",
    "decode_output_item",
    "decode_tool_output",
    "encode_thinking",
    "encode_tool_result",
    "reasoning_parts",
    "write_assistant",
]

RESPONSES = ReasoningDialect.RESPONSES
_ABSENT: Any = object()


# ---------------------------------------------------------------------------------------- reasoning


def reasoning_parts(item: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """Where a reasoning item's text comes from (``"content"`` or ``"summary"``) and the parts' texts,
    or ``None`` when it has no parts. A part without a text string counts as ``""``."""
    for key in ("content", "summary"):
        parts = item.get(key)
        if isinstance(parts, list) and parts:
            texts = [
                p["text"] if isinstance(p, Mapping) and isinstance(p.get("text"), str) else "" for p in parts
            ]
            return key, texts
    return None


def decode_reasoning(item: JSONDict) -> Thinking | RedactedThinking:
    parts = reasoning_parts(item)
    if parts is None and isinstance(item.get("encrypted_content"), str):
        return RedactedThinking(data=item["encrypted_content"], dialect=RESPONSES, item=item)
    text = SEPARATOR.join(parts[1]) if parts is not None else ""
    return Thinking(text=text, dialect=RESPONSES, item=item)


def encode_thinking(
    block: Thinking | RedactedThinking,
    path: str,
    losses: Losses | None,
    ids: ItemIds | None = None,
    *,
    reply: bool | None = None,
) -> JSONDict | None:
    """A reasoning item: the block's own item verbatim, else a new one: no blob, and an id only in a
    reply (``ids``), where clients need one to tell items apart.

    A new item in a request holds the text as ``reasoning_text`` content (what servers read back); in a
    reply (``reply``, default: ``ids`` given) as its summary, the part every client reads and replays
    (the AI SDK, Qwen Code, Kimi CLI and Codex keep only the summary; a client that kept both would
    send the text back twice)."""
    if block.dialect is RESPONSES and block.item is not None:
        return dict(block.item)
    if isinstance(block, RedactedThinking):
        loss(
            losses,
            path,
            "redacted thinking dropped: a Responses reasoning item cannot carry another API's encrypted reasoning",
        )
        return None
    if block.signature is not None:
        loss(losses, path, "thinking signature dropped: a Responses reasoning item cannot carry it")
    if block.item is not None:
        dropped = sorted(set(block.item) - {"type", "text", "summary", "signature"})
        if dropped:
            loss(losses, path, f"reasoning_details item fields {', '.join(dropped)} have no Responses slot")
    if block.extra and block.dialect is not ReasoningDialect.THINK_TAGS:
        foreign_fields(block.extra, path, losses)
    item: JSONDict = {"id": ids("rs")} if ids is not None else {}
    if reply if reply is not None else ids is not None:
        summary = [{"type": "summary_text", "text": block.text}] if block.text else []
        item.update(type="reasoning", summary=summary)
    else:
        item.update(type="reasoning", summary=[], content=[{"type": "reasoning_text", "text": block.text}])
    return item


# ------------------------------------------------------------------------------------ function calls


def decode_function_call(item: Mapping[str, Any], path: str) -> ToolCall:
    call_id = require(item, "call_id", str, path)
    name = require(item, "name", str, path)
    extra = rest(item, "type", "call_id", "name", "arguments")
    arguments = item.get("arguments", _ABSENT)
    if arguments is _ABSENT:
        raise WireFormatError(at(path, "arguments"), "required field is missing")
    if isinstance(arguments, str):
        return ToolCall(
            id=call_id, name=name, arguments=parse_arguments(arguments), raw_arguments=arguments, extra=extra
        )
    extra["arguments"] = arguments  # an object (or null) from a lenient server: replayed as it came
    parsed = dict(arguments) if isinstance(arguments, Mapping) else {}
    return ToolCall(id=call_id, name=name, arguments=parsed, extra=extra)


def encode_tool_call(call: ToolCall, path: str, writer: ItemWriter) -> JSONDict:
    out: JSONDict = {"type": "function_call"}
    extra = dict(call.extra) if writer.native else {}
    if "id" in extra:
        out["id"] = extra.pop("id")
    elif not writer.native and writer.reply and writer.ids is not None:
        out["id"] = writer.ids("fc")  # clients (the AI SDK) require every output item to have one
    out["call_id"] = call.id
    out["name"] = call.name
    out["arguments"] = extra.pop("arguments") if "arguments" in extra else call.arguments_json
    if writer.native:
        merge_extra(out, extra)
    else:
        foreign_fields(call.extra, path, writer.losses)
        if writer.reply:
            out["status"] = "completed"
    return out


def decode_tool_output(item: Mapping[str, Any], path: str) -> ToolResult | Opaque:
    """A tool-side item: ``function_call_output`` as a ToolResult, anything else kept whole."""
    if item.get("type") != "function_call_output" or not isinstance(item.get("call_id"), str):
        return Opaque(source=FORMAT, data=dict(item))
    extra = rest(item, "type", "call_id", "output", "name")
    raw = item.get("output", _ABSENT)
    content: str | tuple[Text | Image, ...] | None = None
    if isinstance(raw, str):
        content = raw
    elif isinstance(raw, list):
        opath = at(path, "output")
        parts = [decode_input_part(p, at(opath, j)) for j, p in enumerate(raw)]
        if all(isinstance(p, Text | Image) for p in parts):
            content = tuple(p for p in parts if isinstance(p, Text | Image))
        else:  # a file or other part a ToolResult cannot hold: the whole output rides along
            extra["output"] = raw
    elif raw is not _ABSENT:
        extra["output"] = raw
    name = item.get("name")
    if "name" in item and not isinstance(name, str):
        extra["name"] = name
    return ToolResult(
        call_id=item["call_id"], content=content, name=name if isinstance(name, str) else None, extra=extra
    )


def encode_tool_result(result: ToolResult, path: str, *, native: bool, losses: Losses | None) -> JSONDict:
    out: JSONDict = {"type": "function_call_output"}
    extra = dict(result.extra) if native else {}
    if "id" in extra:
        out["id"] = extra.pop("id")
    out["call_id"] = result.call_id
    content = result.content
    if isinstance(content, tuple) and not native and all(isinstance(p, Text) for p in content):
        content = result.text  # another API's text parts: the string every Responses server reads
    if isinstance(content, tuple):
        parts = (encode_input_part(p, at(path, "output"), native=native, losses=losses) for p in content)
        out["output"] = [p for p in parts if p is not None]
    elif content is not None:
        out["output"] = content
    elif not native:
        out["output"] = ""  # required by the API
    if native:
        if result.name is not None:
            out["name"] = result.name
        merge_extra(out, extra)
        return out
    if result.name is not None:
        loss(losses, path, f"tool result {result.call_id}: name {result.name!r} was left out")
    if result.is_error is not None:
        loss(losses, path, f"tool result {result.call_id}: is_error={result.is_error} has no Responses field")
    foreign_fields(result.extra, path, losses)
    return out


# ------------------------------------------------------------------------------ assistant messages


def _opens_item(previous: Block | None) -> bool:
    """Whether the block before is part of a message item the encoder would still add parts to."""
    if isinstance(previous, Text):
        return previous.extra.get(PLAIN) is not True
    return isinstance(previous, Opaque) and previous.source == PART_SOURCE


def decode_assistant_message(item: Mapping[str, Any], path: str, previous: Block | None) -> list[Block]:
    content = item.get("content", _ABSENT)
    fields = rest(item, "content")
    if content is _ABSENT:
        raise WireFormatError(at(path, "content"), "required field is missing")
    if isinstance(content, str):
        return [Text(text=content, extra={MESSAGE_FIELDS: fields, PLAIN: True})]
    if not isinstance(content, list):
        raise WireFormatError(
            at(path, "content"), f"expected a string or a list of parts, got {kind_of(content)}"
        )
    cpath = at(path, "content")
    parts = [as_object(part, at(cpath, j)) for j, part in enumerate(content)]
    if not parts or parts[0].get("type") != "output_text":
        return [Opaque(source=FORMAT, data=dict(item))]
    blocks: list[Block] = []
    for j, part in enumerate(parts):
        if part.get("type") == "output_text":
            text = require(part, "text", str, at(cpath, j))
            blocks.append(Text(text=text, extra=rest(part, "type", "text")))
        else:
            blocks.append(Opaque(source=PART_SOURCE, data=dict(part)))
    first = blocks[0]
    assert isinstance(first, Text)
    if fields != PLAIN_ASSISTANT or _opens_item(previous):
        blocks[0] = Text(text=first.text, extra={MESSAGE_FIELDS: fields, **first.extra})
    return blocks


def decode_output_item(data: Any, path: str, previous: Block | None = None) -> list[Block]:
    """The blocks of one model-side item (an ``output`` entry, or an assistant-side input item).

    ``previous`` is the block before it in the same assistant message (it decides whether a message
    item must record where it starts).
    """
    item = dict(as_object(data, path))
    kind = item.get("type")
    if kind == "reasoning":
        return [decode_reasoning(item)]
    if kind == "function_call":
        return [decode_function_call(item, path)]
    if (kind == "message" or (kind is None and "role" in item)) and item.get("role") == "assistant":
        return decode_assistant_message(item, path, previous)
    if kind is not None and not isinstance(kind, str):
        raise WireFormatError(at(path, "type"), f"expected a string, got {kind_of(kind)}")
    return [Opaque(source=FORMAT, data=item)]


@dataclass
class ItemWriter:
    """How assistant blocks are written.

    ``native``: the blocks came from Responses (or were built by hand), so their ``extra`` is re-sent;
    from another API it is dropped and reported. ``reply``: items of a response body, where an item
    from another API gets what clients expect of one (an id from ``ids``, a ``status``).
    """

    native: bool = True
    reply: bool = False
    losses: Losses | None = None
    ids: ItemIds | None = None

    def new_message(self, fields: Any) -> JSONDict:
        if self.native and isinstance(fields, Mapping):
            return {**fields, "content": []}
        if self.reply and not self.native:
            item: JSONDict = {"type": "message"}
            if self.ids is not None:
                item["id"] = self.ids("msg")
            return {**item, "status": "completed", "content": [], "role": "assistant"}
        return {**PLAIN_ASSISTANT, "content": []}


def write_assistant(blocks: Sequence[Block], path: str, writer: ItemWriter) -> list[JSONDict]:
    """The items of an assistant message's blocks, in block order."""
    items: list[JSONDict] = []
    open_item: JSONDict | None = None  # the message item later Text blocks still join
    for index, block in enumerate(blocks):
        bpath = at(at(path, "blocks"), index)
        if isinstance(block, Text):
            fields = block.extra.get(MESSAGE_FIELDS) if writer.native else None
            if fields is not None or open_item is None:
                open_item = writer.new_message(fields)
                items.append(open_item)
            if writer.native and block.extra.get(PLAIN) is True and not open_item["content"]:
                open_item["content"] = block.text
                open_item = None
                continue
            part = encode_output_text(
                block, bpath, native=writer.native, reply=writer.reply, losses=writer.losses
            )
            open_item["content"].append(part)
            continue
        if isinstance(block, Opaque) and block.source == PART_SOURCE:
            if open_item is None:
                open_item = writer.new_message(None)
                items.append(open_item)
            open_item["content"].append(dict(block.data))
            continue
        open_item = None
        item = _write_item(block, bpath, writer)
        if item is not None:
            items.append(item)
    return items


def _write_item(block: Block, path: str, writer: ItemWriter) -> JSONDict | None:
    if isinstance(block, Thinking | RedactedThinking):
        return encode_thinking(block, path, writer.losses, writer.ids)
    if isinstance(block, ToolCall):
        return encode_tool_call(block, path, writer)
    if isinstance(block, Opaque) and block.source == FORMAT:
        return dict(block.data)
    loss(writer.losses, path, f"{describe(block)} has no place in a Responses assistant message")
    return None
