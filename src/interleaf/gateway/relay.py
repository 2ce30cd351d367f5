"""Streaming: relay an upstream stream to the client as it arrives, and capture the reply on the side.

Same format on both sides: the upstream's bytes go to the client untouched, whole events at a time
(a partial event is held until its end arrives, so an error can always be appended cleanly), and a
stream assembler reads a copy to capture the reply. Different formats: upstream events are assembled
into format-neutral events and re-encoded for the client, chunk by chunk.

The reply is captured only when the upstream's stream reached its end marker (Anthropic
``message_stop``; OpenAI ``finish_reason``) — a thinking block is complete only at its
``content_block_stop``, where its signature arrives. On a store shared by replicas the event that ends
the turn reaches the client only once the reply is written, so the client's next turn finds it on any
replica. A stream cut mid-way, an idle upstream, or an
error event gets an error event in the client's format and stores nothing; a client that disconnects
stops the relay at once, closes the upstream connection, and stores nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from interleaf.backends.errors import BackendError
from interleaf.backends.http import StreamResponse
from interleaf.gateway.config import ClientFormat
from interleaf.gateway.errors import GatewayError, from_backend, stream_error_event, unstored_reply
from interleaf.gateway.formats import client_encoder, decode_response, fresh_reply_id, upstream_assembler
from interleaf.gateway.jsonio import loads
from interleaf.gateway.metrics import Metrics
from interleaf.transcript import Message, ReasoningDialect
from interleaf.transcript import Response as Reply
from interleaf.wire.apis import Assembler, Encoder, PayloadHook, api
from interleaf.wire.errors import StreamIncompleteError, StreamServerError, WireError
from interleaf.wire.events import BlockEnd, MessageEnd, MessageStart, StreamEvent
from interleaf.wire.stream import SSEDecoder

log = logging.getLogger("interleaf.gateway")

SERVER_SEND = "interleaf.server_send"
"""Scope key of the server's own ``send``, set by the gateway's app: a stream's body chunks go to it
directly, past the wrappers Starlette's middleware put around ``send``. Those only watch for the
response's start, which still goes through them (so an error after it never gets a second start);
passing every chunk through them cost a few µs a chunk."""

_BOUNDARIES = (b"\n\n", b"\r\n\r\n", b"\r\r")


def complete_events(data: bytes) -> int:
    """Where the last complete SSE event in ``data`` ends (0 when none has)."""
    end = 0
    for boundary in _BOUNDARIES:
        position = data.rfind(boundary)
        if position != -1:
            end = max(end, position + len(boundary))
    return end


class StreamRelay(Response):
    """An ASGI response that pumps one upstream stream to the client.

    ``on_reply`` is awaited with the whole reply once the upstream stream is complete; with
    ``hold_end`` the client is sent the event that ends it only after that (a store shared by replicas:
    the write must land first), else bytes go out before they are parsed. ``on_end`` with
    how the relay ended (``complete``, ``error`` or ``disconnect``) after the upstream connection is
    closed. ``close_upstream`` releases the upstream connection (it is always called).
    """

    def __init__(
        self,
        *,
        upstream: StreamResponse,
        close_upstream: Callable[[], Awaitable[None]],
        client_format: ClientFormat,
        upstream_format: ClientFormat,
        dialect: ReasoningDialect,
        headers: dict[str, str],
        metrics: Metrics,
        on_reply: Callable[[Reply], Awaitable[bool]],
        on_end: Callable[[str, float], None],
        hold_end: bool = False,
        for_client: Callable[[Reply], Reply] | None = None,
        payload_hook: PayloadHook | None = None,
        json_body: bytes | None = None,
    ) -> None:
        # Not Response.__init__: it would declare the empty body's content-length.
        self.status_code = 200
        self.background = None
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.raw_headers.append((b"content-type", b"text/event-stream; charset=utf-8"))
        self._upstream = upstream
        self._close_upstream = close_upstream
        self._fmt = client_format
        self._upstream_format = upstream_format
        self._dialect = dialect
        self._metrics = metrics
        self._on_reply = on_reply
        self._on_end = on_end
        self._hold_end = hold_end
        self._for_client_reply = for_client
        self._reply_id = fresh_reply_id(client_format)
        """The id the client sees when the reply is translated (same format: the upstream's bytes)."""
        self._payload_hook = payload_hook
        self._json_body = json_body
        self._finished = False
        self._disconnected = False
        self._outcome = "error"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        watcher = asyncio.create_task(self._watch(receive, task))
        started = time.perf_counter()
        self._metrics.streams.value += 1
        try:
            await send(
                {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            )
            send = scope.get(SERVER_SEND, send)
            await self._relay(send)
            self._finished = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not self._disconnected:
                raise
            task.uncancel()
            self._disconnect()
        except OSError:  # servers on ASGI spec 2.4 raise on a send to a closed connection
            self._disconnect()
        finally:
            self._finished = True
            watcher.cancel()
            await self._close_upstream()
            self._metrics.streams.value -= 1
            self._on_end(self._outcome, time.perf_counter() - started)

    def _disconnect(self) -> None:
        self._outcome = "disconnect"
        self._metrics.client_disconnects.inc()

    async def _watch(self, receive: Receive, relay: asyncio.Task[Any]) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not self._finished:
                    self._disconnected = True
                    relay.cancel()
                return

    async def _relay(self, send: Send) -> None:
        content_type = self._upstream.headers.get("Content-Type", "")
        try:
            if self._json_body is not None or ("event-stream" not in content_type and "json" in content_type):
                await self._relay_json(send)
            elif self._fmt == self._upstream_format:
                await self._relay_bytes(send)
            else:
                await self._relay_events(send)
        except BackendError as exc:
            error = from_backend(exc, self._upstream_format)
            self._metrics.upstream_errors.inc(error.kind)
            log.warning("upstream stream failed: %s", error.message)
            await self._send_error(send, error)

    async def _send_error(self, send: Send, error: GatewayError) -> None:
        await send(
            {"type": "http.response.body", "body": stream_error_event(self._fmt, error), "more_body": True}
        )

    async def _completed(self, replies: list[Reply]) -> bool:
        """Capture the finished replies; False when one had to be stored before its end went out and
        could not be: the client then gets an error instead of the end (and retries the turn)."""
        stored = True
        for reply in replies:
            self._outcome = "complete"
            stored = await self._on_reply(reply) and stored
        if not stored:
            self._outcome = "error"
        return stored

    async def _unstored(self, send: Send) -> None:
        await self._send_error(send, unstored_reply())

    # ---------------------------------------------------------------------- same format: bytes

    async def _relay_bytes(self, send: Send) -> None:
        decoder = SSEDecoder()
        assembler = upstream_assembler(self._upstream_format)
        reading = True  # False once the copy could not be read: relay on, capture nothing
        server_error = False
        held = b""
        replies: list[Reply] = []
        async for chunk in self._upstream.iter_bytes():
            data = held + chunk if held else chunk
            end = complete_events(data)
            held = data[end:]
            # Everything before the chunk's last event goes out before parsing; the last event (the
            # one that may end the turn) waits for the capture when the end is held.
            cut = complete_events(data[: end - 1]) if self._hold_end and end else end
            if cut:
                await send({"type": "http.response.body", "body": data[:cut], "more_body": True})
            if reading:
                try:
                    for sse in decoder.feed(chunk):
                        self._feed(assembler, sse.data, replies)
                except StreamServerError:
                    reading, server_error = False, True  # the client gets the upstream's error event
                    self._metrics.upstream_errors.inc("stream")
                except WireError as exc:
                    reading = False
                    self._metrics.capture_errors.inc("unreadable")
                    log.debug("stream copy unreadable, reply not stored: %s", exc)
            if replies:
                if not await self._completed(replies):
                    await self._unstored(send)
                    return
                replies = []
            if end > cut:
                await send({"type": "http.response.body", "body": data[cut:end], "more_body": True})
        if reading:
            try:
                for sse in decoder.flush():
                    self._feed(assembler, sse.data, replies)
                self._finish(assembler, replies)
                if not await self._completed(replies):
                    await self._unstored(send)
                    return
            except StreamServerError:
                server_error = True
            except StreamIncompleteError:
                error = GatewayError(
                    502, "the upstream stream ended before its end marker; retry the request"
                )
                self._metrics.upstream_errors.inc("cut")
                await self._send_error(send, error)
                return
            except WireError:
                self._metrics.capture_errors.inc("unreadable")
        if held and (self._outcome == "complete" or not reading or server_error):
            await send({"type": "http.response.body", "body": held, "more_body": True})

    def _feed(self, assembler: Assembler, data: str, replies: list[Reply]) -> None:
        replies.extend(e.response for e in assembler.feed_data(data) if isinstance(e, MessageEnd))

    def _finish(self, assembler: Assembler, replies: list[Reply]) -> None:
        replies.extend(e.response for e in assembler.finish() if isinstance(e, MessageEnd))

    # ------------------------------------------------------------------- other format: events

    async def _relay_events(self, send: Send) -> None:
        decoder = SSEDecoder()
        assembler = upstream_assembler(self._upstream_format)
        client = client_encoder(self._fmt, self._dialect, self._payload_hook)
        try:
            async for chunk in self._upstream.iter_bytes():
                events: list[StreamEvent] = []
                for sse in decoder.feed(chunk):
                    events.extend(assembler.feed_data(sse.data))
                if events and not await self._send_events(send, client, events):
                    return
            events = []
            for sse in decoder.flush():
                events.extend(assembler.feed_data(sse.data))
            events.extend(assembler.finish())
            if not await self._send_events(send, client, events):
                return
        except StreamServerError as exc:
            self._metrics.upstream_errors.inc("stream")
            await self._send_error(send, GatewayError(502, exc.message, error_type=exc.error_type))
            return
        except StreamIncompleteError:
            self._metrics.upstream_errors.inc("cut")
            error = GatewayError(502, "the upstream stream ended before its end marker; retry the request")
            await self._send_error(send, error)
            return
        except WireError as exc:
            self._metrics.upstream_errors.inc("protocol")
            await self._send_error(send, GatewayError(502, f"the upstream stream is not readable: {exc}"))
            return
        await send({"type": "http.response.body", "body": client.end(), "more_body": True})

    def _for_client(self, event: StreamEvent) -> StreamEvent:
        """The event as the client gets it: the reply under its own id (:func:`fresh_reply_id`), a
        finished block or reply through ``for_client`` (the gateway's own signature on unsigned
        thinking); capture always sees the upstream's original."""
        change = self._for_client_reply
        if isinstance(event, MessageStart):
            return replace(event, id=self._reply_id)
        if isinstance(event, MessageEnd):
            reply = change(event.response) if change is not None else event.response
            return MessageEnd(replace(reply, id=self._reply_id))
        if change is not None and isinstance(event, BlockEnd):
            probe = Reply(message=Message(role="assistant", blocks=(event.block,)))
            return BlockEnd(event.index, change(probe).message.blocks[0])
        return event

    async def _send_events(self, send: Send, client: Encoder, events: list[StreamEvent]) -> bool:
        """Send ``events``; False (an error event sent instead) when a finished reply could not be stored."""
        body = client.encode([self._for_client(e) for e in events])
        if not await self._completed([e.response for e in events if isinstance(e, MessageEnd)]):
            await self._unstored(send)
            return False
        if body:
            await send({"type": "http.response.body", "body": body, "more_body": True})
        return True

    # -------------------------------------------------- an upstream that ignored "stream": true

    async def _relay_json(self, send: Send) -> None:
        raw = self._json_body
        if raw is None:
            raw = b"".join([chunk async for chunk in self._upstream.iter_bytes()])
        try:
            reply = decode_response(self._upstream_format, loads(raw))
        except (ValueError, WireError) as exc:
            self._metrics.upstream_errors.inc("protocol")
            error = GatewayError(502, f"the upstream answered a stream request with unreadable JSON ({exc})")
            await self._send_error(send, error)
            return
        client = client_encoder(self._fmt, self._dialect, self._payload_hook)
        if await self._send_events(send, client, api(self._fmt).events(reply)):
            await send({"type": "http.response.body", "body": client.end(), "more_body": True})
