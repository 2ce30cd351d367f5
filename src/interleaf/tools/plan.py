"""``plan``: the model's todo list for the task, shown to the user as it changes (pro mode)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from interleaf.tools.base import Params, ToolContext, ToolOutcome, tool_spec
from interleaf.transcript import ToolSpec

_DESCRIPTION = (
    "Write or update your plan for the task as a todo list. Send the whole list every time; mark items "
    "pending, in_progress (one at a time) or done as you work. Use it for tasks with several steps."
)


class PlanItem(BaseModel):
    text: str = Field(description="What to do, in a few words.", min_length=1)
    status: Literal["pending", "in_progress", "done"] = Field(description="Where this item stands.")


class PlanParams(Params):
    items: list[PlanItem] = Field(description="The whole plan, in order.", min_length=1)


class PlanTool:
    name = "plan"
    params = PlanParams
    read_only = True

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    @property
    def spec(self) -> ToolSpec:
        return tool_spec(self.name, _DESCRIPTION, PlanParams)

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        self.items = [dict(item) for item in arguments["items"]]
        done = sum(1 for item in self.items if item["status"] == "done")
        current = next((i["text"] for i in self.items if i["status"] == "in_progress"), None)
        brief = f"plan: {done}/{len(self.items)} done" + (f", now: {current}" if current else "")
        return ToolOutcome(content=f"plan updated ({done} of {len(self.items)} done)", brief=brief)

    async def aclose(self) -> None:
        pass
