"""What the OS sandbox costs: per tool call, per start and per agent step, against no sandbox, in one run.

Variants, in interleaved repetitions (the machine is shared: ratios measured together are what count):

* **shell call**: ``echo`` through the ``shell`` tool (``Toolset.call``), persistent bash unconfined vs
  the same persistent bash started inside bubblewrap (what the agent does);
* **one sandbox per command**: the alternative design, a fresh ``bwrap … bash -c`` per command
  (process limit set up and torn down each time), against a fresh unconfined ``bash -c``;
* **python call**: ``x += 1`` through the ``python`` tool, kernel unconfined vs sandboxed;
* **start**: the first shell call and the first python call (the sandbox starts with them);
* **agent step**: interleaf's loop in-process with a scripted model (``benchmarks.agent_runners``), one
  ``echo`` a step, sandbox on (``auto``) vs off (``all``): time between two model calls, and the same
  minus the tool's own time (the framework's overhead, which includes recording the call as started
  and finished in the session store).

    .venv/bin/python -m benchmarks.bench_sandbox [--calls 100] [--reps 3] [--steps 50] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.agent_runners.interleaf_runner import PROFILE, TASK, ScriptedModel
from benchmarks.report import write_section
from interleaf.agent.events import AgentEvent, NullObserver, ToolReturned
from interleaf.agent.session import AgentSession, RunOptions
from interleaf.tools.base import ToolContext, Toolset
from interleaf.tools.python import PythonTool
from interleaf.tools.sandbox import Sandbox, SandboxPolicy
from interleaf.tools.shell import ShellTool

TARGET_CALL_MS = 20.0
TARGET_STEP_MS = 5.0
Samples = dict[str, list[float]]


async def tool_calls(tool: ShellTool | PythonTool, ctx: ToolContext, calls: int) -> tuple[float, list[float]]:
    """(seconds of the first call, which starts the shell or kernel; seconds of each later call)."""
    arguments: dict[str, Any] = {"command": "echo x"} if tool.name == "shell" else {"code": "x = 1"}
    later: list[float] = []
    async with Toolset([tool]) as tools:
        started = time.perf_counter()
        first = await tools.call(tool.name, arguments, ctx)
        start = time.perf_counter() - started
        if tool.name == "python":
            arguments = {"code": "x += 1"}
        for _ in range(calls):
            started = time.perf_counter()
            outcome = await tools.call(tool.name, arguments, ctx)
            later.append(time.perf_counter() - started)
            if outcome.is_error or first.is_error:
                raise SystemExit(f"{tool.name} failed: {outcome.text or first.text}")
    return start, later


async def one_per_command(sandbox: Sandbox | None, work: Path, calls: int) -> list[float]:
    """A fresh process (in a fresh sandbox, when given) for every command."""
    timings: list[float] = []
    for _ in range(calls):
        started = time.perf_counter()
        argv, env, confinement = ["bash", "-c", "echo x"], dict(os.environ), None
        if sandbox is not None:
            confinement = sandbox.confine(argv, env, chdir=work)
            argv, env = confinement.argv, confinement.env
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=work, env=env, stdout=asyncio.subprocess.PIPE, start_new_session=True
        )
        out, _ = await process.communicate()
        if confinement is not None:
            await confinement.aclose()
        timings.append(time.perf_counter() - started)
        if out != b"x\n":
            raise SystemExit(f"a sandboxed command printed {out!r}")
    return timings


class _ToolTime(NullObserver):
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def agent_event(self, event: AgentEvent) -> None:
        if isinstance(event, ToolReturned):
            self.seconds.append(event.seconds)


async def agent_steps(root: Path, steps: int, *, sandboxed: bool) -> tuple[list[float], list[float]]:
    """(seconds between model calls, the same minus the tool's time), ``steps`` shell steps."""
    model, observer = ScriptedModel(steps), _ToolTime()
    options = RunOptions(
        workdir=Path(tempfile.mkdtemp(dir=root, prefix="work-")),
        profile=PROFILE,
        model="scripted",
        approve="auto" if sandboxed else "all",
        sandbox="workdir" if sandboxed else "off",
        max_steps=steps + 5,
        store_path=root / "sessions.db",
        browser=False,
    )
    async with AgentSession(options, model=model, observer=observer) as session:
        finished = await session.run(TASK)
    if finished.status != "done" or finished.steps != steps + 1:
        raise SystemExit(f"the agent ended with {finished.status} after {finished.steps} steps")
    marks = [mark[0] for mark in model.marks]
    # The first step starts the shell (and, sandboxed, the sandbox): its start is measured apart.
    between = [b - a for a, b in itertools.pairwise(marks[1:])]
    overhead = [gap - tool for gap, tool in zip(between, observer.seconds[1:], strict=True)]
    return between, overhead


async def measure(calls: int, reps: int, steps: int) -> tuple[Samples, Sandbox]:
    samples: Samples = {}

    def add(name: str, values: list[float]) -> None:
        samples.setdefault(name, []).extend(values)

    with tempfile.TemporaryDirectory(prefix="interleaf-bench-sandbox-") as tmp:
        root = Path(tmp)
        work = root / "work"
        work.mkdir()
        ctx = ToolContext(workdir=work, session_dir=root / "session")
        sandbox = Sandbox(SandboxPolicy(), workdir=work, session_dir=root / "session")
        if not sandbox.confines:
            raise SystemExit(f"no sandbox to measure: {sandbox.problem}")
        runs: list[tuple[str, Callable[[], Awaitable[None]]]] = []

        async def shell(name: str, box: Sandbox | None) -> None:
            start, later = await tool_calls(ShellTool(sandbox=box), ctx, calls)
            add(f"shell start {name}", [start])
            add(f"shell {name}", later)

        async def python(name: str, box: Sandbox | None) -> None:
            start, later = await tool_calls(PythonTool(sandbox=box), ctx, calls)
            add(f"python start {name}", [start])
            add(f"python {name}", later)

        async def each(name: str, box: Sandbox | None) -> None:
            add(f"each {name}", await one_per_command(box, work, calls))

        async def agent(name: str, sandboxed: bool) -> None:
            between, overhead = await agent_steps(root, steps, sandboxed=sandboxed)
            add(f"step {name}", between)
            add(f"step overhead {name}", overhead)

        for name, box in (("plain", None), ("sandboxed", sandbox)):
            runs += [
                (f"shell {name}", functools.partial(shell, name, box)),
                (f"python {name}", functools.partial(python, name, box)),
                (f"each {name}", functools.partial(each, name, box)),
                (f"agent {name}", functools.partial(agent, name, box is not None)),
            ]
        await agent("warm-up", True)  # imports and lazily built things, as a running agent has them
        for rep in range(reps):
            for label, run in runs if rep % 2 == 0 else reversed(runs):
                print(f"rep {rep + 1}/{reps}: {label}", flush=True)
                await run()
    return samples, sandbox


def ms(values: list[float], quantile: float = 0.5) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(int(quantile * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


def report(samples: Samples, sandbox: Sandbox, calls: int, reps: int, steps: int) -> str:
    def row(label: str, key: str) -> str:
        plain, boxed = samples[f"{key} plain"], samples[f"{key} sandboxed"]
        cost = ms(boxed) - ms(plain)
        return (
            f"| {label} | {ms(plain):.2f} | {ms(boxed):.2f} | {ms(boxed, 0.9):.2f} | {cost:+.2f} | "
            f"{ms(boxed) / ms(plain):.2f}× |"
        )

    call_cost = ms(samples["shell sandboxed"]) - ms(samples["shell plain"])
    python_cost = ms(samples["python sandboxed"]) - ms(samples["python plain"])
    step_overhead = ms(samples["step overhead sandboxed"])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "## Sandbox overhead",
        "",
        "`benchmarks/bench_sandbox.py`: what running `shell` and `python` in bubblewrap costs, against the same",
        f"tools unconfined, in one run: {reps} interleaved repetitions of {calls} calls per tool variant and of",
        f"a {steps}-step in-process agent task per agent variant; medians (ms), p90 of the sandboxed side.",
        f"The sandbox: {sandbox.describe()}.",
        "",
        "| per call | unconfined | sandboxed | p90 | cost | ratio |",
        "|---|---:|---:|---:|---:|---:|",
        row("`shell` call (`echo`), persistent bash in one sandbox", "shell"),
        row("`python` call (`x += 1`), persistent kernel in one sandbox", "python"),
        row("one process per command (`bash -c`), one sandbox each", "each"),
        row("first `shell` call (starts bash, and the sandbox)", "shell start"),
        row("first `python` call (starts the kernel, and the sandbox)", "python start"),
        row("agent step in-process, one `echo` a step", "step"),
        row("agent step minus the tool's own time (framework overhead)", "step overhead"),
        "",
        f"Targets (issue 13): ≤ {TARGET_CALL_MS:g} ms a tool call; the agent's step overhead ≤ "
        f"{TARGET_STEP_MS:g} ms. This run: a sandboxed shell call costs {call_cost:+.2f} ms, a python call "
        f"{python_cost:+.2f} ms ({'met' if max(call_cost, python_cost) <= TARGET_CALL_MS else 'NOT met'}); "
        f"the sandboxed agent's step overhead is {step_overhead:.2f} ms "
        f"({'met' if step_overhead <= TARGET_STEP_MS else 'NOT met'}).",
        "Starting the shell and kernel inside one sandbox each costs once per session what a sandbox per",
        "command would cost on every command, and keeps background jobs and the kernel's children",
        f"confined too. Load average {load:.2f} on {os.cpu_count()} cores shared with other work.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=100, help="calls per tool variant and repetition")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions (default 3)")
    parser.add_argument("--steps", type=int, default=50, help="steps of each agent task (default 50)")
    parser.add_argument("--no-write", action="store_true", help="print, do not update docs/benchmarks.md")
    args = parser.parse_args()
    samples, sandbox = asyncio.run(measure(args.calls, args.reps, args.steps))
    body = report(samples, sandbox, args.calls, args.reps, args.steps)
    print(body)
    if not args.no_write:
        write_section("sandbox", body)
    print(f"(medians of {statistics.fmean(len(v) for v in samples.values()):.0f} samples a row on average)")


if __name__ == "__main__":
    main()
