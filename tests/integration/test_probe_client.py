"""`interleaf probe client`: an app that drops its earlier thinking is reported as dropping it.

The probe runs for real (a gateway on loopback) in front of a strict scripted Anthropic upstream. The
clients are the official SDKs: the OpenAI SDK app rebuilds assistant turns from text and tool calls
(drops thinking), the Anthropic SDK app appends `response.content` as it came (keeps thinking).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from interleaf.backends.profiles import get_profile
from interleaf.gateway import ServeOptions
from interleaf.probe.client import ClientProbe
from interleaf.probe.report import Overall, Verdict
from tests.support.gateway_scenario import ANTHROPIC_TOOLS, MODEL, PROMPT, openai_async, upstream_steps
from tests.support.scripted_server import ScriptedServer
from tests.support.strict import StrictAnthropic

pytestmark = pytest.mark.timeout(120)
INTERLEAF = str(Path(sys.executable).with_name("interleaf"))


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as server:
        server.validators.append(StrictAnthropic(server))
        server.enqueue(*upstream_steps("anthropic", "thinking", stream=False))
        yield server


def _options(upstream: ScriptedServer) -> ServeOptions:
    return ServeOptions(profile=get_profile("anthropic", base_url=upstream.base_url), port=0)


async def _keeping_anthropic_app(base_url: str) -> None:
    """An app that does it right: each reply's content goes back exactly as it came."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
    async with anthropic.AsyncAnthropic(base_url=base_url, api_key="key-keep", max_retries=0) as client:
        for _ in range(3):
            arguments: dict[str, Any] = {
                "model": MODEL,
                "max_tokens": 2048,
                "messages": messages,
                "tools": ANTHROPIC_TOOLS,
                "thinking": {"type": "enabled", "budget_tokens": 1024},
            }
            reply = await client.messages.create(**arguments)
            messages.append({"role": "assistant", "content": [b.model_dump() for b in reply.content]})
            calls = [b for b in reply.content if b.type == "tool_use"]
            if not calls:
                return
            messages.append(
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": c.id, "content": "ok"} for c in calls],
                }
            )


async def test_an_sdk_app_that_drops_thinking_is_reported_as_dropping_it(upstream: ScriptedServer) -> None:
    async with ClientProbe(_options(upstream)) as probe:
        run = await openai_async(probe.base_url, "key-drop", stream=False)
        report = probe.report()
    assert not upstream.rejections, upstream.rejections  # the probe restored what the app dropped
    assert run.restored == [0, 1, 2]
    assert report.overall is Overall.LEAK
    assert report.exit_code == 1
    (row,) = report.clients
    assert row.client_format == "openai-chat"
    assert "OpenAI/Python" in row.user_agent
    assert (row.requests, row.turns, row.kept, row.restored, row.missing) == (3, 3, 0, 3, 0)
    assert row.verdict is Verdict.DROPPED
    assert "did not send earlier thinking back" in report.summary


async def test_an_app_that_sends_thinking_back_is_reported_as_keeping_it(upstream: ScriptedServer) -> None:
    async with ClientProbe(_options(upstream)) as probe:
        await _keeping_anthropic_app(probe.base_url)
        report = probe.report()
    assert not upstream.rejections, upstream.rejections
    assert report.overall is Overall.KEPT
    (row,) = report.clients
    assert (row.turns, row.kept, row.restored, row.missing) == (3, 3, 0, 0)
    assert row.verdict is Verdict.KEPT


async def test_no_earlier_turns_is_not_a_verdict(upstream: ScriptedServer) -> None:
    async with ClientProbe(_options(upstream)) as probe:
        report = probe.report()
    assert report.overall is Overall.UNPROBED
    assert report.exit_code == 2


async def test_the_cli_watches_and_exits_1_for_a_dropping_app(
    upstream: ScriptedServer, tmp_path: Path
) -> None:
    env = {**os.environ, "INTERLEAF_HOME": str(tmp_path), "NO_COLOR": "1"}
    process = await asyncio.create_subprocess_exec(
        INTERLEAF, "probe", "client", "-p", "anthropic", "--base-url", upstream.base_url,
        "--port", "0", "--requests", "3", "--json",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    banner = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
    assert banner.startswith("probing at http://127.0.0.1:"), banner
    base_url = banner.split()[2]
    await openai_async(base_url, "key-drop", stream=True)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1, err.decode()
    report = json.loads(out)
    assert report["kind"] == "client"
    assert report["overall"] == "leak"
    assert report["clients"][0]["restored"] == 3
    lines = err.decode().splitlines()
    assert any("2 earlier assistant turns: 0 came back, 2 restored" in line for line in lines), lines
