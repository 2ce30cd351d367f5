"""The bash session behind the ``shell`` tool.

One long-lived ``bash`` runs in its own session (process group) with stdout and stderr merged into one
pipe, so output keeps its order. Each command is written to a script file and sourced in that shell
with stdin from /dev/null, so ``cd``, ``export``, functions and variables persist between calls and a
command that reads stdin gets end-of-file instead of hanging. After the command the shell prints a
sentinel line carrying a per-call random marker, the exit status and ``$PWD``; output is everything
before the marker, whether or not it ended in a newline.

A timeout stops the command, not the session. The shell gets SIGINT, which ``trap 'return 130' INT``
turns into a return from the sourced script, ending even a builtin loop such as ``while :; do :; done``;
the processes the command started (those that appeared in the shell's session since it began, so
background jobs of earlier commands are spared) get SIGINT, then SIGKILL. If the shell still does not
answer, it is killed and the tool starts a new one.

In a sandbox (:mod:`interleaf.tools.sandbox`) the process started is bubblewrap, which stays the
session and process-group leader; the bash inside is found once it answers its first sentinel, and
gets the SIGINTs. The sandbox's PID namespace means nothing the command starts can outlive the shell.

Linux finds a session's processes in /proc; elsewhere the shell's descendants stand in for them. Which
of them the command started is told by their start time (/proc's clock ticks, compared with the boot
clock read when the command was sent) and, within that tick, by their PID (compared with the last PID
handed out then): nothing is read per command but the clock and one small file, where a snapshot of
the session would read /proc/PID/stat for every process on the machine (10-30 µs each, so several
milliseconds a command on a desktop). Where the clocks do not agree (checked on the shell itself when
it starts), a snapshot is taken before each command instead.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Coroutine, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interleaf.tools.base import ToolError
from interleaf.tools.output import OutputSpool
from interleaf.tools.sandbox import Confinement, Sandbox

__all__ = ["BashSession", "CommandResult"]

_STRAY_LIMIT = 16 * 1024
"""Bytes of background output kept between commands."""
_STOP_ROUNDS = 25
_SIGINT_ROUNDS = 3
"""Rounds that stop the command's processes with SIGINT (a chance to clean up) before SIGKILL."""
_SYNC = ":\n( : )\n:"
"""Lines after a stopped command that make bash report the jobs it saw killed (see ``execute``)."""
_TRAP = "trap 'return 130 2>/dev/null' INT"
_SANDBOX_START_TIMEOUT = 20.0
"""Seconds a sandboxed shell may take to answer its first line (bubblewrap sets up in milliseconds)."""


@dataclass(slots=True)
class _Run:
    """One command in flight: where its output goes and the sentinel that ends it."""

    marker: bytes
    spool: OutputSpool
    done: asyncio.Future[tuple[int, str]]
    since: tuple[int, int] | None
    """(boot clock tick, last PID handed out) when the command was sent: processes of the session that
    started later are the command's. ``None`` where the clocks do not agree: ``before`` is used."""
    before: frozenset[tuple[int, int]] = frozenset()
    """Processes of the shell's session when the command started: spared when it is stopped."""
    pending: bytes = b""


@dataclass(slots=True)
class CommandResult:
    status: int | None = None
    cwd: str | None = None
    timed_out: bool = False
    shell_gone: bool = False
    """The bash process exited or had to be killed; the caller replaces it."""
    stray: bytes = b""
    limit_reached: bool = False
    """The command ran into the sandbox's process limit (a fork bomb); the caller replaces the shell."""


class BashSession:
    """One bash process. Output arrives through :class:`_ShellProtocol` into :meth:`_feed`."""

    def __init__(self, script_dir: Path) -> None:
        self._script_dir = script_dir
        self.script = script_dir / "command"
        self._transport: asyncio.SubprocessTransport | None = None
        self.pid = 0
        """The bash process (the one that gets SIGINT)."""
        self.leader = 0
        """The process started: bash itself, or bubblewrap around it; its session holds the command's."""
        self.confinement: Confinement | None = None
        self._run: _Run | None = None
        self._stray = bytearray()
        self.exited = asyncio.Event()
        self.output_closed = asyncio.Event()
        self.broken: str | None = None
        """Why the tool gave up on this shell while it may still look alive."""
        self._pid_max = 0
        """Non-zero when start times and PIDs tell which processes a command started (see ``start``)."""

    @classmethod
    async def start(
        cls, workdir: Path, env: Mapping[str, str], sandbox: Sandbox | None = None
    ) -> BashSession:
        """A new shell in ``workdir``; inside ``sandbox`` when it confines (see the module doc)."""
        session = cls(Path(tempfile.mkdtemp(prefix="interleaf-shell-")))
        argv, environment = _default_sigint(["bash", "--noprofile", "--norc"]), dict(env)
        if sandbox is not None and sandbox.confines:
            try:
                session.confinement = sandbox.confine(argv, env, chdir=workdir, read=(session._script_dir,))
            except OSError as exc:
                shutil.rmtree(session._script_dir, ignore_errors=True)
                raise ToolError(
                    f"cannot set up the sandbox for the shell: {exc}", brief="sandbox failed"
                ) from exc
            argv, environment = session.confinement.argv, session.confinement.env
        before = _now()
        try:
            transport, _ = await asyncio.get_running_loop().subprocess_exec(
                lambda: _ShellProtocol(session),
                *argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=environment,
                start_new_session=True,
            )
        except OSError as exc:
            shutil.rmtree(session._script_dir, ignore_errors=True)
            if session.confinement is not None:
                await session.confinement.aclose()
            raise ToolError(
                f"cannot start bash in the workdir {workdir}: {exc.strerror or exc}; "
                "check that the workdir exists and bash is installed"
            ) from exc
        session._transport = transport
        session.pid = session.leader = transport.get_pid()
        session._pid_max = _clocks_agree(session.leader, before, _now())
        if session.confinement is not None:
            await session._find_sandboxed_shell()
        return session

    async def _find_sandboxed_shell(self) -> None:
        """Wait for the sandboxed bash to answer, then learn its PID as the host sees it."""
        spool = OutputSpool(lambda: self._script_dir / "startup.log", max_chars=4000)
        run = self._send(":", spool)
        await self._wait_for(run, _SANDBOX_START_TIMEOUT)
        if not run.done.done():
            if not self.exited.is_set():
                await self._collect_last_words(run)
            message, _ = spool.render()
            await self.close()
            raise ToolError(
                f"the sandbox did not start: {message.strip() or 'no message'}. Check that bubblewrap works "
                "(`bwrap --ro-bind / / true`), or run with --sandbox off and approve each command.",
                brief="sandbox did not start",
            )
        self.pid = _sandboxed_bash(self.leader) or self.leader

    @property
    def returncode(self) -> int | None:
        code = None if self._transport is None else self._transport.get_returncode()
        if self.confinement is not None and code is not None and 128 < code < 128 + signal.NSIG:
            return 128 - code  # bubblewrap exits 128+N when the shell died of signal N
        return code

    @property
    def usable(self) -> bool:
        return self.broken is None and not self.exited.is_set()

    async def execute(self, command: str, seconds: float, spool: OutputSpool) -> CommandResult:
        result = CommandResult(stray=bytes(self._stray))
        self._stray.clear()
        _replace_content(self.script, command if command.endswith("\n") else command + "\n")
        run = self._send(f"{_TRAP}; {{ . {shlex.quote(str(self.script))}; }} </dev/null", spool)
        try:
            await self._wait_for(run, seconds)
        except asyncio.CancelledError:
            await _shielded(self._abort(run))
            raise
        if not run.done.done() and not self.exited.is_set():
            result.timed_out = True
            await self._stop(run)
            if run.done.done():
                # bash reports jobs killed by a signal once it has finished a line: feed it two no-op
                # lines, so those reports land in this command's output and not in the next one's.
                spool.write(bytes(self._stray))
                self._stray.clear()
                await self._wait_for(self._send(_SYNC, spool), 1.0)
        if run.done.done():
            result.status, result.cwd = run.done.result()
        else:
            result.shell_gone = True
            await self._collect_last_words(run)
            result.status = self.returncode
        if self.confinement is not None:
            hint = result.stray.decode("utf-8", errors="replace") + spool.recent()
            result.limit_reached = self.confinement.limit_reached(hint)
        return result

    def _send(self, line: str, spool: OutputSpool) -> _Run:
        """Have the shell run ``line`` and then print a sentinel with ``$?`` and ``$PWD``."""
        token = secrets.token_hex(8)
        run = _Run(
            marker=f"__interleaf_{token}__".encode(),
            spool=spool,
            done=asyncio.get_running_loop().create_future(),
            since=_now() if self._pid_max else None,
        )
        if run.since is None:
            run.before = _session_processes(self.leader)
        self._run = run
        # printf assembles the marker, so it never appears whole in what bash reads: with `set -v` or
        # `set -x` bash echoes that, and the echo must not pass for the sentinel.
        sentinel = f'printf \'__interleaf_%s__ %d %s\\n\' {token} "$?" "$PWD"'
        stdin = self._transport.get_pipe_transport(0) if self._transport else None
        assert isinstance(stdin, asyncio.WriteTransport)
        stdin.write(f"{line}; {sentinel}\n".encode())
        return run

    async def _wait_for(self, run: _Run, seconds: float) -> None:
        """Wait up to ``seconds`` for the command to finish or the shell to exit."""
        exited = asyncio.ensure_future(self.exited.wait())
        try:
            await asyncio.wait((run.done, exited), timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Not awaited: awaiting it under suppress(CancelledError) would also swallow a Ctrl-C that
            # cancels this task in that moment, and the command would run on as if never stopped.
            exited.cancel()

    async def _stop(self, run: _Run) -> None:
        """Stop the command and every process it started; ``run.done`` is then set if the shell survived."""
        for attempt in range(_STOP_ROUNDS):
            # The shell first: if a child dies of SIGINT before bash has its own SIGINT pending, bash
            # takes it for the child's business and goes on with the loop it is in.
            _signal(self.pid, signal.SIGINT)
            sig = signal.SIGINT if attempt < _SIGINT_ROUNDS else signal.SIGKILL
            for pid in self._command_processes(run):
                _signal(pid, sig)
            await self._wait_for(run, 0.5 if attempt == 0 else 0.1)
            if run.done.done() or self.exited.is_set():
                break
        # What the command left running goes too (its background jobs ignore SIGINT).
        for pid in self._command_processes(run):
            _signal(pid, signal.SIGKILL)

    async def _abort(self, run: _Run) -> None:
        if not run.done.done():
            await self._stop(run)
        if not run.done.done():
            self.broken = "an earlier command was cancelled and could not be stopped"
            await self.close()

    async def _collect_last_words(self, run: _Run) -> None:
        """Kill the shell if it still runs, then keep what it printed before it went."""
        _signal_group(self.leader, signal.SIGKILL)
        await self.exited.wait()
        # Background processes may hold the pipe open after the shell is gone: do not wait for EOF.
        with suppress(TimeoutError):
            await asyncio.wait_for(self.output_closed.wait(), 0.2)
        run.spool.write(run.pending)
        run.pending = b""

    def _command_processes(self, run: _Run) -> list[int]:
        if _HAVE_PROC and run.since is not None:
            tick, last_pid = run.since
            return [
                pid
                for pid, start in _session_processes(self.leader)
                if pid != self.pid
                and (
                    start > tick
                    or (start == tick and 0 < (pid - last_pid) % self._pid_max < self._pid_max // 2)
                )
            ]
        if _HAVE_PROC:
            return [pid for pid, _ in _session_processes(self.leader) - run.before if pid != self.pid]
        return _descendants(self.pid)  # pragma: no cover - systems without /proc

    def _feed(self, chunk: bytes) -> None:
        run = self._run
        if run is None or run.done.done():
            self._stray += chunk
            del self._stray[:-_STRAY_LIMIT]
            return
        data = run.pending + chunk
        start = data.find(run.marker)
        if start < 0:
            # The marker may be split across chunks: hold back as many bytes as it could overlap.
            safe = max(len(data) - len(run.marker) + 1, 0)
            run.spool.write(data[:safe])
            run.pending = data[safe:]
            return
        run.spool.write(data[:start])
        end = data.find(b"\n", start)
        if end < 0:
            run.pending = data[start:]
            return
        line = data[start + len(run.marker) + 1 : end].decode("utf-8", errors="replace")
        status, _, cwd = line.partition(" ")
        run.pending = b""
        run.done.set_result((int(status) if status.isdigit() else -1, cwd))
        if len(data) > end + 1:
            self._feed(data[end + 1 :])

    async def close(self) -> None:
        """Kill the shell and every process left in its session."""
        if self._transport is None:
            return
        _signal_group(self.leader, signal.SIGKILL)
        for pid, _ in _session_processes(self.leader):
            _signal(pid, signal.SIGKILL)
        await self.exited.wait()
        with suppress(TimeoutError):
            await asyncio.wait_for(self.output_closed.wait(), 1.0)
        self._transport.close()
        self._transport = None
        shutil.rmtree(self._script_dir, ignore_errors=True)
        if self.confinement is not None:
            await self.confinement.aclose()


class _ShellProtocol(asyncio.SubprocessProtocol):
    def __init__(self, session: BashSession) -> None:
        self._session = session

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self._session._feed(data if isinstance(data, bytes) else data.encode())

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self._session.output_closed.set()

    def process_exited(self) -> None:
        self._session.exited.set()


# ----------------------------------------------------------------------------------------- processes

_HAVE_PROC = Path("/proc/self/stat").exists()


_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_BOOT_CLOCK: int | None = getattr(time, "CLOCK_BOOTTIME", None)


def _read_small(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)


def _now() -> tuple[int, int] | None:
    """(boot clock in the clock ticks of /proc/PID/stat's start time, last PID handed out), or None."""
    last = _read_small("/proc/sys/kernel/ns_last_pid")
    if _BOOT_CLOCK is None or not last or not last.strip().isdigit():
        return None
    return time.clock_gettime_ns(_BOOT_CLOCK) * _TICKS_PER_SECOND // 1_000_000_000, int(last)


def _clocks_agree(pid: int, before: tuple[int, int] | None, after: tuple[int, int] | None) -> int:
    """``pid_max`` if process ``pid``, started between ``before`` and ``after``, shows it in /proc (so
    start times and PIDs tell what a command started); 0 otherwise."""
    stat = _read_small(f"/proc/{pid}/stat")
    pid_max = _read_small("/proc/sys/kernel/pid_max")
    if before is None or after is None or not stat or not pid_max or not pid_max.strip().isdigit():
        return 0
    fields = stat[stat.rfind(b")") + 2 :].split()
    if len(fields) <= 19 or not before[0] <= int(fields[19]) <= after[0] or not before[1] < pid <= after[1]:
        return 0
    return int(pid_max)


def _session_processes(sid: int) -> frozenset[tuple[int, int]]:
    """(pid, start time) of every process in session ``sid``; empty where there is no /proc.

    Reads /proc/PID/stat of every process on the machine with bare ``os.open``/``os.read`` (about half
    the cost of ``open``).
    """
    if not _HAVE_PROC:
        return frozenset()  # pragma: no cover
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        data = _read_small(f"/proc/{name}/stat")
        if data is None:
            continue
        # Fields after "(comm)": state ppid pgrp session ... starttime is the 20th of them.
        fields = data[data.rfind(b")") + 2 :].split()
        if len(fields) > 19 and int(fields[3]) == sid:
            found.add((int(name), int(fields[19])))
    return frozenset(found)


def _default_sigint(argv: list[str]) -> list[str]:
    """``argv`` started with SIGINT at its default action, when this process ignores it.

    Timeouts stop a command by sending the shell SIGINT, which its trap turns into ``return``. A shell
    cannot trap a signal that was ignored when it started (POSIX), and an agent started in the
    background (``interleaf run ... &`` in a script, ``nohup``) has SIGINT ignored, which every child
    inherits: each timeout would then replace the shell. coreutils' ``env --default-signal`` resets it.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN and (env := shutil.which("env")) is not None:
        return [env, "--default-signal=INT", *argv]
    return argv


def _sandboxed_bash(leader: int) -> int | None:
    """The host PID of the bash bubblewrap started under ``leader``: the session's process that sits
    deepest in nested PID namespaces (/proc/PID/status ``NSpid`` lists one PID per level) and is bash."""
    best: tuple[int, int] | None = None
    for pid, _ in _session_processes(leader):
        status = _read_small(f"/proc/{pid}/status") or b""
        comm = (_read_small(f"/proc/{pid}/comm") or b"").strip()
        for line in status.splitlines():
            if line.startswith(b"NSpid:") and comm == b"bash":
                depth = len(line.split()) - 1
                if best is None or depth > best[0] or (depth == best[0] and pid < best[1]):
                    best = (depth, pid)
    return best[1] if best is not None and best[0] > 1 else None


def _replace_content(path: Path, text: str) -> None:
    """Write ``text`` over the file at ``path`` without first truncating it to zero bytes.

    ``Path.write_text`` truncates to zero, and ext4 (``auto_da_alloc``) then starts writing the file to
    disk when it is closed, so the next command's rewrite waits for that write: 0.4-4 ms a command.
    Writing over the old bytes and cutting the file to the new length does not trigger it.
    """
    data = text.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def _descendants(root: int) -> list[int]:  # pragma: no cover - systems without /proc
    out = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        pid, ppid = (int(x) for x in line.split())
        children.setdefault(ppid, []).append(pid)
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _signal(pid: int, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _signal_group(pgid: int, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _shielded(coro: Coroutine[Any, Any, None]) -> None:
    """Finish cleanup even while the caller is being cancelled; a second cancel stops only the wait."""
    task = asyncio.ensure_future(coro)
    with suppress(asyncio.CancelledError):
        await asyncio.shield(task)
