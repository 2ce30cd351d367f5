"""The ``python`` tool: code runs in one persistent Jupyter kernel per agent session.

The kernel starts on first use in the workdir, from the interpreter interleaf runs on
(``sys.executable -m ipykernel_launcher``), so it works inside a virtualenv without any installed
kernelspec. It talks to us over IPC sockets in a private temporary directory and logs to
``session_dir/python-kernel.log``. A timeout interrupts the running code (state survives); a kernel
that dies is replaced on the next call, which says that the earlier state is gone.

Given a sandbox that confines (:mod:`interleaf.tools.sandbox`), the kernel runs inside it, with
everything it starts; its IPC directory is bound in read-write. Interrupts then travel as Jupyter
``interrupt_request`` messages, because a signal would reach bubblewrap rather than the kernel, and the
kernel is not told its parent's PID (inside the sandbox the parent is PID 1, which ipykernel takes
for a dead parent). A call that runs into the sandbox's process limit costs the kernel: it and all its
processes are killed, and the next call starts a new one.

Needs the ``agent`` extra (``jupyter_client`` and ``ipykernel``), imported only when the kernel starts.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import os
import queue
import shutil
import sys
import tempfile
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pydantic import Field

from interleaf.tools.base import Params, Reach, ToolContext, ToolError, ToolOutcome, tool_spec
from interleaf.tools.denylist import check_python
from interleaf.tools.output import OutputSpool
from interleaf.tools.sandbox import Confinement, Sandbox
from interleaf.transcript import Image, Text

if TYPE_CHECKING:
    from jupyter_client.asynchronous.client import AsyncKernelClient
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

__all__ = ["PythonParams", "PythonTool"]

DEFAULT_TIMEOUT = 120.0
MAX_TIMEOUT = 600.0
STARTUP_TIMEOUT = 60.0

DESCRIPTION = """\
Run Python code in a persistent Jupyter (IPython) kernel and return what it printed, the value of \
the last expression, displayed images and any exception with its traceback.

- State persists between calls: variables, imports and functions stay defined. The kernel's working \
directory starts at the workdir.
- IPython syntax works (`%timeit`, `!ls`). Input is not available: `input()` fails.
- Code still running after `timeout` seconds (default {default:g}, at most {max:g}) is interrupted \
with KeyboardInterrupt; the kernel and its state survive.
- Images (e.g. matplotlib figures, IPython.display.Image) are saved to files and shown.
- Long output is cut in the middle; the full output is saved to a file whose path the result gives.
"""

SANDBOX_NOTE = """\
- The kernel runs in a sandbox: the workdir is {writable}{network}; /tmp is private; the rest of the file \
system is read-only, your home directory is empty and credentials are hidden.
"""

_POLL = 0.5
"""Seconds between checks that the kernel is still alive while waiting for output."""
_INTERRUPT_GRACE = 5.0
_IMAGE_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp"}


class PythonParams(Params):
    code: str = Field(description="Python code to run; the value of the last expression is shown.")
    timeout: float | None = Field(
        default=None,
        gt=0,
        description="Seconds before the code is interrupted (default 120; lowered to the tool's maximum).",
    )


class PythonTool:
    """The ``python`` tool. One instance holds one kernel, started on first use."""

    name = "python"
    params = PythonParams
    read_only = False

    def __init__(
        self,
        *,
        default_timeout: float = DEFAULT_TIMEOUT,
        max_timeout: float = MAX_TIMEOUT,
        startup_timeout: float = STARTUP_TIMEOUT,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.default_timeout = min(default_timeout, max_timeout)
        self.max_timeout = max_timeout
        self.startup_timeout = startup_timeout
        self.sandbox = sandbox if sandbox is not None and sandbox.confines else None
        description = DESCRIPTION.format(default=self.default_timeout, max=max_timeout)
        if self.sandbox is not None:
            network = "" if self.sandbox.policy.network else "; there is no network (only loopback)"
            writable = "writable" if self.sandbox.policy.mode == "workdir" else "read-only"
            description += SANDBOX_NOTE.format(writable=writable, network=network)
        self.spec = tool_spec(self.name, description.strip(), PythonParams)
        self._kernel: _Kernel | None = None
        self._lost: str | None = None
        """Why the previous kernel went away, told with the next result."""
        self._lock = asyncio.Lock()

    def reach(self, arguments: dict[str, Any], ctx: ToolContext | None = None) -> Reach:
        """``confined`` when the kernel runs in the sandbox; ``outside`` when nothing confines it."""
        return "outside" if self.sandbox is None else "confined"

    def denial(self, arguments: dict[str, Any]) -> str | None:
        """Why the deny list refuses this code (:func:`interleaf.tools.denylist.check_python`), or None."""
        denial = check_python(str(arguments.get("code", "")))
        return None if denial is None else str(denial)

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        params = PythonParams.model_validate(arguments)
        seconds = min(params.timeout or self.default_timeout, self.max_timeout)
        async with self._lock:
            notes: list[str] = []
            if self._kernel is not None and not await self._kernel.alive():
                self._lost = self._lost or "the Python kernel had died since the last call"
                await self._drop_kernel()
            if self._kernel is None:
                if self._lost:
                    notes.append(
                        f"{self._lost}; this code ran in a new kernel, so variables, imports and functions "
                        "defined earlier are gone"
                    )
                    self._lost = None
                self._kernel = await _Kernel.start(ctx, self.startup_timeout, self.sandbox)
            spool = OutputSpool(lambda: ctx.output_path("python", ".txt"), max_chars=ctx.max_output_chars)
            try:
                result = await self._kernel.execute(params.code, seconds, spool, ctx)
            finally:
                spool.close()
            if self._kernel.limit_reached(spool.recent()):
                result.limit = self.sandbox.limit.maximum if self.sandbox is not None else 0
                self._lost = (
                    "the previous call ran into the sandbox's process limit, so the kernel was killed"
                )
                await self._drop_kernel()
            elif result.died:
                self._lost = "the Python kernel died while running the previous call"
                await self._drop_kernel()
            elif result.timed_out and not result.interrupted:
                self._lost = "the Python kernel did not stop when interrupted and was restarted"
                await self._drop_kernel()
        return _outcome(params, seconds, self.max_timeout, notes, result, spool)

    async def _drop_kernel(self) -> None:
        if self._kernel is not None:
            await self._kernel.close()
            self._kernel = None

    async def aclose(self) -> None:
        async with self._lock:
            await self._drop_kernel()


def _outcome(
    params: PythonParams,
    seconds: float,
    max_timeout: float,
    notes: list[str],
    result: _Result,
    spool: OutputSpool,
) -> ToolOutcome:
    text, saved = spool.render()
    sections = [f"[{note}]" for note in notes]
    sections.append(text.rstrip("\n") or "(no output)")
    if result.limit:
        sections.append(
            f"[the code ran into the sandbox's limit of {result.limit} processes (a fork bomb, or a pool "
            "that starts too many); the kernel and every process it started were killed, so all its state "
            "is lost. A new kernel starts with the next call.]"
        )
        brief = "process limit reached, kernel killed"
    elif result.died:
        sections.append(
            f"[the Python kernel died while running this code ({result.died}); all its state is lost. "
            "A new kernel starts with the next call.]"
        )
        brief = "kernel died"
    elif result.timed_out and result.interrupted:
        sections.append(
            f"[execution timed out after {seconds:g} s and was interrupted (KeyboardInterrupt); the kernel "
            "is still running and keeps its state (variables, imports)]"
        )
        brief = f"timed out after {seconds:g} s, interrupted"
    elif result.timed_out:
        sections.append(
            f"[execution timed out after {seconds:g} s and did not stop when interrupted, so the kernel was "
            "shut down; its state is lost and a new kernel starts with the next call]"
        )
        brief = f"timed out after {seconds:g} s, kernel restarted"
    else:
        brief = f"error: {result.error}" if result.error else "ok"
    if params.timeout is not None and params.timeout > max_timeout:
        sections.append(f"[the requested timeout was lowered to the maximum of {max_timeout:g} s]")
    body = "\n".join(sections)
    files = ((saved,) if saved else ()) + tuple(path for path, _ in result.images)
    content: str | tuple[Text | Image, ...] = body
    if result.images:
        content = (Text(text=body), *(image for _, image in result.images))
    first_line = params.code.strip().splitlines()[0] if params.code.strip() else ""
    return ToolOutcome(
        content=content,
        is_error=bool(result.error or result.died or result.timed_out or result.limit),
        brief=f">>> {first_line[:60]} → {brief}",
        saved=files,
    )


@dataclass(slots=True)
class _Result:
    error: str | None = None
    """``ename`` of an exception the code raised."""
    timed_out: bool = False
    interrupted: bool = False
    """After a timeout: the kernel answered the interrupt and is idle again."""
    died: str | None = None
    """How the kernel died during the call, if it did."""
    limit: int = 0
    """The sandbox's process limit, when the call ran into it."""
    images: list[tuple[Path, Image]] = field(default_factory=list)


class _Kernel:
    """A running kernel and our client for it."""

    def __init__(
        self,
        manager: AsyncKernelManager,
        client: AsyncKernelClient,
        scratch: Path,
        log: IO[bytes],
        confinement: Confinement | None,
    ) -> None:
        self._manager = manager
        self._client = client
        self._scratch = scratch
        self._log = log
        self._confinement = confinement

    @classmethod
    async def start(cls, ctx: ToolContext, startup_timeout: float, sandbox: Sandbox | None = None) -> _Kernel:
        if (
            importlib.util.find_spec("jupyter_client") is None
            or importlib.util.find_spec("ipykernel") is None
        ):
            raise ToolError(
                "the python tool needs jupyter_client and ipykernel; install them with "
                "`pip install 'interleaf[agent]'`",
                brief="python tool not installed",
            )
        from jupyter_client.manager import AsyncKernelManager

        # A short private directory: IPC socket paths must stay under ~100 bytes.
        scratch = Path(tempfile.mkdtemp(prefix="il-kernel-"))
        log_path = ctx.session_dir / "python-kernel.log"
        log: IO[bytes] | None = None
        manager: AsyncKernelManager | None = None
        confinement: Confinement | None = None
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        launch: dict[str, Any] = {}
        try:
            if sandbox is not None:
                confinement = sandbox.confine(
                    argv, os.environ, chdir=ctx.workdir, write=(scratch,), unset=("JPY_PARENT_PID",)
                )
                argv, launch["env"] = confinement.argv, confinement.env
            ctx.session_dir.mkdir(parents=True, exist_ok=True)
            log = log_path.open("ab")
            manager = AsyncKernelManager(
                kernel_name="python3",
                kernel_spec_manager=_spec_manager(argv, "message" if confinement else "signal"),
                transport="ipc",
                ip=str(scratch / "k"),
                connection_file=str(scratch / "kernel.json"),
            )
            await manager.start_kernel(cwd=str(ctx.workdir), stdout=log, stderr=log, **launch)
            client = manager.client()
            client.start_channels(hb=False)  # liveness comes from the manager, no heartbeat thread
            try:
                await client.wait_for_ready(timeout=startup_timeout)
            except BaseException:
                client.stop_channels()
                raise
        except BaseException as exc:
            if manager is not None:
                with suppress(Exception):
                    await manager.shutdown_kernel(now=True)
            if log is not None:
                log.close()
            shutil.rmtree(scratch, ignore_errors=True)
            if confinement is not None:
                await confinement.aclose()
            if isinstance(exc, Exception):
                raise ToolError(
                    f"the Python kernel did not start: {type(exc).__name__}: {exc}. Its log is {log_path}.",
                    brief="python kernel did not start",
                ) from exc
            raise
        return cls(manager, client, scratch, log, confinement)

    async def alive(self) -> bool:
        return bool(await self._manager.is_alive())

    def limit_reached(self, output: str) -> bool:
        """Whether the last call ran into the sandbox's process limit (never without a sandbox)."""
        return self._confinement is not None and self._confinement.limit_reached(output)

    async def execute(self, code: str, seconds: float, spool: OutputSpool, ctx: ToolContext) -> _Result:
        result = _Result()
        msg_id: str = self._client.execute(code, store_history=True, allow_stdin=False, stop_on_error=False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0 and not result.timed_out:
                    result.timed_out = True
                    await self._manager.interrupt_kernel()
                    deadline = loop.time() + _INTERRUPT_GRACE
                    continue
                if remaining <= 0:
                    return result  # the interrupt was ignored
                try:
                    message = await self._client.get_iopub_msg(timeout=min(remaining, _POLL))
                except queue.Empty:
                    if not await self.alive():
                        result.died = _exit_description(self._manager)
                        return result
                    continue
                if message["parent_header"].get("msg_id") != msg_id:
                    continue  # left over from an earlier, interrupted call
                if _handle(message, result, spool, ctx):
                    result.interrupted = result.timed_out
                    break
        except asyncio.CancelledError:
            with suppress(Exception):
                await asyncio.shield(self._manager.interrupt_kernel())
            raise
        await self._drain_reply(msg_id)
        return result

    async def _drain_reply(self, msg_id: str) -> None:
        """Consume the shell reply for ``msg_id`` so replies do not pile up unread."""
        with suppress(queue.Empty):
            while True:
                reply = await self._client.get_shell_msg(timeout=1.0)
                if reply["parent_header"].get("msg_id") == msg_id:
                    return

    async def close(self) -> None:
        self._client.stop_channels()
        with suppress(Exception):
            await self._manager.shutdown_kernel(now=True)
        self._log.close()
        shutil.rmtree(self._scratch, ignore_errors=True)
        if self._confinement is not None:
            await self._confinement.aclose()


def _handle(message: dict[str, Any], result: _Result, spool: OutputSpool, ctx: ToolContext) -> bool:
    """Add one iopub message to the result; True when the execution is over."""
    kind = message["msg_type"]
    content = message["content"]
    if kind == "status":
        return bool(content["execution_state"] == "idle")
    if kind == "stream":
        spool.write(content["text"].encode())
    elif kind in ("execute_result", "display_data"):
        _display(content.get("data", {}), result, spool, ctx)
    elif kind == "error":
        result.error = content.get("ename") or "error"
        traceback = "\n".join(
            content.get("traceback") or [f"{content.get('ename')}: {content.get('evalue')}"]
        )
        spool.write(traceback.encode() + b"\n")  # ANSI colours go when the spool renders
    return False


def _display(data: dict[str, Any], result: _Result, spool: OutputSpool, ctx: ToolContext) -> None:
    for media_type, suffix in _IMAGE_TYPES.items():
        if media_type in data:
            encoded = "".join(data[media_type].split())
            path = ctx.output_path("python", suffix)
            path.write_bytes(base64.b64decode(encoded))
            result.images.append((path, Image(media_type=media_type, data=encoded)))
            spool.write(f"[image {len(result.images)}: {media_type} saved to {path}]\n".encode())
            return
    text = data.get("text/plain")
    if text is None:
        kinds = ", ".join(sorted(data)) or "nothing"
        text = f"[display data without a text form: {kinds}]"
    spool.write(text.encode() + (b"" if text.endswith("\n") else b"\n"))


def _exit_description(manager: AsyncKernelManager) -> str:
    process = getattr(getattr(manager, "provisioner", None), "process", None)
    code = getattr(process, "returncode", None)
    return "it exited" if code is None else f"exit code {code}"


def _spec_manager(argv: list[str], interrupt_mode: str) -> KernelSpecManager:
    """A kernelspec manager whose ``python3`` is ``argv`` (this interpreter, maybe in a sandbox),
    whatever kernelspecs are installed."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    class _CurrentInterpreter(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            if kernel_name != "python3":
                return super().get_kernel_spec(kernel_name)
            return KernelSpec(
                argv=argv,
                display_name=f"Python {sys.version_info.major}.{sys.version_info.minor} (interleaf)",
                language="python",
                interrupt_mode=interrupt_mode,
                metadata={"debugger": False},
            )

    return _CurrentInterpreter()
