"""The capture backlog on a real SQLite store: a writer held up for a moment slows new requests down,
one that stays behind gets them refused, by replies or by bytes; a failing store sheds the oldest past
either bound; and the writer's multi-row statements store every row.

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

from interleaf.gateway.capture import (
    BATCH_BEHIND,
    BATCH_BYTES,
    BATCH_FILL,
    BATCH_THROUGH,
    HELD_OVERHEAD,
    CaptureJob,
    CaptureQueue,
    _Pending,
    held_bytes,
    keyed_reply,
)
from interleaf.gateway.metrics import Metrics
from interleaf.store.thinking import RawReply, Stored, StoreUnavailableError
from interleaf.store.thinking_sqlite import SQLiteThinkingStore
from interleaf.transcript import Message, RedactedThinking, Text, Thinking, ToolCall


class HeldStore(SQLiteThinkingStore):
    """The real SQLite store, whose writes wait until ``release`` is set (a stalled disk); ``batches``
    counts the replies of each write."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.release = asyncio.Event()
        self.writing = asyncio.Event()
        """Set once a write has started (and waits for ``release``)."""
        self.batches: list[int] = []

    async def put_groups(
        self, groups: Mapping[str, Mapping[str, Stored]], *, ttl_seconds: float | None = None
    ) -> None:
        self.batches.append(sum(len(messages) for messages in groups.values()))
        self.writing.set()
        await self.release.wait()
        await super().put_groups(groups, ttl_seconds=ttl_seconds)


class DownStore(SQLiteThinkingStore):
    """The real SQLite store, whose writes fail as an unreachable one's do."""

    async def put_groups(
        self, groups: Mapping[str, Mapping[str, Stored]], *, ttl_seconds: float | None = None
    ) -> None:
        raise StoreUnavailableError("the store is down (test)")


def _reply(number: int, thought: str = "") -> dict[str, Any]:
    return {
        "id": f"msg_{number}",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [
            {"type": "thinking", "thinking": f"step {number} {thought}", "signature": f"sig-{number}"},
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


def _job(number: int, thought: str = "") -> CaptureJob:
    return CaptureJob(
        tenant="t1:backlog",
        fmt="anthropic",
        upstream_api="anthropic",
        request=REQUEST,
        reply_data=_reply(number, thought),
    )


async def _capture(queue: CaptureQueue, number: int, thought: str = "") -> None:
    held = queue.pending
    assert await queue.capture(_job(number, thought))
    assert queue.pending == held + 1  # keyed and held for the writer, not dropped as unreadable


async def _taken(store: HeldStore) -> None:
    """Until the writer has taken what is pending (it waits up to BATCH_WINDOW for a batch to fill)."""
    await asyncio.wait_for(store.writing.wait(), 5.0)


async def test_the_writer_waits_for_a_batch_to_fill_but_not_once_it_has(tmp_path: Path) -> None:
    """A bigger batch is cheaper per reply: a few replies wait up to the window for more; a full
    batch is written at once, without waiting the window out."""
    store = SQLiteThinkingStore(tmp_path / "thinking.db")
    metrics = Metrics()
    queue = CaptureQueue(store, metrics, max_pending=10_000, ttl=60, window=3.0)
    queue.start()
    try:
        for number in range(10):
            await _capture(queue, number)
        await asyncio.sleep(0.3)
        assert (queue.pending, metrics.stored.total()) == (10, 0)  # waiting for more
        started = asyncio.get_running_loop().time()
        for number in range(10, BATCH_FILL):
            await _capture(queue, number)
        await queue.drain(2.5, written=True)  # full: written now, not when the window ends
        assert metrics.stored.total() == BATCH_FILL
        assert asyncio.get_running_loop().time() - started < 2.5
        for number in range(BATCH_FILL, BATCH_FILL + 3):  # and a few again wait the window out
            await _capture(queue, number)
        await queue.drain(5.0, written=True)
        assert metrics.stored.total() == BATCH_FILL + 3
    finally:
        await queue.aclose()
        await store.aclose()


async def test_a_held_writer_slows_requests_then_refuses_and_room_comes_back(tmp_path: Path) -> None:
    store = HeldStore(tmp_path / "thinking.db")
    queue = CaptureQueue(store, Metrics(), max_pending=4, ttl=60)
    queue.start()
    try:
        await _capture(queue, 0)
        await _taken(store)  # the writer has taken it and waits on the store
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


async def test_a_backlog_is_written_in_big_batches_unless_each_reply_waits(tmp_path: Path) -> None:
    """Writes trailing the replies take a backlog BATCH_BEHIND at a time (cheaper per reply); replies
    that each wait for their own write go BATCH_THROUGH at a time, so none waits for thousands."""
    for write_through, size in ((False, BATCH_BEHIND), (True, BATCH_THROUGH)):
        store = HeldStore(tmp_path / f"thinking-{write_through}.db")
        queue = CaptureQueue(store, Metrics(), max_pending=10 * size, ttl=60, write_through=write_through)
        queue.start()
        try:
            first = asyncio.create_task(queue.capture(_job(0)))
            await _taken(store)  # the writer has taken it and waits on the store
            assert store.batches == [1]
            rest = [asyncio.create_task(queue.capture(_job(number))) for number in range(1, size + 11)]
            await asyncio.sleep(0.05)
            assert queue.pending == size + 10
            store.release.set()
            assert all(await asyncio.gather(first, *rest))
            await queue.drain(5.0, written=True)
            assert store.batches == [1, size, 10]
            assert await store.count() == size + 11
        finally:
            store.release.set()
            await queue.aclose()
            await store.aclose()


async def test_a_batch_of_large_replies_ends_at_its_byte_bound(tmp_path: Path) -> None:
    """A batch being written has left the backlog's byte bound: 2,048 replies of 100 KB in one batch
    would hold 200 MB beside it. The batch ends once it holds BATCH_BYTES."""
    store = HeldStore(tmp_path / "thinking.db")
    queue = CaptureQueue(store, Metrics(), max_pending=10_000, max_pending_bytes=2**30, ttl=60)
    queue.start()
    thought = "x" * 100_000
    try:
        await _capture(queue, 0, thought)
        await _taken(store)  # the writer has taken it and waits on the store
        for number in range(1, 201):
            await _capture(queue, number, thought)
        one = held_bytes(keyed_reply(_job(1, thought))[0])
        store.release.set()
        await queue.drain(5.0, written=True)
        per_batch = -(-BATCH_BYTES // one)  # the reply that reaches the bound ends the batch
        assert store.batches == [1] + [per_batch] * (200 // per_batch) + [200 % per_batch]
        assert await store.count() == 201
    finally:
        store.release.set()
        await queue.aclose()
        await store.aclose()


async def test_large_replies_are_bounded_by_bytes_before_their_count(tmp_path: Path) -> None:
    """4,096 replies of 50 KB once waited under sustained overload (half the count bound): 200 MB."""
    store = HeldStore(tmp_path / "thinking.db")
    thought = "x" * 10_000
    queue = CaptureQueue(store, Metrics(), max_pending=1000, max_pending_bytes=64_000, ttl=60)
    queue.start()
    try:
        await _capture(queue, 0, thought)
        await _taken(store)  # the writer has taken it and waits on the store
        assert queue.pending_bytes == 0
        for number in range(1, 4):  # ~30 KB waiting: under half the byte bound
            await _capture(queue, number, thought)
        assert queue.overloaded() is None
        assert 30_000 < queue.pending_bytes < 32_000
        await _capture(queue, 4, thought)  # ~40 KB: past half of it, with 4 of 1,000 replies
        refused = queue.overloaded()
        assert refused is not None and "4 replies" in refused and "MiB" in refused
        assert any("capture backlog 4 of 1000 replies" in p for p in queue.health())
        store.release.set()
        assert await queue.wait_for_room(5.0) is None  # written: room again, and nothing held
        await queue.drain(5.0, written=True)
        assert (queue.pending, queue.pending_bytes) == (0, 0)
        assert await store.count() == 5
    finally:
        store.release.set()
        await queue.aclose()
        await store.aclose()


async def test_a_failing_store_sheds_the_oldest_past_the_byte_bound(tmp_path: Path) -> None:
    store = DownStore(tmp_path / "thinking.db")
    metrics = Metrics()
    queue = CaptureQueue(store, metrics, max_pending=1000, max_pending_bytes=50_000, ttl=60)
    jobs = [_job(number, "y" * 10_000) for number in range(8)]
    keys = [keyed_reply(job)[1][0] for job in jobs]
    queue.start()
    try:
        for job in jobs:
            assert await queue.capture(job)
        await queue.drain(5.0)  # the writer has tried, failed and shed
        assert queue.pending_bytes <= 50_000
        kept = queue.pending
        assert 1 <= kept < 8  # 8 x ~10.6 KB do not fit in 50 KB: the oldest went first
        assert queue.lost("t1:backlog", keys) == set(keys[: 8 - kept])  # their turns count as missing
        assert queue.recent("t1:backlog", keys).keys() == set(keys[8 - kept :])  # the rest still restore
        assert metrics.capture_errors.value("store_unavailable") == 8 - kept
        assert any("store writes failing" in p for p in queue.health())
    finally:
        await queue.aclose(timeout=0.1)
        await store.aclose()


def test_held_bytes_counts_what_a_reply_holds_not_its_encoding() -> None:
    body = json.dumps(_reply(1, "z" * 5_000)).encode()
    assert held_bytes(RawReply("anthropic", body)) == len(body) + HELD_OVERHEAD
    message = Message(
        role="assistant",
        blocks=(
            Thinking(text="t" * 1_000, signature="s" * 200),
            RedactedThinking(data="r" * 300),
            Text(text="x" * 50),
            ToolCall(id="call_1", name="shell", arguments={"cmd": "ls"}, raw_arguments='{"cmd":"ls"}'),
            ToolCall(id="call_2", name="shell", arguments={"cmd": "pwd"}),
        ),
    )
    tools = len("shell") + len('{"cmd":"ls"}') + len("shell") + len('{"cmd":"pwd"}')
    assert held_bytes(message) == HELD_OVERHEAD + 1_000 + 200 + 300 + 50 + tools


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
    last batch alive would pin up to BATCH_BEHIND replies, and the memory around them, until the next one."""
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
