"""Text views of a trajectory (task, thinking, answer, tool results) and the tokenising the stages share.

Every stage reads a conversation through these helpers, so "the task", "the final answer" and "a
word" mean the same thing to the rules, the judge, deduplication and tracing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from interleaf.transcript import Conversation, Message, Text, Thinking, ToolCall, ToolResult

# A token is a run of letters/digits of an alphabetic script, or one CJK character (those scripts
# write words without spaces, so each character stands for one).
_TOKEN = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]|[^\W_]+(?:['’][^\W_]+)*",
    re.UNICODE,
)


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` (CJK: one token a character)."""
    found: list[str] = _TOKEN.findall(text.lower())
    return found


def shingles(text: str, size: int = 5) -> set[str]:
    """Word ``size``-grams of ``text``; a text shorter than ``size`` words is one shingle of all of it."""
    words = tokens(text)
    if not words:
        return set()
    if len(words) <= size:
        return {" ".join(words)}
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def estimate_tokens(text: str) -> int:
    """A model-independent token estimate: four ASCII characters or one other character a token.

    Close enough for length limits and difficulty; a tokenizer would tie the dataset to one model.
    """
    if text.isascii():
        return (len(text) + 3) // 4
    non_ascii = sum(1 for ch in text if ord(ch) > 127)
    return (len(text) - non_ascii + 3) // 4 + non_ascii


@dataclass(frozen=True, slots=True)
class ThinkingSpan:
    """One thinking block: where it sits and its text."""

    message: int
    block: int
    text: str


def task_text(conversation: Conversation) -> str:
    """The task: the first user message's text (tool results excluded), else the first text there is."""
    for message in conversation.messages:
        if message.role == "user" and message.text.strip():
            return message.text
    for message in conversation.messages:
        if message.text.strip():
            return message.text
    return ""


def user_texts(conversation: Conversation) -> list[str]:
    """The text of every user message that carries any (tool results excluded)."""
    return [m.text for m in conversation.messages if m.role == "user" and m.text.strip()]


def thinking_spans(conversation: Conversation) -> list[ThinkingSpan]:
    """Every thinking block of the assistant messages, in order."""
    spans = []
    for i, message in enumerate(conversation.messages):
        if message.role != "assistant":
            continue
        for j, block in enumerate(message.blocks):
            if isinstance(block, Thinking):
                spans.append(ThinkingSpan(i, j, block.text))
    return spans


def all_thinking(conversation: Conversation) -> str:
    """All thinking text joined by blank lines (for deduplication and tracing)."""
    return "\n\n".join(span.text for span in thinking_spans(conversation))


def assistant_messages(conversation: Conversation) -> list[tuple[int, Message]]:
    return [(i, m) for i, m in enumerate(conversation.messages) if m.role == "assistant"]


def tool_calls(conversation: Conversation) -> list[tuple[int, ToolCall]]:
    """Every tool call with the index of the message that made it."""
    return [
        (i, block)
        for i, message in enumerate(conversation.messages)
        if message.role == "assistant"
        for block in message.blocks
        if isinstance(block, ToolCall)
    ]


def tool_results(conversation: Conversation) -> list[tuple[int, ToolResult]]:
    """Every tool result (in tool messages, or user messages in the Anthropic style)."""
    return [
        (i, block)
        for i, message in enumerate(conversation.messages)
        for block in message.blocks
        if isinstance(block, ToolResult)
    ]


def final_answer(conversation: Conversation) -> str:
    """The visible text of the last assistant message, when it ends the trajectory without a tool call."""
    for message in reversed(conversation.messages):
        if message.role == "assistant":
            return "" if message.tool_calls else message.text
        if message.role in ("user", "tool"):
            return ""
    return ""


def final_answer_index(conversation: Conversation) -> int | None:
    """Index of the message holding the final answer (see :func:`final_answer`), if there is one."""
    for index in range(len(conversation.messages) - 1, -1, -1):
        message = conversation.messages[index]
        if message.role == "assistant":
            return None if message.tool_calls else index
        if message.role in ("user", "tool"):
            return None
    return None


def results_before(conversation: Conversation, index: int) -> list[ToolResult]:
    """The tool results answering the assistant message just before message ``index``."""
    found: list[ToolResult] = []
    for position in range(index - 1, -1, -1):
        message = conversation.messages[position]
        if message.role == "assistant":
            break
        found[:0] = message.tool_results
    return found


def action_text(message: Message) -> str:
    """What an assistant message does besides thinking: its visible text and its calls' arguments."""
    parts = [b.text for b in message.blocks if isinstance(b, Text)]
    parts.extend(f"{b.name} {b.arguments_json}" for b in message.blocks if isinstance(b, ToolCall))
    return "\n".join(parts)


def iter_texts(conversation: Conversation) -> Iterator[str]:
    """Every piece of text in the conversation (system, messages, thinking, calls, results)."""
    for part in conversation.system or ():
        yield part.text
    for message in conversation.messages:
        for block in message.blocks:
            if isinstance(block, Thinking | Text):
                yield block.text
            elif isinstance(block, ToolCall):
                yield block.arguments_json
            elif isinstance(block, ToolResult):
                yield block.text


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, keeping its head and tail around a marked gap."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = max(limit - head - 20, 0)
    omitted = len(text) - head - tail
    return f"{text[:head]} […{omitted} chars…] {text[len(text) - tail :]}" if tail else text[:head] + " […]"
