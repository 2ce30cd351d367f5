"""The small endpoints: ``GET /v1/models``, ``GET /healthz``, ``GET /metrics``,
``POST /v1/messages/count_tokens``; and reading a request body within the size limit."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import math
from typing import Protocol

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Receive

from interleaf.backends.errors import BackendError
from interleaf.backends.http import HttpClient
from interleaf.gateway.auth import Authenticator
from interleaf.gateway.capture import CaptureQueue
from interleaf.gateway.config import ClientFormat, ServeOptions
from interleaf.gateway.encoding import decode_body
from interleaf.gateway.errors import NOTHING_RESTORED, GatewayError, error_response, from_backend
from interleaf.gateway.metrics import Metrics
from interleaf.gateway.upstream import Upstream
from interleaf.store.thinking import ThinkingStore


class Gateway(Protocol):
    """What these endpoints read of the gateway (:class:`interleaf.gateway.app.Gateway` has it all)."""

    options: ServeOptions
    upstream: Upstream
    auth: Authenticator
    http: HttpClient
    store: ThinkingStore
    captures: CaptureQueue
    metrics: Metrics
    inflight: int

    @property
    def has_tenant_secret(self) -> bool: ...

    def unserved(self, what: str, request: Request) -> None: ...


ESTIMATED_CHARS_PER_TOKEN = 3.5
"""A conservative ratio for English prose and code (real tokenizers give 3.5-4.5): an estimate that
errs high makes a client compact a little early, never overflow."""


async def count_tokens(gw: Gateway, request: Request) -> Response:
    """``POST /v1/messages/count_tokens`` (Claude Code asks it to decide when to compact): passed to an
    Anthropic upstream; estimated from the request's size for an OpenAI-format upstream, which has no
    such endpoint (the answer then carries ``x-interleaf-estimated: true``)."""
    try:
        identity = gw.auth.identify(request.headers)
        raw = await read_body(request, gw.options.max_body, gw.options.header_timeout)
        if gw.upstream.api != "anthropic":
            gw.unserved("count_tokens (estimated)", request)
            estimate = math.ceil(len(raw.decode("utf-8", errors="replace")) / ESTIMATED_CHARS_PER_TOKEN)
            return JSONResponse({"input_tokens": estimate}, headers={"x-interleaf-estimated": "true"})
        headers = gw.upstream.headers(identity, request.headers, "anthropic")
        try:
            answer = await gw.http.request("POST", gw.upstream.url + "/count_tokens", raw, headers=headers)
        except BackendError as exc:
            raise from_backend(exc, gw.upstream.api) from None
    except GatewayError as exc:
        return error_response("anthropic", exc, NOTHING_RESTORED)
    return Response(answer.content, answer.status, media_type="application/json")


async def models(gw: Gateway, request: Request) -> Response:
    headers = request.headers
    fmt: ClientFormat = (
        "anthropic" if "anthropic-version" in headers or "x-api-key" in headers else "openai-chat"
    )
    ids = list(gw.options.model_map.aliases)
    try:
        identity = gw.auth.identify(headers)
        try:
            answer = await gw.http.get_json(
                gw.upstream.models_url, headers=gw.upstream.headers(identity, headers, fmt)
            )
            data = answer.data.get("data") if isinstance(answer.data, dict) else None
            if isinstance(data, list):
                ids += [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]
        except BackendError as exc:
            if not ids:
                raise from_backend(exc, gw.upstream.api) from None
    except GatewayError as exc:
        return error_response(fmt, exc, NOTHING_RESTORED)
    ids = list(dict.fromkeys(ids))
    if fmt == "anthropic":
        items = [
            {"type": "model", "id": i, "display_name": i, "created_at": "1970-01-01T00:00:00Z"} for i in ids
        ]
        first, last = (ids[0], ids[-1]) if ids else (None, None)
        return JSONResponse({"data": items, "has_more": False, "first_id": first, "last_id": last})
    owner = gw.upstream.profile.name
    return JSONResponse(
        {
            "object": "list",
            "data": [{"id": i, "object": "model", "created": 0, "owned_by": owner} for i in ids],
        }
    )


async def healthz(gw: Gateway, request: Request) -> Response:
    """``ok``, or ``degraded`` with the reasons (capture failing, store unreachable, backlog). Always
    200: a load balancer should keep a degraded gateway (it still serves, without some restoration);
    ``?strict=1`` answers 503 when degraded, for checks that should page someone."""
    problems = gw.captures.health()
    if not gw.has_tenant_secret:
        problems.append("no tenant secret: the store was unreachable at start and since")
    status = "degraded" if problems else "ok"
    strict = request.query_params.get("strict") in ("1", "true")
    return JSONResponse(
        {
            "status": status,
            "problems": problems,
            "upstream": {"profile": gw.upstream.profile.name, "api": gw.upstream.api},
            "store": {
                "backend": getattr(gw.store, "backend", type(gw.store).__name__),
                "tenant_secret": gw.has_tenant_secret,
                "errors": gw.metrics.store_errors.total(),
                "pending_writes": gw.captures.pending,
                "pending_write_bytes": gw.captures.pending_bytes,
            },
            "active_streams": gw.metrics.streams.value,
            "in_flight": gw.inflight,
        },
        status_code=503 if strict and problems else 200,
    )


async def metrics(gw: Gateway, request: Request) -> Response:
    """The Prometheus exposition. With ``--metrics-token`` it needs ``Authorization: Bearer TOKEN``;
    without one, only clients on this machine (loopback) may read it: it names tenants (as hashes) and
    client apps, which is an operator's business."""
    token = gw.options.metrics_token
    if token is not None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return PlainTextResponse(
                "GET /metrics needs 'Authorization: Bearer <the --metrics-token value>'\n", status_code=401
            )
    elif not _loopback(request):
        return PlainTextResponse(
            "GET /metrics is only served to this machine; start the gateway with --metrics-token TOKEN "
            "to let a scraper elsewhere read it\n",
            status_code=403,
        )
    return PlainTextResponse(gw.metrics.expose(), media_type="text/plain; version=0.0.4; charset=utf-8")


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client is not None else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def read_body(request: Request, limit: int, timeout: float | None = None) -> bytes:
    """The request body, refused with 413 as soon as it is known to be over ``limit`` bytes, with 415
    when it is not declared JSON, and with 408 when the client stalls for ``timeout`` seconds between
    two reads (a slow-loris body holds a connection and its memory for nothing). A compressed body
    (``Content-Encoding``) is decoded, within the same limit (:mod:`.encoding`)."""
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type.lower():
        # A web page can make a browser POST text/plain (or an untyped Blob) cross-site without asking
        # first; only JSON content types need the CORS preflight this gateway never grants.
        raise GatewayError(
            415,
            "the request body must be sent as JSON (Content-Type: application/json), not "
            + (repr(content_type[:60]) if content_type else "without a Content-Type"),
            code="unsupported_media_type",
        )
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _too_large(int(length), limit)
    receive = request.receive  # the ASGI messages themselves: Request.stream() is an async generator
    if getattr(getattr(receive, "__self__", None), "more_body", True) is False:
        # uvicorn's request cycle holds the whole body already (most requests arrive in one read): one
        # message, no read can stall, so no deadline is armed (a timer per request was a measurable
        # part of the gateway's CPU per request). Any other server, or a body still arriving, reads
        # chunk by chunk under the deadline.
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        body: bytes = message.get("body", b"")
        if len(body) > limit:
            raise _too_large(len(body), limit)
        if message.get("more_body", False):  # not from a cycle that holds the whole body; still read
            body = await _read_rest(receive, limit, timeout, [body])
    else:
        body = await _read_rest(receive, limit, timeout, [])
    encoding = request.headers.get("content-encoding")
    if encoding is None:
        return body
    # In a thread: decoding a few megabytes takes milliseconds the event loop owes everyone else.
    return await asyncio.to_thread(decode_body, body, encoding, limit)


async def _read_rest(receive: Receive, limit: int, timeout: float | None, chunks: list[bytes]) -> bytes:
    """The body: ``chunks`` (read already) and the rest, at most ``limit`` bytes in all, with 408 when
    the client stalls for ``timeout`` seconds between two reads."""
    size = sum(len(chunk) for chunk in chunks)
    loop = asyncio.get_running_loop()
    try:
        # One deadline for the whole body, moved on after every chunk (a scope per read cost a timer
        # each).
        async with asyncio.timeout(timeout) as deadline:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _too_large(size, limit)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
                if timeout is not None:
                    deadline.reschedule(loop.time() + timeout)
    except TimeoutError:
        if not deadline.expired():
            raise
        raise GatewayError(
            408,
            f"the request body stalled: nothing arrived for {timeout:g} s (--header-timeout)",
            code="request_timeout",
        ) from None
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> GatewayError:
    return GatewayError(
        413,
        f"the request body is over this gateway's limit of {limit} bytes (at least {size} bytes arrived); "
        "shorten or compact the conversation, or raise the limit with --max-body",
        code="request_too_large",
    )
