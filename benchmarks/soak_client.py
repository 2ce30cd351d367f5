"""The soak test's load as a benchmark child: N streaming + N non-streaming clients that drop thinking.

It runs ``tests/support/load.py`` (the client the soak test uses, against ``tests/support/strict_echo.py``,
which refuses any turn that lacks its thinking): a warm-up burst, then prints ``MEASURING`` (the parent
starts counting the gateways' CPU time), runs the measured load and prints one JSON line::

    python -m benchmarks.soak_client FORMAT CLIENTS SECONDS URL [URL ...]

Turn k of each conversation goes to ``URL[k % len(URLS)]`` (replicas behind a load balancer).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, cast

from tests.support.load import Format, run_load

from benchmarks.gateway_load import percentile

WARM_UP_SECONDS = 2.0


async def soak(urls: list[str], fmt: Format, clients: int, seconds: float) -> dict[str, Any]:
    await run_load(urls, clients=clients, seconds=WARM_UP_SECONDS, fmt=fmt, key_prefix="warm")
    print("MEASURING", flush=True)
    started = time.perf_counter()
    result = await run_load(urls, clients=clients, seconds=seconds, fmt=fmt)
    elapsed = time.perf_counter() - started
    latencies = [s * 1000 for s in result.latencies]
    return {
        "seconds": elapsed,
        "turns": result.turns,
        "conversations": result.conversations,
        "lost": result.lost,
        "refused": result.refused,
        "unexplained": len(result.unexplained),
        "unexplained_examples": result.unexplained[:3],
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
    }


def main() -> None:
    if len(sys.argv) < 5 or sys.argv[1] not in ("anthropic", "openai-chat"):
        sys.exit(
            "usage: python -m benchmarks.soak_client anthropic|openai-chat CLIENTS SECONDS URL [URL ...]"
        )
    import uvloop  # a cheaper loop than the test's: the generator shares the two cores with the gateways

    fmt = cast(Format, sys.argv[1])
    result = uvloop.run(soak(sys.argv[4:], fmt, int(sys.argv[2]), float(sys.argv[3])))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
