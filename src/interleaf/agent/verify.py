"""Pro mode's verification: find the workdir's tests and run them before a final answer is accepted.

The tests are the model's own code (it wrote them, and the interpreter it may have installed in the
workdir's ``.venv``), so they run in the same sandbox as ``shell`` and ``python`` when one confines them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from interleaf.tools.sandbox import Confinement, Sandbox

_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", "build", "dist"}
_NPM_DEFAULT_TEST = 'echo "Error: no test specified" && exit 1'


@dataclass(frozen=True, slots=True)
class Verification:
    command: str | None
    """What ran (``None``: no tests found)."""
    passed: bool
    output: str
    exit_code: int | None = None


def _python_for(workdir: Path) -> str:
    for candidate in (workdir / ".venv" / "bin" / "python", workdir / "venv" / "bin" / "python"):
        if candidate.exists():
            return str(candidate)
    return "python3"


def _has_python_tests(workdir: Path) -> bool:
    for _root, dirs, files in os.walk(workdir):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".")]
        if any((f.startswith("test_") or f.endswith("_test.py")) and f.endswith(".py") for f in files):
            return True
    return False


def _confined(
    argv: list[str], workdir: Path, sandbox: Sandbox | None
) -> tuple[list[str], Mapping[str, str] | None, Confinement | None]:
    """``argv`` as it runs: inside ``sandbox`` when it confines, else as it is (the environment inherited)."""
    if sandbox is None or not sandbox.confines:
        return argv, None, None
    confinement = sandbox.confine(argv, os.environ, chdir=workdir)
    return confinement.argv, confinement.env, confinement


def detect_test_command(workdir: Path, sandbox: Sandbox | None = None) -> str | None:
    """The command that runs this workdir's tests, or ``None`` when there are none."""
    package = workdir / "package.json"
    if package.exists():
        try:
            script = json.loads(package.read_text()).get("scripts", {}).get("test")
        except (ValueError, OSError, AttributeError):
            script = None
        if isinstance(script, str) and script.strip() and script.strip() != _NPM_DEFAULT_TEST:
            return "npm test --silent"
    if _has_python_tests(workdir):
        python = _python_for(workdir)
        argv, env, confinement = _confined([python, "-c", "import pytest"], workdir, sandbox)
        try:
            probe = subprocess.run(argv, capture_output=True, cwd=workdir, env=env, check=False)
        finally:
            if confinement is not None:
                confinement.limit.close()
        if probe.returncode == 0:
            return f"{shlex.quote(python)} -m pytest -q -x --no-header -p no:cacheprovider"
        return f"{shlex.quote(python)} -m unittest discover -q"
    if (workdir / "Cargo.toml").exists():
        return "cargo test -q"
    if (workdir / "go.mod").exists():
        return "go test ./..."
    return None


async def run_verification(
    workdir: Path, command: str | None = None, *, timeout: float = 600, sandbox: Sandbox | None = None
) -> Verification:
    """Run ``command`` (or the detected one) in ``workdir``, inside ``sandbox`` when it confines; the
    output's tail is kept for the model."""
    command = command or await asyncio.to_thread(detect_test_command, workdir, sandbox)
    if command is None:
        return Verification(None, True, "no tests found in the workdir")
    argv, env, confinement = _confined(["/bin/sh", "-c", command], workdir, sandbox)
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=workdir,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            out, _ = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            await _kill(process)
            return Verification(command, False, f"the tests did not finish within {timeout:.0f} s", None)
        except asyncio.CancelledError:
            await _kill(process)
            raise
    finally:
        if confinement is not None:
            await confinement.aclose()
    text = out.decode("utf-8", errors="replace")
    tail = text if len(text) <= 6000 else "…(earlier output cut)\n" + text[-6000:]
    code = process.returncode
    # pytest exit code 5: no tests were collected, which is not a failure of the work.
    passed = code == 0 or (code == 5 and "pytest" in command)
    return Verification(command, passed, tail, code)


async def _kill(process: asyncio.subprocess.Process) -> None:
    """Kill the test run's whole process group (test runners start workers)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()
