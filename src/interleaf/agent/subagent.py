"""``subagent``: hand a self-contained piece of work to a child loop with its own context (pro mode).

The child shares the model (as the parent speaks to it: the same tool protocol), the workdir and the
approval policy, but has a fresh message history and toolset, so its exploration does not fill the
parent's context. Its final answer comes back as the tool result; its whole transcript is kept in the
session as a ``subagent`` note.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pydantic import Field

from interleaf.agent.events import AgentEvent, Notice, Observer, PlanUpdated, ToolCalled, ToolReturned
from interleaf.tools.base import Params, ToolContext, ToolOutcome, Toolset, tool_spec
from interleaf.transcript import ToolSpec, message_to_json
from interleaf.wire.events import StreamEvent

if TYPE_CHECKING:
    from interleaf.agent.loop import Agent

_DESCRIPTION = (
    "Delegate a self-contained sub-task (research, a focused change, a check) to a helper agent with "
    "its own fresh context. Describe the task completely: the helper cannot see this conversation. "
    "Returns the helper's final answer."
)


class SubagentParams(Params):
    task: str = Field(
        description="Everything the helper needs to know to do the work and what to report back."
    )


class _Forward:
    """Shows the child's tool activity to the user through the parent's observer."""

    def __init__(self, parent: Observer) -> None:
        self.parent = parent

    def model_event(self, event: StreamEvent) -> None:
        pass

    def agent_event(self, event: AgentEvent) -> None:
        if isinstance(event, ToolCalled | ToolReturned | Notice | PlanUpdated):
            self.parent.agent_event(event)


class SubagentTool:
    name = "subagent"
    params = SubagentParams
    read_only = True  # the child's own calls go through approval one by one

    def __init__(
        self, parent: Callable[[], Agent], make_tools: Callable[[], Toolset], *, max_steps: int = 30
    ) -> None:
        self._parent = parent
        self._make_tools = make_tools
        self.max_steps = max_steps

    @property
    def spec(self) -> ToolSpec:
        return tool_spec(self.name, _DESCRIPTION, SubagentParams)

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        from interleaf.agent.loop import Agent, AgentSettings

        parent = self._parent()
        tools = self._make_tools()
        settings = AgentSettings(
            system=parent.settings.system,
            budget=replace(parent.settings.budget, max_steps=self.max_steps),
            prices=parent.settings.prices,
            params=dict(parent.settings.params),
            wire_extra=dict(parent.settings.wire_extra),
            wire_format=parent.settings.wire_format,
        )
        child = Agent(
            model=parent.model,
            tools=tools,
            context=ctx,
            settings=settings,
            approver=parent.approver,
            observer=_Forward(parent.observer),
        )
        parent.notice(f"subagent started: {arguments['task'][:80]}")
        try:
            finished = await child.run(arguments["task"])
        finally:
            await tools.aclose()
            if parent.recorder is not None:
                parent.recorder.note(
                    "subagent",
                    {"task": arguments["task"], "messages": [message_to_json(m) for m in child.messages]},
                )
        summary = f"(helper: {finished.status}, {finished.steps} steps)"
        if finished.status != "done":
            return ToolOutcome.error(
                f"the helper stopped before finishing: {finished.message}\n{finished.answer}".strip(),
                brief=f"subagent {finished.status}",
            )
        return ToolOutcome(
            content=f"{finished.answer}\n{summary}", brief=f"subagent done in {finished.steps} steps"
        )

    async def aclose(self) -> None:
        pass
