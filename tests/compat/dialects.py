"""The upstream dialects the scripted model speaks, and the gateway flags that front each of them.

A dialect is where a model server puts its thinking and where it wants it back (docs/gateway.md,
"How restoration works"). Each has one wire API; an app can reach it directly only when it speaks
that API itself, and through the gateway from any API the gateway serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

WireApi = Literal["anthropic", "openai-chat", "openai-responses"]


@dataclass(frozen=True)
class Dialect:
    """One kind of upstream.

    ``profile`` and ``gateway_flags`` are what ``interleaf serve`` needs in front of it (``None``:
    the gateway has no profile for this upstream yet, so only direct runs are possible).
    ``field`` is the Chat message field the thinking travels in (``content`` for inline ``<think>``).
    """

    name: str
    api: WireApi
    profile: str | None
    gateway_flags: tuple[str, ...] = ()
    field: str = ""
    signed: bool = False
    """The dialect carries an opaque token next to the text (a signature, ``encrypted_content``)."""
    label: str = ""
    model: str = "compat-model"
    """The model name apps are configured with: a real one of such an upstream, because apps decide
    by name (openai-agents replays ``reasoning_content`` only to names containing "deepseek",
    pydantic-ai sends Responses reasoning items only to OpenAI reasoning models)."""


DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect(
            "anthropic",
            "anthropic",
            "anthropic",
            signed=True,
            label="Anthropic thinking + signature",
            model="claude-sonnet-4-6",
        ),
        Dialect(
            "reasoning_content",
            "openai-chat",
            "deepseek",
            field="reasoning_content",
            label="Chat reasoning_content (deepseek)",
            model="deepseek-chat",
        ),
        Dialect(
            "reasoning",
            "openai-chat",
            "vllm",
            field="reasoning",
            label="Chat reasoning (vllm)",
            model="gpt-oss-120b",
        ),
        Dialect(
            "reasoning_details",
            "openai-chat",
            "minimax-openai",
            field="reasoning_details",
            label="Chat reasoning_details (minimax-openai)",
            model="MiniMax-M2.7",
        ),
        Dialect(
            "think_tags",
            "openai-chat",
            "vllm",
            ("--thinking-dialect", "think_tags"),
            field="content",
            label="Chat inline <think> (vllm, think_tags)",
            model="MiniMax-M2.7",
        ),
        Dialect(
            "responses",
            "openai-responses",
            "openai-responses",
            signed=True,
            label="Responses encrypted_content",
            model="gpt-5",
        ),
    )
}
