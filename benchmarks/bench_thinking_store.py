"""Thinking-store lookups stay flat as the store grows: SQLite and Redis at 1k, 100k and 1M stored turns;
and what storing a turn costs as the store grows and once it is full.

The stores are filled with realistic ~2 KB assistant turns (signed thinking, text, a tool call) in big
batches, bypassing the store API (the fill is setup, not the measured operation), then measured through
the public API: ``get`` (hit and miss) and ``get_many`` of 40 turns, the lookup a request with a 40-turn
history makes. "SQL only" is the bare index lookup on a plain connection, without the store's thread hop
and decoding, to show where the time goes. Latencies are per call, in microseconds, warm page cache.

Writes: at each size, :data:`WRITES` new turns go in through ``put_groups`` in batches of
:data:`WRITE_BATCH`, the shape of the gateway's capture batches at a steady load, then as many in the
batches the gateway writes a backlog in under load (:data:`~interleaf.gateway.capture.BATCH_BEHIND` on
SQLite, :data:`~interleaf.gateway.capture.BATCH_THROUGH` on Redis); each turn a reply body as the upstream
sent it (:class:`~interleaf.store.thinking.RawReply`, what the gateway stores for a reply relayed whole).
The figure is CPU time per turn (this process's threads; on Redis, plus the server's own), every write
and every maintenance pass it queued finished. SQLite at its bound (``max_rows`` equal to the rows it
holds) evicts as it writes.

    .venv/bin/python -m benchmarks.bench_thinking_store            # 1M SQLite rows and 1M Redis keys
    .venv/bin/python -m benchmarks.bench_thinking_store --rows 100000 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import inspect
import os
import random
import socket
import sqlite3
import statistics
import string
import tempfile
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from pathlib import Path

import redis.asyncio as aioredis
import uvloop
from tests.support.redis_server import RedisServer

from benchmarks.report import write_section
from interleaf.gateway.capture import BATCH_BEHIND, BATCH_THROUGH
from interleaf.store.codec import compress
from interleaf.store.thinking import (
    RawReply,
    Stored,
    ThinkingStore,
    decode_message,
    encode_message,
    encode_messages,
)
from interleaf.store.thinking_redis import RedisThinkingStore, redis_key
from interleaf.store.thinking_sqlite import SQLiteThinkingStore, row_key
from interleaf.transcript import (
    Message,
    ReasoningDialect,
    Response,
    Text,
    Thinking,
    ToolCall,
    dumps_compact,
    message_to_json,
)
from interleaf.wire import anthropic

TENANTS = [f"t1:{i:032x}" for i in range(10)]
TTL = 7 * 24 * 3600.0
LEVELS = (1_000, 100_000, 1_000_000)
BATCH = 20_000
WRITES = 10_000
"""New turns stored at each size for the write figures."""
WRITE_BATCH = 32
"""Turns per ``put_groups``: a capture batch of the gateway at about 3,000 replies a second."""
_WRITE_BASE = 10**12
"""Indices of the written turns start here: never one of the filled turns, at any size."""


def _english_corpus() -> str:
    """Real English prose for thinking text (compression ratios depend on it): stdlib docstrings."""
    import argparse as m1
    import asyncio as m2
    import collections as m3
    import email as m4
    import json as m5
    import pathlib as m6
    import sqlite3 as m7
    import subprocess as m8

    docs = [inspect.getdoc(getattr(m, name)) for m in (m1, m2, m3, m4, m5, m6, m7, m8) for name in dir(m)]
    return " ".join(" ".join(d.split()) for d in docs if d and len(d) > 200)


CORPUS = _english_corpus()


def realistic_turn(rng: random.Random) -> Message:
    """~2 KB of JSON: 1.3 KB of thinking prose, a 344-char signature, a sentence and a tool call."""
    start = rng.randrange(len(CORPUS) - 1300)
    prose = CORPUS[start : start + 1300]
    words = CORPUS[start : start + 3000].split()
    call_id = "toolu_01" + "".join(rng.choices(string.ascii_letters + string.digits, k=22))
    args = '{"path": "src/%s/%s.py", "old": "%s", "new": "%s"}' % tuple(rng.choices(words, k=4))  # noqa: UP031
    return Message(
        role="assistant",
        blocks=(
            Thinking(
                text=prose,
                signature=base64.b64encode(rng.randbytes(256)).decode(),
                dialect=ReasoningDialect.ANTHROPIC,
            ),
            Text(text=" ".join(rng.choices(words, k=20)).capitalize() + "."),
            ToolCall(id=call_id, name="edit_file", raw_arguments=args),
        ),
    )


def key(index: int) -> tuple[str, str]:
    """The (tenant, fingerprint) of stored turn ``index``: random-looking, as real hashes are."""
    return TENANTS[index % len(TENANTS)], "f1:" + hashlib.sha256(index.to_bytes(8, "big")).hexdigest()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def timed(calls: Iterable[Callable[[], Awaitable[object]]]) -> list[float]:
    samples = []
    for call in calls:
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


async def measure(store: ThinkingStore, rows: int, rng: random.Random, rounds: int = 3) -> dict[str, float]:
    """Each figure is the best of ``rounds`` rounds: the machine is shared, and a neighbour's burst should
    not be reported as the store's latency (p99s stay noisy all the same)."""
    tenant_rows = range(0, rows, len(TENANTS))  # every 10th row belongs to tenant 0
    for tenant, fp in (key(rng.randrange(rows)) for _ in range(200)):  # warm-up: threads, connections
        assert await store.get(tenant, fp) is not None
    results: list[dict[str, float]] = []
    for _ in range(rounds):
        hits = [key(rng.randrange(rows)) for _ in range(1000)]
        batches = [[key(i)[1] for i in rng.sample(tenant_rows, 40)] for _ in range(150)]
        get = await timed(partial(store.get, t, f) for t, f in hits)
        miss = await timed(partial(store.get, TENANTS[0], f"f1:missing{i}") for i in range(500))
        many = await timed(partial(store.get_many, TENANTS[0], b) for b in batches)
        assert len(await store.get_many(TENANTS[0], batches[0])) == 40
        results.append(
            {
                "get_p50": statistics.median(get),
                "get_p99": percentile(get, 0.99),
                "miss_p50": statistics.median(miss),
                "many_p50": statistics.median(many),
                "many_p99": percentile(many, 0.99),
            }
        )
    return {name: min(r[name] for r in results) for name in results[0]}


def sql_only(path: Path, rows: int, rng: random.Random) -> float:
    db = sqlite3.connect(path)
    try:
        samples = []
        for _ in range(2000):
            tenant, fp = key(rng.randrange(rows))
            started = time.perf_counter()
            row = db.execute(
                "SELECT data FROM thinking WHERE k = ? AND tenant = ? AND fingerprint = ?",
                (row_key(tenant, fp), tenant, fp),
            ).fetchone()
            samples.append((time.perf_counter() - started) * 1e6)
            assert row is not None
        return statistics.median(samples)
    finally:
        db.close()


def reply_bodies(rng: random.Random, count: int = 256) -> list[RawReply]:
    """Whole Anthropic replies carrying a realistic turn, as an upstream sends them."""
    return [
        RawReply(
            "anthropic",
            dumps_compact(anthropic.encode_response(Response(message=realistic_turn(rng)))).encode(),
        )
        for _ in range(count)
    ]


async def write_cost(
    store: ThinkingStore,
    first: int,
    replies: list[RawReply],
    server_cpu: Callable[[], Awaitable[float]] | None = None,
    batch: int = WRITE_BATCH,
) -> float:
    """CPU µs per new turn stored: :data:`WRITES` turns from index ``first``, ``batch`` a call, until
    every write and queued maintenance pass is done."""
    before = time.process_time()
    server_before = await server_cpu() if server_cpu is not None else 0.0
    for low in range(first, first + WRITES, batch):
        groups: dict[str, dict[str, Stored]] = {}
        for i in range(low, min(first + WRITES, low + batch)):
            tenant, fingerprint = key(i)
            groups.setdefault(tenant, {})[fingerprint] = replies[i % len(replies)]
        await store.put_groups(groups, ttl_seconds=TTL)  # after the filled turns: those go first
    if isinstance(store, SQLiteThinkingStore):
        await store.wait_idle()
    spent = time.process_time() - before
    if server_cpu is not None:
        spent += await server_cpu() - server_before
    return spent * 1e6 / WRITES


# ---------------------------------------------------------------------------------------------- fills


def fill_sqlite(path: Path, start: int, stop: int, payloads: list[bytes]) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")  # setup only; the store itself runs with NORMAL
    now = time.time()
    try:
        for low in range(start, stop, BATCH):
            rows = [
                (row_key(*key(i)), *key(i), payloads[i % len(payloads)], now, now + TTL)
                for i in range(low, min(stop, low + BATCH))
            ]
            db.execute("BEGIN")
            db.executemany("INSERT INTO thinking VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.execute("COMMIT")
    finally:
        db.close()


async def fill_redis(url: str, start: int, stop: int, payloads: list[bytes]) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        for low in range(start, stop, BATCH):
            async with client.pipeline(transaction=False) as pipe:
                for i in range(low, min(stop, low + BATCH)):
                    pipe.set(redis_key(*key(i)), payloads[i % len(payloads)], px=int(TTL * 1000))
                await pipe.execute()
    finally:
        await client.aclose()


# ---------------------------------------------------------------------------------------------- runs


def codec_line(rng: random.Random) -> str:
    import json
    import timeit

    message = realistic_turn(rng)
    raw = json.dumps(message_to_json(message), ensure_ascii=False, separators=(",", ":")).encode()
    encoded = encode_message(message)

    def best_us(fn: Callable[[], object]) -> float:
        return min(timeit.repeat(fn, number=2000, repeat=5)) / 2000 * 1e6

    encode_us, decode_us = best_us(lambda: encode_message(message)), best_us(lambda: decode_message(encoded))
    # Compression alone (the store's codec), against the codec before zstd (zlib at level 6) on the same
    # bytes in the same run.
    zstd_us = best_us(lambda: compress(raw))
    zlib_size = len(zlib.compress(raw, 6))
    zlib_us = best_us(lambda: zlib.compress(raw, 6))
    return (
        f"A stored turn is {len(raw):,} bytes of JSON, {len(encoded):,} bytes zstd-compressed "
        f"({len(encoded) / len(raw):.0%}); encode {encode_us:.0f} µs, decode {decode_us:.0f} µs. "
        f"Compressing alone takes zstd (with its checksum) {zstd_us:.1f} µs; zlib at level 6 (the codec before zstd) "
        f"{zlib_us:.1f} µs ({zlib_us / zstd_us:.1f}×), for {zlib_size:,} bytes ({zlib_size / len(raw):.0%})."
    )


BUSY_BATCHES = 8


def _switches() -> int:
    """Context switches of this thread so far (voluntary and not): how often it waited, for the GIL
    or anything else."""
    with open(f"/proc/self/task/{threading.get_native_id()}/status") as status:
        fields = dict(line.split(":\t", 1) for line in status if ":\t" in line)
    return int(fields["voluntary_ctxt_switches"]) + int(fields["nonvoluntary_ctxt_switches"])


def _encode_behind_a_busy_loop(replies: list[RawReply], one_call: bool) -> tuple[float, float]:
    """µs of wall time per reply, and this worker thread's switches per reply, for encoding
    :data:`BUSY_BATCHES` batches of :data:`BATCH_BEHIND` replies in a thread while a uvloop event loop
    keeps the GIL busy (as the gateway's loop does under load): one call per batch, or one per reply."""
    batch = [replies[i % len(replies)] for i in range(BATCH_BEHIND)]
    result: list[float] = []

    def encode() -> None:
        before, started = _switches(), time.perf_counter()
        for _ in range(BUSY_BATCHES):
            if one_call:
                encode_messages(batch)
            else:
                [encode_message(reply) for reply in batch]
        count = BUSY_BATCHES * len(batch)
        result[:] = [(time.perf_counter() - started) * 1e6 / count, (_switches() - before) / count]

    async def busy_loop() -> None:
        done = False

        async def serve() -> None:  # as a request handler: some Python work, then a socket round trip
            left, right = socket.socketpair()
            reader, writer = await asyncio.open_connection(sock=left)
            peer_reader, peer_writer = await asyncio.open_connection(sock=right)
            while not done:
                sum(range(300))
                writer.write(b"x" * 512)
                peer_writer.write(await peer_reader.readexactly(512))
                await reader.readexactly(512)
            writer.close()
            peer_writer.close()

        tasks = [asyncio.create_task(serve()) for _ in range(8)]
        await asyncio.get_running_loop().run_in_executor(None, encode)
        done = True
        await asyncio.gather(*tasks)

    uvloop.run(busy_loop())
    return result[0], result[1]


async def busy_loop_line(replies: list[RawReply]) -> str:
    """The store writer's encoding behind a busy event loop, both ways, interleaved over 3 rounds."""
    rounds: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for _ in range(3):
        for one_call in (False, True):
            rounds[one_call].append(await asyncio.to_thread(_encode_behind_a_busy_loop, replies, one_call))
    (each_us, each_sw), (batch_us, batch_sw) = (
        (statistics.median(r[0] for r in rounds[k]), statistics.median(r[1] for r in rounds[k]))
        for k in (False, True)
    )
    return (
        f"Encoding behind a busy event loop (the SQLite store's writer is a thread; under load the event loop "
        f"holds the GIL nearly all the time): {BUSY_BATCHES} batches of {BATCH_BEHIND:,} replies encoded in a "
        "thread while a uvloop loop keeps 8 tasks busy (some Python work, then a round trip over a "
        "socket pair, as request handlers), medians of 3 interleaved rounds. "
        f"Reply by reply (`encode_message`: zstd gives up the GIL for each one, and the thread must win it "
        f"back) {each_us:.0f} µs a reply of wall time, {each_sw:.2f} thread switches a reply; the batch in one "
        f"call (`encode_messages`, what the store writes with) {batch_us:.0f} µs, {batch_sw:.2f} switches "
        f"({each_us / batch_us:.1f}× faster). On {os.cpu_count()} cores."
    )


async def run_sqlite(
    workdir: Path, levels: list[int], payloads: list[bytes], replies: list[RawReply]
) -> tuple[list[str], list[str]]:
    """Lookup rows and write rows of the report, one size after the other."""
    path = workdir / "thinking.db"
    await SQLiteThinkingStore(path).aclose()  # creates the schema
    lines: list[str] = []
    writes: list[str] = []
    filled = 0
    written = 0
    for level in levels:
        started = time.perf_counter()
        fill_sqlite(path, filled, level, payloads)
        fill_s, filled = time.perf_counter() - started, level
        rng = random.Random(level)
        store = SQLiteThinkingStore(path, max_rows=10 * level, purge_every=10**9)
        try:
            m = await measure(store, level, rng)
        finally:
            await store.aclose()
        size = _sqlite_mib(workdir)
        lines.append(
            _row("SQLite", level, m, f"{sql_only(path, level, rng):.0f}", f"{size:,.0f} MiB file", fill_s)
        )
        print(lines[-1], flush=True)
        async with SQLiteThinkingStore(path, max_rows=10 * max(level, WRITES)) as store:  # room to grow
            growing = await write_cost(store, _WRITE_BASE + written, replies)
            backlog = await write_cost(store, _WRITE_BASE + written + WRITES, replies, batch=BATCH_BEHIND)
            written += 2 * WRITES
        writes.append(f"| SQLite | {level:,} | {growing:.0f} µs | {backlog:.0f} µs ({BATCH_BEHIND:,}) |")
        print(writes[-1], flush=True)
        if level == levels[-1]:
            async with SQLiteThinkingStore(path, max_rows=level) as store:  # full: evicts as it writes
                rows_before = await store.count()
                bound = await write_cost(store, _WRITE_BASE + written, replies)
                evicted = rows_before + WRITES - await store.count()
            writes.append(
                f"| SQLite | {level:,}, at its bound (`max_rows` {level:,}): {evicted / WRITES:.1f} old "
                f"turns evicted per new one | {bound:.0f} µs | |"
            )
            writes.append(
                f"| SQLite | {level:,}, at its bound, one eviction per new turn (over time, evictions "
                f"match writes; derived from the two rows above) | "
                f"{growing + (bound - growing) / max(evicted / WRITES, 1.0):.0f} µs | |"
            )
            print(*writes[-2:], sep="\n", flush=True)
    return lines, writes


def _sqlite_mib(workdir: Path) -> float:
    return sum(p.stat().st_size for p in workdir.glob("thinking.db*")) / 2**20


async def run_redis(
    workdir: Path, levels: list[int], payloads: list[bytes], replies: list[RawReply]
) -> tuple[list[str], list[str]]:
    lines: list[str] = []
    writes: list[str] = []
    with RedisServer(workdir / "redis") as server:
        client = aioredis.Redis.from_url(server.url)

        async def server_cpu() -> float:
            info = await client.info("cpu")
            return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

        try:
            filled = written = 0
            for level in levels:
                started = time.perf_counter()
                await fill_redis(server.url, filled, level, payloads)
                fill_s, filled = time.perf_counter() - started, level
                store = RedisThinkingStore(server.url)
                try:
                    m = await measure(store, level, random.Random(level))
                    cost = await write_cost(store, _WRITE_BASE + written, replies, server_cpu)
                    backlog = await write_cost(
                        store, _WRITE_BASE + written + WRITES, replies, server_cpu, BATCH_THROUGH
                    )
                    written += 2 * WRITES
                finally:
                    await store.aclose()
                memory = (await client.info("memory"))["used_memory"] / 2**20
                lines.append(_row("Redis", level, m, "–", f"{memory:,.0f} MiB used_memory", fill_s))
                writes.append(
                    f"| Redis (this process and redis-server) | {level:,} | {cost:.0f} µs"
                    f" | {backlog:.0f} µs ({BATCH_THROUGH:,}) |"
                )
                print(lines[-1], writes[-1], sep="\n", flush=True)
        finally:
            await client.aclose()
    return lines, writes


def _row(backend: str, rows: int, m: dict[str, float], sql: str, size: str, fill_s: float) -> str:
    return (
        f"| {backend} | {rows:,} | {m['get_p50']:.0f} / {m['get_p99']:.0f} | {m['miss_p50']:.0f} "
        f"| {m['many_p50']:.0f} / {m['many_p99']:.0f} | {sql} | {size}; filled in {fill_s:.0f} s |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=LEVELS[-1], help="largest SQLite size (default 1,000,000)"
    )
    parser.add_argument(
        "--redis-rows", type=int, default=LEVELS[-1], help="largest Redis size (default 1,000,000)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    rng = random.Random(0)
    payloads = [encode_message(realistic_turn(rng)) for _ in range(256)]
    header = [
        "## Thinking store: lookups and writes",
        "",
        "`benchmarks/bench_thinking_store.py`: stores filled with realistic ~2 KB assistant turns, then "
        "looked up through the store API (µs per call; p50 / p99). `get_many` fetches 40 turns, what one "
        "request with a 40-turn history costs; *SQL only* is the bare index lookup without the store's "
        "thread hop and decoding. Best of 3 rounds; the machine is shared, so p99s are noisy.",
        "",
        "| backend | stored turns | get hit p50 / p99 | get miss p50 | get_many(40) p50 / p99 | SQL only p50 | size |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    replies = reply_bodies(random.Random(1))
    with tempfile.TemporaryDirectory(prefix="interleaf-bench-") as tmp:
        workdir = Path(tmp)
        lines, writes = await run_sqlite(
            workdir, [n for n in LEVELS if n < args.rows] + [args.rows], payloads, replies
        )
        (workdir / "thinking.db").unlink()
        redis_lines, redis_writes = await run_redis(
            workdir, [n for n in LEVELS if n < args.redis_rows] + [args.redis_rows], payloads, replies
        )
    body = "\n".join(
        [
            *header,
            *lines,
            *redis_lines,
            "",
            codec_line(rng),
            "",
            await busy_loop_line(replies),
            "",
            f"Storing a turn: {WRITES:,} new turns at each size through `put_groups`, {WRITE_BATCH} a "
            "call (the gateway's capture batches at a steady load), then as many in the batches the "
            "gateway writes a backlog in under load (each reply waits for its own write on Redis, so "
            "its batches stay smaller), each a whole Anthropic reply of about "
            f"{statistics.mean(len(r.body) for r in replies) / 1000:.1f} KB stored as it came; CPU time per "
            "turn until every write and every maintenance pass it queued is done. A SQLite turn is a row "
            "in a table and a key in a unique index of 64-bit digests: the digests are random, so each "
            "new key lands on its own index page, and the index grows with the store; a transaction "
            "writes each page it touched once, so bigger batches share pages. A store at its "
            "bound also evicts the turns closest to expiry, each leaving its served marker.",
            "",
            f"| backend | stored turns | CPU per turn stored, {WRITE_BATCH} a call | under load (turns a call) |",
            "|---|---|---:|---:|",
            *writes,
            *redis_writes,
        ]
    )
    print(body)
    if not args.no_write:
        write_section("thinking-store", body)


if __name__ == "__main__":
    asyncio.run(main())
