"""One row as SFT records in each export format, every thinking block where it was.

* ``openai-chat``: ``{"messages": […], "tools": […]}`` (the OpenAI fine-tuning layout); thinking in
  the field it arrived in (``reasoning_content``, ``reasoning``, ``reasoning_details`` items, or
  ``<think>`` in ``content``), or all in one ``dialect``.
* ``anthropic``: ``{"system": …, "messages": […], "tools": […]}`` with ``thinking`` blocks (and their
  signatures) in place.
* ``minimax-m2``: ``{"text": "<rendered M2 template text>"}``, one record per user turn: the M2
  template shows thinking only after the last user message, so a conversation of several user turns
  is cut at each turn and every thinking block is rendered in the record of its own turn, exactly as
  the model sees it at inference.
* ``sharegpt``: see :mod:`interleaf.data.export.sharegpt`.

Generation settings and vendor request fields are left out: a training record is the conversation.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from interleaf.data.export.sharegpt import encode_sharegpt
from interleaf.transcript import Conversation, JSONDict, ReasoningDialect
from interleaf.wire.errors import Losses

EXPORT_FORMATS = ("openai-chat", "anthropic", "minimax-m2", "sharegpt")


def _bare(conversation: Conversation) -> Conversation:
    return replace(conversation, params={}, extra={}, tool_choice=None)


def records(
    conversation: Conversation,
    fmt: str,
    *,
    dialect: ReasoningDialect | None = None,
    losses: Losses | None = None,
) -> list[JSONDict]:
    """The SFT records of one conversation in ``fmt`` (several only for ``minimax-m2``)."""
    bare = _bare(conversation)
    if fmt == "openai-chat":
        from interleaf.wire import openai_chat

        body = openai_chat.encode_request(bare, dialect=dialect, losses=losses)
        return [{key: body[key] for key in ("messages", "tools", "parallel_tool_calls") if key in body}]
    if fmt == "anthropic":
        from interleaf.wire import anthropic

        body = anthropic.encode_request(bare, losses=losses)
        return [{key: body[key] for key in ("system", "messages", "tools") if key in body}]
    if fmt == "minimax-m2":
        from interleaf.wire import minimax

        return [
            {"text": minimax.render_prompt(segment, add_generation_prompt=False, losses=losses)}
            for segment in user_turn_segments(bare)
        ]
    if fmt == "sharegpt":
        return [encode_sharegpt(bare, losses)]
    raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")


def user_turn_segments(conversation: Conversation) -> list[Conversation]:
    """The conversation cut after each user turn's last message: one prefix per user turn."""
    starts = [
        i
        for i, message in enumerate(conversation.messages)
        if message.role == "user" and not message.tool_results and message.text.strip()
    ]
    if len(starts) <= 1:
        return [conversation]
    ends = [*starts[1:], len(conversation.messages)]
    return [conversation.with_messages(conversation.messages[:end]) for end in ends]


def thinking_texts(value: Any) -> list[str]:
    """Every thinking text in a conversation, in order (what a round trip must give back)."""
    return [
        block.text
        for message in value.messages
        if message.role == "assistant"
        for block in message.blocks
        if getattr(block, "kind", None) == "thinking"
    ]
