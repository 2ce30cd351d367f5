"""MCP servers as agent tools: each tool of server ``S`` named ``T`` becomes ``mcp__S__T``.

Servers come from ``[mcpServers.NAME]`` in config.toml or a Claude Desktop / Cursor style JSON file
(:func:`interleaf.config.load_mcp_json`): ``command``/``args``/``env`` for stdio, ``url``/``headers``
for streamable HTTP, plus ``timeout`` (seconds a call may take, default 60) and ``startup_timeout``.

When servers start: nothing starts when interleaf is imported or its command line is parsed. A server
starts when something first needs it — :meth:`McpManager.start`, which an agent session calls while
it sets up, because the model must be offered the servers' tools (names and schemas) from its first
request; ``interleaf mcp list`` calls it too. All servers start concurrently; one that fails is
reported and left out, and the others serve.

Failures: a call that outlasts its server's ``timeout`` is a tool error; if the server then does not
answer a ping either it is taken as hung and stopped. A server that crashed or hung is restarted once,
on the next call to one of its tools (the result says so); if it fails again it is down for the rest
of the session, and its tools say so.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from interleaf.config import McpServerConfig
from interleaf.tools.base import ToolContext, ToolError, ToolOutcome
from interleaf.tools.mcp_client import (
    CallFailed,
    CallTimedOut,
    ConnectionLost,
    McpConnection,
    StartFailed,
    describe_transport,
)
from interleaf.tools.mcp_results import check_arguments, result_outcome
from interleaf.transcript import JSONDict, ToolSpec

__all__ = ["McpArguments", "McpManager", "McpTool", "ServerStatus", "tool_name"]

State = Literal["stopped", "running", "failed", "down", "disabled"]
_MAX_NAME = 64
_MAX_DESCRIPTION = 4000


def tool_name(server: str, tool: str) -> str:
    """``mcp__<server>__<tool>``, reduced to ``[A-Za-z0-9_-]`` and at most 64 characters (what
    model APIs accept). A name that had to be shortened ends in a hash of the full one."""
    name = f"mcp__{_safe(server)}__{_safe(tool)}"
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha1(f"{server}\0{tool}".encode()).hexdigest()[:8]
    return f"{name[: _MAX_NAME - 9]}_{digest}"


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", part) or "_"


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """One server as ``interleaf mcp list`` shows it."""

    name: str
    transport: str
    state: State
    problem: str | None
    tools: tuple[tuple[str, str], ...]
    """(agent-facing name, description) of each tool."""


@dataclass
class _Server:
    name: str
    config: McpServerConfig
    log_path: Path
    restarts_left: int
    connection: McpConnection | None = None
    state: State = "stopped"
    problem: str | None = None
    tools: list[Any] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class McpManager:
    """The MCP servers of one session: starts them, hands out their tools, restarts, stops."""

    def __init__(
        self,
        servers: Mapping[str, McpServerConfig],
        *,
        log_dir: Path | None = None,
        restarts: int = 1,
        ping_timeout: float = 5.0,
    ) -> None:
        self._own_log_dir = log_dir is None
        self.log_dir = log_dir if log_dir is not None else Path(tempfile.mkdtemp(prefix="interleaf-mcp-"))
        self.ping_timeout = ping_timeout
        self._servers = {
            name: _Server(
                name=name,
                config=config,
                log_path=self.log_dir / f"{_safe(name)}.log",
                restarts_left=restarts,
                state="disabled" if config.disabled else "stopped",
            )
            for name, config in servers.items()
        }

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._servers)

    async def start(self) -> list[str]:
        """Start every enabled server not yet running, concurrently. Returns one message per server
        that failed (its tools are then left out)."""
        pending = [s for s in self._servers.values() if s.state == "stopped"]
        results = await asyncio.gather(*(self._start(server) for server in pending))
        return [problem for problem in results if problem is not None]

    async def _start(self, server: _Server) -> str | None:
        async with server.lock:
            connection = McpConnection(server.name, server.config, server.log_path)
            try:
                await connection.open()
            except StartFailed as exc:
                tail = connection.stderr_tail()
                last = " | ".join(tail.splitlines()[-3:])
                server.state, server.problem = (
                    "failed",
                    str(exc) + (f" (its last output: {last})" if last else ""),
                )
                return (
                    f"MCP server `{server.name}` ({describe_transport(server.config)}) failed to start: {exc}"
                    + (f"\nits last output:\n{tail}" if tail else "")
                )
            server.connection, server.state, server.problem = connection, "running", None
            server.tools = list(connection.tools)
            return None

    def tools(self) -> list[McpTool]:
        """One tool per MCP tool of every running server, with unique names."""
        tools: list[McpTool] = []
        taken: set[str] = set()
        for server in self._servers.values():
            if server.state != "running":
                continue
            for info in server.tools:
                name = tool_name(server.name, info.name)
                if name in taken:
                    digest = hashlib.sha1(f"{server.name}\0{info.name}".encode()).hexdigest()[:8]
                    name = f"{name[: _MAX_NAME - 9]}_{digest}"
                taken.add(name)
                tools.append(McpTool(self, server.name, info, name))
        return tools

    def status(self) -> list[ServerStatus]:
        """Every configured server, its state and its tools (for ``interleaf mcp list``)."""
        by_server: dict[str, list[tuple[str, str]]] = {}
        for tool in self.tools():
            by_server.setdefault(tool.server, []).append((tool.name, tool.summary))
        return [
            ServerStatus(
                name=server.name,
                transport=describe_transport(server.config),
                state=server.state,
                problem=server.problem,
                tools=tuple(by_server.get(server.name, [])),
            )
            for server in self._servers.values()
        ]

    async def call(self, server_name: str, tool: str, arguments: dict[str, Any]) -> tuple[Any, str | None]:
        """Call ``tool`` on ``server_name``: the result and a note (set when the server was restarted
        first). Failures raise :class:`ToolError` with a message for the model."""
        server = self._servers[server_name]
        note = await self._ensure_running(server, tool)
        connection = server.connection
        assert connection is not None
        timeout = server.config.timeout
        try:
            return await connection.call(tool, arguments, timeout), note
        except CallTimedOut:
            if await connection.ping(min(self.ping_timeout, max(timeout, 1.0))):
                raise ToolError(
                    f"`{tool}` on MCP server `{server.name}` timed out after {timeout:g} s (the server's "
                    "`timeout` setting) and was cancelled; the server itself still responds. Ask for less "
                    "work, or raise `timeout` for this server in the MCP configuration.",
                    brief=f"{server.name}.{tool} timed out",
                ) from None
            next_step = await self._lost(
                server, f"it stopped responding (`{tool}` timed out after {timeout:g} s, then a ping)"
            )
            raise ToolError(
                f"`{tool}` on MCP server `{server.name}` timed out after {timeout:g} s, and the server no "
                f"longer answers at all (not even a ping): it hangs, so it was stopped. {next_step}",
                brief=f"{server.name} hangs",
            ) from None
        except ConnectionLost as exc:
            tail = connection.stderr_tail()
            next_step = await self._lost(server, f"it exited while running `{tool}`")
            raise ToolError(
                f"MCP server `{server.name}` exited or dropped the connection while running `{tool}` "
                f"({exc}); the call's result is lost. {next_step}"
                + (f"\nIts last output:\n{tail}" if tail else ""),
                brief=f"{server.name} crashed",
            ) from None
        except CallFailed as exc:
            raise ToolError(
                f"MCP server `{server.name}` refused `{tool}`: {exc}", brief=f"{server.name}.{tool} refused"
            ) from None

    async def _lost(self, server: _Server, reason: str) -> str:
        """Stop a server that crashed or hangs; says what happens next (a restart, or nothing)."""
        connection, server.connection = server.connection, None
        server.problem = reason
        if connection is not None:
            await connection.close()
        if server.restarts_left > 0:
            server.state = "failed"
            return "It will be restarted on the next call to one of its tools."
        server.state = "down"
        return (
            "It was already restarted once, so it will not be again: its tools are unavailable for the "
            "rest of this session; do the work another way."
        )

    async def _ensure_running(self, server: _Server, tool: str) -> str | None:
        async with server.lock:
            if server.state == "running" and server.connection is not None and server.connection.alive:
                return None
            if server.state == "running" and server.connection is not None:
                # It died between calls: nobody saw it yet.
                failure = server.connection.failure or "its connection closed"
                await self._lost(server, f"it had stopped ({failure})")
            if server.state in ("down", "disabled"):
                raise ToolError(
                    f"MCP server `{server.name}` is {server.state}"
                    + (f" ({server.problem})" if server.problem else "")
                    + ": its tools are unavailable for the rest of this session; do the work another way.",
                    brief=f"{server.name} is {server.state}",
                )
            reason = server.problem or "it was not running"
            server.restarts_left -= 1
            connection = McpConnection(server.name, server.config, server.log_path)
            try:
                await connection.open()
            except StartFailed as exc:
                server.state, server.problem = "down", f"a restart failed: {exc}"
                raise ToolError(
                    f"MCP server `{server.name}` had failed ({reason}) and restarting it failed too ({exc}); "
                    "its tools are unavailable for the rest of this session; do the work another way.",
                    brief=f"{server.name} is down",
                ) from None
            server.connection, server.state, server.problem = connection, "running", None
            server.tools = list(connection.tools)
            if tool not in {info.name for info in server.tools}:
                return f"MCP server `{server.name}` was restarted ({reason}) and no longer offers `{tool}`"
            return f"MCP server `{server.name}` was restarted before this call: {reason}"

    async def aclose(self) -> None:
        """Stop every server (stdio processes end; none is left behind)."""
        servers = list(self._servers.values())
        connections = [s.connection for s in servers if s.connection is not None]
        for server in servers:
            server.connection = None
            if server.state == "running":
                server.state = "stopped"
        await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)
        if self._own_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)


class McpArguments(BaseModel):
    """Any JSON object: an MCP tool's arguments are checked against its own JSON Schema instead."""

    model_config = ConfigDict(extra="allow")


class McpTool:
    """One tool of one MCP server, as the agent sees it."""

    params = McpArguments
    read_only = False  # servers' own annotations are hints from an untrusted party; ask in ask mode

    def __init__(self, manager: McpManager, server: str, info: Any, name: str) -> None:
        self._manager = manager
        self.server = server
        self.tool = str(info.name)
        self.name = name
        description = str(info.description or info.title or f"The `{self.tool}` tool").strip()
        self.summary = description.splitlines()[0][:200] if description else ""
        if len(description) > _MAX_DESCRIPTION:
            description = description[: _MAX_DESCRIPTION - 1] + "…"
        self.schema = _parameters(info.input_schema)
        self.spec = ToolSpec(
            name=name,
            description=f"{description}\n(MCP server `{server}`, tool `{self.tool}`)",
            parameters=self.schema,
        )

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        problems = check_arguments(self.name, self.schema, arguments)
        if problems is not None:
            raise ToolError(problems, brief=f"{self.name}: invalid arguments")
        result, note = await self._manager.call(self.server, self.tool, arguments)
        return result_outcome(result, ctx, note=note, brief=f"{self.server}.{self.tool}")

    async def aclose(self) -> None:
        pass  # the manager owns the servers


def _parameters(schema: Any) -> JSONDict:
    """The server's input schema, made acceptable to every model API: an object at the root with
    ``properties``, without ``$schema`` and ``title`` (which only cost tokens)."""
    parameters: JSONDict = dict(schema) if isinstance(schema, Mapping) else {}
    parameters.pop("$schema", None)
    parameters.pop("title", None)
    parameters["type"] = "object"
    parameters.setdefault("properties", {})
    return parameters
