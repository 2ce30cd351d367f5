"""OpenAI Chat messages and their blocks: content parts, tool calls and the four thinking dialects.

The message half of :mod:`interleaf.wire.openai_chat` (which re-exports the public names). Where the
fields the transcript does not model go:

* unknown message fields, and the reasoning fields that lost on precedence: ``Message.extra``;
* outer tool-call and image-part fields: the block's ``extra``; the fields of the nested object
  (``function``, ``image_url``) in ``extra["function"]`` / ``extra["image_url"]``, a key that can never
  be an unknown field of the outer object;
* an explicit ``null`` where the typed slot would read "absent": ``extra[key] = None`` (as the
  Anthropic codec does); ``content`` absent or ``[]`` where the canonical form is ``null``:
  ``Message.extra[CONTENT_SHAPE]``; a ``<think>`` block missing its opening or closing tag:
  ``Thinking.extra["open_tag"]`` / ``["close_tag"]`` is ``False``.

Decoded assistant messages are ordered [thinking from the fields] + [content blocks, ``<think>`` split
in place] + [tool calls]. Field precedence: ``reasoning_details`` > ``reasoning_content`` >
``reasoning``; the fields not chosen ride verbatim in ``Message.extra``, so OpenRouter's ``reasoning``
copy of its ``reasoning_details`` is neither lost nor a second copy of the thinking.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from interleaf.transcript import (
    Block,
    Image,
    JSONDict,
    Message,
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
from interleaf.wire.think import THINK_CLOSE, THINK_OPEN, join_think_tags, split

__all__ = [
    "CONTENT_SHAPE",
    "DETAILS_SOURCE",
    "FORMAT",
    "OPENAI_DIALECTS",
    "REASONING_FIELDS",
    "THINKING_SEPARATOR",
    "TOOL_CALL_SOURCE",
    "Resolver",
    "Writer",
    "arrival_dialect",
    "decode_detail",
    "decode_message",
    "decode_part",
    "encode_detail",
    "encode_message",
    "encode_part",
    "is_thinking",
    "join_inline",
    "resolver",
    "split_inline",
    "write_assistant",
    "write_message",
]

FORMAT: Final = "openai-chat"
DETAILS_SOURCE: Final = "reasoning_details"
"""``Opaque.source`` of a ``reasoning_details`` item of a type interleaf does not know."""
TOOL_CALL_SOURCE: Final = "openai-chat.tool_calls"
"""``Opaque.source`` of a ``tool_calls`` entry that is not a function call (``custom`` tools)."""
CONTENT_SHAPE: Final = "interleaf:content"
"""``Message.extra`` key recording ``content`` absent (``"absent"``) or ``[]`` (``"list"``)."""

RD: Final = ReasoningDialect.REASONING_DETAILS
RC: Final = ReasoningDialect.REASONING_CONTENT
R: Final = ReasoningDialect.REASONING
TAGS: Final = ReasoningDialect.THINK_TAGS
OPENAI_DIALECTS: Final = (RD, RC, R, TAGS)
REASONING_FIELDS: Final[dict[ReasoningDialect, str]] = {
    RD: "reasoning_details",
    RC: "reasoning_content",
    R: "reasoning",
}
"""The field of each field dialect, in decoding precedence order."""
THINKING_SEPARATOR: Final = "\n\n"
"""Joins several thinking blocks sent in one ``reasoning_content`` / ``reasoning`` string."""

_DATA_URL = re.compile(r"data:([^;,]*);base64,(.*)", re.DOTALL)
_ITEM_TEXT_KEYS = {"type", "text", "summary", "signature"}
ABSENT: Any = object()

Resolver = Callable[[int, Block], ReasoningDialect]
"""Where the thinking block at a message position goes: one of :data:`OPENAI_DIALECTS`."""


# ------------------------------------------------------------------------------------------ helpers


def at(path: str, key: str | int) -> str:
    """``path`` extended by a key or an index: ``messages[1].content``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def kind_of(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def as_object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise WireFormatError(path, f"expected an object, got {kind_of(value)}")
    return value


def require(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: str) -> Any:
    if key not in data:
        raise WireFormatError(at(path, key), "required field is missing")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise WireFormatError(at(path, key), f"expected {names}, got {kind_of(value)}")
    return value


def rest(data: Mapping[str, Any], *known: str) -> JSONDict:
    return {k: v for k, v in data.items() if k not in known}


def merge_extra(out: JSONDict, extra: Mapping[str, Any], *skip: str) -> None:
    """Re-emit unmodeled fields; a field the encoder wrote from the transcript wins."""
    for key, value in extra.items():
        if key not in out and key not in skip:
            out[key] = value


def _optional_str(data: Mapping[str, Any], key: str, path: str, extra: JSONDict) -> str | None:
    """A string field that may be absent; an explicit null goes to ``extra``."""
    value = data.get(key)
    if value is None:
        if key in data:
            extra[key] = None
        return None
    if not isinstance(value, str):
        raise WireFormatError(at(path, key), f"expected a string, got {kind_of(value)}")
    return value


# ------------------------------------------------------------------------------------------ dialects


def is_thinking(block: Block) -> bool:
    """Thinking, redacted thinking, or a ``reasoning_details`` item of an unknown type."""
    return isinstance(block, Thinking | RedactedThinking) or (
        isinstance(block, Opaque) and block.source == DETAILS_SOURCE
    )


def arrival_dialect(block: Block) -> ReasoningDialect:
    """The dialect a block replays in when none is forced (Anthropic-origin: ``reasoning_content``)."""
    if isinstance(block, Opaque):
        return RD
    dialect = getattr(block, "dialect", None)
    return dialect if dialect in OPENAI_DIALECTS else RC


def resolver(
    dialect: ReasoningDialect | None, hints: Mapping[int, ReasoningDialect] | None = None
) -> Resolver:
    """``dialect`` for every block; else ``hints`` by block position; else the arrival dialect."""
    if dialect is not None and dialect not in OPENAI_DIALECTS:
        raise ValueError(
            f"OpenAI Chat cannot carry thinking in the {dialect.value!r} dialect; "
            f"use one of {', '.join(d.value for d in OPENAI_DIALECTS)}"
        )
    if dialect is not None:
        forced = dialect
        return lambda index, block: forced
    known = dict(hints or {})
    return lambda index, block: known.get(index) or arrival_dialect(block)


@dataclass(frozen=True, slots=True)
class Writer:
    """How messages are written.

    ``resolve`` picks each thinking block's dialect. ``native`` says the messages came from OpenAI Chat,
    so ``Message.plain`` decides string vs list content; for other origins text-only content goes out
    as a string, the form every OpenAI-compatible server reads.
    """

    resolve: Resolver
    native: bool = True
    losses: Losses | None = None

    def loss(self, path: str, what: str) -> None:
        if self.losses is not None:
            self.losses.add(path, what)

    def own(self, extra: Mapping[str, Any], path: str, *skip: str) -> Mapping[str, Any]:
        """``extra`` when the messages came from OpenAI Chat; otherwise nothing, each field reported as a
        loss: another format's vendor fields never go to an OpenAI-compatible server, which may reject them."""
        if self.native:
            return extra
        fields = sorted(k for k in extra if k not in skip)
        if fields:
            self.loss(path, f"fields {', '.join(fields)} of another format have no OpenAI Chat meaning")
        return {}


# ------------------------------------------------------------------------------------ content parts


def decode_part(data: Any, path: str) -> Text | Image | Opaque:
    """One content part: text, an image (a ``data:`` URL becomes media type + data), else Opaque."""
    data = as_object(data, path)
    kind = require(data, "type", str, path)
    if kind == "text":
        return Text(text=require(data, "text", str, path), extra=rest(data, "type", "text"))
    if kind == "image_url" and isinstance(data.get("image_url"), Mapping):
        image = data["image_url"]
        url = require(image, "url", str, at(path, "image_url"))
        extra = rest(data, "type", "image_url")
        inner = rest(image, "url")
        if inner:
            extra["image_url"] = inner
        match = _DATA_URL.fullmatch(url)
        if match:
            return Image(media_type=match[1], data=match[2], extra=extra)
        return Image(url=url, extra=extra)
    return Opaque(source=FORMAT, data=dict(data))


def encode_part(block: Block, path: str, writer: Writer) -> JSONDict | None:
    if isinstance(block, Text):
        return {"type": "text", "text": block.text, **writer.own(block.extra, path)}
    if isinstance(block, Image):
        extra = dict(writer.own(block.extra, path))
        inner = extra.pop("image_url", None)
        if block.data is not None:
            url = f"data:{block.media_type or ''};base64,{block.data}"
        elif block.url is not None:
            url = block.url
        else:
            writer.loss(path, "an image with neither data nor url was left out")
            return None
        image: JSONDict = {"url": url}
        if isinstance(inner, Mapping):
            merge_extra(image, inner)
        return {"type": "image_url", "image_url": image, **extra}
    if isinstance(block, Opaque) and block.source == FORMAT:
        return dict(block.data)
    writer.loss(path, f"a {_describe(block)} cannot go in OpenAI Chat message content")
    return None


def _describe(block: Block) -> str:
    if isinstance(block, Opaque):
        return f"{block.source} block of type {block.data.get('type')!r}"
    return block.kind.replace("_", " ") + " block"


def _decode_parts(content: list[Any], path: str) -> list[Block]:
    return [decode_part(p, at(at(path, "content"), i)) for i, p in enumerate(content)]


def _encode_content(blocks: Sequence[Block], message: Message, path: str, writer: Writer) -> Any:
    """The ``content`` value of non-inline blocks, or ABSENT."""
    if not blocks:
        if message.plain:
            return ""
        shape = message.extra.get(CONTENT_SHAPE)
        return ABSENT if shape == "absent" else [] if shape == "list" else None
    if (message.plain or not writer.native) and all(
        isinstance(b, Text) and (not b.extra or not writer.native) for b in blocks
    ):
        for block in blocks:
            if isinstance(block, Text):
                writer.own(block.extra, path)
        return "".join(b.text for b in blocks if isinstance(b, Text))
    return [p for b in blocks if (p := encode_part(b, path, writer)) is not None]


# ------------------------------------------------------------------------------------ <think> tags


def split_inline(content: str) -> list[Thinking | Text]:
    """``<think>`` blocks split out of string content (:func:`interleaf.wire.think.split`), marked so
    :func:`join_inline` is exact: a section the server prefilled has ``extra["open_tag"] = False``, one
    the content never closed ``extra["close_tag"] = False``."""
    blocks: list[Thinking | Text] = []
    for section in split(content):
        if not section.thinking:
            blocks.append(Text(text=section.text))
            continue
        marks = {"open_tag": False} if not section.opened else {}
        if not section.closed:
            marks["close_tag"] = False
        blocks.append(Thinking(text=section.text, dialect=TAGS, extra=marks))
    return blocks


def join_inline(blocks: Sequence[Thinking | Text]) -> str:
    """Inverse of :func:`split_inline`: tags around thinking, except where the marks say none."""
    text = join_think_tags(list(blocks))
    first, last = blocks[0], blocks[-1]
    if isinstance(first, Thinking) and first.extra.get("open_tag") is False:
        text = text[len(THINK_OPEN) :]
    if isinstance(last, Thinking) and last.extra.get("close_tag") is False:
        text = text[: -len(THINK_CLOSE)]
    return text


# ------------------------------------------------------------------------------- reasoning_details


def decode_detail(item: Any, path: str) -> Thinking | RedactedThinking | Opaque:
    """One ``reasoning_details`` item; the whole item rides along byte-exact."""
    item = dict(as_object(item, path))
    kind = item.get("type")
    if kind == "reasoning.text" and isinstance(item.get("text", ""), str | None):
        signature = item.get("signature")
        return Thinking(
            text=item.get("text") or "",
            signature=signature if isinstance(signature, str) else None,
            dialect=RD,
            item=item,
        )
    if kind == "reasoning.summary" and isinstance(item.get("summary"), str):
        return Thinking(text=item["summary"], dialect=RD, item=item)
    if kind == "reasoning.encrypted" and isinstance(item.get("data"), str):
        return RedactedThinking(data=item["data"], dialect=RD, item=item)
    return Opaque(source=DETAILS_SOURCE, data=item)


def encode_detail(block: Block) -> JSONDict:
    """The ``reasoning_details`` item of a thinking block: its own item verbatim, else built."""
    if isinstance(block, Opaque):
        return dict(block.data)
    if isinstance(block, Thinking | RedactedThinking) and block.item is not None and block.dialect is RD:
        return dict(block.item)
    if isinstance(block, RedactedThinking):
        return {"type": "reasoning.encrypted", "data": block.data}
    assert isinstance(block, Thinking)
    item: JSONDict = {"type": "reasoning.text", "text": block.text}
    if block.signature is not None:  # how OpenRouter carries Claude's signature
        item["signature"] = block.signature
    return item


def _encode_field(dialect: ReasoningDialect, blocks: Sequence[Block], path: str, writer: Writer) -> Any:
    """The value of ``dialect``'s field for these blocks, or ABSENT when nothing can go there."""
    field = REASONING_FIELDS[dialect]
    for block in blocks:
        if isinstance(block, Thinking) and block.dialect is ReasoningDialect.ANTHROPIC and block.extra:
            writer.loss(path, f"thinking fields {', '.join(sorted(block.extra))} have no place in {field}")
    if dialect is RD:
        return [encode_detail(b) for b in blocks]
    texts: list[str] = []
    for block in blocks:
        if not isinstance(block, Thinking):
            writer.loss(path, f"{_describe_thinking(block)} dropped: {field} cannot carry it")
            continue
        texts.append(block.text)
        if block.signature is not None:
            writer.loss(path, f"thinking signature dropped: {field} cannot carry it")
        dropped = sorted(set(block.item or ()) - _ITEM_TEXT_KEYS)
        if dropped:
            writer.loss(
                path, f"reasoning_details item fields {', '.join(dropped)} dropped: {field} cannot carry them"
            )
    if len(texts) > 1:
        writer.loss(path, f"{len(texts)} thinking blocks joined into one {field}: block boundaries lost")
    return THINKING_SEPARATOR.join(texts) if texts else ABSENT


def _describe_thinking(block: Block) -> str:
    if isinstance(block, Opaque):
        return f"reasoning_details item of type {block.data.get('type')!r}"
    return "redacted thinking"


# --------------------------------------------------------------------------------------- tool calls


def _decode_tool_call(data: Any, path: str) -> ToolCall | Opaque:
    data = as_object(data, path)
    kind = data.get("type", "function")  # a missing type is read as function (and written back)
    if kind != "function":
        if not isinstance(kind, str):
            raise WireFormatError(at(path, "type"), f"expected a string, got {kind_of(kind)}")
        return Opaque(source=TOOL_CALL_SOURCE, data=dict(data))
    call_id = require(data, "id", str, path)
    function = as_object(data.get("function"), at(path, "function"))
    name = require(function, "name", str, at(path, "function"))
    extra = rest(data, "id", "type", "function")
    function_extra = rest(function, "name", "arguments")
    arguments = function.get("arguments", ABSENT)
    raw: str | None = None
    parsed: JSONDict = {}
    if isinstance(arguments, str):
        raw, parsed = arguments, parse_arguments(arguments)
    elif arguments is not ABSENT:  # an object (some servers) or null: replayed as it came
        function_extra = {"arguments": arguments, **function_extra}
        parsed = dict(arguments) if isinstance(arguments, Mapping) else {}
    if function_extra:
        extra["function"] = function_extra
    return ToolCall(id=call_id, name=name, arguments=parsed, raw_arguments=raw, extra=extra)


def _encode_tool_call(call: ToolCall, path: str, writer: Writer) -> JSONDict:
    extra = dict(writer.own(call.extra, path))
    function_extra = extra.pop("function", None)
    function: JSONDict = {"name": call.name, "arguments": call.arguments_json}
    if isinstance(function_extra, Mapping):
        function.update(function_extra)
    out: JSONDict = {"id": call.id, "type": "function", "function": function}
    merge_extra(out, extra)
    return out


# ------------------------------------------------------------------------------------ decode messages


def decode_message(data: Any, path: str = "message") -> Message:
    """One wire message. A ``tool`` message becomes ``Message(role="tool")`` with one ToolResult;
    ``developer`` becomes ``system`` with ``extra["role"] = "developer"``."""
    data = as_object(data, path)
    role = require(data, "role", str, path)
    if role == "assistant":
        return _decode_assistant(data, path)
    if role == "tool":
        return _decode_tool_message(data, path)
    if role not in ("system", "developer", "user"):
        raise WireFormatError(
            at(path, "role"), f"unknown role {role!r}; expected system, developer, user, assistant or tool"
        )
    extra: JSONDict = {"role": "developer"} if role == "developer" else {}
    extra.update(rest(data, "role", "content", "name"))
    name = _optional_str(data, "name", path, extra)
    content = data.get("content", ABSENT)
    blocks: tuple[Block, ...] = ()
    if isinstance(content, str):
        blocks = (Text(text=content),)
    elif isinstance(content, list):
        blocks = tuple(_decode_parts(content, path))
    elif content is not None and content is not ABSENT:
        raise WireFormatError(
            at(path, "content"), f"expected a string, a list or null, got {kind_of(content)}"
        )
    _note_shape(content, extra)
    return Message(
        role="user" if role == "user" else "system",
        blocks=blocks,
        name=name,
        plain=isinstance(content, str),
        extra=extra,
    )


def _note_shape(content: Any, extra: JSONDict) -> None:
    if content is ABSENT:
        extra[CONTENT_SHAPE] = "absent"
    elif content == []:
        extra[CONTENT_SHAPE] = "list"


def _decode_tool_message(data: Mapping[str, Any], path: str) -> Message:
    call_id = require(data, "tool_call_id", str, path)
    extra = rest(data, "role", "tool_call_id", "content", "name")
    raw = data.get("content")
    content: str | tuple[Text | Image, ...] | None
    if raw is None or isinstance(raw, str):
        content = raw
        if raw is None and "content" in data:
            extra["content"] = None
    elif isinstance(raw, list):
        parts: list[Text | Image] = []
        for i, block in enumerate(_decode_parts(raw, path)):
            if not isinstance(block, Text | Image):
                raise WireFormatError(
                    at(at(path, "content"), i), "a tool message holds only text and image parts"
                )
            parts.append(block)
        content = tuple(parts)
    else:
        raise WireFormatError(
            at(path, "content"), f"expected a string or a list of parts, got {kind_of(raw)}"
        )
    name = _optional_str(data, "name", path, extra)
    return Message(
        role="tool", blocks=(ToolResult(call_id=call_id, content=content, name=name, extra=extra),)
    )


def _decode_assistant(data: Mapping[str, Any], path: str) -> Message:
    extra = rest(data, "role", "content", "name", "tool_calls", *REASONING_FIELDS.values())
    name = _optional_str(data, "name", path, extra)

    details = data.get("reasoning_details")
    if details is not None and not isinstance(details, list):
        raise WireFormatError(at(path, "reasoning_details"), f"expected a list, got {kind_of(details)}")
    for field in ("reasoning_content", "reasoning"):
        if data.get(field) is not None and not isinstance(data[field], str):
            raise WireFormatError(at(path, field), f"expected a string, got {kind_of(data[field])}")
    thinking: list[Block] = []
    chosen: str | None = None
    if details:
        chosen = "reasoning_details"
        thinking = [decode_detail(item, at(at(path, chosen), i)) for i, item in enumerate(details)]
    else:
        for dialect in (RC, R):
            field = REASONING_FIELDS[dialect]
            if isinstance(data.get(field), str):
                chosen, thinking = field, [Thinking(text=data[field], dialect=dialect)]
                break
    for field in REASONING_FIELDS.values():
        if field in data and field != chosen:  # duplicates and nulls ride verbatim
            extra[field] = data[field]

    content = data.get("content", ABSENT)
    blocks: list[Block] = []
    if isinstance(content, str):
        blocks = list(split_inline(content))
    elif isinstance(content, list):
        blocks = _decode_parts(content, path)
    elif content is not None and content is not ABSENT:
        raise WireFormatError(
            at(path, "content"), f"expected a string, a list or null, got {kind_of(content)}"
        )
    _note_shape(content, extra)

    calls = data.get("tool_calls")
    if isinstance(calls, list) and calls:
        blocks += [_decode_tool_call(c, at(at(path, "tool_calls"), i)) for i, c in enumerate(calls)]
    elif "tool_calls" in data:
        if calls is not None and not isinstance(calls, list):
            raise WireFormatError(at(path, "tool_calls"), f"expected a list, got {kind_of(calls)}")
        extra["tool_calls"] = calls
    return Message(
        role="assistant",
        blocks=(*thinking, *blocks),
        name=name,
        plain=isinstance(content, str),
        extra=extra,
    )


# ------------------------------------------------------------------------------------ encode messages


def encode_message(
    message: Message,
    path: str = "",
    losses: Losses | None = None,
    *,
    dialect: ReasoningDialect | None = None,
    native: bool = True,
) -> list[JSONDict]:
    """One transcript message as wire messages (usually one).

    A ``tool`` (or Anthropic-style ``user``) message holding tool results becomes one ``tool`` message
    a result, then a ``user`` message with whatever else it held. ``native=False`` for a message from
    another format (see :class:`Writer`).
    """
    return write_message(message, path, Writer(resolver(dialect), native, losses))


def write_message(message: Message, path: str, writer: Writer) -> list[JSONDict]:
    if message.role == "assistant":
        return [write_assistant(message, path, writer)]
    if message.role == "system":
        return [_write_simple(message, path, writer)]
    results = [b for b in message.blocks if isinstance(b, ToolResult)]
    out = [_write_tool_result(r, path, writer) for r in results]
    others = [b for b in message.blocks if not isinstance(b, ToolResult)]
    if others or (message.role == "user" and not results):
        out.append(_write_simple(replace(message, role="user", blocks=tuple(others)), path, writer))
    elif not results:
        writer.loss(path, "an empty tool message was left out")
    return out


def _write_simple(message: Message, path: str, writer: Writer) -> JSONDict:
    developer = message.role == "system" and message.extra.get("role") == "developer"
    out: JSONDict = {"role": "developer" if developer else message.role}
    content = _encode_content(message.blocks, message, path, writer)
    if content is not ABSENT:
        out["content"] = content
    if message.name is not None:
        out["name"] = message.name
    merge_extra(out, writer.own(message.extra, path, CONTENT_SHAPE, "role"), CONTENT_SHAPE, "role")
    return out


def _write_tool_result(result: ToolResult, path: str, writer: Writer) -> JSONDict:
    out: JSONDict = {"role": "tool", "tool_call_id": result.call_id}
    content = result.content
    if isinstance(content, tuple) and not writer.native and all(isinstance(p, Text) for p in content):
        content = result.text  # another format's text parts: the string every server reads
    if isinstance(content, tuple):
        encoded = (encode_part(part, path, writer) for part in content)
        out["content"] = [part for part in encoded if part is not None]
    elif content is not None:
        out["content"] = content
    if result.name is not None:
        out["name"] = result.name
    if result.is_error is not None:
        writer.loss(
            path, f"tool result {result.call_id}: is_error={result.is_error} has no OpenAI Chat field"
        )
    merge_extra(out, writer.own(result.extra, path))
    return out


def write_assistant(message: Message, path: str, writer: Writer) -> JSONDict:
    """An assistant message: thinking into the fields (or tags) ``writer`` picks, content, tool calls."""
    fields: dict[ReasoningDialect, list[Block]] = {}
    content: list[Block] = []
    calls: list[JSONDict] = []
    moved_thinking = moved_content = seen_other = seen_call = has_thinking = False
    replayed = True  # every field-thinking block goes back in the field it came in
    for index, block in enumerate(message.blocks):
        if is_thinking(block):
            has_thinking = True
            target = writer.resolve(index, block)
            if arrival_dialect(block) not in (target, TAGS):
                replayed = False
            if target is not TAGS:
                fields.setdefault(target, []).append(block)
                moved_thinking |= seen_other
            elif isinstance(block, Thinking):
                content.append(block)
                moved_content |= seen_call
                if block.signature is not None:
                    writer.loss(path, "thinking signature dropped: <think> tags cannot carry it")
            else:
                writer.loss(path, f"{_describe_thinking(block)} dropped: <think> tags cannot carry it")
        elif isinstance(block, ToolCall) or (isinstance(block, Opaque) and block.source == TOOL_CALL_SOURCE):
            calls.append(
                _encode_tool_call(block, path, writer) if isinstance(block, ToolCall) else dict(block.data)
            )
            seen_other = seen_call = True
        elif isinstance(block, Text | Image) or (isinstance(block, Opaque) and block.source == FORMAT):
            content.append(block)
            seen_other = True
            moved_content |= seen_call
        else:
            writer.loss(path, f"a {_describe(block)} has no place in an OpenAI Chat assistant message")
    if moved_thinking:
        writer.loss(
            path, "thinking after other blocks moved ahead of them: reasoning fields have no position"
        )
    if moved_content:
        writer.loss(path, "content after a tool call moved ahead of the tool calls")

    out: JSONDict = {"role": "assistant"}
    value = _assistant_content(content, message, path, writer)
    if value is not ABSENT:
        out["content"] = value
    for dialect, field in REASONING_FIELDS.items():
        if dialect in fields:
            encoded = _encode_field(dialect, fields[dialect], path, writer)
            if encoded is not ABSENT:
                out[field] = encoded
    if calls:
        out["tool_calls"] = calls
    if message.name is not None:
        out["name"] = message.name
    shadows: tuple[str, ...] = ()
    if has_thinking and not replayed:  # a duplicate of thinking that now goes back another way
        shadows = tuple(REASONING_FIELDS.values())
        for field in shadows:
            if field in message.extra and field not in out:
                writer.loss(path, f"{field} not sent: it duplicates thinking now sent in another dialect")
    merge_extra(out, writer.own(message.extra, path, CONTENT_SHAPE, *shadows), CONTENT_SHAPE, *shadows)
    return out


def _assistant_content(blocks: Sequence[Block], message: Message, path: str, writer: Writer) -> Any:
    if not any(isinstance(b, Thinking) for b in blocks):
        return _encode_content(blocks, message, path, writer)
    if all(isinstance(b, Thinking | Text) for b in blocks):
        return join_inline([b for b in blocks if isinstance(b, Thinking | Text)])
    writer.loss(path, "<think> blocks sent as text parts of list content: they read back as text")
    parts: list[JSONDict] = []
    for block in blocks:
        if isinstance(block, Thinking):
            parts.append({"type": "text", "text": f"{THINK_OPEN}{block.text}{THINK_CLOSE}"})
        elif (part := encode_part(block, path, writer)) is not None:
            parts.append(part)
    return parts
