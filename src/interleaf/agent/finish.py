"""``finish``: how a pro-mode run ends. The workdir's tests run first; failures go back as the tool result.

Verification as a tool keeps rule 3 of docs/agent.md: the failures reach the model as an observation of
its own call, never as a user message that would erase the thinking of the current loop.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from interleaf.agent.verify import run_verification
from interleaf.tools.base import Params, ToolContext, ToolOutcome, tool_spec
from interleaf.tools.sandbox import Sandbox
from interleaf.transcript import ToolSpec

_DESCRIPTION = (
    "Call this when the task is complete, with your final answer for the user. If the workdir has "
    "tests they are run first; if any fail you get the failures back and should fix them and call "
    "finish again."
)


class FinishParams(Params):
    answer: str = Field(description="The final answer or a summary of what you did, for the user.")


class FinishTool:
    name = "finish"
    params = FinishParams
    read_only = True

    def __init__(
        self, *, command: str | None = None, timeout: float = 600, sandbox: Sandbox | None = None
    ) -> None:
        self.command = command
        self.timeout = timeout
        self.sandbox = sandbox
        """Where the workdir's tests run: the model wrote them, so they are confined like ``shell``."""

    @property
    def spec(self) -> ToolSpec:
        return tool_spec(self.name, _DESCRIPTION, FinishParams)

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        result = await run_verification(ctx.workdir, self.command, timeout=self.timeout, sandbox=self.sandbox)
        if result.passed:
            ran = f"verified: `{result.command}` passed" if result.command else "accepted (no tests to run)"
            return ToolOutcome(content=f"{ran}. The task is finished.", brief=ran)
        return ToolOutcome.error(
            f"verification failed: `{result.command}` exited with {result.exit_code}. Fix the failures, "
            f"then call finish again.\n\n{result.output}",
            brief=f"verification failed ({result.command})",
        )

    async def aclose(self) -> None:
        pass
