"""The agent's tools by name: the built-ins and every installed plugin's (entry-point group ``interleaf.tools``).

A tool needs the session it serves (its sandbox), and each agent (sub-agents too) gets its own instances,
which its toolset closes. So what registers is not a tool but a :class:`ToolFactory`: a name and a
function that builds the tool from a :class:`ToolSetup`. A plugin's entry point names a function that
takes no arguments and returns its factories (the loading rules are in :mod:`interleaf.backends.registry`)::

    [project.entry-points."interleaf.tools"]
    acme = "interleaf_acme:tools"       # def tools() -> list[ToolFactory]

How a plugin tool runs is how a built-in runs: :meth:`~interleaf.tools.base.Toolset.call` validates its
arguments with its ``params`` and passes the session's :class:`~interleaf.tools.base.ToolContext`
(workdir, session directory, output limits); the agent's approval judges each call by the tool's
``reach(arguments, ctx)``, or without one by ``read_only`` and ``approval_needed(arguments)``, and
its ``denial(arguments)`` refuses first (docs/agent.md, "Approval"). A tool that starts processes runs
them through ``setup.sandbox`` (:meth:`~interleaf.tools.sandbox.Sandbox.confine`) as ``shell`` and
``python`` do. docs/plugins.md is the guide.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from interleaf.backends.registry import PLUGIN_LOGGER, EntryPointRegistry, PluginReport
from interleaf.tools.base import Tool

if TYPE_CHECKING:
    from interleaf.tools.sandbox import Sandbox

__all__ = [
    "RESERVED_TOOL_NAMES",
    "ToolFactory",
    "ToolSetup",
    "build_tools",
    "builtin_tools",
    "plugin_tool_names",
    "registered_tools",
    "tool_plugins",
]

log = logging.getLogger(PLUGIN_LOGGER)

# The names model APIs accept for a tool (Anthropic's and OpenAI's documented pattern).
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

RESERVED_TOOL_NAMES: frozenset[str] = frozenset({"plan", "subagent", "finish", "browser"})
"""Tools the agent adds itself, outside this registry (pro mode's, the browser); with ``mcp__*``
(the MCP servers' tools), names no plugin may take."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolSetup:
    """What a tool factory gets from the session it builds a tool for.

    ``sandbox`` is the session's OS sandbox (``None`` outside a session, e.g. in a library user's
    own toolset): a tool that starts processes runs them through it when ``sandbox.confines``, and
    says ``outside`` from its ``reach`` when it does not. Fields may be added; factories take what
    they need by name.
    """

    sandbox: Sandbox | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolFactory:
    """One tool a package provides: its ``name`` (as the model sees it) and how to ``build`` it."""

    name: str
    build: Callable[[ToolSetup], Tool]


def builtin_tools() -> Iterable[ToolFactory]:
    """interleaf's own entry point in the ``interleaf.tools`` group: the built-in tools, in the order
    the model is offered them. Tool modules are imported when a tool is built, not here."""
    return (
        ToolFactory(name="shell", build=_shell),
        ToolFactory(name="read_file", build=_read_file),
        ToolFactory(name="write_file", build=_write_file),
        ToolFactory(name="edit_file", build=_edit_file),
        ToolFactory(name="python", build=_python),
    )


def _shell(setup: ToolSetup) -> Tool:
    from interleaf.tools.shell import ShellTool

    return ShellTool(sandbox=setup.sandbox)


def _read_file(setup: ToolSetup) -> Tool:
    from interleaf.tools.files import ReadFileTool

    return ReadFileTool()


def _write_file(setup: ToolSetup) -> Tool:
    from interleaf.tools.files import WriteFileTool

    return WriteFileTool()


def _edit_file(setup: ToolSetup) -> Tool:
    from interleaf.tools.files import EditFileTool

    return EditFileTool()


def _python(setup: ToolSetup) -> Tool:
    from interleaf.tools.python import PythonTool

    return PythonTool(sandbox=setup.sandbox)


def _tool_problem(factory: ToolFactory) -> str | None:
    if not _TOOL_NAME.match(factory.name):
        return "a tool name is 1 to 64 letters, digits, _ or -"
    if factory.name in RESERVED_TOOL_NAMES or factory.name.startswith("mcp__"):
        return "the agent adds a tool of that name itself"
    build: object = factory.build  # typed, but nothing stops a plugin passing something else
    if not callable(build):
        return "its build is not callable"
    return None


_REGISTRY: EntryPointRegistry[ToolFactory] = EntryPointRegistry(
    "interleaf.tools",
    kind=ToolFactory,
    name_of=lambda factory: factory.name,
    builtins=builtin_tools,
    check=_tool_problem,
    what="tool",
)

_warned: set[str] = set()


def registered_tools() -> Mapping[str, ToolFactory]:
    """Every registered tool factory by name: built-ins first, then plugins' (loaded on first use)."""
    return _REGISTRY.items()


def tool_plugins() -> tuple[PluginReport, ...]:
    """What each ``interleaf.tools`` entry point registered, refused, or why it failed."""
    return _REGISTRY.reports()


def plugin_tool_names() -> list[str]:
    """The names of the tools plugins registered (not the built-ins), e.g. for the system prompt."""
    return [name for name in _REGISTRY.items() if not _is_builtin(name)]


def build_tools(setup: ToolSetup, *, taken: Collection[str] = ()) -> list[Tool]:
    """A fresh instance of every registered tool, built-ins first, for one toolset.

    ``taken`` are names the caller's own tools hold (tools passed in by a library user, MCP tools): a
    plugin tool of such a name is left out with a warning. A plugin tool whose factory fails, or
    builds a tool under another name, is left out with a warning; the others are built. A built-in
    that fails raises, as it would without the registry.
    """
    tools: list[Tool] = []
    for name, factory in _REGISTRY.items().items():
        builtin = _is_builtin(name)
        if not builtin and name in taken:
            _warn(name, "the session has its own tool of that name")
            continue
        try:
            tool = factory.build(setup)
            if tool.name != name:
                raise ValueError(f"its factory built a tool named {tool.name!r}")
        except Exception as exc:
            if builtin:
                raise
            _warn(name, f"building it failed: {type(exc).__name__}: {exc}")
            continue
        tools.append(tool)
    return tools


def _is_builtin(name: str) -> bool:
    owner = _REGISTRY.owner(name)
    return owner is not None and owner.builtin


def _warn(name: str, why: str) -> None:
    owner = _REGISTRY.owner(name)
    message = f"plugin {owner.source if owner else 'tool'}: tool {name!r} is left out: {why}"
    if message not in _warned:  # once a process, not once a toolset (every sub-agent builds one)
        _warned.add(message)
        log.warning("%s", message)
