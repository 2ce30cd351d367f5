"""The thinking rules the agent loop keeps, as properties over generated sessions (in process).

A scripted model (the ``Model`` protocol, as any backend client) replays generated replies: thinking
in every dialect, signed or not, redacted thinking, text, zero to three tool calls, over several tasks,
with and without a context window small enough to compact. Every request the model is asked must hold:

* rule 2, replay exactly: the request's messages are the tail of what the session recorded, in full,
  and every assistant message is the very reply the model gave (never rebuilt, so no thinking block
  is dropped, merged, reordered or edited, and no signature moves);
* rule 3, no user-role message mid-loop: the only user messages are the tasks;
* rule 5, compaction only before the last user message: the current task is always sent verbatim,
  and whatever was left out is summarised in the system prompt;
* every tool call gets exactly one result, in order.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field

from interleaf.agent.approval import Approver
from interleaf.agent.context import SUMMARY_HEADING, ContextWindow
from interleaf.agent.events import Finished, RecordingObserver
from interleaf.agent.loop import Agent, AgentSettings
from interleaf.agent.seams import reply_of
from interleaf.tools.base import Params, ToolContext, ToolOutcome, Toolset, tool_spec
from interleaf.transcript import (
    Block,
    Conversation,
    Message,
    ReasoningDialect,
    RedactedThinking,
    Response,
    Text,
    Thinking,
    ToolCall,
    ToolSpec,
    Usage,
)
from interleaf.wire.events import StreamEvent, events_from_response

SUMMARY = "Earlier: the user asked for things; they were done."


# ------------------------------------------------------------------------------------ the parts


class EchoParams(Params):
    text: str = Field(description="What to echo.")


class EchoTool:
    """A tool that answers with its argument (the tool seam, as any tool)."""

    name = "echo"
    params = EchoParams
    read_only = True

    @property
    def spec(self) -> ToolSpec:
        return tool_spec(self.name, "Echo the text.", EchoParams)

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        return ToolOutcome(content=f"echo: {arguments['text']}")

    async def aclose(self) -> None:
        pass


class ListRecorder:
    """The Recorder seam, keeping everything in lists."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.notes: list[tuple[str, dict[str, object]]] = []

    def append(self, message: Message) -> None:
        self.messages.append(message)

    def note(self, kind: str, data: dict[str, object]) -> None:
        self.notes.append((kind, data))


class ScriptedModel:
    """Replies from a script, streamed as events; remembers each request and how much the session had
    recorded when it came. A request offering no tools (a compaction summary) gets :data:`SUMMARY`."""

    def __init__(self, recorder: ListRecorder | None = None) -> None:
        self.script: deque[Message | BaseException] = deque()
        self.recorder = recorder
        self.requests: list[tuple[Conversation, int]] = []
        self.summaries: list[Conversation] = []
        self.replies: list[Message] = []

    def say(self, *replies: Message | BaseException) -> None:
        self.script = deque(replies)

    async def stream(self, conversation: Conversation) -> AsyncIterator[StreamEvent]:
        # The task offers tools, natively or as JSON actions (a response_format); a summary offers none.
        task = bool(conversation.tools) or "response_format" in conversation.extra
        if not task:
            self.summaries.append(conversation)
            reply: Message | BaseException = Message(role="assistant", blocks=(Text(text=SUMMARY),))
        else:
            self.requests.append((conversation, len(self.recorder.messages) if self.recorder else -1))
            reply = self.script.popleft()
        if isinstance(reply, BaseException):
            raise reply
        if task:
            self.replies.append(reply)
        response = Response(message=reply, usage=Usage(input_tokens=10, output_tokens=5))
        for event in events_from_response(response):
            await asyncio.sleep(0)
            yield event

    async def complete(self, conversation: Conversation, *, stream: bool = False) -> Response:
        return await reply_of(self.stream(conversation))


def make_agent(
    tmp: Path,
    model: Any,
    *,
    recorder: ListRecorder | None = None,
    window: ContextWindow | None = None,
    observer: RecordingObserver | None = None,
    tools: Toolset | None = None,
) -> Agent:
    context = ToolContext(workdir=tmp, session_dir=tmp / "session")
    return Agent(
        model=model,
        tools=tools or Toolset([EchoTool()]),
        context=context,
        settings=AgentSettings(system="You are a test agent."),
        approver=Approver("auto"),
        observer=observer,
        recorder=recorder,
        window=window,
    )


def assistant(*blocks: Block) -> Message:
    return Message(role="assistant", blocks=blocks)


# ------------------------------------------------------------------------------- generated sessions

_ids = itertools.count()
_short = st.text(max_size=24)
_thinking = st.builds(
    Thinking,
    text=_short,
    signature=st.none() | st.text(min_size=1, max_size=12),
    dialect=st.none() | st.sampled_from(list(ReasoningDialect)),
)
_redacted = st.builds(RedactedThinking, data=st.text(min_size=1, max_size=12))


@st.composite
def replies(draw: st.DrawFn, *, final: bool) -> Message:
    blocks: list[Block] = list(draw(st.lists(_thinking | _redacted, max_size=2)))
    if draw(st.booleans()) or final:
        blocks.append(Text(text=draw(_short)))
    if not final:
        for _ in range(draw(st.integers(1, 3))):
            name = draw(st.sampled_from(["echo", "echo", "nosuchtool"]))
            blocks.append(ToolCall(id=f"call_{next(_ids)}", name=name, arguments={"text": draw(_short)}))
        blocks += draw(st.lists(_thinking, max_size=1))  # thinking after the calls stays where it is
    return assistant(*blocks)


@st.composite
def tasks(draw: st.DrawFn) -> list[list[Message]]:
    count = draw(st.integers(1, 3))
    return [
        [*draw(st.lists(replies(final=False), max_size=3)), draw(replies(final=True))] for _ in range(count)
    ]


def check_session(model: ScriptedModel, recorder: ListRecorder, task_texts: list[str]) -> None:
    record = recorder.messages
    for conversation, recorded in model.requests:
        sent = conversation.messages
        start = recorded - len(sent)
        # Rule 2: the request is the recorded session's tail, every message in full and unchanged.
        assert start >= 0
        assert list(sent) == record[start:recorded]
        # Rule 5: the current task (from its user message on) is all there, verbatim.
        last_user = max(i for i, m in enumerate(record[:recorded]) if m.role == "user")
        assert start <= last_user
        assert conversation.last_user_index == last_user - start
        system = "".join(block.text for block in conversation.system or ())
        if start > 0:
            assert f"{SUMMARY_HEADING}\n{SUMMARY}" in system
    # Rule 3: the tasks are the only user messages.
    assert [m.text for m in record if m.role == "user"] == task_texts
    # Replies are recorded as the model gave them: the very objects, never rebuilt.
    recorded_replies = [m for m in record if m.role == "assistant"]
    assert len(recorded_replies) == len(model.replies)
    assert all(a is b for a, b in zip(recorded_replies, model.replies, strict=True))
    # Every call gets exactly one result, in call order, right after the message that made it.
    for i, message in enumerate(record):
        if message.role == "assistant" and message.tool_calls:
            answer = record[i + 1]
            assert answer.role == "tool"
            assert [r.call_id for r in answer.tool_results] == [c.id for c in message.tool_calls]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=tasks(), limit=st.none() | st.integers(40, 600))
def test_every_request_replays_the_task_exactly_and_adds_no_user_message(
    script: list[list[Message]], limit: int | None, tmp_path: Path
) -> None:
    recorder = ListRecorder()
    model = ScriptedModel(recorder)
    window = None if limit is None else ContextWindow(limit=limit, reserve=0, threshold=1.0)
    agent = make_agent(tmp_path, model, recorder=recorder, window=window)

    async def session() -> list[Finished]:
        finished = []
        for number, replies_of_task in enumerate(script):
            model.say(*replies_of_task)
            finished.append(await agent.run(f"task {number}"))
        return finished

    results = asyncio.run(session())
    assert all(f.status in ("done", "loop_detected", "context_full") for f in results), results
    check_session(model, recorder, [f"task {n}" for n in range(len(script))])
    # A compaction is recorded for the store to rebuild the live context from, and only then.
    compactions = [data for kind, data in recorder.notes if kind == "compaction"]
    assert len(compactions) == len(model.summaries)
    assert sum(int(str(c["dropped"])) for c in compactions) == (
        model.requests[-1][1] - len(model.requests[-1][0].messages) if model.requests else 0
    )
