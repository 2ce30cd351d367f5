"""Planning and running an experiment: every task x condition x trial, paired, resumable, in-process
(asyncio, ``--concurrency`` trials at once) or on Ray (``--ray``).

Trials are planned task by task (all conditions of a task's trial next to each other), so a run stopped
half-way still has paired data. Each finished trial is appended to ``results.jsonl`` at once; a re-run of
the same command skips trials that passed or failed and runs the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from interleaf import __version__
from interleaf.eval.backend import Backend, BackendSpec, ModelSource
from interleaf.eval.conditions import Condition
from interleaf.eval.context_policy import ContextPolicy
from interleaf.eval.results import (
    GATEWAY_DB,
    SESSIONS_DB,
    ResultsFile,
    TrialRecord,
    write_run,
)
from interleaf.eval.spec import Suite, SuiteError, Task
from interleaf.eval.suites import get_suite
from interleaf.eval.trial import DEFAULT_TRIAL_TIMEOUT, TrialSpec, run_trial

LOCAL_RAY = "local"
"""``--ray`` without an address: start a Ray runtime on this machine for the run."""


@dataclass
class RunConfig:
    """What ``interleaf eval run`` was asked for."""

    suite: str
    backend: BackendSpec
    out: Path
    conditions: list[Condition] = field(default_factory=lambda: ["keep", "drop"])
    k: int = 1
    limit: int | None = None
    task_ids: list[str] | None = None
    concurrency: int = 8
    seed: int = 0
    policy: ContextPolicy = field(default_factory=ContextPolicy)
    options: dict[str, str] = field(default_factory=dict)
    mode: str = "lightning"
    ray: str | None = None
    """``None``: in-process; :data:`LOCAL_RAY`: a local Ray runtime; otherwise a Ray address."""
    timeout: float = DEFAULT_TRIAL_TIMEOUT


class ProgressSink(Protocol):
    """What the runner reports as it goes (the CLI draws a live bar from it)."""

    def started(self, total: int, skipped: int, concurrency: int) -> None: ...

    def notice(self, message: str) -> None: ...

    def trial_done(self, record: TrialRecord) -> None: ...


class _Quiet:
    def started(self, total: int, skipped: int, concurrency: int) -> None:
        pass

    def notice(self, message: str) -> None:
        pass

    def trial_done(self, record: TrialRecord) -> None:
        pass


@dataclass
class RunSummary:
    planned: int
    skipped: int
    records: list[TrialRecord]


def select_tasks(suite: Suite, config: RunConfig) -> list[Task]:
    """The suite's tasks, narrowed by ``--tasks`` (in that order) and ``--limit``."""
    tasks = suite.tasks(config.options, config.seed)
    if config.task_ids:
        by_id = {task.id: task for task in tasks}
        unknown = [t for t in config.task_ids if t not in by_id]
        if unknown:
            sample = ", ".join(list(by_id)[:5])
            raise SuiteError(
                f"suite {suite.name!r} has no task {', '.join(unknown)}; its ids look like {sample} "
                f"(`interleaf eval tasks {suite.name}` lists them)"
            )
        tasks = [by_id[t] for t in config.task_ids]
    if config.limit is not None:
        tasks = tasks[: config.limit]
    if not tasks:
        raise SuiteError(f"suite {suite.name!r} selected no tasks; check --limit, --tasks and -o options")
    return tasks


def plan(suite: Suite, tasks: Sequence[Task], config: RunConfig) -> list[TrialSpec]:
    return [
        TrialSpec(
            suite=suite.name,
            suite_version=suite.version,
            task=task,
            condition=condition,
            policy=config.policy,
            trial=trial,
            base_seed=config.seed,
            mode=config.mode,
            timeout=config.timeout,
            config_path=config.backend.config_path,
        )
        for task in tasks
        for trial in range(config.k)
        for condition in config.conditions
    ]


async def run_eval(
    config: RunConfig,
    *,
    progress: ProgressSink | None = None,
    source: ModelSource | None = None,
    suite: Suite | None = None,
) -> RunSummary:
    """Run (or resume) the experiment ``config`` describes and return its records.

    ``source`` replaces the endpoint of ``config.backend`` (tests and benchmarks pass an in-process
    model); ``suite`` replaces the named suite.
    """
    sink = progress or _Quiet()
    suite = suite or get_suite(config.suite)
    tasks = select_tasks(suite, config)
    # The profile is resolved (and a bad one refused) before anything is written.
    backend = Backend(config.backend, config.conditions, config.out / GATEWAY_DB) if source is None else None
    config.out.mkdir(parents=True, exist_ok=True)
    results = ResultsFile(config.out)
    async with AsyncExitStack() as stack:
        # One connection held for the whole run: each trial's session store then opens and closes
        # without SQLite checkpointing and recreating the WAL every time (most of a trial's own cost).
        from interleaf.store.sessions import SessionStore

        stack.callback(SessionStore(config.out / SESSIONS_DB).close)
        if backend is not None:
            source = await stack.enter_async_context(backend)
        assert source is not None
        write_run(config.out, _run_json(config, suite, source, tasks))
        specs = plan(suite, tasks, config)
        done = {key for key, record in results.latest().items() if record.outcome != "error"}
        todo = [spec for spec in specs if spec.key not in done]
        concurrency = max(1, config.concurrency)
        if (
            backend is not None
            and backend.local_base_url is not None
            and concurrency > 1
            and config.ray is None
        ):
            sink.notice(
                "the embedded model serves one request at a time: running 1 trial at a time "
                f"instead of {concurrency} (parallel trials would only queue and inflate wall times)"
            )
            concurrency = 1
        sink.started(len(todo), len(specs) - len(todo), concurrency)
        records: list[TrialRecord] = []
        if config.ray is not None:
            from interleaf.eval.ray_exec import run_on_ray

            worker_spec = backend.worker_spec() if backend is not None else config.backend
            stream = run_on_ray(todo, worker_spec, config.out, config.ray, concurrency)
        else:
            stream = _run_local(todo, suite, source, config.out, concurrency)
        async for record in stream:
            results.append(record)
            records.append(record)
            sink.trial_done(record)
    return RunSummary(planned=len(specs), skipped=len(specs) - len(todo), records=records)


async def _run_local(
    specs: Sequence[TrialSpec], suite: Suite, source: ModelSource, run_dir: Path, concurrency: int
) -> AsyncIterator[TrialRecord]:
    """Run ``specs`` with at most ``concurrency`` in flight (in plan order), yielding records as they end.

    ``run_trial`` turns every failure into an error record, so only cancellation (Ctrl-C) stops this;
    then the trials in flight are cancelled and awaited, and nothing half-done is recorded.
    """
    slots = asyncio.Semaphore(concurrency)

    async def one(spec: TrialSpec) -> TrialRecord:
        async with slots:
            return await run_trial(spec, suite, source, run_dir)

    tasks = [asyncio.create_task(one(spec)) for spec in specs]
    try:
        for finished in asyncio.as_completed(tasks):
            yield await finished
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _run_json(config: RunConfig, suite: Suite, source: ModelSource, tasks: Sequence[Task]) -> dict[str, Any]:
    return {
        "suite": suite.name,
        "suite_version": suite.version,
        "suite_description": suite.description,
        "profile": source.profile_name,
        "model": source.model_name,
        "endpoint": source.endpoint,
        "seed": config.seed,
        "mode": config.mode,
        "conditions": list(config.conditions),
        "k": config.k,
        "context_policy": config.policy.label,
        "options": dict(config.options),
        "tasks_run": [task.id for task in tasks],
        "interleaf_version": __version__,
        "chance": {task.id: task.chance for task in tasks if task.chance is not None},
    }


def running_rates(records: Sequence[TrialRecord]) -> Mapping[str, tuple[int, int]]:
    """``condition -> (passed, graded)`` over ``records`` (errors are not graded)."""
    rates: dict[str, tuple[int, int]] = {}
    for record in records:
        passed, graded = rates.get(record.condition, (0, 0))
        if record.outcome != "error":
            rates[record.condition] = (passed + record.passed, graded + 1)
        else:
            rates.setdefault(record.condition, (passed, graded))
    return rates
