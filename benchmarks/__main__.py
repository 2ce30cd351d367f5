"""``make bench``: every benchmark script in turn, then a check that every section was regenerated.

Runs each ``benchmarks/bench_*.py`` as ``python -m benchmarks.<name>`` (its own process, its default
settings), one after the other: the machine has two cores, and two benchmarks at once would measure each
other. Then it reads the stamps of docs/benchmarks.md: a section this run did not rewrite (its script
failed, or no script writes it any more) is named, and the run fails. Last, it writes how long each
script took into the ``bench-run`` section.

    .venv/bin/python -m benchmarks                    # all of them (what make bench runs)
    .venv/bin/python -m benchmarks bench_gateway      # only these, no section check
    .venv/bin/python -m benchmarks --list
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from benchmarks.report import ROOT, stamps, write_section

ORDER = (
    "bench_codecs",
    "bench_thinking_store",
    "bench_agent",
    "bench_sandbox",
    "bench_gateway",
    "bench_gateway_clients",
    "bench_gateway_durable",
    "bench_gateway_hardening",
    "bench_gateway_fuzz",
)
RUN_SECTION = "bench-run"


def scripts() -> list[str]:
    """Every ``benchmarks/bench_*.py``: the known ones in :data:`ORDER`, any others after, by name."""
    found = sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py"))
    return [name for name in ORDER if name in found] + [name for name in found if name not in ORDER]


@dataclass
class Timing:
    script: str
    seconds: float
    cpu_seconds: float
    """User + system time of the script and every process it waited for."""
    code: int
    load: float
    """The one-minute load average when it ended."""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_all(names: list[str]) -> list[Timing]:
    """Each script, one after the other, output passed through; how long each took."""
    timings = []
    for number, name in enumerate(names, 1):
        print(f"\n=== [{number}/{len(names)}] benchmarks.{name} ===", flush=True)
        started, cpu = time.monotonic(), _children_cpu()
        code = subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], cwd=ROOT).returncode
        timing = Timing(name, time.monotonic() - started, _children_cpu() - cpu, code, os.getloadavg()[0])
        timings.append(timing)
        result = "ok" if code == 0 else f"exit code {code}"
        print(f"=== benchmarks.{name}: {result}, {timing.seconds:.0f} s", flush=True)
    return timings


def stale_sections(since: datetime) -> list[str]:
    """Sections of docs/benchmarks.md whose stamp is older than ``since`` (minute resolution)."""
    floor = since.strftime("%Y-%m-%d %H:%M")
    return [name for name, (when, _) in stamps().items() if name != RUN_SECTION and when < floor]


def run_report(timings: list[Timing], stale: list[str], load_before: float) -> str:
    total = sum(t.seconds for t in timings)
    cpu = sum(t.cpu_seconds for t in timings)
    lines = [
        "## How long `make bench` takes",
        "",
        "`benchmarks/__main__.py` (what `make bench` runs) ran every script below one after the other, "
        f"in {total / 60:.1f} minutes, using {cpu / 60:.1f} minutes of CPU time (its processes' user + "
        f"system time). The machine's two cores are shared: the load average was {load_before:.1f} when it "
        "started, and a busy machine stretches every script.",
        "",
        "| script | time | CPU time | load average at its end | result |",
        "|---|---:|---:|---:|---|",
    ]
    for t in timings:
        result = "ok" if t.code == 0 else f"**failed** (exit code {t.code})"
        lines.append(
            f"| `benchmarks/{t.script}.py` | {t.seconds / 60:.1f} min | {t.cpu_seconds / 60:.1f} min "
            f"| {t.load:.1f} | {result} |"
        )
    if stale:
        lines += ["", f"Sections this run did not regenerate: {', '.join(stale)}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only these scripts (e.g. bench_gateway); default: all")
    parser.add_argument("--list", action="store_true", help="list the scripts in the order they run")
    args = parser.parse_args()
    available = scripts()
    if args.list:
        print("\n".join(available))
        return
    unknown = [n for n in args.names if n not in available]
    if unknown:
        sys.exit(f"no such benchmark: {', '.join(unknown)}; available: {', '.join(available)}")
    started, load_before = datetime.now(UTC), os.getloadavg()[0]
    timings = run_all(args.names or available)
    failed = [t.script for t in timings if t.code != 0]
    if args.names:
        sys.exit(f"failed: {', '.join(failed)}" if failed else 0)
    stale = stale_sections(started)
    write_section(RUN_SECTION, run_report(timings, stale, load_before))
    print(f"\nmake bench: {sum(t.seconds for t in timings) / 60:.1f} minutes", flush=True)
    problems = []
    if failed:
        problems.append(f"scripts failed: {', '.join(failed)}")
    if stale:
        problems.append(
            f"sections not regenerated by this run: {', '.join(stale)} (restore the script that writes "
            "each, or delete the section from docs/benchmarks.md)"
        )
    if problems:
        sys.exit("make bench: " + "; ".join(problems))


if __name__ == "__main__":
    main()
