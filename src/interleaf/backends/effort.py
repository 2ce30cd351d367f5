"""How much to think, said the portable way (``reasoning_effort``), as an Anthropic-API server takes it.

OpenAI-style callers say how hard the model should think with one word (``reasoning_effort``:
``none``, ``minimal``, ``low``, ``medium``, ``high``, ``xhigh``, ``max``). Anthropic-API servers have no
such field: thinking is off unless ``thinking`` turns it on, and *how* depends on the model
(docs/architecture.md §4.1):

* Claude 4.6 and later (Opus 4.7, the 5 family, Mythos) take ``{"type": "adaptive"}`` with
  ``output_config.effort`` (``low``, ``medium``, ``high``); from Opus 4.7 on, ``{"type": "enabled"}``
  is refused with a 400, and the thinking text comes back only with ``"display": "summarized"``.
* Claude 4.5 and earlier know only ``{"type": "enabled", "budget_tokens": N}`` (N >= 1024), and refuse
  ``adaptive``.
* MiniMax M3 on its ``/anthropic`` API takes ``adaptive`` and does not think when ``thinking`` is
  omitted; M2.x thinks on every request whatever is sent, so nothing is sent to it.
* Any other model behind an Anthropic-compatible API (DeepSeek's, Kimi's, GLM's) gets the manual form,
  the one those servers emulate.

:func:`anthropic_thinking` makes that choice once, for the agent's modes, the probes and the gateway
(an OpenAI Chat or Responses app in front of an Anthropic-API upstream) alike.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from interleaf.transcript import Conversation, JSONDict, ToolChoice

MIN_BUDGET = 1024
"""Anthropic's smallest ``budget_tokens``."""

BUDGETS: Mapping[str, int] = {
    "minimal": MIN_BUDGET,
    "low": 2048,
    "medium": 8192,
    "high": 16000,
    "xhigh": 32000,
    "max": 32000,
}
"""``budget_tokens`` for each effort, for models that take a budget."""

_ADAPTIVE_EFFORT: Mapping[str, str] = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    # Anthropic's own "max" exists on some models only: the most every adaptive model takes is "high".
    "xhigh": "high",
    "max": "high",
}

OPENAI_EFFORTS = ("low", "medium", "high")
"""The effort words every OpenAI reasoning model and every server reading ``reasoning_effort`` takes
(``minimal``, ``none``, ``xhigh`` and ``max`` exist on some models only)."""

# Anthropic budget_tokens -> an effort word: the smallest effort whose budget (BUDGETS, reversed) covers it.
_BUDGET_EFFORT = ((BUDGETS["low"], "low"), (BUDGETS["medium"], "medium"))

# "claude-opus-4-7", "anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-opus-5", "claude-mythos-preview".
# A minor version is one or two digits: the "-20250514" of "claude-sonnet-4-20250514" is a date.
_CLAUDE = re.compile(r"claude-(?P<family>[a-z]+)(?:-(?P<major>\d{1,2})(?:-(?P<minor>\d{1,2}))?(?!\d))?")
# The naming before Claude 4 put the version first: "claude-3-7-sonnet", "claude-3-5-haiku".
_CLAUDE_BEFORE_4 = re.compile(r"claude-\d")
_MINIMAX = re.compile(r"minimax-m(?P<major>\d+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class AnthropicThinking:
    """The request fields that ask an Anthropic-API server for thinking."""

    thinking: JSONDict
    output_config: JSONDict | None = None


def takes_adaptive(model: str) -> bool | None:
    """Whether ``model`` takes ``adaptive`` thinking (True), only a budget (False), or thinks without
    being asked and is sent nothing (None: MiniMax M2.x)."""
    minimax = _MINIMAX.search(model)
    if minimax is not None:
        return None if int(minimax["major"]) < 3 else True
    version = _claude_version(model)
    # Another vendor's Anthropic-compatible API (version None) gets the form they all emulate.
    return version is not None and version >= (4, 6)


@functools.lru_cache(maxsize=256)
def _claude_version(model: str) -> tuple[int, int] | None:
    """A Claude model's (major, minor); None for another vendor's model. Families without a number
    (``claude-mythos-preview``) count as newer than any numbered one. Cached: the gateway asks on
    requests it passes through."""
    name = model.lower()
    if _CLAUDE_BEFORE_4.search(name):
        return (3, 0)
    claude = _CLAUDE.search(name)
    if claude is None:
        return None
    if claude["major"] is None:
        return (99, 0)
    return (int(claude["major"]), int(claude["minor"] or 0))


def refuses_sampling(model: str) -> bool:
    """Whether ``model`` refuses ``temperature``, ``top_p`` and ``top_k`` (Claude Opus 4.7 and later:
    "`temperature` is deprecated for this model.", a 400)."""
    version = _claude_version(model)
    return version is not None and version >= (4, 7)


def refuses_budget(model: str) -> bool:
    """Whether ``model`` refuses ``{"type": "enabled", "budget_tokens": N}`` (Claude Opus 4.7 and
    later: '"thinking.type.enabled" is not supported for this model', a 400)."""
    version = _claude_version(model)
    return version is not None and version >= (4, 7)


def adaptive_for_budget(model: str, thinking: Any) -> AnthropicThinking | None:
    """A budget ``thinking`` setting, for a model that refuses one, as the adaptive setting asking
    about as much (the budget's effort word; the text shown, as a budget showed it); None when the
    setting is not a budget or the model takes it. ``llm`` sends a budget to every Claude model."""
    if not isinstance(thinking, Mapping) or thinking.get("type") != "enabled" or not refuses_budget(model):
        return None
    effort = effort_word(thinking, None)
    return AnthropicThinking(
        {"type": "adaptive", "display": "summarized"}, {"effort": effort} if effort is not None else None
    )


def omits_thinking_text(model: str) -> bool:
    """Whether ``model`` returns its thinking blocks empty (signature only) unless ``display:
    "summarized"`` asks for the text (Claude Opus 4.7 and later, Mythos). Whoever asked for thinking
    through interleaf (the agent, an OpenAI-format app showing reasoning) gets the text."""
    version = _claude_version(model)
    return version is not None and version >= (4, 7)


@functools.lru_cache(maxsize=256)
def interleaves_unasked(model: str) -> bool:
    """Whether ``model`` thinks between tool calls without the ``interleaved-thinking-2025-05-14`` beta
    (adaptive thinking interleaves by itself; Bedrock refuses the beta for Opus 4.7 as an invalid flag).
    Cached: the gateway asks on every request."""
    return takes_adaptive(model) is True


def anthropic_thinking(model: str, effort: str, *, max_tokens: int | None = None) -> AnthropicThinking | None:
    """The fields asking ``model`` to think with ``effort``; None when nothing is to be sent (``none``,
    an unknown effort word, or a model that thinks without being asked).

    A budget stays below ``max_tokens`` where it can (Anthropic requires it unless interleaved thinking
    is on), and never below :data:`MIN_BUDGET`.
    """
    if effort not in BUDGETS:
        return None
    adaptive = takes_adaptive(model)
    if adaptive is None:
        return None
    if adaptive:
        # MiniMax documents no effort for M3: it gets thinking on, and decides how much itself.
        if _MINIMAX.search(model) is not None:
            return AnthropicThinking({"type": "adaptive"})
        thinking: JSONDict = {"type": "adaptive"}
        if omits_thinking_text(model):
            thinking["display"] = "summarized"
        return AnthropicThinking(thinking, {"effort": _ADAPTIVE_EFFORT[effort]})
    budget = BUDGETS[effort]
    if max_tokens is not None:
        budget = max(MIN_BUDGET, min(budget, max_tokens - 1))
    return AnthropicThinking({"type": "enabled", "budget_tokens": budget})


def thinking_conflict(model: str, params: Mapping[str, Any], tool_choice: ToolChoice | None) -> str | None:
    """Why thinking cannot be turned on for a request with these settings (Anthropic refuses thinking
    with a ``temperature`` other than 1, a ``top_k``, a ``top_p`` under 0.95, or a forced tool), or None.

    The gateway then leaves thinking off, as the request would have gone without it: an app's own
    settings are never changed. MiniMax's ``/anthropic`` has none of these rules (it ignores ``top_k``,
    which its recommended sampling sets)."""
    if _MINIMAX.search(model) is not None:
        return None
    temperature = params.get("temperature")
    if temperature is not None and temperature != 1:
        return f"temperature {temperature}"
    if params.get("top_k") is not None:
        return "top_k"
    top_p = params.get("top_p")
    if isinstance(top_p, int | float) and top_p < 0.95:
        return f"top_p {top_p}"
    if tool_choice is not None and tool_choice.mode not in ("auto", "none"):
        return f"tool_choice {tool_choice.mode}"
    return None


def unthought_tool_turn(conversation: Conversation) -> int | None:
    """The index of an assistant turn of the current tool loop (after the last user message) that calls
    a tool without thinking, or None.

    With a thinking budget, Anthropic requires such a turn to start with its thinking block (a 400
    otherwise): a loop that began with thinking off (the app switched its effort, or a turn's thinking
    is gone) must go on without it. Adaptive models decide per turn whether to think, so a turn
    without thinking is theirs to send."""
    for index in range(conversation.last_user_index + 1, len(conversation.messages)):
        message = conversation.messages[index]
        if message.role == "assistant" and message.tool_calls and not message.thinking:
            return index
    return None


def effort_word(thinking: Any, output_config: Any) -> str | None:
    """The other way: Anthropic's thinking setting (and ``output_config``) as an OpenAI effort word, or
    None when it names none (thinking off, adaptive without an effort: the model's default applies)."""
    if not isinstance(thinking, Mapping) or thinking.get("type") not in ("enabled", "adaptive"):
        return None
    effort = output_config.get("effort") if isinstance(output_config, Mapping) else None
    if isinstance(effort, str):
        return effort if effort in OPENAI_EFFORTS else "high"  # xhigh, max: the most all of them take
    budget = thinking.get("budget_tokens")
    if thinking.get("type") == "enabled" and isinstance(budget, int):
        return next((word for limit, word in _BUDGET_EFFORT if budget <= limit), "high")
    return None
