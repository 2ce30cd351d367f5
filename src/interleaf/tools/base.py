"""The seam between the agent and its tools.

A tool is anything with the shape of :class:`Tool`; no implementation inherits from it. The agent
talks to tools only through a :class:`Toolset`, whose :meth:`Toolset.call` always answers: a bad
argument, an unknown tool or a crash inside a tool becomes an error :class:`ToolOutcome` that goes back
to the model as the tool result (never as a user message).

Cancellation is plain asyncio task cancellation. A tool that is cancelled stops its work (kills the
running command, interrupts the kernel), leaves its session usable and lets ``CancelledError``
propagate; :meth:`Toolset.call` never swallows it, so Ctrl-C reaches the agent loop.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from interleaf.transcript import Image, JSONDict, Text, ToolResult, ToolSpec

__all__ = [
    "Params",
    "Reach",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolOutcome",
    "Toolset",
    "format_validation_error",
    "tool_spec",
]

log = logging.getLogger(__name__)

Reach = Literal["read", "confined", "outside"]
"""How far one tool call reaches, which approval policies go by: ``read`` changes nothing;
``confined`` changes only what the sandbox or the tool itself confines it to (the workdir);
``outside`` may touch anything the user can (unconfined commands, paths outside the workdir).
A tool says it with an optional ``reach(arguments) -> Reach`` method."""


class Params(BaseModel):
    """Base for a tool's argument model: unknown arguments are refused, so a misspelt one is reported."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolContext:
    """Where and within which limits a tool call runs.

    ``workdir`` is the directory relative paths and new shells start from; ``session_dir`` is where
    tools save what does not fit in a result (full outputs, images). ``allow_outside_workdir`` lets
    the file tools reach paths outside the workdir (credentials stay refused). ``max_output_chars`` caps the text
    a tool returns to the model; ``max_line_chars`` caps one line of a file listing.
    """

    workdir: Path
    session_dir: Path
    allow_outside_workdir: bool = False
    workdir_writable: bool = True
    """False in a read-only session (``--sandbox readonly``): the file tools refuse to write."""
    max_output_chars: int = 30_000
    max_line_chars: int = 2_000

    def __post_init__(self) -> None:
        # Resolved once, so every containment check compares real paths.
        object.__setattr__(self, "workdir", self.workdir.expanduser().resolve())
        object.__setattr__(self, "session_dir", self.session_dir.expanduser().resolve())

    def output_path(self, prefix: str, suffix: str) -> Path:
        """A fresh file path under ``session_dir/outputs`` (the directory is created)."""
        directory = self.session_dir / "outputs"
        directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return directory / f"{prefix}-{stamp}-{secrets.token_hex(3)}{suffix}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolOutcome:
    """What a tool call produced.

    ``content`` goes to the model as the tool result; ``brief`` is one line for the UI; ``saved``
    lists files the call wrote under the session directory (full outputs, images).
    """

    content: str | tuple[Text | Image, ...]
    is_error: bool = False
    brief: str = ""
    saved: tuple[Path, ...] = ()

    @classmethod
    def error(cls, message: str, brief: str | None = None) -> ToolOutcome:
        """An error outcome: ``message`` tells the model what went wrong and what to do instead."""
        return cls(content=message, is_error=True, brief=brief or _first_line(message))

    @property
    def text(self) -> str:
        """The content's text, parts joined by newlines (images left out)."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content if isinstance(part, Text))

    def to_result(self, call_id: str, name: str | None = None) -> ToolResult:
        """The transcript block answering tool call ``call_id``."""
        return ToolResult(call_id=call_id, content=self.content, is_error=self.is_error, name=name)


class ToolError(Exception):
    """An expected failure: ``message`` is for the model, ``brief`` for the UI.

    Tools may raise it from anywhere inside ``run``; :meth:`Toolset.call` turns it into an error
    outcome carrying exactly this message.
    """

    def __init__(self, message: str, brief: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.brief = brief or _first_line(message)


class Tool(Protocol):
    """A tool the agent can call. Implementations need only have this shape."""

    @property
    def name(self) -> str: ...

    @property
    def spec(self) -> ToolSpec:
        """Name, description and JSON Schema of the arguments, as the model sees them."""
        ...

    @property
    def params(self) -> type[BaseModel]:
        """The pydantic model the arguments are validated with before :meth:`run`."""
        ...

    @property
    def read_only(self) -> bool:
        """True when the tool changes nothing, so approval policies may always allow it."""
        ...

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        """Do the work. May raise :class:`ToolError` for an expected failure."""
        ...

    async def aclose(self) -> None:
        """Release processes and files the tool holds (a shell, a kernel)."""
        ...


def tool_spec(name: str, description: str, params: type[BaseModel]) -> ToolSpec:
    """The :class:`ToolSpec` for a tool whose arguments are ``params``.

    The schema is pydantic's, trimmed of what only costs tokens: titles, and the ``null`` branch and
    ``default: null`` of optional fields (leaving them out means the same thing).
    """
    schema = params.model_json_schema()
    _trim_schema(schema)
    return ToolSpec(name=name, description=description, parameters=schema)


def _trim_schema(schema: JSONDict) -> None:
    schema.pop("title", None)
    any_of = schema.get("anyOf")
    if isinstance(any_of, list) and schema.get("default", ...) is None:
        rest = [s for s in any_of if s != {"type": "null"}]
        if len(rest) == 1 and isinstance(rest[0], dict):
            del schema["anyOf"], schema["default"]
            schema.update({k: v for k, v in rest[0].items() if k not in schema})
    for key in ("properties", "$defs"):
        for sub in schema.get(key, {}).values():
            _trim_schema(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _trim_schema(schema[key])
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            _trim_schema(sub)


def format_validation_error(tool: str, error: ValidationError, schema: JSONDict | None) -> str:
    """Explain invalid arguments so the model can fix its call: field, problem, expected type."""
    properties: JSONDict = (schema or {}).get("properties", {})
    required = set((schema or {}).get("required", []))
    lines = [f"invalid arguments for tool `{tool}`:"]
    for item in error.errors(include_url=False):
        loc = ".".join(str(part) for part in item["loc"]) or "(arguments)"
        line = f"- `{loc}`: {item['msg']}"
        if item["type"] != "missing" and item["loc"]:
            line += f" (got {_short_repr(item['input'])})"
        # Only a top-level field's type is known here; a nested one's message names its problem.
        expected = _schema_type(properties.get(str(item["loc"][0]))) if len(item["loc"]) == 1 else None
        if expected:
            line += f"; expected {expected}"
        lines.append(line)
    if properties:
        described = ", ".join(
            f"{name} ({_schema_type(prop) or 'any'}{', required' if name in required else ''})"
            for name, prop in properties.items()
        )
        lines.append(f"`{tool}` takes: {described}.")
    return "\n".join(lines)


def _schema_type(prop: Any) -> str | None:
    if not isinstance(prop, dict):
        return None
    if "type" in prop:
        kind = prop["type"]
        return " or ".join(kind) if isinstance(kind, list) else str(kind)
    options = [_schema_type(sub) for sub in prop.get("anyOf", [])]
    return " or ".join(option for option in options if option) or None


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_line(text: str, limit: int = 120) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


class Toolset:
    """The tools of one agent session, by name. :meth:`call` never raises (cancellation aside)."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(
                f"a tool named {tool.name!r} is already in the toolset; tool names must be unique"
            )
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        """What to offer the model, in the order the tools were added."""
        return tuple(tool.spec for tool in self._tools.values())

    async def call(self, name: str, arguments: Any, ctx: ToolContext) -> ToolOutcome:
        """Run tool ``name``. Every failure becomes an error outcome; only cancellation propagates."""
        tool = self._tools.get(name)
        if tool is None:
            available = ", ".join(f"`{n}`" for n in self._tools) or "(none)"
            return ToolOutcome.error(
                f"unknown tool `{name}`; the available tools are: {available}", brief=f"unknown tool {name}"
            )
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, Mapping):
            return ToolOutcome.error(
                f"arguments for tool `{name}` must be a JSON object, got {type(arguments).__name__}",
                brief=f"{name}: arguments are not an object",
            )
        try:
            params = tool.params.model_validate(dict(arguments))
        except ValidationError as exc:
            return ToolOutcome.error(
                format_validation_error(name, exc, tool.spec.parameters),
                brief=f"{name}: invalid arguments",
            )
        try:
            return await tool.run(params.model_dump(), ctx)
        except ToolError as exc:
            return ToolOutcome.error(exc.message, brief=exc.brief)
        except Exception as exc:
            log.exception("tool %s failed", name)
            return ToolOutcome.error(
                f"tool `{name}` failed: {type(exc).__name__}: {exc}".rstrip(": "),
                brief=f"{name} failed: {type(exc).__name__}",
            )

    async def aclose(self) -> None:
        """Close every tool; one that fails to close does not stop the others."""
        for tool in self._tools.values():
            try:
                await tool.aclose()
            except Exception:
                log.exception("closing tool %s failed", tool.name)

    async def __aenter__(self) -> Toolset:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
