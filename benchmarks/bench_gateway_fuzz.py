"""The gateway fuzz test at full size: 10,000 examples per endpoint, and what the gateway answered.

Runs ``tests/integration/test_gateway_fuzz.py`` (hypothesis: valid Anthropic and OpenAI requests mutated
field by field, plus arbitrary JSON, against a lenient upstream) with ``INTERLEAF_FUZZ_EXAMPLES`` set,
counting every answer by status (:mod:`benchmarks.fuzz_tally`). Any 5xx is the gateway's own: the test
fails on it, and on any error in the gateway's log.

    .venv/bin/python -m benchmarks.bench_gateway_fuzz [--examples 10000] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.fuzz_tally import TALLY_ENV
from benchmarks.gateway_processes import PYTHON, ROOT

TEST = "tests/integration/test_gateway_fuzz.py"
ENDPOINTS = {
    "test_fuzz_messages": "`/v1/messages` (Anthropic)",
    "test_fuzz_chat_completions": "`/v1/chat/completions` (OpenAI)",
}


def run(examples: int) -> tuple[dict[str, Any], int, float, str]:
    """(tally per test, pytest's exit code, seconds, pytest's last lines)."""
    with tempfile.TemporaryDirectory(prefix="interleaf-bench-fuzz-") as tmp:
        tally_path = Path(tmp) / "tally.json"
        env = {**os.environ, "INTERLEAF_FUZZ_EXAMPLES": str(examples), TALLY_ENV: str(tally_path)}
        command = [
            PYTHON,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "benchmarks.fuzz_tally",
            TEST,
        ]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
        seconds = time.perf_counter() - started
        tally: dict[str, Any] = json.loads(tally_path.read_text()) if tally_path.exists() else {}
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
    return tally, done.returncode, seconds, tail


def report(examples: int, tally: dict[str, Any], code: int, seconds: float, tail: str) -> str:
    lines = [
        "## Gateway: fuzzing both endpoints",
        "",
        f"`benchmarks/bench_gateway_fuzz.py`: `{TEST}` with `INTERLEAF_FUZZ_EXAMPLES={examples}`: hypothesis "
        "sends valid requests mutated field by field (wrong types, odd values, lone surrogates, deep nesting, "
        "unknown blocks) and arbitrary JSON to a gateway in front of a lenient upstream that answers "
        "everything, so any 5xx is the gateway's own. The test fails on a 5xx, on an error not in the "
        "client's format, or on an error in the gateway's log.",
        "",
        "| endpoint | requests sent | 2xx | 4xx | 5xx | test |",
        "|---|---:|---:|---:|---:|---|",
    ]
    total_5xx = 0
    for name, label in ENDPOINTS.items():
        entry = tally.get(name, {"statuses": {}, "outcome": "did not run"})
        counts = {int(k): v for k, v in entry["statuses"].items()}
        by_class = {c: sum(v for k, v in counts.items() if k // 100 == c) for c in (2, 4, 5)}
        total_5xx += by_class[5]
        lines.append(
            f"| {label} | {sum(counts.values()):,} | {by_class[2]:,} | {by_class[4]:,} | {by_class[5]:,} "
            f"| {entry['outcome']} |"
        )
    verdict = "passed" if code == 0 else f"**failed** (pytest exit code {code})"
    lines += ["", f"Result: {verdict}; {total_5xx} responses with a 5xx; {seconds:.0f} s."]
    if code != 0:
        lines += ["", "```", tail, "```"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000, help="examples per endpoint (default 10,000)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    from benchmarks.report import write_section

    tally, code, seconds, tail = run(args.examples)
    body = report(args.examples, tally, code, seconds, tail)
    print(body)
    if not args.no_write:
        write_section("gateway-fuzz", body)
    if code != 0:
        raise SystemExit(f"the fuzz test failed (exit code {code}); see docs/benchmarks.md")


if __name__ == "__main__":
    main()
