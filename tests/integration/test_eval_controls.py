"""Controls that can fail: scripted models over real HTTP whose scores under each condition are known.

* A model that needs its own earlier thinking passes every needle task under ``keep`` and ``restored``
  (through a real in-process gateway) and guesses under ``drop``.
* A model that ignores history scores the same under every condition.
* Replaying BFCL's ground truth scores 100% with BFCL's own checker; calling nothing scores 0%.
* Long runs: a re-run resumes, a failing trial is recorded and retried without ending the run, an
  interrupted run keeps what finished.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from interleaf.eval.context_policy import ContextPolicy
from interleaf.eval.results import RESULTS_FILE, ResultsFile, TrialRecord
from interleaf.eval.runner import run_eval
from interleaf.eval.scripted import guessing_policy, needle_policy, silent_policy
from interleaf.eval.suites.bfcl import CATEGORIES, BfclSuite
from interleaf.eval.suites.bfcl_package import pull_bfcl
from interleaf.eval.suites.needle import NeedleSuite, build_puzzle, prompt_text
from tests.fixtures.eval.endpoint import bfcl_replay, run_config, scripted_endpoint

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLEAF_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def bfcl_cache() -> Iterator[Path]:
    """bfcl-eval's wheel, pulled once into the repo's .cache like the embedded model (pip, no install)."""
    import os

    root = Path(os.environ.get("INTERLEAF_TEST_EVAL_CACHE") or REPO / ".cache" / "eval")
    pull_bfcl(root)
    previous = os.environ.get("INTERLEAF_EVAL_CACHE")
    os.environ["INTERLEAF_EVAL_CACHE"] = str(root)
    yield root
    if previous is None:
        os.environ.pop("INTERLEAF_EVAL_CACHE", None)
    else:
        os.environ["INTERLEAF_EVAL_CACHE"] = previous


def _by(records: list[TrialRecord], condition: str) -> dict[str, bool]:
    return {r.task: r.passed for r in records if r.condition == condition}


async def test_needle_keep_and_restored_remember_and_drop_guesses(tmp_path: Path) -> None:
    options = {"lengths": "1k,2k", "hops": "1-4", "per_cell": "3"}
    async with scripted_endpoint(needle_policy) as server:
        config = run_config(
            server, "needle", tmp_path / "run", conditions=["keep", "drop", "restored"], options=options
        )
        summary = await run_eval(config)
    records = summary.records
    assert len(records) == 24 * 3
    assert all(r.outcome != "error" for r in records), [r.error for r in records if r.error]
    keep, drop, restored = _by(records, "keep"), _by(records, "drop"), _by(records, "restored")
    assert all(keep.values()) and len(keep) == 24
    assert all(restored.values()) and len(restored) == 24
    # Without its thinking the model guesses among four answers: about 25%, far below keep's 100%.
    rate = sum(drop.values()) / len(drop)
    assert abs(rate - 0.25) <= 3 * math.sqrt(0.25 * 0.75 / len(drop)), rate
    assert {r.detail for r in records if r.condition == "drop" and not r.passed} == {"wrong_answer"}
    # The thinking the model needed is in every kept transcript, and the gateway really stored replies.
    assert all(r.metrics.thinking_tokens > 0 for r in records)
    assert (tmp_path / "run" / "gateway-thinking.db").stat().st_size > 0


async def test_a_history_blind_model_scores_the_same_under_every_condition(tmp_path: Path) -> None:
    async with scripted_endpoint(guessing_policy) as server:
        config = run_config(
            server,
            "needle",
            tmp_path / "run",
            conditions=["keep", "drop", "restored", "current-loop"],
            options={"lengths": "1k", "hops": "1-2", "per_cell": "4"},
        )
        summary = await run_eval(config)
    per_condition = [_by(summary.records, c) for c in ("keep", "drop", "restored", "current-loop")]
    assert len(per_condition[0]) == 8
    assert all(outcomes == per_condition[0] for outcomes in per_condition)
    assert 0 < sum(per_condition[0].values()) < 8  # guesses: some right, some wrong


@pytest.mark.parametrize("category", CATEGORIES)
async def test_replaying_bfcl_ground_truth_scores_100_and_calling_nothing_0(
    category: str, bfcl_cache: Path, tmp_path: Path
) -> None:
    suite = BfclSuite()
    policy, replayable = bfcl_replay(suite, category)
    chosen = replayable[:8]
    async with scripted_endpoint(policy) as server:
        config = run_config(
            server, "bfcl-multi-turn", tmp_path / "replay", conditions=["keep"], task_ids=chosen
        )
        replayed = await run_eval(config, suite=suite)
    assert [(r.task, r.outcome, r.detail) for r in replayed.records if not r.passed] == []
    assert len(replayed.records) == len(chosen)
    async with scripted_endpoint(silent_policy) as server:
        config = run_config(
            server, "bfcl-multi-turn", tmp_path / "silent", conditions=["keep"], task_ids=chosen
        )
        silent = await run_eval(config, suite=suite)
    assert all(r.outcome == "fail" for r in silent.records)
    assert {r.detail for r in silent.records} <= {"multi_turn:empty_turn_model_response"}


async def test_a_rerun_resumes_and_skips_finished_trials(tmp_path: Path) -> None:
    out = tmp_path / "run"
    options = {"lengths": "1k", "hops": "1", "per_cell": "4"}
    async with scripted_endpoint(needle_policy) as server:
        first = await run_eval(run_config(server, "needle", out, conditions=["keep"], options=options))
        again = await run_eval(run_config(server, "needle", out, conditions=["keep"], options=options))
        wider = await run_eval(
            run_config(server, "needle", out, conditions=["keep", "drop"], options=options)
        )
    assert (len(first.records), first.skipped) == (4, 0)
    assert (len(again.records), again.skipped) == (0, 4)
    assert (len(wider.records), wider.skipped) == (4, 4)
    assert {r.condition for r in wider.records} == {"drop"}
    lines = (out / RESULTS_FILE).read_text().splitlines()
    assert len(lines) == 8
    run = json.loads((out / "run.json").read_text())
    assert run["conditions"] == ["keep", "drop"]


async def test_a_failing_trial_is_recorded_retried_and_does_not_end_the_run(tmp_path: Path) -> None:
    suite = NeedleSuite()
    options = {"lengths": "1k", "hops": "1", "per_cell": "3"}
    doomed = suite.tasks(options, 0)[1]
    puzzle = build_puzzle(int(doomed.info["task_seed"]), 1, 1024)
    marker = prompt_text(puzzle.alphabets, 1).splitlines()[-3]  # its own "Words to choose from" line
    async with scripted_endpoint(needle_policy, fail_tasks=(marker,)) as server:
        summary = await run_eval(
            run_config(server, "needle", tmp_path / "run", conditions=["keep"], options=options)
        )
    by_task = {r.task: r for r in summary.records}
    failed = by_task.pop(doomed.id)
    assert (failed.outcome, failed.detail, failed.attempts) == ("error", "model_error", 2)
    assert failed.error and "500" in failed.error
    assert len(failed.earlier_sessions) == 1 and failed.session_id not in failed.earlier_sessions
    assert [r.outcome for r in by_task.values()] == ["pass", "pass"]


class _SetAfter:
    """A progress sink that sets ``event`` once ``count`` trials have finished."""

    def __init__(self, count: int, event: asyncio.Event) -> None:
        self.count, self.event = count, event

    def started(self, total: int, skipped: int, concurrency: int) -> None:
        pass

    def notice(self, message: str) -> None:
        pass

    def trial_done(self, record: TrialRecord) -> None:
        self.count -= 1
        if self.count <= 0:
            self.event.set()


async def test_an_interrupted_run_keeps_finished_trials_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    options = {"lengths": "1k", "hops": "2", "per_cell": "6"}
    async with scripted_endpoint(needle_policy) as server:
        server.on_reply.append(lambda request, step: asyncio.sleep(0.15))
        config = run_config(server, "needle", out, conditions=["keep"], options=options, concurrency=1)
        two_done = asyncio.Event()
        task = asyncio.create_task(run_eval(config, progress=_SetAfter(2, two_done)))
        await two_done.wait()
        task.cancel()  # what Ctrl-C does to `interleaf eval run`
        with pytest.raises(asyncio.CancelledError):
            await task
        kept = ResultsFile(out).latest()
        assert 2 <= len(kept) < 6
        resumed = await run_eval(run_config(server, "needle", out, conditions=["keep"], options=options))
    assert resumed.skipped == len(kept)
    assert len(ResultsFile(out).latest()) == 6
    assert all(r.passed for r in ResultsFile(out).latest().values())


async def test_a_context_window_that_cuts_the_secret_makes_keep_fail_like_drop(tmp_path: Path) -> None:
    options = {"lengths": "2k", "hops": "3", "per_cell": "3"}
    async with scripted_endpoint(needle_policy) as server:
        full = await run_eval(
            run_config(server, "needle", tmp_path / "full", conditions=["keep"], options=options)
        )
        cut = await run_eval(
            run_config(
                server,
                "needle",
                tmp_path / "cut",
                conditions=["keep"],
                options=options,
                policy=ContextPolicy("window", 900),
            )
        )
    assert all(r.passed for r in full.records)
    assert {r.context_policy for r in cut.records} == {"window:900"}
    # The step holding the secret (and the pages read so far) no longer fits: the model loses its place.
    assert sum(r.passed for r in cut.records) < len(cut.records)
    assert all(r.grade_info.get("secret") for r in cut.records)


async def test_a_summary_policy_summarises_what_does_not_fit_into_the_system_prompt(tmp_path: Path) -> None:
    options = {"lengths": "2k", "hops": "3", "per_cell": "1"}
    async with scripted_endpoint(needle_policy) as server:
        summary = await run_eval(
            run_config(
                server,
                "needle",
                tmp_path / "run",
                conditions=["keep"],
                options=options,
                policy=ContextPolicy("summary", 900),
            )
        )
        bodies = [r.json for r in server.requests if r.method == "POST"]
    (record,) = summary.records
    assert record.context_policy == "summary:900"
    # The first step left the request, yet the model still knew its secret: the summary carried it.
    secret = record.grade_info["secret"]
    assert secret
    final = bodies[-1]["messages"]
    assert f"SECRET: {secret}" not in json.dumps(final[1:])
    assert f"SECRET: {secret}" in str(final[0]["content"])
    asks = [b for b in bodies if "Summarise the earlier part" in str(b["messages"][0]["content"])]
    assert asks, "the left-out steps were sent to the model to summarise"
    assert "SECRET:" in str(asks[0]["messages"][-1]["content"])  # the thinking was part of what it summarised
    later = [b for b in bodies if "# Earlier in this task (summary)" in str(b["messages"][0]["content"])]
    assert later and all(
        m.get("role") != "user" or "Summarise" not in str(m) for b in later for m in b["messages"]
    )
    assert record.metrics.requests == len(bodies)  # the summary requests are metered like any other
