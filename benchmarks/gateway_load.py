"""Load generators of the gateway benchmarks: ``wrk`` and small Python clients, each in its own process.

``wrk`` (C) is the generator for latency, throughput and CPU time per request: it costs far less than
any Python gateway, so what it measures is the gateway, not itself. Python aiohttp clients (uvloop) do
what wrk cannot: time to the first byte of a stream, a thousand slow streams held open at once, requests
spaced out like an agent's turns (``paced``), and latency of requests sent at a steady rate while bursts
of streams come and go (``drain``).

The Python clients run as children, so their CPU is never counted as the gateway's::

    python -m benchmarks.gateway_load ttfb|slow|paced|drain URL KEY BODY ARG
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.gateway_processes import PYTHON, ROOT
from benchmarks.gateway_upstream import STORED_METRIC, raise_open_files

WRK_SCRIPT = """
local f = io.open(os.getenv("BENCH_BODY"), "rb")
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = os.getenv("BENCH_KEY")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
wrk.headers["anthropic-version"] = "2023-06-01"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"p50": %d, "p99": %d, "requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d}\\n',
    latency:percentile(50), latency:percentile(99), summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""
WRK_MISSING = (
    "the gateway benchmarks need wrk, the load generator for every path: run "
    "`scripts/ensure-system-deps wrk` (make bench does) or `sudo apt-get install wrk`"
)


def require_wrk() -> None:
    """Exit with the install command when wrk is missing."""
    if shutil.which("wrk") is None:
        sys.exit(WRK_MISSING)


@dataclass
class Load:
    p50_ms: float
    p99_ms: float
    rps: float
    errors: int
    cpu_us: float | None = None
    """CPU time the serving process (and its children) spent per request, µs."""
    answers: dict[str, int] = field(default_factory=dict)
    """What an interleaf gateway answered instead of 200 meanwhile, from its ``/metrics``: HTTP
    statuses (``503``) and refusal reasons (``refused capture_backlog``), with counts."""


def error_note(loads: Iterable[Load]) -> str:
    """`` (N errors: what they were)`` for a table row, or ``""`` when there were none."""
    runs = list(loads)
    errors = sum(r.errors for r in runs)
    if not errors:
        return ""
    answers: dict[str, int] = {}
    for run in runs:
        for what, count in run.answers.items():
            answers[what] = answers.get(what, 0) + count
    known = sum(count for what, count in answers.items() if not what.startswith("refused"))
    parts = [f"{what} ×{count:,}" for what, count in sorted(answers.items())]
    if errors > known:  # wrk also counts sockets it could not use: connect, read, write, timeout
        parts.append(f"socket errors or other ×{errors - known:,}")
    return f" ({errors:,} errors: {', '.join(parts)})"


def _answers(url: str) -> dict[str, int] | None:
    """Non-200 statuses and refusal reasons counted by an interleaf gateway so far; None for a party
    without interleaf's ``/metrics``."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
            text = response.read().decode()
    except (OSError, ValueError):
        return None
    out: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("interleaf_requests_total{") and 'status="200"' not in line:
            status = line.split('status="', 1)[1].split('"', 1)[0]
            out[status] = out.get(status, 0) + int(float(line.split()[-1]))
        elif line.startswith("interleaf_requests_rejected_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            out[f"refused {reason}"] = int(float(line.split()[-1]))
    return out


def wrk(url: str, body: Path, *, connections: int, seconds: float, key: str, workdir: Path) -> Load:
    """``connections`` keep-alive connections posting ``body`` back to back for ``seconds``."""
    script = workdir / "bench.lua"
    script.write_text(WRK_SCRIPT)
    threads = 1 if connections == 1 else 2
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script)]
    env = {**os.environ, "BENCH_BODY": str(body), "BENCH_KEY": key}
    before = _answers(url)
    out = subprocess.run(
        [*command, url + "/v1/messages"], capture_output=True, text=True, env=env, check=True
    )
    after = _answers(url) if before is not None else None
    line = next((line for line in out.stdout.splitlines() if line.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result for {url}: {out.stdout[-500:]} {out.stderr[-500:]}")
    data = json.loads(line[len("RESULT ") :])
    return Load(
        p50_ms=data["p50"] / 1000,
        p99_ms=data["p99"] / 1000,
        rps=data["requests"] / (data["duration_us"] / 1e6),
        errors=data["errors"] + data["non2xx"],
        answers={
            what: count - (before or {}).get(what, 0)
            for what, count in (after or {}).items()
            if count > (before or {}).get(what, 0)
        },
    )


def settle(url: str, timeout: float = 30.0) -> None:
    """Wait until a gateway has written the replies it holds (its ``interleaf_turns_stored_total``, or the
    keeping bare proxy's ``bench_replies_stored_total``, stops moving), so that one run's backlog of
    writes is not measured in the next one. A party without ``/metrics`` returns at once."""
    deadline = time.monotonic() + timeout
    last: float | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
                text = response.read().decode()
        except (OSError, ValueError):  # urllib's errors are OSErrors: no metrics there
            return
        count = sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith(("interleaf_turns_stored_total", STORED_METRIC))
        )
        if count == last:
            return
        last = count
        time.sleep(0.5)


def wrk_with_cpu(
    url: str, pid: int, body: Path, *, connections: int, seconds: float, key: str, workdir: Path
) -> Load:
    """:func:`wrk` once the party has settled (:func:`settle`), plus the CPU time process ``pid`` spent
    per request, counted until it has settled again: a gateway that writes its captured replies
    behind the load (up to ``--capture-backlog`` of them) does part of a run's work after wrk stops,
    and that work is part of what the requests cost."""
    from benchmarks.gateway_processes import cpu_seconds

    settle(url)
    before = cpu_seconds(pid)
    load = wrk(url, body, connections=connections, seconds=seconds, key=key, workdir=workdir)
    settle(url)
    load.cpu_us = (cpu_seconds(pid) - before) * 1e6 / max(1.0, load.rps * seconds)
    return load


def median_load(runs: list[Load]) -> Load:
    """The median of each figure over repeated runs (errors summed)."""
    cpus = [r.cpu_us for r in runs if r.cpu_us is not None]
    return Load(
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
        rps=statistics.median(r.rps for r in runs),
        errors=sum(r.errors for r in runs),
        cpu_us=statistics.median(cpus) if len(cpus) == len(runs) else None,
        answers={what: sum(r.answers.get(what, 0) for r in runs) for r0 in runs for what in r0.answers},
    )


def percentile(samples: list[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``samples`` (nearest rank); 0 for none."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def python_client(
    task: str, url: str, key: str, body: Path, arg: str, timeout: float = 600
) -> dict[str, Any]:
    """A Python client measurement in a child process: its JSON result."""
    command = [PYTHON, "-m", "benchmarks.gateway_load", task, url, key, str(body), arg]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{task} client failed against {url}: {done.stderr[-1500:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ------------------------------------------------------------------------------- in the child


def _headers(key: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "x-api-key": key,
        "authorization": f"Bearer {key}",
        "anthropic-version": "2023-06-01",
    }


async def client_ttfb(url: str, key: str, body: bytes, count: int) -> dict[str, Any]:
    """``count`` streams one after the other (20 more to warm up): time to the first body byte, ms."""
    import aiohttp

    samples = []
    async with aiohttp.ClientSession() as session:
        for i in range(count + 20):
            started = time.perf_counter()
            async with session.post(url + "/v1/messages", data=body, headers=_headers(key)) as response:
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {(await response.text())[:300]}")
                await response.content.readany()
                first = time.perf_counter() - started
                await response.read()
            if i >= 20:
                samples.append(first * 1000)
    return {"p50": statistics.median(samples), "p99": percentile(samples, 0.99)}


async def client_slow(url: str, key: str, body: bytes, count: int) -> dict[str, Any]:
    """``count`` slow streams at once: how many finish whole, their first byte, the worst gap after it."""
    import aiohttp

    raise_open_files()
    open_now = peak = 0

    async def one(session: aiohttp.ClientSession) -> tuple[bool, float, float, float]:
        nonlocal open_now, peak
        started = time.perf_counter()
        first = last = worst = 0.0
        seen = b""
        try:
            async with session.post(url + "/v1/messages", data=body, headers=_headers(key)) as response:
                if response.status != 200:
                    return False, 0.0, 0.0, 0.0
                open_now += 1
                peak = max(peak, open_now)
                try:
                    async for chunk in response.content.iter_any():
                        now = time.perf_counter()
                        if first:
                            worst = max(worst, now - last)
                        else:
                            first = now
                        last = now
                        seen = (seen + chunk)[-64:]
                finally:
                    open_now -= 1
        except (aiohttp.ClientError, TimeoutError):
            return False, 0.0, 0.0, 0.0
        return b"message_stop" in seen, time.perf_counter() - started, first - started, worst

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=180)
    ) as session:
        results = await asyncio.gather(*(one(session) for _ in range(count)))
    done = [r for r in results if r[0]]
    durations = sorted(r[1] for r in done) or [0.0]
    firsts = sorted(r[2] for r in done) or [0.0]
    return {
        "completed": len(done),
        "peak_open": peak,
        "duration_p50": statistics.median(durations),
        "duration_max": durations[-1],
        "first_p50": statistics.median(firsts),
        "first_max": firsts[-1],
        "worst_gap": max((r[3] for r in done), default=0.0),
    }


async def client_paced(url: str, key: str, body: bytes, count: int, pause: float) -> dict[str, Any]:
    """``count`` requests one at a time, ``pause`` seconds apart (as an agent's turns are: a disk that idles
    between flushes may flush slower than one kept busy), after 10 to warm up: latency p50/p99, ms."""
    import aiohttp

    samples = []
    async with aiohttp.ClientSession() as session:
        for number in range(count + 10):
            await asyncio.sleep(pause)
            started = time.perf_counter()
            async with session.post(url + "/v1/messages", data=body, headers=_headers(key)) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status} from {url}")
            if number >= 10:
                samples.append((time.perf_counter() - started) * 1000)
    return {"p50": statistics.median(samples), "p99": percentile(samples, 0.99)}


@dataclass
class DrainPlan:
    """``rate`` non-streaming requests a second; ``bursts`` times, ``streams`` streams opened at once,
    ``gap`` seconds apart. Given on the command line as ``RATE:BURSTS:STREAMS:GAP:STREAM_BODY_PATH``."""

    rate: float
    bursts: int
    streams: int
    gap: float
    stream_body: bytes


async def client_drain(url: str, key: str, probe: bytes, plan: DrainPlan) -> dict[str, Any]:
    """Requests sent at a steady rate while bursts of streams open and all end together.

    Each request is timed from when it was due, so a stalled gateway shows in the latency of every
    request it held back. Latencies (ms) are grouped by when the request was due: from 0.1 s before a
    burst's last stream ended to 1 s after (*drain*), while a burst's streams ran (*streams*), or
    otherwise (*quiet*)."""
    import aiohttp

    raise_open_files()
    due_latency: list[tuple[float, float]] = []
    windows: list[tuple[float, float]] = []  # (first stream opened, last stream ended)
    errors = 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:

        async def request(due: float) -> None:
            nonlocal errors
            async with session.post(url + "/v1/messages", data=probe, headers=_headers(key)) as response:
                await response.read()
                errors += response.status != 200
            due_latency.append((due, (time.perf_counter() - due) * 1000))

        async def stream() -> None:
            nonlocal errors
            async with session.post(
                url + "/v1/messages", data=plan.stream_body, headers=_headers(key)
            ) as response:
                raw = await response.read()
                errors += response.status != 200 or b"message_stop" not in raw

        async def burst_loop() -> None:
            await asyncio.sleep(2.0)  # the steady requests first
            for number in range(plan.bursts):
                if number:
                    await asyncio.sleep(plan.gap)
                opened = time.perf_counter()
                await asyncio.gather(*(stream() for _ in range(plan.streams)))
                windows.append((opened, time.perf_counter()))
            await asyncio.sleep(2.0)

        bursting = asyncio.create_task(burst_loop())
        pending: set[asyncio.Task[None]] = set()
        interval = 1.0 / plan.rate
        due = time.perf_counter()
        while not bursting.done():
            due += interval
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            task = asyncio.create_task(request(due))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await bursting
        await asyncio.gather(*pending)
    groups: dict[str, list[float]] = {"drain": [], "streams": [], "quiet": []}
    for due_at, latency in due_latency:
        if any(end - 0.1 <= due_at < end + 1.0 for _, end in windows):
            groups["drain"].append(latency)
        elif any(opened <= due_at < end for opened, end in windows):
            groups["streams"].append(latency)
        else:
            groups["quiet"].append(latency)
    summary: dict[str, Any] = {"errors": errors, "bursts": len(windows)}
    for name, samples in groups.items():
        summary[name] = {
            "count": len(samples),
            "p50": percentile(samples, 0.5),
            "p99": percentile(samples, 0.99),
            "max": max(samples, default=0.0),
        }
    return summary


def main() -> None:
    if len(sys.argv) != 6:
        sys.exit("usage: python -m benchmarks.gateway_load ttfb|slow|paced|drain URL KEY BODY ARG")
    task, url, key, body_path, arg = sys.argv[1:6]
    import uvloop

    body = Path(body_path).read_bytes()
    if task == "ttfb":
        result = uvloop.run(client_ttfb(url, key, body, int(arg)))
    elif task == "slow":
        result = uvloop.run(client_slow(url, key, body, int(arg)))
    elif task == "paced":
        count, pause_ms = arg.split(":")
        result = uvloop.run(client_paced(url, key, body, int(count), float(pause_ms) / 1000))
    elif task == "drain":
        rate, bursts, streams, gap, stream_path = arg.split(":", 4)
        plan = DrainPlan(float(rate), int(bursts), int(streams), float(gap), Path(stream_path).read_bytes())
        result = uvloop.run(client_drain(url, key, body, plan))
    else:
        sys.exit(f"unknown client task {task!r}: ttfb, slow, paced or drain")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
