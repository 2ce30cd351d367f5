"""Before and after the gateway hardening (commit 629de95 against its parent 7c64843), and now (HEAD).

Each version is the real ``interleaf serve``: this checkout for *now*, the ``src`` of the older commits
exported with ``git archive`` into ``.bench/`` and put first on ``PYTHONPATH`` (the repository is never
touched). Every version runs the same measurements, in one run:

* **CPU per request**: every version and the bare proxy at once in front of the zero-latency emulator,
  ``wrk`` at concurrency 50 on each in turn.
* **Soak**: the soak test's load (``tests/support/load.py``): 200 streaming + 200 non-streaming clients
  running three-turn tool conversations and dropping thinking from every turn they send back, against
  ``tests/support/strict_echo.py``, an upstream that refuses any turn without its thinking. A refused
  turn is a turn *lost* (the gateway forwarded it bare). On SQLite (Anthropic clients, one gateway) and
  on a real redis-server (OpenAI clients, DeepSeek-style upstream, two replicas taking turns).
* **Drain**: requests sent at a steady rate to the zero-latency emulator while bursts of streams open
  and all end together; their latency counted from when each was due. The older gateway collected
  garbage and trimmed the heap on the event loop when its streams drained; the newer one tidies when idle.
* **Reset connections**: clients that each send one request, read the reply and reset the connection
  (RST, as a killed client or a proxy purging idle connections closes it), one after another; the
  gateway's memory before and after. uvicorn kept a reset connection for its whole keep-alive (75 s).

    .venv/bin/python -m benchmarks.bench_gateway_hardening [--seconds 12] [--bursts 2] [--resets 20000] [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import socket
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.gateway_load import Load, median_load, python_client, wrk, wrk_with_cpu
from benchmarks.gateway_processes import (
    PYTHON,
    ROOT,
    Party,
    cpu_seconds,
    exported_source,
    interleaf_serve,
    load_average,
    rss_mib,
    start_bare_proxy,
    start_emulator,
    start_redis,
)
from benchmarks.gateway_upstream import kept_turn_body, request_body
from benchmarks.hardening_report import Measured, Soak, report

BEFORE, AFTER = "7c64843", "629de95"
KEY = "sk-bench-hardening"


@dataclass
class Version:
    label: str
    commit: str
    source: Path | None
    """An exported ``src`` folder, or None for this checkout."""


def versions(args: argparse.Namespace) -> list[Version]:
    from benchmarks.report import commit, source_changed

    found = [
        Version(label, sha, exported_source(sha))
        for label, sha in (("before", args.before), ("after", args.after))
    ]
    if not args.no_head:
        found.append(Version("now", commit() + (" + uncommitted src/" if source_changed() else ""), None))
    return found


@contextlib.contextmanager
def strict_upstream(logs: Path) -> Any:
    """``tests/support/strict_echo.py`` in its own process; yields its URL."""
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / "strict.log").open("wb") as log:
        process = subprocess.Popen(
            [PYTHON, "-m", "tests.support.strict_echo", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=ROOT,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line.startswith(b"PORT "):
                raise RuntimeError(f"strict_echo did not start: {line!r}; see {logs / 'strict.log'}")
            yield f"http://127.0.0.1:{int(line.split()[1])}"
        finally:
            process.terminate()
            process.wait(timeout=15)


def soak_once(version: Version, store: str, upstream: str, args: argparse.Namespace, workdir: Path) -> Soak:
    """One version under the soak load, with fresh stores; the gateways' CPU counted while measured."""
    logs = workdir / "logs" / f"{version.label}-{store}"
    with contextlib.ExitStack() as stack:
        if store == "sqlite":
            gateways = [serve_alone(stack, version, "sqlite", upstream, workdir)]
            fmt = "anthropic"
        else:
            redis = start_redis(stack, logs)
            if redis is None:
                raise RuntimeError("redis-server is not installed: run scripts/ensure-system-deps")
            gateways = [
                interleaf_serve(
                    stack,
                    f"{version.label}-redis-{n}",
                    upstream=upstream,
                    store=redis,
                    home=logs / f"home{n}",
                    logs=logs,
                    profile="deepseek",
                    source=version.source,
                )
                for n in (1, 2)
            ]
            fmt = "openai-chat"
        command = [PYTHON, "-m", "benchmarks.soak_client", fmt, str(args.clients), f"{args.seconds:g}"]
        child = subprocess.Popen(
            [*command, *(g.url for g in gateways)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            text=True,
        )
        assert child.stdout is not None
        line = child.stdout.readline()
        if line.strip() != "MEASURING":
            child.wait()
            raise RuntimeError(f"soak client failed: {line}{child.stderr.read() if child.stderr else ''}")
        before = sum(cpu_seconds(g.pid) for g in gateways)
        out, err = child.communicate(timeout=args.seconds + 300)
        spent = sum(cpu_seconds(g.pid) for g in gateways) - before
        if child.returncode != 0:
            raise RuntimeError(f"soak client failed: {err[-1500:]}")
        rss = [rss_mib(g.pid) for g in gateways]
    return Soak(store, version.label, json.loads(out.strip().splitlines()[-1]), spent, rss)


def serve_alone(
    stack: contextlib.ExitStack, version: Version, task: str, emulator: str, workdir: Path
) -> Party:
    """``version``'s gateway for one ``task``, on a SQLite store of its own, in front of ``emulator``."""
    logs = workdir / "logs" / f"{version.label}-{task}"
    return interleaf_serve(
        stack,
        f"{version.label}-{task}",
        upstream=emulator,
        store=f"sqlite:///{logs}/thinking.db",
        home=logs / "home",
        logs=logs,
        source=version.source,
    )


def drain_once(version: Version, emulator: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    probe = workdir / "probe.json"
    probe.write_bytes(kept_turn_body())
    streams = workdir / "streams.json"
    streams.write_bytes(request_body([], stream=True, model=f"slow-stream-{args.stream_chunks}"))
    spec = f"{args.rate}:{args.bursts}:{args.streams}:{args.gap:g}:{streams}"
    with contextlib.ExitStack() as stack:
        gateway = serve_alone(stack, version, "drain", emulator, workdir)
        return python_client("drain", gateway.url, KEY, probe, spec)


RESET_SETTLE_SECONDS = 3.0
"""Seconds after the last reset before memory is read again: the gateway has seen every connection close
and tidied once it is idle (2 s), long before a keep-alive of 75 s would have ended."""


def reset_connections(url: str, count: int) -> None:
    """``count`` connections to ``url``, one after another: each asks ``/healthz``, reads the whole
    reply and resets the connection (SO_LINGER 0 sends RST instead of FIN)."""
    host, port = url.removeprefix("http://").split(":")
    linger = struct.pack("ii", 1, 0)
    for _ in range(count):
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            assert connection.sock is not None
            connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        finally:
            connection.close()


def resets_once(version: Version, emulator: str, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    """The gateway's RSS once started, right after ``args.resets`` reset connections, and
    :data:`RESET_SETTLE_SECONDS` later."""
    with contextlib.ExitStack() as stack:
        gateway = serve_alone(stack, version, "resets", emulator, workdir)
        started = rss_mib(gateway.pid)
        began = time.perf_counter()
        reset_connections(gateway.url, args.resets)
        seconds = time.perf_counter() - began
        after = rss_mib(gateway.pid)
        time.sleep(RESET_SETTLE_SECONDS)
        settled = rss_mib(gateway.pid)
    return {
        "started": started,
        "after": after,
        "settled": settled,
        "settle_seconds": RESET_SETTLE_SECONDS,
        "seconds": seconds,
    }


def cpu_per_request(found: list[Version], args: argparse.Namespace, workdir: Path) -> dict[str, Load]:
    """Every version and the bare proxy at once; wrk at concurrency 50 on each in turn, interleaved."""
    logs = workdir / "logs" / "cpu"
    runs: dict[str, list[Load]] = {}
    with contextlib.ExitStack() as stack:
        emulator = start_emulator(stack, logs)
        parties = {"bare": start_bare_proxy(stack, logs, emulator.url)}
        for version in found:
            parties[version.label] = interleaf_serve(
                stack,
                f"{version.label}-cpu",
                upstream=emulator.url,
                store=f"sqlite:///{logs}/{version.label}.db",
                home=logs / f"home-{version.label}",
                logs=logs,
                source=version.source,
            )
        body = workdir / "kept.json"
        body.write_bytes(kept_turn_body())
        for party in parties.values():
            wrk(party.url, body, connections=4, seconds=1, key=KEY, workdir=workdir)
        for round_number in range(args.cpu_rounds):
            print(f"CPU per request: round {round_number + 1} of {args.cpu_rounds}", flush=True)
            for name, party in parties.items():
                load = wrk_with_cpu(
                    party.url,
                    party.pid,
                    body,
                    connections=50,
                    seconds=args.cpu_seconds,
                    key=KEY,
                    workdir=workdir,
                )
                runs.setdefault(name, []).append(load)
    return {name: median_load(loads) for name, loads in runs.items()}


def run(args: argparse.Namespace, workdir: Path) -> Measured:
    load_before = load_average()
    found = versions(args)
    measured = Measured({v.label: f"{v.label} ({v.commit})" for v in found})
    measured.cpu = cpu_per_request(found, args, workdir)
    with strict_upstream(workdir / "logs") as upstream:
        for store in ("sqlite", "redis"):
            for version in found:
                print(f"soak: {version.label} ({version.commit}) on {store} ...", flush=True)
                measured.soaks.append(soak_once(version, store, upstream, args, workdir))
                print(f"  {measured.soaks[-1].result}", flush=True)
    with contextlib.ExitStack() as stack:
        emulator = start_emulator(stack, workdir / "logs")
        for version in found:
            print(f"drain: {version.label} ({version.commit}) ...", flush=True)
            measured.drains[version.label] = drain_once(version, emulator.url, args, workdir)
            print(f"  {measured.drains[version.label]}", flush=True)
        for version in found:
            print(f"reset connections: {version.label} ({version.commit}) ...", flush=True)
            measured.resets[version.label] = resets_once(version, emulator.url, args, workdir)
            print(f"  {measured.resets[version.label]}", flush=True)
    measured.load = (load_before, load_average())
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help=f"the commit before (default {BEFORE})")
    parser.add_argument("--after", default=AFTER, help=f"the commit after (default {AFTER})")
    parser.add_argument(
        "--no-head", action="store_true", help="measure before and after only, not this checkout"
    )
    parser.add_argument(
        "--clients", type=int, default=200, help="streaming clients, and as many non-streaming (200)"
    )
    parser.add_argument("--seconds", type=float, default=12.0, help="measured soak seconds per version (12)")
    parser.add_argument("--rate", type=int, default=100, help="drain: steady requests a second (100)")
    parser.add_argument("--bursts", type=int, default=2, help="drain: bursts of streams (2)")
    parser.add_argument("--streams", type=int, default=100, help="drain: streams a burst (100)")
    parser.add_argument(
        "--stream-chunks", type=int, default=10, help="drain: chunks a stream, 50 ms apart (10)"
    )
    parser.add_argument("--gap", type=float, default=30.0, help="drain: seconds between bursts (30)")
    parser.add_argument(
        "--resets", type=int, default=20_000, help="connections reset after one reply each (20000)"
    )
    parser.add_argument("--cpu-rounds", type=int, default=3, help="CPU per request: rounds (3)")
    parser.add_argument("--cpu-seconds", type=float, default=5.0, help="CPU per request: seconds a run (5)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    from benchmarks.report import write_section

    with tempfile.TemporaryDirectory(prefix="interleaf-bench-hardening-") as tmp:
        body = report(args, run(args, Path(tmp)))
    print(body)
    if not args.no_write:
        write_section("gateway-hardening", body)


if __name__ == "__main__":
    main()
