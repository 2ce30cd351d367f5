"""``POST /v1/responses`` request bodies to conversations and back.

Portable fields go to ``Conversation.params`` under the names the other codecs use: ``model``,
``max_output_tokens`` (as ``max_tokens``), ``temperature``, ``top_p``, ``stream``, ``metadata``, and
``reasoning.effort`` (as ``reasoning_effort``; the rest of ``reasoning`` stays in ``extra``).
``instructions`` is the system prompt. Everything else (``store``, ``include``, ``previous_response_id``,
``text``, ``prompt_cache_key``, ``truncation``, ``user``, ``service_tier``...) stays in
``Conversation.extra`` and goes back only to Responses.

Tools: a function tool is a ToolSpec (``strict`` and unknown fields in its ``extra``); every other
tool type is kept whole in ``ToolSpec.extra`` and re-sent verbatim. ``tool_choice`` ``auto``,
``none``, ``required`` and ``{"type": "function", "name": ...}`` are modeled (``parallel_tool_calls``
rides on it); other choices stay raw in ``extra``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from interleaf.transcript import Conversation, JSONDict, Message, Text, ToolChoice, ToolSpec
from interleaf.wire.errors import Losses, WireFormatError
from interleaf.wire.responses.common import (
    FORMAT,
    INPUT_SHAPE,
    as_object,
    foreign_fields,
    kind_of,
    loss,
    merge_extra,
    require,
    rest,
)
from interleaf.wire.responses.messages import decode_input, write_input

__all__ = ["decode_request", "encode_request"]

# Request fields with a portable meaning, as (wire name, transcript params name).
_PARAMS: tuple[tuple[str, str], ...] = (
    ("model", "model"),
    ("max_output_tokens", "max_tokens"),
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("stream", "stream"),
    ("metadata", "metadata"),
)
_PORTABLE = {portable for _, portable in _PARAMS} | {"reasoning_effort"}
_STRUCTURAL = {"input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "reasoning"}
_CHOICES = ("auto", "none", "required")
_ABSENT: Any = object()


def decode_request(body: Any) -> Conversation:
    """A ``POST /v1/responses`` body to a conversation."""
    body = as_object(body, "request")
    extra: JSONDict = {}
    raw_input = body.get("input", _ABSENT)
    messages: list[Message] = []
    if isinstance(raw_input, str):
        messages = [Message(role="user", blocks=(Text(text=raw_input),), plain=True)]
        extra[INPUT_SHAPE] = "text"
    elif isinstance(raw_input, list):
        messages = decode_input(raw_input)
    elif raw_input is _ABSENT or raw_input is None:
        extra[INPUT_SHAPE] = "absent" if raw_input is _ABSENT else "null"
    else:
        raise WireFormatError("input", f"expected a string or a list of items, got {kind_of(raw_input)}")

    params = {portable: body[wire] for wire, portable in _PARAMS if wire in body}
    reasoning = body.get("reasoning", _ABSENT)
    if isinstance(reasoning, Mapping) and isinstance(reasoning.get("effort"), str):
        params["reasoning_effort"] = reasoning["effort"]
        if len(reasoning) > 1:
            extra["reasoning"] = rest(reasoning, "effort")
    elif reasoning is not _ABSENT:
        extra["reasoning"] = reasoning

    instructions = body.get("instructions", _ABSENT)
    system: tuple[Text, ...] | None = None
    if isinstance(instructions, str):
        system = (Text(text=instructions),)
    elif instructions is not _ABSENT:
        extra["instructions"] = instructions

    tools: tuple[ToolSpec, ...] = ()
    raw_tools = body.get("tools", _ABSENT)
    if isinstance(raw_tools, list) and raw_tools:
        tools = tuple(_decode_tool(t, f"tools[{i}]") for i, t in enumerate(raw_tools))
    elif raw_tools is not _ABSENT:
        if raw_tools is not None and not isinstance(raw_tools, list):
            raise WireFormatError("tools", f"expected a list of tools, got {kind_of(raw_tools)}")
        extra["tools"] = raw_tools

    choice: ToolChoice | None = None
    if "tool_choice" in body:
        choice = _decode_tool_choice(body["tool_choice"])
        if choice is None:
            extra["tool_choice"] = body["tool_choice"]
    if "parallel_tool_calls" in body:
        parallel = body["parallel_tool_calls"]
        if choice is not None and isinstance(parallel, bool):
            choice = replace(choice, parallel=parallel)
        else:  # without a modeled tool_choice there is no ToolChoice to hold it
            extra["parallel_tool_calls"] = parallel

    known = _STRUCTURAL | {wire for wire, _ in _PARAMS}
    extra.update((k, v) for k, v in body.items() if k not in known)
    return Conversation(
        messages=tuple(messages),
        system=system,
        system_plain=system is not None,
        tools=tools,
        tool_choice=choice,
        params=params,
        extra=extra,
        source=FORMAT,
    )


def encode_request(conversation: Conversation, *, losses: Losses | None = None) -> JSONDict:
    """A conversation to a ``POST /v1/responses`` body.

    From another API: the system prompt becomes ``instructions``, thinking becomes new reasoning items
    (their text in ``content``, never an id or an encrypted blob), and that API's vendor fields, which
    Responses would reject, are left out and listed in ``losses``.
    """
    native = conversation.source in (FORMAT, None)
    extra = conversation.extra if native else {}
    params = conversation.params
    body: JSONDict = {}
    if "model" in params:
        body["model"] = params["model"]
    if conversation.system:
        texts = conversation.system
        body["instructions"] = "\n\n".join(t.text for t in texts)
        for i, text in enumerate(texts):
            if text.extra:
                foreign_fields(text.extra, f"system[{i}]", losses)
    items = write_input(conversation.messages, native=native, losses=losses)
    shape = extra.get(INPUT_SHAPE)
    if shape in ("absent", "null") and not items:
        if shape == "null":
            body["input"] = None
    elif shape == "text" and _is_text_input(conversation.messages):
        body["input"] = conversation.messages[0].blocks[0].text  # type: ignore[union-attr]
    else:
        body["input"] = items
    if conversation.tools:
        encoded = (
            _encode_tool(t, f"tools[{i}]", conversation, losses) for i, t in enumerate(conversation.tools)
        )
        body["tools"] = [t for t in encoded if t is not None]
    if conversation.tool_choice is not None:
        body["tool_choice"] = _encode_tool_choice(conversation.tool_choice, native, losses)
        if conversation.tool_choice.parallel is not None:
            body["parallel_tool_calls"] = conversation.tool_choice.parallel
    for wire, portable in _PARAMS[1:]:
        if portable in params:
            body[wire] = params[portable]
    if "reasoning_effort" in params:
        settings = extra.get("reasoning")
        body["reasoning"] = {
            "effort": params["reasoning_effort"],
            **(settings if isinstance(settings, Mapping) else {}),
        }
    unknown = sorted(set(params) - _PORTABLE)
    if unknown:
        loss(losses, "", f"params {', '.join(unknown)} have no Responses field")
    if native:
        merge_extra(body, extra, INPUT_SHAPE)
    elif conversation.extra:
        fields = ", ".join(sorted(conversation.extra))
        loss(losses, "", f"{conversation.source} request fields {fields} have no Responses meaning")
    return body


def _is_text_input(messages: tuple[Message, ...]) -> bool:
    if len(messages) != 1:
        return False
    message = messages[0]
    return (
        message.role == "user"
        and message.plain
        and not message.extra
        and len(message.blocks) == 1
        and isinstance(message.blocks[0], Text)
        and not message.blocks[0].extra
    )


# -------------------------------------------------------------------------------------------- tools


def _decode_tool(data: Any, path: str) -> ToolSpec:
    data = as_object(data, path)
    kind = require(data, "type", str, path)
    if kind != "function":  # web_search, file_search, custom, mcp, local_shell...: kept whole
        name = data.get("name")
        return ToolSpec(name=name if isinstance(name, str) else "", extra=dict(data))
    name = require(data, "name", str, path)
    extra = rest(data, "type", "name", "description", "parameters")
    description = data.get("description")
    if "description" in data and not isinstance(description, str):
        extra["description"] = description
        description = None
    parameters = data.get("parameters")
    if "parameters" in data and not isinstance(parameters, dict):
        extra["parameters"] = parameters
        parameters = None
    return ToolSpec(name=name, description=description, parameters=parameters, extra=extra)


def _encode_tool(
    tool: ToolSpec, path: str, conversation: Conversation, losses: Losses | None
) -> JSONDict | None:
    native = conversation.source in (FORMAT, None)
    kind = tool.extra.get("type")
    if native and isinstance(kind, str) and kind != "function":
        return dict(tool.extra)
    if not native:
        inner = tool.extra.get(kind) if isinstance(kind, str) else None
        if isinstance(inner, Mapping) or kind not in (None, "function", "custom"):
            loss(losses, path, f"tool {tool.name!r} of type {kind!r} has no Responses form")
            return None  # Anthropic's "custom" is an ordinary function; OpenAI Chat's custom is not
    out: JSONDict = {"type": "function", "name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    if native:
        if tool.parameters is not None:
            out["parameters"] = tool.parameters
        merge_extra(out, tool.extra)
        return out
    # Strict mode is the Responses default and rejects schemas written for other APIs: off unless the
    # OpenAI Chat client asked for it.
    out["parameters"] = (
        tool.parameters if tool.parameters is not None else {"type": "object", "properties": {}}
    )
    function = tool.extra.get("function")
    strict = function.get("strict") if isinstance(function, Mapping) else None
    out["strict"] = strict if isinstance(strict, bool) else False
    others = rest(tool.extra, "type", "function")
    if isinstance(function, Mapping):
        others.update({f"function.{k}": v for k, v in function.items() if k != "strict"})
    foreign_fields(others, path, losses)
    return out


def _decode_tool_choice(value: Any) -> ToolChoice | None:
    """The modeled tool choices; ``None`` for shapes that ride verbatim in ``Conversation.extra``."""
    if isinstance(value, str):
        return ToolChoice(mode=value) if value in _CHOICES else None  # type: ignore[arg-type]
    if isinstance(value, Mapping) and value.get("type") == "function":
        name = require(value, "name", str, "tool_choice")
        return ToolChoice(mode="tool", name=name, extra=rest(value, "type", "name"))
    if value is None or isinstance(value, Mapping):
        return None
    raise WireFormatError("tool_choice", f"expected a string or an object, got {kind_of(value)}")


def _encode_tool_choice(choice: ToolChoice, native: bool, losses: Losses | None) -> Any:
    extra = choice.extra if native else {}
    if not native and choice.extra:
        foreign_fields(choice.extra, "tool_choice", losses)
    if choice.mode != "tool":
        if extra:
            loss(losses, "tool_choice", f"fields {', '.join(sorted(extra))} do not fit {choice.mode!r}")
        return choice.mode
    if choice.name is None:
        raise WireFormatError("tool_choice.name", "a tool_choice of mode 'tool' needs the tool's name")
    out: JSONDict = {"type": "function", "name": choice.name}
    merge_extra(out, extra)
    return out
