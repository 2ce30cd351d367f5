"""The seams the agent is assembled from: what answers it (``Model``) and what keeps it (``Recorder``).

Protocols, not base classes: ``backends.client.ModelClient`` is a Model, and so is every wrapper that
changes how the model is spoken to (the JSON action and text-call protocols, whole replies instead of
streams, compaction). A wrapper is itself a Model around another one, so they stack and the loop never
asks which are in place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from interleaf.agent.flow import ModelFailure
from interleaf.transcript import Conversation, Message, Response
from interleaf.wire.events import MessageEnd, StreamEvent, events_from_response


class Model(Protocol):
    """Anything that answers a conversation, streamed or whole (``backends.client.ModelClient`` does)."""

    def stream(self, conversation: Conversation) -> AsyncIterator[StreamEvent]: ...

    async def complete(self, conversation: Conversation, *, stream: bool = False) -> Response: ...


class Recorder(Protocol):
    """Where the session is kept (``store.sessions``). Called as things happen, so a crash loses little."""

    def append(self, message: Message) -> None: ...

    def note(self, kind: str, data: dict[str, object]) -> None: ...


async def reply_of(events: AsyncIterator[StreamEvent]) -> Response:
    """The response a stream ends with (what ``complete`` returns for a wrapper that works on streams)."""
    final: Response | None = None
    async for event in events:
        if isinstance(event, MessageEnd):
            final = event.response
    if final is None:
        raise ModelFailure("the model stream ended without a complete reply")
    return final


class WholeReplies:
    """Asks ``model`` for whole replies and plays each back as the events a stream of it would carry,
    so observers and the other wrappers see one shape (``interleaf run --no-stream``)."""

    def __init__(self, model: Model) -> None:
        self.model = model

    async def stream(self, conversation: Conversation) -> AsyncIterator[StreamEvent]:
        for event in events_from_response(await self.model.complete(conversation)):
            yield event

    async def complete(self, conversation: Conversation, *, stream: bool = False) -> Response:
        return await self.model.complete(conversation)
