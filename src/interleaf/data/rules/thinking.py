"""Rules about the thinking itself: tags, emptiness, absence, truncation, restating tool output."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from interleaf.data import text as tx
from interleaf.transcript import THINKING_BLOCKS, Conversation, Text, Thinking

_TAG = re.compile(r"</?think>")
# A block cut off mid-thought ends on a connective or an opening bracket, not on a finished clause.
_DANGLING = re.compile(
    r"(?:[,;:(\[{\-–]|\b(?:the|a|an|to|of|and|or|but|with|for|in|on|is|are|so|then|because|that))\s*$",
    re.IGNORECASE,
)


def thinking_unbalanced(conversation: Conversation, params: Mapping[str, Any]) -> list[str]:
    """Stray ``<think>``/``</think>`` tags (in visible text, or nested inside thinking), and assistant
    steps without thinking among steps with it (an app dropped the thinking between tool calls)."""
    found = []
    steps = tx.assistant_messages(conversation)
    for index, message in steps:
        for position, block in enumerate(message.blocks):
            if not isinstance(block, Text | Thinking):
                continue
            match = _TAG.search(block.text)
            if match is not None:
                what = "visible text holds a" if isinstance(block, Text) else "thinking holds a nested"
                found.append(f"messages[{index}].blocks[{position}]: {what} {match.group(0)} tag")
    thinking_steps = [i for i, m in steps if m.thinking]
    if thinking_steps and params.get("require_every_step", True):
        bare = [i for i, m in steps if not m.thinking and (m.tool_calls or m.text.strip())]
        if bare:
            listed = ", ".join(f"messages[{i}]" for i in bare[:5])
            found.append(f"{listed}: no thinking, while {len(thinking_steps)} other step(s) have it")
    return found


def thinking_empty(conversation: Conversation, params: Mapping[str, Any]) -> list[str]:
    """Thinking blocks with no text (a withheld, signature-only block counts: nothing to learn from)."""
    found = []
    for span in tx.thinking_spans(conversation):
        if not span.text.strip():
            found.append(f"messages[{span.message}].blocks[{span.block}]: empty thinking")
    return found


def thinking_absent(conversation: Conversation, params: Mapping[str, Any]) -> list[str]:
    """A trajectory whose assistant messages hold no thinking at all: not interleaved-thinking data."""
    steps = tx.assistant_messages(conversation)
    if not steps:
        return ["no assistant message"]
    if any(isinstance(b, THINKING_BLOCKS) for _, m in steps for b in m.blocks):
        return []
    return [f"none of the {len(steps)} assistant message(s) has thinking"]


def thinking_truncated(conversation: Conversation, params: Mapping[str, Any]) -> list[str]:
    """Thinking that was cut off: a last message that is thinking only, an unclosed code fence, or a
    block ending on a connective (``…and the``, ``…,``)."""
    found = []
    steps = tx.assistant_messages(conversation)
    if steps:
        index, last = steps[-1]
        if (
            last.thinking
            and not last.text.strip()
            and not last.tool_calls
            and index == len(conversation.messages) - 1
        ):
            found.append(f"messages[{index}]: ends in thinking, with no answer and no tool call")
    for span in tx.thinking_spans(conversation):
        stripped = span.text.rstrip()
        if not stripped:
            continue
        where = f"messages[{span.message}].blocks[{span.block}]"
        if stripped.count("```") % 2 == 1:
            found.append(f"{where}: thinking ends inside an unclosed code fence")
        elif _DANGLING.search(stripped[-40:]):
            found.append(f"{where}: thinking ends mid-sentence ({tx.clip(stripped[-30:], 30)!r})")
    return found


def redundant_thinking(conversation: Conversation, params: Mapping[str, Any]) -> list[str]:
    """Thinking that mostly restates the tool output it follows: the share of its word n-grams that
    occur in the preceding results (the redundancy ratio) is at least ``max_ratio``."""
    size = int(params["shingle"])
    found = []
    for index, message in tx.assistant_messages(conversation):
        results = tx.results_before(conversation, index)
        if not results:
            continue
        seen = tx.shingles("\n".join(r.text for r in results), size)
        if not seen:
            continue
        for position, block in enumerate(message.blocks):
            if not isinstance(block, Thinking) or len(tx.tokens(block.text)) < int(params["min_words"]):
                continue
            mine = tx.shingles(block.text, size)
            ratio = len(mine & seen) / len(mine) if mine else 0.0
            if ratio >= float(params["max_ratio"]):
                found.append(
                    f"messages[{index}].blocks[{position}]: {ratio:.0%} of the thinking restates the tool output"
                )
    return found
