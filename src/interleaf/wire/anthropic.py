"""Anthropic Messages API codec: requests, responses and SSE stream events.

Pure functions over dicts. Decoding keeps every field: mapped fields go to the transcript's typed
slots, everything else to ``extra`` (or, for blocks interleaf does not model, to :class:`Opaque`), so
``encode_*(decode_*(body)) == body`` for every valid payload. Thinking blocks keep their signatures
byte-exact and their order; redacted thinking keeps its data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from interleaf.transcript import (
    Block,
    Conversation,
    Image,
    JSONDict,
    Message,
    Opaque,
    ReasoningDialect,
    RedactedThinking,
    Response,
    Text,
    Thinking,
    ToolCall,
    ToolChoice,
    ToolResult,
    ToolSpec,
    Usage,
    parse_arguments,
)
from interleaf.wire.errors import Losses, StreamIncompleteError, StreamServerError, WireFormatError
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

FORMAT = "anthropic"

# Request fields with a portable meaning, as (wire name, transcript params name).
_PARAMS: tuple[tuple[str, str], ...] = (
    ("model", "model"),
    ("max_tokens", "max_tokens"),
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("top_k", "top_k"),
    ("stop_sequences", "stop"),
    ("stream", "stream"),
    ("thinking", "thinking"),
    ("metadata", "metadata"),
)
_STRUCTURAL = {"messages", "system", "tools", "tool_choice"}
_USAGE_FIELDS: tuple[tuple[str, str], ...] = (
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("cache_read_input_tokens", "cache_read_tokens"),
    ("cache_creation_input_tokens", "cache_write_tokens"),
)


def _rest(data: Mapping[str, Any], *known: str) -> JSONDict:
    return {k: v for k, v in data.items() if k not in known}


def _require(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: str) -> Any:
    if key not in data:
        raise WireFormatError(f"{path}.{key}" if path else key, "required field is missing")
    value = data[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise WireFormatError(
            f"{path}.{key}" if path else key, f"expected {names}, got {type(value).__name__}"
        )
    return value


def _as_object(value: Any, path: str) -> Mapping[str, Any]:
    if type(value) is dict:  # parsed JSON: skip the ABC check (every block of every reply comes here)
        return value
    if not isinstance(value, Mapping):
        raise WireFormatError(path, f"expected an object, got {type(value).__name__}")
    return value


# ------------------------------------------------------------------------------------------- blocks


def decode_block(data: Any, path: str = "block") -> Block:
    """One content block (any role) to a transcript block."""
    data = _as_object(data, path)
    kind = _require(data, "type", str, path)
    if kind == "text":
        return Text(text=_require(data, "text", str, path), extra=_rest(data, "type", "text"))
    if kind == "thinking":
        signature = data.get("signature")
        if signature is not None and not isinstance(signature, str):
            raise WireFormatError(f"{path}.signature", "expected a string")
        return Thinking(
            text=_require(data, "thinking", str, path),
            signature=signature,
            dialect=ReasoningDialect.ANTHROPIC,
            extra=_rest(data, "type", "thinking", "signature")
            | ({"signature": None} if "signature" in data and signature is None else {}),
        )
    if kind == "redacted_thinking":
        return RedactedThinking(
            data=_require(data, "data", str, path),
            dialect=ReasoningDialect.ANTHROPIC,
            extra=_rest(data, "type", "data"),
        )
    if kind == "tool_use":
        arguments = _require(data, "input", dict, path)
        return ToolCall(
            id=_require(data, "id", str, path),
            name=_require(data, "name", str, path),
            arguments=arguments,
            extra=_rest(data, "type", "id", "name", "input"),
        )
    if kind == "tool_result":
        return _decode_tool_result(data, path)
    if kind == "image":
        return _decode_image(data, path)
    return Opaque(source=FORMAT, data=dict(data))


def _decode_image(data: Mapping[str, Any], path: str) -> Image | Opaque:
    source = _as_object(data.get("source"), f"{path}.source")
    source_type = source.get("type")
    if source_type == "base64" and set(source) == {"type", "media_type", "data"}:
        return Image(
            media_type=source["media_type"], data=source["data"], extra=_rest(data, "type", "source")
        )
    if source_type == "url" and set(source) == {"type", "url"}:
        return Image(url=source["url"], extra=_rest(data, "type", "source"))
    return Opaque(source=FORMAT, data=dict(data))


def _decode_tool_result(data: Mapping[str, Any], path: str) -> ToolResult:
    call_id = _require(data, "tool_use_id", str, path)
    raw = data.get("content")
    content: str | tuple[Text | Image, ...] | None
    if raw is None or isinstance(raw, str):
        content = raw
    elif isinstance(raw, list):
        parts: list[Text | Image] = []
        for i, part in enumerate(raw):
            block = decode_block(part, f"{path}.content[{i}]")
            if not isinstance(block, Text | Image):
                raise WireFormatError(
                    f"{path}.content[{i}]", "a tool_result holds only text and image blocks"
                )
            parts.append(block)
        content = tuple(parts)
    else:
        raise WireFormatError(f"{path}.content", "expected a string or a list of blocks")
    is_error = data.get("is_error")
    if is_error is not None and not isinstance(is_error, bool):
        raise WireFormatError(f"{path}.is_error", "expected true or false")
    extra = _rest(data, "type", "tool_use_id", "content", "is_error")
    if "content" in data and raw is None:
        extra["content"] = None
    return ToolResult(call_id=call_id, content=content, is_error=is_error, extra=extra)


def _extras(extra: JSONDict, native: bool, path: str, losses: Losses | None) -> JSONDict:
    """Vendor fields to re-send: all of them to their own format; elsewhere none, each one reported.

    Fields decoded from another format (OpenAI's ``refusal``, ``strict``, ``extra_content``...) mean
    nothing to Anthropic and would be rejected, so only the transcript's typed slots cross formats.
    """
    if native:
        return extra
    if losses is not None:
        dropped = sorted(key for key, value in extra.items() if value is not None)
        if dropped:
            losses.add(path, f"fields {', '.join(dropped)} from another format have no Anthropic slot")
    return {}


def encode_block(
    block: Block, path: str = "", losses: Losses | None = None, *, native: bool = True
) -> JSONDict | None:
    """One transcript block to an Anthropic content block, or ``None`` (recorded in ``losses``).

    ``native``: the block was decoded from Anthropic (or built by hand), so its ``extra`` is re-sent.
    """
    if isinstance(block, Text):
        return {"type": "text", "text": block.text, **_extras(block.extra, native, path, losses)}
    if isinstance(block, Thinking):
        out: JSONDict = {"type": "thinking", "thinking": block.text}
        if block.signature is not None:
            out["signature"] = block.signature
        if block.dialect is ReasoningDialect.ANTHROPIC:
            out.update(block.extra)
        elif block.item is not None and losses is not None:
            dropped = sorted(set(block.item) - {"type", "text", "summary", "signature"})
            if dropped:
                losses.add(path, f"reasoning_details item fields {', '.join(dropped)} have no Anthropic slot")
        return out
    if isinstance(block, RedactedThinking):
        if block.dialect is ReasoningDialect.RESPONSES:
            if losses is not None:  # an OpenAI blob: Anthropic would reject it (and must never see it)
                losses.add(path, "encrypted reasoning from the Responses API dropped: it is not Anthropic's")
            return None
        out = {"type": "redacted_thinking", "data": block.data}
        if block.dialect is ReasoningDialect.ANTHROPIC:
            out.update(block.extra)
        return out
    if isinstance(block, ToolCall):
        if block.arguments_error is not None and losses is not None:
            losses.add(path, f"{block.arguments_error}; sent as input {{}}")
        return {
            "type": "tool_use",
            "id": block.id,
            "name": block.name,
            "input": block.arguments,
            **_extras(block.extra, native, path, losses),
        }
    if isinstance(block, ToolResult):
        out = {"type": "tool_result", "tool_use_id": block.call_id}
        if isinstance(block.content, tuple):
            out["content"] = [
                part
                for i, p in enumerate(block.content)
                if (part := encode_block(p, f"{path}.content[{i}]", losses, native=native)) is not None
            ]
        elif block.content is not None:
            out["content"] = block.content
        if block.is_error is not None:
            out["is_error"] = block.is_error
        out.update(_extras(block.extra, native, path, losses))
        return out
    if isinstance(block, Image):
        if block.data is not None:
            source: JSONDict = {"type": "base64", "media_type": block.media_type, "data": block.data}
        else:
            source = {"type": "url", "url": block.url}
        return {"type": "image", "source": source, **_extras(block.extra, native, path, losses)}
    if block.source == FORMAT:
        return dict(block.data)
    if losses is not None:
        losses.add(path, f"a {block.source} block of type {block.data.get('type')!r} has no Anthropic form")
    return None


# ----------------------------------------------------------------------------------------- requests


def decode_message(data: Any, path: str = "message") -> Message:
    data = _as_object(data, path)
    role = _require(data, "role", str, path)
    # "system" inside messages: Claude Code's mid-conversation system messages (a beta it sends as
    # `mid-conversation-system-...`); kept where they stand, like OpenAI system messages.
    if role not in ("user", "assistant", "system"):
        raise WireFormatError(f"{path}.role", f"must be 'user', 'assistant' or 'system', got {role!r}")
    content = data.get("content")
    extra = _rest(data, "role", "content")
    if isinstance(content, str):
        return Message(role=role, blocks=(Text(text=content),), plain=True, extra=extra)
    if not isinstance(content, list):
        raise WireFormatError(f"{path}.content", "expected a string or a list of content blocks")
    blocks = tuple(decode_block(b, f"{path}.content[{i}]") for i, b in enumerate(content))
    if role == "user" and blocks and all(isinstance(b, ToolResult) for b in blocks):
        role = "tool"
    return Message(role=role, blocks=blocks, extra=extra)


def encode_message(
    message: Message,
    path: str = "",
    losses: Losses | None = None,
    *,
    native: bool = True,
    system_in_place: bool = False,
) -> JSONDict | None:
    """One message; ``native`` as in :func:`encode_block` (vendor fields go only to their own format).

    A system message is written where it stands only with ``system_in_place`` (it came from Anthropic
    Messages, where clients such as Claude Code send them); otherwise it has no Anthropic place unless
    it leads the conversation (see :func:`encode_request`) and is a loss."""
    if message.role == "system" and not system_in_place:
        if losses is not None:
            losses.add(path, "a system message after the start has no place in Anthropic Messages")
        return None
    role = "user" if message.role == "tool" else message.role
    if message.plain and len(message.blocks) == 1 and isinstance(message.blocks[0], Text):
        content: str | list[JSONDict] = message.blocks[0].text
    else:
        # OpenAI's `"content": ""` beside tool calls is "no text"; Anthropic rejects empty text blocks.
        blocks = [
            (i, b) for i, b in enumerate(message.blocks) if native or not (isinstance(b, Text) and not b.text)
        ]
        content = [
            encoded
            for i, block in blocks
            if (encoded := encode_block(block, f"{path}.content[{i}]", losses, native=native)) is not None
        ]
    if isinstance(content, list) and not content and message.blocks:
        if losses is not None:
            losses.add(path, "every block of the message was left out: the message was not sent")
        return None
    if message.name is not None and losses is not None:
        losses.add(path, "message name has no Anthropic slot")
    return {"role": role, "content": content, **_extras(message.extra, native, path, losses)}


def decode_request(body: Any) -> Conversation:
    """A ``POST /v1/messages`` body to a conversation."""
    body = _as_object(body, "request")
    messages = _require(body, "messages", list, "")
    system_raw = body.get("system")
    system: tuple[Text, ...] | None
    if system_raw is None:
        system = None
    elif isinstance(system_raw, str):
        system = (Text(text=system_raw),)
    elif isinstance(system_raw, list):
        parts = []
        for i, part in enumerate(system_raw):
            block = decode_block(part, f"system[{i}]")
            if not isinstance(block, Text):
                raise WireFormatError(f"system[{i}]", "system holds text blocks only")
            parts.append(block)
        system = tuple(parts)
    else:
        raise WireFormatError("system", "expected a string or a list of text blocks")
    raw_tools = body.get("tools")
    if raw_tools is not None and not isinstance(raw_tools, list):
        raise WireFormatError("tools", f"expected a list of tools, got {type(raw_tools).__name__}")
    tools = tuple(_decode_tool(t, f"tools[{i}]") for i, t in enumerate(raw_tools or []))
    choice = body.get("tool_choice")
    params = {portable: body[wire] for wire, portable in _PARAMS if wire in body}
    known = _STRUCTURAL | {wire for wire, _ in _PARAMS}
    extra = {k: v for k, v in body.items() if k not in known}
    if "tools" in body and body["tools"] is None:
        extra["tools"] = None
    return Conversation(
        messages=tuple(decode_message(m, f"messages[{i}]") for i, m in enumerate(messages)),
        system=system,
        system_plain=isinstance(system_raw, str),
        tools=tools,
        tool_choice=None if choice is None else _decode_tool_choice(choice),
        params=params,
        extra=extra,
        source=FORMAT,
    )


def encode_request(conversation: Conversation, *, losses: Losses | None = None) -> JSONDict:
    """A conversation to a ``POST /v1/messages`` body.

    System messages at the start of ``messages`` (OpenAI style) join the top-level ``system``.
    """
    body: JSONDict = {}
    params = conversation.params
    for wire, portable in _PARAMS[:2]:
        if portable in params:
            body[wire] = params[portable]
    messages = list(conversation.messages)
    system = list(conversation.system or ())
    native = conversation.source in (FORMAT, None)
    in_place = conversation.source == FORMAT
    leading_system = 0
    # Leading system messages from elsewhere join `system`; Anthropic's own stay where they were sent.
    while not in_place and leading_system < len(messages) and messages[leading_system].role == "system":
        system.extend(b for b in messages[leading_system].blocks if isinstance(b, Text))
        leading_system += 1
    if system:
        plain = (conversation.system_plain or conversation.system is None) and len(system) == 1
        native_system = conversation.source in (FORMAT, None)
        if plain and (not system[0].extra or not native_system):
            body["system"] = system[0].text
        else:
            body["system"] = [
                {"type": "text", "text": t.text, **_extras(t.extra, native_system, "system", losses)}
                for t in system
            ]
    body["messages"] = [
        encoded
        for i, message in enumerate(messages[leading_system:], start=leading_system)
        if (
            encoded := encode_message(
                message, f"messages[{i}]", losses, native=native, system_in_place=in_place
            )
        )
        is not None
    ]
    if conversation.tools:
        tools = (_encode_tool(t, native, f"tools[{i}]", losses) for i, t in enumerate(conversation.tools))
        body["tools"] = [tool for tool in tools if tool is not None]
    if conversation.tool_choice is not None:
        body["tool_choice"] = _encode_tool_choice(conversation.tool_choice, native, losses)
    for wire, portable in _PARAMS[2:]:
        if portable in params:
            body[wire] = params[portable]
    _copy_extra(conversation.extra, conversation.source, body, losses)
    return body


def _copy_extra(extra: JSONDict, source: str | None, body: JSONDict, losses: Losses | None) -> None:
    if source in (FORMAT, None):
        body.update(extra)
    elif extra and losses is not None:
        losses.add("", f"{source} request fields {', '.join(sorted(extra))} have no Anthropic meaning")


def _decode_tool(data: Any, path: str) -> ToolSpec:
    data = _as_object(data, path)
    return ToolSpec(
        name=_require(data, "name", str, path),
        description=data.get("description"),
        parameters=data.get("input_schema"),
        extra=_rest(data, "name", "description", "input_schema"),
    )


def _encode_tool(
    tool: ToolSpec, native: bool = True, path: str = "", losses: Losses | None = None
) -> JSONDict | None:
    kind = tool.extra.get("type")
    if (
        not native
        and isinstance(kind, str)
        and kind not in ("function", "custom")
        and tool.parameters is None
    ):
        if losses is not None:  # another API's built-in tool (web_search, code_interpreter, ...)
            losses.add(path, f"tool {tool.name!r} of type {kind!r} has no Anthropic form")
        return None
    out: JSONDict = {"name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    if tool.parameters is not None:
        out["input_schema"] = tool.parameters
    elif not native:
        out["input_schema"] = {"type": "object", "properties": {}}  # required by Anthropic for custom tools
    out.update(_extras(tool.extra, native, path, losses))
    return out


_CHOICE_TO_MODE = {"auto": "auto", "any": "required", "tool": "tool", "none": "none"}
_MODE_TO_CHOICE = {v: k for k, v in _CHOICE_TO_MODE.items()}


def _decode_tool_choice(data: Any) -> ToolChoice:
    data = _as_object(data, "tool_choice")
    kind = _require(data, "type", str, "tool_choice")
    if kind not in _CHOICE_TO_MODE:
        raise WireFormatError(
            "tool_choice.type", f"unknown tool_choice {kind!r}; expected auto, any, tool or none"
        )
    disable = data.get("disable_parallel_tool_use")
    return ToolChoice(
        mode=_CHOICE_TO_MODE[kind],  # type: ignore[arg-type]
        name=data.get("name"),
        parallel=None if disable is None else not disable,
        extra=_rest(data, "type", "name", "disable_parallel_tool_use"),
    )


def _encode_tool_choice(choice: ToolChoice, native: bool = True, losses: Losses | None = None) -> JSONDict:
    out: JSONDict = {"type": _MODE_TO_CHOICE[choice.mode]}
    if choice.name is not None:
        out["name"] = choice.name
    if choice.parallel is not None:
        out["disable_parallel_tool_use"] = not choice.parallel
    out.update(_extras(choice.extra, native, "tool_choice", losses))
    return out


# ---------------------------------------------------------------------------------------- responses


def decode_usage(data: Any) -> Usage:
    data = _as_object(data, "usage")
    values = {portable: data[wire] for wire, portable in _USAGE_FIELDS if data.get(wire) is not None}
    mapped = {wire for wire, _ in _USAGE_FIELDS if data.get(wire) is not None}
    extra = {k: v for k, v in data.items() if k not in mapped}
    return Usage(**values, extra=extra)


def encode_usage(usage: Usage) -> JSONDict:
    out: JSONDict = {}
    for wire, portable in _USAGE_FIELDS:
        value = getattr(usage, portable)
        if value is not None:
            out[wire] = value
    out.update(usage.extra)
    return out


def decode_response(body: Any) -> Response:
    """A non-streamed ``/v1/messages`` response body to a response."""
    body = _as_object(body, "response")
    message = _reply_message(body)
    usage = body.get("usage")
    known = ("id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage")
    extra = _rest(body, *known)
    for key in ("stop_reason", "stop_sequence", "usage"):
        if key in body and body[key] is None:
            extra[key] = None
    return Response(
        message=message,
        id=body.get("id"),
        model=body.get("model"),
        stop_reason=body.get("stop_reason"),
        stop_sequence=body.get("stop_sequence"),
        usage=None if usage is None else decode_usage(usage),
        extra=extra,
        source=FORMAT,
    )


def decode_reply_message(body: Any) -> Message:
    """The message of a non-streamed response body alone: ``decode_response(body).message``, without
    decoding the id, usage and stop reason around it (the gateway keys and stores replies by their
    message, once per reply)."""
    return _reply_message(_as_object(body, "response"))


ReplyCalls = list[tuple[str, str, dict[str, Any]]]
"""A reply's tool calls (id, name, arguments), in order."""


def reply_tool_calls(body: Any) -> ReplyCalls | None:
    """A response body's tool calls (id, name, input), read straight off the wire: what a key needs,
    without building the message. ``None`` when the body holds anything but text, tool use and
    thinking blocks, or a field :func:`decode_reply_message` would refuse: the caller then decodes it
    whole. Where both answer, the calls are those of the decoded message.

    Parsed JSON holds plain dicts; anything else is left to the decoder (``isinstance`` against
    ``Mapping`` is an ABC check, several per reply on the gateway's hot path)."""
    if not isinstance(body, dict) or body.get("type") == "error":
        return None
    content = body.get("content")
    if not isinstance(content, list):
        return None
    calls: ReplyCalls = []
    for block in content:
        if not isinstance(block, dict):
            return None
        kind = block.get("type")
        if kind == "text":
            if not isinstance(block.get("text"), str):
                return None
        elif kind == "tool_use":
            call_id, name, arguments = block.get("id"), block.get("name"), block.get("input")
            if not (isinstance(call_id, str) and isinstance(name, str) and isinstance(arguments, dict)):
                return None
            calls.append((call_id, name, arguments))
        elif kind == "thinking":
            if not isinstance(block.get("thinking"), str) or not isinstance(
                block.get("signature"), str | None
            ):
                return None
        elif kind != "redacted_thinking" or not isinstance(block.get("data"), str):
            return None
    return calls


def _reply_message(body: Mapping[str, Any]) -> Message:
    if body.get("type") == "error":
        error = _as_object(body.get("error", {}), "error")
        raise StreamServerError(str(error.get("type", "error")), str(error.get("message", "")))
    content = _require(body, "content", list, "")
    return Message(
        role="assistant",
        blocks=tuple(decode_block(b, f"content[{i}]") for i, b in enumerate(content)),
    )


def encode_response(response: Response, *, losses: Losses | None = None) -> JSONDict:
    """A response to a non-streamed ``/v1/messages`` body."""
    body: JSONDict = {}
    if response.id is not None:
        body["id"] = response.id
    body["type"] = "message"
    body["role"] = "assistant"
    if response.model is not None:
        body["model"] = response.model
    native = response.source in (FORMAT, None)
    body["content"] = [
        encoded
        for i, block in enumerate(response.message.blocks)
        if (native or not (isinstance(block, Text) and not block.text))
        and (encoded := encode_block(block, f"content[{i}]", losses, native=native)) is not None
    ]
    if response.stop_reason is not None:
        body["stop_reason"] = response.stop_reason
    if response.stop_sequence is not None:
        body["stop_sequence"] = response.stop_sequence
    if response.usage is not None:
        body["usage"] = encode_usage(response.usage)
    if response.source in (FORMAT, None):
        body.update(response.extra)
    else:
        body.update(
            {k: v for k, v in response.extra.items() if k in ("stop_reason", "stop_sequence", "usage")}
        )
    return body


# ------------------------------------------------------------------------------------ stream decode


class _Text:
    """A block's text as its deltas arrive. Adding each delta to one string would copy the text so far
    every time (quadratic in long thinking); a list of the deltas would hold one small string object
    per delta (about 50 bytes each, 36 MB for a thousand streams of 600 deltas). So every
    :data:`_JOIN_EVERY` deltas are joined into one string: linear time, memory close to the text's."""

    __slots__ = ("_joined", "_recent")

    def __init__(self, start: str) -> None:
        self._joined = [start] if start else []
        self._recent: list[str] = []

    def add(self, text: str) -> None:
        recent = self._recent
        recent.append(text)
        if len(recent) >= _JOIN_EVERY:
            self._joined.append("".join(recent))
            recent.clear()

    def value(self) -> str:
        return "".join(self._joined) + "".join(self._recent)


_JOIN_EVERY = 64


class StreamAssembler:
    """Anthropic SSE event payloads in, stream events out; :meth:`finish` gives the whole response.

    The response is assembled as the non-streamed body would read and decoded by the same code, so it
    equals :func:`decode_response` of that body for every chunking. A block is complete only at its
    ``content_block_stop`` (the signature arrives last); a stream without ``message_stop`` is incomplete.
    """

    def __init__(self) -> None:
        self._message: JSONDict = {}
        self._blocks: dict[int, JSONDict] = {}
        self._partial_json: dict[int, list[str]] = {}
        self._pieces: dict[int, dict[str, _Text]] = {}
        """A block's text, thinking and signature as their deltas arrive, joined at its stop."""
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, payload: Any) -> list[StreamEvent]:
        """One event's ``data`` object (parsed JSON). Raises StreamServerError on an ``error`` event."""
        payload = _as_object(payload, "event")
        kind = payload.get("type")
        if kind == "content_block_delta":
            return self._on_delta(payload)
        if kind == "content_block_start":
            index = _require(payload, "index", int, "content_block_start")
            block = dict(_as_object(payload.get("content_block"), "content_block_start.content_block"))
            if block.get("type") == "tool_use":
                self._partial_json[index] = []
            self._blocks[index] = block
            return [self._block_start(index, block)]
        if kind == "content_block_stop":
            index = _require(payload, "index", int, "content_block_stop")
            return [BlockEnd(index, self._complete_block(index))]
        if kind == "message_start":
            message = dict(_as_object(payload.get("message"), "message_start.message"))
            message["content"] = list(message.get("content") or [])
            self._message = message
            usage = message.get("usage")
            return [
                MessageStart(
                    id=message.get("id"),
                    model=message.get("model"),
                    usage=None if usage is None else decode_usage(usage),
                )
            ]
        if kind == "message_delta":
            delta = _as_object(payload.get("delta", {}), "message_delta.delta")
            self._message.update(delta)
            usage = payload.get("usage")
            if isinstance(usage, Mapping):
                merged = dict(self._message.get("usage") or {})
                merged.update(usage)
                self._message["usage"] = merged
                return [UsageUpdate(decode_usage(merged))]
            return []
        if kind == "message_stop":
            self._done = True
            return [MessageEnd(self.response())]
        if kind == "error":
            error = _as_object(payload.get("error", {}), "error")
            raise StreamServerError(str(error.get("type", "error")), str(error.get("message", "")))
        return []  # ping and event types added after this code was written

    def _block_start(self, index: int, block: JSONDict) -> BlockStart:
        kind = block.get("type")
        if kind == "tool_use":
            return BlockStart(index, "tool_call", id=block.get("id"), name=block.get("name"))
        stream_kind: BlockKind = "text"
        if kind in ("thinking", "redacted_thinking"):
            stream_kind = kind
        return BlockStart(index, stream_kind)

    def _on_delta(self, payload: Mapping[str, Any]) -> list[StreamEvent]:
        index = _require(payload, "index", int, "content_block_delta")
        block = self._blocks.get(index)
        if block is None:
            raise WireFormatError(
                "content_block_delta.index", f"delta for block {index}, which never started"
            )
        delta = _as_object(payload.get("delta"), "content_block_delta.delta")
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text", "")
            self._piece(index, block, "text", text)
            return [BlockDelta(index, text)]
        if kind == "thinking_delta":
            text = delta.get("thinking", "")
            self._piece(index, block, "thinking", text)
            return [BlockDelta(index, text)]
        if kind == "signature_delta":
            self._piece(index, block, "signature", delta.get("signature", ""))
            return []
        if kind == "input_json_delta":
            fragment = delta.get("partial_json", "")
            self._partial_json.setdefault(index, []).append(fragment)
            return [BlockDelta(index, fragment)]
        if kind == "citations_delta":
            block.setdefault("citations", []).append(delta.get("citation"))
            return []
        return []

    def _piece(self, index: int, block: JSONDict, field: str, text: Any) -> None:
        if not isinstance(text, str):
            raise WireFormatError(f"content_block_delta.delta.{field}", f"expected a string, got {text!r}")
        fields = self._pieces.setdefault(index, {})
        pieces = fields.get(field)
        if pieces is None:
            start = block.get(field)
            if start is not None and not isinstance(start, str):
                raise WireFormatError(
                    f"content_block_start.content_block.{field}", f"expected a string, got {start!r}"
                )
            pieces = fields[field] = _Text(start or "")
        pieces.add(text)

    def _complete_block(self, index: int) -> Block:
        block = self._blocks.get(index)
        if block is None:
            raise WireFormatError("content_block_stop.index", f"stop for block {index}, which never started")
        for field, pieces in self._pieces.pop(index, {}).items():
            block[field] = pieces.value()
        fragments = self._partial_json.pop(index, None)
        if fragments:
            text = "".join(fragments)
            try:
                block["input"] = json.loads(text)
            except json.JSONDecodeError:
                block["input"] = parse_arguments(text)
        content = self._message.setdefault("content", [])
        while len(content) <= index:
            content.append(None)
        content[index] = block
        return decode_block(block, f"content[{index}]")

    def response(self) -> Response:
        """The response so far; raises StreamIncompleteError unless ``message_stop`` has arrived."""
        if not self._done:
            raise StreamIncompleteError(
                "the Anthropic stream ended before message_stop; the reply is incomplete and was not recorded"
            )
        message = dict(self._message)
        message["content"] = [b for b in message.get("content", []) if b is not None]
        return decode_response(message)

    def finish(self) -> Response:
        return self.response()


# ------------------------------------------------------------------------------------ stream encode


class StreamEncoder:
    """Stream events in, Anthropic SSE event payloads out (for re-streaming another format's reply).

    A thinking block's signature goes out as a ``signature_delta`` just before its ``content_block_stop``;
    a redacted block goes out whole at its end. Text a delta did not carry is sent at the block's end, so
    the client assembles exactly the block in :class:`BlockEnd`.

    A block Anthropic cannot carry (another API's encrypted reasoning: an OpenAI reasoning item without
    a summary) is left out, and the blocks after it are numbered on: clients (the official SDKs) append
    each started block to their content and find it again by its index, so the indices they are sent
    must run 0, 1, 2, ... with no gap.
    """

    def __init__(self, *, model: str | None = None, message_id: str | None = None) -> None:
        self._model = model
        self._id = message_id
        self._sent: dict[int, int] = {}
        self._kinds: dict[int, BlockKind] = {}
        self._usage: Usage | None = None
        self._indices: dict[int, int] = {}
        """The event's index -> the index the client was sent, for each block started."""

    def _started(self, index: int) -> int:
        """The client's index for the block at ``index``, which starts now."""
        self._indices[index] = sent = len(self._indices)
        return sent

    def encode(self, event: StreamEvent) -> list[JSONDict]:
        if isinstance(event, MessageStart):
            self._usage = event.usage
            message: JSONDict = {
                "id": event.id or self._id or "msg_interleaf",
                "type": "message",
                "role": "assistant",
                "model": event.model or self._model or "",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": encode_usage(event.usage)
                if event.usage
                else {"input_tokens": 0, "output_tokens": 0},
            }
            return [{"type": "message_start", "message": message}]
        if isinstance(event, BlockStart):
            self._kinds[event.index] = event.kind
            self._sent[event.index] = 0
            if event.kind == "redacted_thinking":
                return []
            start: JSONDict
            if event.kind == "thinking":
                start = {"type": "thinking", "thinking": ""}
            elif event.kind == "tool_call":
                start = {"type": "tool_use", "id": event.id, "name": event.name, "input": {}}
            else:
                start = {"type": "text", "text": ""}
            return [
                {"type": "content_block_start", "index": self._started(event.index), "content_block": start}
            ]
        if isinstance(event, BlockDelta):
            return self._delta(event.index, event.text)
        if isinstance(event, BlockEnd):
            return self._end(event)
        if isinstance(event, UsageUpdate):
            self._usage = event.usage
            return []
        response = event.response
        delta: JSONDict = {"stop_reason": response.stop_reason, "stop_sequence": response.stop_sequence}
        usage = response.usage or self._usage
        out: JSONDict = {"type": "message_delta", "delta": delta}
        out["usage"] = encode_usage(usage) if usage else {"output_tokens": 0}
        return [out, {"type": "message_stop"}]

    def _delta(self, index: int, text: str) -> list[JSONDict]:
        if not text or index not in self._indices:
            return []
        kind = self._kinds.get(index, "text")
        self._sent[index] = self._sent.get(index, 0) + len(text)
        if kind == "thinking":
            delta: JSONDict = {"type": "thinking_delta", "thinking": text}
        elif kind == "tool_call":
            delta = {"type": "input_json_delta", "partial_json": text}
        elif kind == "text":
            delta = {"type": "text_delta", "text": text}
        else:
            return []
        return [{"type": "content_block_delta", "index": self._indices[index], "delta": delta}]

    def _end(self, event: BlockEnd) -> list[JSONDict]:
        block, index = event.block, event.index
        out: list[JSONDict] = []
        if index not in self._kinds:
            kind: BlockKind = "tool_call" if isinstance(block, ToolCall) else "text"
            if isinstance(block, Thinking | RedactedThinking):
                kind = block.kind
            start = BlockStart(index, kind, id=getattr(block, "id", None), name=getattr(block, "name", None))
            out.extend(self.encode(start))
        sent = self._sent.get(index, 0)
        if isinstance(block, RedactedThinking):
            encoded = encode_block(block)
            if encoded is None:  # not Anthropic's to carry: left out, as a whole reply leaves it out
                return out
            out.append(
                {"type": "content_block_start", "index": self._started(index), "content_block": encoded}
            )
        elif isinstance(block, Thinking | Text):
            out.extend(self._delta(index, block.text[sent:]))
        elif isinstance(block, ToolCall):
            out.extend(self._delta(index, "" if sent else block.arguments_json))
        if isinstance(block, Thinking) and block.signature is not None:
            out.append(
                {
                    "type": "content_block_delta",
                    "index": self._indices[index],
                    "delta": {"type": "signature_delta", "signature": block.signature},
                }
            )
        out.append({"type": "content_block_stop", "index": self._indices[index]})
        return out


def stream_payloads(response: Response) -> list[JSONDict]:
    """The SSE event payloads that stream ``response`` (each one's ``type`` is its SSE event name)."""
    from interleaf.wire.events import events_from_response

    encoder = StreamEncoder()
    return [payload for event in events_from_response(response) for payload in encoder.encode(event)]
