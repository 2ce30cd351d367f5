"""The upstreams of the gateway benchmarks: a zero-latency Anthropic emulator, a bare proxy, request bodies.

* :class:`Emulator`: raw asyncio on uvloop, HTTP/1.1 keep-alive, TCP_NODELAY, fixed Anthropic replies
  whose tool-call id is new on every reply (as a real model's is: each reply is a new turn to store).
  A request for model ``slow-stream`` streams a text of :data:`SLOW_CHUNKS` chunks, one every
  :data:`SLOW_INTERVAL` seconds; ``slow-stream-N`` streams N chunks.
* :func:`serve_bare_proxy`: Starlette + one aiohttp session, bytes in, bytes out: the floor for any
  Python gateway. Given a database path, it also keeps every reply (:class:`ReplyKeeper`): the floor
  for a Python gateway that persists what it relays.
* :func:`request_body`: a realistic turn of a coding agent (system prompt, three tools, earlier turns).

Each runs in a process of its own::

    python -m benchmarks.gateway_upstream emulator PORT
    python -m benchmarks.gateway_upstream bare-proxy PORT UPSTREAM_URL [DATABASE]
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import re
import resource
import socket
import sqlite3
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, ClassVar

MODEL = "bench-model"
SLOW_MODEL = "slow-stream"
SLOW_CHUNKS = 600  # 30 s at one chunk every 50 ms
SLOW_INTERVAL = 0.05
THOUGHT = (
    "The user wants to know what is in the project. Listing the top-level directory is the cheapest "
    "way to find out, and the README will say what it is for. "
) * 3
SIGNATURE = "EqQBCgIYAhIMbench" + "x" * 180 + "=="
ID_SLOT = "@@ID@@"
_SLOW_LENGTH = re.compile(rb'"model":\s*"slow-stream(?:-(\d+))?"')


def tool_id(turns: int, number: int) -> str:
    """A tool-call id unique to one reply, random-looking as real ones are (letters and digits mixed)."""
    return f"toolu_01Bench{turns:04d}x{number:010d}"


def anthropic_reply(turns: int, call_id: str | None = None) -> dict[str, Any]:
    """The emulator's reply to a request with ``turns`` messages: signed thinking, text, one tool call."""
    return {
        "id": f"msg_bench{turns:04d}",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [
            {"type": "thinking", "thinking": THOUGHT, "signature": SIGNATURE},
            {"type": "text", "text": "I'll look at the files."},
            {
                "type": "tool_use",
                "id": call_id or tool_id(turns, 0),
                "name": "list_files",
                "input": {"path": "."},
            },
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 420, "output_tokens": 96},
    }


def _sse(payload: dict[str, Any]) -> bytes:
    return f"event: {payload['type']}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


def stream_events(turns: int, call_id: str) -> tuple[bytes, list[bytes], bytes]:
    """(first event, middle events, last events) of the streamed twin of :func:`anthropic_reply`."""
    reply = anthropic_reply(turns, call_id)
    start = {k: v for k, v in reply.items() if k not in ("content", "stop_reason", "usage")}
    start.update(content=[], stop_reason=None, usage={"input_tokens": 420, "output_tokens": 1})
    middle = [
        _sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": ""},
            }
        )
    ]
    for i in range(0, len(THOUGHT), 64):
        piece = {"type": "thinking_delta", "thinking": THOUGHT[i : i + 64]}
        middle.append(_sse({"type": "content_block_delta", "index": 0, "delta": piece}))
    signature = {"type": "signature_delta", "signature": SIGNATURE}
    middle.append(_sse({"type": "content_block_delta", "index": 0, "delta": signature}))
    middle.append(_sse({"type": "content_block_stop", "index": 0}))
    middle.append(
        _sse({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}})
    )
    text = {"type": "text_delta", "text": "I'll look at the files."}
    middle.append(_sse({"type": "content_block_delta", "index": 1, "delta": text}))
    middle.append(_sse({"type": "content_block_stop", "index": 1}))
    call = {"type": "tool_use", "id": call_id, "name": "list_files", "input": {}}
    middle.append(_sse({"type": "content_block_start", "index": 2, "content_block": call}))
    arguments = {"type": "input_json_delta", "partial_json": '{"path": "."}'}
    middle.append(_sse({"type": "content_block_delta", "index": 2, "delta": arguments}))
    middle.append(_sse({"type": "content_block_stop", "index": 2}))
    stop = _sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 96},
        }
    )
    return _sse({"type": "message_start", "message": start}), middle, stop + _sse({"type": "message_stop"})


def slow_events(turns: int, chunks: int) -> tuple[bytes, list[bytes], bytes]:
    """A long text reply: ``chunks`` small deltas (the emulator sends one every :data:`SLOW_INTERVAL`)."""
    first, _, last = stream_events(turns, tool_id(turns, 0))
    delta = _sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "tok "}})
    middle = [
        _sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        *[delta] * chunks,
        _sse({"type": "content_block_stop", "index": 0}),
    ]
    last = last.replace(b'"stop_reason":"tool_use"', b'"stop_reason":"end_turn"')
    return first, middle, last


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Emulator(asyncio.Protocol):
    """A zero-latency Anthropic-compatible upstream: HTTP/1.1 keep-alive, chunked streams."""

    templates: ClassVar[dict[int, tuple[bytes, bytes]]] = {}
    """Whole replies by request message count, split at the tool-call id (new on every reply)."""
    numbers: ClassVar[itertools.count[int]] = itertools.count(1)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.slow: asyncio.Task[None] | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.slow is not None:
            self.slow.cancel()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            self.answer(head.split(" ", 2)[1], body)

    def answer(self, path: str, body: bytes) -> None:
        if path.startswith("/v1/models"):
            payload = json.dumps({"data": [{"id": MODEL, "type": "model"}], "has_more": False}).encode()
            self._whole(payload)
            return
        turns = body.count(b'"role"')
        call_id = tool_id(turns, next(self.numbers))
        if b'"stream":true' not in body and b'"stream": true' not in body:
            template = self.templates.get(turns)
            if template is None:
                text = json.dumps(anthropic_reply(turns, ID_SLOT), separators=(",", ":")).encode()
                before, _, after = text.partition(ID_SLOT.encode())
                template = self.templates[turns] = (before, after)
            self._whole(template[0] + call_id.encode() + template[1])
            return
        slow = _SLOW_LENGTH.search(body)
        if slow is None:
            first, middle, last = stream_events(turns, call_id)
        else:
            first, middle, last = slow_events(turns, int(slow.group(1) or SLOW_CHUNKS))
        self.transport.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            + _chunk(first)
        )
        if slow is None:
            self.transport.write(b"".join(_chunk(e) for e in middle) + _chunk(last) + b"0\r\n\r\n")
            return
        self.slow = asyncio.get_running_loop().create_task(self._trickle(middle, last))

    async def _trickle(self, middle: list[bytes], last: bytes) -> None:
        for event in middle:
            await asyncio.sleep(SLOW_INTERVAL)
            self.transport.write(_chunk(event))
        self.transport.write(_chunk(last) + b"0\r\n\r\n")

    def _whole(self, payload: bytes) -> None:
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(
            payload
        )
        self.transport.write(head + payload)


def raise_open_files() -> None:
    """Lift the soft limit on open files to the hard one: a thousand streams hold two sockets each."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def serve_emulator(port: int) -> None:
    import uvloop

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Emulator, "127.0.0.1", port, backlog=4096)
        async with server:
            await server.serve_forever()

    raise_open_files()
    uvloop.run(main())


class ReplyKeeper:
    """The least a Python proxy does to keep every reply it relays: the body compressed (zstd level 3,
    with its checksum), keyed by a hash of its bytes, written to SQLite (WAL, ``synchronous=NORMAL``)
    by one thread behind the load, up to 2,048 replies a transaction in multi-row INSERTs, into a table
    of the shape of interleaf's store (a unique key, an expiry index).

    What it leaves out is interleaf's own work: reading the request and the reply, keying a turn by
    what a client will send back, restoring. So interleaf's CPU per request against this party's is
    what that work costs, with the price of persisting on both sides."""

    BATCH = 2048
    ROWS_PER_INSERT = 200
    TTL_SECONDS = 7 * 24 * 3600.0

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS replies (k INTEGER NOT NULL, data BLOB NOT NULL,"
            " created REAL NOT NULL, expires REAL NOT NULL);"
            "CREATE UNIQUE INDEX IF NOT EXISTS replies_key ON replies(k);"
            "CREATE INDEX IF NOT EXISTS replies_expires ON replies(expires);"
        )
        self._pending: list[bytes] = []
        self._wake = threading.Event()
        self.stored = 0
        threading.Thread(target=self._write_forever, name="reply-keeper", daemon=True).start()

    def keep(self, body: bytes) -> None:
        """Queue ``body`` to be written (on the event loop: a list append, and a wake-up when idle)."""
        self._pending.append(body)
        if not self._wake.is_set():
            self._wake.set()

    def _write_forever(self) -> None:
        import zstandard

        compressor = zstandard.ZstdCompressor(level=3, write_checksum=True)
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[: self.BATCH]
                del self._pending[: len(batch)]  # the loop only appends: the front is this thread's
                now = time.time()
                rows = [
                    (
                        int.from_bytes(hashlib.blake2b(body, digest_size=8).digest(), "big", signed=True),
                        compressor.compress(body),
                        now,
                        now + self.TTL_SECONDS,
                    )
                    for body in batch
                ]
                self._db.execute("BEGIN IMMEDIATE")
                for start in range(0, len(rows), self.ROWS_PER_INSERT):
                    chunk = rows[start : start + self.ROWS_PER_INSERT]
                    self._db.execute(
                        "INSERT INTO replies (k, data, created, expires) VALUES "
                        + ",".join(["(?, ?, ?, ?)"] * len(chunk))
                        + " ON CONFLICT (k) DO UPDATE SET data = excluded.data,"
                        " created = excluded.created, expires = excluded.expires",
                        [value for row in chunk for value in row],
                    )
                self._db.execute("COMMIT")
                self.stored += len(rows)


STORED_METRIC = "bench_replies_stored_total"
"""What the keeping bare proxy's ``/metrics`` reports, read by ``gateway_load.settle`` as it reads
interleaf's ``interleaf_turns_stored_total``."""


def serve_bare_proxy(port: int, upstream: str, database: Path | None = None) -> None:
    """The floor: Starlette + one aiohttp session, bytes in, bytes out, nothing else; with ``database``,
    every whole reply is also kept there (:class:`ReplyKeeper`)."""
    import aiohttp
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response, StreamingResponse
    from starlette.routing import Route

    session: aiohttp.ClientSession | None = None
    keeper = None if database is None else ReplyKeeper(database)

    async def messages(request: Request) -> Response:
        nonlocal session
        if session is None:
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        body = await request.body()
        upstream_response = await session.post(
            upstream + "/v1/messages", data=body, headers={"content-type": "application/json"}
        )
        if upstream_response.headers.get("content-type", "").startswith("text/event-stream"):

            async def relay() -> Any:
                async for chunk in upstream_response.content.iter_any():
                    yield chunk

            return StreamingResponse(relay(), media_type="text/event-stream")
        reply = await upstream_response.read()
        if keeper is not None:
            keeper.keep(reply)
        return Response(reply, media_type="application/json")

    routes = [Route("/v1/messages", messages, methods=["POST"])]
    if keeper is not None:
        kept = keeper  # the /metrics route exists only for a keeping proxy (settle polls it)

        async def metrics(request: Request) -> Response:
            return PlainTextResponse(f"{STORED_METRIC} {kept.stored}\n")

        routes.append(Route("/metrics", metrics))
    app = Starlette(routes=routes)
    raise_open_files()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


# ---------------------------------------------------------------------------------------- bodies

SYSTEM = "You are a careful coding agent. Use the tools to inspect the repository before answering. " * 6
TOOLS = [
    {
        "name": n,
        "description": f"{n.replace('_', ' ').capitalize()} in the workspace.",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    }
    for n in ("list_files", "read_file", "search_code")
]


def request_body(history: list[dict[str, Any]], *, stream: bool = False, model: str = MODEL) -> bytes:
    """A coding agent's request (3.6 KB with one earlier turn) carrying ``history`` after the task."""
    body = {
        "model": model,
        "max_tokens": 4096,
        "system": SYSTEM,
        "tools": TOOLS,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [{"role": "user", "content": "What is in this project, and what does it do?"}, *history],
        "stream": stream,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def turn_with_thinking(turn: dict[str, Any], *, keep: bool) -> list[dict[str, Any]]:
    """An assistant turn as a client sends it back (with or without its thinking) and its tool result."""
    content = [b for b in turn["content"] if keep or b["type"] != "thinking"]
    results = [
        {"type": "tool_result", "tool_use_id": b["id"], "content": "README.md\nsrc/\ntests/\n"}
        for b in turn["content"]
        if b["type"] == "tool_use"
    ]
    return [{"role": "assistant", "content": content}, {"role": "user", "content": results}]


def kept_turn_body(*, stream: bool = False) -> bytes:
    """Turn 2 of a client that keeps its thinking: the gateway forwards it byte for byte."""
    return request_body(turn_with_thinking(anthropic_reply(2), keep=True), stream=stream)


def drive_conversation(url: str, key: str, turns: int) -> list[dict[str, Any]]:
    """Run ``turns`` turns through ``url`` the way an app that drops thinking does; the history."""
    history: list[dict[str, Any]] = []
    for _ in range(turns):
        request = urllib.request.Request(
            url + "/v1/messages",
            data=request_body(history),
            headers={"content-type": "application/json", "x-api-key": key, "anthropic-version": "2023-06-01"},
        )
        with urllib.request.urlopen(request) as response:
            reply = json.loads(response.read())
        history += turn_with_thinking(reply, keep=False)
    return history


def main() -> None:
    usage = (
        "usage: python -m benchmarks.gateway_upstream emulator PORT | bare-proxy PORT UPSTREAM_URL [DATABASE]"
    )
    if len(sys.argv) >= 3 and sys.argv[1] == "emulator":
        serve_emulator(int(sys.argv[2]))
    elif len(sys.argv) >= 4 and sys.argv[1] == "bare-proxy":
        serve_bare_proxy(int(sys.argv[2]), sys.argv[3], Path(sys.argv[4]) if len(sys.argv) > 4 else None)
    else:
        sys.exit(usage)


if __name__ == "__main__":
    main()
