"""The cleaning rules: every rule named, configurable, and counted in the clean report.

Each rule checks one conversation and returns a detail per problem. Its action decides what
happens to a row it hits: ``drop`` (the row goes to ``rejected.parquet`` with the reason), ``flag``
(kept, the hit recorded in ``rule_hits``), ``scrub`` (secrets only: replaced in place) or ``off``.
``interleaf data rules`` lists them with their defaults; docs/data.md explains each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interleaf.data import text as tx
from interleaf.data.rules.answer import answer_contradicts_tools, language_mixing, length_out_of_range
from interleaf.data.rules.base import Action, Hit, RuleDef
from interleaf.data.rules.config import RulesConfig, load_rules_config
from interleaf.data.rules.secrets import KINDS, Scrubber
from interleaf.data.rules.steps import (
    error_unhandled,
    repeated_steps,
    tool_call_invalid_json,
    tool_call_unknown,
)
from interleaf.data.rules.thinking import (
    redundant_thinking,
    thinking_absent,
    thinking_empty,
    thinking_truncated,
    thinking_unbalanced,
)
from interleaf.transcript import Conversation

__all__ = ["BUILTIN", "SECRETS", "Hit", "RuleDef", "RuleSet", "RulesConfig", "load_rules_config"]

SECRETS = "secrets"


def _no_check(conversation: Conversation, params: Mapping[str, Any]) -> list[str]:
    return []  # secrets are found by the Scrubber, which RuleSet drives directly


BUILTIN: dict[str, RuleDef] = {
    rule.name: rule
    for rule in (
        RuleDef(
            "thinking-unbalanced",
            thinking_unbalanced,
            "stray <think> tags, or steps without thinking among steps with it",
            params={"require_every_step": True},
        ),
        RuleDef("thinking-empty", thinking_empty, "thinking blocks with no text"),
        RuleDef("thinking-absent", thinking_absent, "no thinking in any assistant message"),
        RuleDef(
            "thinking-truncated",
            thinking_truncated,
            "thinking cut off (ends the trajectory, an open code fence, a dangling clause)",
        ),
        RuleDef(
            "repeated-steps",
            repeated_steps,
            "loops: the same call again and again, repeated thinking",
            params={"max_consecutive": 3, "max_total": 5, "max_line_repeats": 3},
        ),
        RuleDef(
            "language-mixing",
            language_mixing,
            "thinking or answer partly in a script the task does not use",
            params={"max_share": 0.1, "min_letters": 20},
        ),
        RuleDef(
            "tool-call-invalid-json", tool_call_invalid_json, "tool-call arguments that are not a JSON object"
        ),
        RuleDef("tool-call-unknown", tool_call_unknown, "calls of tools the conversation does not declare"),
        RuleDef("error-unhandled", error_unhandled, "a failed tool call the next step ignores"),
        RuleDef(
            "answer-contradicts-tools",
            answer_contradicts_tools,
            "a final answer at odds with the last tool results",
        ),
        RuleDef(
            SECRETS,
            _no_check,
            "secrets and personal data (scrubbed by default)",
            action="scrub",
            params={"kinds": list(KINDS)},
            actions=("scrub", "drop", "flag", "off"),
        ),
        RuleDef(
            "redundant-thinking",
            redundant_thinking,
            "thinking that mostly restates the tool output",
            params={"max_ratio": 0.6, "min_words": 15, "shingle": 4},
        ),
        RuleDef(
            "length-out-of-range",
            length_out_of_range,
            "too short or too long (tokens, steps, one thinking block)",
            params={"min_tokens": 16, "max_tokens": 131_072, "max_steps": 200, "max_thinking_tokens": 32_768},
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Checked:
    """What the rules made of one conversation."""

    conversation: Conversation
    hits: list[Hit] = field(default_factory=list)
    scrubbed: int = 0

    @property
    def dropped_by(self) -> list[str]:
        """The rules (in order) whose action dropped the row."""
        names: list[str] = []
        for hit in self.hits:
            if hit.action == "drop" and hit.rule not in names:
                names.append(hit.rule)
        return names


class RuleSet:
    """The built-in rules with the configured actions and parameters, plus custom pattern rules."""

    def __init__(self, config: RulesConfig | None = None) -> None:
        self.config = config or RulesConfig()
        self.rules: list[tuple[RuleDef, Action, dict[str, Any]]] = []
        for name, definition in BUILTIN.items():
            settings = dict(self.config.rules.get(name, {}))
            action: Action = settings.pop("action", definition.action)
            self.rules.append((definition, action, {**definition.params, **settings}))

    @classmethod
    def from_file(cls, path: Path | None) -> RuleSet:
        return cls(None if path is None else load_rules_config(path, BUILTIN))

    def settings(self) -> dict[str, dict[str, Any]]:
        """Every rule's action and parameters in force (for the report and ``interleaf data rules``)."""
        out = {d.name: {"action": a, **p} for d, a, p in self.rules}
        for custom in self.config.custom:
            out[custom.name] = {
                "action": custom.action,
                "pattern": custom.pattern.pattern,
                "where": custom.where,
            }
        return out

    def names(self) -> list[str]:
        return [d.name for d, _, _ in self.rules] + [c.name for c in self.config.custom]

    def apply(self, conversation: Conversation) -> Checked:
        """Run every rule that is not off; scrub secrets first, so later rules see scrubbed text."""
        hits: list[Hit] = []
        scrubbed = 0
        for definition, action, params in self.rules:
            if action == "off":
                continue
            if definition.name == SECRETS:
                scrubber = Scrubber(params["kinds"])
                if action == "scrub":
                    conversation = scrubber.conversation(conversation)
                    found = scrubber.counts
                    scrubbed = sum(found.values())
                else:
                    found = scrubber.find("\n".join(tx.iter_texts(conversation)))
                if found:
                    listed = ", ".join(f"{kind}×{count}" for kind, count in sorted(found.items()))
                    hits.append(Hit(SECRETS, action, listed))
                continue
            for detail in definition.check(conversation, params):
                hits.append(Hit(definition.name, action, detail))
        for custom in self.config.custom:
            if custom.action == "off":
                continue
            for where, text in _places(conversation, custom.where):
                match = custom.pattern.search(text)
                if match is not None:
                    hits.append(
                        Hit(custom.name, custom.action, f"{where}: matches {tx.clip(match.group(0), 60)!r}")
                    )
                    break
        return Checked(conversation, hits, scrubbed)


def _places(conversation: Conversation, where: str) -> list[tuple[str, str]]:
    places: list[tuple[str, str]] = []
    if where in ("task", "any"):
        places.append(("task", tx.task_text(conversation)))
    if where in ("thinking", "any"):
        places.extend((f"messages[{s.message}] thinking", s.text) for s in tx.thinking_spans(conversation))
    if where in ("answer", "any"):
        places.append(("answer", tx.final_answer(conversation)))
    if where in ("text", "any"):
        places.extend(
            (f"messages[{i}] text", m.text)
            for i, m in enumerate(conversation.messages)
            if m.role == "assistant"
        )
    if where in ("tool_results", "any"):
        places.extend((f"messages[{i}] result", r.text) for i, r in tx.tool_results(conversation))
    return places
