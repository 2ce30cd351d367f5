"""think -> act -> reflect: the agent loop.

``run`` repeats ``step`` (``execute(query())``) until something ends it. What interleaved thinking
needs follows from the shape of the loop rather than from checks in it:

* Replies are appended as received and never rebuilt, so every request carries every earlier assistant
  message of the task exactly as it arrived.
* Nothing but the task is ever a user message: observations, errors and refusals are tool results;
  verification is a tool (``finish``); compaction writes into the system prompt.
* Every tool call gets a result, even when it was refused, interrupted or never run.

The loop sees native tool calls only. How calls travel (:mod:`~interleaf.agent.actions`,
:mod:`~interleaf.agent.protocols`), whole replies instead of streams (:mod:`~interleaf.agent.seams`) and
compaction (:mod:`~interleaf.agent.context`) wrap the model. Whatever ends a step early raises an
exception carrying the messages that answer it (:mod:`~interleaf.agent.flow`), handled in ``run`` alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from interleaf.agent import flow
from interleaf.agent.approval import Approver
from interleaf.agent.budget import Budget, Meter, Prices
from interleaf.agent.calls import PLAN_TOOL, CallRunner
from interleaf.agent.context import ContextWindow
from interleaf.agent.events import (
    AgentEvent,
    BlockDone,
    Failed,
    Finished,
    Notice,
    NullObserver,
    Observer,
    StepStarted,
    UsageReported,
)
from interleaf.agent.flow import ModelFailure
from interleaf.agent.seams import Model, Recorder
from interleaf.backends.errors import BackendError
from interleaf.tools.base import ToolContext, Toolset
from interleaf.transcript import Conversation, Message, RedactedThinking, Text, Thinking
from interleaf.wire.events import BlockEnd, MessageEnd

FINISH_TOOL = "finish"
_SHOWN = (Thinking, RedactedThinking, Text)


@dataclass
class AgentSettings:
    system: str
    budget: Budget = field(default_factory=Budget)
    prices: Prices | None = None
    params: dict[str, object] = field(default_factory=dict)
    """Generation settings sent with every request (model, temperature, reasoning_effort, ...)."""
    wire_extra: dict[str, object] = field(default_factory=dict)
    """Request fields of one wire format with no portable name (OpenRouter's ``reasoning``); sent
    only to that format, ``wire_format``, the format the backend speaks and the messages came from."""
    wire_format: str | None = None


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
        self.model, self.tools, self.context, self.approver = model, tools, context, approver
        self.settings = settings
        self.observer: Observer = observer or NullObserver()
        self.recorder = recorder
        self.messages: list[Message] = list(history)
        self.window = window
        self.system = settings.system
        self._meter = Meter(settings.budget, settings.prices)

    async def run(self, task: str) -> Finished:
        """Work on ``task`` (a new user message) until done, out of budget, or interrupted."""
        self._meter = Meter(self.settings.budget, self.settings.prices)
        self._append(*flow.unanswered(self.messages, flow.CUT_OFF))
        self._append(Message(role="user", blocks=(Text(text=task),), plain=True))
        try:
            while True:
                try:
                    await self.step()
                except flow.FlowInterrupt as interrupt:
                    if (finished := self._handle(interrupt)) is not None:
                        return finished
        except asyncio.CancelledError:
            self._handle(flow.Interrupted(*flow.unanswered(self.messages, flow.STOPPED)))
            raise

    async def step(self) -> None:
        """One reply and its tool calls; what ends the step early is raised (see ``agent.flow``)."""
        self._meter.check()
        self._meter.steps += 1
        self._emit(StepStarted(self._meter.steps))
        message = await self.query()
        self._append(message)
        await self.execute(message)

    async def query(self) -> Message:
        """The model's reply to the task so far, streamed past the observer."""
        model = self.model
        if self.window is not None:
            model = self.window.around(model, recorder=self.recorder, notice=self.notice)
        reply: Message | None = None
        try:
            async for event in model.stream(self.conversation()):
                self.observer.model_event(event)
                if isinstance(event, BlockEnd) and isinstance(event.block, _SHOWN):
                    self._emit(BlockDone(event.block))
                elif isinstance(event, MessageEnd):
                    reply = event.response.message
                    self._meter.add_usage(event.response.usage)
                    self._emit(UsageReported(event.response.usage, self._meter.usage, self._meter.cost))
        except BackendError as exc:
            raise flow.ModelFailure(str(exc)) from exc
        if reply is None:
            raise flow.ModelFailure("the model stream ended without a complete reply")
        return reply

    async def execute(self, message: Message) -> None:
        """Run the reply's tool calls; a reply without calls, or a successful ``finish``, ends the run."""
        calls = message.tool_calls
        if not calls:
            raise flow.Submitted(message.text)
        if self._meter.repeated(calls):
            names, limit = ", ".join(sorted({c.name for c in calls})), self.settings.budget.repeat_limit
            raise flow.LoopDetected(
                flow.answered(calls, "not run: the same call was made several steps in a row"),
                reason=f"stopped: the model repeated the same {names} call {limit} times in a row",
            )
        runner = CallRunner(self.tools, self.context, self.approver, self._emit, self.recorder)
        results = await runner.run(calls)
        self._append(Message(role="tool", blocks=tuple(results)))
        for call, result in zip(calls, results, strict=True):
            if call.name == FINISH_TOOL and not result.is_error:
                raise flow.Submitted(str(call.arguments.get("answer", "")) or message.text)

    def conversation(self) -> Conversation:
        """The request for the next step: system, every message of the task as recorded, the tools."""
        return Conversation(
            messages=tuple(self.messages),
            system=(Text(text=self.system),),
            system_plain=True,
            tools=self.tools.specs,
            params=dict(self.settings.params),
            extra=dict(self.settings.wire_extra),
            source=self.settings.wire_format,
        )

    def notice(self, message: str) -> None:
        self._emit(Notice(message))

    def _handle(self, interrupt: flow.FlowInterrupt) -> Finished | None:
        """Append what answers the interrupted step; an ``Exit`` also ends the run."""
        self._append(*interrupt.messages)
        if not isinstance(interrupt, flow.Exit):
            return None
        if interrupt.status == "model_error":
            self._emit(Failed(interrupt.reason))
        finished = self._meter.finished(interrupt.status, interrupt.answer, interrupt.reason)
        if self.recorder is not None:
            self.recorder.note(
                "finished", {"status": finished.status, "message": finished.message, "steps": finished.steps}
            )
        self._emit(finished)
        return finished

    def _append(self, *messages: Message) -> None:
        for message in messages:
            self.messages.append(message)
            if self.recorder is not None:
                self.recorder.append(message)

    def _emit(self, event: AgentEvent) -> None:
        self.observer.agent_event(event)


__all__ = ["FINISH_TOOL", "PLAN_TOOL", "Agent", "AgentSettings", "Model", "ModelFailure", "Recorder"]
