"""The ``--rules`` file: per-rule actions and parameters, and custom pattern rules.

TOML (or the same structure in JSON)::

    [rules.redundant-thinking]
    action = "flag"          # drop | flag | off  (secrets: scrub | drop | flag | off)
    max_ratio = 0.5

    [rules.length-out-of-range]
    max_tokens = 64000

    [[custom]]
    name = "as-an-ai"
    pattern = "(?i)as an ai language model"
    where = "answer"         # task | thinking | answer | text | tool_results | any
    action = "drop"

Unknown rule names, parameters and actions are errors naming the file and the key, so a typo
never silently disables a rule.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from interleaf.data.errors import RulesConfigError
from interleaf.data.rules.base import ACTIONS, Action, RuleDef

WHERE = ("task", "thinking", "answer", "text", "tool_results", "any")


@dataclass(frozen=True, slots=True)
class CustomRule:
    name: str
    pattern: re.Pattern[str]
    where: str
    action: Action


@dataclass(frozen=True, slots=True)
class RulesConfig:
    """Settings that differ from the built-in defaults, and custom rules."""

    rules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    custom: tuple[CustomRule, ...] = ()
    source: str = "defaults"


def load_rules_config(path: Path, builtin: Mapping[str, RuleDef]) -> RulesConfig:
    """Read and validate a rules file against the built-in rules."""
    try:
        raw_text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesConfigError(f"{path}: cannot read the rules file ({exc.strerror or exc})") from None
    try:
        data = json.loads(raw_text) if path.suffix == ".json" else tomllib.loads(raw_text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise RulesConfigError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'} ({exc})"
        ) from None
    return parse_rules_config(data, builtin, source=str(path))


def parse_rules_config(data: Any, builtin: Mapping[str, RuleDef], *, source: str) -> RulesConfig:
    if not isinstance(data, dict):
        raise RulesConfigError(f"{source}: expected a table with [rules.NAME] and [[custom]] entries")
    unknown = set(data) - {"rules", "custom"}
    if unknown:
        raise RulesConfigError(
            f"{source}: unknown key(s) {', '.join(sorted(unknown))}; use [rules.NAME] or [[custom]]"
        )
    rules: dict[str, dict[str, Any]] = {}
    for name, settings in dict(data.get("rules", {})).items():
        where = f"{source}: [rules.{name}]"
        definition = builtin.get(name)
        if definition is None:
            raise RulesConfigError(f"{where}: no such rule; rules: {', '.join(builtin)}")
        if not isinstance(settings, dict):
            raise RulesConfigError(f"{where}: expected a table of settings")
        checked: dict[str, Any] = {}
        for key, value in settings.items():
            if key == "action":
                if value not in definition.actions:
                    raise RulesConfigError(
                        f"{where}.action: {value!r}; use one of {', '.join(definition.actions)}"
                    )
                checked[key] = value
            elif key not in definition.params:
                known = ", ".join(definition.params) or "none"
                raise RulesConfigError(f"{where}.{key}: no such parameter (parameters: {known}, action)")
            elif not _same_kind(value, definition.params[key]):
                expected = type(definition.params[key]).__name__
                raise RulesConfigError(f"{where}.{key}: expected {expected}, got {value!r}")
            else:
                checked[key] = value
        rules[name] = checked
    custom = tuple(_custom(entry, i, source, builtin) for i, entry in enumerate(data.get("custom", [])))
    names = [rule.name for rule in custom]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RulesConfigError(f"{source}: custom rule name(s) used twice: {', '.join(duplicates)}")
    return RulesConfig(rules=rules, custom=custom, source=source)


def _same_kind(value: Any, default: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int | float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, list | tuple):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, type(default))


def _custom(entry: Any, index: int, source: str, builtin: Mapping[str, RuleDef]) -> CustomRule:
    where = f"{source}: [[custom]] #{index + 1}"
    if not isinstance(entry, dict):
        raise RulesConfigError(f"{where}: expected a table with name, pattern, where, action")
    name, pattern = entry.get("name"), entry.get("pattern")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise RulesConfigError(f"{where}.name: a lower-case name with dashes, e.g. 'as-an-ai'")
    if name in builtin:
        raise RulesConfigError(
            f"{where}.name: {name!r} is a built-in rule; configure it under [rules.{name}]"
        )
    if not isinstance(pattern, str):
        raise RulesConfigError(f"{where}.pattern: a regular expression string is required")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise RulesConfigError(f"{where}.pattern: not a valid regular expression ({exc})") from None
    place = entry.get("where", "any")
    if place not in WHERE:
        raise RulesConfigError(f"{where}.where: {place!r}; use one of {', '.join(WHERE)}")
    action = entry.get("action", "drop")
    if action not in ACTIONS or action == "scrub":
        raise RulesConfigError(f"{where}.action: {action!r}; use drop, flag or off")
    extra = set(entry) - {"name", "pattern", "where", "action"}
    if extra:
        raise RulesConfigError(f"{where}: unknown key(s) {', '.join(sorted(extra))}")
    return CustomRule(name=name, pattern=compiled, where=place, action=cast(Action, action))
