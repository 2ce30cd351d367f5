"""The three HTTP APIs interleaf speaks, behind one interface: Anthropic Messages, OpenAI Chat
Completions and the OpenAI Responses API.

Everything that differs between them on the wire - request and reply bodies, the SSE framing of a
stream and how it ends, error bodies - is answered here once, for every caller: the agent's model
client and the probes (as a client of a server), the gateway (as a server to client apps and a client
of an upstream). Pure: no I/O. ``api(name)`` gives the :class:`WireApi` of a name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

from interleaf.transcript import Conversation, JSONDict, Message, ReasoningDialect, Response
from interleaf.wire import anthropic, openai_chat, responses
from interleaf.wire.anthropic import ReplyCalls
from interleaf.wire.errors import Losses, StreamIncompleteError, WireError
from interleaf.wire.events import StreamEvent, events_from_response
from interleaf.wire.jsonread import loads

ApiName = Literal["anthropic", "openai-chat", "openai-responses"]
API_NAMES: tuple[ApiName, ...] = ("anthropic", "openai-chat", "openai-responses")


class StreamDataError(WireError):
    """An SSE event whose data is not JSON."""


def _loads(data: str) -> Any:
    try:
        return loads(data)
    except ValueError as exc:
        raise StreamDataError(
            f"a stream event's data is not valid JSON ({exc}); it begins {data[:120]!r}"
        ) from None


def _dumps(payload: Any) -> str:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate: the same JSON value in ASCII escapes
        return json.dumps(payload, ensure_ascii=True, separators=(",", ":"))
    return text


def named_event(payload: JSONDict) -> str:
    """One SSE event whose ``event:`` name is the payload's ``type`` (Anthropic, Responses)."""
    return f"event: {payload['type']}\ndata: {_dumps(payload)}\n\n"


def data_event(payload: Any) -> str:
    """One SSE event with data only (OpenAI Chat)."""
    return f"data: {_dumps(payload)}\n\n"


class Assembler(Protocol):
    """A reply stream's SSE event data in, format-neutral events out."""

    ended: bool
    """The format's end marker arrived."""

    def feed_data(self, data: str) -> list[StreamEvent]:
        """One SSE event's data. Raises WireError (StreamServerError on an error event)."""
        ...

    def finish(self) -> list[StreamEvent]:
        """The body ended: what completes the reply, or StreamIncompleteError when it is incomplete."""
        ...


PayloadHook = Callable[[JSONDict], None]
"""Changes one event payload in place before it is framed (the gateway's tokens, see gateway/signing.py)."""


class Encoder(Protocol):
    """Format-neutral events in, SSE bytes of one API out."""

    def encode(self, events: Sequence[StreamEvent]) -> bytes: ...

    def end(self) -> bytes:
        """What follows the last event (``data: [DONE]`` for OpenAI Chat)."""
        ...


class WireApi(Protocol):
    """One API's wire facts."""

    name: ApiName
    path: str
    """The endpoint after the version segment: ``/messages``, ``/chat/completions``, ``/responses``."""
    codec_format: str
    """``Conversation.source`` of what its codec decodes."""
    label: str
    """How people call it, for messages."""

    def decode_request(self, body: Any) -> Conversation: ...

    def encode_request(
        self, conversation: Conversation, *, dialect: ReasoningDialect | None, losses: Losses | None = None
    ) -> JSONDict: ...

    def decode_response(self, body: Any) -> Response: ...

    def decode_reply_message(self, body: Any) -> Message:
        """``decode_response(body).message``, as cheaply as the API allows (what the gateway keys and
        stores a reply by)."""
        ...

    def reply_tool_calls(self, body: Any) -> ReplyCalls | None:
        """A plain reply's tool calls (id, name, arguments) without decoding it, or ``None`` (then
        decode it: :meth:`decode_reply_message`)."""
        ...

    def encode_response(self, response: Response, *, dialect: ReasoningDialect | None) -> JSONDict: ...

    def assembler(self) -> Assembler: ...

    def encoder(self, dialect: ReasoningDialect | None, hook: PayloadHook | None = None) -> Encoder: ...

    def events(self, response: Response) -> list[StreamEvent]:
        """The stream events of a whole reply (to stream one that came as one body)."""
        ...

    def error_body(self, error_type: str, message: str, code: str | None) -> JSONDict: ...

    def error_event(self, error_type: str, message: str, code: str | None) -> bytes:
        """An error as one SSE event, raised as an exception by the official SDKs."""
        ...


# ----------------------------------------------------------------------------------------- Anthropic


class _AnthropicAssembler:
    def __init__(self) -> None:
        self._assembler = anthropic.StreamAssembler()
        self.ended = False

    def feed_data(self, data: str) -> list[StreamEvent]:
        events = self._assembler.feed(_loads(data))
        self.ended = self._assembler.done
        return events

    def finish(self) -> list[StreamEvent]:
        if not self.ended:
            self.ended = True
            self._assembler.finish()  # raises: no message_stop
        return []


def _hooked(payloads: list[JSONDict], hook: PayloadHook | None) -> list[JSONDict]:
    if hook is not None:
        for payload in payloads:
            hook(payload)
    return payloads


class _PayloadEncoder(Protocol):
    def encode(self, event: StreamEvent) -> list[JSONDict]: ...


class _NamedEventEncoder:
    """SSE with an ``event:`` line per payload (Anthropic Messages, Responses): no end marker."""

    def __init__(self, encoder: _PayloadEncoder, hook: PayloadHook | None) -> None:
        self._encoder = encoder
        self._hook = hook

    def encode(self, events: Sequence[StreamEvent]) -> bytes:
        return "".join(
            named_event(p) for e in events for p in _hooked(self._encoder.encode(e), self._hook)
        ).encode()

    def end(self) -> bytes:
        return b""


class AnthropicApi:
    name: ApiName = "anthropic"
    path = "/messages"
    codec_format = anthropic.FORMAT
    label = "Anthropic Messages"

    def decode_request(self, body: Any) -> Conversation:
        return anthropic.decode_request(body)

    def encode_request(
        self, conversation: Conversation, *, dialect: ReasoningDialect | None, losses: Losses | None = None
    ) -> JSONDict:
        return anthropic.encode_request(conversation, losses=losses)

    def decode_response(self, body: Any) -> Response:
        return anthropic.decode_response(body)

    def decode_reply_message(self, body: Any) -> Message:
        return anthropic.decode_reply_message(body)

    def reply_tool_calls(self, body: Any) -> ReplyCalls | None:
        return anthropic.reply_tool_calls(body)

    def encode_response(self, response: Response, *, dialect: ReasoningDialect | None) -> JSONDict:
        return anthropic.encode_response(response)

    def assembler(self) -> Assembler:
        return _AnthropicAssembler()

    def encoder(self, dialect: ReasoningDialect | None, hook: PayloadHook | None = None) -> Encoder:
        return _NamedEventEncoder(anthropic.StreamEncoder(), hook)

    def events(self, response: Response) -> list[StreamEvent]:
        return events_from_response(response)

    def error_body(self, error_type: str, message: str, code: str | None) -> JSONDict:
        return {"type": "error", "error": {"type": error_type, "message": message}}

    def error_event(self, error_type: str, message: str, code: str | None) -> bytes:
        return named_event(self.error_body(error_type, message, code)).encode()


# ----------------------------------------------------------------------------------------- OpenAI Chat


class _ChatAssembler:
    def __init__(self) -> None:
        self._assembler = openai_chat.StreamAssembler()
        self.ended = False

    def feed_data(self, data: str) -> list[StreamEvent]:
        if data.strip() == "[DONE]":
            self.ended = True
            events: list[StreamEvent] = self._assembler.done()
            return events
        fed: list[StreamEvent] = self._assembler.feed(_loads(data))
        return fed

    def finish(self) -> list[StreamEvent]:
        """A stream that sent its ``finish_reason`` is complete without ``[DONE]``."""
        if self.ended:
            return []
        self.ended = True
        events: list[StreamEvent] = self._assembler.done()
        return events


class _ChatEncoder:
    def __init__(self, dialect: ReasoningDialect | None, hook: PayloadHook | None) -> None:
        self._encoder = openai_chat.StreamEncoder(dialect=dialect)
        self._hook = hook

    def encode(self, events: Sequence[StreamEvent]) -> bytes:
        return "".join(
            data_event(p) for e in events for p in _hooked(self._encoder.encode(e), self._hook)
        ).encode()

    def end(self) -> bytes:
        return b"data: [DONE]\n\n"


class _DecodedReplies:
    """For an API whose reply has no shortcut to its message or its key parts (a Chat message's
    arguments are text to parse, a Responses reply is a list of items): decode it whole."""

    def decode_response(self, body: Any) -> Response:
        raise NotImplementedError

    def decode_reply_message(self, body: Any) -> Message:
        return self.decode_response(body).message

    def reply_tool_calls(self, body: Any) -> ReplyCalls | None:
        return None


class ChatApi(_DecodedReplies):
    name: ApiName = "openai-chat"
    path = "/chat/completions"
    codec_format = openai_chat.FORMAT
    label = "OpenAI Chat Completions"

    def decode_request(self, body: Any) -> Conversation:
        return openai_chat.decode_request(body)

    def encode_request(
        self, conversation: Conversation, *, dialect: ReasoningDialect | None, losses: Losses | None = None
    ) -> JSONDict:
        return openai_chat.encode_request(conversation, dialect=dialect, losses=losses)

    def decode_response(self, body: Any) -> Response:
        decoded: Response = openai_chat.decode_response(body)
        return decoded

    def encode_response(self, response: Response, *, dialect: ReasoningDialect | None) -> JSONDict:
        return openai_chat.encode_response(response, dialect=dialect)

    def assembler(self) -> Assembler:
        return _ChatAssembler()

    def encoder(self, dialect: ReasoningDialect | None, hook: PayloadHook | None = None) -> Encoder:
        return _ChatEncoder(dialect, hook)

    def events(self, response: Response) -> list[StreamEvent]:
        return events_from_response(response)

    def error_body(self, error_type: str, message: str, code: str | None) -> JSONDict:
        return {"error": {"message": message, "type": error_type, "param": None, "code": code}}

    def error_event(self, error_type: str, message: str, code: str | None) -> bytes:
        return data_event(self.error_body(error_type, message, code)).encode()


# ------------------------------------------------------------------------------------ OpenAI Responses


class _ResponsesAssembler:
    def __init__(self) -> None:
        self._assembler = responses.StreamAssembler()
        self.ended = False

    def feed_data(self, data: str) -> list[StreamEvent]:
        events = self._assembler.feed(_loads(data))
        self.ended = self._assembler.done
        return events

    def finish(self) -> list[StreamEvent]:
        if not self.ended:
            self.ended = True
            self._assembler.finish()  # raises: no response.completed
        return []


class ResponsesApi(_DecodedReplies):
    name: ApiName = "openai-responses"
    path = "/responses"
    codec_format = responses.FORMAT
    label = "OpenAI Responses"

    def decode_request(self, body: Any) -> Conversation:
        return responses.decode_request(body)

    def encode_request(
        self, conversation: Conversation, *, dialect: ReasoningDialect | None, losses: Losses | None = None
    ) -> JSONDict:
        return responses.encode_request(conversation, losses=losses)

    def decode_response(self, body: Any) -> Response:
        return responses.decode_response(body)

    def encode_response(self, response: Response, *, dialect: ReasoningDialect | None) -> JSONDict:
        return responses.encode_response(response)

    def assembler(self) -> Assembler:
        return _ResponsesAssembler()

    def encoder(self, dialect: ReasoningDialect | None, hook: PayloadHook | None = None) -> Encoder:
        return _NamedEventEncoder(responses.StreamEncoder(), hook)

    def events(self, response: Response) -> list[StreamEvent]:
        # Item ids from the reply's own items: the SDK checks an item keeps its id from added to done.
        return list(responses.response_events(response))

    def error_body(self, error_type: str, message: str, code: str | None) -> JSONDict:
        return {"error": {"message": message, "type": error_type, "param": None, "code": code}}

    def error_event(self, error_type: str, message: str, code: str | None) -> bytes:
        # The Responses API's own error event, plus the nested "error" the official SDK raises on.
        payload = {
            "type": "error",
            "code": code or error_type,
            "message": message,
            "param": None,
            "sequence_number": 0,
            "error": {"type": error_type, "code": code, "message": message},
        }
        return named_event(payload).encode()


_APIS: dict[str, WireApi] = {
    "anthropic": AnthropicApi(),
    "openai-chat": ChatApi(),
    "openai-responses": ResponsesApi(),
}


def api(name: str) -> WireApi:
    """The :class:`WireApi` called ``name`` (one of :data:`API_NAMES`)."""
    try:
        return _APIS[name]
    except KeyError:
        raise ValueError(f"unknown API {name!r}; expected one of {', '.join(API_NAMES)}") from None


__all__ = [
    "API_NAMES",
    "ApiName",
    "Assembler",
    "Encoder",
    "PayloadHook",
    "StreamDataError",
    "StreamIncompleteError",
    "WireApi",
    "api",
]
