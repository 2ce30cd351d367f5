"""ModelClient: one model server behind a profile — encode, send, decode, nothing lost or faked.

``stream(conversation)`` yields format-neutral :mod:`interleaf.wire.events` and ends with
:class:`MessageEnd` carrying the whole :class:`Response`; ``complete(conversation)`` returns that
response. A reply that stops before its format's end marker raises
:class:`~interleaf.backends.errors.StreamCutError` and never produces a ``MessageEnd``: nothing
partial can look complete. Thinking goes back the way it arrived from this server, and the way the
profile says (``profile.thinking_dialect``) where it did not (:func:`_thinking_dialects`); whatever the
encoder could not carry is in :attr:`ModelClient.losses` (and passed to ``on_losses``).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from typing import Any

from interleaf.backends.errors import (
    BackendConfigError,
    BackendHTTPError,
    BackendProtocolError,
    BackendStreamError,
    StreamCutError,
    redact_url,
)
from interleaf.backends.http import HttpClient, RetryPolicy, StreamResponse, Timeouts
from interleaf.backends.profiles import Profile, get_profile
from interleaf.transcript import THINKING_BLOCKS, Block, Conversation, JSONDict, ReasoningDialect, Response
from interleaf.wire import anthropic, openai_chat
from interleaf.wire.errors import Losses, StreamIncompleteError, StreamServerError, WireError
from interleaf.wire.events import MessageEnd, StreamEvent, events_from_response
from interleaf.wire.openai_messages import OPENAI_DIALECTS
from interleaf.wire.stream import SSEDecoder, SSEEvent

__all__ = ["ModelClient"]


class ModelClient:
    """Talks to one model server as described by a :class:`Profile`.

    ``base_url``, ``model`` and ``api_key`` override the profile (the key otherwise comes from
    ``env[profile.key_env]``, ``env`` defaulting to ``os.environ``). ``fast=True`` picks the profile's
    fast model. Pass a shared :class:`HttpClient` as ``http`` to pool connections across clients (it
    is then not closed by :meth:`aclose`); otherwise one is created with ``timeouts`` and ``retry``.

    Request building never overrides what the conversation sets: its ``params`` win over the
    profile's model, sampling defaults and ``max_tokens``, and its wire fields over ``extra_body``.
    Only ``stream`` is set by the call (it decides how the answer is read).
    """

    def __init__(
        self,
        profile: Profile | str,
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        fast: bool = False,
        http: HttpClient | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        env: Mapping[str, str] | None = None,
        on_losses: Callable[[Losses], None] | None = None,
    ) -> None:
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        self.base_url = base_url or self.profile.base_url
        self.url = self.profile.url(self.base_url)
        self.model = model or (self.profile.fast_model if fast else None) or self.profile.model
        self._headers = _auth_headers(self.profile, self._api_key(api_key, env))
        self._http = http if http is not None else HttpClient(timeouts=timeouts, retry=retry)
        self._owns_http = http is None
        self.on_losses = on_losses
        self.losses = Losses()
        """What the last request's encoder could not carry (e.g. thinking an API cannot take back)."""

    def __repr__(self) -> str:  # never shows the key
        return (
            f"ModelClient(profile={self.profile.name!r}, url={redact_url(self.url)!r}, model={self.model!r})"
        )

    @property
    def http(self) -> HttpClient:
        return self._http

    async def __aenter__(self) -> ModelClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # ---------------------------------------------------------------------------------- calls

    async def complete(self, conversation: Conversation, *, stream: bool = False) -> Response:
        """The model's reply to ``conversation``; ``stream=True`` reads it as a stream (same result)."""
        if stream:
            final: Response | None = None
            async for event in self.stream(conversation):
                if isinstance(event, MessageEnd):
                    final = event.response
            if final is None:  # stream() raises before this can happen; kept as a guard
                raise StreamCutError(self.url, "the stream ended without a final message")
            return final
        body = await self.build_request(conversation, stream=False)
        try:
            answer = await self._http.post_json(self.url, body, headers=self._headers)
        except BackendHTTPError as exc:
            raise self._explain(exc) from None
        return self._decode_response(answer.data)

    async def stream(self, conversation: Conversation) -> AsyncIterator[StreamEvent]:
        """Stream the reply: events as they arrive, then :class:`MessageEnd` with the whole response.

        Raises StreamCutError (no MessageEnd) if the stream ends early, BackendStreamError if the
        server reports an error mid-stream, and the usual BackendError family before it starts.
        To stop early, iterate inside ``contextlib.aclosing(client.stream(...))`` so the connection is
        closed at once rather than when the generator is garbage-collected.
        """
        body = await self.build_request(conversation, stream=True)
        try:
            async with self._http.stream(self.url, body, headers=self._headers) as response:
                content_type = response.headers.get("Content-Type", "")
                if "event-stream" not in content_type and "json" in content_type:
                    # The server ignored "stream": true and answered with one JSON body.
                    raw = b"".join([chunk async for chunk in response.iter_bytes()])
                    for event in events_from_response(self._decode_response(_parse_json(raw, self.url))):
                        yield event
                    return
                async for event in self._events(response):
                    yield event
        except BackendHTTPError as exc:
            raise self._explain(exc) from None

    async def list_models(self) -> list[str]:
        """Model ids the server lists at ``GET …/v1/models``."""
        url = self.profile.models_url(self.base_url)
        try:
            answer = await self._http.get_json(url, headers=self._headers)
        except BackendHTTPError as exc:
            raise self._explain(exc) from None
        data = answer.data.get("data") if isinstance(answer.data, dict) else None
        if not isinstance(data, list):
            raise BackendProtocolError(url, "the model list has no 'data' array")
        return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]

    async def build_request(self, conversation: Conversation, *, stream: bool) -> JSONDict:
        """The exact wire body that would be sent for ``conversation`` (profile defaults applied)."""
        params = dict(conversation.params)
        if params.get("model") is None:
            params["model"] = await self._default_model()
        for key, value in self.profile.sampling.items():
            params.setdefault(key, value)
        if self.profile.max_tokens is not None:
            params.setdefault("max_tokens", self.profile.max_tokens)
        params["stream"] = stream
        prepared = replace(conversation, params=params)
        losses = Losses()
        if self.profile.api == "anthropic":
            body = anthropic.encode_request(prepared, losses=losses)
        else:
            prepared, dialect = _thinking_dialects(prepared, self.profile, losses)
            body = openai_chat.encode_request(prepared, dialect=dialect, losses=losses)
            if stream:
                body.setdefault("stream_options", {"include_usage": True})
        for key, value in self.profile.extra_body.items():
            body.setdefault(key, value)
        self.losses = losses
        if losses and self.on_losses is not None:
            self.on_losses(losses)
        return body

    # ------------------------------------------------------------------------------- internals

    def _api_key(self, explicit: str | None, env: Mapping[str, str] | None) -> str | None:
        key_env = self.profile.key_env
        key = explicit or (os.environ if env is None else env).get(key_env or "", "") or None
        if key is None and self.profile.key_required:
            where = f"set {key_env}" if key_env else "pass api_key"
            raise BackendConfigError(
                f"the {self.profile.name!r} backend needs an API key and none was found: "
                f"{where} (the profile's key_env, or key_env in [profiles.NAME] of the config)"
            )
        return key

    async def _default_model(self) -> str:
        if self.model is not None:
            return self.model
        if self.profile.discover_model:
            models = await self.list_models()
            if models:
                self.model = models[0]
                return self.model
            raise BackendConfigError(
                f"the server at {redact_url(self.profile.models_url(self.base_url))} lists no models; "
                "pass a model name (--model)"
            )
        raise BackendConfigError(
            f"the {self.profile.name!r} profile has no default model; pass a model name (--model)"
        )

    async def _events(self, response: StreamResponse) -> AsyncIterator[StreamEvent]:
        openai = self.profile.api == "openai-chat"
        assembler: Any = openai_chat.StreamAssembler() if openai else anthropic.StreamAssembler()
        decoder = SSEDecoder()

        def handle(sse: SSEEvent, *, trailing: bool) -> list[StreamEvent]:
            if openai and sse.data.strip() == "[DONE]":
                events: list[StreamEvent] = assembler.done()
                return events
            try:
                payload = json.loads(sse.data)
            except ValueError as exc:
                if trailing:  # the body ended inside an event: a cut, not a malformed server
                    raise StreamCutError(self.url, "the stream ended in the middle of an event") from None
                snippet = sse.data[:200]
                raise BackendProtocolError(
                    self.url, f"a stream event's data is not valid JSON ({exc}); it begins {snippet!r}"
                ) from None
            events = assembler.feed(payload)
            return events

        try:
            async for chunk in response.iter_bytes():
                for sse in decoder.feed(chunk):
                    for event in handle(sse, trailing=False):
                        yield event
                        if isinstance(event, MessageEnd):
                            return  # the format's end: anything after it is not part of the reply
            for sse in decoder.flush():
                for event in handle(sse, trailing=True):
                    yield event
                    if isinstance(event, MessageEnd):
                        return
            # The body ended without the format's end event: OpenAI's finish_reason without [DONE]
            # still completes a reply (done() emits the last BlockEnds); anything else raises.
            for event in assembler.done() if openai else [MessageEnd(assembler.finish())]:
                yield event
        except StreamIncompleteError as exc:
            raise StreamCutError(self.url, str(exc)) from None
        except StreamServerError as exc:
            raise BackendStreamError(exc.error_type, exc.message, url=self.url) from None
        except WireError as exc:
            raise BackendProtocolError(
                self.url, f"a stream event is not valid {self.profile.api} ({exc})"
            ) from None

    def _decode_response(self, data: Any) -> Response:
        _raise_minimax_error(data, self.url)
        try:
            if self.profile.api == "anthropic":
                return anthropic.decode_response(data)
            decoded: Response = openai_chat.decode_response(data)
            return decoded
        except StreamServerError as exc:
            raise BackendHTTPError(200, exc.message, url=self.url, error_type=exc.error_type) from None
        except WireError as exc:
            raise BackendProtocolError(
                self.url, f"the reply is not a valid {self.profile.api} response ({exc})"
            ) from None

    def _explain(self, exc: BackendHTTPError) -> BackendHTTPError:
        """Sharpen the hint with what only the client knows (which env var, which model)."""
        if isinstance(exc, BackendStreamError):
            return exc
        if exc.status in (401, 403):
            sent = any(k.lower() in ("authorization", "x-api-key") for k in self._headers)
            where = self.profile.key_env or "--api-key"
            exc.with_hint(
                f"check the API key in {where}" if sent else f"the server wants an API key: set {where}"
            )
        elif exc.status == 404:
            exc.with_hint(
                f"check --base-url ({redact_url(self.base_url or '')}) and the model name ({self.model!r})"
            )
        return exc


def _auth_headers(profile: Profile, key: str | None) -> dict[str, str]:
    headers = dict(profile.headers)
    if key is None or profile.auth == "none":
        return headers
    if profile.auth == "x-api-key":
        headers["x-api-key"] = key
    else:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def _thinking_dialects(
    conversation: Conversation, profile: Profile, losses: Losses
) -> tuple[Conversation, ReasoningDialect | None]:
    """Where each earlier thinking block goes back (rule 6 of docs/agent.md), as the conversation to
    encode and the ``dialect`` to encode it with (``None``: each block as its ``dialect`` says).

    A block goes back the way it arrived from this backend: inline ``<think>``, a ``reasoning_details``
    item, ``reasoning`` or ``reasoning_content``. The profile's ``thinking_dialect`` decides only for
    blocks with no arrival dialect for this backend; when it is ``None`` (the API takes no reasoning
    back, hosted OpenAI Chat) those are left out, each omission recorded. Only a conversation whose
    messages came from OpenAI Chat (``source``) carries arrival dialects for an OpenAI-compatible
    server: the agent's does, its history from other backends stripped of them (``agent.session``).
    Any other conversation, hand-built or from another format, goes back wholly the profile's way.
    """
    target = profile.thinking_dialect
    native = conversation.source == openai_chat.FORMAT
    if not native and target is not None:
        return conversation, target

    def arrived_elsewhere(block: Block) -> bool:
        return isinstance(block, THINKING_BLOCKS) and not (native and block.dialect in OPENAI_DIALECTS)

    messages = []
    for i, message in enumerate(conversation.messages):
        if message.role == "assistant" and any(arrived_elsewhere(b) for b in message.blocks):
            blocks: list[Block] = []
            for j, block in enumerate(message.blocks):
                if isinstance(block, THINKING_BLOCKS) and arrived_elsewhere(block):
                    if target is None:
                        losses.add(
                            f"messages[{i}].blocks[{j}]",
                            f"thinking not sent: the {profile.name} API takes no reasoning back",
                        )
                        continue
                    block = replace(block, dialect=target)
                blocks.append(block)
            message = replace(message, blocks=tuple(blocks))
        messages.append(message)
    return conversation.with_messages(messages), None


def _parse_json(raw: bytes, url: str, *, streamed: bool = False) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        where = "a stream event's data" if streamed else "the body"
        snippet = raw[:200].decode("utf-8", errors="replace")
        raise BackendProtocolError(url, f"{where} is not valid JSON ({exc}); it begins {snippet!r}") from None


def _raise_minimax_error(data: Any, url: str) -> None:
    """MiniMax can answer HTTP 200 with ``base_resp.status_code != 0`` and no reply: that is an error."""
    if not isinstance(data, dict) or data.get("choices") or data.get("content"):
        return
    base = data.get("base_resp")
    if isinstance(base, dict) and base.get("status_code") not in (0, None):
        raise BackendHTTPError(
            200,
            str(base.get("status_msg") or "error without a message"),
            url=url,
            error_type=f"minimax_{base.get('status_code')}",
        )
