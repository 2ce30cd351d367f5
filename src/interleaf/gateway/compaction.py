"""Codex's server-side compaction, for an upstream that does not speak the Responses API.

Codex with its built-in OpenAI provider (``openai_base_url`` in its config pointed at the gateway, or
a provider named ``OpenAI``) compacts a long conversation on the server ("remote compaction v2"): it
sends the history with a last input item ``{"type": "compaction_trigger"}``, accepts exactly one output
item back, ``{"type": "compaction", "id": ..., "encrypted_content": ...}``, and from then on sends that
item in place of the history it replaced. Answered with an ordinary turn instead, Codex stops the session
("expected exactly one compaction output item"). A Responses upstream compacts by itself: the request
passes through untouched. For any other upstream the gateway does it:

* the request goes upstream as a request for a summary: the trigger replaced by :data:`PROMPT` as the
  last user message, no tools offered, not streamed, and its reply not captured (no client sends a
  summary back as a turn);
* the client gets one compaction item whose ``encrypted_content`` is :data:`PREFIX` and the summary in
  base64 (nothing secret: it is the client's own conversation, summarised);
* in later requests, a compaction item of this gateway's becomes a user message holding the summary
  (:data:`SUMMARY_INTRO`); one from another server is opaque here, and no other API can carry it, so it
  is dropped, as the Chat and Anthropic encoders drop any item they cannot write.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from interleaf.transcript import Block, Conversation, Message, Opaque, Text, Usage
from interleaf.transcript import Response as Reply
from interleaf.wire.responses.common import FORMAT

TRIGGER = "compaction_trigger"
ITEM = "compaction"
PREFIX = "ilc1."
PROMPT = (
    "The conversation above is about to be replaced by a summary, to make room in the context. Write "
    "that summary now, so that the work can continue from it alone: the user's goal and constraints; "
    "what has been done and found (files, commands, results, decisions); what is left to do, and the "
    "next step. Be specific and brief. Write only the summary; do not call tools."
)
SUMMARY_INTRO = "Summary of the earlier part of this conversation, written when it was compacted:\n\n"


def requested(body: Mapping[str, Any]) -> bool:
    """Whether a Responses request body asks for a compaction (its last input item is the trigger)."""
    items = body.get("input")
    return isinstance(items, list) and bool(items) and _is(items[-1], TRIGGER)


def without_trigger(conversation: Conversation) -> Conversation:
    """The history of a compaction request: the trigger item taken out (and its message, if empty)."""
    messages: list[Message] = []
    for message in conversation.messages:
        blocks = tuple(b for b in message.blocks if not _is_block(b, TRIGGER))
        if len(blocks) == len(message.blocks):
            messages.append(message)
        elif blocks:
            messages.append(replace(message, blocks=blocks))
    return conversation.with_messages(messages)


def summary_request(conversation: Conversation) -> Conversation:
    """What the upstream is asked instead: the history, then :data:`PROMPT`, with no tools."""
    return replace(
        conversation,
        messages=(*conversation.messages, Message(role="user", blocks=(Text(text=PROMPT),))),
        tools=(),
        tool_choice=None,
    )


def summary_of(reply: Reply) -> str:
    """The summary an upstream wrote: its reply's visible text (thinking left out)."""
    return "".join(b.text for b in reply.message.blocks if isinstance(b, Text)).strip()


def compaction_reply(summary: str, *, model: str | None, usage: Usage | None, source: str | None) -> Reply:
    """The reply Codex expects: exactly one compaction item, holding ``summary``. ``source`` is the API
    the summary came from: written for a Responses client from another API, the reply gets every
    field Codex requires (``usage.total_tokens``...)."""
    item = {"type": ITEM, "id": f"cmp_{uuid.uuid4().hex}", "encrypted_content": seal(summary)}
    return Reply(
        message=Message(role="assistant", blocks=(Opaque(source=FORMAT, data=item),)),
        id=f"resp_{uuid.uuid4().hex}",
        model=model,
        stop_reason="end_turn",
        usage=usage,
        source=source,
    )


def expand(conversation: Conversation) -> Conversation:
    """Each compaction item of this gateway's as a user message holding its summary; any other
    compaction item dropped (no upstream but a Responses one could read it)."""
    if not any(_is_block(b, ITEM) for m in conversation.messages for b in m.blocks):
        return conversation
    messages: list[Message] = []
    for message in conversation.messages:
        kept: list[Block] = []
        for block in message.blocks:
            if not _is_block(block, ITEM):
                kept.append(block)
                continue
            if kept:  # what came before it in the same run of items stays where it was
                messages.append(replace(message, blocks=tuple(kept)))
                kept = []
            assert isinstance(block, Opaque)
            summary = unseal(block.data.get("encrypted_content"))
            if summary is not None:
                messages.append(Message(role="user", blocks=(Text(text=SUMMARY_INTRO + summary),)))
        if kept:
            messages.append(
                message if len(kept) == len(message.blocks) else replace(message, blocks=tuple(kept))
            )
    return conversation.with_messages(messages)


def seal(summary: str) -> str:
    return PREFIX + base64.urlsafe_b64encode(summary.encode("utf-8", "surrogatepass")).decode()


def unseal(value: Any) -> str | None:
    """The summary in a compaction item's ``encrypted_content`` when this gateway wrote it, else None."""
    if not isinstance(value, str) or not value.startswith(PREFIX):
        return None
    try:
        return base64.urlsafe_b64decode(value[len(PREFIX) :]).decode("utf-8", "surrogatepass")
    except (binascii.Error, ValueError):
        return None


def _is(item: Any, kind: str) -> bool:
    return isinstance(item, Mapping) and item.get("type") == kind


def _is_block(block: Block, kind: str) -> bool:
    return isinstance(block, Opaque) and block.source == FORMAT and _is(block.data, kind)
