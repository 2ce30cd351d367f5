"""The processes of the gateway benchmarks: starting them, their CPU time and memory, their versions.

Every party of a gateway benchmark runs in a process of its own (the emulator, the bare proxy, each
``interleaf serve``, redis-server, LiteLLM, the load generators), so the CPU time a process spends is
what that party costs. :func:`interleaf_serve` runs the gateway of this checkout, or of an earlier commit
exported by :func:`exported_source` (``git archive``: the repository itself is never touched).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".bench"
PYTHON = sys.executable
LITELLM_VENV = BENCH_DIR / "litellm-venv"
LITELLM_SPEC = "litellm[proxy]==1.108.7"
"""The newest litellm[proxy] pins companion packages the registry lacks; pip settles on this one offline."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{process.args!r} did not listen on {port} within {timeout:g} s")
        time.sleep(0.1)


def _family(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    return [pid]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) and its children so far, seconds."""
    ticks = 0
    for p in _family(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children, MiB."""
    total = 0
    for p in _family(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def load_average() -> float:
    """The one-minute load average (the machine is shared: it says how busy it was)."""
    return os.getloadavg()[0]


@dataclass
class Party:
    name: str
    url: str
    process: subprocess.Popen[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} was not started here: it has no process to measure")
        return self.process.pid


@contextlib.contextmanager
def started(
    name: str, command: list[str], port: int, *, env: dict[str, str] | None = None, log: Path
) -> Iterator[Party]:
    """Run ``command`` until the block ends; yields once it listens on ``port``; its output goes to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        try:
            wait_port(port, process)
            yield Party(name, f"http://127.0.0.1:{port}", process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start_emulator(stack: contextlib.ExitStack, logs: Path) -> Party:
    port = free_port()
    command = [PYTHON, "-m", "benchmarks.gateway_upstream", "emulator", str(port)]
    return stack.enter_context(started("emulator", command, port, log=logs / "emulator.log"))


def start_bare_proxy(
    stack: contextlib.ExitStack, logs: Path, upstream: str, *, keep_in: Path | None = None
) -> Party:
    """The bare proxy; with ``keep_in`` (a database path), the one that also keeps every reply there."""
    port = free_port()
    command = [PYTHON, "-m", "benchmarks.gateway_upstream", "bare-proxy", str(port), upstream]
    name = "bare" if keep_in is None else "bare-keeping"
    if keep_in is not None:
        command.append(str(keep_in))
    return stack.enter_context(started(name, command, port, log=logs / f"{name}.log"))


def exported_source(commit: str) -> Path:
    """The ``src`` folder of ``commit``, exported once into ``.bench/src-<commit>`` with ``git archive``."""
    full = subprocess.run(
        ["git", "rev-parse", "--short=10", f"{commit}^{{commit}}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if full.returncode != 0:
        raise RuntimeError(f"commit {commit} is not in this repository ({full.stderr.strip()})")
    target = BENCH_DIR / f"src-{full.stdout.strip()}"
    if not (target / "src" / "interleaf").is_dir():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit, "src"], capture_output=True, check=True, cwd=ROOT
        )
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target / "src"


def interleaf_serve(
    stack: contextlib.ExitStack,
    name: str,
    *,
    upstream: str,
    store: str,
    home: Path,
    logs: Path,
    profile: str = "anthropic",
    source: Path | None = None,
    extra: tuple[str, ...] = (),
    log_level: str = "warning",
) -> Party:
    """``interleaf serve`` as a user starts it, from this checkout or from ``source`` (an exported
    ``src`` folder of an earlier commit, put first on ``PYTHONPATH``)."""
    port = free_port()
    env = {**os.environ, "INTERLEAF_HOME": str(home), "INTERLEAF_TENANT_SECRET": "bench-tenant-secret"}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    command = [PYTHON, "-c", "from interleaf.cli import main; main()", "serve", "--profile", profile]
    command += ["--base-url", upstream, "--port", str(port), "--log-level", log_level, "--store", store]
    return stack.enter_context(started(name, [*command, *extra], port, env=env, log=logs / f"{name}.log"))


def start_redis(stack: contextlib.ExitStack, logs: Path, *, fsync_always: bool = False) -> str | None:
    """A redis-server of its own (no persistence, or an append-only file fsync'd on every write);
    its URL, or None when redis-server is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = free_port()
    folder = logs / f"redis-{port}"
    folder.mkdir(parents=True)
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)]
    command += ["--appendonly", "yes", "--appendfsync", "always"] if fsync_always else ["--appendonly", "no"]
    stack.enter_context(started("redis", command, port, log=folder / "redis.log"))
    return f"redis://127.0.0.1:{port}/0"


def litellm_binary(build: bool = True) -> Path | None:
    """LiteLLM's proxy from its own venv (``.bench/litellm-venv``, built if missing and ``build``);
    None, with a hint, when it cannot be had. Never installed into the project's venv."""
    binary = LITELLM_VENV / "bin" / "litellm"
    if not binary.exists() and build:
        print(f"building {LITELLM_VENV} with {LITELLM_SPEC} (once; it is not part of the project's venv)...")
        try:
            subprocess.run([PYTHON, "-m", "venv", "--clear", str(LITELLM_VENV)], check=True, timeout=300)
            pip = [str(LITELLM_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", LITELLM_SPEC]
            subprocess.run(pip, check=True, timeout=1200)
        except (OSError, subprocess.SubprocessError) as exc:
            print(f"could not build LiteLLM's venv ({exc})")
    if not binary.exists():
        print(
            "LiteLLM is not available; its rows are skipped. To include them, run:\n"
            f"    python3 -m venv {LITELLM_VENV} && {LITELLM_VENV}/bin/pip install '{LITELLM_SPEC}'"
        )
        return None
    return binary


def litellm_version() -> str:
    python = LITELLM_VENV / "bin" / "python"
    out = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() or "?"


LITELLM_KEY = "sk-litellm-master"


def start_litellm(
    stack: contextlib.ExitStack, binary: Path, workdir: Path, upstream: str, models: tuple[str, ...]
) -> Party:
    """LiteLLM's proxy, one worker, no database, fronting ``upstream`` as an ``anthropic/`` provider."""
    config = workdir / "litellm.yaml"
    entries = [
        f"  - model_name: {name}\n    litellm_params:\n      model: anthropic/{name}\n"
        f"      api_base: {upstream}\n      api_key: sk-upstream\n"
        for name in models
    ]
    config.write_text("model_list:\n" + "".join(entries) + "litellm_settings:\n  drop_params: true\n")
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": LITELLM_KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOG": "ERROR",
    }
    command = [str(binary), "--config", str(config), "--port", str(port), "--host", "127.0.0.1"]
    command += ["--num_workers", "1"]
    return stack.enter_context(
        started("litellm", command, port, env=env, log=workdir / "logs" / "litellm.log")
    )
