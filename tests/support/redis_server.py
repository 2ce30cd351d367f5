"""A real ``redis-server`` on a free loopback port, for tests that talk to Redis for real.

Tests take the ``redis_server`` fixture (tests/conftest.py), or ``with RedisServer(folder) as server:``.
``server.url`` is ``redis://127.0.0.1:PORT/0``; ``stop()`` and ``start()`` simulate an outage and a
recovery on the same port. A missing ``redis-server`` fails the test with instructions: it is never
skipped, because ``make test`` installs it (``scripts/ensure-system-deps``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import pytest

INSTALL_HINT = (
    "redis-server is not installed; run `make system-deps` (scripts/ensure-system-deps) or "
    "`sudo apt-get install redis-server`. Redis tests are never skipped."
)


def redis_server_binary() -> str:
    """The path of ``redis-server``, or fail the current test saying how to install it."""
    path = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if path is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ping(port: int, timeout: float = 0.2) -> bool:
    """True when a Redis server answers PING on ``127.0.0.1:port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process: no persistence, loopback only, its files under ``workdir``."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.binary = redis_server_binary()
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"redis-{self.port}.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start the server (again, on the same port) and wait until it answers PING."""
        if self.running:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        # Redis's own argument syntax: a bare '' disables RDB snapshots.
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        args += ["--dir", str(self.workdir)]
        self._process = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while not ping(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = self.log_path.read_text(errors="replace")[-2000:]
                pytest.fail(
                    f"redis-server on port {self.port} did not answer PING; its log:\n{log}", pytrace=False
                )
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server and wait for it to exit (the port stops answering at once)."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
