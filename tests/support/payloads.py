"""Builders for raw wire payloads a scripted upstream sends: Anthropic and OpenAI Chat, streamed or not.

They produce plain dicts exactly as the real servers would (field order included), independent of
interleaf's codecs, so tests compare interleaf's output against an outside view of the wire.

Anthropic::

    message = anthropic_message([thinking("Plan.", "sig-1"), tool_use("toolu_1", "ls", {"path": "."})])
    Step.json(message)                   # non-streamed
    Step.sse(anthropic_events(message))  # the same reply streamed

OpenAI Chat::

    completion = openai_completion(content="Hi", reasoning="Think.", reasoning_field="reasoning_content")
    Step.json(completion); Step.sse(openai_chunks(completion))
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

JSON = dict[str, Any]

_BASE62 = string.ascii_letters + string.digits


def minted_call_id(api: str | None) -> str:
    """A fresh tool-call id shaped as the server of ``api`` mints it: ``toolu_01`` and 22 letters and
    digits for Anthropic, ``call_`` and 24 for OpenAI. Random, and random-looking to the gateway (a
    short hex id is all digits once in 280 and then counts as numbered)."""
    if api == "anthropic":
        return "toolu_01" + "".join(secrets.choice(_BASE62) for _ in range(22))
    return "call_" + "".join(secrets.choice(_BASE62) for _ in range(24))


# ------------------------------------------------------------------------------------- Anthropic


def thinking(text: str, signature: str | None = "sig") -> JSON:
    block: JSON = {"type": "thinking", "thinking": text}
    if signature is not None:
        block["signature"] = signature
    return block


def redacted_thinking(data: str) -> JSON:
    return {"type": "redacted_thinking", "data": data}


def text(value: str) -> JSON:
    return {"type": "text", "text": value}


def tool_use(call_id: str, name: str, arguments: Mapping[str, Any]) -> JSON:
    return {"type": "tool_use", "id": call_id, "name": name, "input": dict(arguments)}


def anthropic_message(
    content: Sequence[JSON],
    *,
    id: str = "msg_scripted_1",
    model: str = "scripted-model",
    stop_reason: str | None = None,
    input_tokens: int = 10,
    output_tokens: int = 20,
) -> JSON:
    """A non-streamed ``/v1/messages`` body. ``stop_reason`` defaults to tool_use when a tool is called."""
    if stop_reason is None:
        stop_reason = "tool_use" if any(b.get("type") == "tool_use" for b in content) else "end_turn"
    return {
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [dict(b) for b in content],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


def _pieces(value: str, size: int) -> list[str]:
    return [value[i : i + size] for i in range(0, len(value), size)] or [""]


def anthropic_events(message: Mapping[str, Any], *, piece: int = 8, ping: bool = True) -> list[JSON]:
    """The SSE payloads streaming ``message`` (each payload's ``type`` is its event name).

    Text, thinking and tool input arrive in ``piece``-character deltas; a signature arrives as one
    ``signature_delta`` just before its block stops; redacted thinking arrives whole in its start.
    """
    usage = dict(message.get("usage") or {})
    start = {
        k: v for k, v in message.items() if k not in ("content", "stop_reason", "stop_sequence", "usage")
    }
    start.update(
        content=[],
        stop_reason=None,
        stop_sequence=None,
        usage={"input_tokens": usage.get("input_tokens", 0), "output_tokens": 1},
    )
    events: list[JSON] = [{"type": "message_start", "message": start}]
    if ping:
        events.append({"type": "ping"})
    for index, block in enumerate(message.get("content") or []):
        kind = block["type"]
        if kind == "thinking":
            events.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                }
            )
            for part in _pieces(block["thinking"], piece):
                events.append(_delta(index, {"type": "thinking_delta", "thinking": part}))
            if block.get("signature") is not None:
                events.append(_delta(index, {"type": "signature_delta", "signature": block["signature"]}))
        elif kind == "text":
            events.append(
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
            )
            for part in _pieces(block["text"], piece):
                events.append(_delta(index, {"type": "text_delta", "text": part}))
        elif kind == "tool_use":
            events.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": block["id"],
                        "name": block["name"],
                        "input": {},
                    },
                }
            )
            arguments = json.dumps(block["input"], separators=(",", ":"))
            for part in _pieces(arguments, piece):
                events.append(_delta(index, {"type": "input_json_delta", "partial_json": part}))
        else:  # redacted_thinking and anything else: whole in the start event
            events.append({"type": "content_block_start", "index": index, "content_block": dict(block)})
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": message.get("stop_reason"),
                "stop_sequence": message.get("stop_sequence"),
            },
            "usage": {"output_tokens": usage.get("output_tokens", 0)},
        }
    )
    events.append({"type": "message_stop"})
    return events


def _delta(index: int, delta: JSON) -> JSON:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def anthropic_error(error_type: str, message: str) -> JSON:
    """``{"type":"error","error":{...}}`` — the body of an error status, or the payload of ``event: error``."""
    return {"type": "error", "error": {"type": error_type, "message": message}}


# ------------------------------------------------------------------------------------ OpenAI Chat


def tool_call(call_id: str, name: str, arguments: Mapping[str, Any] | str) -> JSON:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments, separators=(",", ":"))
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}


def reasoning_detail(value: str, index: int = 0) -> JSON:
    """A MiniMax-shaped ``reasoning_details`` item."""
    return {
        "type": "reasoning.text",
        "id": f"reasoning-text-{index}",
        "format": "MiniMax-response-v1",
        "index": index,
        "text": value,
    }


def openai_completion(
    *,
    content: str | None = None,
    reasoning: str | None = None,
    reasoning_field: str = "reasoning_content",
    reasoning_details: Sequence[JSON] | None = None,
    tool_calls: Sequence[JSON] = (),
    finish_reason: str | None = None,
    id: str = "chatcmpl-scripted-1",
    model: str = "scripted-model",
    created: int = 1_700_000_000,
    prompt_tokens: int = 10,
    completion_tokens: int = 20,
) -> JSON:
    """A non-streamed ``/v1/chat/completions`` body.

    ``reasoning`` goes into ``reasoning_field`` (``reasoning_content`` or ``reasoning``);
    ``reasoning_details`` is sent as given.
    """
    message: JSON = {"role": "assistant", "content": content}
    if reasoning is not None:
        message[reasoning_field] = reasoning
    if reasoning_details is not None:
        message["reasoning_details"] = [dict(item) for item in reasoning_details]
    if tool_calls:
        message["tool_calls"] = [dict(call) for call in tool_calls]
    if finish_reason is None:
        finish_reason = "tool_calls" if tool_calls else "stop"
    return {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def openai_chunks(
    completion: Mapping[str, Any], *, piece: int = 8, usage_chunk: bool = True, done: bool = True
) -> list[JSON | str]:
    """The stream of ``completion``: role chunk, reasoning deltas, content deltas, tool-call deltas,
    the ``finish_reason`` chunk, a usage chunk (``stream_options.include_usage``) and ``[DONE]``."""
    choice = completion["choices"][0]
    message = choice["message"]
    head = {k: completion[k] for k in ("id", "created", "model") if k in completion}

    def chunk(delta: JSON, finish: str | None = None) -> JSON:
        return {
            **head,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    out: list[JSON | str] = [chunk({"role": "assistant", "content": ""})]
    for field in ("reasoning_content", "reasoning"):
        if message.get(field) is not None:
            out.extend(chunk({field: part}) for part in _pieces(message[field], piece))
    for item in message.get("reasoning_details") or []:
        text_value = item.get("text")
        if isinstance(text_value, str):
            for part in _pieces(text_value, piece):
                out.append(chunk({"reasoning_details": [{**item, "text": part}]}))
        else:
            out.append(chunk({"reasoning_details": [dict(item)]}))
    if message.get("content"):
        out.extend(chunk({"content": part}) for part in _pieces(message["content"], piece))
    for position, call in enumerate(message.get("tool_calls") or []):
        function = call["function"]
        out.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": position,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": function["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        for part in _pieces(function["arguments"], piece):
            out.append(chunk({"tool_calls": [{"index": position, "function": {"arguments": part}}]}))
    out.append(chunk({}, choice.get("finish_reason") or "stop"))
    if usage_chunk and completion.get("usage") is not None:
        out.append({**head, "object": "chat.completion.chunk", "choices": [], "usage": completion["usage"]})
    if done:
        out.append("[DONE]")
    return out


def openai_error(message: str, error_type: str = "invalid_request_error", code: str | None = None) -> JSON:
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def error_body(api: str, status: int, message: str, error_type: str | None = None) -> JSON:
    """An error body in the vendor format of ``api`` (``anthropic`` or ``openai-chat``)."""
    kind = error_type or _DEFAULT_ERROR_TYPES.get(status, "api_error")
    if api == "anthropic":
        return anthropic_error(kind, message)
    return openai_error(message, kind)


_DEFAULT_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def sse_bytes(items: Iterable[JSON | str], *, named: bool) -> bytes:
    """Whole SSE text for ``items`` (``named``: Anthropic-style ``event:`` lines from each ``type``)."""
    out = []
    for item in items:
        data = item if isinstance(item, str) else json.dumps(item)
        if named and isinstance(item, dict) and "type" in item:
            out.append(f"event: {item['type']}\ndata: {data}\n\n")
        else:
            out.append(f"data: {data}\n\n")
    return "".join(out).encode()
