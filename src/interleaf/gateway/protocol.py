"""The gateway's HTTP/1.1 protocol: uvicorn's httptools protocol with a deadline and a size limit on
each request's head.

uvicorn bounds idle keep-alive connections but not a request whose head arrives slowly: a client that
opens a connection and sends its headers a byte at a time (slow loris) holds a connection, a socket
and memory forever, and a few thousand such clients exhaust the gateway. Here a new connection must
start its first request within ``header_timeout`` seconds (else it is closed), and every request head
(request line and headers) must be complete within ``header_timeout`` seconds of its first byte and
within ``max_header_bytes``; otherwise the client gets ``408`` or ``431`` and the connection is closed.
Between requests, uvicorn's keep-alive timeout closes idle connections as before. The body has its
own between-reads timeout (:func:`interleaf.gateway.endpoints.read_body`).

A request's head deadline is armed only when a read ends inside that head: nearly every head arrives
whole in one read, and arming and cancelling a timer for each request was a measurable part of the
gateway's CPU per request. The deadline then runs from the end of that read instead of from the head's
first byte: microseconds later.

A WebSocket upgrade gets ``426 Upgrade Required`` at once, and the connection closes: no endpoint
speaks WebSocket. Codex with its built-in OpenAI provider first asks for a WebSocket on
``/v1/responses``; a 426 is the one answer it takes as "use HTTP" straight away, where anything else
(uvicorn's own handling ran the request as a plain GET, answered 404) costs seven attempts over about
6 s at the start of every session, and each logged uvicorn's advice to install a WebSocket library.

Any other upgrade (``Upgrade: h2c``, which Java's built-in HTTP client and curl ``--http2`` send with a
POST over plain HTTP) is ignored, as HTTP/1.1 allows, and the request is served over HTTP/1.1. httptools
takes the body of such a request for the new protocol's first bytes and uvicorn passed the app an empty
body, so every such POST was answered 400 "not valid JSON". Here the body is read with a second parser
(:class:`_IgnoredUpgrade`) and handed to the request as usual; the connection closes after the response,
since the first parser has given it up.

A whole response (one with a ``content-length``) leaves in one write: uvicorn writes a response's head
as soon as the app starts it and its body in a second write, so every reply cost two send calls, two
TCP segments and two wake-ups of the client. Here the head waits for the body, which a whole response
sends straight after it (:class:`OneWriteCycle`). A streamed response's head still leaves at once: its
first chunk may be seconds away.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

log = logging.getLogger("interleaf.gateway")

_REASONS = {408: b"Request Timeout", 426: b"Upgrade Required", 431: b"Request Header Fields Too Large"}
_NO_WEBSOCKET = (
    b'{"error":{"type":"invalid_request_error","code":"websocket_not_supported","message":'
    b'"the interleaf gateway speaks HTTP only: send this request as an HTTP POST (streamed with SSE)"}}'
)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` with a request-head deadline and size limit (class attributes, set
    by :func:`guarded_protocol`)."""

    header_timeout: float = 30.0
    max_header_bytes: int = 64 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._in_head = False
        self._requests = 0
        self._refused_upgrade = False
        # Only uvicorn's own reference: it drops it when the connection is lost, which breaks the
        # protocol <-> parser cycle, so a closed connection is freed at once rather than by the cycle
        # collector later.
        self.parser = _Parser(self)
        self._read = b""
        """The bytes of the read being parsed (the body of an ignored upgrade starts inside it)."""
        self._ignored_upgrade: _IgnoredUpgrade | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)
        # uvicorn cancels the keep-alive timer only for a connection closed cleanly (exc None). A client
        # that resets its connection (a killed process, a proxy purging idle connections with RST) left
        # the timer armed, and the timer holds the protocol: its transport, buffers, last request and
        # response cycle stayed for the whole keep-alive (server.CLIENT_KEEPALIVE_SECONDS, 75 s). 20,000
        # clients that each reset after one reply took the gateway from 48 to 222 MiB; now it stays at 48.
        self._unset_keepalive_if_required()

    def data_received(self, data: bytes) -> None:
        if self._ignored_upgrade is not None and self._ignored_upgrade.reading:
            self._ignored_upgrade.feed(data)
            return
        self._read = data
        super().data_received(data)
        self._read = b""
        # A head still incomplete at the end of this read gets its deadline now (the first request's
        # runs from the connection's start, armed in connection_made).
        if self._in_head and self._head_timer is None and not self.transport.is_closing():
            self._arm_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._in_head = True
        self._requests += 1

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm_head_timer()
        if self.parser.should_upgrade() and self._get_upgrade() == b"websocket":
            # Answered here: the app never sees it, and the parser is done with this connection.
            self._refused_upgrade = True
            log.info(
                "answered a WebSocket upgrade on %s with 426: this gateway speaks HTTP",
                self.url[:200].decode("latin-1"),
            )
            self._refuse(426, _NO_WEBSOCKET, content_type=b"application/json")
            return
        super().on_headers_complete()
        if self.parser.should_upgrade():  # h2c or another protocol: served over HTTP/1.1 instead
            self._ignored_upgrade = _IgnoredUpgrade(self, self.headers)
            self.cycle.keep_alive = False
        # uvicorn builds the cycle here and only schedules its task, so the cycle is ours to adapt
        # before it sends anything (a pipelined request's cycle waits in the queue, adapted the same).
        # The class swap keeps uvicorn's cycle code as it is, and its fields too.
        cycle = self.cycle
        if type(cycle) is RequestResponseCycle:
            cycle.__class__ = OneWriteCycle

    def on_body(self, body: bytes) -> None:
        if not self._refused_upgrade:
            super().on_body(body)

    def on_message_complete(self) -> None:
        # httptools ends an upgrade request at its head: its body, if any, is still to be read.
        if not self._refused_upgrade and (self._ignored_upgrade is None or not self._ignored_upgrade.reading):
            super().on_message_complete()

    def _unsupported_upgrade_warning(self) -> None:
        # Called by uvicorn once the parser gave up the connection to the requested protocol: instead
        # of its advice to install a WebSocket library, the body of an ignored upgrade is read.
        ignored = self._ignored_upgrade
        if ignored is not None and ignored.reading:
            ignored.feed(self._read[cast(_Parser, self.parser).upgrade_at :])

    # ------------------------------------------------------------------------------------ guards

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._in_head and self._head_bytes > self.max_header_bytes:
            self._refuse(431, f"request head over {self.max_header_bytes} bytes")

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head:
            self._refuse(408, f"request head not complete within {self.header_timeout:g} s")
        elif self._requests == 0 and not self.transport.is_closing():
            log.info("closing a client connection that sent nothing for %g s", self.header_timeout)
            self.transport.close()

    def _refuse(
        self, status: int, why: str | bytes, *, content_type: bytes = b"text/plain; charset=utf-8"
    ) -> None:
        if self.transport.is_closing():
            return
        if isinstance(why, str):
            log.info("closing a client connection: %s", why)
            why = why.encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, _REASONS[status], content_type, len(why), why)
        )
        self.transport.close()


class OneWriteCycle(RequestResponseCycle):
    """uvicorn's request/response cycle, sending a whole response's head and body in one write."""

    async def send(self, message: Any) -> None:
        if message["type"] != "http.response.start" or self.response_started:
            await super().send(message)
            return
        transport = self.transport
        held = _HeldHead(transport)
        self.transport = held  # type: ignore[assignment]
        await super().send(message)
        # A streamed response's head leaves now, and so does a HEAD request's: uvicorn writes no
        # body for it.
        if self.chunked_encoding is not False or self.scope["method"] == "HEAD":
            held.flush()
            # Nothing more to join: the stream's chunks go straight to the transport, not through
            # the held head's write (a call less for every chunk).
            self.transport = transport


class _HeldHead:
    """The transport a cycle writes through once its response started: the head waits for the next
    write (the body) and leaves with it; every other call goes straight to the transport."""

    __slots__ = ("_head", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None
        """None until the head is written; then the held head; empty once it has left."""

    def write(self, data: bytes) -> None:
        head = self._head
        if head is None:  # the first write is the head: it waits
            self._head = data
            return
        if head:
            self._head = b""
            data = head + data
        self._transport.write(data)

    def flush(self) -> None:
        head = self._head
        self._head = b""
        if head:
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Parser(httptools.HttpRequestParser):
    """httptools' parser, remembering where in the read an upgrade's new protocol would begin."""

    upgrade_at = 0

    def feed_data(self, data: Any) -> None:
        try:
            super().feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.upgrade_at = upgrade.args[0] if upgrade.args else len(data)
            raise


class _IgnoredUpgrade:
    """Reads the body of a request whose upgrade was ignored, with a parser of its own fed a head that
    states only the body's framing, and hands it to the request as uvicorn's callbacks do."""

    def __init__(self, protocol: GuardedHttpToolsProtocol, headers: list[tuple[bytes, bytes]]) -> None:
        self._protocol = protocol
        framing = [
            (name, value) for name, value in headers if name in (b"content-length", b"transfer-encoding")
        ]
        chunked = any(name == b"transfer-encoding" and b"chunked" in value.lower() for name, value in framing)
        length = next((value for name, value in framing if name == b"content-length"), b"0")
        self.reading = chunked or length.strip() not in (b"", b"0")
        self._parser = httptools.HttpRequestParser(self)
        head = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: " + length.strip()
        if self.reading:
            self._parser.feed_data(b"POST / HTTP/1.1\r\n" + head + b"\r\n\r\n")

    def feed(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self.reading = False
            self._protocol.send_400_response("Invalid HTTP request body received.")

    def on_body(self, body: bytes) -> None:
        self._protocol.on_body(body)

    def on_message_complete(self) -> None:
        self.reading = False
        self._protocol.on_message_complete()


def guarded_protocol(header_timeout: float, max_header_bytes: int) -> type[GuardedHttpToolsProtocol]:
    """The protocol class uvicorn should use (``Config(http=...)``) for these limits."""
    return type(
        "InterleafHttpProtocol",
        (GuardedHttpToolsProtocol,),
        {"header_timeout": header_timeout, "max_header_bytes": max_header_bytes},
    )
