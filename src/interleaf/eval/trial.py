"""One trial: one task, one condition, one seed, through interleaf's own agent, graded by the suite.

Each trial gets a fresh temporary workdir and a new agent session in the run's session store, so its
whole transcript can be opened and replayed later. A trial that fails to run (the model server errors,
the trial times out, setup breaks) is recorded as an ``error`` and tried once more; a model that simply
gets the task wrong is a ``fail``, never retried.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from interleaf import __version__
from interleaf.eval.backend import ModelSource
from interleaf.eval.conditions import Condition, ThinkingFilter, TrialModel, WireMeter
from interleaf.eval.context_policy import ContextPolicy, ContextPolicyModel
from interleaf.eval.results import SESSIONS_DB, TrialMetrics, TrialRecord, trial_key
from interleaf.eval.spec import Grade, Outcome, Suite, Task, TurnResult

ATTEMPTS = 2
"""A trial that errors is tried once more before its error is recorded."""
DEFAULT_TRIAL_TIMEOUT = 1800.0


def trial_seed(base: int, task_id: str, trial: int) -> int:
    """The seed of one trial of one task: the same in every condition (paired), different per trial."""
    digest = hashlib.sha256(f"{base}:{task_id}:{trial}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True, slots=True)
class TrialSpec:
    """Everything that identifies one trial (plain data: it travels to Ray workers)."""

    suite: str
    suite_version: str
    task: Task
    condition: Condition
    policy: ContextPolicy
    trial: int
    base_seed: int
    mode: str = "lightning"
    timeout: float = DEFAULT_TRIAL_TIMEOUT
    config_path: Path | None = None
    """The user's config file: the agent reads its budgets and sandbox settings from it."""

    @property
    def key(self) -> str:
        return trial_key(self.suite, self.task.id, self.condition, self.policy.label, self.trial)

    @property
    def seed(self) -> int:
        return trial_seed(self.base_seed, self.task.id, self.trial)


@dataclass
class _Attempt:
    outcome: Outcome
    detail: str
    grade: Grade | None = None
    error: str | None = None
    session_id: str | None = None
    statuses: list[str] = field(default_factory=list)
    meter: WireMeter = field(default_factory=WireMeter)
    steps: int = 0
    cost: float | None = None
    turns: int = 0


async def run_trial(spec: TrialSpec, suite: Suite, source: ModelSource, run_dir: Path) -> TrialRecord:
    """Run ``spec`` (up to :data:`ATTEMPTS` times while it errors) and return its record."""
    earlier: list[str] = []
    attempt: _Attempt | None = None
    started = time.perf_counter()
    for number in range(1, ATTEMPTS + 1):
        started = time.perf_counter()
        attempt = _Attempt("error", "not_started")
        try:
            await asyncio.wait_for(_run(spec, suite, source, run_dir, attempt), spec.timeout)
        except TimeoutError:
            attempt.outcome, attempt.detail = "error", "timeout"
            attempt.error = f"the trial took longer than {spec.timeout:g} s (--trial-timeout)"
        except Exception as exc:  # one broken trial must never end the run
            attempt.outcome, attempt.detail = "error", "harness_error"
            attempt.error = f"{type(exc).__name__}: {exc}"
        if attempt.outcome != "error" or number == ATTEMPTS:
            break
        if attempt.session_id:
            earlier.append(attempt.session_id)
    assert attempt is not None
    return _record(spec, source, attempt, number, earlier, time.perf_counter() - started)


async def _run(spec: TrialSpec, suite: Suite, source: ModelSource, run_dir: Path, attempt: _Attempt) -> None:
    from interleaf.agent.session import RunOptions
    from interleaf.config import load_config
    from interleaf.eval.agent_seam import SuiteSession

    inner = source.model(spec.condition)
    model = ContextPolicyModel(
        ThinkingFilter(
            TrialModel(inner, seed=spec.seed, api=source.api, meter=attempt.meter), spec.condition
        ),
        spec.policy,
    )
    config = load_config(spec.config_path)
    # MCP servers from the user's config would add tools to every task: the suite decides the tools.
    agent_config = config.model_copy(update={"mcpServers": {}})
    workdir = Path(tempfile.mkdtemp(prefix="interleaf-eval-"))
    try:
        run = await suite.open(spec.task, workdir, spec.seed)
        try:
            options = RunOptions(
                workdir=workdir,
                mode=spec.mode,
                approve="auto",
                profile=source.profile_name,
                model=source.model_name or None,
                config=agent_config,
                store_path=run_dir / SESSIONS_DB,
                browser=False,
                max_steps=run.max_steps,
            )
            results: list[TurnResult] = []
            async with SuiteSession(options, model=model, tools=run.tools, system=run.system) as session:
                attempt.session_id = session.session_id
                session.store.update(session.session_id, title=spec.key)
                for index in range(run.turns()):
                    text, new_tools = run.turn(index)
                    if new_tools:
                        session.add_tools(new_tools)
                    finished = await session.run(text)
                    results.append(TurnResult(index, finished))
                    attempt.statuses.append(finished.status)
                    attempt.steps += finished.steps
                    if finished.cost is not None:
                        attempt.cost = (attempt.cost or 0.0) + finished.cost
                    if finished.status == "model_error":
                        attempt.outcome, attempt.detail = "error", "model_error"
                        attempt.error = finished.message
                        attempt.turns = len(results)
                        return
                    if not run.continues(results[-1]):
                        break
                attempt.turns = len(results)
                messages = session.store.messages(session.session_id)
            grade = await run.grade(results, messages)
        finally:
            await run.aclose()
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)
    attempt.grade = grade
    attempt.outcome = "pass" if grade.passed else "fail"
    attempt.detail = grade.detail


def _record(
    spec: TrialSpec, source: ModelSource, attempt: _Attempt, attempts: int, earlier: list[str], wall: float
) -> TrialRecord:
    meter = attempt.meter
    thinking, estimated = meter.thinking_tokens
    metrics = TrialMetrics(
        steps=attempt.steps,
        turns=attempt.turns,
        requests=meter.requests,
        input_tokens=meter.usage.input_tokens or 0,
        output_tokens=meter.usage.output_tokens or 0,
        thinking_tokens=thinking,
        thinking_estimated=estimated,
        wall_seconds=round(wall, 4),
        model_seconds=round(meter.model_seconds, 4),
        cost=attempt.cost,
    )
    grade = attempt.grade
    return TrialRecord(
        key=spec.key,
        suite=spec.suite,
        suite_version=spec.suite_version,
        task=spec.task.id,
        condition=spec.condition,
        context_policy=spec.policy.label,
        trial=spec.trial,
        seed=spec.seed,
        model=source.model_name,
        profile=source.profile_name,
        endpoint=source.endpoint,
        interleaf_version=__version__,
        outcome=attempt.outcome,
        detail=attempt.detail,
        metrics=metrics,
        session_id=attempt.session_id,
        attempts=attempts,
        error=attempt.error,
        task_info=dict(spec.task.info),
        grade_info=dict(grade.info) if grade is not None else {},
        statuses=tuple(attempt.statuses),
        earlier_sessions=tuple(earlier),
        finished_at=round(time.time(), 3),
    )
