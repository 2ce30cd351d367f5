"""The task the compaction runs give a real app, and how they run it (tests/compat/*_compaction.py).

The app is asked to read a 16 KB file several times, one command at a time. The scripted model reports
a quarter of each request's bytes as its input tokens, so a small context window fills every couple of
reads and the app compacts; the model counts the reads its own summaries say were done
(:func:`reads_done`), so the task finishes only after all of them, across compactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from pathlib import Path
from typing import Any

MARK = "SUMMARY-OF-WORK"
"""Starts every summary the scripted model writes: ``SUMMARY-OF-WORK reads=N: ...``."""
FILE_NAME = "big.txt"
_LINE = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\n"


def write_big_file(directory: Path) -> None:
    """The 16 KB file the task reads."""
    (directory / FILE_NAME).write_text((_LINE * (16_000 // len(_LINE) + 1))[:16_000])


def texts(content: Any) -> str:
    """The text of a message's content: a string, or the text of its parts (Anthropic or Chat)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def reads_done(body: dict[str, Any]) -> int:
    """Reads done so far: tool results in the request, plus those an earlier summary counted."""
    done = 0
    for message in body.get("messages", []):
        content = message.get("content")
        if message.get("role") == "tool":
            done += 1
        elif isinstance(content, list):
            done += sum(1 for p in content if isinstance(p, dict) and p.get("type") == "tool_result")
        if message.get("role") == "user" and (found := re.search(MARK + r" reads=(\d+)", texts(content))):
            done += int(found[1])
    return done


async def run_app(
    argv: list[str], env: dict[str, str], cwd: Path, stdin: bytes | None = None, timeout: float = 150
) -> tuple[int, str, str]:
    """Run an app to its end: its exit code, stdout and stderr. On a timeout its whole process group
    is killed: a launcher's native child (Codex's) or a shell it started holds the pipes open after
    the launcher dies, and the run would hang. Then what it left running outside its group is killed
    (:func:`kill_strays`)."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        out, err = await process.communicate()
    finally:
        kill_strays(cwd, *([Path(env["HOME"])] if env.get("HOME") else []))
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def kill_strays(*roots: Path) -> None:
    """Kill what the app left running outside its process group (Cline starts a hub daemon in a
    session of its own): every process whose command line names the run's HOME or workdir (never the
    gateway's, which lives beside them)."""
    markers = [str(root).encode() for root in roots]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if any(marker in cmdline for marker in markers):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
