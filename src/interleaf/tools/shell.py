"""The ``shell`` tool: one persistent bash session per agent session.

How commands run, end and are stopped is :mod:`interleaf.tools.bash_session`; this module is the
tool around it: arguments, timeouts, restarting a shell that died, and what the model reads.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from interleaf.tools.base import Params, ToolContext, ToolOutcome, tool_spec
from interleaf.tools.bash_session import BashSession, CommandResult
from interleaf.tools.output import OutputSpool, clean_text

__all__ = ["DEFAULT_TIMEOUT", "MAX_TIMEOUT", "ShellParams", "ShellTool"]

DEFAULT_TIMEOUT = 120.0
MAX_TIMEOUT = 600.0

DESCRIPTION = """\
Run a bash command in a persistent shell session and return its output (stdout and stderr merged).

- The session persists between calls: the working directory, exported variables, shell variables and \
functions carry over (`cd`, `export`, `source .venv/bin/activate`). It starts in the workdir.
- stdin is /dev/null: programs that wait for input get end-of-file. Use non-interactive flags \
(`apt-get -y`, `git --no-pager`) or pipe the input in.
- A command still running after `timeout` seconds (default {default:g}, at most {max:g}) is killed \
together with its child processes; the session survives.
- Long output is cut in the middle; the full output is saved to a file whose path the result gives.
- Start servers in the background with their output redirected: `nohup cmd > server.log 2>&1 &`.
- Exit codes other than 0 are reported.
"""

_SHELL_ENV = {"PAGER": "cat", "MANPAGER": "cat", "GIT_PAGER": "cat"}
_RESET_NOTE = "cwd, variables and functions from earlier commands are gone"


class ShellParams(Params):
    command: str = Field(description="The bash command to run; it may span several lines.")
    timeout: float | None = Field(
        default=None,
        gt=0,
        description="Seconds to wait before the command is killed (default 120; lowered to the tool's maximum).",
    )


class ShellTool:
    """The ``shell`` tool. One instance holds one bash session, started on first use."""

    name = "shell"
    params = ShellParams
    read_only = False

    def __init__(
        self,
        *,
        default_timeout: float = DEFAULT_TIMEOUT,
        max_timeout: float = MAX_TIMEOUT,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.default_timeout = min(default_timeout, max_timeout)
        self.max_timeout = max_timeout
        self.spec = tool_spec(
            self.name, DESCRIPTION.format(default=self.default_timeout, max=max_timeout).strip(), ShellParams
        )
        self._env = {**os.environ, **_SHELL_ENV, **(env or {})}
        self._session: BashSession | None = None
        self._lock = asyncio.Lock()

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        params = ShellParams.model_validate(arguments)
        seconds = min(params.timeout or self.default_timeout, self.max_timeout)
        async with self._lock:
            notes: list[str] = []
            session = await self._session_for(ctx, notes)
            spool = OutputSpool(lambda: ctx.output_path("shell", ".log"), max_chars=ctx.max_output_chars)
            try:
                result = await session.execute(params.command, seconds, spool)
            finally:
                spool.close()
            if result.shell_gone:
                await session.close()
                self._session = await BashSession.start(ctx.workdir, self._env)
        script = str(session.script)
        text, saved = spool.render(
            # The command runs as a sourced script; bash's messages name it, which only confuses.
            lambda raw: (
                clean_text(raw).replace(f"{script}: ", "bash: ").replace(f". {script}", "(the command)")
            )
        )
        sections = [f"[{note}]" for note in notes]
        if result.stray:
            stray = clean_text(result.stray.decode("utf-8", errors="replace")).rstrip()
            sections.append(
                f"[output printed by background processes since the last command:]\n{stray}\n"
                "[end of background output]"
            )
        sections.append(text.rstrip("\n") or "(no output)")
        if spool.binary:
            sections.append(
                "[the output contained binary data (NUL bytes or invalid UTF-8); "
                "undecodable bytes are shown as \ufffd]"
            )
        ending, summary = _ending(result, seconds, ctx.workdir)
        if ending:
            sections.append(ending)
        if params.timeout is not None and params.timeout > self.max_timeout:
            sections.append(f"[the requested timeout was lowered to the maximum of {self.max_timeout:g} s]")
        return ToolOutcome(
            content="\n".join(sections),
            is_error=result.timed_out or result.shell_gone or result.status != 0,
            brief=f"$ {_one_line(params.command)} → {summary}",
            saved=(saved,) if saved else (),
        )

    async def _session_for(self, ctx: ToolContext, notes: list[str]) -> BashSession:
        session = self._session
        if session is not None and not session.usable:
            reason = session.broken or (
                f"the shell had exited ({_describe_status(session.returncode)}) since the last command"
            )
            notes.append(f"{reason}; a new shell was started in {ctx.workdir} ({_RESET_NOTE})")
            await session.close()
            session = None
        if session is None:
            session = self._session = await BashSession.start(ctx.workdir, self._env)
        return session

    async def aclose(self) -> None:
        async with self._lock:
            if self._session is not None:
                await self._session.close()
                self._session = None


def _ending(result: CommandResult, seconds: float, workdir: Path) -> tuple[str | None, str]:
    """The closing note of a result (how the command ended, if not plainly) and a summary for the UI."""
    if result.timed_out and not result.shell_gone:
        return (
            f"[command timed out after {seconds:g} s and was killed; "
            f"the shell session is still alive (cwd: {result.cwd})]"
        ), f"timed out after {seconds:g} s"
    if result.timed_out:
        return (
            f"[command timed out after {seconds:g} s and was killed; the shell did not respond, so it was "
            f"replaced by a new shell in {workdir} ({_RESET_NOTE})]"
        ), f"timed out after {seconds:g} s, shell restarted"
    if result.shell_gone:
        return (
            f"[the shell itself exited ({_describe_status(result.status)}) while running this command; "
            f"a new shell was started in {workdir} ({_RESET_NOTE})]"
        ), "shell exited, restarted"
    return (f"[exit code: {result.status}]" if result.status else None), f"exit {result.status}"


def _describe_status(status: int | None) -> str:
    if status is None:
        return "status unknown"
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"status {status}"


def _one_line(command: str, limit: int = 60) -> str:
    line = " ".join(command.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
