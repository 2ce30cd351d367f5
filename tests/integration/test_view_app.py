"""The viewer over real HTTP (uvicorn on loopback, aiohttp as the client): every page answers, nothing is
ever written to the session store, bad input gets a page that says what is wrong, steps arrive in chunks
that cover each entry once, a running session streams its growth, and off loopback a token is required."""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from typer.testing import CliRunner

from interleaf.cli import app as cli_app
from interleaf.store.sessions import SessionStore
from interleaf.store.traffic import TrafficRecorder
from interleaf.transcript import Message, Text, Thinking, ToolCall, ToolResult
from interleaf.view.app import ViewOptions
from interleaf.view.server import ViewServer
from tests.unit.test_view_eval_runs import make_eval_run
from tests.unit.test_view_timeline import write_session

ANTHROPIC_CLIENT: dict[str, Any] = {
    "model": "claude-x",
    "max_tokens": 100,
    "messages": [
        {"role": "user", "content": "What is 6*7?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "calc", "input": {"x": "6*7"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}]},
    ],
}
ANTHROPIC_UPSTREAM: dict[str, Any] = {
    **ANTHROPIC_CLIENT,
    "messages": [
        ANTHROPIC_CLIENT["messages"][0],
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Use the calculator for 6*7.", "signature": "sig-restored"},
                {"type": "tool_use", "id": "t1", "name": "calc", "input": {"x": "6*7"}},
            ],
        },
        ANTHROPIC_CLIENT["messages"][2],
    ],
}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


OPENAI_CLIENT: dict[str, Any] = {
    "model": "m",
    "messages": [
        {"role": "user", "content": "What is 6*7?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "calc", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ],
}
OPENAI_UPSTREAM: dict[str, Any] = {
    **OPENAI_CLIENT,
    "messages": [
        OPENAI_CLIENT["messages"][0],
        {**OPENAI_CLIENT["messages"][1], "reasoning_content": "Use the calculator for 6*7."},
        OPENAI_CLIENT["messages"][2],
    ],
}
RESPONSES_CLIENT: dict[str, Any] = {
    "model": "m",
    "input": [
        {"role": "user", "content": "What is 6*7?"},
        {"type": "function_call", "call_id": "c1", "name": "calc", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "42"},
    ],
}
RESPONSES_UPSTREAM: dict[str, Any] = {
    "model": "m",
    "input": [
        RESPONSES_CLIENT["input"][0],
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "Use the calculator for 6*7."}],
            "encrypted_content": "gAAAA",
        },
        *RESPONSES_CLIENT["input"][1:],
    ],
}
RECORDED = (  # (client format, upstream format, client body, upstream body, user agent)
    ("anthropic", "anthropic", ANTHROPIC_CLIENT, ANTHROPIC_UPSTREAM, "claude-cli/2.0.1 (external, cli)"),
    ("openai-chat", "openai-chat", OPENAI_CLIENT, OPENAI_UPSTREAM, "OpenAI/Python 1.50.0"),
    ("openai-responses", "openai-responses", RESPONSES_CLIENT, RESPONSES_UPSTREAM, "codex_cli_rs/0.40.0"),
)


def record_traffic(path: Path, *, formats: int = 1) -> None:
    """Requests whose one earlier assistant turn the gateway restored, recorded as the gateway would."""
    recorder = TrafficRecorder(path)
    for number, (client_format, upstream_format, client, upstream, agent) in enumerate(RECORDED[:formats], 1):
        recorder.record(
            request_id=f"req_{number}",
            started_at=time.time(),
            user_agent=agent,
            client_format=client_format,
            upstream_format=upstream_format,
            client_body=json.dumps(client).encode(),
            upstream_body=json.dumps(upstream).encode(),
            status=200,
            restored=(1,),
            turns=1,
            endpoint="/v1/messages",
            model="claude-x",
        )
    recorder.close()


class World:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.sessions = root / "home" / "sessions.db"
        store = SessionStore(self.sessions)
        self.sid = write_session(store)
        self.other = write_session(store, title="Write the README")
        store.close()
        self.eval_dir = make_eval_run(root / "evals" / "needle-run")
        self.traffic = root / "home" / "traffic.db"
        record_traffic(self.traffic, formats=len(RECORDED))

    def unique_prefix(self) -> str:
        """The shortest prefix of ``sid`` past the day that ``other`` does not share. A fixed
        length would be ambiguous whenever the two random ids start alike (1 run in 256 at 11)."""
        length = len("YYYYMMDD-") + 1
        while self.other.startswith(self.sid[:length]):
            length += 1
        return self.sid[:length]

    def options(self, **changes: object) -> ViewOptions:
        values: dict[str, object] = {
            "sessions": self.sessions,
            "evals": (self.root / "evals", self.root / "missing-evals"),
            "traffic": self.traffic,
            "port": 0,
            "poll_seconds": 0.05,
        }
        values.update(changes)
        return ViewOptions(**values)  # type: ignore[arg-type]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # unsafe: keep cookies from IP-address hosts (the token cookie of 127.0.0.1), as browsers do.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def fetch(http: aiohttp.ClientSession, url: str, **kwargs: object) -> tuple[int, str, dict[str, str]]:
    async with http.get(url, allow_redirects=False, **kwargs) as response:  # type: ignore[arg-type]
        body = await response.read()
        text = html.unescape(body.decode("utf-8", errors="replace"))
        return response.status, text, dict(response.headers)


async def test_every_page_answers_and_the_store_is_never_written(
    world: World, http: aiohttp.ClientSession
) -> None:
    before = digest(world.sessions)
    async with ViewServer(world.options()) as server:
        base = server.url
        trial_session = json.loads((world.eval_dir / "results.jsonl").read_text().splitlines()[0])[
            "session_id"
        ]
        pages = {
            "/sessions": "Write the README",
            "/sessions?q=README": "Write the README",
            "/sessions?status=done&sort=steps&order=asc&page=1": "Fix utils.py",
            f"/sessions/{world.sid}": "Read first.",
            f"/sessions/{world.sid}/entries?start=2": "compacted 2 earlier messages",
            f"/sessions/{world.sid}/subagents/0": "count lines",
            f"/sessions/{world.sid}/export.html": "Read first.",
            "/evals": "needle-run",
            "/evals/needle-run": "pass_by_condition.png",
            f"/evals/needle-run/sessions/{trial_session}": "The code for needle-000 is 4721",
            "/evals/needle-run/compare?t=0&t=2": "I no longer see my earlier notes.",
            "/evals/needle-run/files/report.html": "needle: keep vs drop",
            "/gateway": "codex_cli_rs",
            "/gateway/requests/1": "Use the calculator for 6*7.",
        }
        for path, expected in pages.items():
            status, text, _ = await fetch(http, base + path)
            assert status == 200, (path, text[:500])
            assert expected in text, path
            assert "Traceback" not in text, path
        status, _, headers = await fetch(http, f"{base}/sessions/{world.sid}/images/4-1-1")
        assert status == 200 and headers["Content-Type"] == "image/png"
        status, _, headers = await fetch(http, f"{base}/evals/needle-run/trials/0")
        assert status == 307 and headers["Location"] == f"/evals/needle-run/sessions/{trial_session}"
        status, _, headers = await fetch(http, f"{base}/sessions/{world.unique_prefix()}")
        assert status == 307 and headers["Location"] == f"/sessions/{world.sid}"
        status, text, _ = await fetch(http, base + "/sessions?q=README&fragment=1")
        assert (
            status == 200
            and "<html" not in text
            and "Write the README" in text
            and "Fix utils.py" not in text
        )
    assert digest(world.sessions) == before


@pytest.mark.parametrize("number", [1, 2, 3], ids=[f[0] for f in RECORDED])
async def test_a_restored_request_shows_both_sides(
    world: World, http: aiohttp.ClientSession, number: int
) -> None:
    async with ViewServer(world.options()) as server:
        status, text, _ = await fetch(http, f"{server.url}/gateway/requests/{number}")
    assert status == 200
    client, upstream = text.split("What went upstream", 1)
    # The client's turn is marked as having dropped its thinking; upstream, the restored block is highlighted.
    assert (
        "the app dropped its thinking" in client
        and "Use the calculator" not in client.split("body as JSON")[0]
    )
    assert "thinking restored by the gateway" in upstream
    restored = re.search(
        r'class="restored-block">\s*<details class="thinking[^"]*"(.*?)</details>', upstream, re.S
    )
    assert restored is not None and "Use the calculator for 6*7." in restored.group(1)


@pytest.mark.parametrize("kind", ["garbage", "foreign", "damaged"])
async def test_a_file_that_is_not_a_sessions_store_gets_a_clear_page(
    world: World, http: aiohttp.ClientSession, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / f"{kind}.db"
    if kind == "garbage":
        path.write_bytes(b"certainly not sqlite\n" * 200)
        expected = "is not a SQLite database"
    elif kind == "foreign":
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE invoices (id INTEGER, amount REAL)")
        expected = "not an interleaf sessions store"
    else:
        store = SessionStore(path)
        for i in range(40):
            write_session(store, title=f"task {i}")
        store.close()
        data = bytearray(path.read_bytes())
        for offset in range(4096 * 3, len(data) - 4096, 4096):  # scribble over every page but the first two
            data[offset : offset + 64] = b"\xff" * 64
        path.write_bytes(bytes(data))
        expected = "damaged"
    async with ViewServer(world.options(sessions=path)) as server:
        status, text, _ = await fetch(http, server.url + "/sessions")
    assert status == 503, text[:300]
    assert expected in text and str(path) in text
    assert "Traceback" not in text


async def test_unknown_things_get_a_clear_page(world: World, http: aiohttp.ClientSession) -> None:
    async with ViewServer(world.options()) as server:
        cases = {
            "/sessions/20990101-ffffff": (404, "no session '20990101-ffffff'"),
            f"/sessions/{world.sid[:9]}": (404, "is ambiguous; give more characters"),
            f"/sessions/{world.sid}/subagents/7": (404, "has no sub-agent 7"),
            f"/sessions/{world.sid}/images/1-0-0": (404, "has no image"),
            f"/sessions/{world.sid}/entries?start=nonsense": (200, "Task"),
            "/evals/no-such-run": (404, "no eval run named 'no-such-run'"),
            "/evals/needle-run/compare?t=0": (404, "pick two trials"),
            "/evals/needle-run/files/../home/sessions.db": (404, "Not found"),
            "/evals/needle-run/files/sessions.db": (404, "has no report file"),
            "/gateway/requests/99": (404, "no recorded request 99"),
            "/no/such/page": (404, "There is no page at /no/such/page"),
        }
        for path, (expected_status, expected) in cases.items():
            status, text, _ = await fetch(http, server.url + path)
            assert (status, expected in text) == (expected_status, True), (path, status, text[:400])
            assert "Traceback" not in text
        status, text, _ = await fetch(http, server.url + "/evals")
        assert "missing-evals does not exist" in text


async def test_a_missing_store_or_recording_is_explained(
    world: World, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    options = world.options(
        sessions=tmp_path / "none" / "sessions.db", traffic=tmp_path / "none" / "t.db", evals=()
    )
    async with ViewServer(options) as server:
        _, sessions, _ = await fetch(http, server.url + "/sessions")
        _, gateway, _ = await fetch(http, server.url + "/gateway")
        _, evals, _ = await fetch(http, server.url + "/evals")
    assert "There is no sessions database at" in sessions and "interleaf run" in sessions
    assert "interleaf serve --record" in gateway and "off by default" in gateway
    assert "interleaf view --eval DIR" in evals
    assert not (tmp_path / "none").exists()  # looking created nothing


async def test_chunks_cover_every_entry_exactly_once(
    world: World, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    store = SessionStore(tmp_path / "big.db")
    sid = store.create(title="long", workdir="/w", profile="p", model="m", mode="pro")
    store.append(sid, Message(role="user", blocks=(Text(text="go"),)))
    for i in range(150):
        call = ToolCall(id=f"c{i}", name="shell", arguments={"command": f"echo {i}"})
        store.append(sid, Message(role="assistant", blocks=(Thinking(text=f"step {i}"), call)))
        store.append(sid, Message(role="tool", blocks=(ToolResult(call_id=f"c{i}", content=str(i)),)))
    store.close()
    seen: list[int] = []
    async with ViewServer(world.options(sessions=tmp_path / "big.db")) as server:
        _, page, _ = await fetch(http, f"{server.url}/sessions/{sid}")
        seen += [int(n) for n in re.findall(r'<li class="entry [a-z]+" id="e(\d+)"', page)]
        following = re.search(r'data-more="([^"]+)"', page)
        while following is not None:
            status, chunk, headers = await fetch(http, server.url + following.group(1))
            assert status == 200
            seen += [int(n) for n in re.findall(r'<li class="entry [a-z]+" id="e(\d+)"', chunk)]
            following = re.search("(.+)", headers.get("x-next-url", ""))
    assert seen == list(range(151))
    assert len(re.findall('class="entry ', page)) == 40  # the first page holds one chunk, not the session
    # Without script, "Load more steps" links to the page starting further on.
    link = re.search(r'<div class="more"[^>]*><a href="([^"]+)"', page)
    assert link is not None and link.group(1) == f"/sessions/{sid}?from=40"
    async with ViewServer(world.options(sessions=tmp_path / "big.db")) as server:
        _, later, _ = await fetch(http, server.url + link.group(1))
    assert re.findall(r'<li class="entry [a-z]+" id="e(\d+)"', later)[:2] == ["40", "41"]
    assert "Showing the timeline from entry 41" in later


async def test_a_running_session_streams_its_growth(
    world: World, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    store = SessionStore(tmp_path / "live.db")
    sid = store.create(title="live", workdir="/w", profile="p", model="m", mode="pro")
    store.append(sid, Message(role="user", blocks=(Text(text="go"),)))
    events: list[tuple[str, dict[str, object]]] = []
    async with (
        ViewServer(world.options(sessions=tmp_path / "live.db")) as server,
        http.get(f"{server.url}/sessions/{sid}/live") as response,
    ):
        assert response.headers["Content-Type"].startswith("text/event-stream")

        async def read() -> None:
            name = ""
            async for raw in response.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    events.append((name, json.loads(line[6:])))
                    if name == "end":
                        return

        reading = asyncio.create_task(read())
        await asyncio.sleep(0.3)
        store.append(sid, Message(role="assistant", blocks=(Thinking(text="hm"), Text(text="done"))))
        await asyncio.sleep(0.3)
        store.update(sid, status="done", steps=1)
        await asyncio.wait_for(reading, 10)
    store.close()
    names = [name for name, _ in events]
    assert names[0] == "update" and names[-1] == "end"
    assert events[0][1]["messages"] == 1 and events[0][1]["status"] == "running"
    assert any(data.get("messages") == 2 and data.get("steps") == 1 for _, data in events)
    assert events[-1][1] == {"status": "done"}


async def test_a_running_session_that_went_quiet_says_so(
    world: World, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    store = SessionStore(tmp_path / "quiet.db")
    sid = store.create(title="crashed?", workdir="/w", profile="p", model="m", mode="pro")
    store.append(sid, Message(role="user", blocks=(Text(text="go"),)))
    store._db.execute("UPDATE sessions SET updated = ? WHERE id = ?", (time.time() - 3600, sid))
    fresh = store.create(title="busy", workdir="/w", profile="p", model="m", mode="pro")
    store.close()
    async with ViewServer(world.options(sessions=tmp_path / "quiet.db")) as server:
        _, quiet, _ = await fetch(http, f"{server.url}/sessions/{sid}")
        _, busy, _ = await fetch(http, f"{server.url}/sessions/{fresh}")
    assert "Nothing has been recorded for 1 h 0 min" in quiet and "interleaf run --resume" in quiet
    assert "data-live-url" in quiet and "data-live-url" in busy
    assert "Nothing has been recorded" not in busy


async def test_off_loopback_every_request_needs_the_token(world: World, http: aiohttp.ClientSession) -> None:
    async with ViewServer(world.options(host="0.0.0.0", token="s3cret-token")) as server:
        url = f"http://127.0.0.1:{server.port}"
        status, text, _ = await fetch(http, url + "/sessions")
        assert status == 401 and "needs its token" in text
        status, _, _ = await fetch(http, url + "/sessions", headers={"Authorization": "Bearer wrong"})
        assert status == 401
        status, _, _ = await fetch(http, url + "/sessions", headers={"Authorization": "Bearer s3cret-token"})
        assert status == 200
        # ?token= sets a cookie and redirects to the same page without the token in its URL.
        status, _, headers = await fetch(http, url + "/sessions?q=README&token=s3cret-token")
        assert status == 303 and headers["Location"] == "/sessions?q=README"
        assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
        cookie = headers["Set-Cookie"].split(";", 1)[0]
        status, text, _ = await fetch(http, url + "/sessions?q=README", headers={"Cookie": cookie})
        assert status == 200 and "Write the README" in text
        # The shipped stylesheet holds no data: the "token needed" page may use it.
        async with aiohttp.ClientSession() as fresh:
            status, _, _ = await fetch(fresh, url + "/static/view.css")
        assert status == 200


async def test_on_loopback_other_host_names_are_refused(world: World, http: aiohttp.ClientSession) -> None:
    async with ViewServer(world.options()) as server:
        status, text, _ = await fetch(http, server.url + "/sessions", headers={"Host": "attacker.example"})
        assert status == 421 and "loopback only" in text
        status, _, headers = await fetch(
            http, server.url + "/sessions", headers={"Host": f"localhost:{server.port}"}
        )
        assert status == 200
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        _, _, report = await fetch(http, server.url + "/evals/needle-run/files/report.html")
        assert report["Content-Security-Policy"].startswith("sandbox")


def test_sessions_export_html_writes_one_self_contained_file(world: World, tmp_path: Path) -> None:
    out = tmp_path / "session.html"
    runner = CliRunner()
    env = {"INTERLEAF_HOME": str(world.sessions.parent)}
    before = digest(world.sessions)
    result = runner.invoke(cli_app, ["sessions", "export", world.sid, "-f", "html", "-o", str(out)], env=env)
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "<style>" in page and "<script>" in page
    assert "Read first." in page and "count lines" in page  # thinking, and the sub-agent nested
    assert "data:image/png;base64," in page
    assert not re.search(r'(src|href)="(/|https?:)', page)  # nothing to fetch from anywhere
    assert digest(world.sessions) == before
    missing = runner.invoke(cli_app, ["sessions", "export", "nope", "-f", "html"], env=env)
    assert missing.exit_code == 2 and "no session 'nope'" in missing.output
    # The other formats still go to stdout, or to --output.
    lines = tmp_path / "session.jsonl"
    result = runner.invoke(cli_app, ["sessions", "export", world.sid, "-o", str(lines)], env=env)
    assert result.exit_code == 0 and len(lines.read_text().splitlines()) == 6
    result = runner.invoke(cli_app, ["sessions", "export", world.sid, "-f", "anthropic"], env=env)
    assert result.exit_code == 0 and json.loads(result.stdout)["messages"][0]["role"] == "user"


def test_view_refuses_a_missing_sessions_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import typer; from interleaf.cli.view import view; typer.run(view)",
            "--sessions",
            str(tmp_path / "nope.db"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "--sessions" in result.stderr and "no such file" in result.stderr


async def test_view_off_loopback_prints_a_url_with_a_token(world: World, http: aiohttp.ClientSession) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import typer; from interleaf.cli.view import view; typer.run(view)",
        "--host",
        "0.0.0.0",
        "--port",
        "0",
        "--sessions",
        str(world.sessions),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        url = re.search(r"(http://\S+\?token=\S+)", line)
        assert url is not None, line
        status, _, _ = await fetch(http, url.group(1).split("?")[0] + "sessions")
        assert status == 401
        async with http.get(url.group(1)) as response:  # follows the redirect with the cookie
            assert response.status == 200 and "Write the README" in await response.text()
    finally:
        process.terminate()
        await process.wait()
    assert process.returncode == 0  # Ctrl-C and SIGTERM end it quietly
