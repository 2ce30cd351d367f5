"""JSON-shaped tool calls for :mod:`interleaf.wire.textcalls`: which objects are calls, and their errors."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from interleaf.transcript import JSONDict, ToolSpec
from interleaf.wire.toolcalls import ToolCallParseError

__all__ = [
    "CallOutcome",
    "FoundCall",
    "Tools",
    "call_batch",
    "invalid_arguments",
    "json_error",
    "named_in",
    "read_values",
]


@dataclass(frozen=True, slots=True)
class FoundCall:
    """A call read from text. ``problem`` is set when it cannot run as written (an unknown tool,
    unreadable arguments); ``raw_arguments`` then holds the text that could not be read as arguments."""

    name: str
    arguments: JSONDict
    raw_arguments: str | None = None
    problem: str | None = None


CallOutcome: TypeAlias = FoundCall | ToolCallParseError
"""A call (possibly with a problem), or text meant as a call from which no call could be made."""

_CALL_KEYS = frozenset({"name", "arguments", "parameters", "id", "type", "index"})
_OPENAI_ITEM_KEYS = frozenset({"function", "id", "type", "index"})
_WRAPPED_ARGUMENTS = ("arguments", "parameters", "args", "input")
_NAMED = re.compile(r'"(?:name|tool)"\s*:\s*"([^"\\\n]{1,100})"')


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


@dataclass(frozen=True, slots=True)
class Tools:
    """The tools a text may call, by name."""

    specs: tuple[ToolSpec, ...]
    names: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", frozenset(tool.name for tool in self.specs))

    def known(self, name: str) -> bool:
        return name in self.names

    def properties(self, name: str) -> frozenset[str]:
        for tool in self.specs:
            if tool.name == name and isinstance(tool.parameters, dict):
                properties = tool.parameters.get("properties")
                return frozenset(properties) if isinstance(properties, dict) else frozenset()
        return frozenset()

    def unknown(self, name: str) -> str | None:
        """The complaint about calling ``name``, or ``None`` when it is one of the tools."""
        if self.known(name):
            return None
        available = ", ".join(tool.name for tool in self.specs)
        return f"unknown tool {name!r}; " + (
            f"available tools: {available}" if available else "no tools are available"
        )

    def call(
        self, name: str, arguments: JSONDict, *, raw_arguments: str | None = None, problem: str | None = None
    ) -> FoundCall:
        """The call, with the unknown-tool complaint taking precedence over ``problem``."""
        return FoundCall(name, arguments, raw_arguments, self.unknown(name) or problem)


def read_values(
    text: str, start: int, *, limit: int | None = None
) -> tuple[list[Any], int, json.JSONDecodeError | None]:
    """JSON values one after another from ``start``, separated by whitespace or a comma.

    Returns the values, where the last one ended (``start`` if none), and the error that stopped the
    reading early (``None`` when it reached the end of ``text`` or ``limit``).
    """
    values: list[Any] = []
    position = end = start
    while limit is None or len(values) < limit:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        try:
            value, position = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            return values, end, exc
        except (ValueError, RecursionError) as exc:  # NaN/Infinity, over-long integers, deep nesting
            reason = "nesting too deep" if isinstance(exc, RecursionError) else str(exc)
            return values, end, json.JSONDecodeError(reason, text, position)
        values.append(value)
        end = position
        while position < len(text) and text[position].isspace():
            position += 1
        if position < len(text) and text[position] == ",":
            position += 1
    return values, end, None


def json_error(text: str, start: int, error: json.JSONDecodeError) -> str:
    """``error`` with its line and column counted from ``start``, where the call's JSON began."""
    pos = max(error.pos, start)
    line = text.count("\n", start, pos) + 1
    column = pos - start + 1 if line == 1 else pos - text.rfind("\n", start, pos)
    return f"{error.msg} at line {line} column {column}"


def named_in(text: str, start: int) -> str | None:
    """The tool a broken JSON call near ``start`` names (its ``"name"`` or ``"tool"``), if any."""
    match = _NAMED.search(text, start, start + 400)
    return match.group(1) if match else None


def call_batch(value: Any, tools: Tools, *, explicit: bool) -> list[CallOutcome] | None:
    """The calls a JSON value holds: an object, or a non-empty list of them; ``None`` if it is data.

    ``explicit`` is for values the model marked as calls (inside ``<tool_call>``, a ```` ```tool_call ````
    fence): there ``{"name": "shell", "command": "ls"}`` counts as a call with flat arguments too.
    """
    if isinstance(value, dict):
        outcome = _call_from_object(value, tools, explicit=explicit)
        return None if outcome is None else [outcome]
    if isinstance(value, list) and value:
        outcomes = [
            _call_from_object(v, tools, explicit=explicit) if isinstance(v, dict) else None for v in value
        ]
        if any(outcome is None for outcome in outcomes):
            return None
        return [outcome for outcome in outcomes if outcome is not None]
    return None


def _call_from_object(obj: JSONDict, tools: Tools, *, explicit: bool) -> CallOutcome | None:
    function = obj.get("function")
    if isinstance(function, dict) and set(obj) <= _OPENAI_ITEM_KEYS:
        obj, explicit = function, True
    name = obj.get("name")
    if isinstance(name, str) and name:
        has_arguments = "arguments" in obj or "parameters" in obj
        if has_arguments and (explicit or set(obj) <= _CALL_KEYS):
            raw = obj["arguments"] if "arguments" in obj else obj["parameters"]
            return _with_arguments(name, raw, tools)
        if explicit:
            return tools.call(name, {k: v for k, v in obj.items() if k not in ("name", "id", "type")})
        return None
    tool = obj.get("tool")
    if isinstance(tool, str) and tool:
        rest = {k: v for k, v in obj.items() if k != "tool"}
        if len(rest) == 1:
            ((key, inner),) = rest.items()
            if key in _WRAPPED_ARGUMENTS and isinstance(inner, dict) and key not in tools.properties(tool):
                rest = inner
        return tools.call(tool, rest)
    return None


def _with_arguments(name: str, raw: Any, tools: Tools) -> FoundCall:
    if raw is None:
        return tools.call(name, {})
    if isinstance(raw, dict):
        return tools.call(name, raw)
    if isinstance(raw, str):
        if not raw.strip():
            return tools.call(name, {})
        values, _, error = read_values(raw, 0)
        if error is not None or len(values) != 1:
            why = json_error(raw, 0, error) if error is not None else "more than one JSON value"
            return tools.call(name, {}, raw_arguments=raw, problem=invalid_arguments(name, why))
        if isinstance(values[0], dict):
            return tools.call(name, values[0])
        raw = values[0]
    problem = (
        f"the arguments of tool call {name!r} must be a JSON object, not {_json_type(raw)}; "
        'write them as {"key": "value"}'
    )
    return tools.call(name, {}, raw_arguments=json.dumps(raw, ensure_ascii=False), problem=problem)


def invalid_arguments(name: str, why: str) -> str:
    """The complaint about a call to ``name`` whose JSON could not be read (``why`` says where)."""
    return f"tool call for {name!r} has invalid JSON arguments: {why}; write the call again as valid JSON"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "null" if value is None else type(value).__name__
