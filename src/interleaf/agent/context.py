"""Keeping a long session inside the model's context window: compaction as a wrapper of the query.

Only turns *before the last user message* (earlier tasks of the session) are summarised, and the
summary goes into the system prompt, never into a user message, which would erase the thinking of the
current loop on templates like MiniMax-M2's (docs/agent.md, "How the loop is built", rule 5). The
current task is sent verbatim; if it alone does not fit, the run ends with ``context_full``.

:class:`ContextWindow` holds the limits and what has been compacted so far; ``window.around(model)``
is the Model the agent asks, which compacts the request when it would not fit and learns the real
size of what was sent from each reply's usage. The agent's own message list is never cut: the window
remembers where the live context starts, and the session store records each compaction as a note
(``store.sessions`` derives the live context of a resumed session from those notes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace

from interleaf.agent.flow import ContextFull
from interleaf.agent.seams import Model, Recorder, reply_of
from interleaf.transcript import Conversation, Message, Response, Text, Thinking, ToolCall, ToolResult, Usage
from interleaf.wire.events import MessageEnd, StreamEvent

SUMMARY_HEADING = "# Earlier in this session (summary)"
_SUMMARY_SEPARATOR = f"\n\n{SUMMARY_HEADING}\n"
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
    """Writes the summaries; default: the model the window is around."""
    _start: int = 0
    """Where the live context starts in the agent's messages (everything before is summarised)."""
    _summary: str | None = None
    _known_tokens: int | None = None
    _known_count: int = 0

    def around(
        self, model: Model, *, recorder: Recorder | None = None, notice: Callable[[str], None] | None = None
    ) -> Model:
        """``model`` asked through this window; compactions are noted to ``recorder`` and told ``notice``."""
        return _Compacting(self, model, recorder, notice)

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

    def live(self, conversation: Conversation) -> Conversation:
        """``conversation`` as sent: messages from the live start, the latest summary in the system."""
        if self._start == 0 and self._summary is None:
            return conversation
        system = "".join(block.text for block in conversation.system or ())
        if self._summary is not None:
            system = system.partition(_SUMMARY_SEPARATOR)[0] + _SUMMARY_SEPARATOR + self._summary
        return replace(
            conversation, messages=conversation.messages[self._start :], system=(Text(text=system),)
        )

    async def fit(
        self,
        conversation: Conversation,
        model: Model,
        recorder: Recorder | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> Conversation:
        """The live ``conversation``, compacted first if it would not fit; :class:`ContextFull` when the
        current task alone does not."""
        sent = self.live(conversation)
        system = "".join(block.text for block in sent.system or ())
        size = self.current(sent.messages, system)
        if size <= self.budget:
            return sent
        start = sent.last_user_index
        if start <= 0:
            raise ContextFull(
                reason=f"the current task alone needs about {size:,} tokens, more than the "
                f"{self.limit:,}-token context allows; start a new session with a narrower task or use a "
                "model with a larger window"
            )
        earlier = sent.messages[:start]
        previous = system.partition(_SUMMARY_SEPARATOR)[2]
        self._summary = await self._summarize(self.summarizer or model, earlier, previous, sent.params)
        self._start += start
        self._known_tokens = None
        if notice is not None:
            notice(f"compacted {len(earlier)} earlier messages into a summary ({size:,} tokens were in use)")
        if recorder is not None:
            recorder.note("compaction", {"dropped": start, "summary": self._summary, "previous": previous})
        return self.live(conversation)

    async def _summarize(
        self, model: Model, earlier: Sequence[Message], previous: str, params: dict[str, object]
    ) -> str:
        material = render_for_summary(earlier)
        if previous:
            material = f"Summary of what came before:\n{previous}\n\n{material}"
        request = Conversation(
            system=(Text(text=_SUMMARIZE),),
            messages=(Message(role="user", blocks=(Text(text=material[-200_000:]),)),),
            params=dict(params),
        )
        async for event in model.stream(request):
            if isinstance(event, MessageEnd):
                return event.response.message.text.strip() or material[:4000]
        return material[:4000]


class _Compacting:
    """The Model a window is around: fits each request, then learns its size from the reply."""

    def __init__(
        self,
        window: ContextWindow,
        model: Model,
        recorder: Recorder | None,
        notice: Callable[[str], None] | None,
    ) -> None:
        self.window, self.model, self.recorder, self.notice = window, model, recorder, notice

    async def stream(self, conversation: Conversation) -> AsyncIterator[StreamEvent]:
        sent = await self.window.fit(conversation, self.model, self.recorder, self.notice)
        async for event in self.model.stream(sent):
            if isinstance(event, MessageEnd):
                self.window.observe(event.response.usage, len(sent.messages))
            yield event

    async def complete(self, conversation: Conversation, *, stream: bool = False) -> Response:
        return await reply_of(self.stream(conversation))
