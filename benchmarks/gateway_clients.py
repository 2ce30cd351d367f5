"""Load from the client stacks real apps use: N concurrent callers in one Python process, back to back.

The gateway's concurrency-50 throughput target (>= 85 % of direct) was first measured with a Python
``httpx`` load generator. This module reproduces that method and adds the stacks apps are built on
today, so the gateway's share of an app's throughput is measured with the clients it actually serves
(:mod:`benchmarks.bench_gateway_clients`); its capacity is measured with ``wrk`` instead:

* ``httpx``: ``httpx.AsyncClient`` 0.28, the original generator. It lives in a venv of its own
  (``.bench/httpx-venv``, built by :func:`httpx_python` when missing), never in the project's venv.
* ``httpx2``: ``httpx2.AsyncClient``, the transport of the official ``anthropic`` and ``openai`` SDKs.
* ``anthropic-sdk``: ``anthropic.AsyncAnthropic().messages.create``, an app on the official SDK (builds
  the request from parameters, parses the reply into typed objects).

Run as a script with the Python of the stack's venv; prints one JSON line::

    python benchmarks/gateway_clients.py KIND URL KEY BODY.json CONCURRENCY SECONDS
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HTTPX_VENV = REPO / ".bench" / "httpx-venv"
HTTPX_SPEC = "httpx==0.28.1"
KINDS = ("httpx", "httpx2", "anthropic-sdk")
WARM_UP_SECONDS = 1.0


def httpx_python(build: bool = True) -> Path | None:
    """The Python of the httpx 0.28 venv, built if missing (and ``build``); None with a hint if it cannot be."""
    python = HTTPX_VENV / "bin" / "python"
    if not python.exists() and build:
        print(f"building {HTTPX_VENV} with {HTTPX_SPEC} (once; it is not part of the project's venv)...")
        try:
            subprocess.run(
                [sys.executable, "-m", "venv", "--clear", str(HTTPX_VENV)], check=True, timeout=300
            )
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", HTTPX_SPEC], check=True, timeout=600
            )
        except (OSError, subprocess.SubprocessError) as exc:
            print(f"could not build the httpx venv ({exc})")
    if (
        not python.exists()
        or subprocess.run([str(python), "-c", "import httpx"], capture_output=True).returncode
    ):
        print(
            "httpx 0.28 is not available; its row is skipped. To include it, run:\n"
            f"    python3 -m venv {HTTPX_VENV} && {python} -m pip install '{HTTPX_SPEC}'"
        )
        return None
    return python


def run_clients(
    python: Path | str, kind: str, url: str, key: str, body: Path, concurrency: int, seconds: float
) -> dict[str, Any]:
    """One measurement in a child process (its CPU is not the gateway's): p50/p99 ms, req/s, errors."""
    command = [
        str(python),
        str(Path(__file__).resolve()),
        kind,
        url,
        key,
        str(body),
        str(concurrency),
        f"{seconds:g}",
    ]
    out = subprocess.run(
        command, capture_output=True, text=True, cwd=REPO, check=True, timeout=seconds + 120
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------------------- in the child


def _caller(
    kind: str, url: str, key: str, body: bytes
) -> tuple[Callable[[], Awaitable[bool]], Callable[[], Awaitable[None]]]:
    """(one request -> ok?, close) for ``kind``; imports only that stack (the child may lack the others)."""
    headers = {"content-type": "application/json", "x-api-key": key, "anthropic-version": "2023-06-01"}
    if kind == "anthropic-sdk":
        import anthropic

        params = json.loads(body)
        sdk = anthropic.AsyncAnthropic(base_url=url, api_key=key, max_retries=0, timeout=60.0)

        async def sdk_call() -> bool:
            message = await sdk.messages.create(**params)
            return bool(message.content)

        return sdk_call, sdk.close
    if kind == "httpx2":
        import httpx2 as http
    elif kind == "httpx":
        import httpx as http  # type: ignore[import-not-found, no-redef]  # only in .bench/httpx-venv
    else:
        raise SystemExit(f"unknown client kind {kind!r}; one of {', '.join(KINDS)}")
    limits = http.Limits(max_connections=None, max_keepalive_connections=None)
    client = http.AsyncClient(limits=limits, timeout=60.0)
    endpoint = url + "/v1/messages"

    async def post() -> bool:
        response = await client.post(endpoint, content=body, headers=headers)
        return response.status_code == 200

    return post, client.aclose


async def measure(
    kind: str, url: str, key: str, body: bytes, concurrency: int, seconds: float
) -> dict[str, Any]:
    call, close = _caller(kind, url, key, body)
    samples: list[float] = []
    errors = 0

    async def worker(until: float) -> None:
        nonlocal errors
        while (now := time.perf_counter()) < until:
            try:
                ok = await call()
            except Exception:  # counted, not fatal: a generator that dies measures nothing
                ok = False
            errors += not ok
            samples.append(time.perf_counter() - now)

    try:
        await asyncio.gather(*(worker(time.perf_counter() + WARM_UP_SECONDS) for _ in range(concurrency)))
        samples.clear()
        errors = 0
        started = time.perf_counter()
        await asyncio.gather(*(worker(started + seconds) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await close()
    samples.sort()
    return {
        "p50": statistics.median(samples) * 1000,
        "p99": samples[max(0, int(len(samples) * 0.99) - 1)] * 1000,
        "rps": len(samples) / elapsed,
        "errors": errors,
    }


def main() -> None:
    kind, url, key, body_path, concurrency, seconds = sys.argv[1:7]
    result = asyncio.run(
        measure(kind, url, key, Path(body_path).read_bytes(), int(concurrency), float(seconds))
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
