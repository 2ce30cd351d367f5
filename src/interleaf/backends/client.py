"""ModelClient: one model server behind a profile — encode, send, decode, nothing lost or faked.

``stream(conversation)`` yields format-neutral :mod:`interleaf.wire.events` and ends with
:class:`MessageEnd` carrying the whole :class:`Response`; ``complete(conversation)`` returns that
response. A reply that stops before its format's end marker raises
:class:`~interleaf.backends.errors.StreamCutError` and never produces a ``MessageEnd``: nothing
partial can look complete. Every wire decision (URL, headers, request body, reading replies, the
server's quirks) is the profile's :class:`~interleaf.backends.adapter.Backend`, shared with the gateway;
the client replays thinking the way it arrived from this server (``replay="as-arrived"``; an explicit
``--thinking-dialect`` makes it ``"profile"``, every block that way) and asks
with the profile's recommended settings. Whatever the encoder could not carry is in
:attr:`ModelClient.losses` (and passed to ``on_losses``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from typing import Any

from interleaf.backends.adapter import Backend, Replay
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
from interleaf.backends.reasoning_summary import credential_of
from interleaf.transcript import Conversation, JSONDict, Response
from interleaf.wire.apis import StreamDataError
from interleaf.wire.errors import Losses, StreamIncompleteError, StreamServerError, WireError
from interleaf.wire.events import MessageEnd, StreamEvent
from interleaf.wire.stream import SSEDecoder, SSEEvent

log = logging.getLogger("interleaf.backends")

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
        replay: Replay = "as-arrived",
    ) -> None:
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        self.backend = Backend(self.profile, base_url)
        self.base_url = self.backend.base_url
        self.url = self.backend.url
        self.model = model or (self.profile.fast_model if fast else None) or self.profile.model
        self._headers = self.backend.headers(self._api_key(api_key, env), model=self.model)
        self._http = http if http is not None else HttpClient(timeouts=timeouts, retry=retry)
        self._owns_http = http is None
        self.on_losses = on_losses
        self.replay: Replay = replay
        """Where earlier thinking goes back: as it arrived from this server, or all the profile's way."""
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
            if not self._summary_refused(body, exc):
                raise self._explain(exc) from None
            try:
                answer = await self._http.post_json(self.url, body, headers=self._headers)
            except BackendHTTPError as again:
                raise self._explain(again) from None
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
            async with contextlib.AsyncExitStack() as stack:
                try:
                    response = await stack.enter_async_context(
                        self._http.stream(self.url, body, headers=self._headers)
                    )
                except BackendHTTPError as exc:
                    if not self._summary_refused(body, exc):
                        raise
                    response = await stack.enter_async_context(
                        self._http.stream(self.url, body, headers=self._headers)
                    )
                content_type = response.headers.get("Content-Type", "")
                if "event-stream" not in content_type and "json" in content_type:
                    # The server ignored "stream": true and answered with one JSON body.
                    raw = b"".join([chunk async for chunk in response.iter_bytes()])
                    for event in self.backend.wire.events(self._decode_response(_parse_json(raw, self.url))):
                        yield event
                    return
                async for event in self._events(response):
                    yield event
        except BackendHTTPError as exc:
            raise self._explain(exc) from None

    async def list_models(self) -> list[str]:
        """Model ids the server lists at ``GET …/v1/models``."""
        url = self.backend.models_url
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
        losses = Losses()
        body = self.backend.encode(
            replace(conversation, params=params),
            stream=stream,
            replay=self.replay,
            defaults="recommended",
            losses=losses,
            credential=credential_of(self._headers),
        )
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
        assembler = self.backend.assembler()
        decoder = SSEDecoder()

        def handle(sse: SSEEvent, *, trailing: bool) -> list[StreamEvent]:
            try:
                return assembler.feed_data(sse.data)
            except StreamDataError as exc:
                if trailing:  # the body ended inside an event: a cut, not a malformed server
                    raise StreamCutError(self.url, "the stream ended in the middle of an event") from None
                raise BackendProtocolError(self.url, str(exc)) from None

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
            # still completes a reply; anything else raises StreamIncompleteError.
            for event in assembler.finish():
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
        self.backend.check_reply(data, self.url)
        try:
            return self.backend.wire.decode_response(data)
        except StreamServerError as exc:
            raise BackendHTTPError(200, exc.message, url=self.url, error_type=exc.error_type) from None
        except WireError as exc:
            raise BackendProtocolError(
                self.url, f"the reply is not a valid {self.profile.api} response ({exc})"
            ) from None

    def _summary_refused(self, body: JSONDict, exc: BackendHTTPError) -> bool:
        """Whether ``exc`` refused the reasoning summary ``body`` asked for; if so, it is taken out of
        ``body``, which goes again, and that key is asked no more
        (:mod:`interleaf.backends.reasoning_summary`)."""
        reasoning = body.get("reasoning")
        if not isinstance(reasoning, dict) or "summary" not in reasoning:
            return False
        if not self.backend.summary_refused(exc, self._headers):
            return False
        del reasoning["summary"]
        log.warning(
            "%s refused a reasoning summary (%s): asking without one from now on, so no thinking text "
            "is recorded from this model; a verified OpenAI organization gets summaries",
            redact_url(self.url),
            exc.server_message[:200],
        )
        return True

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


def _parse_json(raw: bytes, url: str, *, streamed: bool = False) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        where = "a stream event's data" if streamed else "the body"
        snippet = raw[:200].decode("utf-8", errors="replace")
        raise BackendProtocolError(url, f"{where} is not valid JSON ({exc}); it begins {snippet!r}") from None
