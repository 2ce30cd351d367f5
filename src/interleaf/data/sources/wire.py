"""One JSON record in any wire format interleaf reads, as a conversation.

Formats: ``transcript`` (interleaf's own JSON), ``anthropic`` (Messages request bodies),
``openai-chat`` (Chat Completions request bodies, and the OpenAI fine-tuning ``{"messages": …}``
lines, which are the same shape), ``responses`` (OpenAI Responses request bodies), ``minimax-m2``
(``{"text": "<M2 prompt>"}``) and ``sharegpt`` (what ``interleaf data export --format sharegpt``
writes). A record may also wrap a request and the reply to it, ``{"request": …, "response": …}``:
the reply becomes the last assistant message. ``auto`` tells the formats apart by their shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from interleaf import transcript as tr
from interleaf.data.errors import RowError
from interleaf.transcript import Conversation
from interleaf.wire.errors import WireError

FORMATS = ("auto", "transcript", "anthropic", "openai-chat", "responses", "minimax-m2", "sharegpt")

_ANTHROPIC_ONLY_BLOCKS = {"thinking", "redacted_thinking", "tool_use", "tool_result", "server_tool_use"}
_OPENAI_ONLY_KEYS = {"tool_calls", "reasoning_content", "reasoning", "reasoning_details", "function_call"}


def detect(record: Mapping[str, Any]) -> str | None:
    """The format of a request-shaped record, or ``None`` when its shape fits none."""
    if "interleaf_transcript" in record:
        return "transcript"
    if isinstance(record.get("conversations"), list):
        return "sharegpt"
    for key in ("text", "prompt"):
        value = record.get(key)
        if isinstance(value, str) and value.startswith("]~!b["):
            return "minimax-m2"
    if "input" in record or "instructions" in record:
        return "responses"
    if "messages" not in record:
        return None
    messages = record["messages"]
    if not isinstance(messages, list):
        return "openai-chat"  # let the codec say what is wrong with it
    if "system" in record:
        return "anthropic"
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        if message.get("role") in ("tool", "function", "developer") or _OPENAI_ONLY_KEYS & message.keys():
            return "openai-chat"
        content = message.get("content")
        if isinstance(content, list) and any(
            isinstance(part, Mapping) and part.get("type") in _ANTHROPIC_ONLY_BLOCKS for part in content
        ):
            return "anthropic"
    return "openai-chat"


def decode(record: Any, fmt: str, where: str) -> tuple[Conversation, str]:
    """``record`` as a conversation and the format it was read as; RowError (naming ``where``) if it
    is not one."""
    if not isinstance(record, Mapping):
        raise RowError(where, f"expected a JSON object, got {type(record).__name__}")
    if "request" in record and isinstance(record.get("request"), Mapping):
        return _with_reply(record, fmt, where)
    found = detect(record) if fmt == "auto" else fmt
    if found is None:
        keys = ", ".join(sorted(record)[:6]) or "none"
        raise RowError(
            where,
            f"not a trajectory in any known format (keys: {keys}); expected messages, input, "
            "conversations, an M2 prompt or an interleaf transcript",
        )
    try:
        return _decode_request(record, found), found
    except (WireError, tr.TranscriptFormatError, ValueError) as exc:
        raise RowError(where, f"not a valid {found} record: {exc}") from None


def _decode_request(record: Mapping[str, Any], fmt: str) -> Conversation:
    data = dict(record)
    if fmt == "transcript":
        return tr.conversation_from_json(data)
    if fmt == "anthropic":
        from interleaf.wire import anthropic

        return anthropic.decode_request(data)
    if fmt == "openai-chat":
        from interleaf.wire import openai_chat

        return openai_chat.decode_request(data)
    if fmt == "responses":
        from interleaf.wire import responses

        return responses.decode_request(data)
    if fmt == "minimax-m2":
        from interleaf.wire import minimax

        text = data.get("text", data.get("prompt"))
        if not isinstance(text, str):
            raise ValueError("an M2 record holds the prompt text in 'text'")
        return minimax.parse_prompt(text)
    if fmt == "sharegpt":
        from interleaf.data.export.sharegpt import decode_sharegpt

        return decode_sharegpt(data)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _reply_format(reply: Any) -> str | None:
    """The API a response body belongs to, from its shape (a reply tells formats apart better than
    a request whose messages are plain strings)."""
    if not isinstance(reply, Mapping):
        return None
    if "choices" in reply:
        return "openai-chat"
    if "output" in reply or reply.get("object") == "response":
        return "responses"
    if isinstance(reply.get("content"), list):
        return "anthropic"
    return None


def _with_reply(record: Mapping[str, Any], fmt: str, where: str) -> tuple[Conversation, str]:
    request = record["request"]
    found = fmt if fmt != "auto" else _reply_format(record.get("response")) or detect(request)
    if found not in ("anthropic", "openai-chat", "responses"):
        raise RowError(
            where, "a {request, response} record needs an Anthropic, OpenAI Chat or Responses request"
        )
    try:
        conversation = _decode_request(request, found)
    except (WireError, tr.TranscriptFormatError, ValueError) as exc:
        raise RowError(where, f"request: not a valid {found} request: {exc}") from None
    reply = record.get("response")
    if reply is None:
        return conversation, found
    try:
        if found == "anthropic":
            from interleaf.wire import anthropic

            response = anthropic.decode_response(reply)
        elif found == "openai-chat":
            from interleaf.wire import openai_chat

            response = openai_chat.decode_response(reply)
        else:
            from interleaf.wire import responses

            response = responses.decode_response(reply)
    except (WireError, ValueError) as exc:
        raise RowError(where, f"response: not a valid {found} response: {exc}") from None
    return replace(conversation, messages=(*conversation.messages, response.message)), found
