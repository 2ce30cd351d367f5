"""The agent end to end against strict scripted model servers, one per thinking dialect.

Each server replays a three-step task (a shell call; a file write and a python call in parallel; a final
answer) and rejects a request, with the vendor's own 400, when an earlier thinking block of the task is
missing or changed, or when a user-role text message appears after the task's first one. The tools
really run: the test checks the files and the outputs the model was sent.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from interleaf.agent.events import Finished, RecordingObserver
from interleaf.agent.session import AgentSession, RunOptions
from interleaf.config import Config, ProfileConfig
from interleaf.transcript import ReasoningDialect
from tests.support.payloads import (
    anthropic_events,
    anthropic_message,
    openai_chunks,
    openai_completion,
    reasoning_detail,
    text,
    thinking,
    tool_call,
    tool_use,
)
from tests.support.scripted_server import RecordedRequest, ScriptedServer, Step
from tests.support.strict import StrictAnthropic, StrictOpenAIReasoning, StrictThinkingSetting

THOUGHTS = (
    "The user wants hello in out.txt; «echo» then cat it to check.\n",
    "It worked. Next: write notes.md and compute 6*7 in Python, both at once.",
    "Both done: notes.md exists and Python printed 42. Time to answer.",
)
SHELL = {"command": "echo hello > out.txt && cat out.txt"}
WRITE = {"path": "notes.md", "content": "# notes\nhello was written\n"}
PYTHON = {"code": "print(6 * 7)"}
TASK = "Write hello to out.txt, then notes.md, and compute 6*7."


def no_user_text_after_the_task(request: RecordedRequest) -> str | None:
    """Rule 3: within a task, nothing but tool results may follow the first user message."""
    messages = request.json.get("messages", [])
    users = []
    for i, message in enumerate(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list) and content and all(b.get("type") == "tool_result" for b in content):
            continue
        users.append(i)
    if len(users) > 1:
        return f"user-role message at index {users[1]} after the task's first user message"
    return None


def think_tags_kept(issued: list[str]) -> Callable[[RecordedRequest], str | None]:
    """Inline-<think> servers: every earlier assistant turn must carry its <think> block verbatim."""

    def check(request: RecordedRequest) -> str | None:
        assistants = [m for m in request.json["messages"] if m.get("role") == "assistant"]
        for i, message in enumerate(assistants):
            expected = f"<think>{issued[i]}</think>"
            if expected not in (message.get("content") or ""):
                return f"assistant message {i} lost its <think> block"
        return None

    return check


def _anthropic_steps(stream: bool) -> list[Step]:
    replies = [
        anthropic_message(
            [thinking(THOUGHTS[0], "sig-A1=="), tool_use("toolu_1", "shell", SHELL)], id="msg_1"
        ),
        anthropic_message(
            [
                thinking(THOUGHTS[1], "sig-A2=="),
                text("Writing notes and computing."),
                tool_use("toolu_2", "write_file", WRITE),
                tool_use("toolu_3", "python", PYTHON),
            ],
            id="msg_2",
        ),
        anthropic_message(
            [thinking(THOUGHTS[2], "sig-A3=="), text("Done: out.txt, notes.md, and 42.")], id="msg_3"
        ),
    ]
    return [Step.sse(anthropic_events(r)) if stream else Step.json(r) for r in replies]


def _openai_steps(dialect: ReasoningDialect, stream: bool) -> list[Step]:
    def reply(i: int, calls: list[dict[str, Any]], content: str | None) -> dict[str, Any]:
        if dialect is ReasoningDialect.REASONING_DETAILS:
            return openai_completion(
                content=content,
                reasoning_details=[reasoning_detail(THOUGHTS[i])],
                tool_calls=calls,
                id=f"c{i}",
            )
        return openai_completion(
            content=f"<think>{THOUGHTS[i]}</think>\n\n{content or ''}", tool_calls=calls, id=f"c{i}"
        )

    replies = [
        reply(0, [tool_call("call_a1b2c3d4e5", "shell", SHELL)], None),
        reply(
            1,
            [
                tool_call("call_f6g7h8i9j0", "write_file", WRITE),
                tool_call("call_k1l2m3n4o5", "python", PYTHON),
            ],
            "Writing notes and computing.",
        ),
        reply(2, [], "Done: out.txt, notes.md, and 42."),
    ]
    return [Step.sse(openai_chunks(r)) if stream else Step.json(r) for r in replies]


CASES = {
    "anthropic": ("anthropic", None),
    "minimax-reasoning-details": ("minimax-openai", None),
    "inline-think": ("vllm", ReasoningDialect.THINK_TAGS),
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INTERLEAF_HOME", str(tmp_path / "home"))
    work = tmp_path / "work"
    work.mkdir()
    return work


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as s:
        yield s


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("case", list(CASES))
async def test_every_earlier_thinking_block_goes_back_exactly(
    case: str, stream: bool, server: ScriptedServer, workdir: Path
) -> None:
    profile, dialect_override = CASES[case]
    server.validators.append(no_user_text_after_the_task)
    if profile == "anthropic":
        server.validators.append(StrictAnthropic(server))
        server.enqueue(*_anthropic_steps(stream))
    elif profile == "minimax-openai":
        server.validators.append(StrictOpenAIReasoning(server, "reasoning_details"))
        server.enqueue(*_openai_steps(ReasoningDialect.REASONING_DETAILS, stream))
    else:
        server.validators.append(think_tags_kept(list(THOUGHTS)))
        server.enqueue(*_openai_steps(ReasoningDialect.THINK_TAGS, stream))
    config = Config(profiles={"vllm": ProfileConfig(thinking_dialect=dialect_override, model="m2")})
    observer = RecordingObserver()
    options = RunOptions(
        workdir=workdir,
        profile=profile,
        base_url=server.base_url,
        api_key="test-key",
        approve="auto",
        config=config,
        stream=stream,
    )
    async with AgentSession(options, observer=observer) as session:
        finished = await session.run(TASK)
        stored = session.store.messages(session.session_id)

    assert not server.rejections, server.rejections
    assert finished.status == "done", finished
    assert finished.answer.endswith("Done: out.txt, notes.md, and 42.")
    server.assert_done()
    assert len(server.requests) == 3
    # The tools really ran, and what they produced is what the model was sent.
    assert (workdir / "out.txt").read_text() == "hello\n"
    assert (workdir / "notes.md").read_text() == WRITE["content"]
    last = json.dumps(server.requests[2].json["messages"], ensure_ascii=False)
    assert "hello" in last
    assert "42" in last
    # Each request carried the whole task: the user message plus every earlier assistant turn and its
    # results (OpenAI: a system message first and one tool message per result).
    expected = [1, 3, 5] if profile == "anthropic" else [2, 4, 7]
    assert [len(r.json["messages"]) for r in server.requests] == expected
    # The session holds every message, thinking byte-exact.
    thinking_texts = [b.text for m in stored for b in m.thinking]  # type: ignore[union-attr]
    assert thinking_texts == list(THOUGHTS)
    assert isinstance(observer.agent_events[-1], Finished)


async def test_whole_replies_are_asked_for_without_streaming(server: ScriptedServer, workdir: Path) -> None:
    server.validators.append(StrictAnthropic(server))
    server.enqueue(*_anthropic_steps(stream=False))
    options = RunOptions(
        workdir=workdir,
        profile="anthropic",
        base_url=server.base_url,
        api_key="k",
        approve="auto",
        stream=False,
    )
    async with AgentSession(options) as session:
        finished = await session.run(TASK)
    assert finished.status == "done"
    assert [r.json.get("stream") for r in server.requests] == [False, False, False]


@pytest.mark.parametrize(
    ("mode", "model", "thinking", "output_config"),
    [
        ("lightning", "claude-opus-4-7", {"type": "adaptive", "display": "summarized"}, {"effort": "low"}),
        ("pro", "claude-opus-4-7", {"type": "adaptive", "display": "summarized"}, {"effort": "high"}),
        ("lightning", "claude-sonnet-4-5", {"type": "enabled", "budget_tokens": 2048}, None),
        ("pro", "claude-sonnet-4-5", {"type": "enabled", "budget_tokens": 16000}, None),
    ],
)
async def test_each_claude_model_is_asked_to_think_the_way_it_takes(
    mode: str,
    model: str,
    thinking: dict[str, Any],
    output_config: dict[str, Any] | None,
    server: ScriptedServer,
    workdir: Path,
) -> None:
    # Opus 4.7 refuses a thinking budget with a 400, Sonnet 4.5 refuses adaptive thinking: a mode's
    # effort must reach each as the form it takes, or no task runs at all.
    server.validators.extend([StrictThinkingSetting(), StrictAnthropic(server)])
    server.enqueue(*_anthropic_steps(stream=True))
    options = RunOptions(
        workdir=workdir,
        profile="anthropic",
        model=model,
        mode=mode,
        base_url=server.base_url,
        api_key="k",
        approve="auto",
    )
    async with AgentSession(options) as session:
        finished = await session.run(TASK)
    assert not server.rejections, server.rejections
    assert finished.status == "done", finished
    assert len(server.requests) == 3
    for request in server.requests:
        assert request.json["model"] == model
        assert request.json["thinking"] == thinking
        assert request.json.get("output_config") == output_config


@pytest.mark.parametrize(
    ("model", "thinking"), [("MiniMax-M3", {"type": "adaptive"}), ("MiniMax-M2.7", None)]
)
async def test_minimax_m3_is_asked_to_think_and_m2_is_left_to_think_as_it_always_does(
    model: str, thinking: dict[str, Any] | None, server: ScriptedServer, workdir: Path
) -> None:
    # M3 on /anthropic does not think unless asked; M2.x thinks on every request. The profile's
    # recommended sampling (top_k 40, which /anthropic ignores) must not keep M3 from being asked.
    server.validators.append(StrictAnthropic(server))
    server.enqueue(*_anthropic_steps(stream=True))
    options = RunOptions(
        workdir=workdir,
        profile="minimax",
        model=model,
        base_url=server.base_url,
        api_key="k",
        approve="auto",
    )
    async with AgentSession(options) as session:
        finished = await session.run(TASK)
    assert finished.status == "done", finished
    for request in server.requests:
        assert request.json["model"] == model and request.json["top_k"] == 40
        assert request.json.get("thinking") == thinking
        assert "output_config" not in request.json and "reasoning_effort" not in request.json


async def test_resuming_on_another_backend_never_moves_signatures(
    server: ScriptedServer, workdir: Path
) -> None:
    """Rule 4: a signature is bound to the backend that made it; a session resumed elsewhere sends the
    thinking text but not the signature."""
    server.enqueue(*_anthropic_steps(stream=True))
    first = RunOptions(
        workdir=workdir, profile="anthropic", base_url=server.base_url, api_key="k", approve="auto"
    )
    async with AgentSession(first) as session:
        assert (await session.run(TASK)).status == "done"
        session_id = session.session_id
    server.enqueue(Step.sse(anthropic_events(anthropic_message([text("fine")]))))
    second = RunOptions(
        workdir=workdir,
        profile="minimax",
        base_url=server.base_url,
        api_key="k",
        approve="auto",
        resume=session_id,
    )
    observer = RecordingObserver()
    async with AgentSession(second, observer=observer) as session:
        assert (await session.run("and now?")).status == "done"
    replayed = server.requests[-1].json["messages"]
    thinking_blocks = [
        b for m in replayed if isinstance(m["content"], list) for b in m["content"] if b["type"] == "thinking"
    ]
    assert [b["thinking"] for b in thinking_blocks] == list(THOUGHTS)
    assert all("signature" not in b for b in thinking_blocks)
    assert any("without signatures" in getattr(e, "message", "") for e in observer.agent_events)


async def test_resuming_on_another_api_sends_no_vendor_fields_of_the_old_one(
    server: ScriptedServer, workdir: Path
) -> None:
    completion = openai_completion(content="hi", reasoning_details=[reasoning_detail("Say hi.")])
    completion["choices"][0]["message"]["refusal"] = None
    server.enqueue(Step.json(completion))
    first = RunOptions(
        workdir=workdir, profile="minimax-openai", base_url=server.base_url, api_key="k", approve="auto"
    )
    async with AgentSession(first) as session:
        assert (await session.run("greet")).status == "done"
        session_id = session.session_id
    server.validators.append(StrictAnthropic(server, require_signature=False))
    server.enqueue(Step.json(anthropic_message([text("fine")])))
    second = RunOptions(
        workdir=workdir,
        profile="anthropic",
        base_url=server.base_url,
        api_key="k",
        approve="auto",
        resume=session_id,
    )
    async with AgentSession(second) as session:
        assert (await session.run("again")).status == "done"
    assistant = server.requests[-1].json["messages"][1]
    assert assistant == {
        "role": "assistant",
        "content": [{"type": "thinking", "thinking": "Say hi."}, {"type": "text", "text": "hi"}],
    }
