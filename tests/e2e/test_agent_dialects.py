"""Thinking goes back the way it arrived: every OpenAI-compatible profile, every arrival dialect.

A scripted server answers a three-step task (a file write; another write and a read in parallel; a
final answer) with its thinking in one dialect: inline ``<think>`` in ``content`` (vLLM's and SGLang's
append-think parsers), ``reasoning``, ``reasoning_content`` or ``reasoning_details``. Whatever the
profile's own ``thinking_dialect`` says, every later request must carry each earlier block back in that
same dialect, byte-exact and nowhere else: the vendor-style strict validators answer 400 otherwise, and
so does a check that the thinking is neither missing from any earlier turn nor duplicated into another
field. The embedded model's profile (``local``) runs the same task through the JSON action protocol.

History recorded on another backend has no arrival dialect there: its thinking goes back the way the
new backend's profile says (the last tests).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from interleaf.agent.session import AgentSession, RunOptions
from interleaf.backends.client import ModelClient
from interleaf.backends.profiles import PROFILES
from interleaf.config import Config, ProfileConfig
from interleaf.transcript import ReasoningDialect, Thinking
from tests.e2e.test_agent_scripted import no_user_text_after_the_task
from tests.support.payloads import openai_chunks, openai_completion, reasoning_detail, tool_call
from tests.support.scripted_server import RecordedRequest, ScriptedServer, Step, Validator
from tests.support.strict import StrictOpenAIReasoning, StrictThinkTags

THOUGHTS = (
    "The user wants «hello» in out.txt; write it.\n",
    "It worked. Now notes.md, and read out.txt back in the same step.",
    "Both done. Time to answer.",
)
HELLO = {"path": "out.txt", "content": "hello\n"}
WRITE = {"path": "notes.md", "content": "# notes\nhello was written\n"}
READ = {"path": "out.txt"}
ANSWER = "Done: out.txt and notes.md."
TASK = "Write hello to out.txt, then notes.md, and read out.txt back."

TAGS = "think_tags"
FIELDS = ("reasoning", "reasoning_content", "reasoning_details")
ARRIVALS = (TAGS, *FIELDS)
OPENAI_PROFILES = sorted(n for n, p in PROFILES.items() if p.api == "openai-chat" and n != "local")


def _item(i: int) -> dict[str, Any]:
    return reasoning_detail(THOUGHTS[i], index=0)


def _reply(arrival: str, i: int, calls: list[dict[str, Any]], content: str | None) -> dict[str, Any]:
    """Reply ``i`` of the task with its thinking as a server of that dialect sends it."""
    if arrival == TAGS:
        return openai_completion(
            content=f"<think>{THOUGHTS[i]}</think>\n\n{content or ''}", tool_calls=calls, id=f"c{i}"
        )
    if arrival == "reasoning_details":
        return openai_completion(content=content, reasoning_details=[_item(i)], tool_calls=calls, id=f"c{i}")
    return openai_completion(
        content=content, reasoning=THOUGHTS[i], reasoning_field=arrival, tool_calls=calls, id=f"c{i}"
    )


def _native_steps(arrival: str, stream: bool) -> list[Step]:
    replies = [
        _reply(arrival, 0, [tool_call("call_a1b2c3d4e5", "write_file", HELLO)], None),
        _reply(
            arrival,
            1,
            [
                tool_call("call_f6g7h8i9j0", "write_file", WRITE),
                tool_call("call_k1l2m3n4o5", "read_file", READ),
            ],
            "Writing notes and reading.",
        ),
        _reply(arrival, 2, [], ANSWER),
    ]
    return [Step.sse(openai_chunks(r)) if stream else Step.json(r) for r in replies]


def _action_steps(arrival: str, stream: bool) -> list[Step]:
    """The same task as JSON actions (one a reply, in the content), as the embedded model writes them."""
    actions = [
        {"tool": "write_file", **HELLO},
        {"tool": "read_file", **READ},
        {"final_answer": ANSWER},
    ]
    replies = [_reply(arrival, i, [], json.dumps(action)) for i, action in enumerate(actions)]
    return [Step.sse(openai_chunks(r)) if stream else Step.json(r) for r in replies]


def thinking_where_it_arrived(arrival: str) -> Validator:
    """Every earlier assistant turn carries its own thinking in the arrival dialect, byte-exact (the
    whole ``reasoning_details`` item), and no thinking in any other field or in its content."""

    def check(request: RecordedRequest) -> str | None:
        assistants = [m for m in request.json.get("messages", []) if m.get("role") == "assistant"]
        for i, message in enumerate(assistants):
            content = message.get("content") or ""
            if not isinstance(content, str):
                return f"assistant message {i}: content is not a string: {content!r}"
            inline = f"<think>{THOUGHTS[i]}</think>"
            if arrival == TAGS:
                if inline not in content or content.count("<think>") != 1:
                    return f"assistant message {i} does not carry its <think> block once in content"
            elif "<think>" in content:
                return f"assistant message {i} carries thinking inline, but it arrived in {arrival}"
            expected: Any = [_item(i)] if arrival == "reasoning_details" else THOUGHTS[i]
            for field in FIELDS:
                if field == arrival and message.get(field) != expected:
                    return f"assistant message {i}: {field} is {message.get(field)!r}, not what arrived"
                if field != arrival and field in message:
                    return f"assistant message {i} duplicates its thinking into {field}"
        return None

    return check


def _strict(server: ScriptedServer, arrival: str) -> Validator:
    """The vendor-style validator of the arrival dialect (keyed on the tool-call ids the server issued)."""
    if arrival == TAGS:
        return StrictThinkTags(server)
    return StrictOpenAIReasoning(server, arrival)


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


def _options(server: ScriptedServer, workdir: Path, profile: str, **changes: Any) -> RunOptions:
    base: dict[str, Any] = {
        "workdir": workdir,
        "profile": profile,
        "base_url": server.base_url,
        "api_key": "test-key",
        "approve": "auto",
        "browser": False,
    }
    return RunOptions(**(base | changes))


def _posts(server: ScriptedServer) -> list[RecordedRequest]:
    return [r for r in server.requests if r.method == "POST"]


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("arrival", ARRIVALS)
@pytest.mark.parametrize("profile", OPENAI_PROFILES)
async def test_thinking_goes_back_in_the_dialect_it_arrived_in(
    profile: str, arrival: str, stream: bool, server: ScriptedServer, workdir: Path
) -> None:
    server.validators += [
        no_user_text_after_the_task,
        _strict(server, arrival),
        thinking_where_it_arrived(arrival),
    ]
    server.enqueue(*_native_steps(arrival, stream))
    async with AgentSession(_options(server, workdir, profile, stream=stream)) as session:
        finished = await session.run(TASK)
        stored = session.store.messages(session.session_id)

    assert not server.rejections, server.rejections
    assert finished.status == "done", finished
    assert finished.answer.endswith(ANSWER)
    server.assert_done()
    posts = _posts(server)
    assert len(posts) == 3
    # The request after each step carried every earlier turn (system, task, replies, one message a result).
    assert [len(r.json["messages"]) for r in posts] == [2, 4, 7]
    assert (workdir / "notes.md").read_text() == WRITE["content"]
    assert "hello" in json.dumps(posts[2].json["messages"][-1])  # read_file's result went back
    dialects = [b.dialect for m in stored for b in m.thinking if isinstance(b, Thinking)]
    assert [b.text for m in stored for b in m.thinking if isinstance(b, Thinking)] == list(THOUGHTS)
    assert dialects == [ReasoningDialect(arrival)] * 3


@pytest.mark.parametrize("arrival", ARRIVALS)
async def test_the_embedded_models_json_actions_replay_thinking_as_it_arrived(
    arrival: str, server: ScriptedServer, workdir: Path
) -> None:
    """The ``local`` profile speaks JSON actions: calls are read out of the content (never out of the
    thinking) and replayed as tool calls, and the thinking goes back where it came from."""
    server.validators += [no_user_text_after_the_task, thinking_where_it_arrived(arrival)]
    server.enqueue(*_action_steps(arrival, stream=True))
    client = ModelClient("local", base_url=server.base_url)
    async with client, AgentSession(_options(server, workdir, "local"), model=client) as session:
        finished = await session.run(TASK)

    assert not server.rejections, server.rejections
    assert (finished.status, finished.answer) == ("done", ANSWER)
    posts = _posts(server)
    assert [r.json["response_format"]["type"] for r in posts] == ["json_schema"] * 3
    assert (workdir / "out.txt").read_text() == "hello\n"
    assert "hello" in json.dumps(posts[2].json["messages"][-1])  # read_file's result went back
    replayed = [m for m in posts[2].json["messages"] if m.get("role") == "assistant"]
    assert [m["tool_calls"][0]["function"]["name"] for m in replayed] == ["write_file", "read_file"]


async def _record_first_session(server: ScriptedServer, workdir: Path, profile: str, arrival: str) -> str:
    server.enqueue(*_native_steps(arrival, stream=True))
    async with AgentSession(_options(server, workdir, profile)) as session:
        assert (await session.run(TASK)).status == "done"
        return session.session_id


Resume = Callable[[dict[str, Any], int], str | None]


def _in_field(field: str) -> Resume:
    def check(message: dict[str, Any], i: int) -> str | None:
        expected: Any = THOUGHTS[i]
        if message.get(field) != expected or "<think>" in (message.get("content") or ""):
            return f"assistant message {i}: {json.dumps(message)[:300]}"
        return None

    return check


def _inline(message: dict[str, Any], i: int) -> str | None:
    if f"<think>{THOUGHTS[i]}</think>" not in (message.get("content") or "") or set(FIELDS) & set(message):
        return f"assistant message {i}: {json.dumps(message)[:300]}"
    return None


@pytest.mark.parametrize(
    ("first", "arrival", "second", "override", "check"),
    [
        # Recorded with thinking inline on vLLM; DeepSeek's profile wants reasoning_content.
        ("vllm", TAGS, "deepseek", None, _in_field("reasoning_content")),
        # Recorded as reasoning_details on OpenRouter; a vLLM server with an append-think parser.
        ("openrouter", "reasoning_details", "vllm", ReasoningDialect.THINK_TAGS, _inline),
        # Recorded as reasoning_content on SGLang; Ollama's profile wants reasoning.
        ("sglang", "reasoning_content", "ollama", None, _in_field("reasoning")),
    ],
)
async def test_history_from_another_backend_goes_back_the_way_the_new_profile_says(
    first: str,
    arrival: str,
    second: str,
    override: ReasoningDialect | None,
    check: Resume,
    server: ScriptedServer,
    workdir: Path,
) -> None:
    session_id = await _record_first_session(server, workdir, first, arrival)
    server.enqueue(Step.json(openai_completion(content="fine")))
    config = Config(profiles={second: ProfileConfig(thinking_dialect=override)}) if override else Config()
    options = _options(server, workdir, second, resume=session_id, config=config)
    async with AgentSession(options) as session:
        assert (await session.run("and now?")).status == "done"
    replayed = [m for m in _posts(server)[-1].json["messages"] if m.get("role") == "assistant"]
    assert len(replayed) == 3
    problems = [problem for i, m in enumerate(replayed) if (problem := check(m, i))]
    assert not problems, problems


async def test_a_signature_inside_a_reasoning_details_item_never_moves_to_another_backend(
    server: ScriptedServer, workdir: Path
) -> None:
    """Rule 4: OpenRouter carries Claude's signature inside the item; on another backend the item's
    text goes back (the profile wants items) but the signature does not."""
    item = {**_item(0), "format": "anthropic-claude-v1", "signature": "sig-openrouter=="}
    server.enqueue(Step.json(openai_completion(content="hi", reasoning_details=[item])))
    async with AgentSession(_options(server, workdir, "openrouter")) as session:
        assert (await session.run("greet")).status == "done"
        session_id = session.session_id
    server.enqueue(Step.json(openai_completion(content="fine")))
    async with AgentSession(_options(server, workdir, "minimax-openai", resume=session_id)) as session:
        assert (await session.run("again")).status == "done"
    (replayed,) = [m for m in _posts(server)[-1].json["messages"] if m.get("role") == "assistant"]
    assert replayed["reasoning_details"] == [{k: v for k, v in item.items() if k != "signature"}]
    assert "sig-openrouter" not in json.dumps(_posts(server)[-1].json)
