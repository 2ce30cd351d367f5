"""Gateway throughput under the client stacks apps are built on (httpx, httpx2, the anthropic SDK).

50 concurrent callers in one Python process (:mod:`benchmarks.gateway_clients`), direct to the
zero-latency emulator, through the bare proxy and through ``interleaf serve``, interleaved rounds. The
callers share the two cores with the gateway, so this shows how much of such an app's throughput the
gateway takes, not the gateway's capacity (the Gateway section measures that, with wrk).

    .venv/bin/python -m benchmarks.bench_gateway_clients [--rounds 2] [--seconds 4] [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from pathlib import Path

from benchmarks.gateway_clients import httpx_python, run_clients
from benchmarks.gateway_load import Load, median_load
from benchmarks.gateway_processes import PYTHON, Party, interleaf_serve, start_bare_proxy, start_emulator
from benchmarks.gateway_upstream import kept_turn_body

KEY = "sk-bench-client-key"
LABELS = {
    "httpx": "`httpx` 0.28 AsyncClient",
    "httpx2": "`httpx2` AsyncClient (the official SDKs' transport)",
    "anthropic-sdk": "official `anthropic` SDK, `AsyncAnthropic().messages.create`",
}


def measure(args: argparse.Namespace, workdir: Path) -> dict[tuple[str, str], Load]:
    """(stack, party) -> median concurrency-50 load over interleaved rounds."""
    stacks: list[tuple[str, Path | str]] = []
    reference = httpx_python(build=not args.no_build)
    if reference is not None:
        stacks.append(("httpx", reference))
    stacks += [("httpx2", PYTHON), ("anthropic-sdk", PYTHON)]
    runs: dict[tuple[str, str], list[Load]] = {}
    logs = workdir / "logs"
    with contextlib.ExitStack() as stack:
        emulator = start_emulator(stack, logs)
        bare = start_bare_proxy(stack, logs, emulator.url)
        gateway = interleaf_serve(
            stack,
            "interleaf",
            upstream=emulator.url,
            store=f"sqlite:///{workdir}/thinking.db",
            home=workdir / "home",
            logs=logs,
        )
        body = workdir / "body.json"
        body.write_bytes(kept_turn_body())
        parties = [Party("direct", emulator.url), bare, gateway]
        for round_number in range(args.rounds):
            print(f"client stacks, round {round_number + 1} of {args.rounds}", flush=True)
            for name, python in stacks:
                for party in parties:
                    result = run_clients(python, name, party.url, KEY, body, 50, args.seconds)
                    load = Load(result["p50"], result["p99"], result["rps"], result["errors"])
                    runs.setdefault((name, party.name), []).append(load)
    return {key: median_load(loads) for key, loads in runs.items()}


def report(loads: dict[tuple[str, str], Load], args: argparse.Namespace) -> str:
    lines = [
        "## Gateway: throughput with real client stacks",
        "",
        "`benchmarks/bench_gateway_clients.py`: 50 concurrent callers in one Python process (default asyncio "
        "loop) built on the stacks apps use, posting the request of the Gateway section (3.6 KB, "
        "non-streaming, thinking kept) to the zero-latency emulator, directly, through the bare proxy and "
        "through `interleaf serve`; every party in its own process, medians of "
        f"{args.rounds} interleaved rounds of {args.seconds:g} s:",
        "",
        "| client stack | direct req/s | bare proxy req/s | **interleaf** req/s | interleaf % of direct "
        "| p50 direct / interleaf |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in [n for n in LABELS if (n, "direct") in loads]:
        direct, bare, gateway = (loads[(name, party)] for party in ("direct", "bare", "interleaf"))
        errors = direct.errors + bare.errors + gateway.errors
        flag = f" ({errors} errors)" if errors else ""
        lines.append(
            f"| {LABELS[name]}{flag} | {direct.rps:,.0f} | {bare.rps:,.0f} ({bare.rps / direct.rps:.0%}) "
            f"| {gateway.rps:,.0f} | {gateway.rps / direct.rps:.0%} "
            f"| {direct.p50_ms:.2f} / {gateway.p50_ms:.2f} ms |"
        )
    if ("httpx", "direct") not in loads:
        lines += ["", "httpx 0.28 was not available in this run (see benchmarks/gateway_clients.py)."]
    lines += [
        "",
        "What this says: the callers, the gateway and the emulator share the two cores, so these "
        "percentages say how much of such an app's throughput on one machine the gateway takes, not how much "
        "the gateway can serve. No throughput target is judged from this table: the Gateway section "
        "measures capacity with wrk, and CPU time per request.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per measurement (default 4)")
    parser.add_argument("--no-build", action="store_true", help="do not build the httpx 0.28 venv if missing")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    from benchmarks.report import write_section

    with tempfile.TemporaryDirectory(prefix="interleaf-bench-clients-") as tmp:
        body = report(measure(args, Path(tmp)), args)
    print(body)
    if not args.no_write:
        write_section("gateway-clients", body)


if __name__ == "__main__":
    main()
