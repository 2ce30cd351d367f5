"""The gateway's side of the three wire APIs (:mod:`interleaf.wire.apis`): decoding a client request
with errors a client can act on, and naming a decoded message by the client's own index. The upstream
request is the profile's adapter's (:meth:`interleaf.gateway.upstream.Upstream.encode`).

A client speaks ``anthropic`` (``POST /v1/messages``), ``openai-chat`` (``POST /v1/chat/completions``)
or ``openai-responses`` (``POST /v1/responses``); the upstream speaks its profile's API.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from interleaf.gateway.config import ClientFormat
from interleaf.gateway.errors import GatewayError
from interleaf.transcript import Conversation, JSONDict, Message, Response
from interleaf.wire.anthropic import ReplyCalls
from interleaf.wire.apis import Assembler, Encoder, PayloadHook, StreamDataError, api
from interleaf.wire.errors import WireError
from interleaf.wire.responses.messages import message_starts

__all__ = [
    "StreamDataError",
    "client_encoder",
    "decode_reply_message",
    "decode_request",
    "decode_response",
    "encode_response",
    "fresh_reply_id",
    "reply_tool_calls",
    "system_text",
    "upstream_assembler",
    "wire_index",
]


def decode_request(fmt: ClientFormat, body: Any) -> Conversation:
    """A client request body as a conversation; a malformed one is a 400 naming the bad field."""
    wire = api(fmt)
    try:
        return wire.decode_request(body)
    except WireError as exc:
        raise GatewayError(400, f"the request is not a valid {wire.label} request: {exc}") from None
    except RecursionError:
        raise GatewayError(400, "the request nests JSON deeper than this gateway reads") from None


def wire_index(fmt: ClientFormat, raw: Any, index: int) -> str:
    """How the client names decoded message ``index``: ``messages[i]`` or (Responses) ``input[i]``.

    The OpenAI Chat codec folds consecutive ``tool`` messages into one and the Responses codec folds a
    run of items into one message; the Anthropic codec maps 1:1.
    """
    if fmt == "openai-responses":
        items = raw.get("input") if isinstance(raw, Mapping) else None
        starts = message_starts(items) if isinstance(items, list) else []
        return f"input[{starts[index] if index < len(starts) else index}]"
    messages = raw.get("messages") if isinstance(raw, Mapping) else None
    if fmt == "anthropic" or not isinstance(messages, list):
        return f"messages[{index}]"
    return f"messages[{_chat_position(messages, index)}]"


def _chat_position(raw_messages: Sequence[Any], index: int) -> int:
    decoded = -1
    previous_tool = False
    for position, raw in enumerate(raw_messages):
        is_tool = isinstance(raw, Mapping) and raw.get("role") == "tool"
        if not (is_tool and previous_tool):
            decoded += 1
        previous_tool = is_tool
        if decoded == index:
            return position
    return index


def system_text(conversation: Conversation) -> str:
    """The top-level system text the fingerprints bind to (OpenAI system messages are in messages)."""
    return "".join(t.text for t in conversation.system) if conversation.system else ""


def decode_response(upstream_api: str, body: Any) -> Response:
    """An upstream reply (parsed JSON) as a response; raises WireError when it is not one."""
    return api(upstream_api).decode_response(body)


def decode_reply_message(upstream_api: str, body: Any) -> Message:
    """Only the message of an upstream reply (parsed JSON); raises WireError when it is not a reply."""
    return api(upstream_api).decode_reply_message(body)


def reply_tool_calls(upstream_api: str, body: Any) -> ReplyCalls | None:
    """An upstream reply's tool calls read off the wire, or None (decode it instead)."""
    return api(upstream_api).reply_tool_calls(body)


def encode_response(fmt: ClientFormat, response: Response, profile_dialect: Any) -> JSONDict:
    """A reply in the client's format; OpenAI Chat clients get thinking in ``profile_dialect``."""
    return api(fmt).encode_response(response, dialect=profile_dialect)


_ID_PREFIXES: dict[str, str] = {"anthropic": "msg_", "openai-responses": "resp_", "openai-chat": "chatcmpl-"}


def fresh_reply_id(fmt: ClientFormat) -> str:
    """An id for a reply translated into ``fmt``, unique to that reply. The upstream's will not do:
    Ollama numbers its replies 0-998 at random, some servers send none, and Claude Code merges two
    replies that share a message id into one turn (Responses clients key output items by it)."""
    return _ID_PREFIXES[fmt] + secrets.token_hex(12)


def upstream_assembler(upstream_api: str) -> Assembler:
    """Reads an upstream stream: SSE data in, format-neutral events out."""
    return api(upstream_api).assembler()


def client_encoder(fmt: ClientFormat, dialect: Any, hook: PayloadHook | None = None) -> Encoder:
    """Writes a stream in the client's format; ``hook`` sees each payload before it is framed."""
    return api(fmt).encoder(dialect, hook)
