"""``interleaf serve`` as a real subprocess in front of the scripted model, on a free loopback port.

Started with the dialect's ``--profile`` (plus its flags) and ``--base-url`` pointing at the scripted
server, a store of its own and INTERLEAF_HOME in the run's temp dir. Its restored/missing (and, once
the gateway counts them, foreign) turns are read from ``GET /metrics`` after the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.compat.dialects import Dialect
from tests.compat.sandbox import CACHE, PROJECT

PYTHON = PROJECT / ".venv" / "bin" / "python"


def gateway_source(which: str) -> Path | None:
    """Where the gateway's code comes from: ``checkout`` (None: the working tree, as installed in
    .venv) or ``head`` (the last commit, exported once with ``git archive``: a stable baseline while
    the working tree is being edited)."""
    if which == "checkout":
        return None
    if which != "head":
        raise ValueError(f"gateway source {which!r}: use 'checkout' or 'head'")
    commit = subprocess.run(
        ["git", "-C", str(PROJECT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    target = CACHE / "gateway-src" / commit
    if not (target / "src" / "interleaf").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(PROJECT), "archive", commit, "src"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "src"


_ENDPOINTS = {
    "anthropic": "/v1/messages",
    "openai-chat": "/v1/chat/completions",
    "openai-responses": "/v1/responses",
}


class GatewayUnavailable(Exception):
    """The gateway cannot front this dialect, or did not start."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewayProcess:
    def __init__(
        self, dialect: Dialect, upstream_url: str, directory: Path, source: Path | None = None
    ) -> None:
        self.dialect = dialect
        self.source = source
        self.upstream_url = upstream_url
        self.directory = directory
        self.port = 0
        self.process: asyncio.subprocess.Process | None = None
        self.log_path = directory / "gateway.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        if self.dialect.profile is None:
            raise GatewayUnavailable(
                f"interleaf serve has no upstream profile for the {self.dialect.name} dialect"
            )
        python = str(PYTHON) if PYTHON.exists() else sys.executable
        return [
            python,
            "-c",
            "import sys; sys.argv[0] = 'interleaf'; from interleaf.cli import main; main()",
            "serve",
            "--profile",
            self.dialect.profile,
            "--base-url",
            self.upstream_url,
            "--port",
            str(self.port),
            "--store",
            f"sqlite:///{self.directory / 'store.db'}",
            "--first-byte-timeout",
            "30",
            "--idle-timeout",
            "30",
            *self.dialect.gateway_flags,
            # INTERLEAF_COMPAT_DEBUG=1: every request and reply body in the gateway's log, which the
            # runner then keeps in .cache/compat/logs/ (they hold the app's prompts: never committed).
            *(("--log-level", "debug", "--log-content") if os.environ.get("INTERLEAF_COMPAT_DEBUG") else ()),
        ]

    async def start(self) -> str:
        """Start it and wait until ``/healthz`` answers; returns its base URL."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        argv = self.argv()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.directory),
            "INTERLEAF_HOME": str(self.directory / "home"),
            "LANG": "C.UTF-8",
        }
        if self.source is not None:
            env["PYTHONPATH"] = str(self.source)
        with self.log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                *argv, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT, start_new_session=True
            )
        async with aiohttp.ClientSession() as session:
            for _ in range(150):
                if self.process.returncode is not None:
                    raise GatewayUnavailable(
                        f"interleaf serve exited with status {self.process.returncode}: {self.error_line()}"
                    )
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(self.url + "/healthz") as response:
                        if response.status == 200:
                            return self.url
                await asyncio.sleep(0.1)
        raise GatewayUnavailable(f"interleaf serve did not answer /healthz within 15 s: {self.error_line()}")

    async def check_endpoint(self, api: str) -> None:
        """Fail fast when the gateway does not serve the app's API at all (a 404 or 405 to an empty
        request), as the app would see on its first request."""
        path = _ENDPOINTS[api]
        async with aiohttp.ClientSession() as session, session.post(self.url + path, json={}) as response:
            if response.status in (404, 405):
                text = (await response.text())[:300]
                raise GatewayUnavailable(f"interleaf serve answers {response.status} to POST {path}: {text}")

    async def counts(self) -> tuple[int, int, int | None]:
        """Turns restored, missing and (where the gateway counts them) foreign, from ``/metrics``."""
        async with aiohttp.ClientSession() as session, session.get(self.url + "/metrics") as response:
            text = await response.text()
        foreign = _total(text, "foreign") if "foreign" in text else None
        return (
            _total(text, "interleaf_turns_restored_total"),
            _total(text, "interleaf_turns_missing_total"),
            foreign,
        )

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()

    def error_line(self) -> str:
        """The gateway log's last line that names an error (box-drawing frames stripped)."""
        lines = [line.strip(" │╭╮╰╯─\t") for line in self.log_tail(4000).splitlines()]
        lines = [line for line in lines if line]
        for line in reversed(lines):
            if re.search(
                r"error|no such option|invalid|exception|usage", line, re.IGNORECASE
            ) and not line.startswith(("Try ", "Usage:")):
                return line[:300]
        return lines[-1][:300] if lines else "no output"

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""


def _total(metrics: str, name: str) -> int:
    """The sum of every series of a counter whose name contains ``name``."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if match and name in match[1] and "turns" in match[1]:
            total += float(match[3])
    return int(total)
