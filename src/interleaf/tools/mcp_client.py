"""One live connection to one MCP server, on the official ``mcp`` SDK (2.x).

The SDK's transports and client session run anyio task groups, which must be entered and left by
the same task, and which cancel that task when their transport fails (a dropped HTTP connection, a
crashed process). So each connection has an *owner task* of its own: it opens the transport and the
session, lists the tools, then waits until it is told to close. Calls are made from the caller's
task on the owner's session, and race the owner: if the connection dies mid-call, the call ends
with :class:`ConnectionLost` instead of waiting forever.

Transports: stdio (``command``/``args``/``env``/``cwd``; the server's stderr goes to a log file whose
tail explains a crash) and streamable HTTP (``url``/``headers``).
"""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AsyncExitStack
from pathlib import Path
from typing import IO, Any

import anyio
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp_types import (
    CONNECTION_CLOSED,
    REQUEST_TIMEOUT,
    CallToolResult,
    Implementation,
    PaginatedRequestParams,
)
from mcp_types import Tool as McpToolInfo

from interleaf import __version__
from interleaf.config import McpServerConfig

__all__ = [
    "CallFailed",
    "CallTimedOut",
    "ConnectionLost",
    "McpConnection",
    "StartFailed",
    "describe_transport",
]

_CLIENT_INFO = Implementation(name="interleaf", version=__version__)
_MAX_PAGES = 100
_CLOSE_TIMEOUT = 10.0


class StartFailed(Exception):
    """The server could not be started or did not finish its handshake; the message says why."""


class ConnectionLost(Exception):
    """The connection ended (the process exited, the HTTP server went away) before the answer."""


class CallTimedOut(Exception):
    """The server did not answer the call within its timeout."""


class CallFailed(Exception):
    """The server answered the call with a protocol error (unknown tool, invalid parameters...)."""


def describe_transport(config: McpServerConfig) -> str:
    """``stdio: uvx mcp-server-time`` or ``http: https://host/mcp``, for listings and errors."""
    if config.url:
        return f"http: {config.url}"
    return "stdio: " + " ".join([config.command or "?", *config.args])


def transport_problem(config: McpServerConfig) -> str | None:
    """What is wrong with a server entry's transport, or None."""
    kind = str((config.model_extra or {}).get("type", "")).lower()
    if kind == "sse":
        return "the SSE transport (`type: sse`) is not supported; use the server's streamable HTTP endpoint"
    if config.command and config.url:
        return "it has both `command` (stdio) and `url` (streamable HTTP); keep one"
    if not config.command and not config.url:
        return "it has neither `command` (a stdio server) nor `url` (a streamable HTTP server)"
    return None


class McpConnection:
    """A started MCP server. :meth:`open` starts it; :meth:`close` stops it (idempotent)."""

    def __init__(self, name: str, config: McpServerConfig, log_path: Path) -> None:
        self.name = name
        self.config = config
        self.log_path = log_path
        self.tools: list[McpToolInfo] = []
        self.instructions: str | None = None
        self._session: ClientSession | None = None
        self._owner: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._stop = asyncio.Event()
        self._failure: str | None = None
        self._log: IO[str] | None = None

    @property
    def alive(self) -> bool:
        """True while the session is up (the owner task has not ended)."""
        return self._session is not None and self._owner is not None and not self._owner.done()

    @property
    def failure(self) -> str | None:
        """Why the connection ended, when it ended on its own."""
        return self._failure

    async def open(self) -> None:
        """Start the server, do the handshake and list its tools; :class:`StartFailed` if it cannot."""
        problem = transport_problem(self.config)
        if problem is not None:
            raise StartFailed(problem)
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._owner = asyncio.create_task(self._own(), name=f"mcp-server-{self.name}")
        try:
            await self._ready
        except BaseException:
            await self.close()
            raise

    async def _own(self) -> None:
        assert self._ready is not None
        try:
            async with AsyncExitStack() as stack:
                session = await self._connect(stack)
                with anyio.fail_after(self.config.startup_timeout):
                    result = await session.initialize()
                    self.instructions = result.instructions
                    self.tools = await _list_tools(session)
                self._session = session
                self._ready.set_result(None)
                await self._stop.wait()
        except TimeoutError:
            self._fail(
                f"it did not finish starting within {self.config.startup_timeout:g} s (`startup_timeout`)"
            )
        except FileNotFoundError:
            self._fail(f"the command `{self.config.command}` was not found; install it or fix `command`")
        except PermissionError:
            self._fail(f"the command `{self.config.command}` is not executable")
        except Exception as exc:
            self._fail(_describe(exc))
        except asyncio.CancelledError:
            self._fail("the connection was closed")  # close() gave up waiting, or the loop is ending
            raise
        finally:
            self._session = None
            if not self._ready.done():
                self._ready.set_exception(StartFailed(self._failure or "it stopped during startup"))
            self._close_log()

    async def _connect(self, stack: AsyncExitStack) -> ClientSession:
        config = self.config
        if config.url:
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            client = await stack.enter_async_context(create_mcp_http_client(headers=dict(config.headers)))
            read, write = await stack.enter_async_context(
                streamable_http_client(config.url, http_client=client)
            )
        else:
            assert config.command is not None
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("a", encoding="utf-8", errors="replace")
            params = StdioServerParameters(
                command=config.command, args=list(config.args), env=dict(config.env) or None, cwd=config.cwd
            )
            read, write = await stack.enter_async_context(stdio_client(params, errlog=self._log))
        return await stack.enter_async_context(ClientSession(read, write, client_info=_CLIENT_INFO))

    def _fail(self, reason: str) -> None:
        if self._failure is None and not self._stop.is_set():
            self._failure = reason

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    async def call(self, tool: str, arguments: dict[str, Any], timeout: float) -> CallToolResult:
        """Call ``tool``. Raises :class:`CallTimedOut`, :class:`ConnectionLost` or :class:`CallFailed`."""
        session, owner = self._session, self._owner
        if session is None or owner is None or owner.done():
            raise ConnectionLost(self._failure or "the server is not running")
        request = asyncio.ensure_future(session.call_tool(tool, arguments, read_timeout_seconds=timeout))
        try:
            # The owner ending first means the connection died under the call.
            await asyncio.wait({request, owner}, timeout=timeout + 5, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not request.done():
                request.cancel()
                with contextlib.suppress(BaseException):
                    await request
        if request.cancelled():
            if owner.done():
                raise ConnectionLost(self._failure or "the connection closed")
            raise CallTimedOut()
        exc = request.exception()
        if exc is None:
            return request.result()
        if isinstance(exc, MCPError):
            if exc.code == REQUEST_TIMEOUT:
                raise CallTimedOut() from None
            if exc.code == CONNECTION_CLOSED:
                raise ConnectionLost(self._failure or "the connection closed") from None
            raise CallFailed(f"{exc.message} (MCP error {exc.code})") from None
        raise CallFailed(_describe(exc)) from None

    async def ping(self, timeout: float) -> bool:
        """Whether the server still answers at all (a tool may be slow while the server is fine)."""
        session = self._session
        if session is None or not self.alive:
            return False
        try:
            with anyio.fail_after(timeout):
                await session.send_ping()
        except (TimeoutError, MCPError, anyio.ClosedResourceError, anyio.BrokenResourceError):
            return False
        return True

    def stderr_tail(self, lines: int = 8) -> str:
        """The last lines the server wrote to stderr (stdio servers), for error messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        tail = [line for line in text.splitlines() if line.strip()][-lines:]
        return "\n".join(line[:300] for line in tail)

    async def close(self) -> None:
        """Stop the server: its stdin is closed, then it is terminated, then killed (the SDK's order,
        each step bounded). A server still starting is cancelled at once."""
        owner = self._owner
        self._stop.set()
        if owner is not None and not owner.done():
            if self._session is None:
                owner.cancel()
            done, _ = await asyncio.wait({owner}, timeout=_CLOSE_TIMEOUT)
            if not done:
                owner.cancel()
                with contextlib.suppress(BaseException):
                    await owner
        self._close_log()


async def _list_tools(session: ClientSession) -> list[McpToolInfo]:
    tools: list[McpToolInfo] = []
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        params = PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def _describe(exc: BaseException) -> str:
    """A one-line reason from an exception, unwrapping the task groups' exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        inner = [e for e in exc.exceptions if not isinstance(e, GeneratorExit | asyncio.CancelledError)]
        exc = inner[0] if inner else exc.exceptions[0]
    if isinstance(exc, MCPError):
        if exc.code == CONNECTION_CLOSED:
            return "the server closed the connection (it exited or crashed)"
        return f"{exc.message} (MCP error {exc.code})"
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text
