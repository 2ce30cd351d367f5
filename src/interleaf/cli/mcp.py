"""``interleaf mcp``: the MCP servers interleaf is configured with, and the tools they give the agent."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from interleaf.cli.exit_codes import BAD_INPUT

if TYPE_CHECKING:
    from interleaf.config import McpServerConfig
    from interleaf.tools.mcp import ServerStatus

app = typer.Typer(
    help="MCP servers (the mcpServers table of the config, or a Claude Desktop / Cursor style JSON file) and their tools.",
    no_args_is_help=True,
)

SERVER_FAILED = 1
"""``interleaf mcp list``: at least one server failed to start."""


@app.command("list")
def list_servers(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Config file (default: $INTERLEAF_CONFIG or ~/.config/interleaf/config.toml)."
        ),
    ] = None,
    mcp_json: Annotated[
        Path | None,
        typer.Option(
            "--mcp-json",
            help='Also the servers in this JSON file ({"mcpServers": {...}}, as Claude Desktop and Cursor use).',
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON array of servers.")] = False,
) -> None:
    """Start every configured MCP server, show its status and its tools, then stop them.

    Tools are listed under the names the agent sees (mcp__SERVER__TOOL).

    Exits with 1 when a server failed to start.
    """
    from interleaf.config import ConfigError, load_config, load_mcp_json

    try:
        servers = dict(load_config(config).mcpServers)
        if mcp_json is not None:
            servers.update(load_mcp_json(mcp_json))
    except ConfigError as exc:
        typer.echo(f"interleaf mcp: error: {exc}", err=True)
        raise typer.Exit(BAD_INPUT) from None
    if not servers:
        if json_output:
            typer.echo("[]")
        else:
            typer.echo(
                "no MCP servers configured: add [mcpServers.NAME] to the config, or pass --mcp-json FILE"
            )
        return
    statuses = asyncio.run(_statuses(servers))
    if json_output:
        typer.echo(json.dumps([_as_json(status) for status in statuses], indent=2, ensure_ascii=False))
    else:
        for status in statuses:
            _print(status)
    if any(status.state == "failed" for status in statuses):
        raise typer.Exit(SERVER_FAILED)


async def _statuses(servers: dict[str, McpServerConfig]) -> list[ServerStatus]:
    from interleaf.tools.mcp import McpManager

    manager = McpManager(servers)
    try:
        await manager.start()
        return manager.status()
    finally:
        await manager.aclose()


def _print(status: ServerStatus) -> None:
    if status.state == "running":
        state = f"running, {len(status.tools)} tool{'s' if len(status.tools) != 1 else ''}"
    else:
        state = status.state + (f": {status.problem}" if status.problem else "")
    typer.echo(f"{status.name}  ({status.transport})  {state}")
    width = max((len(name) for name, _ in status.tools), default=0)
    for name, description in status.tools:
        typer.echo(f"  {name.ljust(width)}  {description}".rstrip())


def _as_json(status: ServerStatus) -> dict[str, Any]:
    return {
        "name": status.name,
        "transport": status.transport,
        "status": status.state,
        "problem": status.problem,
        "tools": [{"name": name, "description": description} for name, description in status.tools],
    }
