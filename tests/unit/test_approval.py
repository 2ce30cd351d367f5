"""Approval policies judged by reach: what each mode does with read, confined and outside calls.

The tools are interleaf's own (the shell with and without a sandbox, the file tools) plus one small
tool defined here that judges its calls like the browser does (``approval_needed``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from interleaf.agent.approval import Answer, Approver, tool_reach
from interleaf.cli import app
from interleaf.tools.base import Params, ToolContext, ToolOutcome, Toolset, tool_spec
from interleaf.tools.files import ReadFileTool, WriteFileTool
from interleaf.tools.sandbox import Sandbox, SandboxPolicy
from interleaf.tools.shell import ShellTool
from interleaf.transcript import ToolCall


class PageParams(Params):
    url: str


class PageTool:
    """Judges its own calls: opening a loopback page needs no approval, anything else does."""

    name = "page"
    params: type[BaseModel] = PageParams
    read_only = False
    spec = tool_spec("page", "open a page", PageParams)

    def approval_needed(self, arguments: dict[str, Any]) -> bool:
        return not str(arguments.get("url", "")).startswith("http://127.0.0.1")

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        return ToolOutcome(content="opened")

    async def aclose(self) -> None:
        pass


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    (tmp_path / "work").mkdir()
    return ToolContext(
        workdir=tmp_path / "work", session_dir=tmp_path / "session", allow_outside_workdir=True
    )


def toolset(ctx: ToolContext, *, sandboxed: bool) -> Toolset:
    sandbox = Sandbox(SandboxPolicy(mode="workdir" if sandboxed else "off"), workdir=ctx.workdir)
    assert sandbox.confines == sandboxed, sandbox.problem
    return Toolset([ShellTool(sandbox=sandbox), ReadFileTool(), WriteFileTool(), PageTool()])


CALLS = {
    "read": ToolCall(id="c1", name="read_file", arguments={"path": "notes.md"}),
    "write": ToolCall(id="c2", name="write_file", arguments={"path": "notes.md", "content": "x"}),
    "write outside": ToolCall(id="c3", name="write_file", arguments={"path": "/etc/motd", "content": "x"}),
    "shell": ToolCall(id="c4", name="shell", arguments={"command": "ls"}),
    "shell escape": ToolCall(
        id="c5", name="shell", arguments={"command": "pip install x", "outside_sandbox": True}
    ),
    "loopback page": ToolCall(id="c6", name="page", arguments={"url": "http://127.0.0.1:8000/"}),
    "web page": ToolCall(id="c7", name="page", arguments={"url": "https://example.com/"}),
    "rm -rf": ToolCall(id="c8", name="shell", arguments={"command": 'rm -rf "$HOME"'}),
}


async def decisions(approver: Approver) -> dict[str, bool]:
    return {
        label: (await approver.decide(call, read_only=False, summary=label)).allowed
        for label, call in CALLS.items()
    }


async def test_auto_runs_what_the_sandbox_confines_and_refuses_the_rest_without_a_terminal(
    ctx: ToolContext,
) -> None:
    tools = toolset(ctx, sandboxed=True)
    approver = Approver("auto", tools=tools.get, context=ctx)
    assert await decisions(approver) == {
        "read": True,
        "write": True,
        "write outside": False,
        "shell": True,
        "shell escape": False,
        "loopback page": True,
        "web page": True,  # the network is on
        "rm -rf": False,  # the deny list, in every mode
    }
    closed = Approver("auto", tools=tools.get, context=ctx, network=False)
    assert (await decisions(closed))["web page"] is False


async def test_auto_asks_on_a_terminal_only_about_leaving_the_sandbox(ctx: ToolContext) -> None:
    asked: list[str] = []

    async def ask(call: ToolCall, summary: str) -> Answer:
        asked.append(summary)
        return "yes"

    approver = Approver("auto", ask=ask, tools=toolset(ctx, sandboxed=True).get, context=ctx)
    allowed = await decisions(approver)
    assert asked == ["write outside", "shell escape"]
    assert allowed == {label: label != "rm -rf" for label in CALLS}


async def test_without_a_sandbox_auto_refuses_the_shell_and_all_runs_it(ctx: ToolContext) -> None:
    tools = toolset(ctx, sandboxed=False)
    auto = await decisions(Approver("auto", tools=tools.get, context=ctx))
    assert (auto["shell"], auto["write"]) == (False, True)
    everything = await decisions(Approver("all", tools=tools.get, context=ctx))
    assert everything == {label: label != "rm -rf" for label in CALLS}


async def test_ask_asks_about_every_change_and_never_runs_only_reads(ctx: ToolContext) -> None:
    asked: list[str] = []

    async def ask(call: ToolCall, summary: str) -> Answer:
        asked.append(summary)
        return "no"

    tools = toolset(ctx, sandboxed=True)
    await decisions(Approver("ask", ask=ask, tools=tools.get, context=ctx))
    assert asked == ["write", "write outside", "shell", "shell escape", "web page"]
    never = await decisions(Approver("never", tools=tools.get, context=ctx))
    assert [label for label, allowed in never.items() if allowed] == ["read", "loopback page"]


async def test_an_approver_that_cannot_judge_reach_treats_changes_as_leaving(ctx: ToolContext) -> None:
    approver = Approver("auto")
    call = CALLS["shell"]
    assert (await approver.decide(call, read_only=True, summary="ls")).allowed
    assert not (await approver.decide(call, read_only=False, summary="ls")).allowed


def test_reach_of_tools_that_do_not_say_it(ctx: ToolContext) -> None:
    page = PageTool()
    assert tool_reach(page, {"url": "http://127.0.0.1/"}, ctx, network=False) == "read"
    assert tool_reach(page, {"url": "https://example.com/"}, ctx, network=True) == "confined"
    assert tool_reach(page, {"url": "https://example.com/"}, ctx, network=False) == "outside"
    assert tool_reach(None, {}, ctx, network=True) == "outside"

    class Broken:
        def reach(self, arguments: dict[str, Any], ctx: ToolContext | None) -> str:
            raise RuntimeError("cannot tell")

    assert tool_reach(Broken(), {}, ctx, network=True) == "outside"


def test_unknown_policies_are_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="use ask, auto, never or all"):
        Approver("sometimes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--sandbox", "strict"], "--sandbox 'strict' is not a sandbox mode; use workdir, readonly or off"),
        (["--network", "maybe"], "--network 'maybe': use on or off"),
        (["--approve", "yes"], "--approve 'yes' is not a policy; use ask, auto, never or all"),
    ],
)
def test_bad_sandbox_flags_are_named(flags: list[str], message: str, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("")
    result = CliRunner().invoke(app, ["run", "task", "--config", str(config), *flags])
    assert result.exit_code == 2
    assert message in result.output
