"""The conversations ``interleaf probe template`` renders, in every way a client can carry reasoning.

Two conversations, each a finished earlier task and a current tool loop::

    loop:   system, user 1, A1 (R1 + call), result, A2 (R2 + final answer), user 2,
            A3 (R3 + call), result, A4 (R4 + call), result, [generation prompt]
    nudged: the same with a user message between A3's result and A4

Every piece carries a unique marker, so the rendered prompt shows which reasoning survived. The
*loop* is what an agent sends (no user message inside its tool loop); the *nudged* conversation tells
the rule "after the last user message" (MiniMax-M2, Qwen3, GLM: A3 is dropped) from "after the last
final answer" (Kimi-K2-Thinking, gpt-oss: A3 is kept), and A1 — a tool call before the final answer —
tells "after the last final answer" from "on every tool call".

Reasoning is carried in a field (``reasoning_content``, ``reasoning``, ``thinking``) or inline in
``content``: ``<think>R</think>`` (no newlines, so a template that parses the tags visibly re-renders
them in its own layout) or a harmony analysis channel. For the inline ways a *neutral* twin spells the
tags so no template recognises them: a prompt that is the same either way was rendered verbatim, the
tags never parsed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "ARGS_DICT",
    "ARGS_JSON",
    "ASSISTANTS",
    "CARRIER_CHANNEL",
    "CARRIER_REASONING",
    "CARRIER_REASONING_CONTENT",
    "CARRIER_THINK",
    "CARRIER_THINKING",
    "FIELD_CARRIERS",
    "INLINE_CARRIERS",
    "LOOP",
    "NUDGED",
    "TOOL",
    "Position",
    "carriers_for",
    "messages",
    "positions",
    "restore_tags",
]

CARRIER_REASONING_CONTENT: Final = "reasoning_content"
CARRIER_REASONING: Final = "reasoning"
CARRIER_THINKING: Final = "thinking"
CARRIER_THINK: Final = "<think> in content"
CARRIER_CHANNEL: Final = "analysis channel in content"
FIELD_CARRIERS: Final = (CARRIER_REASONING_CONTENT, CARRIER_REASONING, CARRIER_THINKING)
INLINE_CARRIERS: Final = (CARRIER_THINK, CARRIER_CHANNEL)

LOOP: Final = "loop"
NUDGED: Final = "nudged"

ARGS_DICT: Final = "dict"
ARGS_JSON: Final = "JSON string"

CHANNEL_TOKEN: Final = "<|channel|>"
"""A harmony (gpt-oss) template names its channels with this token."""

TOOL: Final[dict[str, Any]] = {
    "type": "function",
    "function": {
        "name": "probe_lookup",
        "description": "Look something up.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
}

# Inline tags and their neutral spellings, which no template parses.
_NEUTRAL: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    CARRIER_THINK: (("<think>", "[[think]]"), ("</think>", "[[/think]]")),
    CARRIER_CHANNEL: (("<|", "[[|"), ("|>", "|]]")),
}


@dataclass(frozen=True, slots=True)
class _Assistant:
    number: int
    reasoning: str
    text: str
    call: tuple[str, str, str] | None  # (call id, argument marker, result marker)


ASSISTANTS: Final = (
    _Assistant(1, "REASONING_MARK_ONE", "", ("call_probe_1", "ARG_MARK_ONE", "RESULT_MARK_ONE")),
    _Assistant(2, "REASONING_MARK_TWO", "TEXT_MARK_TWO", None),
    _Assistant(3, "REASONING_MARK_THREE", "", ("call_probe_3", "ARG_MARK_THREE", "RESULT_MARK_THREE")),
    _Assistant(4, "REASONING_MARK_FOUR", "", ("call_probe_4", "ARG_MARK_FOUR", "RESULT_MARK_FOUR")),
)
ARGUMENT_MARKERS: Final = tuple(a.call[1] for a in ASSISTANTS if a.call is not None)
RESULT_MARKERS: Final = tuple(a.call[2] for a in ASSISTANTS if a.call is not None)


@dataclass(frozen=True, slots=True)
class Position:
    """Where one assistant message sits in one of the two conversations."""

    conversation: str
    number: int
    index: int
    marker: str
    after_last_user: bool
    after_last_final: bool
    place: str

    @property
    def label(self) -> str:
        return f"assistant {self.number}"

    @property
    def in_current_loop(self) -> bool:
        """A3 and A4: the tool loop of the task in progress, whose reasoning must survive."""
        return self.number >= 3


def carriers_for(source: str) -> tuple[str, ...]:
    """The carriers worth trying on a template: the analysis channel only where channels exist."""
    inline = INLINE_CARRIERS if CHANNEL_TOKEN in source else (CARRIER_THINK,)
    return FIELD_CARRIERS + inline


def _places(conversation: str) -> dict[int, str]:
    loop_three = "current loop" if conversation == LOOP else "loop, user turn next"
    loop_four = "current loop" if conversation == LOOP else "loop, after user turn"
    return {
        1: "earlier task, call",
        2: "earlier task, answer",
        3: loop_three,
        4: loop_four,
    }


def messages(
    conversation: str, carrier: str, arguments: str = ARGS_DICT, *, neutral: int | None = None
) -> list[dict[str, Any]]:
    """The conversation as OpenAI-style message dicts, reasoning carried by ``carrier``, tool-call
    arguments as a dict or a JSON string; ``neutral`` spells assistant ``neutral``'s inline tags so
    no template parses them."""
    out: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a helpful assistant. SYSTEM_MARK"},
        {"role": "user", "content": "First task, needs the tool. USER_MARK_ONE"},
    ]
    for assistant in ASSISTANTS:
        if assistant.number == 3:
            out.append({"role": "user", "content": "Second task, needs the tool. USER_MARK_TWO"})
        if assistant.number == 4 and conversation == NUDGED:
            out.append({"role": "user", "content": "Please go on. USER_MARK_NUDGE"})
        out.append(_assistant_message(assistant, carrier, arguments, neutral == assistant.number))
        if assistant.call is not None:
            call_id, _, result = assistant.call
            out.append({"role": "tool", "tool_call_id": call_id, "name": "probe_lookup", "content": result})
    return out


def _assistant_message(assistant: _Assistant, carrier: str, arguments: str, neutral: bool) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant"}
    if carrier in FIELD_CARRIERS:
        message["content"] = assistant.text
        message[carrier] = assistant.reasoning
    elif carrier == CARRIER_THINK:
        message["content"] = f"<think>{assistant.reasoning}</think>{assistant.text}"
    elif carrier == CARRIER_CHANNEL:
        content = f"<|channel|>analysis<|message|>{assistant.reasoning}<|end|>"
        if assistant.text:
            content += f"<|start|>assistant<|channel|>final<|message|>{assistant.text}"
        message["content"] = content
    else:
        raise ValueError(f"unknown carrier {carrier!r}; known: {', '.join(FIELD_CARRIERS + INLINE_CARRIERS)}")
    if neutral and carrier in _NEUTRAL:
        for tag, twin in _NEUTRAL[carrier]:
            message["content"] = message["content"].replace(tag, twin)
    if assistant.call is not None:
        call_id, argument, _ = assistant.call
        value: dict[str, str] | str = {"query": argument}
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {
                    "name": "probe_lookup",
                    "arguments": json.dumps(value, ensure_ascii=False) if arguments == ARGS_JSON else value,
                },
            }
        ]
    return message


def restore_tags(prompt: str, carrier: str) -> str:
    """A prompt rendered from a neutral twin with the real tags put back."""
    for tag, twin in _NEUTRAL.get(carrier, ()):
        prompt = prompt.replace(twin, tag)
    return prompt


def positions(conversation: str) -> tuple[Position, ...]:
    """The four assistant messages of ``conversation``, in order."""
    sample = messages(conversation, CARRIER_REASONING_CONTENT)
    last_user = max(i for i, m in enumerate(sample) if m["role"] == "user")
    assistants = [i for i, m in enumerate(sample) if m["role"] == "assistant"]
    last_final = next(i for i, m in zip(assistants, ASSISTANTS, strict=True) if m.call is None)
    places = _places(conversation)
    return tuple(
        Position(
            conversation=conversation,
            number=assistant.number,
            index=index,
            marker=assistant.reasoning,
            after_last_user=index > last_user,
            after_last_final=index > last_final,
            place=places[assistant.number],
        )
        for index, assistant in zip(assistants, ASSISTANTS, strict=True)
    )
