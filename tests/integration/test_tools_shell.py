"""The shell tool against a real bash: persistence, timeouts, huge and binary output, a dying shell."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from interleaf.tools.base import ToolContext, Toolset
from interleaf.tools.shell import ShellTool


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    (path / "sub").mkdir(parents=True)
    return path


@pytest.fixture
def ctx(workdir: Path, tmp_path: Path) -> ToolContext:
    return ToolContext(workdir=workdir, session_dir=tmp_path / "session", max_output_chars=4000)


@pytest.fixture
async def tools() -> AsyncIterator[Toolset]:
    async with Toolset([ShellTool(max_timeout=30)]) as toolset:
        yield toolset


async def sh(
    tools: Toolset, ctx: ToolContext, command: str, timeout: float | None = None
) -> tuple[str, bool]:
    arguments: dict[str, object] = {"command": command}
    if timeout is not None:
        arguments["timeout"] = timeout
    outcome = await tools.call("shell", arguments, ctx)
    return outcome.text, outcome.is_error


def alive(pid: int) -> bool:
    """Whether ``pid`` runs; a killed process nobody has reaped yet (a zombie) does not."""
    if Path("/proc").is_dir():
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
        except FileNotFoundError:
            return False
        return stat.rpartition(b")")[2][1:2] != b"Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_cwd_env_variables_and_functions_persist(
    tools: Toolset, ctx: ToolContext, workdir: Path
) -> None:
    assert await sh(tools, ctx, "pwd") == (str(workdir), False)
    await sh(tools, ctx, "cd sub && export GREETING=hi; count=3; twice() { echo $1$1; }")
    assert await sh(tools, ctx, 'pwd; echo "$GREETING $count"; twice ab') == (
        f"{workdir / 'sub'}\nhi 3\nabab",
        False,
    )


async def test_output_order_exit_codes_and_no_trailing_newline(tools: Toolset, ctx: ToolContext) -> None:
    assert await sh(tools, ctx, "echo out; echo err >&2; printf 'no newline'") == (
        "out\nerr\nno newline",
        False,
    )
    assert await sh(tools, ctx, "echo partial; exit_code() { return 3; }; exit_code") == (
        "partial\n[exit code: 3]",
        True,
    )
    assert await sh(tools, ctx, "not-a-command-xyz") == (
        "bash: line 1: not-a-command-xyz: command not found\n[exit code: 127]",
        True,
    )
    text, is_error = await sh(tools, ctx, "echo 'unclosed")
    assert is_error
    assert "unexpected EOF" in text
    assert await sh(tools, ctx, "cat <<'EOF'\nheredoc $HOME\nEOF") == ("heredoc $HOME", False)


async def test_commands_reading_stdin_get_eof(tools: Toolset, ctx: ToolContext) -> None:
    started = time.monotonic()
    text, is_error = await sh(
        tools,
        ctx,
        'read line; echo "read:[$line]"; cat; python3 -c "import sys; print(len(sys.stdin.read()))"',
    )
    assert (text, is_error) == ("read:[]\n0", False)
    assert time.monotonic() - started < 5


async def test_timeout_kills_the_command_not_the_session(
    tools: Toolset, ctx: ToolContext, workdir: Path
) -> None:
    await sh(tools, ctx, "sleep 60 & echo $! > bg.pid")  # an earlier background job: it must survive
    started = time.monotonic()
    text, is_error = await sh(
        tools,
        ctx,
        # A background job of its own, and a child that ignores SIGINT: both must go.
        "cd sub; export MARK=kept; echo before; sleep 60 & echo $! > ../own.pid; "
        "sh -c 'trap \"\" INT; echo $$ > ../child.pid; exec sleep 60'",
        timeout=1,
    )
    assert time.monotonic() - started < 5
    assert is_error
    assert text.startswith("before\n")
    assert text.endswith(
        "[command timed out after 1 s and was killed; "
        f"the shell session is still alive (cwd: {workdir / 'sub'})]"
    )
    pids = {name: int((workdir / f"{name}.pid").read_text()) for name in ("bg", "own", "child")}
    await asyncio.sleep(0.1)
    assert not alive(pids["child"])
    assert not alive(pids["own"])
    assert alive(pids["bg"])
    assert await sh(tools, ctx, "pwd; echo $MARK") == (f"{workdir / 'sub'}\nkept", False)


async def test_timeout_stops_a_busy_builtin_loop(tools: Toolset, ctx: ToolContext, workdir: Path) -> None:
    await sh(tools, ctx, "cd sub")
    text, is_error = await sh(tools, ctx, "while :; do :; done", timeout=0.5)
    assert is_error
    assert text.endswith(f"the shell session is still alive (cwd: {workdir / 'sub'})]")
    text, _ = await sh(tools, ctx, "for i in 1 2 3; do sleep 10; done", timeout=0.5)
    assert "still alive" in text
    assert await sh(tools, ctx, "echo ok") == ("ok", False)


async def test_timeout_keeps_the_shell_when_the_agent_runs_with_sigint_ignored(
    ctx: ToolContext, workdir: Path
) -> None:
    """An agent started in the background has SIGINT ignored, and a shell started so cannot trap it:
    without a reset, every timeout would replace the shell."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        async with Toolset([ShellTool(max_timeout=30)]) as tools:
            await sh(tools, ctx, "cd sub")
            text, is_error = await sh(tools, ctx, "while :; do :; done", timeout=0.5)
            assert is_error
            assert text.endswith(f"the shell session is still alive (cwd: {workdir / 'sub'})]")
    finally:
        signal.signal(signal.SIGINT, previous)


async def test_timeout_is_lowered_to_the_maximum(ctx: ToolContext) -> None:
    async with Toolset([ShellTool(max_timeout=0.5)]) as tools:
        text, is_error = await sh(tools, ctx, "sleep 5", timeout=100)
    assert is_error
    assert "timed out after 0.5 s" in text
    assert text.endswith("[the requested timeout was lowered to the maximum of 0.5 s]")


async def test_huge_output_is_capped_and_saved(tools: Toolset, ctx: ToolContext) -> None:
    started = time.monotonic()
    outcome = await tools.call(
        "shell",
        {"command": "echo FIRST; yes 'interleaf output line' | head -c 5000000; echo; echo LAST"},
        ctx,
    )
    assert time.monotonic() - started < 10
    assert not outcome.is_error
    (saved,) = outcome.saved
    assert saved.is_relative_to(ctx.session_dir)
    assert saved.stat().st_size == 6 + 5_000_000 + 1 + 5
    with saved.open("rb") as full:
        assert full.read(6) == b"FIRST\n"
        full.seek(-6, os.SEEK_END)
        assert full.read() == b"\nLAST\n"
    text = outcome.text
    assert len(text) <= ctx.max_output_chars
    assert text.startswith("FIRST\ninterleaf output line\n")
    assert text.endswith("interleaf output line\ninterleaf output\nLAST")  # head -c cut the last line
    assert f"cut from the middle; the full output is saved in {saved}" in text


async def test_output_just_over_the_cap_is_saved_too(tools: Toolset, ctx: ToolContext) -> None:
    outcome = await tools.call("shell", {"command": "seq 1 3000"}, ctx)  # 13.9 kB: cut, never spilled
    (saved,) = outcome.saved
    assert saved.read_text() == "".join(f"{i}\n" for i in range(1, 3001))
    assert len(outcome.text) <= ctx.max_output_chars
    assert outcome.text.startswith("1\n2\n")
    assert outcome.text.endswith("2999\n3000")
    assert "lines) cut from the middle" in outcome.text


async def test_binary_output_is_decoded_with_replacement(tools: Toolset, ctx: ToolContext) -> None:
    text, is_error = await sh(tools, ctx, r"printf 'ok\n\x00\xff\xfe\n'")
    assert not is_error
    assert text == (
        "ok\n\ufffd\ufffd\ufffd\n[the output contained binary data (NUL bytes or invalid UTF-8); "
        "undecodable bytes are shown as \ufffd]"
    )


async def test_exit_restarts_the_shell_in_the_workdir(
    tools: Toolset, ctx: ToolContext, workdir: Path
) -> None:
    await sh(tools, ctx, "cd sub; export MARK=gone")
    text, is_error = await sh(tools, ctx, "echo bye; exit 3")
    assert is_error
    assert text == (
        "bye\n[the shell itself exited (status 3) while running this command; a new shell was started in "
        f"{workdir} (cwd, variables and functions from earlier commands are gone)]"
    )
    assert await sh(tools, ctx, 'pwd; echo "mark=$MARK"') == (f"{workdir}\nmark=", False)


async def test_a_shell_killed_between_calls_is_replaced(
    tools: Toolset, ctx: ToolContext, workdir: Path
) -> None:
    await sh(tools, ctx, "cd sub")
    await sh(tools, ctx, "(sleep 0.2; kill -9 $$) >/dev/null 2>&1 &")
    await asyncio.sleep(0.6)
    text, is_error = await sh(tools, ctx, "pwd")
    assert not is_error
    assert text == (
        "[the shell had exited (killed by SIGKILL) since the last command; a new shell was started in "
        f"{workdir} (cwd, variables and functions from earlier commands are gone)]\n{workdir}"
    )


async def test_background_output_is_labelled(tools: Toolset, ctx: ToolContext) -> None:
    assert await sh(tools, ctx, "(sleep 0.2; echo from-background) & echo started") == ("started", False)
    await asyncio.sleep(0.5)
    assert await sh(tools, ctx, "echo now") == (
        "[output printed by background processes since the last command:]\nfrom-background\n"
        "[end of background output]\nnow",
        False,
    )


async def test_cancellation_stops_the_command_and_keeps_the_session(
    tools: Toolset, ctx: ToolContext, workdir: Path
) -> None:
    await sh(tools, ctx, "cd sub")
    task = asyncio.ensure_future(sh(tools, ctx, "sleep 60"))
    await asyncio.sleep(0.3)
    task.cancel()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 3
    assert await sh(tools, ctx, "pwd") == (str(workdir / "sub"), False)


async def test_aclose_ends_the_session_and_its_processes(ctx: ToolContext, workdir: Path) -> None:
    tool = ShellTool()
    outcome = await tool.run({"command": "sleep 60 & echo $!"}, ctx)
    pid = int(outcome.text)
    assert alive(pid)
    await tool.aclose()
    await asyncio.sleep(0.1)
    assert not alive(pid)
