"""How the agent behaves around the happy path: budgets, loops, approval, pro mode, sub-agents, compaction.

All against the scripted Anthropic server over real HTTP, with a validator that fails any request that
adds a user-role text message after the task's first one (docs/architecture.md, rule 3).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from interleaf.agent.approval import Answer
from interleaf.agent.context import SUMMARY_HEADING, ContextWindow
from interleaf.agent.events import PlanUpdated, RecordingObserver, ToolCalled
from interleaf.agent.session import AgentSession, RunOptions
from interleaf.tools.denylist import check_shell
from interleaf.transcript import ToolCall
from tests.e2e.test_agent_scripted import no_user_text_after_the_task
from tests.support.payloads import anthropic_message, text, thinking, tool_use
from tests.support.scripted_server import RecordedRequest, ScriptedServer, Step


def reply(*blocks: dict[str, Any]) -> Step:
    return Step.json(anthropic_message(list(blocks)))


def call(call_id: str, name: str, **arguments: Any) -> Step:
    return reply(thinking(f"Next: {name}.", f"sig-{call_id}"), tool_use(call_id, name, arguments))


def done(answer: str) -> Step:
    return reply(thinking("Finished.", "sig-done"), text(answer))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INTERLEAF_HOME", str(tmp_path / "home"))
    work = tmp_path / "work"
    work.mkdir()
    return work


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer(validators=[no_user_text_after_the_task]) as s:
        yield s


def options(server: ScriptedServer, workdir: Path, **changes: Any) -> RunOptions:
    base: dict[str, Any] = {
        "workdir": workdir,
        "profile": "anthropic",
        "base_url": server.base_url,
        "api_key": "k",
        "approve": "auto",
        "browser": False,
    }
    return RunOptions(**(base | changes))


def tool_results(request: RecordedRequest) -> list[dict[str, Any]]:
    return [
        block
        for message in request.json["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block["type"] == "tool_result"
    ]


async def test_the_same_call_three_steps_in_a_row_stops_the_run(
    server: ScriptedServer, workdir: Path
) -> None:
    server.enqueue(*(call(f"toolu_{i}", "shell", command="ls") for i in range(3)))
    async with AgentSession(options(server, workdir)) as session:
        finished = await session.run("list files")
        stored = session.store.messages(session.session_id)
    assert finished.status == "loop_detected"
    assert "repeated the same shell call 3 times" in finished.message
    # Every call got an answer, the last one saying it was not run.
    assert stored[-1].role == "tool"
    assert stored[-1].tool_results[0].text.startswith("not run:")
    assert not server.rejections


async def test_the_step_budget_ends_the_run_with_every_call_answered(
    server: ScriptedServer, workdir: Path
) -> None:
    server.enqueue(call("toolu_a", "shell", command="echo 1"), call("toolu_b", "shell", command="echo 2"))
    async with AgentSession(options(server, workdir, max_steps=2)) as session:
        finished = await session.run("count")
        stored = session.store.messages(session.session_id)
    assert finished.status == "max_steps"
    assert "--max-steps" in finished.message
    assert [m.role for m in stored] == ["user", "assistant", "tool", "assistant", "tool"]


async def test_ask_mode_declined_and_always(server: ScriptedServer, workdir: Path) -> None:
    asked: list[str] = []
    answers: list[Answer] = ["no", "always"]

    async def ask(tool_call: ToolCall, summary: str) -> Answer:
        asked.append(summary)
        return answers.pop(0)

    server.enqueue(
        call("toolu_1", "shell", command="touch a"),
        call("toolu_2", "shell", command="touch b"),
        call("toolu_3", "shell", command="touch c"),
        call("toolu_4", "read_file", path="b"),
        done("ok"),
    )
    async with AgentSession(options(server, workdir, approve="ask"), ask=ask) as session:
        finished = await session.run("make files")
        approvals = session.store.notes(session.session_id, "approval")
    assert finished.status == "done"
    assert asked == ["touch a", "touch b"]  # "always" covers toolu_3; read_file is read-only
    assert not (workdir / "a").exists()
    assert (workdir / "b").exists()
    assert (workdir / "c").exists()
    declined = tool_results(server.requests[1])[0]
    assert declined["is_error"] is True
    assert "declined" in declined["content"]
    assert [n["allowed"] for n in approvals] == [False, True, True, True]


async def test_auto_mode_refuses_the_deny_list(server: ScriptedServer, workdir: Path) -> None:
    assert check_shell("rm -rf /") is not None
    assert check_shell("rm -rf build/") is None
    server.enqueue(call("toolu_1", "shell", command="rm -rf / --no-preserve-root"), done("ok"))
    async with AgentSession(options(server, workdir)) as session:
        await session.run("clean up")
    refused = tool_results(server.requests[1])[0]
    assert refused["is_error"] is True
    assert "deny list" in refused["content"]


async def test_never_mode_runs_only_read_only_tools(server: ScriptedServer, workdir: Path) -> None:
    (workdir / "notes.txt").write_text("hello\n")
    server.enqueue(
        call("toolu_1", "read_file", path="notes.txt"),
        call("toolu_2", "write_file", path="x", content="y"),
        done("ok"),
    )
    async with AgentSession(options(server, workdir, approve="never")) as session:
        await session.run("read")
    results = tool_results(server.requests[2])
    assert "hello" in results[0]["content"]
    assert results[1]["is_error"] is True
    assert not (workdir / "x").exists()


async def test_pro_mode_plans_and_finish_runs_the_tests_until_they_pass(
    server: ScriptedServer, workdir: Path
) -> None:
    (workdir / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (workdir / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    )
    plan = [{"text": "fix add", "status": "in_progress"}, {"text": "run tests", "status": "pending"}]
    server.enqueue(
        call("toolu_p", "plan", items=plan),
        call("toolu_f1", "finish", answer="fixed"),
        call("toolu_e", "edit_file", path="calc.py", old_string="a - b", new_string="a + b"),
        call("toolu_f2", "finish", answer="add() fixed; tests pass"),
    )
    observer = RecordingObserver()
    async with AgentSession(options(server, workdir, mode="pro"), observer=observer) as session:
        finished = await session.run("fix calc.add")
    assert finished.status == "done"
    assert finished.answer == "add() fixed; tests pass"
    assert next(e for e in observer.agent_events if isinstance(e, PlanUpdated)).items[0]["text"] == "fix add"
    failed = tool_results(server.requests[2])[-1]
    assert failed["is_error"] is True
    assert failed["content"].startswith("verification failed")
    assert "assert -1 == 5" in failed["content"] or "AssertionError" in failed["content"]
    passed = [r for r in server.requests[-1].json["messages"]]
    assert len(passed) == 7
    assert not server.rejections
    offered = [t["name"] for t in server.requests[0].json["tools"]]
    assert {"plan", "subagent", "finish"} <= set(offered)


async def test_a_subagent_works_in_its_own_context(server: ScriptedServer, workdir: Path) -> None:
    server.enqueue(
        call("toolu_s", "subagent", task="Count the files in the workdir and report the number."),
        call("toolu_c", "shell", command="ls | wc -l"),  # the child's first step
        done("There are 0 files."),  # the child's answer
        call("toolu_f", "finish", answer="The helper found 0 files."),
    )
    observer = RecordingObserver()
    async with AgentSession(options(server, workdir, mode="pro"), observer=observer) as session:
        finished = await session.run("how many files?")
        notes = session.store.notes(session.session_id, "subagent")
    assert finished.status == "done"
    child_first = server.requests[1].json["messages"]
    assert child_first == [
        {"role": "user", "content": "Count the files in the workdir and report the number."}
    ]
    parent_again = server.requests[3].json["messages"]
    assert "There are 0 files." in json.dumps(tool_results(server.requests[3]))
    assert parent_again[0]["content"] == "how many files?"
    assert len(notes) == 1
    assert len(notes[0]["messages"]) == 4  # the child's task, call, result, answer
    assert any(isinstance(e, ToolCalled) and e.call.name == "shell" for e in observer.agent_events)


async def test_compaction_summarises_earlier_tasks_into_the_system_prompt(
    server: ScriptedServer, workdir: Path
) -> None:
    server.enqueue(
        done("A" * 400), Step.json(anthropic_message([text("They asked for A; it was given.")])), done("B")
    )
    async with AgentSession(options(server, workdir)) as session:
        await session.run("first task: say A")
        session.agent.window = ContextWindow(limit=400, reserve=10)
        finished = await session.run("second task: say B")
        live = session.store.live_context(session.session_id)
    assert finished.status == "done"
    summarize, second = server.requests[1], server.requests[2]
    assert "[user] first task: say A" in json.dumps(summarize.json["messages"])
    assert second.json["messages"] == [{"role": "user", "content": "second task: say B"}]
    assert f"{SUMMARY_HEADING}\nThey asked for A; it was given." in second.json["system"]
    assert [m.text for m in live.messages][:1] == ["second task: say B"]
    assert live.summary == "They asked for A; it was given."
