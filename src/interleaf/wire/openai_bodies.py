"""OpenAI Chat Completions request and response bodies (the stream modules build on them; the whole
codec is :mod:`interleaf.wire.openai_chat`).

Pure functions over dicts, the same shape as :mod:`interleaf.wire.anthropic`. Messages and blocks live
in :mod:`interleaf.wire.openai_messages`, streams in :mod:`interleaf.wire.openai_stream` (chunks in)
and :mod:`interleaf.wire.openai_restream` (chunks out). Decoding keeps
every field (mapped fields in the transcript's typed slots, the rest in an ``extra``), so
``encode_*(decode_*(body)) == body`` for every valid payload.

Thinking travels in one of four dialects (:class:`ReasoningDialect`): ``reasoning_details`` items, the
``reasoning_content`` or ``reasoning`` string, or ``<think>`` tags inline in string ``content``. Every
block records the dialect it arrived in; ``dialect=None`` replays each block that way, an explicit
dialect puts all thinking there (what a backend profile asks for). What the target cannot carry (a
signature in ``reasoning_content``, redacted thinking in tags) is recorded in ``Losses``.

Request and response fields the transcript does not model:

* unknown top-level fields: ``Conversation.extra`` / ``Response.extra`` (``source=FORMAT``), re-emitted
  only to this format. ``max_completion_tokens`` feeds ``params["max_tokens"]`` and stays in ``extra``
  to keep its spelling; ``parallel_tool_calls`` is ``ToolChoice.parallel`` when there is a modeled
  ``tool_choice`` to hold it, else it rides in ``extra`` (so does an unknown ``tool_choice``);
* tools: outer fields in ``ToolSpec.extra``, unknown ``function`` fields (``strict``) in
  ``ToolSpec.extra["function"]``; a non-function tool whole in ``ToolSpec.extra``;
* choice fields (``index``, ``logprobs``, ...): ``Response.extra["choices"][0]``, further choices whole
  in ``Response.extra["choices"][1:]``; a ``finish_reason`` that is a portable name sent verbatim (a
  server answering ``end_turn``) stays there too, so it is not rewritten to ``stop``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from interleaf.transcript import (
    Conversation,
    JSONDict,
    Message,
    ReasoningDialect,
    Response,
    Text,
    ToolChoice,
    ToolSpec,
    Usage,
)
from interleaf.wire.errors import Losses, StreamServerError, WireFormatError
from interleaf.wire.openai_messages import (
    CONTENT_SHAPE,
    DETAILS_SOURCE,
    FORMAT,
    TOOL_CALL_SOURCE,
    Writer,
    as_object,
    at,
    decode_message,
    encode_message,
    kind_of,
    merge_extra,
    require,
    resolver,
    rest,
    write_assistant,
    write_message,
)

__all__ = [
    "CONTENT_SHAPE",
    "DETAILS_SOURCE",
    "FORMAT",
    "TOOL_CALL_SOURCE",
    "decode_message",
    "decode_request",
    "decode_response",
    "decode_usage",
    "encode_message",
    "encode_request",
    "encode_response",
    "encode_usage",
]

# Request fields with a portable meaning, as (wire name, transcript params name).
_PARAMS: tuple[tuple[str, str], ...] = (
    ("model", "model"),
    ("max_tokens", "max_tokens"),
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("top_k", "top_k"),
    ("stop", "stop"),
    ("stream", "stream"),
    ("thinking", "thinking"),
    ("reasoning_effort", "reasoning_effort"),
    ("metadata", "metadata"),
)
_PORTABLE = {portable for _, portable in _PARAMS}
_STRUCTURAL = {"messages", "tools", "tool_choice", "parallel_tool_calls"}
_FINISH_TO_STOP = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "length": "max_tokens",
    "content_filter": "content_filter",
}
_STOP_TO_FINISH = {
    "end_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "content_filter": "content_filter",
    "stop_sequence": "stop",
    "refusal": "content_filter",
    "model_context_window_exceeded": "length",
}
_ABSENT: Any = object()


# ----------------------------------------------------------------------------------------- requests


def decode_request(body: Any) -> Conversation:
    """A ``POST /v1/chat/completions`` body to a conversation (consecutive tool messages: one Message)."""
    body = as_object(body, "request")
    raw_messages = require(body, "messages", list, "")
    messages: list[Message] = []
    for i, raw in enumerate(raw_messages):
        message = decode_message(raw, f"messages[{i}]")
        if message.role == "tool" and messages and messages[-1].role == "tool":
            messages[-1] = replace(messages[-1], blocks=messages[-1].blocks + message.blocks)
        else:
            messages.append(message)

    params = {portable: body[wire] for wire, portable in _PARAMS if wire in body}
    extra: JSONDict = {}
    if "max_completion_tokens" in body:  # OpenAI's current name; the key stays in extra for its spelling
        params["max_tokens"] = body["max_completion_tokens"]
        if "max_tokens" in body:
            extra["max_tokens"] = body["max_tokens"]
    known = _STRUCTURAL | {wire for wire, _ in _PARAMS}
    extra.update((k, v) for k, v in body.items() if k not in known)

    tools: tuple[ToolSpec, ...] = ()
    raw_tools = body.get("tools")
    if isinstance(raw_tools, list) and raw_tools:
        tools = tuple(_decode_tool(t, f"tools[{i}]") for i, t in enumerate(raw_tools))
    elif "tools" in body:
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
    return Conversation(
        messages=tuple(messages), tools=tools, tool_choice=choice, params=params, extra=extra, source=FORMAT
    )


def encode_request(
    conversation: Conversation,
    *,
    dialect: ReasoningDialect | None = None,
    losses: Losses | None = None,
) -> JSONDict:
    """A conversation to a ``POST /v1/chat/completions`` body.

    ``dialect`` puts all thinking in one dialect; ``None`` replays every block the way it arrived
    (Anthropic-origin thinking: ``reasoning_content``). Anthropic's top-level ``system`` becomes a
    leading system message.
    """
    writer = Writer(resolver(dialect), conversation.source == FORMAT, losses)
    own_extra = conversation.source in (FORMAT, None)
    extra = conversation.extra if own_extra else {}
    params = conversation.params
    body: JSONDict = {}
    if "model" in params:
        body["model"] = params["model"]
    messages: list[JSONDict] = []
    if conversation.system:
        messages.append(_encode_system(conversation.system))
    for i, message in enumerate(conversation.messages):
        messages.extend(write_message(message, f"messages[{i}]", writer))
    body["messages"] = messages
    if conversation.tools:
        tools = (_encode_tool(t, f"tools[{i}]", writer) for i, t in enumerate(conversation.tools))
        body["tools"] = [t for t in tools if t is not None]
    if conversation.tool_choice is not None:
        body["tool_choice"] = _encode_tool_choice(conversation.tool_choice, writer)
        if conversation.tool_choice.parallel is not None:
            body["parallel_tool_calls"] = conversation.tool_choice.parallel
    for wire, portable in _PARAMS[1:]:
        if portable in params:
            body[wire] = params[portable]
    if not own_extra and isinstance(body.get("thinking"), Mapping):
        body["thinking"] = _chat_thinking(body["thinking"], writer)
    if "max_completion_tokens" in extra:  # the spelling the client used; the value is the param's
        value = body.pop("max_tokens", _ABSENT)
        if value is not _ABSENT:
            body["max_completion_tokens"] = value
    unknown = sorted(set(params) - _PORTABLE)
    if unknown:
        writer.loss("", f"params {', '.join(unknown)} have no OpenAI Chat field")
    if own_extra:
        merge_extra(body, extra, "max_completion_tokens")
    elif conversation.extra:
        fields = ", ".join(sorted(conversation.extra))
        writer.loss("", f"{conversation.source} request fields {fields} have no OpenAI Chat meaning")
    return body


def _chat_thinking(thinking: Mapping[str, Any], writer: Writer) -> JSONDict:
    """Another format's ``thinking`` setting as OpenAI-compatible servers read it: DeepSeek, Kimi and GLM
    know the types ``enabled`` and ``disabled`` (docs/architecture.md §4.2). Anthropic's ``adaptive`` (the
    model decides how much to think; what Claude Code, OpenCode, Qwen Code, Cline and pi send) asks for
    thinking, so it becomes ``enabled``; ``display`` (whether Anthropic returns the text) means nothing
    there. Every other field (``budget_tokens``, which Kimi reads) goes as it came."""
    setting = dict(thinking)
    if setting.get("type") == "adaptive":
        setting["type"] = "enabled"
    if setting.pop("display", None) is not None:
        writer.loss("thinking.display", "Anthropic's thinking display has no OpenAI Chat meaning")
    return setting


def _encode_system(system: Sequence[Text]) -> JSONDict:
    """Anthropic's top-level system as a system message: a string unless a block has extras to carry
    (``cache_control``), since not every OpenAI-compatible server reads parts in a system message."""
    if any(t.extra for t in system):
        return {"role": "system", "content": [{"type": "text", "text": t.text, **t.extra} for t in system]}
    return {"role": "system", "content": "\n\n".join(t.text for t in system)}


def _decode_tool(data: Any, path: str) -> ToolSpec:
    data = as_object(data, path)
    kind = require(data, "type", str, path)
    if kind != "function":  # custom and vendor tools: kept whole, replayed verbatim
        inner = data.get(kind)
        name = inner.get("name") if isinstance(inner, Mapping) else None
        return ToolSpec(name=name if isinstance(name, str) else "", extra=dict(data))
    fpath = at(path, "function")
    function = as_object(data.get("function"), fpath)
    name = require(function, "name", str, fpath)
    function_extra = rest(function, "name", "description", "parameters")
    description = function.get("description")
    if "description" in function and not isinstance(description, str):
        function_extra["description"] = description
        description = None
    parameters = function.get("parameters")
    if "parameters" in function and not isinstance(parameters, dict):
        function_extra["parameters"] = parameters
        parameters = None
    extra = rest(data, "type", "function")
    if function_extra:
        extra["function"] = function_extra
    return ToolSpec(name=name, description=description, parameters=parameters, extra=extra)


def _encode_tool(tool: ToolSpec, path: str, writer: Writer) -> JSONDict | None:
    kind = tool.extra.get("type")
    if isinstance(kind, str) and kind != "function":
        if writer.native and (isinstance(tool.extra.get(kind), Mapping) or not tool.name):
            return dict(tool.extra)  # an OpenAI custom or vendor tool, kept whole
        if not writer.native and kind not in ("custom",) and tool.parameters is None:
            writer.loss(path, f"tool {tool.name!r} of type {kind!r} has no OpenAI Chat form")
            return None
        if kind != "custom":  # Anthropic's "custom" is an ordinary function tool
            writer.loss(path, f"tool {tool.name!r} of type {kind!r} has no OpenAI Chat form")
            return None
    extra = dict(tool.extra)
    function_extra = extra.pop("function", None)
    function: JSONDict = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.parameters is not None:
        function["parameters"] = tool.parameters
    if isinstance(function_extra, Mapping) and writer.native:
        merge_extra(function, function_extra)
    out: JSONDict = {"type": "function", "function": function}
    merge_extra(out, writer.own(extra, path))
    return out


def _decode_tool_choice(value: Any) -> ToolChoice | None:
    """The modeled tool choices; ``None`` for shapes that ride verbatim in ``Conversation.extra``."""
    if isinstance(value, str):
        return ToolChoice(mode=value) if value in ("auto", "none", "required") else None  # type: ignore[arg-type]
    if isinstance(value, Mapping) and value.get("type") == "function":
        function = as_object(value.get("function"), "tool_choice.function")
        name = require(function, "name", str, "tool_choice.function")
        extra = rest(value, "type", "function")
        if len(function) > 1:
            extra["function"] = rest(function, "name")
        return ToolChoice(mode="tool", name=name, extra=extra)
    if value is None or isinstance(value, Mapping):
        return None
    raise WireFormatError("tool_choice", f"expected a string or an object, got {kind_of(value)}")


def _encode_tool_choice(choice: ToolChoice, writer: Writer) -> Any:
    if choice.mode != "tool":
        if choice.extra:
            writer.loss("tool_choice", f"fields {', '.join(sorted(choice.extra))} do not fit {choice.mode!r}")
        return choice.mode
    if choice.name is None:
        raise WireFormatError("tool_choice.name", "a tool_choice of mode 'tool' needs the tool's name")
    extra = dict(choice.extra)
    function_extra = extra.pop("function", None)
    function: JSONDict = {"name": choice.name}
    if isinstance(function_extra, Mapping):
        merge_extra(function, function_extra)
    out: JSONDict = {"type": "function", "function": function}
    merge_extra(out, extra)
    return out


# -------------------------------------------------------------------------------------------- usage


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_DETAILS = (
    ("prompt_tokens_details", "cached_tokens", "cache_read_tokens"),
    ("completion_tokens_details", "reasoning_tokens", "reasoning_tokens"),
)


def decode_usage(data: Any, path: str = "usage") -> Usage:
    """``usage``: the mapped counts; everything else (``total_tokens`` too) in ``Usage.extra``."""
    data = as_object(data, path)
    values: dict[str, int] = {}
    extra: JSONDict = {}
    for key, value in data.items():
        if key == "prompt_tokens" and _is_count(value):
            values["input_tokens"] = value
        elif key == "completion_tokens" and _is_count(value):
            values["output_tokens"] = value
        else:
            extra[key] = value
    for key, wire, portable in _DETAILS:
        details = extra.get(key)
        if isinstance(details, Mapping) and _is_count(details.get(wire)):
            values[portable] = details[wire]
            if len(details) > 1:  # the other details; an object with only the count is implied by it
                extra[key] = rest(details, wire)
            else:
                del extra[key]
    return Usage(**values, extra=extra)


def encode_usage(usage: Usage, *, native: bool = True, losses: Losses | None = None) -> JSONDict:
    """``usage`` for a response. ``native=False`` for another format's usage: its extra stays out and
    ``total_tokens`` is computed."""
    out: JSONDict = {}
    if usage.input_tokens is not None:
        out["prompt_tokens"] = usage.input_tokens
    if usage.output_tokens is not None:
        out["completion_tokens"] = usage.output_tokens
    extra = usage.extra if native else {}
    if not native:
        if usage.input_tokens is not None and usage.output_tokens is not None:
            out["total_tokens"] = usage.input_tokens + usage.output_tokens
        dropped = sorted(usage.extra) + (
            ["cache_write_tokens"] if usage.cache_write_tokens is not None else []
        )
        if dropped and losses is not None:
            losses.add("usage", f"usage fields {', '.join(dropped)} have no OpenAI Chat field")
    for key, wire, portable in _DETAILS:
        count = getattr(usage, portable)
        if count is not None:
            details = extra.get(key)
            out[key] = {wire: count, **(details if isinstance(details, Mapping) else {})}
    merge_extra(out, extra)
    return out


# ---------------------------------------------------------------------------------------- responses


def raise_error(body: Mapping[str, Any]) -> None:
    """Raise StreamServerError for an error body or chunk (``{"error": ...}``, vLLM's ``object: error``)."""
    error = body.get("error")
    if isinstance(error, Mapping):
        kind = error.get("type") or error.get("code") or "error"
        raise StreamServerError(str(kind), str(error.get("message", "")))
    if error is not None:
        raise StreamServerError("error", str(error))
    if body.get("object") == "error":
        raise StreamServerError(
            str(body.get("type") or body.get("code") or "error"), str(body.get("message", ""))
        )


def decode_response(body: Any) -> Response:
    """A non-streamed ``/v1/chat/completions`` body; an error body raises StreamServerError."""
    body = as_object(body, "response")
    raise_error(body)
    choices = require(body, "choices", list, "")
    if not choices:
        raise WireFormatError("choices", "a response needs at least one choice")
    first = as_object(choices[0], "choices[0]")
    message = decode_message(as_object(first.get("message"), "choices[0].message"), "choices[0].message")
    if message.role != "assistant":
        raise WireFormatError("choices[0].message.role", f"expected 'assistant', got {message.role!r}")
    frame = rest(first, "message", "finish_reason")
    finish = first.get("finish_reason")
    stop_reason: str | None = None
    if isinstance(finish, str):
        stop_reason = _FINISH_TO_STOP.get(finish, finish)
        if finish not in _FINISH_TO_STOP and finish in _STOP_TO_FINISH:
            frame["finish_reason"] = finish  # a portable name sent verbatim: keep it from being remapped
    elif finish is not None:
        frame["finish_reason"] = finish
    mapped: dict[str, str | None] = {"id": None, "model": None}
    extra: JSONDict = {}
    for key, value in body.items():
        if key in mapped and isinstance(value, str):
            mapped[key] = value
        elif key != "choices" and (key != "usage" or not isinstance(value, Mapping)):
            extra[key] = value
    extra["choices"] = [frame, *choices[1:]]
    usage = body.get("usage")
    return Response(
        message=message,
        id=mapped["id"],
        model=mapped["model"],
        stop_reason=stop_reason,
        usage=decode_usage(usage) if isinstance(usage, Mapping) else None,
        extra=extra,
        source=FORMAT,
    )


def finish_reason(response: Response) -> Any:
    """The wire ``finish_reason`` of a response."""
    choices = response.extra.get("choices") if response.source in (FORMAT, None) else None
    if (
        isinstance(choices, list)
        and choices
        and isinstance(choices[0], Mapping)
        and "finish_reason" in choices[0]
    ):
        return choices[0]["finish_reason"]
    if response.stop_reason is None:
        return None
    return _STOP_TO_FINISH.get(response.stop_reason, response.stop_reason)


def response_frame(response: Response, losses: Losses | None = None) -> tuple[JSONDict, JSONDict, list[Any]]:
    """(top-level fields, first choice's fields, further choices) of a response: all but the message.

    A reply from another format gets the fields OpenAI clients expect (``object``, ``created``, an
    ``index``); its own top-level fields are reported in ``losses``.
    """
    own = response.source in (FORMAT, None)
    extra = response.extra if own else {}
    choices = extra.get("choices")
    top: JSONDict = {}
    if response.id is not None:
        top["id"] = response.id
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        top.update(object="chat.completion", created=0)
        choices = [{"index": 0}]
    if response.model is not None:
        top["model"] = response.model
    merge_extra(top, extra, "choices")
    if not own and losses is not None:
        if response.extra:
            fields = ", ".join(sorted(response.extra))
            losses.add("", f"{response.source} response fields {fields} have no OpenAI Chat meaning")
        if response.stop_sequence is not None:
            losses.add("", f"stop_sequence {response.stop_sequence!r} has no OpenAI Chat field")
    return top, rest(choices[0], "message", "finish_reason"), list(choices[1:])


def _response_writer(response: Response, dialect: ReasoningDialect | None, losses: Losses | None) -> Writer:
    return Writer(resolver(dialect), response.source == FORMAT, losses)


def encode_response(
    response: Response,
    *,
    dialect: ReasoningDialect | None = None,
    losses: Losses | None = None,
) -> JSONDict:
    """A response to a non-streamed ``/v1/chat/completions`` body."""
    if response.message.role != "assistant":
        raise WireFormatError(
            "choices[0].message.role", f"a reply is an assistant message, not {response.message.role!r}"
        )
    top, first, others = response_frame(response, losses)
    message = write_assistant(
        response.message, "choices[0].message", _response_writer(response, dialect, losses)
    )
    body = dict(top)
    body["choices"] = [{**first, "message": message, "finish_reason": finish_reason(response)}, *others]
    if response.usage is not None:
        body["usage"] = encode_usage(response.usage, native=response.source in (FORMAT, None), losses=losses)
    return body
