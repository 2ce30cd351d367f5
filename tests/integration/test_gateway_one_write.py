"""A whole response leaves the gateway in one write: head and body in one TCP segment.

uvicorn writes a response's head when the app starts it and the body in a second write; for the
gateway's small JSON replies that was two send calls, two segments and two wake-ups of the client per
request. The client here counts the data segments its socket received (Linux ``TCP_INFO``,
``tcpi_data_segs_in``): one for a whole reply, more for a stream, whose head must not wait for its
first chunk.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import struct
import time
from pathlib import Path

import pytest

from tests.support.gateway_scenario import MODEL, PROMPT, upstream_steps
from tests.support.gateway_server import GatewayServer, gateway_options
from tests.support.scripted_server import ScriptedServer

pytestmark = pytest.mark.timeout(60)

TCP_INFO_SIZE = 232
DATA_SEGS_IN = 152
"""Offset of ``tcpi_data_segs_in`` in Linux's ``struct tcp_info`` (there since Linux 4.6)."""


def _exchange(port: int, request: bytes) -> tuple[bytes, int, float]:
    """Send ``request`` on a new connection, read the response until the server closes it; the
    response, the data segments that carried it, and the seconds from the head to the next byte."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        before = _data_segments_in(sock)
        sock.sendall(request)
        received = b""
        head_at = body_at = 0.0
        while chunk := sock.recv(65536):
            now = time.monotonic()
            received += chunk
            if not head_at and b"\r\n\r\n" in received:
                head_at = now
            if head_at and not body_at and len(received) > received.index(b"\r\n\r\n") + 4:
                body_at = now
        return received, _data_segments_in(sock) - before, body_at - head_at


def _data_segments_in(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_SIZE)
    return int(struct.unpack_from("I", info, DATA_SEGS_IN)[0])


def _post(body: dict[str, object]) -> bytes:
    data = json.dumps(body).encode()
    head = (
        "POST /v1/messages HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        f"x-api-key: k\r\nanthropic-version: 2023-06-01\r\nConnection: close\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def test_a_whole_reply_is_one_segment_and_a_streams_head_does_not_wait(
    upstream: ScriptedServer, tmp_path: Path
) -> None:
    options = gateway_options("anthropic", upstream.base_url, f"sqlite:///{tmp_path}/thinking.db")
    request = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": PROMPT}]}
    async with GatewayServer(options) as gateway:
        upstream.enqueue(*upstream_steps("anthropic", "thinking", stream=False, turns=1))
        whole, segments, _ = await asyncio.to_thread(_exchange, gateway.port, _post(request))
        head, _, body = whole.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), whole[:200]
        assert json.loads(body)["content"][0]["type"] == "thinking"
        assert segments == 1, f"a whole reply arrived in {segments} segments"

        healthz, segments, _ = await asyncio.to_thread(
            _exchange, gateway.port, b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n"
        )
        assert healthz.startswith(b"HTTP/1.1 200") and segments == 1, (healthz[:100], segments)

        # A stream's head leaves before its first event, which the upstream holds back 0.5 s.
        (step,) = upstream_steps("anthropic", "thinking", stream=True, turns=1)
        upstream.enqueue(dataclasses.replace(step, first_event_delay=0.5))
        streamed, segments, waited = await asyncio.to_thread(
            _exchange, gateway.port, _post({**request, "stream": True})
        )
        assert streamed.startswith(b"HTTP/1.1 200") and b"event: message_stop" in streamed, streamed[:300]
        assert segments > 1 and waited >= 0.4, (segments, waited)


def _keep_alive_exchanges(port: int, requests: list[bytes]) -> list[bytes]:
    """Each request on one keep-alive connection in turn, reading each response's head (and its
    body, by content-length, unless the request is a HEAD) before sending the next."""
    answers = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for request in requests:
            sock.sendall(request)
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = sock.recv(65536)
                assert chunk, f"the gateway closed the connection; it sent {received!r}"
                received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
            )
            if not request.startswith(b"HEAD"):
                while len(body) < length:
                    chunk = sock.recv(65536)
                    assert chunk, f"the gateway closed the connection mid-body; head {head!r}, body {body!r}"
                    body += chunk
            answers.append(head + b"\r\n\r\n" + body)
    return answers


async def test_a_head_requests_head_is_not_held_on_a_kept_alive_connection(
    upstream: ScriptedServer, tmp_path: Path
) -> None:
    options = gateway_options("anthropic", upstream.base_url, f"sqlite:///{tmp_path}/thinking.db")
    async with GatewayServer(options) as gateway:
        head, get = await asyncio.to_thread(
            _keep_alive_exchanges,
            gateway.port,
            [
                b"HEAD /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n",
                b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n",
            ],
        )
    assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n"), head
    assert get.startswith(b"HTTP/1.1 200") and b'"status"' in get, get
