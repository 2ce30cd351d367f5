"""Crash safety: `kill -9` the real `interleaf run` mid-task, then resume. Nothing recorded is lost.

The CLI runs as a separate process against a strict scripted Anthropic server in this test. It is killed
while waiting for the model's second reply; the session database must then hold the task, the first
assistant turn (thinking and signature byte-exact) and its tool result. `interleaf run --resume` sends
all of it back, and the strict server accepts it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path

from interleaf.store.sessions import SessionStore
from interleaf.transcript import Thinking
from tests.support.payloads import anthropic_events, anthropic_message, text, thinking, tool_use
from tests.support.scripted_server import ScriptedServer, Step
from tests.support.strict import StrictAnthropic

INTERLEAF = str(Path(sys.executable).with_name("interleaf"))
THOUGHT = "First, create the marker file so the next step can check it."


async def _interleaf(*args: str, env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        INTERLEAF, *args, env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


async def test_kill_9_mid_run_then_resume_loses_nothing(tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "INTERLEAF_HOME": str(home), "ANTHROPIC_API_KEY": "test-key", "NO_COLOR": "1"}
    first = anthropic_message(
        [thinking(THOUGHT, "sig-crash-1=="), tool_use("toolu_c1", "shell", {"command": "touch marker"})]
    )
    async with ScriptedServer([Step.sse(anthropic_events(first)), Step.json({}, delay=60)]) as server:
        server.validators.append(StrictAnthropic(server))
        common = ["--profile", "anthropic", "--base-url", server.base_url, "--approve", "auto", "--json"]
        process = await _interleaf("run", "make a marker file", *common, env=env, cwd=work)
        for _ in range(300):  # wait until the CLI is blocked on the second model call
            if len(server.requests) >= 2:
                break
            await asyncio.sleep(0.05)
        assert len(server.requests) == 2, "the CLI never made its second request"
        process.send_signal(signal.SIGKILL)
        await process.wait()
        assert process.returncode == -signal.SIGKILL

        # What the dead process recorded is all there, read by an independent connection.
        db = sqlite3.connect(home / "sessions.db")
        roles = [row[0] for row in db.execute("SELECT role FROM messages ORDER BY seq")]
        db.close()
        assert roles == ["user", "assistant", "tool"]
        assert (work / "marker").exists()
        store = SessionStore(home / "sessions.db")
        session_id = store.resolve("last")
        recorded = store.messages(session_id)
        block = recorded[1].blocks[0]
        assert isinstance(block, Thinking)
        assert (block.text, block.signature) == (THOUGHT, "sig-crash-1==")
        store.close()

        server.enqueue(
            Step.sse(anthropic_events(anthropic_message([thinking("Resumed.", "sig-2"), text("ok")])))
        )
        resumed = await _interleaf(
            "run", "--resume", session_id[:10], "is it there?", *common, env=env, cwd=work
        )
        out, err = await asyncio.wait_for(resumed.communicate(), 60)
        assert resumed.returncode == 0, err.decode()
        events = [json.loads(line) for line in out.decode().splitlines()]
        assert events[-1]["type"] == "final"
        assert events[-1]["answer"] == "ok"
        assert not server.rejections, server.rejections
        replayed = server.requests[-1].json["messages"]
        assert replayed[1]["content"][0] == {
            "type": "thinking",
            "thinking": THOUGHT,
            "signature": "sig-crash-1==",
        }
        assert [m["role"] for m in replayed] == ["user", "assistant", "user", "user"]
        assert replayed[-1]["content"] == "is it there?"


async def test_ctrl_c_stops_the_step_cleanly_and_the_session_resumes(tmp_path: Path) -> None:
    """SIGINT while a tool runs: the call gets an 'interrupted' result, the session is saved as
    interrupted, the CLI exits 130 and says how to resume; resuming works against a strict server."""
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "INTERLEAF_HOME": str(home), "ANTHROPIC_API_KEY": "test-key", "NO_COLOR": "1"}
    first = anthropic_message(
        [thinking(THOUGHT, "sig-int-1=="), tool_use("toolu_i1", "shell", {"command": "sleep 30"})]
    )
    async with ScriptedServer([Step.sse(anthropic_events(first))]) as server:
        server.validators.append(StrictAnthropic(server))
        common = [
            "--profile",
            "anthropic",
            "--base-url",
            server.base_url,
            "--approve",
            "auto",
            "--json",
            "--no-browser",
        ]
        process = await _interleaf("run", "wait a while", *common, env=env, cwd=work)
        assert process.stdout is not None
        while True:  # wait until the shell call is running
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line, "the CLI ended before calling the tool"
            if json.loads(line)["type"] == "tool_call":
                break
        await asyncio.sleep(0.5)
        process.send_signal(signal.SIGINT)
        try:
            out, err = await asyncio.wait_for(process.communicate(), 30)
        except TimeoutError:
            process.kill()  # never leave it running into the next tests
            _, err = await process.communicate()
            raise AssertionError(f"no exit 30 s after Ctrl-C; stderr:\n{err.decode()[-3000:]}") from None
        assert process.returncode == 130, err.decode()
        assert "--resume" in err.decode()
        events = [json.loads(x) for x in out.decode().splitlines()]
        assert events[-1]["type"] == "final"
        assert events[-1]["status"] == "interrupted"

        store = SessionStore(home / "sessions.db")
        session_id = store.resolve("last")
        assert store.info(session_id).status == "interrupted"
        recorded = store.messages(session_id)
        assert [m.role for m in recorded] == ["user", "assistant", "tool"]
        assert "interrupted" in recorded[-1].tool_results[0].text
        store.close()

        server.enqueue(
            Step.sse(anthropic_events(anthropic_message([thinking("Again.", "sig-i2"), text("ok")])))
        )
        resumed = await _interleaf("run", "--resume", "last", "never mind", *common, env=env, cwd=work)
        out, err = await asyncio.wait_for(resumed.communicate(), 60)
        assert resumed.returncode == 0, err.decode()
        assert not server.rejections, server.rejections
