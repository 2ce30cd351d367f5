"""The two wire formats the gateway speaks, behind one small facade over :mod:`interleaf.wire`.

A client speaks ``anthropic`` (``POST /v1/messages``) or ``openai-chat`` (``POST
/v1/chat/completions``); the upstream speaks its profile's API. Everything format-specific the
gateway does — decoding a client request, encoding the upstream request in the profile's thinking
dialect, turning a reply (whole or streamed) into the client's format — goes through here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from interleaf.backends.profiles import Profile
from interleaf.gateway.config import ClientFormat
from interleaf.gateway.errors import GatewayError
from interleaf.gateway.jsonio import json_text
from interleaf.transcript import (
    THINKING_BLOCKS,
    Conversation,
    JSONDict,
    ReasoningDialect,
    Response,
)
from interleaf.wire import anthropic, openai_chat
from interleaf.wire.errors import WireError
from interleaf.wire.events import StreamEvent

DEFAULT_MAX_TOKENS = 4096
"""``max_tokens`` for an Anthropic upstream when an OpenAI client set none and the profile has none."""


def decode_request(fmt: ClientFormat, body: Any) -> Conversation:
    """A client request body as a conversation; a malformed one is a 400 naming the bad field."""
    try:
        if fmt == "anthropic":
            return anthropic.decode_request(body)
        return openai_chat.decode_request(body)
    except WireError as exc:
        raise GatewayError(400, f"the request is not a valid {_NAMES[fmt]} request: {exc}") from None


_NAMES: dict[ClientFormat, str] = {
    "anthropic": "Anthropic Messages",
    "openai-chat": "OpenAI Chat Completions",
}


def wire_index(fmt: ClientFormat, raw_messages: Sequence[Any], index: int) -> int:
    """The position in the client's ``messages`` of decoded message ``index``.

    The OpenAI codec folds consecutive ``tool`` messages into one; the Anthropic codec maps 1:1.
    """
    if fmt == "anthropic":
        return index
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


def encode_upstream(
    conversation: Conversation, profile: Profile, model: str | None, *, stream: bool
) -> JSONDict:
    """The upstream request body: the profile's API, thinking in the profile's dialect.

    Only what the upstream needs is added: the mapped model, ``max_tokens`` where Anthropic requires it,
    usage in OpenAI streams, and the profile's ``extra_body`` where the request does not set it.
    """
    params = dict(conversation.params)
    if model is not None:
        params["model"] = model
    if stream or "stream" in params:
        params["stream"] = stream
    if profile.api == "anthropic":
        params.setdefault("max_tokens", profile.max_tokens or DEFAULT_MAX_TOKENS)
        body = anthropic.encode_request(replace(conversation, params=params))
    else:
        prepared = replace(conversation, params=params)
        if profile.thinking_dialect is None:  # the API takes no reasoning back (hosted OpenAI)
            prepared = prepared.with_messages(
                m.with_blocks(b for b in m.blocks if not isinstance(b, THINKING_BLOCKS))
                if m.role == "assistant" and m.thinking
                else m
                for m in prepared.messages
            )
        body = openai_chat.encode_request(prepared, dialect=profile.thinking_dialect)
        if stream and conversation.source != openai_chat.FORMAT:
            body.setdefault("stream_options", {"include_usage": True})
    for key, value in profile.extra_body.items():
        body.setdefault(key, value)
    return body


def decode_response(api: str, body: Any) -> Response:
    """An upstream reply (parsed JSON) as a response; raises WireError when it is not one."""
    if api == "anthropic":
        return anthropic.decode_response(body)
    decoded: Response = openai_chat.decode_response(body)
    return decoded


def encode_response(fmt: ClientFormat, response: Response, dialect: ReasoningDialect) -> JSONDict:
    """A reply in the client's format; OpenAI clients get thinking in ``dialect``."""
    if fmt == "anthropic":
        return anthropic.encode_response(response)
    return openai_chat.encode_response(response, dialect=dialect)


# ------------------------------------------------------------------------------------------- streams


class UpstreamStream:
    """Upstream SSE events in, stream events out, for either API (``[DONE]`` handled)."""

    def __init__(self, api: str) -> None:
        self.openai = api != "anthropic"
        self._openai = openai_chat.StreamAssembler() if self.openai else None
        self._anthropic = None if self.openai else anthropic.StreamAssembler()
        self.ended = False

    def feed_data(self, data: str) -> list[StreamEvent]:
        """One SSE event's data. Raises WireError (StreamServerError on an error event)."""
        if self._openai is not None:
            if data.strip() == "[DONE]":
                self.ended = True
                return self._openai.done()
            return self._openai.feed(_loads(data))
        assert self._anthropic is not None
        events = self._anthropic.feed(_loads(data))
        self.ended = self._anthropic.done
        return events

    def finish(self) -> list[StreamEvent]:
        """The body ended: an OpenAI stream that sent its ``finish_reason`` is complete without
        ``[DONE]``; anything else raises StreamIncompleteError."""
        if self.ended:
            return []
        self.ended = True
        if self._openai is not None:
            return self._openai.done()
        assert self._anthropic is not None
        self._anthropic.finish()  # raises: no message_stop
        return []


def _loads(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise StreamDataError(f"a stream event is not valid JSON ({exc}): {data[:120]!r}") from None


class StreamDataError(WireError):
    """An upstream SSE event whose data is not JSON."""


class ClientStream:
    """Stream events in, SSE bytes in the client's format out."""

    def __init__(self, fmt: ClientFormat, dialect: ReasoningDialect) -> None:
        self.fmt = fmt
        self._anthropic = anthropic.StreamEncoder() if fmt == "anthropic" else None
        self._openai = None if fmt == "anthropic" else openai_chat.StreamEncoder(dialect=dialect)

    def encode(self, events: Sequence[StreamEvent]) -> bytes:
        out: list[str] = []
        for event in events:
            if self._anthropic is not None:
                for payload in self._anthropic.encode(event):
                    out.append(f"event: {payload['type']}\ndata: {_dumps(payload)}\n\n")
            else:
                assert self._openai is not None
                out.extend(f"data: {_dumps(payload)}\n\n" for payload in self._openai.encode(event))
        return "".join(out).encode()

    def end(self) -> bytes:
        """What follows the last event: ``data: [DONE]`` for OpenAI clients."""
        return b"" if self._anthropic is not None else b"data: [DONE]\n\n"


def _dumps(payload: Any) -> str:
    return json_text(payload)
