"""The MCP client against real servers: the official time server (stdio, from PyPI), a streamable-HTTP
server built with the SDK (tests/fixtures/mcp/http_server.py) and a stdio server that crashes and
hangs on request (tests/fixtures/mcp/crashy_server.py).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from interleaf.agent.session import AgentSession, RunOptions
from interleaf.cli import app
from interleaf.config import McpServerConfig
from interleaf.tools.base import ToolContext, ToolOutcome, Toolset
from interleaf.tools.mcp import McpManager, tool_name
from interleaf.transcript import Image, Text, ToolCall
from tests.support.payloads import openai_chunks, openai_completion, tool_call
from tests.support.scripted_server import ScriptedServer, Step

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mcp"
CRASHY = str(FIXTURES / "crashy_server.py")


def time_server() -> McpServerConfig:
    """The official reference server ``mcp-server-time`` (offline), run from this venv."""
    return McpServerConfig(command=sys.executable, args=["-m", "mcp_server_time", "--local-timezone", "UTC"])


def crashy(timeout: float = 60.0) -> McpServerConfig:
    return McpServerConfig(command=sys.executable, args=[CRASHY], timeout=timeout)


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    """The SDK-built streamable-HTTP server, in its own process on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, str(FIXTURES / "http_server.py"), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    try:
        assert process.stdout.readline().strip() == "ready", "the HTTP MCP server did not start"
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def http_server(url: str, timeout: float = 60.0) -> McpServerConfig:
    return McpServerConfig(url=url, headers={"X-Interleaf-Test": "yes"}, timeout=timeout)


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(workdir=tmp_path, session_dir=tmp_path / "session", max_output_chars=4000)


async def managed(servers: dict[str, McpServerConfig], tmp_path: Path) -> tuple[McpManager, Toolset]:
    manager = McpManager(servers, log_dir=tmp_path / "logs")
    problems = await manager.start()
    assert problems == []
    return manager, Toolset(manager.tools())


async def call(tools: Toolset, ctx: ToolContext, tool: str, **arguments: Any) -> ToolOutcome:
    return await tools.call(tool, arguments, ctx)


def pid_of(text: str) -> int:
    return int(text.rsplit("(pid ", 1)[1].rstrip(")"))


def running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed but not reaped, does not count as running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return False
    return stat.rpartition(b")")[2][1:2] != b"Z"


# ------------------------------------------------------------------------------------- tools


def test_tool_names_are_safe_and_short() -> None:
    assert tool_name("time", "get_current_time") == "mcp__time__get_current_time"
    assert tool_name("my server", "do.it/now") == "mcp__my_server__do_it_now"
    long = tool_name("s" * 40, "t" * 40)
    assert len(long) == 64 and long.startswith("mcp__sss")
    assert long != tool_name("s" * 40, "t" * 41)


async def test_servers_tools_are_offered_with_their_schemas(
    http_url: str, tmp_path: Path, ctx: ToolContext
) -> None:
    manager, tools = await managed({"time": time_server(), "web": http_server(http_url)}, tmp_path)
    try:
        names = set(tools.names)
        assert {"mcp__time__get_current_time", "mcp__time__convert_time"} <= names
        assert {"mcp__web__echo", "mcp__web__add", "mcp__web__pixel", "mcp__web__slow"} <= names
        spec = tools.get("mcp__time__get_current_time")
        assert spec is not None
        parameters = spec.spec.parameters
        assert parameters is not None
        assert parameters["type"] == "object"
        assert "timezone" in parameters["properties"]
        assert "timezone" in parameters.get("required", [])
        assert "(MCP server `time`, tool `get_current_time`)" in (spec.spec.description or "")
        add = tools.get("mcp__web__add")
        assert add is not None
        assert add.spec.parameters is not None
        assert set(add.spec.parameters["required"]) == {"a", "b"}
        assert not add.read_only

        now = await call(tools, ctx, "mcp__time__get_current_time", timezone="UTC")
        assert not now.is_error, now.text
        assert json.loads(now.text)["timezone"] == "UTC"  # the JSON is not repeated as structured content
        converted = await call(
            tools,
            ctx,
            "mcp__time__convert_time",
            source_timezone="UTC",
            time="12:00",
            target_timezone="Asia/Tokyo",
        )
        assert json.loads(converted.text)["target"]["datetime"].endswith("T21:00:00+09:00")
    finally:
        await manager.aclose()


async def test_results_are_mapped(http_url: str, tmp_path: Path, ctx: ToolContext) -> None:
    manager, tools = await managed({"web": http_server(http_url)}, tmp_path)
    try:
        echo = await call(tools, ctx, "mcp__web__echo", text="hello")
        assert echo.content == "echo: hello" and not echo.is_error
        added = await call(tools, ctx, "mcp__web__add", a=2, b=3)
        assert json.loads(added.text) == {"total": 5, "terms": [2, 3]}

        report = await call(tools, ctx, "mcp__web__report")
        assert report.text.startswith("2 rows found\n[resource memory://rows.csv (text/csv)]\na,b\n1,2\n3,4")
        assert 'structured result:\n{\n  "rows": 2,' in report.text

        pixel = await call(tools, ctx, "mcp__web__pixel", color="blue")
        assert isinstance(pixel.content, tuple)
        note, image = pixel.content
        assert isinstance(note, Text) and isinstance(image, Image)
        assert image.media_type == "image/png"
        saved = pixel.saved[0]
        assert saved.parent == ctx.session_dir / "outputs" and saved.suffix == ".png"
        assert str(saved) in note.text
        assert saved.read_bytes() == base64.b64decode(image.data or "")
        assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        failed = await call(tools, ctx, "mcp__web__fail", reason="no reason")
        assert failed.is_error
        assert "cannot do it: no reason" in failed.text

        header = await call(tools, ctx, "mcp__web__header", name="X-Interleaf-Test")
        assert header.text == "yes"  # the configured headers go with every request
    finally:
        await manager.aclose()


async def test_arguments_are_checked_against_the_schema(
    http_url: str, tmp_path: Path, ctx: ToolContext
) -> None:
    manager, tools = await managed({"web": http_server(http_url)}, tmp_path)
    try:
        wrong = await call(tools, ctx, "mcp__web__add", a="two")
        assert wrong.is_error
        assert wrong.text.splitlines()[0] == "invalid arguments for tool `mcp__web__add`:"
        assert "- `(arguments)`: 'b' is a required property" in wrong.text
        assert "- `a`: 'two' is not of type 'integer'" in wrong.text
        assert "`mcp__web__add` takes: a (integer, required), b (integer, required)." in wrong.text
    finally:
        await manager.aclose()


# ----------------------------------------------------------------------------------- failures


async def test_a_call_that_times_out_leaves_a_responsive_server_usable(
    http_url: str, tmp_path: Path, ctx: ToolContext
) -> None:
    manager, tools = await managed({"web": http_server(http_url, timeout=1)}, tmp_path)
    try:
        started = time.monotonic()
        slow = await call(tools, ctx, "mcp__web__slow", seconds=5)
        assert time.monotonic() - started < 4
        assert slow.is_error
        assert "`slow` on MCP server `web` timed out after 1 s" in slow.text
        assert "the server itself still responds" in slow.text
        after = await call(tools, ctx, "mcp__web__echo", text="still here")
        assert after.content == "echo: still here"  # no restart note: it never went down
    finally:
        await manager.aclose()


async def test_a_crashed_server_is_restarted_once_then_down(tmp_path: Path, ctx: ToolContext) -> None:
    manager, tools = await managed({"crashy": crashy()}, tmp_path)
    try:
        first = pid_of((await call(tools, ctx, "mcp__crashy__echo", text="a")).text)
        crashed = await call(tools, ctx, "mcp__crashy__crash")
        assert crashed.is_error
        assert crashed.text.startswith(
            "MCP server `crashy` exited or dropped the connection while running `crash`"
        )
        assert "It will be restarted on the next call to one of its tools." in crashed.text
        assert not running(first)

        again = await call(tools, ctx, "mcp__crashy__echo", text="b")
        assert not again.is_error, again.text
        assert again.text.startswith(
            "[MCP server `crashy` was restarted before this call: it exited while running `crash`]\necho: b"
        )
        second = pid_of(again.text)
        assert second != first and running(second)

        crashed_again = await call(tools, ctx, "mcp__crashy__crash")
        assert "It was already restarted once, so it will not be again" in crashed_again.text
        down = await call(tools, ctx, "mcp__crashy__echo", text="c")
        assert down.is_error
        assert down.text.startswith("MCP server `crashy` is down (it exited while running `crash`)")
        assert not running(second)
    finally:
        await manager.aclose()


async def test_a_hung_server_is_stopped_and_restarted(tmp_path: Path, ctx: ToolContext) -> None:
    manager, tools = await managed({"crashy": crashy(timeout=1)}, tmp_path)
    try:
        first = pid_of((await call(tools, ctx, "mcp__crashy__echo", text="a")).text)
        hung = await call(tools, ctx, "mcp__crashy__hang")
        assert hung.is_error
        assert (
            "the server no longer answers at all (not even a ping): it hangs, so it was stopped" in hung.text
        )
        assert not running(first)
        again = await call(tools, ctx, "mcp__crashy__echo", text="b")
        assert "was restarted before this call: it stopped responding" in again.text
        assert pid_of(again.text) != first
    finally:
        await manager.aclose()


async def test_servers_that_fail_to_start_are_reported_and_left_out(tmp_path: Path) -> None:
    servers = {
        "missing": McpServerConfig(command="no-such-mcp-server-anywhere"),
        "dies": McpServerConfig(command="/bin/sh", args=["-c", "echo 'boom: bad config' >&2; exit 4"]),
        "neither": McpServerConfig(),
        "off": McpServerConfig(command="no-such-mcp-server-anywhere", disabled=True),
        "crashy": crashy(),
    }
    manager = McpManager(servers, log_dir=tmp_path / "logs")
    try:
        problems = await manager.start()
        assert len(problems) == 3
        assert "`missing`" in problems[0] and "`no-such-mcp-server-anywhere` was not found" in problems[0]
        assert "`dies`" in problems[1] and "boom: bad config" in problems[1]
        assert "neither `command`" in problems[2]
        assert {tool.server for tool in manager.tools()} == {"crashy"}
        states = {status.name: status.state for status in manager.status()}
        assert states == {
            "missing": "failed",
            "dies": "failed",
            "neither": "failed",
            "off": "disabled",
            "crashy": "running",
        }
    finally:
        await manager.aclose()


# ---------------------------------------------------------------------------------- the CLI


def test_mcp_list_shows_servers_and_tools(http_url: str, tmp_path: Path) -> None:
    file = tmp_path / "mcp.json"
    file.write_text(json.dumps({"mcpServers": {"web": {"url": http_url}}}))
    config = tmp_path / "config.toml"
    config.write_text('[mcpServers.broken]\ncommand = "no-such-mcp-server-anywhere"\n')
    runner = CliRunner()

    listed = runner.invoke(app, ["mcp", "list", "--config", str(config), "--mcp-json", str(file)])
    assert listed.exit_code == 1, listed.output  # one server failed
    lines = listed.output.splitlines()
    assert lines[0] == "broken  (stdio: no-such-mcp-server-anywhere)  failed: the command " + (
        "`no-such-mcp-server-anywhere` was not found; install it or fix `command`"
    )
    assert lines[1] == f"web  (http: {http_url})  running, 7 tools"
    assert "  mcp__web__add     Add two integers and return the total with its terms." in lines

    missing = runner.invoke(app, ["mcp", "list", "--config", str(tmp_path / "none.toml")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    nothing = runner.invoke(app, ["mcp", "list", "--config", str(empty)])
    assert nothing.exit_code == 0 and "no MCP servers configured" in nothing.output

    as_json = runner.invoke(app, ["mcp", "list", "--mcp-json", str(file), "--json", "--config", str(empty)])
    assert as_json.exit_code == 0, as_json.output
    [server] = json.loads(as_json.output)
    assert (server["name"], server["status"], server["problem"]) == ("web", "running", None)
    assert server["transport"] == f"http: {http_url}"
    assert {
        "name": "mcp__web__add",
        "description": "Add two integers and return the total with its terms.",
    } in (server["tools"])


# -------------------------------------------------------------------------------- the agent


def _reply(call_id: str, name: str, arguments: dict[str, Any]) -> Step:
    completion = openai_completion(
        reasoning="Use the tool.", tool_calls=[tool_call(call_id, name, arguments)]
    )
    return Step.sse(openai_chunks(completion))


def _answer(text: str) -> Step:
    return Step.sse(openai_chunks(openai_completion(reasoning="Done.", content=text)))


async def test_the_agent_and_its_subagents_share_the_servers(http_url: str, tmp_path: Path) -> None:
    asked: list[tuple[str, str]] = []

    async def ask(call: ToolCall, summary: str) -> Any:
        asked.append((call.name, summary))
        return "yes"

    steps = [
        _reply("p1", "subagent", {"task": "Add 2 and 3 with the web server and report the total."}),
        _reply("c1", "mcp__web__add", {"a": 2, "b": 3}),  # the helper's turn
        _answer("The total is 5."),
        _reply("p2", "mcp__web__echo", {"text": "after the helper"}),  # the helper's toolset is closed now
        _answer("5, and the server still answers."),
    ]
    workdir = tmp_path / "work"
    workdir.mkdir()
    servers = tmp_path / "mcp.json"  # the Claude Desktop / Cursor shape, as `--mcp-json` takes it
    servers.write_text(json.dumps({"mcpServers": {"web": {"url": http_url, "timeout": 30}}}))
    async with ScriptedServer(steps) as model:
        options = RunOptions(
            workdir=workdir,
            mode="pro",
            profile="vllm",
            base_url=model.base_url,
            model="scripted-model",
            approve="ask",
            mcp_json=servers,
            browser=False,
            store_path=tmp_path / "sessions.db",
        )
        async with AgentSession(options, ask=ask) as session:
            finished = await session.run("What is 2 + 3? Use the web server.")
        model.assert_done()
    assert finished.status == "done", finished
    offered = {tool["function"]["name"] for tool in model.requests[0].json["tools"]}
    assert {"mcp__web__add", "mcp__web__echo", "subagent"} <= offered and "browser" not in offered
    child_results = [m for m in model.requests[2].json["messages"] if m["role"] == "tool"]
    assert '"total": 5' in child_results[0]["content"]
    parent_results = [m for m in model.requests[4].json["messages"] if m["role"] == "tool"]
    assert parent_results[-1]["content"] == "echo: after the helper"
    # MCP calls always ask in ask mode; delegating does not.
    assert [name for name, _ in asked] == ["mcp__web__add", "mcp__web__echo"]
    assert '"a": 2' in asked[0][1]


@pytest.fixture(autouse=True)
def _no_stray_servers() -> Iterator[None]:
    """Every test leaves no MCP server process of its own (a child of this process) running."""
    yield
    mine = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _is_my_crashy(p)]
    assert not [pid for pid in mine if running(pid)], "a crashy MCP server was left running"


def _is_my_crashy(proc: Path) -> bool:
    try:
        parent = int((proc / "stat").read_bytes().rpartition(b")")[2].split()[1])
        return parent == os.getpid() and CRASHY.encode() in (proc / "cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return False
