"""The experimental conditions, as model wrappers between the agent and the endpoint.

The agent always keeps every thinking block (docs/architecture.md rule 2); a condition changes only what one
request carries, so the agent, its tools and its transcript are the same in every condition:

* ``keep``: the request as the agent built it: every earlier thinking block, exactly.
* ``drop``: every thinking block removed from the history before each request, as most apps do.
* ``restored``: the ``drop`` request sent through an in-process ``interleaf serve`` gateway in front of
  the same endpoint (``backend.py`` wires it), so what is measured is the gateway's restore end to end.
* ``current-loop``: thinking kept only after the last user message, as chat templates such as
  MiniMax-M2's and Qwen3's render it; differs from ``keep`` only in multi-user-turn tasks.

:class:`TrialModel` is the innermost wrapper: it stamps the trial's seed on requests that can carry one
and meters what crosses the wire (model time, tokens, thinking), which is what the metrics come from.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Literal

from interleaf.agent.loop import Model
from interleaf.transcript import THINKING_BLOCKS, Conversation, Message, Response, Thinking, Usage
from interleaf.wire.events import MessageEnd, StreamEvent

Condition = Literal["keep", "drop", "restored", "current-loop"]
CONDITIONS: tuple[Condition, ...] = ("keep", "drop", "restored", "current-loop")
BASELINE: Condition = "keep"


def parse_conditions(text: str) -> list[Condition]:
    """``keep,drop`` -> the conditions, in the order given, without repeats; the error lists the names."""
    chosen: list[Condition] = []
    for part in text.split(","):
        name = part.strip().lower()
        if not name:
            continue
        match = next((c for c in CONDITIONS if c == name), None)
        if match is None:
            raise ValueError(f"unknown condition {name!r}; choose from {', '.join(CONDITIONS)}")
        if match not in chosen:
            chosen.append(match)
    if not chosen:
        raise ValueError(f"no condition given; choose from {', '.join(CONDITIONS)}")
    return chosen


def without_thinking(message: Message) -> Message:
    """The message minus its thinking and redacted-thinking blocks (everything else untouched)."""
    if message.role != "assistant" or not message.thinking:
        return message
    return replace(message, blocks=tuple(b for b in message.blocks if not isinstance(b, THINKING_BLOCKS)))


def filter_thinking(conversation: Conversation, condition: Condition) -> Conversation:
    """The request a condition sends: ``drop`` and ``restored`` strip all thinking, ``current-loop``
    the thinking before the last user message, ``keep`` nothing."""
    if condition == "keep":
        return conversation
    if condition == "current-loop":
        start = max(conversation.last_user_index, 0)
        messages = [without_thinking(m) if i < start else m for i, m in enumerate(conversation.messages)]
    else:
        messages = [without_thinking(m) for m in conversation.messages]
    return conversation.with_messages(messages)


class ThinkingFilter:
    """A :class:`~interleaf.agent.loop.Model` that sends each request through :func:`filter_thinking`."""

    def __init__(self, inner: Model, condition: Condition) -> None:
        self.inner = inner
        self.condition = condition

    def stream(self, conversation: Conversation) -> AsyncIterator[StreamEvent]:
        return self.inner.stream(filter_thinking(conversation, self.condition))

    async def complete(self, conversation: Conversation, *, stream: bool = False) -> Response:
        return await self.inner.complete(filter_thinking(conversation, self.condition), stream=stream)


@dataclass
class WireMeter:
    """What one trial's requests cost, summed over every request."""

    requests: int = 0
    model_seconds: float = 0.0
    usage: Usage = field(default_factory=Usage)
    thinking_chars: int = 0

    def add(self, response: Response, seconds: float) -> None:
        self.requests += 1
        self.model_seconds += seconds
        if response.usage is not None:
            self.usage = self.usage + response.usage
        self.thinking_chars += sum(len(b.text) for b in response.message.blocks if isinstance(b, Thinking))

    @property
    def thinking_tokens(self) -> tuple[int, bool]:
        """Reasoning tokens as the server counted them, else estimated from the thinking text (about
        four characters a token); the flag says whether it is an estimate."""
        if self.usage.reasoning_tokens is not None:
            return self.usage.reasoning_tokens, False
        return (self.thinking_chars + 3) // 4, True


class TrialModel:
    """The innermost wrapper of a trial: the seed goes on the request, the reply is metered.

    The seed is sent only where the wire has a field for it (OpenAI Chat's ``seed``, which vLLM, SGLang
    and llama.cpp honour); it is the same for every condition of one task and trial, so the conditions
    are paired, and different for each trial, so pass^k sees k independent samples.
    """

    def __init__(self, inner: Model, *, seed: int | None, api: str, meter: WireMeter) -> None:
        self.inner = inner
        self.seed = seed
        self.api = api
        self.meter = meter

    def _seeded(self, conversation: Conversation) -> Conversation:
        if self.seed is None or self.api != "openai-chat":
            return conversation
        if conversation.source not in (None, "openai-chat") or "seed" in conversation.extra:
            return conversation
        return replace(conversation, extra={**conversation.extra, "seed": self.seed})

    async def stream(self, conversation: Conversation) -> AsyncIterator[StreamEvent]:
        started = time.perf_counter()
        async for event in self.inner.stream(self._seeded(conversation)):
            if isinstance(event, MessageEnd):
                self.meter.add(event.response, time.perf_counter() - started)
            yield event

    async def complete(self, conversation: Conversation, *, stream: bool = False) -> Response:
        started = time.perf_counter()
        response = await self.inner.complete(self._seeded(conversation), stream=stream)
        self.meter.add(response, time.perf_counter() - started)
        return response
