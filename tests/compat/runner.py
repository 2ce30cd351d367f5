"""Runs one cell: an app, speaking one API, against a strict scripted model in one dialect, either
DIRECT (app -> scripted server) or through the GATEWAY (app -> ``interleaf serve`` subprocess ->
scripted server), and collects what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests.compat.apps import APPS
from tests.compat.compaction_task import kill_strays
from tests.compat.dialects import DIALECTS, WireApi
from tests.compat.gateway import GatewayProcess, GatewayUnavailable
from tests.compat.launch import Launch
from tests.compat.model import CompatModel, Exchange
from tests.compat.sandbox import CACHE, FILE_NAME, Sandbox, Target
from tests.support.scripted_server import RecordedRequest, ScriptedServer

Route = Literal["direct", "gateway"]


@dataclass(frozen=True)
class Cell:
    app: str
    api: WireApi
    """The API the app speaks in this cell."""
    dialect: str
    """The upstream's dialect (the scripted model)."""
    route: Route

    @property
    def key(self) -> str:
        return f"{self.app}:{self.api}>{self.dialect}:{self.route}"


@dataclass
class CellResult:
    cell: Cell
    status: str = "failed"
    """``passed`` (3/3 turns, all earlier thinking kept), ``failed``, ``not-run`` (cannot run here)."""
    turns: int = 0
    kept: int = 0
    expected: int = 0
    restored: int | None = None
    missing: int | None = None
    foreign: int | None = None
    reason: str = ""
    exit_code: int | None = None
    seconds: float = 0.0
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    output_tail: str = ""
    gateway_tail: str = ""

    def summary(self) -> str:
        if self.status == "not-run":
            return f"not run: {self.reason}"
        text = f"{self.turns}/3 turns, {self.kept}/{self.expected} kept"
        if self.restored is not None:
            extra = f"{self.restored} restored"
            if self.missing:
                extra += f", {self.missing} missing"
            if self.foreign:
                extra += f", {self.foreign} foreign"
            text += f" ({extra})"
        return text

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["cell"] = {**asdict(self.cell), "key": self.cell.key}
        data["summary"] = self.summary()
        return data


async def run_cell(
    cell: Cell, *, gateway_src: Path | None = None, timeout: float | None = None
) -> tuple[CellResult, list[RecordedRequest]]:
    """Run ``cell`` once; returns its result and the requests the scripted server recorded.
    ``gateway_src``: run the gateway from this ``src`` directory (see :func:`gateway_source`)."""
    app = APPS[cell.app]
    dialect = DIALECTS[cell.dialect]
    result = CellResult(cell)
    if not app.installed():
        result.status, result.reason = "not-run", f"{app.name} is not installed (run scripts/compat)"
        return result, []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"compat-{cell.app}-") as tmp:
        box = Sandbox.create(Path(tmp))
        model = CompatModel(
            dialect,
            box.workdir,
            FILE_NAME,
            box.file_text,
            model_name=dialect.model,
            text_actions=app.acts_in_text,
        )
        async with ScriptedServer(count_tokens=True) as server:
            model.attach(server)
            gateway: GatewayProcess | None = None
            try:
                url = server.base_url
                if cell.route == "gateway":
                    if dialect.profile is None:
                        result.status = "not-run"
                        result.reason = f"interleaf serve has no profile for a {dialect.api} upstream"
                        return result, []
                    gateway = GatewayProcess(dialect, server.base_url, Path(tmp) / "gateway", gateway_src)
                    try:
                        url = await gateway.start()
                        await gateway.check_endpoint(cell.api)
                    except GatewayUnavailable as exc:
                        result.reason = str(exc)
                        result.gateway_tail = gateway.log_tail()
                        return result, list(server.requests)
                launch = app.configure(box, Target(url, cell.api, dialect.model))
                try:
                    code, output = await _run(launch, timeout or app.timeout, Path(tmp) / "app.log")
                finally:
                    kill_strays(box.home, box.workdir)
                result.exit_code, result.output_tail = code, output[-3000:]
                if gateway is not None:
                    counts = await gateway.counts()
                    result.restored, result.missing, result.foreign = counts
                    result.gateway_tail = gateway.log_tail()
            finally:
                if gateway is not None:
                    await gateway.stop()
                    if os.environ.get("INTERLEAF_COMPAT_DEBUG"):
                        kept = CACHE / "logs" / f"{cell.key.replace(':', '_').replace('>', '_')}.log"
                        kept.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(gateway.log_path, kept)
            _score(result, model, box)
            requests = list(server.requests)
    result.seconds = round(time.monotonic() - started, 1)
    return result, requests


def _score(result: CellResult, model: CompatModel, box: Sandbox) -> None:
    tasks = model.task_exchanges()
    result.exchanges = [e.as_json() for e in model.exchanges]
    answered = [e.step for e in tasks if e.status == 200]
    result.turns = max(answered, default=0)
    firsts: dict[int, Exchange] = {}
    for exchange in tasks:
        firsts.setdefault(exchange.step, exchange)
    for exchange in firsts.values():
        result.expected += len(exchange.echoes)
        result.kept += sum(1 for e in exchange.echoes if e.exact)
    complete = result.turns == 3 and result.kept == result.expected
    result.status = "passed" if complete else "failed"
    if not complete and not result.reason:
        result.reason = _reason(result, tasks)


def _reason(result: CellResult, tasks: list[Exchange]) -> str:
    lost = [echo for e in tasks for echo in e.echoes if not echo.exact]
    how = ""
    if lost:
        where = f" ({', '.join(lost[0].where[:2])})" if lost[0].where else ""
        how = f"turn {lost[0].turn}'s thinking: {lost[0].detail}{where}"
    refused = [e for e in tasks if e.status != 200]
    if refused:
        return f"step {refused[0].step} refused by the strict upstream: {refused[0].problem} [{how}]"
    if lost:
        return how
    if not tasks:
        return (
            f"no task request reached the model (exit {result.exit_code}): {_last_line(result.output_tail)}"
        )
    return f"stopped after step {result.turns} (exit {result.exit_code}): {_last_line(result.output_tail)}"


def _last_line(text: str) -> str:
    """The most telling line of an app's output: its last error message, else its last line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                data = json.loads(line)
                if isinstance(data, dict):
                    for key in ("result", "error", "message"):
                        if data.get(key) and (key != "result" or data.get("is_error")):
                            return str(data[key])[:400]
        if re.search(r"error|failed|refused|exception|denied|invalid", line, re.IGNORECASE):
            return line[:400]
    return lines[-1][:400] if lines else "no output"


async def _run(launch: Launch, timeout: float, log_path: Path) -> tuple[int | None, str]:
    """Run the app in its own process group; on timeout (or after it exits) kill the whole group."""
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *launch.argv,
            cwd=launch.cwd,
            env=launch.env,
            stdin=asyncio.subprocess.PIPE,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            process.stdin.write(launch.stdin.encode())
            await process.stdin.drain()
            process.stdin.close()
        code: int | None
        try:
            code = await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            code = None
        await _kill_group(process)
    output = await asyncio.to_thread(log_path.read_text, errors="replace")
    if code is None:
        output += f"\n[compat] timed out after {timeout:g} s and was killed"
    return code, output


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        if process.returncode is not None and sig == signal.SIGTERM:
            # The leader is gone; give stray children a moment to take the SIGTERM, then SIGKILL them.
            await asyncio.sleep(0.2)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), wait)
