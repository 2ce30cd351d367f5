"""``interleaf serve --record``: the real gateway records what an app sent, what went upstream and what
it restored, and ``interleaf view`` shows it, the restored thinking highlighted.

The client is the official Anthropic SDK rebuilding each assistant turn without its thinking (as many
apps do); the upstream is a scripted Anthropic server; the viewer is served for real and read over HTTP.
"""

from __future__ import annotations

import asyncio
import html
import re
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import pytest

from interleaf.store.traffic import BATCH, QUEUE_SIZE
from interleaf.view.app import ViewOptions
from interleaf.view.server import ViewServer
from interleaf.view.traffic import TrafficReader
from tests.support.gateway_server import GatewayServer, gateway_options
from tests.support.payloads import anthropic_message, text, thinking, tool_use
from tests.support.scripted_server import ScriptedServer, Step

pytestmark = pytest.mark.timeout(60)

PLAN = "Read notes.txt first, then answer."


async def test_recorded_requests_show_what_the_gateway_restored(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    scripted_server.enqueue(
        Step.json(
            anthropic_message([thinking(PLAN, "sig-1"), tool_use("toolu_1", "read", {"path": "notes.txt"})])
        ),
        Step.json(anthropic_message([text("The notes say hello.")])),
    )
    traffic = tmp_path / "traffic.db"
    options = gateway_options(
        "anthropic", scripted_server.base_url, f"sqlite:///{tmp_path}/t.db", record=True, record_path=traffic
    )
    messages: list[Any] = [{"role": "user", "content": "What do the notes say?"}]
    async with (
        GatewayServer(options) as gateway,
        anthropic.AsyncAnthropic(
            base_url=gateway.base_url,
            api_key="key-a",
            max_retries=0,
            default_headers={"user-agent": "notes-app/1.0"},
        ) as client,
    ):
        first = await client.messages.create(model="claude-x", max_tokens=200, messages=messages)
        call = next(b for b in first.content if b.type == "tool_use")
        # The app keeps only the tool call of its turn: the thinking is dropped.
        messages += [
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": call.id, "name": call.name, "input": call.input}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "hello"}],
            },
        ]
        await gateway.settle()
        await client.messages.create(model="claude-x", max_tokens=200, messages=messages)
    # The upstream got the thinking back (the gateway restored it) ...
    assert scripted_server.requests[1].json["messages"][1]["content"][0] == thinking(PLAN, "sig-1")

    # ... and the recording says so: both requests, the second with turn 1 restored.
    reader = TrafficReader(traffic)
    recorded = reader.requests()
    assert [r.status for r in recorded] == [200, 200]
    second = reader.request(max(r.id for r in recorded))
    assert second is not None
    assert second.restored == (1,) and second.summary.turns == 1
    assert second.user_agent == "notes-app/1.0"
    assert second.upstream_body is not None and PLAN in second.upstream_body.decode()
    assert PLAN not in second.client_body.decode()
    reader.close()

    async with (
        ViewServer(ViewOptions(traffic=traffic, sessions=tmp_path / "none.db", port=0)) as view,
        aiohttp.ClientSession() as http,
        http.get(f"{view.url}/gateway/requests/{second.summary.id}") as response,
    ):
        page = html.unescape(await response.text())
    assert response.status == 200
    client_side, upstream_side = page.split("What went upstream", 1)
    assert "the app dropped its thinking" in client_side
    assert "thinking restored by the gateway" in upstream_side and PLAN in upstream_side


def _traffic_files(home: Path) -> list[Path]:
    return list(home.rglob("traffic*")) if home.exists() else []


async def test_recording_is_off_by_default(
    scripted_server: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERLEAF_HOME", str(tmp_path / "home"))
    scripted_server.enqueue(Step.json(anthropic_message([text("hi")])))
    options = gateway_options("anthropic", scripted_server.base_url, f"sqlite:///{tmp_path}/t.db")
    async with GatewayServer(options) as gateway:
        assert gateway.gateway.traffic is None
        async with anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="k", max_retries=0) as client:
            await client.messages.create(
                model="claude-x", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            )
    assert _traffic_files(tmp_path / "home") == []


async def test_requests_the_recorder_cannot_keep_are_counted_and_logged(
    scripted_server: ScriptedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scripted_server.responder = lambda request: Step.json(anthropic_message([text("hi")]))
    traffic = tmp_path / "traffic.db"
    options = gateway_options(
        "anthropic", scripted_server.base_url, f"sqlite:///{tmp_path}/t.db", record=True, record_path=traffic
    )
    # Past the queue and the batch the writer holds while it waits: 50 requests or more go unrecorded.
    sent = QUEUE_SIZE + BATCH + 1 + 50
    body = {"model": "claude-x", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    async with GatewayServer(options) as gateway, aiohttp.ClientSession() as session:
        # Another process holds the file's write lock: the writer waits for it (up to 10 s) and the
        # queue fills up. No request waits for the recorder.
        other = sqlite3.connect(traffic, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            limit = asyncio.Semaphore(20)

            async def send() -> int:
                async with (
                    limit,
                    session.post(f"{gateway.base_url}/v1/messages", json=body, headers=headers) as r,
                ):
                    await r.read()
                    return r.status

            statuses = await asyncio.gather(*(send() for _ in range(sent)))
            async with session.get(f"{gateway.base_url}/metrics") as answer:
                exposition = await answer.text()
        finally:
            other.execute("ROLLBACK")
            other.close()
    assert statuses == [200] * sent
    match = re.search(r"^interleaf_requests_not_recorded_total (\d+)", exposition, re.MULTILINE)
    assert match is not None and int(match[1]) >= 50
    warnings = [r.getMessage() for r in caplog.records if "--record is behind" in r.getMessage()]
    assert len(warnings) == 1 and "interleaf_requests_not_recorded_total" in warnings[0]
    # What was queued is written once the lock is gone (the gateway wrote it as it closed).
    assert TrafficReader(traffic).count() == sent - int(match[1])
