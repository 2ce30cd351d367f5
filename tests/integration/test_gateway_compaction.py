"""Codex's server-side compaction ("remote compaction v2") through the gateway to an upstream that does
not speak the Responses API.

Codex with its built-in OpenAI provider ends a long conversation's request with
``{"type": "compaction_trigger"}`` and accepts exactly one ``compaction`` output item back, then sends
that item in place of the history. The bodies here have the shape the real Codex 0.171.0 sent (its
requests were recorded when its context filled up); the real app runs in tests/compat.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from interleaf.gateway.compaction import PROMPT, SUMMARY_INTRO
from tests.support.gateway_server import GatewayServer, gateway_options
from tests.support.payloads import anthropic_message, openai_completion, text, thinking
from tests.support.scripted_server import ScriptedServer, Step

pytestmark = pytest.mark.timeout(60)

HEADERS = {"content-type": "application/json", "authorization": "Bearer k", "accept": "text/event-stream"}
SUMMARY = "The user wants big.txt read four times; it was read twice, each time 16 KB of text."
CALL = "call_0002x36855"

HISTORY: list[dict[str, Any]] = [
    {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "cat big.txt 4 times"}]},
    {
        "type": "reasoning",
        "id": "rs_2",
        "summary": [{"type": "summary_text", "text": "I will run cat."}],
        "content": None,
        "encrypted_content": None,
    },
    {
        "type": "function_call",
        "id": "fc_2",
        "name": "exec_command",
        "arguments": '{"cmd": "cat big.txt"}',
        "call_id": CALL,
    },
    {"type": "function_call_output", "call_id": CALL, "output": "line one\nline two"},
]
TOOLS = [{"type": "function", "name": "exec_command", "parameters": {"type": "object", "properties": {}}}]


def codex_request(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "model": "gpt-5",
        "stream": True,
        "input": items,
        "tools": TOOLS,
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"summary": "auto"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
    }


def summary_reply(api: str) -> Step:
    if api == "anthropic":
        return Step.json(anthropic_message([thinking("Let me sum up.", "sig"), text(SUMMARY)]))
    return Step.json(openai_completion(content=SUMMARY, reasoning="Let me sum up."))


def ordinary_reply(api: str) -> Step:
    if api == "anthropic":
        return Step.json(anthropic_message([thinking("Next, cat again.", "sig2"), text("Continuing.")]))
    return Step.json(openai_completion(content="Continuing.", reasoning="Next, cat again."))


async def sse_events(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    async with session.post(url, json=body, headers=HEADERS) as response:
        assert response.status == 200, await response.text()
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = await response.text()
    return [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]


def texts_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


@pytest.mark.parametrize(("profile", "api"), [("deepseek", "openai-chat"), ("anthropic", "anthropic")])
async def test_a_compaction_request_gets_one_compaction_item_and_its_summary_comes_back_later(
    upstream: ScriptedServer, store_url: str, profile: str, api: str
) -> None:
    upstream.enqueue(summary_reply(api), ordinary_reply(api))
    async with (
        GatewayServer(gateway_options(profile, upstream.base_url, store_url)) as gateway,
        aiohttp.ClientSession() as session,
    ):
        url = gateway.base_url + "/v1/responses"
        events = await sse_events(session, url, codex_request([*HISTORY, {"type": "compaction_trigger"}]))
        completed = next(e for e in events if e["type"] == "response.completed")
        (item,) = completed["response"]["output"]  # exactly one item, as Codex requires
        assert item["type"] == "compaction" and item["id"].startswith("cmp_")
        assert item["encrypted_content"].startswith("ilc1.")
        added = [e["item"] for e in events if e["type"] == "response.output_item.done"]
        assert added == [item]

        # Codex's next request: the history replaced by the compaction item.
        after = [*HISTORY[:2], item, {"type": "message", "role": "user", "content": "go on"}]
        events = await sse_events(session, url, codex_request(after))
        assert any(e["type"] == "response.completed" for e in events)

    summarise, resumed = upstream.requests
    # The summary request: the whole history, the prompt last, no tools, not streamed.
    asked: list[dict[str, Any]] = summarise.json["messages"]
    assert texts_of(asked[-1]) == PROMPT and asked[-1]["role"] == "user"
    assert "tools" not in summarise.json and "tool_choice" not in summarise.json
    assert summarise.json.get("stream") in (None, False)
    assert CALL in json.dumps(asked)  # the history went up with it
    # Afterwards: the summary as a user message where the compaction item was, nothing empty.
    sent: list[dict[str, Any]] = resumed.json["messages"]
    summary = [m for m in sent if m["role"] == "user" and texts_of(m).startswith(SUMMARY_INTRO)]
    assert [texts_of(m) for m in summary] == [SUMMARY_INTRO + SUMMARY]
    assert all(m.get("content") not in (None, "", []) for m in sent), sent
    assert "ilc1." not in json.dumps(resumed.json)


async def test_a_compaction_item_from_another_server_is_dropped_not_sent_upstream(
    upstream: ScriptedServer, store_url: str
) -> None:
    upstream.enqueue(ordinary_reply("openai-chat"))
    foreign = {"type": "compaction", "id": "cmp_x", "encrypted_content": "gAAAAABo-opaque-to-us"}
    after = [*HISTORY[:2], foreign, {"type": "message", "role": "user", "content": "go on"}]
    async with (
        GatewayServer(gateway_options("deepseek", upstream.base_url, store_url)) as gateway,
        aiohttp.ClientSession() as session,
    ):
        events = await sse_events(session, gateway.base_url + "/v1/responses", codex_request(after))
    assert any(e["type"] == "response.completed" for e in events)
    (request,) = upstream.requests
    assert "gAAAAABo" not in json.dumps(request.json)
    assert [m["role"] for m in request.json["messages"]] == ["developer", "user", "user"]


async def test_an_upstream_that_writes_no_summary_is_a_502_not_an_empty_compaction(
    upstream: ScriptedServer, store_url: str
) -> None:
    upstream.enqueue(Step.json(openai_completion(content="", reasoning="nothing to say")))
    async with (
        GatewayServer(gateway_options("deepseek", upstream.base_url, store_url)) as gateway,
        aiohttp.ClientSession() as session,
        session.post(
            gateway.base_url + "/v1/responses",
            json=codex_request([*HISTORY, {"type": "compaction_trigger"}]),
            headers=HEADERS,
        ) as response,
    ):
        assert response.status == 502
        answer = await response.json()
    assert "no summary" in answer["error"]["message"]


async def test_a_compaction_asked_without_streaming_is_one_json_response(
    upstream: ScriptedServer, store_url: str
) -> None:
    upstream.enqueue(summary_reply("openai-chat"))
    body = {**codex_request([*HISTORY, {"type": "compaction_trigger"}]), "stream": False}
    async with (
        GatewayServer(gateway_options("deepseek", upstream.base_url, store_url)) as gateway,
        aiohttp.ClientSession() as session,
        session.post(gateway.base_url + "/v1/responses", json=body, headers=HEADERS) as response,
    ):
        assert response.status == 200
        assert response.headers["content-type"].startswith("application/json")
        answer = await response.json()
    (item,) = answer["output"]
    assert item["type"] == "compaction" and answer["usage"]["total_tokens"] == 30
