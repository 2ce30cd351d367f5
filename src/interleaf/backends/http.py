"""The one HTTP client of interleaf (aiohttp): pooled keep-alive, phase timeouts, safe retries.

Why aiohttp: on this project's machines it adds ~1 ms less per proxied request than httpx, which is
most of the gateway's own budget (docs/architecture.md §4.6).

* **Timeouts by phase** (:class:`Timeouts`): ``connect``; ``first_byte`` from sending the request to
  the first byte of the body (a thinking model can take minutes before its first token, and some
  servers send headers only with the first token); ``idle`` between later body chunks; ``total`` for
  the whole call including retries. The error names the phase that fired.
* **Retries** (:class:`RetryPolicy`) on 429, 500, 502, 503, 504, 529 and on connection failures, with
  exponential backoff, jitter and the server's ``Retry-After`` — only before the caller has seen any
  byte of a successful body. A stream that breaks after it began is never replayed: the caller already
  has part of it, so that is :class:`~interleaf.backends.errors.StreamCutError`.
* **Errors** from aiohttp, asyncio and the OS become :mod:`interleaf.backends.errors` in
  :func:`map_client_error`, the one place that maps them.
* **Injectable transport**: pass your own ``aiohttp.ClientSession`` (it is then not closed by us).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from aiohttp import client_exceptions as ce
from multidict import CIMultiDictProxy

import interleaf
from interleaf.backends.errors import (
    BackendConnectionError,
    BackendError,
    BackendHTTPError,
    BackendProtocolError,
    BackendTimeout,
    StreamCutError,
    TimeoutPhase,
    parse_error_body,
    redact_url,
)
from interleaf.wire.stream import SSEDecoder, SSEEvent

__all__ = [
    "HttpClient",
    "HttpResponse",
    "JSONResponse",
    "RetryPolicy",
    "StreamResponse",
    "Timeouts",
    "map_client_error",
]

log = logging.getLogger("interleaf.backends.http")

USER_AGENT = f"interleaf/{interleaf.__version__}"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
DEFAULT_KEEPALIVE = 4.0
"""Seconds an idle pooled connection is kept for reuse. Below the 5 s after which uvicorn (vLLM, SGLang)
and llama.cpp's server close an idle connection: a pool that keeps it longer sends some requests on a
connection the server is closing at that moment, and they fail (a reset, "server disconnected") though
the server is fine. Through the gateway in front of uvicorn (5 s), requests 5 s apart: 3 of 51 failed
with a 60 s pool keep-alive, none of 51 with this one (docs/gateway.md, "Errors")."""


DEFAULT_IDLE_CONNECTIONS = 64
"""Idle connections the pool keeps per upstream; one released beyond that is closed at once. Without a cap
a burst leaves every connection it opened idle in the pool until the keep-alive ends: after 1,000
streams at once, 1,000 sockets and about 13 MiB of the gateway's memory (measured with the slow streams
of benchmarks/bench_gateway.py: 110.9 MiB 5 s after the last one closed, 97.1 MiB with this bound).
A load that needs more connections again opens them as it would after a burst; nginx's upstream
``keepalive``, Go's ``MaxIdleConns`` and httpx's ``max_keepalive_connections`` bound the same thing."""


class _IdleCappedConnector(aiohttp.TCPConnector):
    """aiohttp's connector, keeping at most ``idle_limit`` idle connections per upstream (aiohttp bounds
    only the connections in use)."""

    def __init__(self, *, idle_limit: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._idle_limit = idle_limit

    def _release(self, key: Any, protocol: Any, *, should_close: bool = False) -> None:
        super()._release(key, protocol, should_close=should_close)
        idle = self._conns.get(key)
        # The oldest idle connections go first: they are the closest to their keep-alive's end.
        while idle is not None and len(idle) > self._idle_limit:
            oldest, _ = idle[0]
            del idle[0]
            oldest.close()


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds per phase; ``None`` disables that limit.

    ``connect`` (10 s): opening the TCP/TLS connection. ``first_byte`` (300 s): from sending the
    request to the first byte of the response body — long, because thinking models may reason for
    minutes on a long prompt before anything arrives. ``idle`` (120 s): silence between two body
    chunks once the body has begun. ``total`` (3600 s): the whole call, retries included; a backstop
    against a server that trickles keep-alive pings forever.
    """

    connect: float | None = 10.0
    first_byte: float | None = 300.0
    idle: float | None = 120.0
    total: float | None = 3600.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before trying again.

    ``max_retries`` (2) retries after the first attempt. The n-th wait is drawn from
    ``[d/2, d]`` with ``d = min(backoff_max, backoff_base * 2**(n-1))`` (exponential with jitter), or is
    exactly the server's ``Retry-After`` / ``retry-after-ms`` when it sent one. A ``Retry-After`` longer
    than ``max_retry_after`` (60 s) is not waited out: the error is raised at once so the caller (or a
    gateway's client) can decide. ``x-should-retry: true|false`` from the server overrides the status
    rule, as the Anthropic and OpenAI SDKs do.
    """

    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    max_retry_after: float = 60.0
    statuses: frozenset[int] = RETRY_STATUSES
    unsent_only: bool = False
    """Retry a failure only when nothing of the request was sent (the connection never opened): for
    requests that must not run twice, such as a gateway forwarding a generation it cannot take back."""

    def backoff(self, retry_number: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** (retry_number - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


NO_RETRY = RetryPolicy(max_retries=0)


# ------------------------------------------------------------------------------------- responses


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A complete non-streamed response: status, headers and the body bytes."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str
    attempts: int = 1

    def json(self) -> Any:
        """The body parsed as JSON; :class:`BackendProtocolError` when it is not JSON."""
        try:
            return json.loads(self.content)
        except ValueError as exc:
            snippet = self.content[:200].decode("utf-8", errors="replace")
            raise BackendProtocolError(
                self.url,
                f"HTTP {self.status} with a body that is not valid JSON ({exc}); it begins {snippet!r}",
            ) from None


@dataclass(frozen=True, slots=True)
class JSONResponse:
    """A successful JSON response: status, headers and the parsed body."""

    status: int
    headers: Mapping[str, str]
    data: Any
    attempts: int = 1


# ------------------------------------------------------------------------------- the time budget


@dataclass
class _Clock:
    """Absolute deadlines (event-loop time) for one call; tells which phase a wait is bounded by."""

    timeouts: Timeouts
    start: float = field(default_factory=lambda: asyncio.get_running_loop().time())

    def _total_deadline(self) -> float | None:
        return None if self.timeouts.total is None else self.start + self.timeouts.total

    def first_byte(self, sent_at: float) -> tuple[float | None, TimeoutPhase]:
        limit = self.timeouts.first_byte
        return self._bounded(None if limit is None else sent_at + limit, "first_byte")

    def idle(self) -> tuple[float | None, TimeoutPhase]:
        limit = self.timeouts.idle
        now = asyncio.get_running_loop().time()
        return self._bounded(None if limit is None else now + limit, "idle")

    def _bounded(self, when: float | None, phase: TimeoutPhase) -> tuple[float | None, TimeoutPhase]:
        total = self._total_deadline()
        if total is not None and (when is None or total <= when):
            return total, "total"
        return when, phase

    def seconds(self, phase: TimeoutPhase) -> float | None:
        return {
            "connect": self.timeouts.connect,
            "first_byte": self.timeouts.first_byte,
            "idle": self.timeouts.idle,
            "total": self.timeouts.total,
        }[phase]

    def remaining(self) -> float | None:
        total = self._total_deadline()
        return None if total is None else total - asyncio.get_running_loop().time()


# ------------------------------------------------------------------------------------ the client


class HttpClient:
    """A pooled aiohttp session with interleaf's timeouts, retries and error mapping.

    Use as ``async with HttpClient() as http: ...`` or call :meth:`aclose`. The session is created on
    first use (inside the running event loop). ``limit`` is the total number of pooled connections —
    sized for a gateway fronting a few upstreams; ``keepalive`` is how long an idle connection stays
    open (:data:`DEFAULT_KEEPALIVE`; keep it below the server's own). Pass ``session`` to use your own
    aiohttp session (tests, custom connectors); it is not closed by :meth:`aclose`. ``trust_env``
    honours ``HTTPS_PROXY``/``NO_PROXY`` (off by default: a gateway should not silently route through a
    proxy).
    """

    def __init__(
        self,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        limit: int = 512,
        limit_per_host: int = 0,
        keepalive: float = DEFAULT_KEEPALIVE,
        idle_limit: int = DEFAULT_IDLE_CONNECTIONS,
        trust_env: bool = False,
        session: aiohttp.ClientSession | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._keepalive = keepalive
        self._idle_limit = idle_limit
        self._trust_env = trust_env
        self._session = session
        self._owns_session = session is None
        self._sleep = sleep
        self._closed = False

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pool (only when this client created it). Safe to call twice."""
        self._closed = True
        if self._session is not None and self._owns_session:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session, created on first use."""
        if self._closed:
            raise RuntimeError("this HttpClient is closed; create a new one")
        if self._session is None:
            connector = _IdleCappedConnector(
                idle_limit=self._idle_limit,
                limit=self._limit,
                limit_per_host=self._limit_per_host,
                keepalive_timeout=self._keepalive,
                ttl_dns_cache=300,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # Only the socket connect is limited by aiohttp; every other phase is timed here,
                # so the error can name the phase.
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeouts.connect),
                headers={"User-Agent": USER_AGENT},
                # No cookie jar: one client serves every tenant of a gateway, and a cookie one reply
                # set (a load balancer's affinity, a bot check) must not ride along on another's
                # requests. Model APIs authenticate by header, never by cookie.
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=self._trust_env,
                raise_for_status=False,
            )
        return self._session

    # ------------------------------------------------------------------------------ public calls

    async def post_json(
        self,
        url: str,
        body: Any,
        *,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
    ) -> JSONResponse:
        """POST ``body`` (JSON-serialisable, or ready ``bytes``) and parse the JSON answer.

        Raises :class:`BackendHTTPError` for an error status (after retries),
        :class:`BackendProtocolError` when a success body is not JSON.
        """
        response = await self.request("POST", url, body, headers=headers, timeouts=timeouts, retry=retry)
        return JSONResponse(response.status, response.headers, response.json(), response.attempts)

    async def get_json(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
    ) -> JSONResponse:
        """GET a JSON resource (``/v1/models``)."""
        response = await self.request("GET", url, None, headers=headers, timeouts=timeouts, retry=retry)
        return JSONResponse(response.status, response.headers, response.json(), response.attempts)

    async def request(
        self,
        method: Literal["GET", "POST"],
        url: str,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
    ) -> HttpResponse:
        """Send a request and read the whole body. Error statuses raise :class:`BackendHTTPError`."""
        clock = _Clock(timeouts or self.timeouts)
        response, attempts, sent_at = await self._open(method, url, body, headers, clock, retry, False)
        content = await _read_all(response, url, clock, sent_at)
        return HttpResponse(response.status, response.headers, content, url, attempts)

    @contextlib.asynccontextmanager
    async def stream(
        self,
        url: str,
        body: Any,
        *,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
    ) -> AsyncIterator[StreamResponse]:
        """POST and stream the answer: ``async with http.stream(url, body) as r: async for ... in r``.

        Retries happen while opening (before any body byte is read); an error status raises
        :class:`BackendHTTPError` here. Leaving the block early closes the connection.
        """
        clock = _Clock(timeouts or self.timeouts)
        stream_headers = {"Accept": "text/event-stream", "Accept-Encoding": "identity", **(headers or {})}
        response, attempts, sent_at = await self._open("POST", url, body, stream_headers, clock, retry, True)
        stream = StreamResponse(response, url, clock, sent_at, attempts)
        try:
            yield stream
        finally:
            stream.close()

    # ------------------------------------------------------------------------------- internals

    async def _open(
        self,
        method: str,
        url: str,
        body: Any,
        headers: Mapping[str, str] | None,
        clock: _Clock,
        retry: RetryPolicy | None,
        streaming: bool,
    ) -> tuple[aiohttp.ClientResponse, int, float]:
        """Send until a success status arrives; returns (response, attempts, time the last try was sent)."""
        policy = retry or self.retry
        data = _encode_body(body)
        send_headers = dict(headers or {})
        if data is not None:
            send_headers.setdefault("Content-Type", "application/json")
        attempt = 0
        while True:
            attempt += 1
            sent_at = asyncio.get_running_loop().time()
            try:
                response = await self._send(method, url, data, send_headers, clock, sent_at)
            except BackendError as exc:
                safe = exc.retryable and (exc.unsent or not policy.unsent_only)
                wait = policy.backoff(attempt) if safe and attempt <= policy.max_retries else None
                if wait is None or not self._fits(wait, clock):
                    exc.note_attempts(attempt)
                    raise
                log.info("retrying %s in %.2fs after: %s", redact_url(url), wait, exc)
                await self._sleep(wait)
                continue
            if response.status < 400:
                return response, attempt, sent_at
            content = await _read_all(response, url, clock, sent_at)
            message, error_type = parse_error_body(content, response.headers.get("Content-Type"))
            wait, why_not = _retry_wait(policy, response.status, response.headers, attempt)
            if wait is not None and not self._fits(wait, clock):
                wait, why_not = None, f"waiting {wait:g} s more would pass the total timeout"
            error = BackendHTTPError(
                response.status,
                message,
                url=url,
                error_type=error_type,
                body=content,
                headers=response.headers,
                attempts=attempt,
            )
            if why_not:
                error.with_hint(f"{error.hint}; not retried: {why_not}" if error.hint else why_not)
            if wait is None:
                raise error
            log.info("retrying %s in %.2fs after HTTP %d", redact_url(url), wait, response.status)
            await self._sleep(wait)

    async def _send(
        self,
        method: str,
        url: str,
        data: bytes | None,
        headers: Mapping[str, str],
        clock: _Clock,
        sent_at: float,
    ) -> aiohttp.ClientResponse:
        when, phase = clock.first_byte(sent_at)
        # Our session's own timeout unless this call's connect limit differs: the same object for every
        # request (a gateway sends thousands a second). A session passed in keeps its own defaults, so
        # each request says what it needs.
        session = self.session
        try:
            async with asyncio.timeout_at(when) as scope:
                if self._owns_session and clock.timeouts.connect == self.timeouts.connect:
                    return await session.request(method, url, data=data, headers=headers)
                timeout = aiohttp.ClientTimeout(total=None, sock_connect=clock.timeouts.connect)
                return await session.request(method, url, data=data, headers=headers, timeout=timeout)
        except BaseException as exc:
            if isinstance(exc, TimeoutError) and scope.expired():
                raise BackendTimeout(url, phase, clock.seconds(phase)) from None
            mapped = map_client_error(exc, url=url, phase="request", timeouts=clock.timeouts)
            if mapped is None:
                raise
            raise mapped from exc

    def _fits(self, wait: float, clock: _Clock) -> bool:
        remaining = clock.remaining()
        return remaining is None or wait < remaining


class StreamResponse:
    """An open streamed response. Iterate it once, as bytes or as SSE events.

    ``headers`` and ``status`` are the upstream's. Bytes are yielded as they arrive (decoded from any
    content-encoding), so a gateway can pass them through untouched.
    """

    def __init__(
        self, response: aiohttp.ClientResponse, url: str, clock: _Clock, sent_at: float, attempts: int
    ) -> None:
        self._response = response
        self.url = url
        self.status = response.status
        self.headers: CIMultiDictProxy[str] = response.headers
        self.attempts = attempts
        self._clock = clock
        self._sent_at = sent_at
        self._finished = False
        self._started = False

    @property
    def finished(self) -> bool:
        """True once the whole body was read (the server ended the response cleanly)."""
        return self._finished

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """Body chunks as they arrive. Raises StreamCutError if the connection breaks mid-body."""
        if self._started:
            raise RuntimeError("a StreamResponse can be iterated only once")
        self._started = True
        # The reader itself, not a generator around it: one layer less for every chunk of a stream.
        return _read_chunks(self._response, self.url, self._clock, self._sent_at, on_end=self._ended)

    def _ended(self) -> None:
        self._finished = True

    async def iter_sse(self) -> AsyncIterator[SSEEvent]:
        """Server-sent events as they complete (``wire.stream.SSEDecoder``)."""
        decoder = SSEDecoder()
        async for chunk in self.iter_bytes():
            for event in decoder.feed(chunk):
                yield event
        for event in decoder.flush():
            yield event

    def close(self) -> None:
        """Give the connection back to the pool if the body was read to the end, else drop it."""
        if self._finished:
            self._response.release()
        else:
            self._response.close()


class _Watchdog:
    """The deadline of each wait for a body chunk, with one timer for the whole body instead of one per
    chunk (a timer per chunk was a sixth of a streamed chunk's cost in the gateway).

    A wait sets its deadline (:meth:`begin`) and clears ``waiting`` when it ends. The timer is armed at
    the earliest deadline; when it fires it cancels the reading task only if a wait is still on and its
    deadline has passed, and otherwise re-arms itself at the current deadline (or at the next wait). As
    deadlines move forward with each chunk, it fires about once per idle limit, not once per chunk.
    Cancelling follows :class:`asyncio.Timeout`: the reader turns that cancellation, and only that one,
    into a timeout (:meth:`timed_out`).
    """

    __slots__ = ("_armed", "_cancelling", "_handle", "_loop", "_task", "deadline", "expired", "waiting")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a body is read inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._handle: asyncio.TimerHandle | None = None
        self._armed = 0.0
        self.deadline: float | None = None
        self.waiting = False
        self.expired = False

    def begin(self, when: float | None) -> None:
        self.deadline = when
        self.waiting = True
        if when is None:
            return
        if self._handle is not None:
            if self._armed <= when:
                return
            self._handle.cancel()  # an earlier deadline than the armed one (first byte, then idle)
        self._arm(when)

    def _arm(self, when: float) -> None:
        self._armed = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        deadline = self.deadline
        if not self.waiting or deadline is None:
            return  # armed again by the next wait
        if deadline <= self._armed:
            self.expired = True
            self._task.cancel()
        else:
            self._arm(deadline)

    def timed_out(self, exc: BaseException) -> bool:
        """True when ``exc`` is this watchdog's cancellation (then it is consumed), not another one."""
        if not (self.expired and isinstance(exc, asyncio.CancelledError)):
            return False
        self.expired = False
        return self._task.uncancel() <= self._cancelling

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


async def _read_chunks(
    response: aiohttp.ClientResponse,
    url: str,
    clock: _Clock,
    sent_at: float,
    *,
    first: bool = True,
    on_end: Callable[[], None] | None = None,
) -> AsyncIterator[bytes]:
    """The body in chunks: the first one within the first-byte limit, later ones within ``idle``;
    ``on_end`` is called once the body was read to its end."""
    content = response.content
    watchdog = _Watchdog()
    try:
        while True:
            when, phase = clock.first_byte(sent_at) if first else clock.idle()
            watchdog.begin(when)
            try:
                chunk = await content.readany()
            except BaseException as exc:
                if watchdog.timed_out(exc):
                    raise BackendTimeout(url, phase, clock.seconds(phase)) from None
                mapped = map_client_error(exc, url=url, phase="body", timeouts=clock.timeouts)
                if mapped is None:
                    raise
                raise mapped from exc
            finally:
                watchdog.waiting = False
            if not chunk:
                if on_end is not None:
                    on_end()
                return
            first = False
            yield chunk
    finally:
        watchdog.close()


async def _read_all(response: aiohttp.ClientResponse, url: str, clock: _Clock, sent_at: float) -> bytes:
    """The whole body; the connection goes back to the pool only if it was read to the end."""
    try:
        # A small reply is usually buffered whole by the time its headers are parsed: take it without
        # a timeout scope or an async generator (a gateway does this on every request).
        buffered = response.content.read_nowait()
        if response.content.at_eof():
            chunks = [buffered]
        else:
            rest = _read_chunks(response, url, clock, sent_at, first=not buffered)
            chunks = [buffered, *[chunk async for chunk in rest]]
    except BaseException as exc:
        response.close()
        mapped = map_client_error(exc, url=url, phase="body", timeouts=clock.timeouts)
        if mapped is None or isinstance(exc, BackendError):
            raise
        raise mapped from exc
    response.release()
    return b"".join(chunks)


def _encode_body(body: Any) -> bytes | None:
    if body is None or isinstance(body, bytes):
        return body
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _retry_wait(
    policy: RetryPolicy, status: int, headers: Mapping[str, str], attempt: int
) -> tuple[float | None, str | None]:
    """(seconds to wait before the next try or None, why not retried when that is worth saying)."""
    should = headers.get("x-should-retry", "").strip().lower()
    retryable = should == "true" or (status in policy.statuses and should != "false")
    if not retryable:
        return None, "the server said not to retry" if should == "false" else None
    if attempt > policy.max_retries:
        return None, None
    asked = parse_retry_after(headers)
    if asked is None:
        return policy.backoff(attempt), None
    if asked > policy.max_retry_after:
        return (
            None,
            f"the server asked to wait {asked:g} s, more than max_retry_after={policy.max_retry_after:g} s",
        )
    return asked, None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked to wait: ``retry-after-ms``, or ``Retry-After`` (seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        with contextlib.suppress(ValueError):
            return max(0.0, float(millis) / 1000)
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))  # lenient: some servers send fractions
    with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
        date = email.utils.parsedate_to_datetime(value)
        return max(0.0, date.timestamp() - time.time())
    return None


# ----------------------------------------------------------------------------- error mapping

Phase = Literal["request", "body"]
"""``request``: before any response byte (safe to retry); ``body``: the response had begun."""

_Rule = Callable[[Any, str, Phase, Timeouts], BackendError]


def _connector_reason(exc: aiohttp.ClientConnectorError) -> str:
    os_error = exc.os_error
    if isinstance(os_error, ConnectionRefusedError):
        return "connection refused"
    return os_error.strerror or str(os_error) or type(os_error).__name__


def _broken(what: str) -> _Rule:
    """A connection failure: retryable before the response began, a cut stream after."""

    def rule(exc: Any, url: str, phase: Phase, timeouts: Timeouts) -> BackendError:
        detail = str(exc) or type(exc).__name__
        if phase == "body":
            return StreamCutError(url, f"{what} mid-response ({detail})")
        return BackendConnectionError(url, f"{what} ({detail})", broke=True)

    return rule


def _tls(what: str) -> _Rule:
    def rule(exc: Any, url: str, phase: Phase, timeouts: Timeouts) -> BackendError:
        return BackendConnectionError(
            url,
            f"{what} ({exc})",
            hint="check the server's certificate, or that --base-url uses https only where the server speaks TLS",
            retryable=False,
        )

    return rule


def _unsent(rule: _Rule) -> _Rule:
    """A failure to open the connection: nothing of the request left this process."""

    def marked(exc: Any, url: str, phase: Phase, timeouts: Timeouts) -> BackendError:
        error = rule(exc, url, phase, timeouts)
        error.unsent = True
        return error

    return marked


def _bad_url(exc: Any, url: str, phase: Phase, timeouts: Timeouts) -> BackendError:
    return BackendConnectionError(
        url,
        "invalid URL" + (f" ({exc.description})" if getattr(exc, "description", None) else ""),
        hint="--base-url must be a full http:// or https:// URL such as http://127.0.0.1:8000/v1",
        retryable=False,
    )


def _http_status(exc: Any, url: str, phase: Phase, timeouts: Timeouts) -> BackendError:
    return BackendHTTPError(exc.status or 0, exc.message or type(exc).__name__, url=url)


def _server_timeout(exc: Any, url: str, phase: Phase, timeouts: Timeouts) -> BackendError:
    if phase == "body":
        return BackendTimeout(url, "idle", timeouts.idle)
    return BackendTimeout(url, "first_byte", timeouts.first_byte)


_RULES: dict[type[BaseException], _Rule] = {
    ce.ClientConnectorDNSError: _unsent(
        lambda exc, url, phase, t: BackendConnectionError(
            url, f"cannot resolve host {exc.host!r}", hint="check the host name in --base-url and your DNS"
        )
    ),
    ce.ClientConnectorCertificateError: _tls("TLS certificate verification failed"),
    ce.ClientConnectorSSLError: _tls("TLS handshake failed"),
    ce.ClientSSLError: _tls("TLS error"),
    ce.ClientProxyConnectionError: lambda exc, url, phase, t: BackendConnectionError(
        url, f"could not reach the proxy ({exc})", hint="check HTTPS_PROXY / HTTP_PROXY"
    ),
    ce.UnixClientConnectorError: _unsent(
        lambda exc, url, phase, t: BackendConnectionError(
            url, f"cannot open unix socket {exc.path!r} ({_connector_reason(exc)})"
        )
    ),
    ce.ClientConnectorError: _unsent(
        lambda exc, url, phase, t: BackendConnectionError(url, _connector_reason(exc))
    ),
    ce.ConnectionTimeoutError: lambda exc, url, phase, t: BackendTimeout(url, "connect", t.connect),
    ce.SocketTimeoutError: _server_timeout,
    ce.ServerTimeoutError: _server_timeout,
    ce.ServerFingerprintMismatch: _tls("the TLS certificate fingerprint does not match"),
    ce.ServerDisconnectedError: _broken("the server closed the connection"),
    ce.ClientConnectionResetError: _broken("the connection was reset"),
    ce.ClientOSError: _broken("network error"),
    ce.ServerConnectionError: _broken("the server connection failed"),
    ce.ClientConnectionError: _broken("the connection failed"),
    ce.ClientPayloadError: lambda exc, url, phase, t: StreamCutError(
        url, f"the response body ended early or was malformed ({exc})"
    ),
    ce.UploadAbortedError: _broken("sending the request body was aborted"),
    ce.TooManyRedirects: lambda exc, url, phase, t: BackendProtocolError(
        url, "too many redirects", hint="point --base-url at the API itself, not at a redirecting address"
    ),
    ce.ContentTypeError: lambda exc, url, phase, t: BackendProtocolError(
        url, f"unexpected content type ({exc.message})"
    ),
    ce.ClientHttpProxyError: lambda exc, url, phase, t: BackendConnectionError(
        url, f"the proxy refused the request (HTTP {exc.status})", hint="check HTTPS_PROXY / HTTP_PROXY"
    ),
    ce.WSServerHandshakeError: _http_status,
    ce.ClientResponseError: _http_status,
    ce.NonHttpUrlRedirectClientError: _bad_url,
    ce.InvalidUrlRedirectClientError: _bad_url,
    ce.NonHttpUrlClientError: _bad_url,
    ce.InvalidUrlClientError: _bad_url,
    ce.RedirectClientError: lambda exc, url, phase, t: BackendProtocolError(
        url, f"a redirect could not be followed ({exc})"
    ),
    ce.InvalidURL: _bad_url,
    ce.ClientError: lambda exc, url, phase, t: BackendConnectionError(
        url, f"HTTP client error ({type(exc).__name__}: {exc})", retryable=False
    ),
    # Outside aiohttp's tree: raw socket errors and timeouts that did not come from our own limits.
    ConnectionRefusedError: _unsent(
        lambda exc, url, phase, t: BackendConnectionError(url, "connection refused")
    ),
    TimeoutError: _server_timeout,
    OSError: _broken("network error"),
}


def map_client_error(
    exc: BaseException, *, url: str, phase: Phase, timeouts: Timeouts | None = None
) -> BackendError | None:
    """The interleaf error for a foreign exception, or ``None`` when it is not a transport error
    (cancellation, our own bugs) and must propagate unchanged.

    The most specific rule along the exception's MRO wins; every subclass of ``aiohttp.ClientError``
    has its own entry (a test checks that, so a new aiohttp exception gets a deliberate message).
    """
    if isinstance(exc, BackendError):
        return exc
    for cls in type(exc).__mro__:
        rule = _RULES.get(cls)
        if rule is not None:
            return rule(exc, url, phase, timeouts or Timeouts())
    return None
