"""What a rule is: a named check over one conversation, with an action and documented parameters."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from interleaf.transcript import Conversation, ToolResult

Action = Literal["drop", "flag", "scrub", "off"]
ACTIONS: tuple[Action, ...] = ("drop", "flag", "scrub", "off")

Check = Callable[[Conversation, Mapping[str, Any]], list[str]]
"""A rule's check: one short detail per problem found (``messages[3]: …``); empty when it holds."""


@dataclass(frozen=True, slots=True)
class RuleDef:
    """A built-in rule: what it checks (``description``, shown by ``interleaf data rules``), its
    default action and its parameters with their defaults."""

    name: str
    check: Check
    description: str
    action: Action = "drop"
    params: Mapping[str, Any] = field(default_factory=dict)
    actions: tuple[Action, ...] = ("drop", "flag", "off")


@dataclass(frozen=True, slots=True)
class Hit:
    rule: str
    action: Action
    detail: str


# Signs that a tool result is an error, read from its first lines when the wire did not say.
ERROR_SIGNS = re.compile(
    r"Traceback \(most recent call last\)|^\w*(?:Error|Exception)\b[:(]|\berror:|\bERROR\b|"
    r"command not found|No such file or directory|Permission denied|"
    r"exit(?:ed)?(?: with)? (?:code|status) [1-9]|returned non-zero|\bFAILED\b|\b[1-9]\d* failed\b",
    re.MULTILINE,
)

# Words with which a step shows it noticed a failure.
ACKNOWLEDGE = re.compile(
    r"\b(?:error|errors|fail|fails|failed|failing|failure|wrong|fix|fixing|retry|instead|missing|"
    r"not found|doesn't exist|does not exist|issue|problem|mistake|typo|permission|denied|exception|"
    r"traceback|bug|broke|broken|can't|cannot|couldn't|unable|didn't work|did not work|oops|hmm)\b",
    re.IGNORECASE,
)


def is_error_result(result: ToolResult) -> bool:
    """Whether a tool result reports a failure: the wire's ``is_error``, else the signs in its text."""
    if result.is_error is not None:
        return result.is_error
    return bool(ERROR_SIGNS.search(result.text[:2000]))


def first_line(text: str, limit: int = 80) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"
