"""The agent core in process: tool protocols as model wrappers, and the ways a run ends.

The loop sees native tool calls only; the JSON action and text-call protocols wrap the model, and
everything that ends a step early (an unreadable reply, a final answer, a failing server, Ctrl-C, a
context that cannot fit) is one mechanism whose messages are tool results or the reply itself.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from interleaf.agent.actions import REMINDER, JsonActions
from interleaf.agent.context import ContextWindow
from interleaf.agent.events import Failed, Finished, Notice, RecordingObserver, ToolCalled
from interleaf.agent.protocols import NOT_RUN, TextCalls
from interleaf.agent.seams import WholeReplies
from interleaf.backends.errors import BackendConnectionError
from interleaf.tools.base import Params, ToolContext, ToolOutcome, Toolset, tool_spec
from interleaf.transcript import ReasoningDialect, Text, Thinking, ToolCall, ToolSpec
from tests.unit.test_agent_rules import EchoTool, ListRecorder, ScriptedModel, assistant, make_agent

THOUGHT = Thinking(text="Plan the next call.", signature="sig-1", dialect=ReasoningDialect.ANTHROPIC)


def said(text: str) -> Any:
    return assistant(Thinking(text="Think.", dialect=ReasoningDialect.REASONING_CONTENT), Text(text=text))


async def test_an_unreadable_json_action_is_answered_and_the_run_goes_on(tmp_path: Path) -> None:
    recorder = ListRecorder()
    model = ScriptedModel(recorder)
    observer = RecordingObserver()
    wrapped = JsonActions(model, notice=lambda m: observer.agent_event(Notice(m)))
    agent = make_agent(tmp_path, wrapped, recorder=recorder, observer=observer)
    model.say(
        said('{"tool": "echo", "text": "unterminated'),
        said('{"tool": "echo", "text": "hi"}'),
        said('{"final_answer": "echoed hi"}'),
    )
    finished = await agent.run("echo hi")

    assert (finished.status, finished.answer) == ("done", "echoed hi")
    assert finished.usage.input_tokens == 30  # the unreadable reply's usage counts too
    roles = [m.role for m in recorder.messages]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    broken, answer = recorder.messages[1], recorder.messages[2]
    assert broken.thinking == model.replies[0].thinking  # the reply's thinking is kept as it came
    (call,) = broken.tool_calls
    assert call.raw_arguments is None  # no invalid JSON goes back to the server
    assert answer.tool_results[0].is_error
    assert "invalid JSON arguments" in answer.tool_results[0].text
    assert recorder.messages[4].tool_results[0].text == "echo: hi"  # recorded as the tool returned it
    # The final reply is recorded as written (the loop replays it exactly); the answer is read out of it.
    assert recorder.messages[5].text == '{"final_answer": "echoed hi"}'
    assert any("could not be read" in e.message for e in observer.agent_events if isinstance(e, Notice))
    # What the server was asked: no native tools, the grammar, the protocol in the system prompt, and
    # the reminder on every tool result; never a user message after the task.
    last, _ = model.requests[-1]
    assert last.tools == () and last.source == "openai-chat"
    assert last.extra["response_format"]["type"] == "json_schema"
    assert '{"tool": "echo", "text": ...}' in "".join(t.text for t in last.system or ())
    results = [r for m in last.messages for r in m.tool_results]
    assert len(results) == 2 and all(r.text.endswith(REMINDER) for r in results)
    assert [m.role for m in last.messages].count("user") == 1


async def test_a_final_answer_is_only_offered_after_a_call(tmp_path: Path) -> None:
    model = ScriptedModel()
    agent = make_agent(tmp_path, JsonActions(model))
    model.say(said('{"tool": "echo", "text": "a"}'), said('{"final_answer": "done"}'))
    await agent.run("go")
    schemas = [c.extra["response_format"]["json_schema"]["schema"]["oneOf"] for c, _ in model.requests]
    finals = [any("final_answer" in v["properties"] for v in variants) for variants in schemas]
    assert finals == [False, True]


async def test_text_calls_with_one_unreadable_call_run_none_and_answer_both(tmp_path: Path) -> None:
    recorder = ListRecorder()
    model = ScriptedModel(recorder)
    agent = make_agent(tmp_path, TextCalls(model), recorder=recorder)
    good = '<tool_call>{"name": "echo", "arguments": {"text": "a"}}</tool_call>'
    bad = '<tool_call>{"name": "echo", "arguments": {"text": </tool_call>'
    model.say(assistant(THOUGHT, Text(text=good + bad)), said("ok"))
    finished = await agent.run("echo twice")

    assert finished.status == "done"
    reply, answers = recorder.messages[1], recorder.messages[2]
    assert reply.blocks[0] is THOUGHT
    assert [c.name for c in reply.tool_calls] == ["echo", "echo"]
    texts = [r.text for r in answers.tool_results]
    assert texts[0] == NOT_RUN
    assert "invalid JSON arguments" in texts[1]
    assert model.requests[0][0].tools  # text calls still offer the tools natively


async def test_a_failing_model_server_ends_the_run_with_model_error(tmp_path: Path) -> None:
    model = ScriptedModel()
    observer = RecordingObserver()
    agent = make_agent(tmp_path, model, observer=observer)
    model.say(BackendConnectionError("http://127.0.0.1:9/v1", "connection refused"))
    finished = await agent.run("anything")
    assert finished.status == "model_error"
    assert "connection refused" in finished.message
    assert [type(e) for e in observer.agent_events[-2:]] == [Failed, Finished]


async def test_whole_replies_are_played_back_as_streams(tmp_path: Path) -> None:
    model = ScriptedModel()
    observer = RecordingObserver()
    agent = make_agent(tmp_path, WholeReplies(model), observer=observer)
    model.say(assistant(THOUGHT, ToolCall(id="c1", name="echo", arguments={"text": "x"})), said("done"))
    finished = await agent.run("go")
    assert finished.status == "done"
    assert any(isinstance(e, ToolCalled) for e in observer.agent_events)
    assert len(observer.model_events) > 0


class SleepParams(Params):
    seconds: float = Field(description="How long.")


class SleepTool:
    name = "sleep"
    params = SleepParams
    read_only = True
    started = asyncio.Event()

    @property
    def spec(self) -> ToolSpec:
        return tool_spec(self.name, "Sleep.", SleepParams)

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        self.started.set()
        await asyncio.sleep(arguments["seconds"])
        return ToolOutcome(content="slept")

    async def aclose(self) -> None:
        pass


async def test_ctrl_c_answers_the_running_call_and_the_session_resumes(tmp_path: Path) -> None:
    recorder = ListRecorder()
    model = ScriptedModel(recorder)
    observer = RecordingObserver()
    tools = Toolset([EchoTool(), SleepTool()])
    agent = make_agent(tmp_path, model, recorder=recorder, observer=observer, tools=tools)
    SleepTool.started = asyncio.Event()
    model.say(assistant(THOUGHT, ToolCall(id="c1", name="sleep", arguments={"seconds": 30})))
    run = asyncio.create_task(agent.run("sleep"))
    await asyncio.wait_for(SleepTool.started.wait(), 10)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run

    assert [m.role for m in recorder.messages] == ["user", "assistant", "tool"]
    assert "interrupted by the user" in recorder.messages[2].tool_results[0].text
    finished = observer.agent_events[-1]
    assert isinstance(finished, Finished) and finished.status == "interrupted"
    assert ("finished", {"status": "interrupted", "message": finished.message, "steps": 1}) in recorder.notes
    # The next task continues the session: the interrupted call already has its answer.
    model.say(said("fine"))
    assert (await agent.run("again")).status == "done"
    sent, _ = model.requests[-1]
    assert [m.role for m in sent.messages] == ["user", "assistant", "tool", "user"]


async def test_a_task_that_alone_exceeds_the_window_ends_with_context_full(tmp_path: Path) -> None:
    model = ScriptedModel()
    agent = make_agent(tmp_path, model, window=ContextWindow(limit=60, reserve=0, threshold=1.0))
    finished = await agent.run("x" * 1000)
    assert finished.status == "context_full"
    assert "start a new session" in finished.message
    assert model.requests == [] and model.summaries == []


async def test_the_same_call_again_and_again_is_answered_and_stops_the_run(tmp_path: Path) -> None:
    recorder = ListRecorder()
    model = ScriptedModel(recorder)
    agent = make_agent(tmp_path, model, recorder=recorder)
    model.say(*(assistant(ToolCall(id=f"c{i}", name="echo", arguments={"text": "same"})) for i in range(3)))
    finished = await agent.run("loop")
    assert finished.status == "loop_detected"
    last = recorder.messages[-1]
    assert last.role == "tool" and last.tool_results[0].text.startswith("not run:")
    assert json.dumps([m.role for m in recorder.messages]).count("tool") == 3
