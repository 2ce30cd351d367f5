"""MiniMax-M2 tool-call XML: rendering calls into a prompt and reading them back out of model text.

```
<minimax:tool_call>
<invoke name="get_weather">
<parameter name="location">San Francisco</parameter>
<parameter name="days">2</parameter>
</invoke>
</minimax:tool_call>
```

Reading follows MiniMax's reference parser (``docs/tool_calling_guide.md``, mirrored by vLLM's
``minimax_m2`` tool parser): ``<invoke name=…>…</invoke>`` spans inside a block, ``<parameter name=…>``
spans inside an invoke, names with or without ``"``/``'`` quotes, values stripped and typed by the
tool's JSON Schema (:func:`convert_param_value`). Where the reference silently skips malformed XML,
this module also says what it skipped (:class:`~interleaf.wire.toolcalls.ToolCallParseError`).

The block reader works on growing text: :func:`take_invoke` consumes one complete invoke at a time, so
the streaming parser and the one-shot parser share it and agree for every chunking.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from interleaf.transcript import JSONDict, ToolCall, ToolSpec
from interleaf.wire.toolcalls import ToolCallParseError

__all__ = [
    "INVOKE_CLOSE",
    "INVOKE_OPEN",
    "TOOL_CALL_CLOSE",
    "TOOL_CALL_OPEN",
    "ParsedInvoke",
    "convert_param_value",
    "junk_errors",
    "parameter_types",
    "parse_invoke",
    "parse_tool_call_block",
    "render_parameter_value",
    "render_tool_calls",
    "take_invoke",
]

TOOL_CALL_OPEN = "<minimax:tool_call>"
TOOL_CALL_CLOSE = "</minimax:tool_call>"
INVOKE_OPEN = "<invoke name="
INVOKE_CLOSE = "</invoke>"

_PARAMETER = re.compile(r"<parameter name=(.*?)</parameter>", re.DOTALL)
_PARAMETER_HEAD = re.compile(r"([^>]+)>(.*)", re.DOTALL)
_UNCLOSED_PARAMETER = re.compile(r"<parameter name=([^>]*)>?")
_INVOKE_NAME = re.compile(r"[^>]+")

# ---------------------------------------------------------------------------------------- rendering


def render_parameter_value(value: Any) -> str:
    """A value as the chat template writes it: strings raw, everything else as JSON (HF ``tojson``)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def render_tool_calls(calls: Sequence[ToolCall]) -> str:
    """The ``<minimax:tool_call>`` block for ``calls``, exactly as the M2 chat template writes it."""
    parts = [TOOL_CALL_OPEN, "\n"]
    for call in calls:
        parts.append(f'<invoke name="{call.name}">\n')
        for key, value in call.arguments.items():
            parts.append(f'<parameter name="{key}">{render_parameter_value(value)}</parameter>\n')
        parts.append("</invoke>\n")
    parts.append(TOOL_CALL_CLOSE)
    return "".join(parts)


# ------------------------------------------------------------------------------------ value typing


def parameter_types(tools: Sequence[ToolSpec], name: str) -> Mapping[str, tuple[str, ...]]:
    """The declared JSON-Schema types of each parameter of tool ``name`` (empty if unknown)."""
    for tool in tools:
        if tool.name != name:
            continue
        # Like the reference parser: the first tool of that name decides, even without properties.
        schema = tool.parameters
        properties = schema.get("properties") if isinstance(schema, dict) else None
        if not isinstance(properties, dict):
            return {}
        return {key: _schema_types(prop) for key, prop in properties.items()}
    return {}


def _schema_types(schema: Any) -> tuple[str, ...]:
    """``type`` (a string or a list), or the types of ``anyOf``/``oneOf`` branches, like vLLM."""
    if not isinstance(schema, dict):
        return ()
    found: list[str] = []
    declared = schema.get("type")
    if isinstance(declared, str):
        found.append(declared)
    elif isinstance(declared, list):
        found.extend(t for t in declared if isinstance(t, str))
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list):
            for branch in branches:
                found.extend(t for t in _schema_types(branch) if t not in found)
    return tuple(found)


_STRING_TYPES = ("string", "str", "text")
_INTEGER_TYPES = ("integer", "int")
_NUMBER_TYPES = ("number", "float")
_BOOLEAN_TYPES = ("boolean", "bool")
_JSON_TYPES = ("object", "array")
_NOT_CONVERTED = object()


def convert_param_value(value: str, types: Sequence[str] = ()) -> Any:
    """Type a parameter's text by its schema types, per MiniMax's reference ``convert_param_value``.

    ``"null"`` is ``None``; string types keep the text; integer -> ``int``; number -> ``float`` (``int``
    when integral); boolean -> ``value.lower() in ("true", "1")``; object/array -> JSON; any other
    declared type -> JSON if it parses. A parameter the schema does not declare is a string, as in the
    reference (its default type is ``"string"``). Every failed conversion keeps the text. Two
    departures, both where the reference would crash or emit invalid JSON: non-finite numbers
    (``inf``, ``NaN``) stay text, and a union type (``["integer", "null"]``, ``anyOf``) tries its
    types in vLLM's order (integer, number, boolean, object/array, string).
    """
    if value.lower() == "null":
        return None
    kinds = [t.lower() for t in types if t.lower() != "null"] or ["string"]
    if len(kinds) == 1:
        converted = _convert_as(value, kinds[0], strict=False)
        return value if converted is _NOT_CONVERTED else converted
    for kind in (*_INTEGER_TYPES, *_NUMBER_TYPES, *_BOOLEAN_TYPES, *_JSON_TYPES, *_STRING_TYPES):
        if kind in kinds:
            converted = _convert_as(value, kind, strict=True)
            if converted is not _NOT_CONVERTED:
                return converted
    converted = _json_value(value)
    return value if converted is _NOT_CONVERTED else converted


def _convert_as(value: str, kind: str, *, strict: bool) -> Any:
    if kind in _STRING_TYPES:
        return value
    if kind in _INTEGER_TYPES:
        try:
            return int(value)
        except ValueError:
            return _NOT_CONVERTED
    if kind in _NUMBER_TYPES:
        try:
            number = float(value)
        except ValueError:
            return _NOT_CONVERTED
        if not math.isfinite(number):
            return _NOT_CONVERTED
        return int(number) if number.is_integer() else number
    if kind in _BOOLEAN_TYPES:
        lowered = value.lower()
        if strict and lowered not in ("true", "false", "1", "0"):
            return _NOT_CONVERTED
        return lowered in ("true", "1")
    return _json_value(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_value(value: str) -> Any:
    try:
        return json.loads(value, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # JSONDecodeError, over-long integers, deep nesting
        return _NOT_CONVERTED


# ----------------------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class ParsedInvoke:
    """One ``<invoke>`` read from model text. ``errors`` lists the parameters that had to be left out."""

    name: str
    arguments: JSONDict
    text: str
    errors: tuple[ToolCallParseError, ...] = field(default=())


def _unquote(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        return name[1:-1]
    return name


def parse_invoke(inner: str, tools: Sequence[ToolSpec] = ()) -> ParsedInvoke | ToolCallParseError:
    """One invoke, given the text between ``<invoke name=`` and ``</invoke>``."""
    source = f"{INVOKE_OPEN}{inner}{INVOKE_CLOSE}"
    head = _INVOKE_NAME.match(inner)
    name = _unquote(head.group(0)) if head else ""
    if not name:
        return ToolCallParseError(
            'a tool call in <minimax:tool_call> has no name and was not run; write it as <invoke name="tool-name">',
            text=source,
        )
    types = parameter_types(tools, name)
    arguments: JSONDict = {}
    errors: list[ToolCallParseError] = []
    for match in _PARAMETER.finditer(inner):
        parameter = _PARAMETER_HEAD.match(match.group(1))
        key = _unquote(parameter.group(1)) if parameter else ""
        if parameter is None or not key:
            errors.append(
                ToolCallParseError(
                    f"a <parameter> of tool call {name!r} has no name and was left out", name, match.group(0)
                )
            )
            continue
        # The reference then drops one leading and one trailing "\n", which strip() has already removed.
        text = parameter.group(2).strip()
        arguments[key] = convert_param_value(text, types.get(key, ()))
    leftover = _PARAMETER.sub("", inner)
    unclosed = _UNCLOSED_PARAMETER.search(leftover)
    if unclosed is not None:
        key = _unquote(unclosed.group(1))
        errors.append(
            ToolCallParseError(
                f"parameter {key!r} of tool call {name!r} was not closed with </parameter> and was left out",
                name,
                leftover[unclosed.start() :],
            )
        )
    return ParsedInvoke(name=name, arguments=arguments, text=source, errors=tuple(errors))


def take_invoke(
    region: str, tools: Sequence[ToolSpec] = ()
) -> tuple[int, list[ToolCallParseError], ParsedInvoke | ToolCallParseError | None] | None:
    """Read the first complete invoke of a block's content ``region`` (which must stop before the
    block's closing tag).

    Returns ``None`` while no ``</invoke>`` has arrived, else ``(consumed, errors, invoke)``: how many
    characters were read, complaints about what preceded the invoke, and the invoke (``None`` for a
    stray ``</invoke>``). An ``<invoke name=`` that is followed by another before its ``</invoke>`` was
    not closed: it is reported and skipped (the reference would merge the two).
    """
    close = region.find(INVOKE_CLOSE)
    if close == -1:
        return None
    end = close + len(INVOKE_CLOSE)
    start = region.rfind(INVOKE_OPEN, 0, close)
    if start == -1:
        return end, junk_errors(region[:end]), None
    return end, junk_errors(region[:start]), parse_invoke(region[start + len(INVOKE_OPEN) : close], tools)


def junk_errors(text: str) -> list[ToolCallParseError]:
    """What to say about block content that is not a complete invoke (empty when it is whitespace)."""
    stripped = text.strip()
    if not stripped:
        return []
    start = stripped.find(INVOKE_OPEN)
    if start != -1:
        head = _INVOKE_NAME.match(stripped, start + len(INVOKE_OPEN))
        name = _unquote(head.group(0)) if head else ""
        return [
            ToolCallParseError(
                f"tool call {name!r} was not closed with </invoke> and was not run; write the whole call again",
                name or None,
                stripped[start:],
            )
        ]
    if "<invoke" in stripped:
        return [
            ToolCallParseError(
                'a tool call in <minimax:tool_call> has no name and was not run; write it as <invoke name="tool-name">',
                text=stripped,
            )
        ]
    return [
        ToolCallParseError(
            "text inside <minimax:tool_call> outside any <invoke> was ignored: " + _snippet(stripped),
            text=stripped,
        )
    ]


def _snippet(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def parse_tool_call_block(
    content: str, tools: Sequence[ToolSpec] = ()
) -> list[ParsedInvoke | ToolCallParseError]:
    """Everything in one block's content (the text between the block tags, or to the end of the text
    when the block was never closed), in order."""
    items: list[ParsedInvoke | ToolCallParseError] = []
    while True:
        step = take_invoke(content, tools)
        if step is None:
            items.extend(junk_errors(content))
            return items
        consumed, errors, invoke = step
        items.extend(errors)
        if invoke is not None:
            items.append(invoke)
        content = content[consumed:]
