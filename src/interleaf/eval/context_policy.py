"""``--context-policy``: the same tasks with the history cut or summarised (compression tolerance).

* ``full``: the history as the condition sends it.
* ``window:TOKENS``: the task's opening (up to its first user message) plus the most recent steps that
  fit in TOKENS (estimated); older steps are left out of the request. A step is an assistant message
  with the tool results that answer it, so no result is ever sent without its call.
* ``summary[:TOKENS]``: like ``window``, but what is left out is first summarised by the same model and
  the summary goes into the system prompt (never a user message, docs/architecture.md rule 3; see
  docs/architecture.md). One extra request per summary; it is metered like any other.

Unlike the agent's own compaction (which never touches the current loop), these policies deliberately
cut into it: the question they answer is how much a model's success depends on the context it is given.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from interleaf.agent.context import estimate_tokens, render_for_summary
from interleaf.agent.loop import Model
from interleaf.transcript import Conversation, Message, Response, Text
from interleaf.wire.events import StreamEvent

PolicyKind = Literal["full", "window", "summary"]
DEFAULT_SUMMARY_TOKENS = 4096
_SUMMARIZE = (
    "Summarise the earlier part of this agent session so the agent can continue without it. Keep every "
    "fact, value and decision it may need (including conclusions from its own reasoning), the tool calls "
    "that mattered and their results. Plain text, no preamble."
)


@dataclass(frozen=True, slots=True)
class ContextPolicy:
    kind: PolicyKind = "full"
    tokens: int | None = None

    @property
    def label(self) -> str:
        return self.kind if self.tokens is None else f"{self.kind}:{self.tokens}"


def parse_context_policy(text: str) -> ContextPolicy:
    """``full``, ``window:8000``, ``summary`` or ``summary:8000``; the error says what is accepted."""
    kind, _, tokens = text.strip().lower().partition(":")
    hint = "use full, window:TOKENS or summary[:TOKENS] (e.g. window:8000)"
    if kind == "full" and not tokens:
        return ContextPolicy()
    if kind not in ("window", "summary"):
        raise ValueError(f"--context-policy {text!r} is not a policy; {hint}")
    if not tokens:
        if kind == "window":
            raise ValueError(f"--context-policy window needs a size; {hint}")
        return ContextPolicy("summary", DEFAULT_SUMMARY_TOKENS)
    try:
        size = int(tokens.rstrip("k")) * (1024 if tokens.endswith("k") else 1)
    except ValueError:
        raise ValueError(f"--context-policy {text!r}: {tokens!r} is not a token count; {hint}") from None
    if size < 256:
        raise ValueError(f"--context-policy {text!r}: keep at least 256 tokens")
    return ContextPolicy(kind, size)  # type: ignore[arg-type]


def split_history(messages: Sequence[Message], budget: int) -> tuple[int, int]:
    """``(head, start)``: send ``messages[:head]`` and ``messages[start:]``; ``head == start`` means
    nothing is left out. The tail starts at an assistant or user message, never at tool results."""
    head = next((i + 1 for i, m in enumerate(messages) if m.role == "user"), 0)
    if estimate_tokens(messages) <= budget:
        return head, head
    room = budget - estimate_tokens(messages[:head])
    start = len(messages)
    for index in range(len(messages) - 1, head - 1, -1):
        if messages[index].role == "tool":
            continue
        if estimate_tokens(messages[index:]) > room and start < len(messages):
            break
        start = index
    return head, max(start, head)


class ContextPolicyModel:
    """A model wrapper applying a :class:`ContextPolicy` to each request."""

    def __init__(self, inner: Model, policy: ContextPolicy) -> None:
        self.inner = inner
        self.policy = policy
        self._summaries: dict[int, str] = {}

    async def _shape(self, conversation: Conversation) -> Conversation:
        if self.policy.kind == "full" or self.policy.tokens is None:
            return conversation
        messages = conversation.messages
        head, start = split_history(messages, self.policy.tokens)
        if start <= head:
            return conversation
        kept = (*messages[:head], *messages[start:])
        if self.policy.kind == "window":
            return conversation.with_messages(kept)
        summary = self._summaries.get(start)
        if summary is None:
            summary = await self._summarize(conversation, messages[head:start])
            self._summaries[start] = summary
        system = "\n\n".join(t.text for t in conversation.system or ())
        note = f"{system}\n\n# Earlier in this task (summary)\n{summary}".strip()
        return replace(conversation, messages=kept, system=(Text(text=note),))

    async def _summarize(self, conversation: Conversation, left_out: Sequence[Message]) -> str:
        request = Conversation(
            system=(Text(text=_SUMMARIZE),),
            messages=(Message(role="user", blocks=(Text(text=render_for_summary(left_out)[-200_000:]),)),),
            params={k: v for k, v in conversation.params.items() if k in ("model", "temperature")},
        )
        response = await self.inner.complete(request)
        return response.message.text.strip() or "(the summary came back empty)"

    async def stream(self, conversation: Conversation) -> AsyncIterator[StreamEvent]:
        shaped = await self._shape(conversation)
        async for event in self.inner.stream(shaped):
            yield event

    async def complete(self, conversation: Conversation, *, stream: bool = False) -> Response:
        return await self.inner.complete(await self._shape(conversation), stream=stream)
