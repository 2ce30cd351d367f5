"""Honest resumes: `kill -9` the real `interleaf run` while a shell call runs, then `--resume`.

The call started (and did part of its work) but never reported back. The resumed run must tell the
model that it may have run, with what is known (exit status unknown, the workdir's files modified since
it started), never that it did not run; and nothing the call started may outlive the killed CLI.
A call that finished before the crash gets its recorded result; one that never started, "not run".
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from interleaf.store.sessions import SessionStore
from interleaf.tools.interrupted import interrupted_results
from interleaf.transcript import Message, Text, ToolCall
from tests.support.payloads import anthropic_events, anthropic_message, text, thinking, tool_use
from tests.support.sandbox_home import FakeHome, fake_home
from tests.support.scripted_server import ScriptedServer, Step
from tests.support.strict import StrictAnthropic

INTERLEAF = str(Path(sys.executable).with_name("interleaf"))
SLEEP = "31.75"  # a duration no other process uses, to find the call's sleep on the host


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHome:
    return fake_home(tmp_path, monkeypatch)


async def test_kill_9_after_a_shell_call_ran_then_resume_says_it_may_have_run(home: FakeHome) -> None:
    env = {**os.environ, "ANTHROPIC_API_KEY": "test-key", "NO_COLOR": "1"}
    command = f"echo partial > partial.txt && touch started.txt && sleep {SLEEP}"
    first = anthropic_message(
        [thinking("Run the long job.", "sig-k1"), tool_use("toolu_k1", "shell", {"command": command})]
    )
    async with ScriptedServer([Step.sse(anthropic_events(first))]) as server:
        server.validators.append(StrictAnthropic(server))
        common = ["--profile", "anthropic", "--base-url", server.base_url, "--json", "--no-browser"]
        process = await asyncio.create_subprocess_exec(
            INTERLEAF, "run", "run the long job", *common, env=env, cwd=home.work,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not (home.work / "started.txt").exists():
            assert time.monotonic() < deadline, "the shell call never ran"
            assert process.returncode is None, (await process.communicate())[1].decode()
            await asyncio.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        await _gone(SLEEP)  # bubblewrap's --die-with-parent took the call's processes with it

        db = sqlite3.connect(home.path.parent / "interleaf" / "sessions.db")
        roles = [row[0] for row in db.execute("SELECT role FROM messages ORDER BY seq")]
        kinds = [row[0] for row in db.execute("SELECT kind FROM notes WHERE kind LIKE 'call_%' ORDER BY seq")]
        db.close()
        assert roles == ["user", "assistant"]  # no result was recorded ...
        assert kinds == ["call_started"]  # ... but the call was, before it ran

        server.enqueue(
            Step.sse(anthropic_events(anthropic_message([thinking("Check.", "sig-k2"), text("ok")])))
        )
        resumed = await asyncio.create_subprocess_exec(
            INTERLEAF, "run", "--resume", "last", "did the job finish?", *common, env=env, cwd=home.work,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(resumed.communicate(), 60)
        assert resumed.returncode == 0, err.decode()
        assert json.loads(out.decode().splitlines()[-1])["answer"] == "ok"
        assert not server.rejections, server.rejections
        messages = server.requests[-1].json["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "user", "user"]
        (result,) = messages[2]["content"]
        assert result["tool_use_id"] == "toolu_k1"
        assert result["is_error"] is True
        said = result["content"] if isinstance(result["content"], str) else result["content"][0]["text"]
        assert "it may have run" in said
        assert "exit status and output are unknown" in said
        assert "  partial.txt" in said
        assert "  started.txt" in said
        assert "did not run" not in said and "before this call ran" not in said


def test_finished_started_and_unstarted_calls_each_get_what_was_recorded(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "old.txt").write_text("before\n")
    os.utime(work / "old.txt", (time.time() - 3600, time.time() - 3600))
    store = SessionStore(tmp_path / "s.db")
    sid = store.create(title="t", workdir=str(work), profile="p", model="m", mode="lightning")
    calls = [ToolCall(id=f"c{i}", name="shell", arguments={"command": f"step {i}"}) for i in (1, 2, 3)]
    store.append(sid, Message(role="user", blocks=(Text(text="task"),)))
    store.append(sid, Message(role="assistant", blocks=tuple(calls)))
    started = time.time()
    store.note(sid, "call_started", {"call_id": "c1", "tool": "shell", "at": started})
    store.note(sid, "call_finished", {"call_id": "c1", "tool": "shell", "is_error": False, "content": "one"})
    store.note(sid, "call_started", {"call_id": "c2", "tool": "shell", "at": started})
    (work / "new.txt").write_text("made by c2\n")
    records = store.call_records(sid, ["c1", "c2", "c3"])
    store.close()
    answer = interrupted_results(calls, records, work)
    first, second, third = answer.tool_results
    assert (first.text, first.is_error) == ("one", None)
    assert second.is_error is True
    assert "it may have run" in second.text
    assert "  new.txt" in second.text
    assert "old.txt" not in second.text
    assert (third.text, third.is_error) == (
        "not run: the session was interrupted before this call started",
        True,
    )


async def _gone(duration: str) -> None:
    for _ in range(100):
        if not _sleeping(duration):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"`sleep {duration}` outlived the killed CLI")


def _sleeping(duration: str) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[:2] == [b"sleep", duration.encode()]:
                return True
    return False
