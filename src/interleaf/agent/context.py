"""Keeping a long session inside the model's context window.

Compaction follows ARCHITECTURE.md rule 5: only turns *before the last user message* (earlier tasks of
the session) are summarised, and the summary goes into the system prompt — never into a user message,
which would erase the thinking of the current loop on templates like MiniMax-M2's. The current loop is
sent verbatim; if it alone does not fit, the run stops and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from interleaf.transcript import Conversation, Message, Text, Thinking, ToolCall, ToolResult, Usage
from interleaf.wire.events import MessageEnd

if TYPE_CHECKING:
    from interleaf.agent.loop import Agent, Model

SUMMARY_HEADING = "# Earlier in this session (summary)"
_SUMMARIZE = (
    "You compress the earlier part of an agent session so the agent can continue without it. Write a "
    "concise summary that keeps: every request the user made and their constraints, decisions taken and "
    "why, files created or changed, commands that mattered and their outcomes, and open problems. Plain "
    "text, no preamble."
)


def estimate_tokens(messages: Sequence[Message]) -> int:
    """A cheap upper-leaning estimate (about 3.5 characters a token) for messages without usage data."""
    chars = 0
    for message in messages:
        for block in message.blocks:
            if isinstance(block, Text | Thinking):
                chars += len(block.text)
            elif isinstance(block, ToolCall):
                chars += len(block.name) + len(block.arguments_json)
            elif isinstance(block, ToolResult):
                chars += len(block.text)
            else:
                chars += 200
        chars += 16
    return int(chars / 3.5) + 1


def render_for_summary(messages: Sequence[Message]) -> str:
    lines: list[str] = []
    for message in messages:
        for block in message.blocks:
            if isinstance(block, Text) and block.text.strip():
                lines.append(f"[{message.role}] {block.text.strip()}")
            elif isinstance(block, Thinking) and block.text.strip():
                lines.append(f"[assistant thinking] {block.text.strip()}")
            elif isinstance(block, ToolCall):
                lines.append(f"[tool call] {block.name} {block.arguments_json}")
            elif isinstance(block, ToolResult):
                text = block.text
                lines.append(f"[tool result] {text[:2000]}{' ...' if len(text) > 2000 else ''}")
    return "\n".join(lines)


@dataclass
class ContextWindow:
    """Watches the size of what is sent and compacts earlier tasks before the window fills."""

    limit: int
    """The model's context window in tokens."""
    reserve: int = 8192
    """Tokens kept free for the reply."""
    threshold: float = 0.85
    summarizer: Model | None = None
    _known_tokens: int | None = None
    _known_count: int = 0

    def observe(self, usage: Usage | None, message_count: int) -> None:
        """Remember the server's own count for the messages sent so far (better than any estimate)."""
        if usage is not None and usage.input_tokens is not None:
            self._known_tokens = usage.input_tokens + (usage.output_tokens or 0)
            self._known_count = message_count + 1

    def current(self, messages: Sequence[Message], system: str) -> int:
        if self._known_tokens is not None and self._known_count <= len(messages):
            return self._known_tokens + estimate_tokens(messages[self._known_count :])
        return estimate_tokens(messages) + len(system) // 3

    @property
    def budget(self) -> int:
        return int(self.limit * self.threshold) - self.reserve

    async def fit(self, agent: Agent) -> str | None:
        """Compact if needed. Returns a message when the current task alone does not fit."""
        size = self.current(agent.messages, agent.system)
        if size <= self.budget:
            return None
        start = Conversation(messages=tuple(agent.messages)).last_user_index
        if start <= 0:
            return (
                f"the current task alone needs about {size:,} tokens, more than the {self.limit:,}-token "
                "context allows; start a new session with a narrower task or use a model with a larger window"
            )
        earlier = agent.messages[:start]
        summary = await self._summarize(agent, earlier)
        base, _, previous = agent.system.partition(f"\n\n{SUMMARY_HEADING}\n")
        agent.replace_history(start, f"{base}\n\n{SUMMARY_HEADING}\n{summary}")
        self._known_tokens = None
        agent.notice(
            f"compacted {len(earlier)} earlier messages into a summary ({size:,} tokens were in use)"
        )
        if agent.recorder is not None:
            agent.recorder.note(
                "compaction", {"dropped": len(earlier), "summary": summary, "previous": previous}
            )
        return None

    async def _summarize(self, agent: Agent, earlier: Sequence[Message]) -> str:
        model = self.summarizer or agent.model
        previous = agent.system.partition(f"\n\n{SUMMARY_HEADING}\n")[2]
        material = render_for_summary(earlier)
        if previous:
            material = f"Summary of what came before:\n{previous}\n\n{material}"
        request = Conversation(
            system=(Text(text=_SUMMARIZE),),
            messages=(Message(role="user", blocks=(Text(text=material[-200_000:]),)),),
            params=dict(agent.settings.params),
        )
        async for event in model.stream(request):
            if isinstance(event, MessageEnd):
                return event.response.message.text.strip() or material[:4000]
        return material[:4000]
