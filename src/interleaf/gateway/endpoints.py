"""The small endpoints: ``GET /v1/models``, ``GET /healthz``, ``GET /metrics``,
``POST /v1/messages/count_tokens``; and reading a request body within the size limit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from interleaf.backends.errors import BackendError
from interleaf.gateway.config import ClientFormat
from interleaf.gateway.errors import NOTHING_RESTORED, GatewayError, error_response, from_backend

if TYPE_CHECKING:
    from interleaf.gateway.app import Gateway


async def count_tokens(gw: Gateway, request: Request) -> Response:
    """``POST /v1/messages/count_tokens`` (Claude Code asks it): passed to an Anthropic upstream."""
    try:
        if gw.upstream.api != "anthropic":
            raise GatewayError(
                404,
                f"count_tokens needs an Anthropic-format upstream; this gateway fronts the "
                f"{gw.upstream.profile.name!r} profile, which speaks OpenAI Chat",
            )
        identity = gw.auth.identify(request.headers)
        raw = await read_body(request, gw.options.max_body)
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
    return JSONResponse(
        {
            "status": "ok",
            "upstream": {"profile": gw.upstream.profile.name, "api": gw.upstream.api},
            "store": {
                "backend": getattr(gw.store, "backend", type(gw.store).__name__),
                "tenant_secret": gw.has_tenant_secret,
                "errors": gw.metrics.store_errors.total(),
            },
            "active_streams": gw.metrics.streams.value,
        }
    )


async def metrics(gw: Gateway, request: Request) -> Response:
    return PlainTextResponse(gw.metrics.expose(), media_type="text/plain; version=0.0.4; charset=utf-8")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to be over ``limit`` bytes."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _too_large(int(length), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> GatewayError:
    return GatewayError(
        413,
        f"the request body is over this gateway's limit of {limit} bytes (at least {size} bytes arrived); "
        "shorten or compact the conversation, or raise the limit with --max-body",
        code="request_too_large",
    )
