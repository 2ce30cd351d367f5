"""Faults between the client, the gateway, the upstream and the store — each one a test.

Upstream faults come from the scripted server (a delay past the timeout, an error status, a body that
is not JSON, a stream cut or stalled mid-way); client faults from a client that hangs up mid-stream;
store faults from a real Redis that is stopped and restarted, and a SQLite file whose write lock is
held by another process. In every case the client gets an error in its own format (or its answer),
the gateway keeps serving, and nothing incomplete is stored.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from interleaf.backends.http import Timeouts
from tests.support.gateway_scenario import (
    ANTHROPIC_TOOLS,
    MODEL,
    PROMPT,
    anthropic_async,
    anthropic_turn,
    openai_async,
    upstream_steps,
)
from tests.support.gateway_server import GatewayServer, gateway_options
from tests.support.payloads import anthropic_events, anthropic_message, openai_chunks, openai_completion, text
from tests.support.redis_server import RedisServer
from tests.support.scripted_server import ScriptedServer, Step

pytestmark = pytest.mark.timeout(60)

QUICK = Timeouts(connect=1.0, first_byte=0.5, idle=0.5, total=None)


def anthropic_client(gateway: GatewayServer, key: str = "k") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key=key, max_retries=0)


def openai_client(gateway: GatewayServer, key: str = "k") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key=key, max_retries=0)


async def ask_anthropic(client: anthropic.AsyncAnthropic, **kw: Any) -> Any:
    return await client.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": PROMPT}], **kw
    )


async def ask_openai(client: openai.AsyncOpenAI, **kw: Any) -> Any:
    return await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": PROMPT}], **kw
    )


async def read_anthropic_stream(client: anthropic.AsyncAnthropic) -> None:
    async with client.messages.stream(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": PROMPT}]
    ) as stream:
        async for _ in stream:
            pass


async def read_openai_stream(chunks: Any, into: list[Any]) -> None:
    async for chunk in chunks:
        into.append(chunk)


# ------------------------------------------------------------------------------------ upstream


async def test_upstream_timeout_is_a_504_in_each_clients_format(
    upstream: ScriptedServer, store_url: str
) -> None:
    reply = anthropic_turn(0)
    upstream.enqueue(Step.json(reply, delay=2.0), Step.sse(anthropic_events(reply), delay=2.0))
    options = gateway_options("anthropic", upstream.base_url, store_url, timeouts=QUICK)
    async with GatewayServer(options) as gateway:
        async with anthropic_client(gateway) as client:
            started = time.monotonic()
            with pytest.raises(anthropic.APIStatusError) as caught:
                await ask_anthropic(client)
            assert time.monotonic() - started < 1.5
        assert caught.value.status_code == 504
        assert caught.value.body["error"]["type"] == "timeout_error"  # type: ignore[index]
        assert "first_byte" in caught.value.message
        async with openai_client(gateway) as oai:
            with pytest.raises(openai.APIStatusError) as failed:
                await ask_openai(oai, stream=True)
        assert failed.value.status_code == 504
        assert failed.value.body["code"] == "upstream_timeout"  # type: ignore[index]
        metrics = gateway.gateway.metrics
        assert metrics.upstream_errors.value("timeout") == 2
        await gateway.settle()
        assert metrics.stored.total() == 0


async def test_upstream_5xx_passes_through_with_its_status_and_message(
    upstream: ScriptedServer, store_url: str
) -> None:
    upstream.enqueue(
        Step.error(529, "Overloaded", error_type="overloaded_error", retry_after=3),
        Step.error(500, "the model crashed"),
    )
    async with GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway:
        async with anthropic_client(gateway) as client:
            with pytest.raises(anthropic.APIStatusError) as same:
                await ask_anthropic(client)
        async with openai_client(gateway) as oai:
            with pytest.raises(openai.InternalServerError) as cross:
                await ask_openai(oai)
    # Same format: the upstream's own body and Retry-After; the other format: its message re-wrapped.
    assert same.value.status_code == 529
    assert same.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert same.value.response.headers["retry-after"] == "3"
    assert cross.value.status_code == 500
    assert cross.value.body["message"] == "the model crashed"  # type: ignore[index]
    assert len(upstream.requests) == 2  # error statuses are not retried by the gateway


async def test_malformed_upstream_json_is_a_clear_502(upstream: ScriptedServer, store_url: str) -> None:
    upstream.enqueue(Step.malformed(), Step.malformed())
    async with GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway:
        async with anthropic_client(gateway) as client:
            with pytest.raises(anthropic.APIStatusError) as same:
                await ask_anthropic(client)
        async with openai_client(gateway) as oai:
            with pytest.raises(openai.APIStatusError) as cross:
                await ask_openai(oai)
        await gateway.settle()
        assert gateway.gateway.metrics.stored.total() == 0
        assert gateway.gateway.metrics.upstream_errors.value("protocol") == 2
    assert same.value.status_code == cross.value.status_code == 502
    assert "not JSON" in same.value.message
    assert cross.value.body["code"] == "upstream_protocol"  # type: ignore[index]


async def test_upstream_connection_refused_is_a_502(store_url: str) -> None:
    async with ScriptedServer() as closed:
        url = closed.base_url
    async with (
        GatewayServer(gateway_options("deepseek", url, store_url)) as gateway,
        openai_client(gateway) as oai,
    ):
        with pytest.raises(openai.APIStatusError) as caught:
            await ask_openai(oai)
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "upstream_unreachable"  # type: ignore[index]


@pytest.mark.parametrize("client", ["anthropic", "openai-chat"])
async def test_a_stream_cut_midway_ends_in_an_error_event_and_stores_nothing(
    client: str, upstream: ScriptedServer, store_url: str
) -> None:
    events = anthropic_events(anthropic_turn(0))
    upstream.enqueue(Step.sse(events, cut_after=len(events) // 2))
    async with GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway:
        if client == "anthropic":
            async with anthropic_client(gateway) as sdk:
                with pytest.raises(anthropic.APIStatusError) as caught:
                    await read_anthropic_stream(sdk)
            assert "cut" in str(caught.value.body)
        else:
            async with openai_client(gateway) as oai:
                chunks = await ask_openai(oai, stream=True)
                with pytest.raises(openai.APIError) as failed:
                    await read_openai_stream(chunks, [])
            assert "cut" in failed.value.message
        await gateway.settle()
        metrics = gateway.gateway.metrics
        assert metrics.stored.total() == 0
        assert metrics.upstream_errors.value("cut") == 1
        assert await gateway.gateway.store.stats() is not None


async def test_a_stalled_stream_hits_the_idle_timeout(upstream: ScriptedServer, store_url: str) -> None:
    chunks = openai_chunks(openai_completion(content="a long answer", reasoning="hmm"))
    upstream.enqueue(Step.sse(chunks, stall_after=3, stall=5.0))
    options = gateway_options("deepseek", upstream.base_url, store_url, timeouts=QUICK)
    async with GatewayServer(options) as gateway, openai_client(gateway) as oai:
        stream = await ask_openai(oai, stream=True)
        received: list[Any] = []
        with pytest.raises(openai.APIError) as failed:
            await read_openai_stream(stream, received)
        assert received  # what arrived before the stall was relayed at once
        assert "idle" in failed.value.message
        await gateway.settle()
        assert gateway.gateway.metrics.stored.total() == 0


async def test_an_upstream_error_event_reaches_the_client_and_nothing_is_stored(
    upstream: ScriptedServer, store_url: str
) -> None:
    events: list[Any] = anthropic_events(anthropic_turn(0))[:4]
    events.append({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    upstream.enqueue(Step.sse(events))
    async with GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway:
        async with anthropic_client(gateway) as sdk:
            with pytest.raises(anthropic.APIStatusError) as caught:
                await read_anthropic_stream(sdk)
        await gateway.settle()
        assert gateway.gateway.metrics.stored.total() == 0
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


# -------------------------------------------------------------------------------------- client


async def test_a_client_disconnect_midstream_stores_nothing_and_frees_the_upstream(
    upstream: ScriptedServer, store_url: str
) -> None:
    events = anthropic_events(anthropic_turn(0), piece=2)
    upstream.enqueue(Step.sse(events, chunk_delay=0.05))
    body = {
        "model": MODEL,
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    async with GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway:
        async with aiohttp.ClientSession() as session:
            response = await session.post(
                gateway.base_url + "/v1/messages", json=body, headers={"x-api-key": "k"}
            )
            assert response.status == 200
            first = await response.content.readany()
            assert b"message_start" in first
            response.close()  # hang up mid-stream
        metrics = gateway.gateway.metrics
        for _ in range(100):
            if metrics.client_disconnects.total():
                break
            await asyncio.sleep(0.02)
        assert metrics.client_disconnects.total() == 1
        assert metrics.streams.value == 0
        await gateway.settle()
        assert metrics.stored.total() == 0
        # The upstream connection was closed too: its handler ended long before the script would.
        for _ in range(100):
            if not upstream._handlers:
                break
            await asyncio.sleep(0.02)
        assert not upstream._handlers


# --------------------------------------------------------------------------------------- store


async def test_redis_down_keeps_serving_restores_from_memory_and_writes_once_back(
    upstream: ScriptedServer, redis_server: RedisServer
) -> None:
    options = gateway_options("anthropic", upstream.base_url, redis_server.url)
    async with GatewayServer(options) as gateway:
        upstream.enqueue(*upstream_steps("anthropic", "thinking", stream=False, turns=2))
        healthy = await anthropic_async(gateway.base_url, "k", stream=False, turns=2)
        assert healthy.restored == [0, 1]

        redis_server.stop()
        upstream.enqueue(*upstream_steps("anthropic", "thinking", stream=False, turns=2))
        started = time.monotonic()
        # Settled between turns: turn 1's write has failed before turn 2 is sent.
        down = await anthropic_async(
            gateway.base_url, "k", stream=False, turns=2, between=lambda _: gateway.settle()
        )
        assert time.monotonic() - started < 3.0  # a dead store costs no hang
        # The replica that served turn 1 holds it until it is written: still restored.
        assert down.restored == [0, 1]
        metrics = gateway.gateway.metrics
        assert metrics.store_errors.value("put") >= 1
        async with aiohttp.ClientSession() as session, session.get(gateway.base_url + "/healthz") as response:
            health = await response.json()
        assert health["status"] == "degraded"
        assert any("store writes failing" in p for p in health["problems"]), health
        assert health["store"]["pending_writes"] >= 1
        assert health["store"]["pending_write_bytes"] >= 512  # at least the overhead of each reply

        redis_server.start()  # empty: Redis runs without persistence here
        await gateway.gateway.captures.drain(10.0, written=True)  # the retries land once it is back
        # Another replica on the same Redis finds the turns written after the outage.
        last = upstream.requests[-1].json
        stripped: list[Any] = [
            {**m, "content": [b for b in m["content"] if b["type"] != "thinking"]}
            if m["role"] == "assistant"
            else m
            for m in last["messages"]
        ]
        upstream.enqueue(Step.json(anthropic_message([text("done")])))
        async with GatewayServer(options) as other, anthropic_client(other) as client:
            raw = await client.messages.with_raw_response.create(
                model=MODEL, max_tokens=100, messages=stripped, tools=ANTHROPIC_TOOLS
            )
        # The one earlier turn of that request, captured while Redis was down, written when it came back.
        assert (raw.headers["x-interleaf-restored"], raw.headers["x-interleaf-missing"]) == ("1", "0")


async def test_sqlite_write_lock_held_elsewhere_keeps_serving_and_recovers(
    upstream: ScriptedServer, tmp_path: Path
) -> None:
    path = tmp_path / "thinking.db"
    options = gateway_options("anthropic", upstream.base_url, f"sqlite:///{path}")
    async with GatewayServer(options) as gateway:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock: writes fail
        try:
            upstream.enqueue(*upstream_steps("anthropic", "thinking", stream=False, turns=1))
            started = time.monotonic()
            await anthropic_async(gateway.base_url, "k", stream=False, turns=1)
            assert time.monotonic() - started < 1.0  # the write is off the response path
            await gateway.settle()
            assert gateway.gateway.metrics.store_errors.value("put") >= 1  # retried while it fails
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        upstream.enqueue(*upstream_steps("anthropic", "thinking", stream=False, turns=2))
        recovered = await anthropic_async(gateway.base_url, "k", stream=False, turns=2)
        assert recovered.restored == [0, 1]


# ------------------------------------------------------------------------------------ requests


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
async def test_body_over_the_limit_is_a_413_in_the_clients_format(
    path: str, chunked: bool, upstream: ScriptedServer, store_url: str
) -> None:
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "x" * 5000}]}).encode()

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    options = gateway_options("anthropic", upstream.base_url, store_url, max_body=2000)
    async with (
        GatewayServer(options) as gateway,
        aiohttp.ClientSession() as session,
        session.post(
            gateway.base_url + path,
            data=pieces() if chunked else body,
            headers={"content-type": "application/json"},
        ) as response,
    ):
        assert response.status == 413
        error = await response.json()
    if path == "/v1/messages":
        assert error["type"] == "error"
        assert error["error"]["type"] == "request_too_large"
    else:
        assert error["error"]["code"] == "request_too_large"
    assert "--max-body" in json.dumps(error)
    assert not upstream.requests


async def test_bad_requests_get_400s_and_unknown_paths_404s_in_the_clients_format(
    upstream: ScriptedServer, store_url: str
) -> None:
    async with (
        GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway,
        aiohttp.ClientSession() as session,
    ):
        async with session.post(
            gateway.base_url + "/v1/messages", data=b"{not json", headers={"content-type": "application/json"}
        ) as response:
            assert response.status == 400
            assert (await response.json())["error"]["type"] == "invalid_request_error"
        async with session.post(gateway.base_url + "/v1/chat/completions", json={"model": "m"}) as response:
            assert response.status == 400
            assert "messages" in (await response.json())["error"]["message"]
        async with session.post(gateway.base_url + "/v1/completions", json={}) as response:
            assert response.status == 404
            assert "error" in await response.json()
    assert not upstream.requests


async def test_models_healthz_and_model_map(upstream: ScriptedServer, store_url: str) -> None:
    from interleaf.gateway.config import ModelMap

    options = gateway_options(
        "anthropic", upstream.base_url, store_url, model_map=ModelMap.parse(["claude-x=scripted-model"])
    )
    upstream.enqueue(Step.json(anthropic_turn(2)))
    async with GatewayServer(options) as gateway:
        async with anthropic_client(gateway) as client:
            listed = [m.id async for m in client.models.list()]
            await client.messages.create(
                model="claude-x",
                max_tokens=10,
                messages=[{"role": "user", "content": "hi"}],
                tools=ANTHROPIC_TOOLS,
            )
        async with openai_client(gateway) as oai:
            assert [m.id async for m in oai.models.list()] == listed
        async with aiohttp.ClientSession() as session, session.get(gateway.base_url + "/healthz") as response:
            health = await response.json()
    assert listed == ["claude-x", "scripted-model"]
    assert [r.json["model"] for r in upstream.requests if r.method == "POST"] == ["scripted-model"]
    assert health["status"] == "ok"
    assert health["store"]["backend"] == "sqlite"


async def test_managed_keys_map_to_tenants_and_hide_the_upstream_key(
    upstream: ScriptedServer, store_url: str, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text("# gateway keys\ngw-alice-1 alice\ngw-alice-2 alice\ngw-bob bob\n")
    options = gateway_options("deepseek", upstream.base_url, store_url, keys_file=keys)
    env = {"DEEPSEEK_API_KEY": "sk-upstream-secret"}
    upstream.enqueue(*upstream_steps("openai-chat", "reasoning_content", stream=False, turns=2))
    upstream.enqueue(*upstream_steps("openai-chat", "reasoning_content", stream=False, turns=1))
    upstream.enqueue(Step.json(openai_completion(content="fine")))
    async with GatewayServer(options, env=env) as gateway:
        async with openai_client(gateway, "not-a-gateway-key") as stranger:
            with pytest.raises(openai.AuthenticationError) as refused:
                await ask_openai(stranger)
        assert "gateway key" in refused.value.message
        # Two keys of one tenant (a rotation) share its turns; another tenant's key does not.
        alice = await openai_async(gateway.base_url, ["gw-alice-1", "gw-alice-2"], stream=False, turns=2)
        mixed = await openai_async(gateway.base_url, ["gw-alice-1", "gw-bob"], stream=False, turns=2)
    assert alice.restored == [0, 1]
    assert mixed.restored == [0, 0]
    assert (mixed.missing, mixed.foreign) == ([0, 0], [0, 1])  # bob never had alice's turn
    assert all(r.headers["authorization"] == "Bearer sk-upstream-secret" for r in upstream.requests)
    assert len(upstream.requests) == 4


async def test_claude_code_extras_beta_query_and_count_tokens(
    upstream: ScriptedServer, store_url: str
) -> None:
    """The beta client's ``?beta=true`` and ``anthropic-beta`` reach the upstream; count_tokens is
    passed through (here the scripted upstream has no such route: its 404 comes back)."""
    upstream.enqueue(Step.json(anthropic_turn(2)), Step.json(anthropic_turn(2)))
    async with (
        GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway,
        anthropic_client(gateway) as client,
    ):
        await client.beta.messages.create(
            model=MODEL,
            max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
            betas=["interleaved-thinking-2025-05-14"],
        )
        with pytest.raises(anthropic.NotFoundError):
            await client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        body = {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
        async with (
            aiohttp.ClientSession() as session,
            session.post(gateway.base_url + "/v1/messages?beta=true", json=body) as response,
        ):
            assert response.status == 200
    beta, count, query = upstream.requests
    assert beta.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert count.path == "/v1/messages/count_tokens"
    assert count.headers["x-api-key"] == "k"
    assert query.query == {"beta": "true"}
