"""Choosing one of the app's own tools and filling its JSON schema with valid, harmless arguments.

Every app names its tools differently (``Read``, ``read_file``, ``read``, ``view``; ``Bash``, ``shell``,
``exec_command``, ``run_shell_command``), so the scripted model picks by name pattern from the request's
``tools`` and fills the schema's required properties by property name and type. The arguments only
ever read files of the run's temporary workdir.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    schema: JSON


def tool_specs(body: Mapping[str, Any]) -> list[ToolSpec]:
    """The function tools a request offers, whatever its API (Anthropic, Chat or Responses)."""
    specs: list[ToolSpec] = []
    for tool in body.get("tools") or ():
        if not isinstance(tool, Mapping):
            continue
        if isinstance(tool.get("function"), Mapping):  # Chat
            function = tool["function"]
            specs.append(ToolSpec(str(function.get("name")), dict(function.get("parameters") or {})))
        elif tool.get("type") == "function" and "name" in tool:  # Responses
            specs.append(ToolSpec(str(tool["name"]), dict(tool.get("parameters") or {})))
        elif "input_schema" in tool and "name" in tool:  # Anthropic (server tools have no schema)
            specs.append(ToolSpec(str(tool["name"]), dict(tool.get("input_schema") or {})))
    return specs


# Ordered by preference: exact names first, then looser patterns.
_READ = (r"read", r"read_?file", r"view", r"read_text_file", r"file_?read", r"cat", r".*read.*file.*")
_LIST = (r"ls", r"list", r"list_?dir(ectory)?", r"list_?files", r"glob", r"find_?files")
_SHELL = (
    r"bash",
    r"shell",
    r"exec_command",
    r"run_shell_command",
    r"shell_command",
    r"execute_command",
    r".*shell.*",
    r".*command.*",
)


def _pick(specs: list[ToolSpec], patterns: Iterable[str], avoid: str | None = None) -> ToolSpec | None:
    for pattern in patterns:
        for spec in specs:
            if spec.name != avoid and re.fullmatch(pattern, spec.name, re.IGNORECASE):
                return spec
    return None


@dataclass(frozen=True)
class Plan:
    """What the model calls at a task step: the tool and its arguments."""

    tool: str
    arguments: JSON


def plan_call(specs: list[ToolSpec], step: int, workdir: Path, file_name: str) -> Plan | None:
    """Step 1 reads ``file_name``; step 2 lists the workdir (or runs ``ls`` in a shell, or reads the
    file again). ``None`` when the app offers no tool the model knows how to use."""
    target = workdir / file_name
    if step == 1:
        order = [(_READ, "read"), (_SHELL, "shell"), (_LIST, "list")]
    else:
        order = [(_LIST, "list"), (_SHELL, "shell"), (_READ, "read")]
    for patterns, role in order:
        spec = _pick(specs, patterns)
        if spec is not None:
            return Plan(spec.name, fill(spec.schema, role, workdir, target))
    return None


_PATH_KEYS = re.compile(
    r"(file_?path|path|absolute_path|file|filename|target_file|uri|notebook_path|files|paths|file_?paths)",
    re.I,
)
_DIR_KEYS = re.compile(r"(dir|dir_?path|directory|folder|cwd|workdir|working_directory|root)", re.I)
_COMMAND_KEYS = ("command", "cmd", "commands")


def fill(schema: Mapping[str, Any], role: str, workdir: Path, target: Path) -> JSON:
    """Arguments for ``schema``: the required properties, plus the path/command ones the tool needs."""
    properties: Mapping[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    arguments: JSON = {}
    for key, prop in properties.items():
        prop = prop if isinstance(prop, Mapping) else {}
        value = _known(key, prop, role, workdir, target)
        if value is not None and (key in required or _wanted(key, role)):
            arguments[key] = value
        elif key in required:
            arguments[key] = _default(prop)
    return arguments


def _wanted(key: str, role: str) -> bool:
    """Optional properties still worth setting: where to look, what to run."""
    if role == "shell":
        return key.lower() in _COMMAND_KEYS
    if role == "list":
        return bool(_DIR_KEYS.fullmatch(key) or _PATH_KEYS.fullmatch(key) or key == "pattern")
    return bool(_PATH_KEYS.fullmatch(key))


def _known(key: str, prop: Mapping[str, Any], role: str, workdir: Path, target: Path) -> Any:
    """The value a property of this name should have for ``role``, or None if nothing is known."""
    lowered = key.lower()
    kinds = _types(prop)
    scalar: Any = None
    if role == "shell" and lowered in _COMMAND_KEYS:
        line = f"cat {target}"
        if "array" in kinds and lowered == "command":
            return ["bash", "-lc", line]  # an argv (Codex's shell tool)
        scalar = line
    elif role == "shell" and _DIR_KEYS.fullmatch(key):
        scalar = str(workdir)
    elif lowered == "pattern" and role == "list":
        scalar = "*.txt"
    elif _PATH_KEYS.fullmatch(key) or _DIR_KEYS.fullmatch(key):
        scalar = str(target if role == "read" else workdir)
    if scalar is None or "array" not in kinds:
        return scalar
    items = prop.get("items")
    if isinstance(items, Mapping) and "object" in _types(items):
        return [fill(items, role, workdir, target)]  # e.g. Cline's [{"path": ...}]
    return [scalar]


def _types(prop: Mapping[str, Any]) -> set[str]:
    kind = prop.get("type")
    if isinstance(kind, list):
        return {str(k) for k in kind}
    if isinstance(kind, str):
        return {kind}
    for option in prop.get("anyOf") or prop.get("oneOf") or ():
        if isinstance(option, Mapping) and isinstance(option.get("type"), str):
            return {option["type"]}
    return set()


def _default(prop: Mapping[str, Any]) -> Any:
    if prop.get("enum"):
        return prop["enum"][0]
    if "default" in prop:
        return prop["default"]
    kinds = _types(prop)
    if "integer" in kinds or "number" in kinds:
        return max(1, int(prop.get("minimum", 1)))
    if "boolean" in kinds:
        return False
    if "array" in kinds:
        return []
    if "object" in kinds:
        return {}
    return "compat"
