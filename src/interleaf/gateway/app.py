"""The gateway app: routes, lifespan, and the request pipeline that ties the modules together.

``POST /v1/messages`` (Anthropic clients) and ``POST /v1/chat/completions`` (OpenAI clients) both go:
identify the caller (:mod:`.auth`) -> read the body (size-limited) -> restore dropped thinking
(:mod:`.restore`) -> forward whole or streamed (:mod:`.forward`, :mod:`.relay`) -> capture the reply
(:mod:`.capture`). ``GET /v1/models``, ``GET /healthz`` and ``GET /metrics`` are small.

A request whose format matches the upstream's and whose earlier turns all still carry their thinking
is forwarded byte for byte without being decoded; the gateway's cost is then a JSON parse and a scan.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from interleaf.backends.http import HttpClient, RetryPolicy
from interleaf.gateway import compaction, endpoints
from interleaf.gateway.auth import Authenticator, Identity
from interleaf.gateway.capture import CaptureQueue
from interleaf.gateway.config import ClientFormat, ServeOptions
from interleaf.gateway.endpoints import read_body
from interleaf.gateway.errors import NOTHING_RESTORED, GatewayError, error_bytes, error_response
from interleaf.gateway.formats import decode_request, wire_index
from interleaf.gateway.forward import Forwarder, Prepared
from interleaf.gateway.headers import IndexedHeaders
from interleaf.gateway.jsonio import BodyError, json_text, loads_body
from interleaf.gateway.limits import LimitExceeded, check_conversation
from interleaf.gateway.metrics import Metrics, user_agent_label
from interleaf.gateway.relay import SERVER_SEND
from interleaf.gateway.restore import RestoreOutcome, candidates, moves_thinking, raw_needs_check, restore
from interleaf.gateway.signing import ThinkingSigner
from interleaf.gateway.upstream import Upstream
from interleaf.store.fingerprint import tenant_id
from interleaf.store.open import open_store
from interleaf.store.thinking import StoreError, ThinkingStore
from interleaf.store.traffic import QUEUE_SIZE as TRAFFIC_QUEUE_SIZE
from interleaf.store.traffic import TrafficRecorder
from interleaf.transcript import Response as Reply
from interleaf.wire.apis import PayloadHook

log = logging.getLogger("interleaf.gateway")

MESSAGES = "/v1/messages"
CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
# A generation must not run twice: only a connection that never opened is retried (once). A request
# the upstream may have read (a pooled connection it closed, a reset) and error statuses go back to the
# client, whose SDK decides, as it would talking to the upstream directly.
UPSTREAM_RETRY = RetryPolicy(max_retries=1, statuses=frozenset(), unsent_only=True)
_LABELS_MAX = 10_000
IDLE_TIDY_SECONDS = 2.0
CLIENT_CLOSED = 499
"""The status a request is counted under when its client hung up before it was read (nginx's 499)."""


@dataclass(frozen=True, slots=True)
class RequestReport:
    """What one request brought back of its earlier assistant turns.

    ``kept``: the client sent the turn's thinking back usable as it is. ``restored``: it did not, and
    the gateway put the stored thinking back. ``missing``: it did not, this gateway served it, and its
    thinking is gone (expired, store down). ``foreign``: it did not, and this gateway never served it (an
    app's own synthetic turn, history from before the gateway). The rest of the ``turns`` had no thinking
    to lose (the stored original had none either).
    """

    client_format: ClientFormat
    user_agent: str
    stream: bool
    turns: int
    kept: int
    restored: int
    missing: int
    foreign: int = 0


def _earlier_assistant_turns(roles: list[Any]) -> int:
    """Assistant turns before the end (a trailing assistant message is a prefill, not an earlier turn)."""
    count = sum(1 for role in roles if role == "assistant")
    return count - 1 if roles and roles[-1] == "assistant" else count


class Gateway:
    """The gateway's state (store, upstream pool, capture queue, metrics) and its endpoints."""

    def __init__(
        self,
        options: ServeOptions,
        *,
        store: ThinkingStore | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.options = options
        self.metrics = Metrics()
        profile = options.profile
        self.auth = Authenticator.from_options(
            options.keys_file, options.upstream_key_env or profile.key_env, profile.key_required, env
        )
        self.upstream = Upstream(profile, options.model_map)
        self.store = (
            store
            if store is not None
            else open_store(options.store_url, ttl=options.ttl, durable=options.durable)
        )
        self.http = HttpClient(
            timeouts=options.timeouts,
            retry=UPSTREAM_RETRY,
            limit=options.upstream_connections,
            keepalive=options.upstream_keepalive,
            idle_limit=options.upstream_idle_connections,
        )
        self.captures = CaptureQueue(
            self.store,
            self.metrics,
            max_pending=options.capture_backlog,
            max_pending_bytes=options.capture_backlog_bytes,
            ttl=options.ttl,
            durable=options.durable,
            text_keys=options.text_match,
        )
        self.inflight = 0
        """Generation requests being answered now (streams until their last byte)."""
        self.forwarder = Forwarder(
            self.http,
            self.upstream,
            self.captures,
            self.metrics,
            options.client_dialect,
            log_content=options.log_content,
        )
        self.observers: list[Callable[[RequestReport], None]] = []
        """Called with what each request brought back (``interleaf probe client`` listens here)."""
        self._secret: bytes | None = None
        self.signer: ThinkingSigner | None = None
        """Signs thinking for Anthropic clients of a non-Anthropic upstream (gateway/signing.py)."""
        self._labels: dict[str, str] = {}
        self._tenants: dict[tuple[str, str], str] = {}
        self._last_store_warning = 0.0
        self._unserved_logged: dict[str, float] = {}
        self._tidy: asyncio.Task[None] | None = None
        self._not_recorded_said = -60.0  # when a request --record could not keep was last logged
        self.traffic = TrafficRecorder(options.record_path) if options.record else None
        """Recorded requests for ``interleaf view`` (``--record``; off by default)."""

    # ------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self._tidy = asyncio.create_task(self._tidy_when_idle(), name="interleaf-tidy")
        self.captures.start()
        await self._tenant_secret()  # early, so a misconfigured store shows in the log at start-up

    async def stop(self) -> None:
        if self._tidy is not None:
            self._tidy.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tidy
        await self.captures.aclose()
        await self.http.aclose()
        await self.store.aclose()
        if self.traffic is not None:
            await asyncio.to_thread(self.traffic.close)

    # -------------------------------------------------------------------------------- tenants

    async def _tenant_secret(self) -> bytes | None:
        if self._secret is None:
            try:
                self._secret = await self.store.tenant_secret()
                self.signer = ThinkingSigner(self._secret)
            except StoreError as exc:
                self.metrics.store_errors.inc("secret")
                self._store_warning(f"thinking store unavailable, serving without restoration: {exc}")
        return self._secret

    def unserved(self, what: str, request: Request) -> None:
        """Count (and log, once a minute per kind) a request for a path or feature this gateway does not
        serve, by client app, so an operator sees which app is not served."""
        agent = user_agent_label(request.headers.get("user-agent"))
        self.metrics.unserved.inc(what, agent)
        now = time.monotonic()
        if now - self._unserved_logged.get(what, -60.0) > 60.0:
            self._unserved_logged[what] = now
            log.warning("not served: %s %s (%s), from %s", request.method, request.url.path, what, agent)

    def _store_warning(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_store_warning > 10.0:
            self._last_store_warning = now
            log.warning(message)

    @property
    def has_tenant_secret(self) -> bool:
        return self._secret is not None

    def _tenant(self, credential: str, scope: str) -> str | None:
        """The tenant id of a credential under an upstream scope (memoised: an HMAC per request adds up)."""
        if self._secret is None:
            return None
        tenant = self._tenants.get((credential, scope))
        if tenant is None:
            if len(self._tenants) >= _LABELS_MAX:
                self._tenants.clear()
            tenant = self._tenants[(credential, scope)] = tenant_id(credential, self._secret, scope=scope)
        return tenant

    def _tenant_label(self, credential: str) -> str:
        label = self._labels.get(credential)
        if label is None:
            if self._secret is None:
                return "unknown"
            if len(self._labels) >= _LABELS_MAX:
                self._labels.clear()
            label = self._labels[credential] = tenant_id(credential, self._secret, scope="metrics")[3:15]
        return label

    # ------------------------------------------------------------------------------- pipeline

    async def _prepare(self, request: Request, fmt: ClientFormat, identity: Identity) -> Prepared:
        raw = await read_body(request, self.options.max_body, self.options.header_timeout)
        try:
            body = loads_body(raw)
        except BodyError as exc:
            raise GatewayError(400, str(exc)) from None
        if self.options.log_content and log.isEnabledFor(logging.DEBUG):
            log.debug("request body (--log-content): %s", raw.decode("utf-8", errors="replace"))
        upstream = self.upstream
        model = upstream.model(body.get("model"))
        stream = body.get("stream")
        if stream is not None and not isinstance(stream, bool):
            raise GatewayError(400, f"stream must be true or false, not {json_text(stream)[:40]}")
        stream = stream is True
        if fmt == "openai-responses" and body.get("previous_response_id") and upstream.api != fmt:
            self.unserved("previous_response_id", request)
            raise GatewayError(
                400,
                "previous_response_id needs an upstream that keeps Responses state; this gateway fronts "
                f"the {upstream.profile.name!r} profile ({upstream.api}), which does not. Send the whole "
                "conversation in input (store: false), as Codex does.",
                code="unsupported_parameter",
            )
        if self._secret is None:
            await self._tenant_secret()
        tenant = self._tenant(identity.credential, upstream.scope(model))
        headers = upstream.headers(identity, request.headers, fmt, model)
        same = fmt == upstream.api
        url = upstream.url
        query = request.scope.get("query_string")
        if same and query and fmt == "anthropic":  # the SDK's beta client sends ?beta=true
            url += "?" + query.decode("latin-1")
        user_agent = request.headers.get("user-agent", "")
        if same and not raw_needs_check(fmt, body, upstream.dialect):
            upstream_body = upstream.passthrough_body(raw, body, model)
            turns = 0
            if self.observers or self.traffic is not None:
                turns = _earlier_assistant_turns([m.role for m in decode_request(fmt, body).messages])
            if self.observers:
                self._observe(request, fmt, stream, turns, kept=turns)
            return Prepared(
                fmt,
                raw,
                None,
                upstream_body,
                headers,
                stream,
                tenant,
                url,
                user_agent=user_agent,
                model=model,
                turns=turns,
            )

        conversation = decode_request(fmt, body)
        try:
            check_conversation(conversation, self.options.limits)
        except LimitExceeded as exc:
            raise GatewayError(400, str(exc), code="request_limit_exceeded") from None
        signs = fmt == "anthropic" and upstream.api != "anthropic" and tenant is not None
        seals = fmt == "openai-responses" and upstream.api != fmt and tenant is not None
        if signs and self.signer is not None and tenant is not None:
            conversation = self.signer.redeem(tenant, conversation).conversation
        if seals and self.signer is not None and tenant is not None:
            conversation = self.signer.redeem_responses(tenant, conversation).conversation
        compacting = False
        if fmt == "openai-responses" and not same:  # a Responses upstream compacts by itself
            conversation = compaction.expand(conversation)
            compacting = compaction.requested(body)
            if compacting:
                conversation = compaction.without_trigger(conversation)
        indices = candidates(conversation, upstream.dialect)
        outcome = await restore(
            conversation,
            indices,
            self.store,
            tenant,
            self.captures,
            dialect=upstream.dialect,
            text_keys=self.options.text_match,
        )
        if outcome.store_error is not None:
            # Which turns are this gateway's to restore cannot be known now: forwarding them bare
            # would silently lose thinking it may hold. Refuse loudly; the client retries.
            if tenant is not None:
                self.metrics.store_errors.inc("get")
            self.metrics.rejected.inc("store_unavailable")
            self._store_warning(
                f"thinking store lookup failed, requests refused with 503: {outcome.store_error}"
            )
            raise GatewayError(
                503,
                "the interleaf gateway cannot read its thinking store right now, so it cannot restore the "
                f"thinking of {len(indices)} earlier turn(s); retry the request",
                code="store_unavailable",
                headers={"retry-after": "1"},
            )
        if compacting:
            upstream_body = upstream.encode(
                compaction.summary_request(outcome.conversation), model, stream=False, headers=headers
            )
        elif same and not outcome.restored and not moves_thinking(conversation, upstream.dialect):
            # Nothing to add and nothing in the wrong place: the client's bytes, exactly.
            upstream_body = upstream.passthrough_body(raw, body, model)
        else:
            upstream_body = upstream.encode(outcome.conversation, model, stream=stream, headers=headers)
        call = Prepared(
            fmt,
            raw,
            conversation,
            upstream_body,
            headers,
            stream,
            tenant,
            url,
            len(outcome.restored),
            len(outcome.missing),
            len(outcome.foreign),
            for_client=self._signed_for(tenant) if signs else None,
            payload_hook=self._sealed_for(tenant) if seals else None,
            user_agent=user_agent,
            model=model,
            turns=_earlier_assistant_turns([m.role for m in conversation.messages]),
            restored_at=outcome.restored,
            missing_at=outcome.missing,
            foreign_at=outcome.foreign,
            compaction=compacting,
        )
        labels = (
            self._tenant_label(identity.credential),
            user_agent_label(request.headers.get("user-agent")),
        )
        self.metrics.restored.inc(*labels, amount=call.restored)
        self.metrics.missing.inc(*labels, amount=call.missing)
        self.metrics.foreign.inc(*labels, amount=call.foreign)
        if self.observers:
            turns = call.turns
            self._observe(
                request,
                fmt,
                stream,
                turns,
                kept=turns - len(indices),
                restored=len(outcome.restored),
                missing=len(outcome.missing),
                foreign=len(outcome.foreign),
            )
        if outcome.missing and self.options.on_missing == "error":
            raise _MissingThinking(call, self._missing_error(fmt, body, outcome))
        return call

    def _signed_for(self, tenant: str | None) -> Callable[[Reply], Reply] | None:
        signer = self.signer
        if signer is None or tenant is None:
            return None
        return lambda reply: signer.sign_reply(tenant, reply)

    def _sealed_for(self, tenant: str | None) -> PayloadHook | None:
        signer = self.signer
        if signer is None or tenant is None:
            return None
        return lambda payload: signer.seal_responses(tenant, payload)

    def _observe(
        self,
        request: Request,
        fmt: ClientFormat,
        stream: bool,
        turns: int,
        *,
        kept: int,
        restored: int = 0,
        missing: int = 0,
        foreign: int = 0,
    ) -> None:
        report = RequestReport(
            client_format=fmt,
            user_agent=request.headers.get("user-agent", ""),
            stream=stream,
            turns=turns,
            kept=kept,
            restored=restored,
            missing=missing,
            foreign=foreign,
        )
        for observer in self.observers:
            observer(report)

    def _missing_error(
        self, fmt: ClientFormat, body: dict[str, Any], outcome: RestoreOutcome
    ) -> GatewayError:
        where = ", ".join(wire_index(fmt, body, i) for i in outcome.missing)
        why = (
            f"the thinking store is unavailable ({outcome.store_error})"
            if outcome.store_error
            else "no stored copy exists for this key and upstream: the turn was not produced through this "
            f"gateway, or it expired (--ttl {self.options.ttl:g} s)"
        )
        return GatewayError(
            400,
            f"{where}: assistant turn without its thinking, and it cannot be restored: {why}. Send the "
            "turn back with its thinking, or run the gateway with --on-missing pass to forward it as it is.",
            code="interleaf_thinking_missing",
        )

    # ------------------------------------------------------------------------------ endpoints

    async def messages(self, request: Request) -> Response:
        return await self._generate(request, "anthropic", MESSAGES)

    async def chat_completions(self, request: Request) -> Response:
        return await self._generate(request, "openai-chat", CHAT)

    async def responses(self, request: Request) -> Response:
        return await self._generate(request, "openai-responses", RESPONSES)

    async def _refusal(self) -> GatewayError | None:
        """Why a new generation request must be refused now (explicit admission), or ``None``. A
        backlog of replies to store is given a moment to shrink first (it slows requests down before
        it refuses them)."""
        reason, why = "overloaded", None
        if self.inflight >= self.options.max_concurrency:
            why = f"{self.inflight} requests are in flight (the limit is --max-concurrency {self.options.max_concurrency})"
        elif (
            self.captures.overloaded() is not None
            and (backlog := await self.captures.wait_for_room()) is not None
        ):
            reason, why = "capture_backlog", backlog
        if why is None:
            return None
        self.metrics.rejected.inc(reason)
        return GatewayError(
            503,
            f"the interleaf gateway is overloaded ({why}); retry in a moment",
            code="gateway_overloaded",
            headers={"retry-after": "1"},
        )

    async def _generate(self, request: Request, fmt: ClientFormat, endpoint: str) -> Response:
        started = time.perf_counter()
        call: Prepared | None = None
        refusal = await self._refusal()
        if refusal is not None:
            self._record(endpoint, refusal.status, time.perf_counter() - started, None)
            return self._error(fmt, refusal, None)
        self.inflight += 1
        streaming = False
        try:
            identity = self.auth.identify(request.headers)
            call = await self._prepare(request, fmt, identity)
            if call.compaction:
                response = await self.forwarder.compact(call)
            elif call.stream:
                finished = call

                def on_end(outcome: str, seconds: float) -> None:
                    self.inflight -= 1
                    self._record(endpoint, 200, time.perf_counter() - started, finished, outcome)

                relay = await self.forwarder.stream(call, on_end)
                streaming = True
                return relay
            else:
                response = await self.forwarder.whole(call)
        except ClientDisconnect:
            # The client hung up while sending its request (a cancelled upload of a long conversation):
            # nothing went upstream and there is no one to answer. Counted as nginx counts it, without
            # the traceback of a bug.
            self._record(
                endpoint,
                CLIENT_CLOSED,
                time.perf_counter() - started,
                call,
                sent=False,
                error="the client closed the connection while sending its request",
            )
            return Response(status_code=CLIENT_CLOSED)
        except _MissingThinking as refused:
            call = refused.call
            response = self._error(fmt, refused.error, call)
            self._record(
                endpoint,
                response.status_code,
                time.perf_counter() - started,
                call,
                sent=False,
                error=refused.error.message,
            )
            return response
        except GatewayError as exc:
            response = self._error(fmt, exc, call)
            self._record(
                endpoint, response.status_code, time.perf_counter() - started, call, error=exc.message
            )
            return response
        finally:
            if not streaming:
                self.inflight -= 1
        self._record(endpoint, response.status_code, time.perf_counter() - started, call)
        return response

    async def _tidy_when_idle(self) -> None:
        """Every few seconds, if the gateway has been busy since the last time and serves nothing now,
        collect reference cycles and hand freed heap back to the OS (glibc keeps it otherwise): after a
        burst of load the process shrinks back. Only when idle, so no request ever waits for it. Once
        more when the upstream pool has let its idle connections go (within two keep-alives): after a
        thousand streams, what those connections held came to 5-7 MiB."""
        loop = asyncio.get_running_loop()
        served = self.metrics.requests.total()
        again_at: float | None = None
        while True:
            await asyncio.sleep(IDLE_TIDY_SECONDS)
            if self.inflight:
                continue
            now_served = self.metrics.requests.total()
            if now_served != served:  # busy since the last look: now, and again once the pool let go
                served = now_served
                again_at = loop.time() + 2 * self.options.upstream_keepalive
            elif again_at is not None and loop.time() >= again_at:
                again_at = None
            else:
                continue
            gc.collect()
            await loop.run_in_executor(None, _malloc_trim)

    def _not_recorded(self) -> None:
        """A request --record could not keep (its writer is behind): counted, and said once a minute."""
        self.metrics.not_recorded.inc()
        now = time.monotonic()
        if now - self._not_recorded_said >= 60.0:
            self._not_recorded_said = now
            log.warning(
                "--record is behind: requests are not being recorded (its queue of %d is full); "
                "counted in interleaf_requests_not_recorded_total",
                TRAFFIC_QUEUE_SIZE,
            )

    def _error(self, fmt: ClientFormat, error: GatewayError, call: Prepared | None) -> Response:
        return error_response(fmt, error, call.interleaf_headers() if call else NOTHING_RESTORED)

    def _record(
        self,
        endpoint: str,
        status: int,
        seconds: float,
        call: Prepared | None,
        outcome: str = "",
        *,
        sent: bool = True,
        error: str = "",
    ) -> None:
        if self.traffic is not None and call is not None:
            recorded = self.traffic.record(
                started_at=time.time() - seconds,
                duration=seconds,
                endpoint=endpoint,
                user_agent=call.user_agent,
                app=user_agent_label(call.user_agent),
                client_format=call.fmt,
                upstream_format=self.upstream.api,
                model=call.model,
                stream=call.stream,
                client_body=call.raw,
                upstream_body=call.upstream_body if sent else None,
                status=status,
                restored=call.restored_at,
                missing=call.missing_at,
                foreign=call.foreign_at,
                turns=call.turns,
                error=error,
            )
            if not recorded:
                self._not_recorded()
        self.metrics.requests.inc(endpoint, str(status))
        self.metrics.duration.observe(endpoint, seconds)
        if log.isEnabledFor(logging.INFO):
            restored, missing = (call.restored, call.missing) if call else (0, 0)
            stream = f" stream={outcome}" if outcome else ""
            log.info(
                "POST %s %d restored=%d missing=%d%s %.1f ms",
                endpoint,
                status,
                restored,
                missing,
                stream,
                seconds * 1000,
            )


def _malloc_trim() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class _MissingThinking(Exception):
    """``--on-missing error`` refused a request; carries its counts for the response headers."""

    def __init__(self, call: Prepared, error: GatewayError) -> None:
        super().__init__(error.message)
        self.call = call
        self.error = error


def _format_of(path: str) -> ClientFormat:
    if path.startswith(MESSAGES):
        return "anthropic"
    return "openai-responses" if path.rstrip("/").endswith("/responses") else "openai-chat"


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    gateway = getattr(request.app.state, "gateway", None)
    if isinstance(gateway, Gateway) and exc.status_code in (404, 405):
        gateway.unserved(_path_label(request.url.path), request)
    error = GatewayError(exc.status_code, f"{exc.detail}: {request.method} {request.url.path}")
    return Response(
        error_bytes(_format_of(request.url.path), error), exc.status_code, media_type="application/json"
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error answering %s %s", request.method, request.url.path)
    error = GatewayError(500, f"interleaf gateway internal error ({type(exc).__name__}); see the gateway log")
    return Response(error_bytes(_format_of(request.url.path), error), 500, media_type="application/json")


def _path_label(path: str) -> str:
    """A bounded metric label for an unknown path: its first three segments, each cut to 32 characters."""
    return "/" + "/".join(part[:32] for part in path.strip("/").split("/")[:3])


Endpoint = Callable[[Request], Awaitable[Response]]


class _GatewayApp(Starlette):
    """Starlette, with the server's ``send`` kept in the scope for streams' body chunks
    (:data:`~interleaf.gateway.relay.SERVER_SEND`), and a direct path for the generation endpoints.

    ``POST`` to a path in ``hot`` goes straight to its endpoint: Starlette's error middleware, exception
    middleware, router and request wrapper (each wrapping ``send`` again) cost 13-42 µs of a ~330 µs
    request in three A/B runs under wrk, and these endpoints turn every error they expect into a
    response of the client's format themselves. Anything else they raise gets :func:`_unexpected`'s
    500, as it would through Starlette. Every other method and path goes through Starlette as before.
    """

    def __init__(self, *, hot: Mapping[str, Endpoint], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hot = dict(hot)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[SERVER_SEND] = send
        try:
            endpoint = self._hot.get(scope["path"]) if scope["type"] == "http" else None
            if endpoint is None or scope["method"] != "POST":
                await super().__call__(scope, receive, send)
                return
            scope["app"] = self
            request = Request(scope, receive, send)
            request._headers = IndexedHeaders(scope)  # what Request.headers would build, indexed
            try:
                response = await endpoint(request)
            except Exception as exc:  # a bug: answered like Starlette's handler would, then logged
                response = await _unexpected(request, exc)
            # Raised from here on, an error reaches uvicorn, which ends the response (a stream's
            # relay handles its own upstream failures).
            await response(scope, receive, send)
        finally:
            # The server's send is bound to the connection, which holds the scope: left in, the two
            # would form a cycle that only the garbage collector frees (memory grew under load).
            scope.pop(SERVER_SEND, None)


def create_app(options: ServeOptions, *, gateway: Gateway | None = None) -> Starlette:
    """The Starlette app for ``options`` (or around an existing ``gateway``)."""
    gw = gateway if gateway is not None else Gateway(options)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await gw.start()
        try:
            yield
        finally:
            await gw.stop()

    async def count_tokens(request: Request) -> Response:
        return await endpoints.count_tokens(gw, request)

    async def models(request: Request) -> Response:
        return await endpoints.models(gw, request)

    async def healthz(request: Request) -> Response:
        return await endpoints.healthz(gw, request)

    async def metrics(request: Request) -> Response:
        return await endpoints.metrics(gw, request)

    # The generation endpoints: served directly (_GatewayApp), and routed too, so that other methods
    # on their paths get Starlette's 405.
    hot: dict[str, Endpoint] = {
        MESSAGES: gw.messages,
        CHAT: gw.chat_completions,
        "/chat/completions": gw.chat_completions,  # base_url without /v1
        RESPONSES: gw.responses,
        "/responses": gw.responses,
    }
    routes = [
        *(Route(path, endpoint, methods=["POST"]) for path, endpoint in hot.items()),
        Route(MESSAGES + "/count_tokens", count_tokens, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    app = _GatewayApp(
        hot=hot,
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_exception, Exception: _unexpected},
    )
    app.state.gateway = gw
    return app
