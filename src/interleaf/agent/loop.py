"""think -> act -> reflect: the agent loop.

``run`` repeats ``step`` (query the model, run its tool calls) until the model answers without tool
calls, a budget ends, or the user interrupts. Everything interleaved thinking needs is enforced here:

* Every request carries every earlier assistant message of the task exactly as it arrived (the
  message objects are appended as received and never rebuilt).
* Nothing but the task itself is ever sent as a user message: observations, errors and refusals are
  tool results; verification is a tool (``finish``); compaction goes into the system prompt.
* Every tool call gets a result, even when it was refused, interrupted or never run, so the transcript
  stays valid for any backend and can be resumed.
* A call is recorded as started before its tool runs and as finished (with its result) after, so a
  resume after a crash can say honestly whether it may have run (``agent.session`` answers it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from interleaf.agent.actions import final_allowed, final_answer, response_format, with_reminder
from interleaf.agent.actions import instructions as action_instructions
from interleaf.agent.approval import Approver, describe_call, tool_needs_approval
from interleaf.agent.budget import Budget, Meter, Prices
from interleaf.agent.context import ContextWindow
from interleaf.agent.events import (
    BlockDone,
    Failed,
    Finished,
    Notice,
    NullObserver,
    Observer,
    PlanUpdated,
    Status,
    StepStarted,
    ToolCalled,
    ToolReturned,
    UsageReported,
)
from interleaf.tools.base import ToolContext, ToolOutcome, Toolset
from interleaf.transcript import (
    Conversation,
    Message,
    RedactedThinking,
    Response,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
)
from interleaf.wire.events import BlockEnd, MessageEnd, StreamEvent, events_from_response

ToolProtocol = Literal["native", "text", "json"]
FINISH_TOOL = "finish"
PLAN_TOOL = "plan"


class Model(Protocol):
    """Anything that answers a conversation, streamed or whole (``backends.client.ModelClient`` does)."""

    def stream(self, conversation: Conversation) -> AsyncIterator[StreamEvent]: ...

    async def complete(self, conversation: Conversation, *, stream: bool = False) -> Response: ...


class Recorder(Protocol):
    """Where the session is kept (``store.sessions``). Called as things happen, so a crash loses little."""

    def append(self, message: Message) -> None: ...

    def note(self, kind: str, data: dict[str, object]) -> None: ...


class ModelFailure(Exception):
    """The model server failed in a way retries did not fix; the message says what to check."""


@dataclass
class AgentSettings:
    system: str
    budget: Budget = field(default_factory=Budget)
    prices: Prices | None = None
    tool_protocol: ToolProtocol = "native"
    """How calls travel: ``native`` tool calls; ``text`` (calls read out of the reply text, for servers
    without a tool parser); ``json`` (one JSON action per reply, grammar-constrained: small local models)."""
    params: dict[str, object] = field(default_factory=dict)
    """Generation settings sent with every request (model, temperature, reasoning_effort, ...)."""
    wire_extra: dict[str, object] = field(default_factory=dict)
    """Request fields of one wire format with no portable name (``response_format``, OpenRouter's
    ``reasoning``); sent only to that format, ``wire_format``."""
    wire_format: str | None = None
    stream: bool = True
    """Stream replies (live thinking and text); ``False`` asks for whole responses."""


class Agent:
    """One agent session: a model, a toolset, a workdir and the messages so far."""

    def __init__(
        self,
        *,
        model: Model,
        tools: Toolset,
        context: ToolContext,
        settings: AgentSettings,
        approver: Approver,
        observer: Observer | None = None,
        recorder: Recorder | None = None,
        history: Sequence[Message] = (),
        window: ContextWindow | None = None,
    ) -> None:
        self.model = model
        self.tools = tools
        self.context = context
        self.settings = settings
        self.approver = approver
        self.observer: Observer = observer or NullObserver()
        self.recorder = recorder
        self.messages: list[Message] = list(history)
        self.window = window
        self.system = settings.system
        self._meter = Meter(settings.budget, settings.prices)
        self._parse_errors: dict[str, str] = {}

    # ------------------------------------------------------------------------------------ the loop

    async def run(self, task: str) -> Finished:
        """Work on ``task`` (a new user message) until done, out of budget, or interrupted."""
        self._meter = Meter(self.settings.budget, self.settings.prices)
        self._close_dangling_calls(
            "the session was interrupted around this call, so it may or may not have run; check its "
            "effects before running it again"
        )
        self._append(Message(role="user", blocks=(Text(text=task),), plain=True))
        try:
            while True:
                spent = self._meter.exhausted()
                if spent is not None:
                    return self._finish(spent[0], message=spent[1])
                finished = await self.step()
                if finished is not None:
                    return finished
        except asyncio.CancelledError:
            self._close_dangling_calls("interrupted by the user before this call finished")
            self._finish("interrupted", message="interrupted; `interleaf run --resume` continues the session")
            raise

    async def step(self) -> Finished | None:
        """One model reply and its tool calls. Returns a Finished event when the run should end."""
        self._meter.steps += 1
        self._emit(StepStarted(self._meter.steps))
        if self.window is not None:
            outcome = await self.window.fit(self)
            if outcome is not None:
                return self._finish("context_full", message=outcome)
        try:
            response = await self._query()
        except ModelFailure as exc:
            self._emit(Failed(str(exc)))
            return self._finish("model_error", message=str(exc))
        message = response.message
        if self.settings.tool_protocol != "native":
            message = self._read_text_calls(message)
        self._append(message)
        calls = message.tool_calls
        if not calls:
            answer = message.text
            if self.settings.tool_protocol == "json":
                answer = final_answer(answer) or answer
            return self._finish("done", answer=answer)
        if self._meter.repeated(calls):
            self._answer_unrun(calls, "not run: the same call was made several steps in a row")
            names = ", ".join(sorted({c.name for c in calls}))
            limit = self.settings.budget.repeat_limit
            return self._finish(
                "loop_detected",
                message=f"stopped: the model repeated the same {names} call {limit} times in a row",
            )
        results = await self._run_calls(calls)
        self._append(Message(role="tool", blocks=tuple(results)))
        for call, result in zip(calls, results, strict=True):
            if call.name == FINISH_TOOL and not result.is_error:
                return self._finish("done", answer=str(call.arguments.get("answer", "")) or message.text)
        return None

    # ---------------------------------------------------------------------------------- the model

    def conversation(self) -> Conversation:
        """The request for the next step: system, every message of the task as recorded, the tools."""
        extra = dict(self.settings.wire_extra)
        source = self.settings.wire_format
        system, tools = self.system, self.tools.specs
        if self.settings.tool_protocol == "json":
            system += "\n" + action_instructions(tools)
            task = self.messages[Conversation(messages=tuple(self.messages)).last_user_index :]
            calls = [call.name for message in task for call in message.tool_calls]
            extra["response_format"] = response_format(tools, allow_final=final_allowed(calls))
            source, tools = "openai-chat", ()
        return Conversation(
            messages=tuple(self.messages),
            system=(Text(text=system),),
            system_plain=True,
            tools=tools,
            params=dict(self.settings.params),
            extra=extra,
            source=source,
        )

    async def _query(self) -> Response:
        from interleaf.backends.errors import BackendError

        response: Response | None = None
        try:
            if self.settings.stream:
                events: AsyncIterator[StreamEvent] = self.model.stream(self.conversation())
            else:
                events = _replay(await self.model.complete(self.conversation()))
            async for event in events:
                self.observer.model_event(event)
                if isinstance(event, BlockEnd) and isinstance(
                    event.block, Thinking | RedactedThinking | Text
                ):
                    if not (isinstance(event.block, Text) and self.settings.tool_protocol == "json"):
                        self._emit(BlockDone(event.block))  # JSON actions show as calls and the answer
                elif isinstance(event, MessageEnd):
                    response = event.response
        except BackendError as exc:
            raise ModelFailure(str(exc)) from exc
        if response is None:
            raise ModelFailure("the model stream ended without a complete reply")
        self._meter.add_usage(response.usage)
        if self.window is not None:
            self.window.observe(response.usage, len(self.messages))
        self._emit(UsageReported(response.usage, self._meter.usage, self._meter.cost))
        return response

    def _read_text_calls(self, message: Message) -> Message:
        """Turn calls the model wrote as text into ToolCall blocks; thinking blocks are not touched.

        A call that could be named but not read (unknown tool, broken JSON) still becomes a ToolCall, and
        its parse error is what the model gets back as that call's result.
        """
        from interleaf.wire.textcalls import apply_text_tool_calls

        rewritten, errors = apply_text_tool_calls(message, self.tools.specs)
        for error in errors:
            if error.call_id is not None:
                self._parse_errors[error.call_id] = error.message
            else:
                self.notice(f"the reply holds a tool call that could not be read: {error.message}")
        if not self._parse_errors:
            return rewritten
        # These calls exist only because interleaf read them out of text: their unreadable argument text
        # stays in the error result, and the structured call carries none, so servers that parse the
        # replayed history (llama.cpp does) are not handed invalid JSON.
        blocks = [
            replace(b, raw_arguments=None) if isinstance(b, ToolCall) and b.id in self._parse_errors else b
            for b in rewritten.blocks
        ]
        return rewritten.with_blocks(blocks)

    # ---------------------------------------------------------------------------------- the tools

    async def _run_calls(self, calls: tuple[ToolCall, ...]) -> list[ToolResult]:
        """Approve calls one by one (a prompt is sequential), then run the approved ones concurrently."""
        approved: list[ToolCall] = []
        refusals: dict[str, str] = {}
        for call in calls:
            tool = self.tools.get(call.name)
            if call.arguments_error is not None or tool is None or call.id in self._parse_errors:
                approved.append(call)  # the toolset answers these with a clear error
                self._emit(ToolCalled(call))
                continue
            decision = await self.approver.decide(
                call,
                read_only=tool.read_only,
                summary=describe_call(call),
                needs_approval=tool_needs_approval(tool, dict(call.arguments)),
            )
            self._emit(ToolCalled(call, decision.allowed, decision.note))
            if decision.allowed:
                approved.append(call)
            else:
                refusals[call.id] = f"not run: {decision.note}"
        outcomes = await asyncio.gather(*(self._run_one(c) for c in approved))
        by_id = {result.call_id: result for result in outcomes}
        results: list[ToolResult] = []
        for call in calls:
            if call.id in refusals:
                result = ToolResult(call_id=call.id, content=refusals[call.id], is_error=True, name=call.name)
                self._emit(ToolReturned(call, result, "refused", 0.0))
            else:
                result = by_id[call.id]
            results.append(result)
        return results

    async def _run_one(self, call: ToolCall) -> ToolResult:
        started = time.monotonic()
        parse_error = self._parse_errors.pop(call.id, None)
        if parse_error is not None:
            outcome = ToolOutcome.error(parse_error, brief="unreadable tool call")
        elif call.arguments_error is not None:
            outcome = ToolOutcome.error(
                f"{call.arguments_error}; call {call.name} again with a valid JSON object as arguments",
                brief="invalid arguments",
            )
        else:
            self._record_call("call_started", call)
            outcome = await self.tools.call(call.name, dict(call.arguments), self.context)
        result = ToolResult(
            call_id=call.id,
            content=outcome.content,
            is_error=True if outcome.is_error else None,
            name=call.name,
        )
        if call.name == PLAN_TOOL and not outcome.is_error:
            items = call.arguments.get("items", [])
            self._emit(PlanUpdated(tuple(dict(i) for i in items if isinstance(i, dict))))
        self._emit(ToolReturned(call, result, outcome.brief, time.monotonic() - started))
        if self.settings.tool_protocol == "json" and isinstance(outcome.content, str):
            result = replace(result, content=with_reminder(outcome.content))  # for the model, not the user
        if parse_error is None and call.arguments_error is None:
            self._record_call("call_finished", call, result)
        return result

    def _record_call(self, kind: str, call: ToolCall, result: ToolResult | None = None) -> None:
        """Note that ``call`` is about to run, or has run (with its result), before anything else
        happens: a crash between this note and the tool message leaves the resume an honest answer."""
        if self.recorder is None:
            return
        data: dict[str, object] = {"call_id": call.id, "tool": call.name, "at": time.time()}
        if result is not None:
            data.update(is_error=bool(result.is_error), content=result.text)
        self.recorder.note(kind, data)

    def _answer_unrun(self, calls: tuple[ToolCall, ...], why: str) -> None:
        results = [ToolResult(call_id=c.id, content=why, is_error=True, name=c.name) for c in calls]
        self._append(Message(role="tool", blocks=tuple(results)))

    def _close_dangling_calls(self, why: str) -> None:
        """If the last message is an assistant's tool calls without results, answer them (every call gets one)."""
        if not self.messages or self.messages[-1].role != "assistant":
            return
        calls = self.messages[-1].tool_calls
        if calls:
            self._answer_unrun(calls, why)

    # ------------------------------------------------------------------------------------ helpers

    def _append(self, message: Message) -> None:
        self.messages.append(message)
        if self.recorder is not None:
            self.recorder.append(message)

    def replace_history(self, start: int, system: str) -> None:
        """Compaction: drop messages before ``start`` from the live context and use ``system``.

        The session store keeps the full history; only what is sent changes. ``start`` must be the index
        of a user message, so the current loop stays verbatim.
        """
        self.messages = self.messages[start:]
        self.system = system

    def _emit(self, event: object) -> None:
        self.observer.agent_event(event)  # type: ignore[arg-type]

    def _finish(self, status: Status, *, answer: str = "", message: str = "") -> Finished:
        event = Finished(
            status,
            answer,
            message,
            steps=self._meter.steps,
            usage=self._meter.usage,
            seconds=self._meter.seconds,
            cost=self._meter.cost,
        )
        if self.recorder is not None:
            self.recorder.note("finished", {"status": status, "message": message, "steps": self._meter.steps})
        self._emit(event)
        return event

    def notice(self, message: str) -> None:
        self._emit(Notice(message))


async def _replay(response: Response) -> AsyncIterator[StreamEvent]:
    """A whole response as the events a stream of it would carry (observers see one shape)."""
    for event in events_from_response(response):
        yield event


__all__ = ["FINISH_TOOL", "PLAN_TOOL", "Agent", "AgentSettings", "Model", "ModelFailure", "Recorder"]
