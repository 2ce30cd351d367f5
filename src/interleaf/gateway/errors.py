"""Errors the gateway answers with, always in the client's own format.

Anthropic clients get ``{"type": "error", "error": {"type", "message"}}``, OpenAI clients
``{"error": {"message", "type", "param", "code"}}``; mid-stream, the same bodies as an SSE ``error``
event (Anthropic) or an error chunk (OpenAI), which both official SDKs raise as exceptions. Upstream
errors keep their status and message; the gateway's own say what was wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from starlette.responses import Response

from interleaf.backends.errors import (
    BackendConnectionError,
    BackendError,
    BackendHTTPError,
    BackendProtocolError,
    BackendStreamError,
    BackendTimeout,
    StreamCutError,
)
from interleaf.gateway.config import ClientFormat
from interleaf.gateway.jsonio import json_bytes
from interleaf.transcript import JSONDict
from interleaf.wire.apis import api

_ANTHROPIC_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_OPENAI_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    504: "timeout",
}


# Upstream response headers never passed on: hop-by-hop, framing, and what the gateway sets itself.
_DROP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "content-type",
        "date",
        "server",
        "set-cookie",
        "alt-svc",
        "proxy-authenticate",
        "www-authenticate",
        "upgrade",
        "trailer",
        "te",
        "via",
    }
)


def passed_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Upstream response headers worth passing on to the client (request ids, rate limits)."""
    return {
        k: v for k, v in headers.items() if k.lower() not in _DROP and not k.lower().startswith("x-interleaf")
    }


class GatewayError(Exception):
    """An answer the gateway gives instead of the upstream's: status, message, and optional type/code.

    ``body`` (with ``body_format``) is an upstream error body to pass through unchanged when the client
    speaks that format.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str | None = None,
        code: str | None = None,
        body: bytes | None = None,
        body_format: ClientFormat | None = None,
        headers: Mapping[str, str] | None = None,
        kind: str = "gateway",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.code = code
        self.body = body
        self.body_format = body_format
        self.headers = dict(headers or {})
        """Upstream response headers to pass on (``retry-after``, request ids)."""
        self.kind = kind
        """What failed, for metrics: ``gateway`` (the request), or an upstream failure kind."""


def error_type_for(fmt: ClientFormat, status: int) -> str:
    if fmt == "anthropic":
        return _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def error_body(fmt: ClientFormat, error: GatewayError) -> JSONDict:
    """The error in the client's format; an upstream ``error_type`` is kept when it has one."""
    kind = error.error_type or error_type_for(fmt, error.status)
    return api(fmt).error_body(kind, error.message, error.code)


def error_bytes(fmt: ClientFormat, error: GatewayError) -> bytes:
    """The response body: the upstream's own bytes when it spoke the client's format, else ours."""
    if error.body is not None and error.body_format == fmt:
        return error.body
    return json_bytes(error_body(fmt, error))


NOTHING_RESTORED: Final = {
    "x-interleaf-restored": "0",
    "x-interleaf-missing": "0",
    "x-interleaf-foreign": "0",
}


def error_response(fmt: ClientFormat, error: GatewayError, counts: Mapping[str, str]) -> Response:
    """The error as a response in the client's format, with the upstream's headers and the counts."""
    return Response(
        error_bytes(fmt, error), error.status, {**error.headers, **counts}, media_type="application/json"
    )


def stream_error_event(fmt: ClientFormat, error: GatewayError) -> bytes:
    """The error as one SSE event in the client's format (``event: error`` for Anthropic and
    Responses clients, an error chunk for OpenAI Chat ones): their SDKs raise it as an exception."""
    kind = error.error_type or error_type_for(fmt, error.status)
    return api(fmt).error_event(kind, error.message, error.code)


def from_backend(exc: BackendError, upstream_format: ClientFormat) -> GatewayError:
    """The client-facing error for a failure talking to the upstream."""
    if isinstance(exc, BackendStreamError):
        return GatewayError(
            502, f"upstream error mid-stream: {exc.server_message}", error_type=exc.error_type, kind="stream"
        )
    if isinstance(exc, BackendHTTPError):
        # The upstream's status and message; its body verbatim when the client speaks its format.
        return GatewayError(
            exc.status or 502,
            exc.server_message,
            error_type=exc.error_type,
            body=exc.body or None,
            body_format=upstream_format,
            headers=passed_headers(exc.headers),
            kind="http",
        )
    if isinstance(exc, BackendTimeout):
        return GatewayError(504, f"upstream timeout: {exc.message}", code="upstream_timeout", kind="timeout")
    if isinstance(exc, StreamCutError):
        return GatewayError(502, f"upstream stream cut: {exc.message}", code="upstream_cut", kind="cut")
    if isinstance(exc, BackendConnectionError):
        what = "upstream connection lost" if exc.broke else "upstream unreachable"
        return GatewayError(502, f"{what}: {exc.message}", code="upstream_unreachable", kind="connection")
    if isinstance(exc, BackendProtocolError):
        return GatewayError(
            502, f"upstream answered badly: {exc.message}", code="upstream_protocol", kind="protocol"
        )
    return GatewayError(502, f"upstream failed: {exc.message}", code="upstream_error", kind="upstream")


def unstored_reply() -> GatewayError:
    """The answer when a reply could not be written to a store other replicas read (or, with
    ``--durable``, to disk): handing it out would let the next turn reach a replica that cannot restore
    its thinking. The client retries the turn, as for any 503."""
    return GatewayError(
        503,
        "the interleaf gateway could not store this reply for its next turn (the thinking store failed); "
        "retry the request",
        code="store_unavailable",
        headers={"retry-after": "1"},
    )
