"""What ``interleaf serve --durable`` costs per response, on SQLite and on Redis, against the same without it.

``--durable`` writes each reply to the store before its last byte goes out: on SQLite with
``synchronous=FULL`` (an fsync per commit, concurrent replies sharing one). On Redis every reply is
written first anyway (replicas share the store); ``--durable`` adds only that a reply whose write fails
becomes a 503, and Redis's own persistence decides what survives a crash, so Redis is measured without
persistence and with ``appendonly yes`` + ``appendfsync always`` (an fsync per write, what durable means
there). Every configuration runs at once in front of the zero-latency emulator, each measured in turn in
interleaved rounds: latency one request at a time, back to back (wrk: whole replies and streams) and
paced like an agent's turns (a disk that has idled flushes slower), and throughput with CPU time per
response at concurrency 50 (wrk).

    .venv/bin/python -m benchmarks.bench_gateway_durable [--rounds 3] [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.gateway_load import (
    Load,
    error_note,
    median_load,
    python_client,
    require_wrk,
    wrk,
    wrk_with_cpu,
)
from benchmarks.gateway_processes import Party, interleaf_serve, load_average, start_emulator, start_redis
from benchmarks.gateway_upstream import kept_turn_body

KEY = "sk-bench-durable"


@dataclass(frozen=True)
class Config:
    name: str
    label: str
    store: str  # "sqlite", "redis" or "redis-fsync"
    durable: bool


CONFIGS = (
    Config("sqlite", "SQLite", "sqlite", False),
    Config("sqlite-durable", "SQLite `--durable` (fsync per commit)", "sqlite", True),
    Config("redis", "Redis, no persistence", "redis", False),
    Config("redis-durable", "Redis, no persistence, `--durable`", "redis", True),
    Config("redis-fsync-durable", "Redis `appendfsync always`, `--durable`", "redis-fsync", True),
)
BASELINE = {"sqlite-durable": "sqlite", "redis-durable": "redis", "redis-fsync-durable": "redis"}


PAUSE_MS = 20.0
"""Pause between paced requests: a disk that idles between flushes may flush slower than a busy one."""
PACED = 60


@dataclass
class Outcome:
    loads: dict[tuple[str, str], Load]
    """(measurement, config) -> median over rounds; measurements ``c1``, ``paced``, ``c1-stream``, ``c50``."""
    load: tuple[float, float]
    """The machine's load average before and after."""


def run(args: argparse.Namespace, workdir: Path) -> Outcome:
    load_before = load_average()
    logs = workdir / "logs"
    runs: dict[tuple[str, str], list[Load]] = {}
    with contextlib.ExitStack() as stack:
        emulator = start_emulator(stack, logs)
        redis = start_redis(stack, logs)
        redis_fsync = start_redis(stack, logs, fsync_always=True)
        if redis is None or redis_fsync is None:
            raise SystemExit(
                "redis-server is not installed: run scripts/ensure-system-deps (make bench does)"
            )
        stores = {"redis": redis, "redis-fsync": redis_fsync}
        parties: dict[str, Party] = {}
        for config in CONFIGS:
            parties[config.name] = interleaf_serve(
                stack,
                config.name,
                upstream=emulator.url,
                store=stores.get(config.store) or f"sqlite:///{workdir}/{config.name}.db",
                home=workdir / config.name,
                logs=logs,
                extra=("--durable",) if config.durable else (),
            )
        whole, streamed = workdir / "whole.json", workdir / "stream.json"
        whole.write_bytes(kept_turn_body())
        streamed.write_bytes(kept_turn_body(stream=True))
        for party in parties.values():
            wrk(party.url, whole, connections=4, seconds=1, key=KEY, workdir=workdir)
        for round_number in range(args.rounds):
            print(f"durable: round {round_number + 1} of {args.rounds}", flush=True)
            for name, party in parties.items():
                measure(party, name, whole, streamed, args, workdir, runs)
    loads = {key: median_load(loads) for key, loads in runs.items()}
    return Outcome(loads, (load_before, load_average()))


def measure(
    party: Party,
    name: str,
    whole: Path,
    streamed: Path,
    args: argparse.Namespace,
    workdir: Path,
    runs: dict[tuple[str, str], list[Load]],
) -> None:
    """One round of every measurement on one configuration."""
    runs.setdefault(("c1", name), []).append(
        wrk(party.url, whole, connections=1, seconds=args.c1_seconds, key=KEY, workdir=workdir)
    )
    paced = python_client("paced", party.url, KEY, whole, f"{PACED}:{PAUSE_MS:g}")
    runs.setdefault(("paced", name), []).append(Load(paced["p50"], paced["p99"], 0.0, 0))
    runs.setdefault(("c1-stream", name), []).append(
        wrk(party.url, streamed, connections=1, seconds=args.c1_seconds, key=KEY, workdir=workdir)
    )
    runs.setdefault(("c50", name), []).append(
        wrk_with_cpu(
            party.url, party.pid, whole, connections=50, seconds=args.c50_seconds, key=KEY, workdir=workdir
        )
    )


def added(loads: dict[tuple[str, str], Load], measurement: str, name: str) -> str:
    base = BASELINE.get(name)
    if base is None:
        return "—"
    return f"{loads[(measurement, name)].p50_ms - loads[(measurement, base)].p50_ms:+.2f} ms"


def report(args: argparse.Namespace, outcome: Outcome) -> str:
    loads, load = outcome.loads, outcome.load
    lines = [
        "## Gateway: the cost of `--durable`",
        "",
        "`benchmarks/bench_gateway_durable.py`: `interleaf serve` on SQLite and on a real redis-server, with "
        "and without `--durable`, all running at once in front of the zero-latency emulator (each reply with "
        "a new tool-call id, so each is a new row); each configuration measured in turn, "
        f"{args.rounds} interleaved rounds, medians. *Back to back*: wrk at concurrency 1, every response "
        f"waiting for its own write; *paced*: {PACED} requests one at a time, {PAUSE_MS:g} ms apart, as an "
        "agent's turns come (an aiohttp client); concurrency 50: wrk, concurrent replies sharing commits, "
        "*CPU per response* the gateway process's own (not redis-server's). p50s, added against the same "
        "store without `--durable`:",
        "",
        "| configuration | back to back | added | paced | added | stream, back to back | added "
        "| c=50 req/s | CPU per response | added |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for config in CONFIGS:
        one, paced, stream, fifty = (loads[(m, config.name)] for m in ("c1", "paced", "c1-stream", "c50"))
        base = BASELINE.get(config.name)
        cpu_added = (
            f"{(fifty.cpu_us or 0) - (loads[('c50', base)].cpu_us or 0):+,.0f} µs"
            if base is not None
            else "—"
        )
        flag = error_note((one, stream, fifty))
        lines.append(
            f"| {config.label}{flag} | {one.p50_ms:.2f} ms | {added(loads, 'c1', config.name)} "
            f"| {paced.p50_ms:.2f} ms | {added(loads, 'paced', config.name)} "
            f"| {stream.p50_ms:.2f} ms | {added(loads, 'c1-stream', config.name)} "
            f"| {fifty.rps:,.0f} | {fifty.cpu_us or 0:,.0f} µs | {cpu_added} |"
        )
    share = loads[("c50", "sqlite-durable")].rps / loads[("c50", "sqlite")].rps
    lines += [
        "",
        f"Per response, `--durable` on SQLite adds {added(loads, 'paced', 'sqlite-durable')} to a request that "
        f"comes {PAUSE_MS:g} ms after the previous one and {added(loads, 'c1', 'sqlite-durable')} back to "
        f"back, and keeps {share:.0%} of SQLite's throughput at concurrency 50 (concurrent replies share a "
        "commit). The store files are on this machine's virtual disk: where flushes cost more, so does "
        "`--durable`. On Redis "
        "the reply is written before it is sent with or without `--durable`; an fsync per write on the server "
        f"(`appendfsync always`) adds {added(loads, 'paced', 'redis-fsync-durable')} paced.",
        "",
        f"Load average {load[0]:.2f} → {load[1]:.2f} on 2 cores shared with other work; wrk runs of "
        f"{args.c1_seconds:g} s at concurrency 1 and {args.c50_seconds:g} s at 50.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    args.c1_seconds, args.c50_seconds = 2.0, 4.0
    require_wrk()
    from benchmarks.report import write_section

    with tempfile.TemporaryDirectory(prefix="interleaf-bench-durable-") as tmp:
        outcome = run(args, Path(tmp))
    body = report(args, outcome)
    print(body)
    if not args.no_write:
        write_section("gateway-durable", body)


if __name__ == "__main__":
    main()
