"""Naming a template's rule from which assistant messages kept their reasoning.

Over the two probe conversations (:mod:`interleaf.probe.template_conversations`) the rules leave
these patterns for assistants 1-4 (K kept, D dropped)::

    rule                           loop   nudged
    keeps all                      KKKK   KKKK
    after the last user message    DDKK   DDDK    MiniMax-M2, Qwen3, GLM
    after the last final answer    DDKK   DDKK    Kimi-K2-Thinking, gpt-oss (harmony)
    drops all                      DDDD   DDDD

Reasoning that reaches the prompt only as plain text is ``rendered verbatim (not parsed)``; anything
else is ``irregular`` and says which messages kept it.
"""

from __future__ import annotations

from collections.abc import Sequence

from interleaf.probe.template_conversations import LOOP, NUDGED
from interleaf.probe.template_results import MessageVerdict, Survival

__all__ = [
    "RULE_AFTER_FINAL",
    "RULE_AFTER_USER",
    "RULE_ALL",
    "RULE_ERROR",
    "RULE_NONE",
    "RULE_VERBATIM",
    "classify",
]

RULE_ALL = "keeps all"
RULE_AFTER_USER = "after the last user message"
RULE_AFTER_FINAL = "after the last final answer"
RULE_NONE = "drops all"
RULE_VERBATIM = "rendered verbatim (not parsed)"
RULE_ERROR = "error"

_K, _D = Survival.KEPT, Survival.DROPPED
_PATTERNS: dict[tuple[tuple[Survival, ...], tuple[Survival, ...]], str] = {
    ((_D, _D, _K, _K), (_D, _D, _D, _K)): RULE_AFTER_USER,
    ((_D, _D, _K, _K), (_D, _D, _K, _K)): RULE_AFTER_FINAL,
}


def _names(messages: Sequence[MessageVerdict]) -> str:
    numbers = [str(m.number) for m in messages]
    if not numbers:
        return "none"
    if len(numbers) == 1:
        return f"assistant {numbers[0]}"
    return f"assistants {', '.join(numbers[:-1])} and {numbers[-1]}"


def classify(messages: Sequence[MessageVerdict]) -> tuple[str, tuple[str, ...]]:
    """The rule the verdicts show, and the facts that prove it (one sentence each)."""
    loop = [m for m in messages if m.conversation == LOOP]
    nudged = [m for m in messages if m.conversation == NUDGED]
    errors = [m for m in messages if m.survival is Survival.ERROR]
    if errors:
        if len(errors) == len(messages):
            return RULE_ERROR, (f"the template raised: {errors[0].detail}",)
        broken = ", ".join(dict.fromkeys(f"the {m.conversation} conversation" for m in errors))
        return f"unknown: {broken} raised", tuple(dict.fromkeys(m.detail for m in errors))
    survivals = [m.survival for m in messages]
    if all(s is Survival.KEPT for s in survivals):
        return RULE_ALL, (
            f"{_names(loop[:2])} of the earlier task keep it too, though a user message follows them",
        )
    if all(s is Survival.DROPPED for s in survivals):
        return RULE_NONE, (f"even the current tool loop ({_names(loop[2:])}) loses it",)
    if Survival.VERBATIM in survivals and Survival.KEPT not in survivals:
        shown = [m for m in loop if m.survival is Survival.VERBATIM]
        return RULE_VERBATIM, (
            f"{_names(shown)} show it as plain text: the prompt is the same when the tags are spelled "
            "otherwise, so the model sees it outside its own format",
        )
    pattern = (tuple(m.survival for m in loop), tuple(m.survival for m in nudged))
    rule = _PATTERNS.get(pattern)
    if rule == RULE_AFTER_USER:
        return rule, (
            f"the current tool loop ({_names(loop[2:])}) keeps it, the earlier task ({_names(loop[:2])}) "
            "does not",
            "a user message after assistant 3 drops assistant 3's reasoning (nudged conversation)",
        )
    if rule == RULE_AFTER_FINAL:
        return rule, (
            f"the current tool loop ({_names(loop[2:])}) keeps it, even with a user message after "
            "assistant 3 (nudged conversation)",
            "assistant 1, a tool call before the final answer (assistant 2), loses it",
        )
    return "irregular: " + _describe(loop, nudged), ()


def _describe(loop: Sequence[MessageVerdict], nudged: Sequence[MessageVerdict]) -> str:
    parts = []
    for name, group in ((LOOP, loop), (NUDGED, nudged)):
        kept = [m for m in group if m.survival is Survival.KEPT]
        verbatim = [m for m in group if m.survival is Survival.VERBATIM]
        text = f"{name}: kept by {_names(kept)}"
        if verbatim:
            text += f", verbatim in {_names(verbatim)}"
        parts.append(text)
    return "; ".join(parts)
