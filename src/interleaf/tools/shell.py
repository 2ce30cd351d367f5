"""The ``shell`` tool: one persistent bash session per agent session.

How commands run, end and are stopped is :mod:`interleaf.tools.bash_session`; this module is the
tool around it: arguments, timeouts, restarting a shell that died, and what the model reads.

Given a sandbox that confines (:mod:`interleaf.tools.sandbox`), the whole bash session runs inside it
and the model is told so. A command the sandbox blocks may ask to run outside it (``outside_sandbox``
with a ``justification``): approval policies treat that call as leaving the sandbox, and if it is
approved it runs once in a fresh, unconfined bash in the session's current directory.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from interleaf.tools.base import Params, Reach, ToolContext, ToolOutcome, tool_spec
from interleaf.tools.bash_session import BashSession, CommandResult
from interleaf.tools.denylist import check_shell
from interleaf.tools.output import OutputSpool, clean_text
from interleaf.tools.sandbox import Sandbox

__all__ = ["DEFAULT_TIMEOUT", "MAX_TIMEOUT", "SandboxedShellParams", "ShellParams", "ShellTool"]

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

SANDBOX_NOTE = """\
- Commands run in a sandbox: the workdir is {writable}{network}; /tmp is private to the session; the rest \
of the file system is read-only, your home directory is empty and credentials are hidden. If a command \
fails only because of the sandbox, run it again with `outside_sandbox: true` and a `justification`; \
the user decides whether it may run.
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


class SandboxedShellParams(ShellParams):
    """The arguments when the shell runs in a sandbox: one command may ask to leave it."""

    outside_sandbox: bool = Field(
        default=False,
        description="Run this one command outside the sandbox, in a fresh shell (the user must approve; "
        "the session's variables and functions are not there). Only for what the sandbox blocks.",
    )
    justification: str | None = Field(
        default=None, description="Why the command must run outside the sandbox; shown to the user."
    )


class ShellTool:
    """The ``shell`` tool. One instance holds one bash session, started on first use.

    With a ``sandbox`` that confines, the session runs inside it (see the module doc); the model is
    told so, and offered ``outside_sandbox``, unless ``explain_sandbox`` is False.
    """

    name = "shell"
    read_only = False

    def __init__(
        self,
        *,
        default_timeout: float = DEFAULT_TIMEOUT,
        max_timeout: float = MAX_TIMEOUT,
        env: Mapping[str, str] | None = None,
        sandbox: Sandbox | None = None,
        explain_sandbox: bool = True,
    ) -> None:
        self.default_timeout = min(default_timeout, max_timeout)
        self.max_timeout = max_timeout
        self.sandbox = sandbox if sandbox is not None and sandbox.confines else None
        # A small local model reads every word of a tool's description on a CPU: it may do without
        # the sandbox's explanation and the way out of it (the sandbox confines its commands the same).
        explained = self.sandbox is not None and explain_sandbox
        self.params: type[ShellParams] = SandboxedShellParams if explained else ShellParams
        description = DESCRIPTION.format(default=self.default_timeout, max=max_timeout)
        if self.sandbox is not None and explained:
            network = "" if self.sandbox.policy.network else "; there is no network (only loopback)"
            writable = "writable" if self.sandbox.policy.mode == "workdir" else "read-only"
            description += SANDBOX_NOTE.format(writable=writable, network=network)
        self.spec = tool_spec(self.name, description.strip(), self.params)
        self._env = {**os.environ, **_SHELL_ENV, **(env or {})}
        self._session: BashSession | None = None
        self._cwd: str | None = None
        """The sandboxed session's directory after the last command (where an outside command runs)."""
        self._lock = asyncio.Lock()

    def reach(self, arguments: dict[str, Any], ctx: ToolContext | None = None) -> Reach:
        """``confined`` when the command runs in the sandbox; ``outside`` when nothing confines it."""
        if self.sandbox is None or arguments.get("outside_sandbox") is True:
            return "outside"
        return "confined"

    def denial(self, arguments: dict[str, Any]) -> str | None:
        """Why the deny list refuses this command (:mod:`interleaf.tools.denylist`), or None."""
        denial = check_shell(str(arguments.get("command", "")))
        return None if denial is None else str(denial)

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        params = self.params.model_validate(arguments)
        seconds = min(params.timeout or self.default_timeout, self.max_timeout)
        if isinstance(params, SandboxedShellParams) and params.outside_sandbox:
            return await self._run_outside(params, seconds, ctx)
        async with self._lock:
            notes: list[str] = []
            session = await self._session_for(ctx, notes)
            spool = OutputSpool(lambda: ctx.output_path("shell", ".log"), max_chars=ctx.max_output_chars)
            try:
                result = await session.execute(params.command, seconds, spool)
            finally:
                spool.close()
            self._cwd = result.cwd or self._cwd
            if result.shell_gone or result.limit_reached:
                await session.close()
                self._session = await self._start(ctx.workdir)
                self._cwd = None
        return self._outcome(params, seconds, notes, result, spool, session.script, ctx)

    async def _run_outside(self, params: ShellParams, seconds: float, ctx: ToolContext) -> ToolOutcome:
        """Run one approved command unconfined, in a fresh bash in the session's directory."""
        cwd = Path(self._cwd) if self._cwd else ctx.workdir
        if not (cwd.is_relative_to(ctx.workdir) and cwd.is_dir()):
            cwd = ctx.workdir  # a directory of the sandbox's private /tmp is not the host's
        notes = [
            f"ran outside the sandbox, in a new shell in {cwd}: the session's variables and functions "
            "were not set there, and changes to them do not carry back"
        ]
        async with self._lock:
            session = await BashSession.start(cwd, self._env)
            spool = OutputSpool(lambda: ctx.output_path("shell", ".log"), max_chars=ctx.max_output_chars)
            try:
                result = await session.execute(params.command, seconds, spool)
            finally:
                spool.close()
                await session.close()
        return self._outcome(params, seconds, notes, result, spool, session.script, ctx, replaced=False)

    def _outcome(
        self,
        params: ShellParams,
        seconds: float,
        notes: list[str],
        result: CommandResult,
        spool: OutputSpool,
        script_path: Path,
        ctx: ToolContext,
        *,
        replaced: bool = True,
    ) -> ToolOutcome:
        script = str(script_path)
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
        limit = self.sandbox.limit.maximum if self.sandbox is not None else 0
        ending, summary = _ending(result, seconds, ctx.workdir, limit if replaced else 0)
        if ending:
            sections.append(ending)
        if params.timeout is not None and params.timeout > self.max_timeout:
            sections.append(f"[the requested timeout was lowered to the maximum of {self.max_timeout:g} s]")
        return ToolOutcome(
            content="\n".join(sections),
            is_error=result.timed_out or result.shell_gone or result.limit_reached or result.status != 0,
            brief=f"$ {_one_line(params.command)} → {summary}",
            saved=(saved,) if saved else (),
        )

    async def _start(self, workdir: Path) -> BashSession:
        return await BashSession.start(workdir, self._env, self.sandbox)

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
            session = self._session = await self._start(ctx.workdir)
        return session

    async def aclose(self) -> None:
        async with self._lock:
            if self._session is not None:
                await self._session.close()
                self._session = None


def _ending(result: CommandResult, seconds: float, workdir: Path, limit: int = 0) -> tuple[str | None, str]:
    """The closing note of a result (how the command ended, if not plainly) and a summary for the UI."""
    if result.limit_reached:
        return (
            f"[the command ran into the sandbox's limit of {limit} processes (a fork bomb, or a job that "
            "starts too many processes); the shell and every process in the sandbox were killed, and a new "
            f"shell was started in {workdir} ({_RESET_NOTE})]"
        ), "process limit reached, shell restarted"
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
