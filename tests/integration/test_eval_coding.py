"""The coding suite: every hidden test file fails on its untouched repo, a real fix made with the agent's
tools passes, and the hidden tests are never in the agent's workdir."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from interleaf.eval.runner import run_eval
from interleaf.eval.scripted import _reply, silent_policy
from interleaf.eval.suites.coding import HIDDEN_TEST, TASKS, CodingRun, GradingError, run_hidden_tests
from interleaf.transcript import Conversation, Response, Text, ToolCall
from tests.fixtures.eval.endpoint import run_config, scripted_endpoint

FIXED_FIZZBUZZ = TASKS["fizzbuzz-range"].files["fizzbuzz.py"].replace("range(1, n)", "range(1, n + 1)")


def fixing_policy(conversation: Conversation) -> Response:
    """List the workdir, write the fix, run it, answer: the agent's real tools do the work."""
    steps = sum(1 for m in conversation.messages if m.role == "assistant")
    if steps == 0:
        return _reply([ToolCall(id="call_ls0a1", name="shell", arguments={"command": "ls -a"})], conversation)
    if steps == 1:
        arguments = {"path": "fizzbuzz.py", "content": FIXED_FIZZBUZZ}
        return _reply([ToolCall(id="call_wr1b2", name="write_file", arguments=arguments)], conversation)
    if steps == 2:
        command = "python -c 'from fizzbuzz import fizzbuzz; print(fizzbuzz(15)[-1])'"
        return _reply(
            [ToolCall(id="call_run2c3", name="shell", arguments={"command": command})], conversation
        )
    return _reply([Text(text="Fixed: the range now includes n.")], conversation)


async def test_every_hidden_test_file_fails_on_its_untouched_repo() -> None:
    async def check(task_id: str) -> tuple[str, bool, str]:
        with tempfile.TemporaryDirectory() as directory:
            CodingRun(TASKS[task_id], Path(directory))
            try:
                grade = await run_hidden_tests(TASKS[task_id], Path(directory))
            except GradingError:  # the sandbox failed to start (shared machine): once more, as a trial would
                grade = await run_hidden_tests(TASKS[task_id], Path(directory))
        return task_id, grade.passed, str(grade.info["output"])

    results = [await check(task_id) for task_id in TASKS]
    assert len(results) == 20
    for task_id, passed, output in results:
        assert not passed, task_id
        # A real assertion failure, not a broken test file or a missing module.
        assert " failed" in output and "error" not in output.splitlines()[-1], (task_id, output[-400:])


@pytest.mark.timeout(600)
async def test_a_fix_made_with_the_agents_tools_passes_and_doing_nothing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERLEAF_HOME", str(tmp_path / "home"))
    async with scripted_endpoint(fixing_policy) as server:
        fixed = await run_eval(
            run_config(server, "coding", tmp_path / "fixed", conditions=["keep"], task_ids=["fizzbuzz-range"])
        )
    async with scripted_endpoint(silent_policy) as server:
        idle = await run_eval(
            run_config(server, "coding", tmp_path / "idle", conditions=["keep"], task_ids=["fizzbuzz-range"])
        )
    (passed,) = fixed.records
    assert (passed.outcome, passed.detail) == ("pass", "tests_passed"), passed.grade_info
    (failed,) = idle.records
    assert (failed.outcome, failed.detail) == ("fail", "tests_failed")
    # The agent listed its workdir: the repo's file was there, the hidden tests were not.
    from interleaf.eval.transcripts import read_session

    assert passed.session_id is not None
    _, messages = read_session(tmp_path / "fixed", passed.session_id)
    listing = next(r.text for m in messages for r in m.tool_results)
    assert "fizzbuzz.py" in listing
    assert HIDDEN_TEST not in listing
    assert "FizzBuzz" in messages[-2].tool_results[0].text
