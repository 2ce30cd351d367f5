"""Running one reply's tool calls: approval, the tools themselves, and what is recorded around them.

Every call gets a result, in call order: a refused call gets why (as an error the model reads), a call
with unreadable arguments gets what to fix, the rest get what their tool returned. Approval asks one
call at a time (a prompt is sequential); the approved calls then run concurrently. A call is recorded
as started before its tool runs and as finished (with its result) after, so a resume after a crash
can say honestly whether it may have run (``agent.session`` answers it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from interleaf.agent.approval import Approver, describe_call, tool_needs_approval
from interleaf.agent.events import AgentEvent, PlanUpdated, ToolCalled, ToolReturned
from interleaf.agent.seams import Recorder
from interleaf.tools.base import ToolContext, ToolOutcome, Toolset
from interleaf.transcript import ToolCall, ToolResult

PLAN_TOOL = "plan"


@dataclass
class CallRunner:
    """Answers tool calls with ``tools`` in ``context``, as ``approver`` allows."""

    tools: Toolset
    context: ToolContext
    approver: Approver
    emit: Callable[[AgentEvent], None]
    recorder: Recorder | None = None

    async def run(self, calls: tuple[ToolCall, ...]) -> list[ToolResult]:
        """The results of ``calls``, one each, in order."""
        approved: list[ToolCall] = []
        refusals: dict[str, str] = {}
        for call in calls:
            tool = self.tools.get(call.name)
            if call.arguments_error is not None or tool is None:
                approved.append(call)  # nothing can run: the answer is an error saying what to fix
                self.emit(ToolCalled(call))
                continue
            decision = await self.approver.decide(
                call,
                read_only=tool.read_only,
                summary=describe_call(call),
                needs_approval=tool_needs_approval(tool, dict(call.arguments)),
            )
            self.emit(ToolCalled(call, decision.allowed, decision.note))
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
                self.emit(ToolReturned(call, result, "refused", 0.0))
            else:
                result = by_id[call.id]
            results.append(result)
        return results

    async def _run_one(self, call: ToolCall) -> ToolResult:
        started = time.monotonic()
        if call.arguments_error is not None:
            outcome = ToolOutcome.error(
                f"{call.arguments_error}; call {call.name} again with a valid JSON object as arguments",
                brief="invalid arguments",
            )
        else:
            self._record("call_started", call)
            outcome = await self.tools.call(call.name, dict(call.arguments), self.context)
        result = ToolResult(
            call_id=call.id,
            content=outcome.content,
            is_error=True if outcome.is_error else None,
            name=call.name,
        )
        if call.name == PLAN_TOOL and not outcome.is_error:
            items = call.arguments.get("items", [])
            self.emit(PlanUpdated(tuple(dict(i) for i in items if isinstance(i, dict))))
        self.emit(ToolReturned(call, result, outcome.brief, time.monotonic() - started))
        if call.arguments_error is None:
            self._record("call_finished", call, result)
        return result

    def _record(self, kind: str, call: ToolCall, result: ToolResult | None = None) -> None:
        """Note that ``call`` is about to run, or has run (with its result), before anything else
        happens: a crash between this note and the tool message leaves the resume an honest answer."""
        if self.recorder is None:
            return
        data: dict[str, object] = {"call_id": call.id, "tool": call.name, "at": time.time()}
        if result is not None:
            data.update(is_error=bool(result.is_error), content=result.text)
        self.recorder.note(kind, data)
