"""Forwarding a prepared request upstream and the upstream's answer back, whole or streamed.

Same format on both sides: the upstream's body goes to the client as it came (after a JSON check, so
a malformed body becomes a clear 502 rather than a client-side parse error). Different formats: the
reply is decoded and re-encoded in the client's format. Either way the reply is captured before the
response leaves: queued and stored by the capture worker afterwards, or, on a store shared by
replicas, written first (:meth:`~interleaf.gateway.capture.CaptureQueue.capture`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from starlette.responses import Response

from interleaf.backends.errors import BackendError, BackendHTTPError
from interleaf.backends.http import HttpClient, HttpResponse
from interleaf.backends.reasoning_summary import without_summary
from interleaf.gateway import compaction
from interleaf.gateway.capture import CaptureJob, CaptureQueue
from interleaf.gateway.config import ClientFormat
from interleaf.gateway.errors import GatewayError, from_backend, passed_headers, unstored_reply
from interleaf.gateway.formats import client_encoder, decode_response, encode_response, fresh_reply_id
from interleaf.gateway.jsonio import json_bytes, loads
from interleaf.gateway.metrics import Metrics
from interleaf.gateway.relay import StreamRelay
from interleaf.gateway.upstream import Upstream
from interleaf.transcript import Conversation, ReasoningDialect
from interleaf.transcript import Response as Reply
from interleaf.wire.apis import PayloadHook, api
from interleaf.wire.errors import WireError

log = logging.getLogger("interleaf.gateway")


@dataclass(slots=True)
class Prepared:
    """A client request ready to go upstream."""

    fmt: ClientFormat
    raw: bytes
    """The client's body as it came (parsed again by the capture worker only when needed)."""
    conversation: Conversation | None
    upstream_body: bytes
    headers: dict[str, str]
    stream: bool
    tenant: str | None
    url: str
    restored: int = 0
    missing: int = 0
    foreign: int = 0
    for_client: Callable[[Reply], Reply] | None = None
    """What the client gets of a reply, when not the reply itself (the gateway's thinking tokens)."""
    payload_hook: PayloadHook | None = None
    """Changes each encoded payload for the client (the gateway's tokens on Responses reasoning items)."""
    user_agent: str = ""
    model: str | None = None
    turns: int = 0
    """Earlier assistant turns in the request (counted only when someone looks: observers, --record)."""
    restored_at: tuple[int, ...] = ()
    """Decoded message indices of the turns restored, missing and foreign (for --record)."""
    missing_at: tuple[int, ...] = ()
    foreign_at: tuple[int, ...] = ()
    compaction: bool = False
    """Codex's compaction request, answered with a summary (:meth:`Forwarder.compact`)."""

    def interleaf_headers(self) -> dict[str, str]:
        return {
            "x-interleaf-restored": str(self.restored),
            "x-interleaf-missing": str(self.missing),
            "x-interleaf-foreign": str(self.foreign),
        }

    def capture(
        self, upstream_api: str, reply: Reply | None = None, data: Any = None, body: bytes | None = None
    ) -> CaptureJob | None:
        """The capture job of the reply to this request (``reply``, or the upstream's parsed JSON
        ``data``: parsed once, decoded only by capture, and stored as the ``body`` it was parsed
        from); None without a tenant (nothing is stored)."""
        if self.tenant is None:
            return None
        return CaptureJob(
            tenant=self.tenant,
            fmt=self.fmt,
            upstream_api=upstream_api,
            request=self.raw,
            conversation=self.conversation,
            reply=reply,
            reply_data=data,
            reply_body=body,
        )


class Forwarder:
    """Sends prepared requests upstream and turns the answers into client responses."""

    def __init__(
        self,
        http: HttpClient,
        upstream: Upstream,
        captures: CaptureQueue,
        metrics: Metrics,
        dialect: ReasoningDialect,
        *,
        log_content: bool = False,
    ) -> None:
        self._log_content = log_content
        self._http = http
        self._upstream = upstream
        self._captures = captures
        self._metrics = metrics
        self._dialect = dialect

    async def _capture(self, job: CaptureJob | None) -> bool:
        """Capture the reply; False when it had to be written first (a shared or durable store) and
        the write failed."""
        if job is None:
            return True
        if self._log_content and log.isEnabledFor(logging.DEBUG):
            reply = job.reply if job.reply is not None else job.reply_data
            log.debug("upstream reply (--log-content): %r", reply)
        return await self._captures.capture(job)

    async def _answer(self, call: Prepared) -> tuple[HttpResponse, Any]:
        """The upstream's whole answer to ``call`` and its parsed JSON (a 200 that holds an error, as some
        profiles send, is an error)."""
        try:
            answer = await self._http.request("POST", call.url, call.upstream_body, headers=call.headers)
        except BackendError as exc:
            if not self._resend_without_summary(call, exc):
                raise self._failed(exc) from None
            try:
                answer = await self._http.request("POST", call.url, call.upstream_body, headers=call.headers)
            except BackendError as again:
                raise self._failed(again) from None
        try:
            data = loads(answer.content)
        except ValueError as exc:
            self._metrics.upstream_errors.inc("protocol")
            snippet = answer.content[:120].decode("utf-8", errors="replace")
            raise GatewayError(
                502,
                f"the upstream answered HTTP {answer.status} with a body that is not JSON ({exc}); "
                f"it begins {snippet!r}. Check --base-url and --profile.",
                code="upstream_protocol",
                kind="protocol",
            ) from None
        try:
            self._upstream.backend.check_reply(data, call.url)  # an error inside an HTTP 200
        except BackendError as exc:
            raise self._failed(exc) from None
        return answer, data

    def _reply(self, data: Any) -> Reply:
        try:
            return decode_response(self._upstream.api, data)
        except WireError as exc:
            self._metrics.upstream_errors.inc("protocol")
            raise GatewayError(
                502, f"the upstream's reply is not a valid {self._upstream.api} response: {exc}"
            ) from None

    async def whole(self, call: Prepared) -> Response:
        """A non-streamed request: the upstream's reply, in the client's format."""
        upstream = self._upstream
        answer, data = await self._answer(call)
        headers = {**passed_headers(answer.headers), **call.interleaf_headers()}
        if call.fmt == upstream.api:
            if not await self._capture(call.capture(upstream.api, data=data, body=answer.content)):
                raise unstored_reply()
            return Response(answer.content, answer.status, headers, media_type="application/json")
        reply = self._reply(data)
        if not await self._capture(call.capture(upstream.api, reply=reply)):
            raise unstored_reply()
        shown = call.for_client(reply) if call.for_client is not None else reply
        encoded = encode_response(call.fmt, replace(shown, id=fresh_reply_id(call.fmt)), self._dialect)
        if call.payload_hook is not None:
            call.payload_hook(encoded)
        body = json_bytes(encoded)
        return Response(body, answer.status, headers, media_type="application/json")

    async def compact(self, call: Prepared) -> Response:
        """Codex's compaction request, on an upstream without the Responses API: the upstream's summary
        of the conversation, as the one compaction item Codex takes back (:mod:`.compaction`), streamed
        or whole as asked. Not captured: no client sends a summary back as a turn."""
        answer, data = await self._answer(call)
        reply = self._reply(data)
        summary = compaction.summary_of(reply)
        if not summary:
            self._metrics.upstream_errors.inc("protocol")
            raise GatewayError(
                502,
                "the upstream wrote no summary when asked to compact the conversation; retry",
                code="upstream_protocol",
                kind="protocol",
            )
        out = compaction.compaction_reply(
            summary, model=reply.model or call.model, usage=reply.usage, source=reply.source
        )
        log.info("compacted a conversation into a summary of %d characters", len(summary))
        headers = {**passed_headers(answer.headers), **call.interleaf_headers()}
        if call.stream:
            encoder = client_encoder(call.fmt, self._dialect)
            body = encoder.encode(api(call.fmt).events(out)) + encoder.end()
            headers["cache-control"] = "no-cache"
            return Response(body, 200, headers, media_type="text/event-stream; charset=utf-8")
        encoded = encode_response(call.fmt, out, self._dialect)
        return Response(json_bytes(encoded), 200, headers, media_type="application/json")

    async def stream(self, call: Prepared, on_end: Callable[[str, float], None]) -> StreamRelay:
        """A streamed request: opened here (so an upstream error status becomes a normal error
        response), relayed by the returned response."""
        stack = contextlib.AsyncExitStack()
        for last in (False, True):
            try:
                response = await stack.enter_async_context(
                    self._http.stream(call.url, call.upstream_body, headers=call.headers)
                )
                break
            except BackendError as exc:
                await stack.aclose()
                if last or not self._resend_without_summary(call, exc):
                    raise self._failed(exc) from None
            except BaseException:
                await stack.aclose()
                raise

        json_body = None
        content_type = response.headers.get("Content-Type", "")
        if "event-stream" not in content_type and "json" in content_type:
            # The upstream answered the stream request with one JSON body: read it now, so an error
            # inside it (a profile quirk: MiniMax's base_resp) is a normal error response, not an
            # error event after a 200.
            try:
                json_body = b"".join([chunk async for chunk in response.iter_bytes()])
                with contextlib.suppress(ValueError):
                    self._upstream.backend.check_reply(loads(json_body), call.url)
            except BackendError as exc:
                await stack.aclose()
                raise self._failed(exc) from None
            except BaseException:
                await stack.aclose()
                raise

        async def on_reply(reply: Reply) -> bool:
            return await self._capture(call.capture(self._upstream.api, reply=reply))

        headers = {
            **passed_headers(response.headers),
            **call.interleaf_headers(),
            "cache-control": "no-cache",
        }
        return StreamRelay(
            upstream=response,
            close_upstream=stack.aclose,
            client_format=call.fmt,
            upstream_format=self._upstream.api,
            dialect=self._dialect,
            headers=headers,
            metrics=self._metrics,
            on_reply=on_reply,
            on_end=on_end,
            hold_end=self._captures.write_through,
            for_client=call.for_client,
            payload_hook=call.payload_hook,
            json_body=json_body,
        )

    def _resend_without_summary(self, call: Prepared, exc: BackendError) -> bool:
        """Whether ``call`` is to be sent again, now without the reasoning summary the upstream
        refused (an organization OpenAI has not verified: :mod:`interleaf.backends.reasoning_summary`).
        Only a summary the gateway asked for: an app's own request goes as the app sent it."""
        if call.fmt == self._upstream.api or not isinstance(exc, BackendHTTPError):
            return False
        if not self._upstream.backend.summary_refused(exc, call.headers):
            return False
        body = without_summary(call.upstream_body)
        if body is None:
            return False
        log.warning(
            "the upstream refused a reasoning summary (%s): this key's requests go without one from now on, "
            "so apps show no thinking text from this model; a verified OpenAI organization gets summaries",
            exc.server_message[:200],
        )
        call.upstream_body = body
        return True

    def _failed(self, exc: BackendError) -> GatewayError:
        error = from_backend(exc, self._upstream.api)
        self._metrics.upstream_errors.inc(error.kind)
        return error
