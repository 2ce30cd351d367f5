"""Every error the backends layer raises, in one tree.

```
BackendError
├── BackendConfigError        bad profile name, missing API key, no model, invalid URL
├── BackendConnectionError    could not connect, or the connection broke before the reply began
├── BackendTimeout            connect / first_byte / idle / total, named in ``phase``
├── BackendHTTPError          the server answered with an error status (or an error event mid-stream)
│   └── BackendStreamError    an error event inside a 200 stream (Anthropic ``event: error``, OpenAI error chunk)
├── BackendProtocolError      the answer is not what the API promises (malformed JSON, wrong shape)
└── StreamCutError            the body ended before the format's end marker: the reply is incomplete
```

Messages say what went wrong, where (URL without query string or credentials) and what to do. No
message ever contains a request header or an API key. Foreign exceptions (aiohttp, asyncio, OSError)
become these in :func:`interleaf.backends.http.map_client_error`, the one place that maps them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from yarl import URL

TimeoutPhase = Literal["connect", "first_byte", "idle", "total"]

_PHASE_TEXT: dict[TimeoutPhase, str] = {
    "connect": "connecting",
    "first_byte": "waiting for the first byte of the reply",
    "idle": "waiting for more of the reply (the stream went silent)",
    "total": "the whole request",
}
_PHASE_HINT: dict[TimeoutPhase, str] = {
    "connect": "is the host reachable and is --base-url right?",
    "first_byte": "the server accepted the request but did not answer; a thinking model on a long prompt "
    "may need a larger first-byte timeout",
    "idle": "the server stopped sending mid-reply; raise the idle timeout if it is just slow",
    "total": "raise the total timeout for long generations, or lower max_tokens",
}


def redact_url(url: str | URL) -> str:
    """The URL without user info, query string or fragment (where keys sometimes hide)."""
    parsed = URL(str(url)) if not isinstance(url, URL) else url
    try:
        return str(parsed.with_user(None).with_query(None).with_fragment(None))
    except ValueError:  # a relative or otherwise odd URL: no authority to strip
        return str(parsed.with_query(None).with_fragment(None))


class BackendError(Exception):
    """Base class of every backends error. ``retryable`` says whether trying again might help."""

    retryable: bool = False
    attempts: int = 1
    unsent: bool = False
    """Nothing of the request reached the server (the connection was never made): safe to retry even a
    request that must not run twice."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def note_attempts(self, attempts: int) -> None:
        """Record that this error ended ``attempts`` tries (said in the message when more than one)."""
        if attempts > 1 and self.attempts == 1:
            self.attempts = attempts
            self.message += f" (gave up after {attempts} attempts)"

    def __str__(self) -> str:
        return self.message


class BackendConfigError(BackendError):
    """The backend is misconfigured (unknown profile, missing key, no model): fix the configuration."""


class BackendConnectionError(BackendError):
    """No usable connection: refused, unresolvable host, TLS failure, or (``broke``) a connection that
    closed before the reply began."""

    def __init__(
        self,
        url: str,
        reason: str,
        *,
        hint: str | None = None,
        retryable: bool = True,
        broke: bool = False,
    ) -> None:
        self.url = redact_url(url)
        self.reason = reason
        self.broke = broke
        self.hint = hint or (
            "the server restarted, or closed an idle connection as the request went out (keep the "
            "client's keep-alive below the server's); a retry opens a new connection"
            if broke
            else "is the server running and is --base-url right?"
        )
        self.retryable = retryable
        what = (
            f"the connection to {self.url} broke before the reply began"
            if broke
            else f"could not connect to {self.url}"
        )
        super().__init__(f"{what}: {reason}; {self.hint}")


class BackendTimeout(BackendError):
    """A timeout fired; ``phase`` says which one (connect, first_byte, idle or total)."""

    def __init__(self, url: str, phase: TimeoutPhase, seconds: float | None) -> None:
        self.url = redact_url(url)
        self.phase = phase
        self.seconds = seconds
        # Only a connect timeout is safe to retry: after it nothing reached the server.
        self.retryable = self.unsent = phase == "connect"
        limit = f" after {seconds:g} s" if seconds is not None else ""
        super().__init__(
            f"timed out {_PHASE_TEXT[phase]} ({phase} timeout{limit}) for {self.url}; {_PHASE_HINT[phase]}"
        )


class BackendHTTPError(BackendError):
    """The server answered with an error status.

    ``message`` and ``error_type`` are read from the vendor's error body (Anthropic, OpenAI and common
    self-hosted shapes) or its plain text. ``body`` is the raw body bytes and ``headers`` the response
    headers, so a gateway can pass the error through unchanged.
    """

    def __init__(
        self,
        status: int,
        server_message: str,
        *,
        url: str,
        error_type: str | None = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        attempts: int = 1,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.server_message = server_message
        self.error_type = error_type
        self.url = redact_url(url)
        self.body = body
        self.headers: dict[str, str] = dict(headers or {})
        self.attempts = attempts
        self.hint = hint if hint is not None else status_hint(status)
        self.retryable = status in (429, 500, 502, 503, 504, 529)
        super().__init__(self._compose())

    def _compose(self) -> str:
        kind = f" ({self.error_type})" if self.error_type else ""
        text = f"HTTP {self.status}{kind} from {self.url}: {self.server_message}"
        if self.attempts > 1:
            text += f" (gave up after {self.attempts} attempts)"
        if self.hint:
            text += f"; {self.hint}"
        return text

    def with_hint(self, hint: str) -> BackendHTTPError:
        """The same error with a more specific hint (the model client knows which env var holds the key)."""
        self.hint = hint
        self.message = self._compose()
        return self

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class BackendStreamError(BackendHTTPError):
    """The server sent an error event inside a successful (200) stream.

    ``status`` is the HTTP status of the stream (200); ``error_type`` the event's type, e.g.
    ``overloaded_error``. Nothing after the error belongs to a complete reply.
    """

    def __init__(self, error_type: str, server_message: str, *, url: str, status: int = 200) -> None:
        super().__init__(status, server_message, url=url, error_type=error_type, hint="")
        self.retryable = error_type in ("overloaded_error", "api_error", "rate_limit_error")

    def _compose(self) -> str:
        return (
            f"the server reported an error mid-stream ({self.error_type}) from {self.url}: "
            f"{self.server_message}; the reply is incomplete and was not recorded"
        )


class BackendProtocolError(BackendError):
    """The server's answer does not have the shape its API promises (e.g. a body that is not JSON)."""

    def __init__(self, url: str, problem: str, *, hint: str | None = None) -> None:
        self.url = redact_url(url)
        self.problem = problem
        self.hint = hint or "is --base-url pointing at the right kind of API?"
        super().__init__(f"unexpected answer from {self.url}: {problem}; {self.hint}")


class StreamCutError(BackendError):
    """The response ended before the format's end marker (Anthropic ``message_stop``, OpenAI
    ``finish_reason``/``[DONE]``), or the connection broke mid-body. Nothing partial is returned as
    complete; never retried automatically, because part of the reply was already delivered.
    """

    def __init__(self, url: str, detail: str) -> None:
        self.url = redact_url(url)
        self.detail = detail
        super().__init__(
            f"the reply from {self.url} was cut off: {detail}; the partial reply was not recorded "
            "— retry the request"
        )


def status_hint(status: int) -> str:
    """What to do about an error status, in a few words."""
    if status in (401, 403):
        return "check the API key"
    if status == 404:
        return "check --base-url and the model name"
    if status == 413:
        return "the request is too large; shorten the conversation or compact it"
    if status == 429:
        return "rate limited; wait, or lower the request rate"
    if status == 529:
        return "the server is overloaded; try again later"
    if status >= 500:
        return "the server failed; try again later"
    return ""


# --------------------------------------------------------------------------------- error bodies

_MAX_TEXT = 500


def parse_error_body(body: bytes, content_type: str | None = None) -> tuple[str, str | None]:
    """``(message, error_type)`` from an error body in any common vendor shape.

    Anthropic ``{"type":"error","error":{"type","message"}}``; OpenAI ``{"error":{"message","type",
    "code"}}``; vLLM ``{"object":"error","message","type"}``; Ollama/llama.cpp ``{"error":"..."}``;
    FastAPI ``{"detail":...}``; MiniMax ``{"base_resp":{"status_code","status_msg"}}``; else the text.
    """
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        found = _from_json(data)
        if found is not None:
            return found
    if not text:
        return "(empty body)", None
    if (content_type or "").startswith("text/html") or text[:15].lower().startswith(("<!doctype", "<html")):
        return "an HTML page instead of an API error (is --base-url pointing at the API?)", None
    if len(text) > _MAX_TEXT:
        text = text[:_MAX_TEXT] + "…"
    return text, None


def _from_json(data: Mapping[str, Any]) -> tuple[str, str | None] | None:
    error = data.get("error")
    if isinstance(error, Mapping):
        message = error.get("message")
        kind = error.get("type") or error.get("code")
        if message is None and "metadata" in error:  # OpenRouter puts upstream detail in metadata
            message = json.dumps(error["metadata"], ensure_ascii=False)
        return str(message if message is not None else json.dumps(error, ensure_ascii=False)), (
            None if kind is None else str(kind)
        )
    if isinstance(error, str):
        kind = data.get("type") if data.get("type") != "error" else None
        return error, None if kind is None else str(kind)
    if isinstance(data.get("message"), str):
        kind = data.get("type") or data.get("code")
        return data["message"], None if kind is None else str(kind)
    if "detail" in data:
        detail = data["detail"]
        return detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False), None
    base = data.get("base_resp")
    if isinstance(base, Mapping) and base.get("status_code") not in (0, None):
        return str(base.get("status_msg", "")), f"minimax_{base.get('status_code')}"
    return None
