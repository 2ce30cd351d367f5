"""The one place eval reaches into the agent: a session whose tools and system prompt the suite sets.

Suites such as ``needle`` and ``bfcl-multi-turn`` give the agent their own tools (BFCL's API classes)
instead of the built-in shell, files and python, and a system prompt that describes those tools; the
coding suite uses the agent exactly as ``interleaf run`` does. Both go through the agent's own options
(``RunOptions.tools``, ``RunOptions.system_prompt``); everything else (the loop, the JSON action
protocol of the embedded model, budgets, the session store, the sandbox) is the agent's, unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from interleaf.agent.events import Observer
from interleaf.agent.seams import Model
from interleaf.agent.session import AgentSession, RunOptions
from interleaf.tools.base import Tool


class SuiteSession(AgentSession):
    """An :class:`AgentSession` with the suite's tools (``None``: the built-ins) and system prompt."""

    def __init__(
        self,
        options: RunOptions,
        *,
        model: Model,
        observer: Observer | None = None,
        tools: Sequence[Tool] | None = None,
        system: str | None = None,
    ) -> None:
        options = replace(
            options,
            tools=options.tools if tools is None else list(tools),
            system_prompt=options.system_prompt if system is None else system,
        )
        super().__init__(options, model=model, observer=observer)
