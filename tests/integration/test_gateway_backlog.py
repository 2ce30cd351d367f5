"""The capture backlog on a real SQLite store: a writer held up for a moment slows new requests down,
one that stays behind gets them refused; and the writer's multi-row statements store every row.

Under wrk at concurrency 50 the SQLite writer once fell seconds behind (``executemany`` hands the GIL
back once per row) and the gateway refused thousands of requests with 503 ``capture_backlog``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from interleaf.gateway.capture import CaptureJob, CaptureQueue, _Pending
from interleaf.gateway.metrics import Metrics
from interleaf.store.thinking import Stored
from interleaf.store.thinking_sqlite import SQLiteThinkingStore
from interleaf.transcript import Message, Text, Thinking


class HeldStore(SQLiteThinkingStore):
    """The real SQLite store, whose writes wait until ``release`` is set (a stalled disk)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.release = asyncio.Event()

    async def put_groups(
        self, groups: Mapping[str, Mapping[str, Stored]], *, ttl_seconds: float | None = None
    ) -> None:
        await self.release.wait()
        await super().put_groups(groups, ttl_seconds=ttl_seconds)


def _reply(number: int) -> dict[str, Any]:
    return {
        "id": f"msg_{number}",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [
            {"type": "thinking", "thinking": f"step {number}", "signature": f"sig-{number}"},
            {
                "type": "tool_use",
                "id": f"toolu_01{secrets.token_hex(11)}",  # an id like the vendor's: a key of its own
                "name": "shell",
                "input": {"n": number},
            },
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }


REQUEST = json.dumps(
    {"model": "claude-test", "max_tokens": 64, "messages": [{"role": "user", "content": "list the files"}]}
).encode()


async def _capture(queue: CaptureQueue, number: int) -> None:
    job = CaptureJob(
        tenant="t1:backlog",
        fmt="anthropic",
        upstream_api="anthropic",
        request=REQUEST,
        reply_data=_reply(number),
    )
    held = queue.pending
    assert await queue.capture(job)
    assert queue.pending == held + 1  # keyed and held for the writer, not dropped as unreadable


async def test_a_held_writer_slows_requests_then_refuses_and_room_comes_back(tmp_path: Path) -> None:
    store = HeldStore(tmp_path / "thinking.db")
    queue = CaptureQueue(store, Metrics(), max_pending=4, ttl=60)
    queue.start()
    try:
        await _capture(queue, 0)
        await asyncio.sleep(0.05)  # the writer has taken it and waits on the store
        for number in range(1, 6):
            await _capture(queue, number)
        assert queue.overloaded() is not None  # more than half of max_pending wait to be written
        loop = asyncio.get_running_loop()
        started = loop.time()
        refused = await queue.wait_for_room(0.2)
        assert refused is not None and "waiting to be stored" in refused
        assert loop.time() - started >= 0.2  # it waited before refusing
        loop.call_later(0.1, store.release.set)
        assert await queue.wait_for_room(5.0) is None  # the writer caught up: admitted
    finally:
        store.release.set()
        await queue.aclose()
        await store.aclose()


async def test_a_batch_larger_than_one_statement_is_stored_whole(tmp_path: Path) -> None:
    store = SQLiteThinkingStore(tmp_path / "thinking.db")
    try:
        messages = {
            f"f1:{n}": Message(
                role="assistant", blocks=(Thinking(text=f"t{n}", signature="s"), Text(text=f"x{n}"))
            )
            for n in range(450)  # more than two multi-row INSERT statements' worth
        }
        await store.put_groups({"t1:a": messages, "t1:b": {"f1:0": messages["f1:1"]}})
        assert await store.get_many("t1:a", list(messages)) == messages
        assert await store.get("t1:b", "f1:0") == messages["f1:1"]  # tenants stay apart
        assert await store.served("t1:a", list(messages)) == set(messages)
        # A key written again replaces what it held (the statement's ON CONFLICT update).
        await store.put_groups({"t1:a": {"f1:7": messages["f1:8"]}})
        assert await store.get("t1:a", "f1:7") == messages["f1:8"]
    finally:
        await store.aclose()


async def test_an_idle_writer_holds_nothing_it_has_written(tmp_path: Path) -> None:
    """Once written, a reply is referenced by nothing in the capture queue: an idle writer keeping its
    last batch alive would pin up to 256 replies, and the memory around them, until the next one."""
    store = SQLiteThinkingStore(tmp_path / "thinking.db")
    queue = CaptureQueue(store, Metrics(), max_pending=100, ttl=60)
    queue.start()
    try:
        for number in range(5):
            await _capture(queue, number)
        await queue.drain(5.0, written=True)
        await asyncio.sleep(0)  # the writer is back waiting for the next reply
        gc.collect()
        assert [o for o in gc.get_objects() if isinstance(o, _Pending)] == []
        assert await store.count() == 5
    finally:
        await queue.aclose()
        await store.aclose()
