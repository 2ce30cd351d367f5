"""The gateway's cost, side by side: direct to a zero-latency upstream, a bare proxy, interleaf, LiteLLM.

Every party runs in its own process: the upstream emulator (raw asyncio on uvloop, TCP_NODELAY), a bare
Starlette + aiohttp proxy (the floor for any Python gateway), ``interleaf serve`` (the real CLI) on SQLite
and on Redis, and LiteLLM's proxy from its own venv (``.bench/litellm-venv``, built when missing). ``wrk``
is the load generator for latency, throughput and CPU time per request: it costs less than any of them.

The headline is CPU time per request: what ``interleaf serve`` spends against what the bare proxy
spends, in the same run, under the same wrk load. Also measured: added latency at concurrency 1, time to
the first byte of streams, restoring requests (1 and 20 dropped turns, and with 1M stored turns), how
many slow streams (30 s each) the gateway holds at once, and memory.

    .venv/bin/python -m benchmarks.bench_gateway                 # the full run, writes docs/benchmarks.md
    .venv/bin/python -m benchmarks.bench_gateway --quick --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.gateway_load import Load, median_load, python_client, require_wrk, wrk, wrk_with_cpu
from benchmarks.gateway_processes import (
    LITELLM_KEY,
    PYTHON,
    ROOT,
    Party,
    cpu_seconds,
    interleaf_serve,
    litellm_binary,
    litellm_version,
    load_average,
    rss_mib,
    start_bare_proxy,
    start_emulator,
    start_litellm,
    start_redis,
)
from benchmarks.gateway_report import BACKLOG_EVERY, IDLE_SETTLE_SECONDS
from benchmarks.gateway_upstream import (
    MODEL,
    SLOW_CHUNKS,
    SLOW_MODEL,
    drive_conversation,
    kept_turn_body,
    raise_open_files,
    request_body,
)

KEY = "sk-bench-client-key"


@dataclass
class Results:
    loads: dict[tuple[int, str], Load] = field(default_factory=dict)
    """(concurrency, party) -> wrk result with the party's CPU time per request."""
    parties: list[str] = field(default_factory=list)
    ttfb: dict[str, dict[str, float]] = field(default_factory=dict)
    restore: dict[str, Load] = field(default_factory=dict)
    slow: dict[str, dict[str, Any]] = field(default_factory=dict)
    rss_start: dict[str, float] = field(default_factory=dict)
    """Resident memory once started, before any load, MiB."""
    rss: dict[str, float] = field(default_factory=dict)
    """Resident memory when the last slow stream closed, MiB."""
    rss_idle: dict[str, float] = field(default_factory=dict)
    """The same, IDLE_SETTLE_SECONDS later (every party idle)."""
    backlog: dict[str, list[int]] = field(default_factory=dict)
    """interleaf party -> replies waiting to be written (``/healthz``), sampled during the c=50 runs."""
    notes: list[str] = field(default_factory=list)
    load: tuple[float, float] = (0.0, 0.0)
    """The machine's load average before and after."""


def run(args: argparse.Namespace, workdir: Path) -> Results:
    results = Results()
    load_before = load_average()
    logs = workdir / "logs"
    with contextlib.ExitStack() as stack:
        emulator = start_emulator(stack, logs)
        direct = Party("direct", emulator.url, emulator.process)  # its CPU is the emulator's
        bare = start_bare_proxy(stack, logs, emulator.url)
        keeping = start_bare_proxy(stack, logs, emulator.url, keep_in=workdir / "bare-keeping.db")
        gateway = interleaf_serve(
            stack,
            "interleaf",
            upstream=emulator.url,
            store=f"sqlite:///{workdir}/thinking.db",
            home=workdir / "home",
            logs=logs,
            log_level=args.log_level,
        )
        parties = [direct, bare, keeping, gateway]
        redis = start_redis(stack, logs)
        if redis is None:
            results.notes.append("Redis row skipped: no redis-server (make test installs it).")
        else:
            parties.append(
                interleaf_serve(
                    stack,
                    "interleaf-redis",
                    upstream=emulator.url,
                    store=redis,
                    home=workdir / "home-redis",
                    logs=logs,
                    log_level=args.log_level,
                )
            )
        litellm = litellm_binary(build=not args.no_build)
        if litellm is not None:
            parties.append(start_litellm(stack, litellm, workdir, emulator.url, (MODEL, SLOW_MODEL)))
            results.notes.append(
                f"LiteLLM {litellm_version()} proxy, one worker, `anthropic/` provider, no database."
            )
        results.parties = [p.name for p in parties]
        results.rss_start = {party.name: rss_mib(party.pid) for party in parties[1:]}
        keys = {p.name: LITELLM_KEY if p.name == "litellm" else KEY for p in parties}
        measure_load(args, workdir, parties, keys, results)
        measure_restore(args, workdir, direct, gateway, results)

        print("slow streams ...", flush=True)
        slow_body = workdir / "slow.json"
        slow_body.write_bytes(request_body([], stream=True, model=SLOW_MODEL))
        relaying = [
            party
            for party in parties
            if party.name in ("bare", "interleaf") or (party.name == "litellm" and args.litellm_streams)
        ]
        for party in relaying:
            results.slow[party.name] = slow_streams(party, keys[party.name], slow_body, args.streams)
            # Memory when its own last stream closed, and once it has been idle a moment (interleaf
            # hands freed heap back then), before the next party's streams start.
            results.rss[party.name] = rss_mib(party.pid)
            time.sleep(IDLE_SETTLE_SECONDS)
            results.rss_idle[party.name] = rss_mib(party.pid)
        for party in parties[1:]:
            if party not in relaying:
                results.rss[party.name] = rss_mib(party.pid)
        results.rss["emulator"] = rss_mib(emulator.pid)

    print(f"{args.rows:,} stored turns ...", flush=True)
    results.restore.update(million_rows(args, workdir))
    results.load = (load_before, load_average())
    return results


def measure_load(
    args: argparse.Namespace, workdir: Path, parties: list[Party], keys: dict[str, str], results: Results
) -> None:
    """wrk at concurrency 1 and 50 and streams' first byte, every party in each round (the machine is
    shared and noisy: rounds interleave the parties so that a busy moment hits them all alike)."""
    intact = workdir / "intact.json"
    intact.write_bytes(kept_turn_body())
    stream_body = workdir / "stream.json"
    stream_body.write_bytes(kept_turn_body(stream=True))
    for party in parties:  # warm-up: connections, caches, lazy imports
        wrk(party.url, intact, connections=4, seconds=1, key=keys[party.name], workdir=workdir)
    runs: dict[tuple[int, str], list[Load]] = {}
    # The keeping bare proxy keeps whole replies only: its streams are the bare proxy's.
    ttfb: dict[str, list[dict[str, float]]] = {p.name: [] for p in parties if p.name != "bare-keeping"}
    for round_number in range(args.rounds):
        print(
            f"latency, throughput, CPU and first byte: round {round_number + 1} of {args.rounds}", flush=True
        )
        for party in parties:
            for connections, seconds in ((1, args.c1_seconds), (50, args.c50_seconds)):
                sampled = party.name.startswith("interleaf") and connections == 50
                with backlog_samples(party.url, results.backlog.setdefault(party.name, []), sampled):
                    load = wrk_with_cpu(
                        party.url,
                        party.pid,
                        intact,
                        connections=connections,
                        seconds=seconds,
                        key=keys[party.name],
                        workdir=workdir,
                    )
                runs.setdefault((connections, party.name), []).append(load)
            if party.name in ttfb:
                ttfb[party.name].append(
                    python_client("ttfb", party.url, keys[party.name], stream_body, "100")
                )
    results.loads = {key: median_load(loads) for key, loads in runs.items()}
    results.ttfb = {
        name: {stat: statistics.median(r[stat] for r in rs) for stat in ("p50", "p99")}
        for name, rs in ttfb.items()
    }


@contextlib.contextmanager
def backlog_samples(url: str, into: list[int], enabled: bool = True) -> Iterator[None]:
    """Read ``/healthz``'s ``store.pending_writes`` every :data:`BACKLOG_EVERY` seconds while the block
    runs, appending to ``into``: whether the store's writer keeps up with the load (past half of
    ``--capture-backlog`` new requests wait for room)."""
    if not enabled:
        yield
        return
    done = threading.Event()

    def sample() -> None:
        while not done.wait(BACKLOG_EVERY):
            with (
                contextlib.suppress(OSError, ValueError, KeyError),
                urllib.request.urlopen(url + "/healthz", timeout=2) as answer,
            ):
                into.append(int(json.loads(answer.read())["store"]["pending_writes"]))

    sampler = threading.Thread(target=sample, name="backlog-sampler", daemon=True)
    sampler.start()
    try:
        yield
    finally:
        done.set()
        sampler.join()


def measure_restore(
    args: argparse.Namespace, workdir: Path, direct: Party, gateway: Party, results: Results
) -> None:
    """Requests whose client dropped the thinking of 1 and of 20 earlier turns (wrk, concurrency 1)."""
    print("restoring requests ...", flush=True)
    for turns in (1, 20):
        history = drive_conversation(gateway.url, KEY, turns)  # stores each turn; the client drops thinking
        dropped = workdir / f"dropped-{turns}.json"
        dropped.write_bytes(request_body(history))
        for party in (direct, gateway):
            runs = [
                wrk(party.url, dropped, connections=1, seconds=args.c1_seconds, key=KEY, workdir=workdir)
                for _ in range(args.rounds)
            ]
            results.restore[f"{party.name}-{turns}"] = median_load(runs)


def slow_streams(party: Party, key: str, body: Path, count: int) -> dict[str, Any]:
    """Open ``count`` slow streams at once through ``party``, sampling its RSS while they run; its CPU
    time per relayed chunk."""
    command = [PYTHON, "-m", "benchmarks.gateway_load", "slow", party.url, key, str(body), str(count)]
    cpu_before = cpu_seconds(party.pid)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, rss_mib(party.pid))
        time.sleep(0.5)
    out, err = process.communicate()
    if process.returncode != 0:
        return {"error": err.decode()[-300:], "rss_peak": peak}
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    result["rss_peak"] = peak
    result["cpu_per_chunk_us"] = (cpu_seconds(party.pid) - cpu_before) * 1e6 / (count * SLOW_CHUNKS)
    return result


def million_rows(args: argparse.Namespace, workdir: Path) -> dict[str, Load]:
    """The 1-turn restoring request against a store holding ``args.rows`` other turns."""
    from benchmarks.bench_thinking_store import fill_sqlite, realistic_turn
    from interleaf.store.thinking import encode_message

    big = workdir / "big"
    big.mkdir()
    path = big / "thinking.db"
    asyncio.run(_create_schema(path))
    rng = random.Random(0)
    payloads = [encode_message(realistic_turn(rng)) for _ in range(256)]
    fill_sqlite(path, 0, args.rows, payloads)
    with contextlib.ExitStack() as stack:
        emulator = start_emulator(stack, big / "logs")
        gateway = interleaf_serve(
            stack,
            "interleaf",
            upstream=emulator.url,
            store=f"sqlite:///{path}",
            home=big / "home",
            logs=big / "logs",
            log_level=args.log_level,
        )
        history = drive_conversation(gateway.url, KEY, 1)
        dropped = big / "dropped-1.json"
        dropped.write_bytes(request_body(history))
        wrk(gateway.url, dropped, connections=1, seconds=1, key=KEY, workdir=big)
        runs = [
            wrk(gateway.url, dropped, connections=1, seconds=args.c1_seconds, key=KEY, workdir=big)
            for _ in range(args.rounds)
        ]
    return {f"interleaf-1-{args.rows}": median_load(runs)}


async def _create_schema(path: Path) -> None:
    from interleaf.store.thinking_sqlite import SQLiteThinkingStore

    await SQLiteThinkingStore(path).aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (1 round, 200 streams, 100k rows)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--no-build", action="store_true", help="do not build LiteLLM's venv if missing")
    parser.add_argument("--streams", type=int, default=None, help="slow streams at once (default 1000)")
    parser.add_argument(
        "--litellm-streams",
        action="store_true",
        help="also hold the slow streams open through LiteLLM (about 100 s more; off by default)",
    )
    parser.add_argument(
        "--rows", type=int, default=None, help="stored turns for the store-size run (default 1M)"
    )
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--log-level", default="warning", help="interleaf serve --log-level (default warning)"
    )
    args = parser.parse_args()
    args.streams = args.streams or (200 if args.quick else 1000)
    args.rows = args.rows or (100_000 if args.quick else 1_000_000)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.c1_seconds, args.c50_seconds = (2.0, 4.0) if args.quick else (3.0, 6.0)
    require_wrk()
    raise_open_files()
    from benchmarks.gateway_report import report
    from benchmarks.report import write_section

    with tempfile.TemporaryDirectory(prefix="interleaf-bench-gateway-") as tmp:
        results = run(args, Path(tmp))
    body = report(results, args)
    print(body)
    if not args.no_write:
        write_section("gateway", body)


if __name__ == "__main__":
    main()
