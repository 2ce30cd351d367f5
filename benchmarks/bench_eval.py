"""``interleaf eval``'s own cost: harness overhead per trial beyond model time, and 1,000 scripted trials.

A scripted model answers in-process (no HTTP, no sampling), so what is measured is everything else a
trial does: a fresh workdir, an agent session in the run's SQLite store, the condition wrappers, the
suite's tools and grader, and the result line. The baseline, measured in the same run, is the same
scripted task driven through a bare ``AgentSession`` (no eval harness), so the harness's own share is
the difference. The 1,000-trial run is the needle suite (1k tokens, one hop), keep and drop, 8 at a time.

    .venv/bin/python -m benchmarks.bench_eval
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import write_section
from interleaf.agent.session import RunOptions
from interleaf.eval.agent_seam import SuiteSession
from interleaf.eval.backend import BackendSpec
from interleaf.eval.runner import RunConfig, run_eval
from interleaf.eval.scripted import ScriptedModel, ScriptedSource, needle_policy
from interleaf.eval.suites.needle import NeedleSuite
from interleaf.store.sessions import SessionStore

TRIALS = int(os.environ.get("BENCH_EVAL_TRIALS", "1000"))
SAMPLE = int(os.environ.get("BENCH_EVAL_SAMPLE", "90"))
ROUNDS = 3
OPTIONS = {"lengths": "1k", "hops": "1", "per_cell": str(max(1, TRIALS // 2))}


async def bare_agent_runs(directory: Path, count: int) -> list[float]:
    """The baseline: the same needle tasks through AgentSession alone, one at a time (seconds each)."""
    suite = NeedleSuite()
    tasks = suite.tasks(OPTIONS, 0)[:count]
    times = []
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    warm = SessionStore(directory / "bare.db")  # held open, as the eval runner does for its store
    for task in tasks:
        workdir = Path(tempfile.mkdtemp(dir=directory))
        run = await suite.open(task, workdir, 0)
        started = time.perf_counter()
        options = RunOptions(
            workdir=workdir,
            profile="sglang",
            model="scripted",
            store_path=directory / "bare.db",
            browser=False,
        )
        async with SuiteSession(
            options, model=ScriptedModel(needle_policy), tools=run.tools, system=run.system
        ) as session:
            await session.run(run.turn(0)[0])
        times.append(time.perf_counter() - started)
    warm.close()
    return times


async def harness_runs(
    directory: Path, count: int, concurrency: int
) -> tuple[float, list[float], list[float]]:
    """``count`` trials through the eval runner: total wall seconds, per-trial wall and model seconds."""
    config = RunConfig(
        suite="needle",
        backend=BackendSpec(profile="sglang"),
        out=directory,
        conditions=["keep", "drop"],
        limit=max(1, count // 2),
        options=OPTIONS,
        concurrency=concurrency,
    )
    started = time.perf_counter()
    summary = await run_eval(config, source=ScriptedSource(needle_policy))
    total = time.perf_counter() - started
    errors = [r for r in summary.records if r.outcome == "error"]
    if errors:
        raise SystemExit(f"{len(errors)} benchmark trial(s) errored, e.g. {errors[0].error}")
    return (
        total,
        [r.metrics.wall_seconds for r in summary.records],
        [r.metrics.model_seconds for r in summary.records],
    )


def ms(value: float) -> str:
    return f"{1000 * value:.1f} ms"


async def main() -> None:
    os.environ.setdefault("INTERLEAF_HOME", tempfile.mkdtemp(prefix="bench-eval-home-"))
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as scratch:
        root = Path(scratch)
        # Interleaved rounds, so a change in the machine's load hits both sides alike.
        bare: list[float] = []
        overhead: list[float] = []
        for round_number in range(ROUNDS):
            bare += await bare_agent_runs(root / f"bare{round_number}", SAMPLE // ROUNDS)
            _, walls, models = await harness_runs(
                root / f"sample{round_number}", SAMPLE // ROUNDS, concurrency=1
            )
            overhead += [w - m for w, m in zip(walls, models, strict=True)]
        total, big_walls, big_models = await harness_runs(root / "thousand", TRIALS, concurrency=8)
    bare_median = statistics.median(bare)
    harness_median = statistics.median(overhead)
    per_trial = total / len(big_walls)
    difference = harness_median - bare_median
    share = ms(difference) if difference > 0 else f"{ms(difference)} (within the noise: no measurable cost)"
    lines = [
        "## eval harness overhead",
        "",
        "`interleaf eval` with a scripted model answering in-process (no HTTP, no sampling): everything a trial",
        "costs besides the model. Needle tasks (1k tokens, one hop: 3 model steps, one page read) under keep",
        "and drop. Baseline, same run: the same task through a bare `AgentSession` (agent loop, session store,",
        "tools), without the eval harness.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| eval trial beyond model time, one at a time (median of {len(overhead)}) | {ms(harness_median)} |",
        f"| baseline: bare agent run of the same task (median of {len(bare)}) | {ms(bare_median)} |",
        f"| the eval harness's own share (difference of the medians) | {share} |",
        f"| {len(big_walls):,} scripted trials, 8 at a time: total | {total:.1f} s |",
        f"| same, per trial (total / trials) | {ms(per_trial)} |",
        f"| model time inside those trials (sum) | {sum(big_models):.2f} s |",
        "",
        f"Targets: 1,000 trials in at most 60 s ({'met' if total <= 60 else 'missed'}: {total:.1f} s); at most 20 ms of "
        f"overhead per trial beyond model time ({'met' if harness_median <= 0.020 else 'missed'}: {ms(harness_median)}; "
        "nearly all of it is the agent's own session setup and store writes, which a bare agent run pays too). "
        f"The machine is shared with other work; load average at the end: {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores.",
    ]
    text = "\n".join(lines)
    print(text)
    if "--no-write" not in sys.argv:
        write_section("eval", text)


if __name__ == "__main__":
    asyncio.run(main())
