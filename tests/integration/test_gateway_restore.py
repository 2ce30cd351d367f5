"""The gateway restores dropped thinking: official SDK clients, strict scripted upstreams, real HTTP.

Every test runs the gateway for real (uvicorn on loopback) in front of a scripted upstream that
answers 400 — as Anthropic, DeepSeek or Kimi do — when a replayed turn lacks the thinking it issued.
The clients are the official ``anthropic`` and ``openai`` SDKs rebuilding each assistant turn from its
text and tool calls only, the way most apps do; the upstream must still see every earlier thinking
block byte-exact, in its own dialect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
from dataclasses import replace
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from interleaf.store.fingerprint import calls_fingerprint, fingerprint, legacy_fingerprint
from interleaf.store.thinking_sqlite import row_key
from interleaf.transcript import Message, Text, ToolCall
from tests.support.gateway_scenario import (
    ANTHROPIC_TOOLS,
    MODEL,
    OPENAI_TOOLS,
    PROMPT,
    SIGNATURES,
    THOUGHTS,
    anthropic_async,
    anthropic_sync,
    assert_upstream_saw_all_thinking,
    call_id,
    issued_thinking,
    openai_async,
    openai_sync,
    replayed_thinking,
    upstream_steps,
)
from tests.support.gateway_server import UPSTREAMS, GatewayServer, gateway_options
from tests.support.payloads import anthropic_message, openai_completion, text, thinking
from tests.support.scripted_server import ScriptedServer, Step
from tests.support.strict import StrictAnthropic, StrictOpenAIReasoning

pytestmark = pytest.mark.timeout(60)


def make_strict(server: ScriptedServer, api: str, field: str) -> None:
    if api == "anthropic":
        server.validators.append(StrictAnthropic(server))
    else:
        server.validators.append(StrictOpenAIReasoning(server, field))


def stored_kinds(store_url: str) -> set[bytes]:
    """The first byte of every value in the gateway's SQLite store: how each turn was stored."""
    with contextlib.closing(sqlite3.connect(store_url.removeprefix("sqlite:///"))) as db:
        return {bytes(data[:1]) for (data,) in db.execute("SELECT data FROM thinking")}


async def run_client(client: str, mode: str, base_url: str, key: str = "key-a") -> Any:
    stream = "stream" in mode
    if client == "anthropic":
        if mode.startswith("sync"):
            return await asyncio.to_thread(anthropic_sync, base_url, key, stream=stream)
        return await anthropic_async(base_url, key, stream=stream)
    if mode.startswith("sync"):
        return await asyncio.to_thread(openai_sync, base_url, key, stream=stream)
    return await openai_async(base_url, key, stream=stream)


@pytest.mark.parametrize("api", ["anthropic", "openai-chat"])
async def test_without_the_gateway_the_strict_upstream_rejects_turn_two(
    api: str, upstream: ScriptedServer
) -> None:
    """The control: these clients really drop thinking, and these upstreams really notice."""
    _, field = UPSTREAMS[api]
    upstream.enqueue(*upstream_steps(api, field, stream=False))
    make_strict(upstream, api, field)
    error = anthropic.BadRequestError if api == "anthropic" else openai.BadRequestError
    with pytest.raises(error):
        await run_client(api, "async", upstream.base_url)
    assert len(upstream.requests) == 2
    assert len(upstream.rejections) == 1


@pytest.mark.parametrize("mode", ["sync", "sync-stream", "async", "async-stream"])
@pytest.mark.parametrize("upstream_api", ["anthropic", "openai-chat"])
@pytest.mark.parametrize("client", ["anthropic", "openai-chat"])
async def test_every_client_and_upstream_pair_gets_its_thinking_back(
    client: str, upstream_api: str, mode: str, upstream: ScriptedServer, store_url: str
) -> None:
    profile, field = UPSTREAMS[upstream_api]
    upstream.enqueue(*upstream_steps(upstream_api, field, stream="stream" in mode))
    make_strict(upstream, upstream_api, field)
    async with GatewayServer(gateway_options(profile, upstream.base_url, store_url)) as gateway:
        run = await run_client(client, mode, gateway.base_url)

    assert not upstream.rejections, upstream.rejections
    upstream.assert_done()
    assert_upstream_saw_all_thinking(upstream_api, field, upstream.requests)
    assert run.restored == [0, 1, 2]
    assert run.missing == [0, 0, 0]
    # Each client saw the thinking in its own format; signatures reach Anthropic clients intact.
    assert run.thinking == list(THOUGHTS)
    if client == "anthropic" and upstream_api == "anthropic":
        assert run.signatures == list(SIGNATURES)
    assert run.final_text == "It is a small demo project."
    # A reply relayed whole in the client's own format is stored as the upstream's body (r/R), every
    # other one as its transcript message (JSON, or a zstd frame: 0x28); both came back above.
    kinds = stored_kinds(store_url)
    raw = client == upstream_api and "stream" not in mode
    assert kinds and kinds <= ({b"r", b"Z"} if raw else {b"{", b"\x28"}), kinds


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("client", ["anthropic", "openai-chat"])
@pytest.mark.parametrize(
    ("profile", "field"), [("vllm", "reasoning"), ("minimax-openai", "reasoning_details")]
)
async def test_openai_dialects_get_their_own_field_back(
    profile: str, field: str, client: str, stream: bool, upstream: ScriptedServer, store_url: str
) -> None:
    upstream.enqueue(*upstream_steps("openai-chat", field, stream=stream))
    make_strict(upstream, "openai-chat", field)
    async with GatewayServer(gateway_options(profile, upstream.base_url, store_url)) as gateway:
        run = await run_client(client, "async-stream" if stream else "async", gateway.base_url)
    assert not upstream.rejections, upstream.rejections
    # reasoning_details items come back whole, key order and MiniMax's id/format/index included.
    assert_upstream_saw_all_thinking("openai-chat", field, upstream.requests)
    assert run.restored == [0, 1, 2]
    if profile == "minimax-openai":
        assert all(r.json["reasoning_split"] is True for r in upstream.requests)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("dialect", ["reasoning_details", "reasoning", "think_tags"])
async def test_client_dialect_decides_where_openai_clients_see_thinking(
    dialect: str, stream: bool, upstream: ScriptedServer, store_url: str
) -> None:
    """--client-dialect: reasoning_details carries the signature to the client; reasoning and
    think_tags carry the text (the signature stays in the store)."""
    from interleaf.transcript import ReasoningDialect

    upstream.enqueue(*upstream_steps("anthropic", "thinking", stream=stream, turns=1))
    options = gateway_options(
        "anthropic", upstream.base_url, store_url, client_dialect=ReasoningDialect(dialect)
    )
    body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "stream": stream}
    async with (
        GatewayServer(options) as gateway,
        aiohttp.ClientSession() as session,
        session.post(gateway.base_url + "/v1/chat/completions", json=body) as response,
    ):
        if stream:
            message: dict[str, Any] = {}
            async for line in response.content:
                if line.startswith(b"data: {"):
                    for choice in json.loads(line[6:])["choices"]:
                        for key, value in choice["delta"].items():
                            if isinstance(value, str):
                                message[key] = message.get(key, "") + value
                            elif isinstance(value, list):
                                message.setdefault(key, []).extend(value)
        else:
            message = (await response.json())["choices"][0]["message"]
    if dialect == "reasoning_details":
        assert message["reasoning_details"] == [
            {"type": "reasoning.text", "text": THOUGHTS[0], "signature": SIGNATURES[0]}
        ]
    elif dialect == "reasoning":
        assert message["reasoning"] == THOUGHTS[0]
    else:
        assert message["content"].startswith(f"<think>{THOUGHTS[0]}</think>")


async def test_a_second_tenant_sending_the_same_conversation_gets_nothing_restored(
    upstream: ScriptedServer, store_url: str
) -> None:
    upstream.enqueue(*upstream_steps("anthropic", "thinking", stream=False, turns=2))
    upstream.enqueue(Step.json(anthropic_message([text("ok")])))
    async with GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway:
        run = await anthropic_async(gateway.base_url, "key-a", stream=False, turns=2)
        assert run.restored == [0, 1]
        turn1 = upstream.requests[1].json["messages"][:3]  # the history tenant A sent with turn 2
        stripped = [turn1[0], {**turn1[1], "content": turn1[1]["content"][1:]}, turn1[2]]
        async with anthropic.AsyncAnthropic(
            base_url=gateway.base_url, api_key="key-b", max_retries=0
        ) as other:
            raw = await other.messages.with_raw_response.create(
                model=MODEL, max_tokens=2048, messages=stripped, tools=ANTHROPIC_TOOLS
            )
    # Tenant B never had this turn from the gateway: foreign to it, so nothing of A's is restored.
    assert raw.headers["x-interleaf-restored"] == "0"
    assert (raw.headers["x-interleaf-missing"], raw.headers["x-interleaf-foreign"]) == ("0", "1")
    assert replayed_thinking("anthropic", "thinking", upstream.requests[-1]) == [None]


async def test_same_upstream_other_model_gets_nothing_restored(
    upstream: ScriptedServer, store_url: str
) -> None:
    """Signatures are bound to the model: switching model mid-conversation restores nothing."""
    upstream.enqueue(*upstream_steps("anthropic", "thinking", stream=False, turns=1))
    upstream.enqueue(Step.json(anthropic_message([text("ok")])))
    async with (
        GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway,
        anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="key-a", max_retries=0) as client,
    ):
        first = await client.messages.create(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": PROMPT}], tools=ANTHROPIC_TOOLS
        )
        visible = [b.model_dump(exclude_none=True) for b in first.content if b.type != "thinking"]
        call = call_id("anthropic", 0)
        messages: list[Any] = [
            {"role": "user", "content": PROMPT},
            {"role": "assistant", "content": visible},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call, "content": "x"}]},
        ]
        raw = await client.messages.with_raw_response.create(
            model="another-model", max_tokens=100, messages=messages
        )
    assert (
        raw.headers["x-interleaf-restored"],
        raw.headers["x-interleaf-missing"],
        raw.headers["x-interleaf-foreign"],
    ) == ("0", "0", "1")


async def test_plain_chat_turns_are_bound_to_their_conversation(
    upstream: ScriptedServer, store_url: str
) -> None:
    """A turn without tool calls ("Sure!") is restored only into the conversation it came from."""
    reply = anthropic_message([thinking("Greet back.", "sig-hello"), text("Hello!")])
    upstream.enqueue(Step.json(reply), Step.json(anthropic_message([text("fine")])))
    upstream.enqueue(Step.json(anthropic_message([text("fine")])))
    async with (
        GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway,
        anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="key-a", max_retries=0) as client,
    ):
        await client.messages.create(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
        )
        history: list[Any] = [
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "How are you?"},
        ]
        same = await client.messages.with_raw_response.create(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "Hi"}, *history]
        )
        other = await client.messages.with_raw_response.create(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "Hey there"}, *history]
        )
    assert same.headers["x-interleaf-restored"] == "1"
    assert upstream.requests[1].json["messages"][1]["content"][0] == reply["content"][0]
    assert other.headers["x-interleaf-restored"] == "0"
    assert (other.headers["x-interleaf-missing"], other.headers["x-interleaf-foreign"]) == ("0", "1")


async def test_turns_that_carry_their_thinking_go_upstream_byte_for_byte(
    upstream: ScriptedServer, store_url: str
) -> None:
    """An app that keeps thinking (Claude Code) is passed through untouched: same bytes, no lookup."""
    body = (
        b'{"model":"m","max_tokens":50,"messages":[{"role":"user","content":"hi"},'
        b'{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},'
        b'{"type":"text","text":"yo"}]},{"role":"user","content":"again"}],  "odd_field": 1.50}'
    )
    upstream.enqueue(Step.json(anthropic_message([text("ok")])))
    async with (
        GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway,
        aiohttp.ClientSession() as session,
        session.post(
            gateway.base_url + "/v1/messages",
            data=body,
            headers={
                "x-api-key": "k",
                "anthropic-version": "2023-06-01",
                "anthropic-beta": "b1",
                "content-type": "application/json",
            },
        ) as response,
    ):
        assert response.status == 200
        assert response.headers["x-interleaf-restored"] == "0"
        assert response.headers["x-interleaf-missing"] == "0"
        assert gateway.gateway.metrics.store_errors.total() == 0
    assert upstream.requests[0].raw == body
    assert upstream.requests[0].headers["x-api-key"] == "k"
    assert upstream.requests[0].headers["anthropic-beta"] == "b1"


async def test_metrics_count_restored_and_missing_by_tenant_and_user_agent(
    upstream: ScriptedServer, store_url: str
) -> None:
    upstream.enqueue(*upstream_steps("openai-chat", "reasoning_content", stream=False))
    upstream.enqueue(Step.json(openai_completion(content="ok")))
    async with GatewayServer(gateway_options("deepseek", upstream.base_url, store_url)) as gateway:
        await openai_async(gateway.base_url, "key-a", stream=False)
        async with openai.AsyncOpenAI(
            base_url=gateway.base_url + "/v1", api_key="key-a", max_retries=0
        ) as client:
            # A turn that never went through the gateway: foreign.
            await client.chat.completions.create(
                model=MODEL,
                messages=[
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "", "tool_calls": [_call("call_never")]},
                    {"role": "tool", "tool_call_id": "call_never", "content": "x"},
                ],
            )
        await gateway.settle()
        async with aiohttp.ClientSession() as session, session.get(gateway.base_url + "/metrics") as response:
            exposition = await response.text()
            assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    restored = re.search(
        r'interleaf_turns_restored_total\{tenant="([0-9a-f]{12})",user_agent="([^"]+)"\} (\d+)', exposition
    )
    foreign = re.search(
        r'interleaf_turns_foreign_total\{tenant="([0-9a-f]{12})",user_agent="([^"]+)"\} (\d+)', exposition
    )
    assert restored is not None and foreign is not None, exposition
    assert restored.group(2) == "AsyncOpenAI/Python"
    assert restored.group(3) == "3"  # 1 on turn 2, 2 on turn 3
    assert foreign.group(1) == restored.group(1)
    assert foreign.group(3) == "1"
    assert "interleaf_turns_missing_total{" not in exposition
    assert 'interleaf_requests_total{endpoint="/v1/chat/completions",status="200"} 4' in exposition
    assert "interleaf_turns_stored_total 4" in exposition
    assert "key-a" not in exposition


def _call(call: str) -> Any:
    return {"id": call, "type": "function", "function": {"name": "list_files", "arguments": "{}"}}


@pytest.mark.parametrize("client", ["anthropic", "openai-chat"])
async def test_on_missing_error_refuses_turns_it_served_and_lost_but_forwards_foreign_ones(
    client: str, upstream: ScriptedServer, store_url: str
) -> None:
    """``--on-missing error`` refuses a turn this gateway served whose thinking is gone (here: its
    TTL ran out; the served marker outlives it), naming the client's own message index. A turn it never
    served (an app's own synthetic message) is foreign: forwarded, never refused."""
    options = gateway_options("anthropic", upstream.base_url, store_url, on_missing="error", ttl=1.0)
    foreign_call = "toolu_01NeverServedHereAbCd"
    upstream.enqueue(*upstream_steps("anthropic", "thinking", stream=False, turns=1))
    upstream.enqueue(Step.json(anthropic_message([text("fine")])))
    async with GatewayServer(options) as gateway:
        if client == "anthropic":
            async with anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="k", max_retries=0) as sdk:
                first = await sdk.messages.create(
                    model=MODEL,
                    max_tokens=100,
                    messages=[{"role": "user", "content": PROMPT}],
                    tools=ANTHROPIC_TOOLS,
                )
                served = [b.model_dump(exclude_none=True) for b in first.content if b.type != "thinking"]
                call = call_id("anthropic", 0)
                synthetic: Any = {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": foreign_call, "name": "list_files", "input": {}}],
                }
                synthetic_history: list[Any] = [
                    {"role": "user", "content": PROMPT},
                    synthetic,
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": foreign_call, "content": "x"}],
                    },
                ]
                foreign_raw_a = await sdk.messages.with_raw_response.create(
                    model=MODEL, max_tokens=100, messages=synthetic_history, tools=ANTHROPIC_TOOLS
                )
                foreign_headers = foreign_raw_a.headers
                await gateway.gateway.captures.drain(5.0, written=True)
                await asyncio.sleep(1.1)  # past the TTL: the stored thinking is gone, the marker is not
                lost_history: list[Any] = [
                    {"role": "user", "content": PROMPT},
                    {"role": "assistant", "content": served},
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": call, "content": "x"}],
                    },
                ]
                with pytest.raises(anthropic.BadRequestError) as caught:
                    await sdk.messages.create(
                        model=MODEL, max_tokens=100, messages=lost_history, tools=ANTHROPIC_TOOLS
                    )
            error = caught.value.body["error"]  # type: ignore[index]
            assert error["type"] == "invalid_request_error"
            assert error["message"].startswith("messages[1]: ")
            assert caught.value.response.headers["x-interleaf-missing"] == "1"
        else:
            async with openai.AsyncOpenAI(
                base_url=gateway.base_url + "/v1", api_key="k", max_retries=0
            ) as sdk:
                first_oai = await sdk.chat.completions.create(
                    model=MODEL,
                    messages=[{"role": "system", "content": "s"}, {"role": "user", "content": PROMPT}],
                    tools=OPENAI_TOOLS,
                )
                made = first_oai.choices[0].message
                assert made.tool_calls
                calls: list[Any] = [c.model_dump() for c in made.tool_calls]
                history: list[Any] = [
                    {"role": "system", "content": "s"},
                    {"role": "assistant", "content": "Hello! I am your assistant."},  # an app's own opener
                    {"role": "user", "content": PROMPT},
                ]
                foreign_raw = await sdk.chat.completions.with_raw_response.create(
                    model=MODEL, messages=history, tools=OPENAI_TOOLS
                )
                foreign_headers = foreign_raw.headers
                await gateway.gateway.captures.drain(5.0, written=True)
                await asyncio.sleep(1.1)
                lost: list[Any] = [
                    *history,
                    {"role": "assistant", "content": made.content, "tool_calls": calls},
                    *[{"role": "tool", "tool_call_id": c["id"], "content": "x"} for c in calls],
                    {"role": "user", "content": "go on"},
                ]
                with pytest.raises(openai.BadRequestError) as failed:
                    await sdk.chat.completions.create(
                        model=MODEL,
                        messages=lost,
                        tools=OPENAI_TOOLS,
                    )
            error = failed.value.body
            assert isinstance(error, dict)
            assert error["code"] == "interleaf_thinking_missing"
            # The app's opener (messages[1]) is foreign and not named; the served turn is messages[3].
            assert error["message"].startswith("messages[3]: ")
            assert "--on-missing pass" in error["message"]
            assert failed.value.response.headers["x-interleaf-missing"] == "1"
            assert failed.value.response.headers["x-interleaf-foreign"] == "1"
    assert foreign_headers["x-interleaf-foreign"] == "1"
    assert foreign_headers["x-interleaf-missing"] == "0"
    assert len(upstream.requests) == 2  # the first turn and the foreign-only request; the refusal never went


async def test_unsigned_reasoning_sent_back_by_an_openai_client_gets_its_signature_back(
    upstream: ScriptedServer, store_url: str
) -> None:
    """An app that does keep reasoning_content still loses the signature (the field cannot carry
    it); toward an Anthropic upstream the gateway replaces it with the stored, signed block."""
    upstream.enqueue(*upstream_steps("anthropic", "thinking", stream=False, turns=2))
    upstream.validators.append(StrictAnthropic(upstream))
    async with (
        GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway,
        openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="k", max_retries=0) as client,
    ):
        messages: list[Any] = [{"role": "user", "content": PROMPT}]
        first = (
            await client.chat.completions.create(model=MODEL, messages=messages, tools=OPENAI_TOOLS)
        ).choices[0]
        reasoning = first.message.reasoning_content  # type: ignore[attr-defined]
        call = first.message.tool_calls[0]  # type: ignore[index]
        messages += [
            {
                "role": "assistant",
                "content": first.message.content,
                "reasoning_content": reasoning,
                "tool_calls": [call.model_dump()],
            },
            {"role": "tool", "tool_call_id": call.id, "content": "README.md"},
        ]
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=messages, tools=OPENAI_TOOLS
        )
    assert reasoning == THOUGHTS[0]
    assert raw.headers["x-interleaf-restored"] == "1"
    assert not upstream.rejections
    assert_upstream_saw_all_thinking("anthropic", "thinking", upstream.requests)


async def test_inline_think_a_client_rerendered_is_put_back_as_generated(
    upstream: ScriptedServer, store_url: str
) -> None:
    """An inline-<think> upstream (--thinking-dialect think_tags): pydantic-ai sends the section back
    with newlines added around the text (the shape its Chat model writes), which a server that parses
    its own format reads as different reasoning. The gateway checks inline turns against the stored
    copy and puts the section back as generated; a client that keeps it exactly is passed through."""
    from interleaf.backends.profiles import get_profile
    from interleaf.transcript import ReasoningDialect
    from tests.support.strict import StrictThinkTags

    upstream.validators.append(StrictThinkTags(upstream))
    generated = "<think>Read a first.</think>\n\n"
    first = openai_completion(content=generated, tool_calls=[_call("call_Gx81bQ2mZ9")])
    upstream.enqueue(Step.json(first), Step.json(openai_completion(content="done")))
    upstream.enqueue(Step.json(openai_completion(content="done")))
    profile = get_profile("vllm", base_url=upstream.base_url).with_overrides(
        thinking_dialect=ReasoningDialect.THINK_TAGS
    )
    options = gateway_options("vllm", upstream.base_url, store_url)
    options = replace(options, profile=profile)
    async with (
        GatewayServer(options) as gateway,
        openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="k", max_retries=0) as client,
    ):
        reply = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "go"}]
        )
        assert reply.choices[0].message.content == generated
        tool: Any = {"role": "tool", "tool_call_id": "call_Gx81bQ2mZ9", "content": "x"}
        calls: Any = [_call("call_Gx81bQ2mZ9")]
        rerendered: list[Any] = [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": "<think>\n\nRead a first.\n\n</think>\n\n\n\n",
                "tool_calls": calls,
            },
            tool,
        ]
        fixed = await client.chat.completions.with_raw_response.create(model=MODEL, messages=rerendered)
        kept: list[Any] = [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": generated, "tool_calls": calls},
            tool,
        ]
        exact = await client.chat.completions.with_raw_response.create(model=MODEL, messages=kept)
    assert not upstream.rejections, upstream.rejections
    assert fixed.headers["x-interleaf-restored"] == "1"
    assert upstream.requests[1].json["messages"][1]["content"].startswith("<think>Read a first.</think>")
    assert (exact.headers["x-interleaf-restored"], exact.headers["x-interleaf-foreign"]) == ("0", "0")
    assert upstream.requests[2].json["messages"][1]["content"] == generated


async def _first_tool_turn(client: openai.AsyncOpenAI, stream: bool) -> tuple[Any, str]:
    """Turn one through the gateway as a Chat app reads it: the tool call and what the user saw."""
    messages: Any = [{"role": "user", "content": PROMPT}]
    if not stream:
        reply = await client.chat.completions.create(model=MODEL, messages=messages, tools=OPENAI_TOOLS)
        message = reply.choices[0].message
        return message.tool_calls[0].model_dump(), message.content or ""  # type: ignore[index]
    calls: dict[int, Any] = {}
    content = ""
    chunks = await client.chat.completions.create(
        model=MODEL, messages=messages, tools=OPENAI_TOOLS, stream=True
    )
    async for chunk in chunks:
        delta = chunk.choices[0].delta if chunk.choices else None
        content += (delta.content or "") if delta else ""
        for part in (delta.tool_calls or []) if delta else []:
            call = calls.setdefault(
                part.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            )
            call["id"] += part.id or ""
            call["function"]["name"] += (part.function.name or "") if part.function else ""
            call["function"]["arguments"] += (part.function.arguments or "") if part.function else ""
    return calls[0], content


def _rebuilt_step(call: Any) -> Any:
    """Qwen Code's history after compacting: a summary, then the unfinished step rebuilt as new text
    around the original tool call (same id, no thinking), then its result."""
    return [
        {"role": "user", "content": "Summary of the work so far: nothing read yet. Continue."},
        {"role": "assistant", "content": "Got it. Thanks for the additional context!", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "README.md\nsrc/"},
    ]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("upstream_api", ["anthropic", "openai-chat"])
async def test_a_tool_call_sent_back_with_new_text_around_it_gets_its_thinking_back(
    upstream_api: str, stream: bool, upstream: ScriptedServer, store_url: str
) -> None:
    """Qwen Code, after compacting its history, sends its unfinished step back as a new assistant
    message: "Got it. Thanks for the additional context!" plus the original tool call (same id), no
    thinking. A strict upstream refuses a tool call without its thinking; the call's random id still
    names the turn the gateway served, so its thinking goes back."""
    profile, field = UPSTREAMS[upstream_api]
    upstream.enqueue(*upstream_steps(upstream_api, field, stream=stream, turns=2))
    make_strict(upstream, upstream_api, field)
    async with (
        GatewayServer(gateway_options(profile, upstream.base_url, store_url)) as gateway,
        openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="k", max_retries=0) as client,
    ):
        call, content = await _first_tool_turn(client, stream)
        assert content == "Let me look at the files."
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=_rebuilt_step(call), tools=OPENAI_TOOLS, stream=stream
        )
        if stream:
            await raw.parse().close()  # type: ignore[union-attr]
    assert not upstream.rejections, upstream.rejections
    assert (raw.headers["x-interleaf-restored"], raw.headers["x-interleaf-foreign"]) == ("1", "0")
    sent = upstream.requests[1]
    assert replayed_thinking(upstream_api, field, sent) == [issued_thinking(upstream_api, field, 0)]
    # The app's text is what goes upstream; only the thinking was put back.
    assistant = next(m for m in sent.json["messages"] if m["role"] == "assistant")
    visible = assistant["content"] if upstream_api == "openai-chat" else assistant["content"][1]["text"]
    assert visible == "Got it. Thanks for the additional context!"


# Ids as servers mint them that have no digit or no letter in them: every GLM id; about one MiniMax id
# in 50 (12 lowercase letters and digits) and one OpenAI id in 70 (24 letters and digits).
DIGITLESS_OR_LETTERLESS_IDS = {
    "glm": "call_-7947991322826442284",
    "minimax": "call_function_xydyovpivyrn_1",
    "openai": "call_DdmOpDxaXTPNJzghcAbQwErT",
}


def _one_tool_turn(call_id: str) -> Step:
    call = {
        "id": call_id,
        "type": "function",
        "function": {"name": "list_files", "arguments": '{"path": "."}'},
    }
    return Step.json(
        openai_completion(
            content="Let me look at the files.", reasoning=THOUGHTS[0], tool_calls=[call], id="chatcmpl-one"
        )
    )


@pytest.mark.parametrize("server", sorted(DIGITLESS_OR_LETTERLESS_IDS))
async def test_a_rebuilt_step_is_restored_whatever_the_servers_ids_are_made_of(
    server: str, upstream: ScriptedServer, store_url: str
) -> None:
    """A turn is keyed on its calls alone when its ids are random; ids without digits (or letters) are
    random too when long enough, so an app that rebuilds the step around the call still gets the
    thinking back. Before, such a turn was bound to the conversation, and the rebuilt step went
    upstream bare: the strict upstream refused it (Qwen Code stopped, about 1 run in 100 on OpenAI)."""
    field = "reasoning_content"
    upstream.enqueue(
        _one_tool_turn(DIGITLESS_OR_LETTERLESS_IDS[server]),
        upstream_steps("openai-chat", field, stream=False, turns=2)[1],
    )
    make_strict(upstream, "openai-chat", field)
    async with (
        GatewayServer(gateway_options("deepseek", upstream.base_url, store_url)) as gateway,
        openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="k", max_retries=0) as client,
    ):
        call, _ = await _first_tool_turn(client, stream=False)
        assert call["id"] == DIGITLESS_OR_LETTERLESS_IDS[server]
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=_rebuilt_step(call), tools=OPENAI_TOOLS
        )
    assert not upstream.rejections, upstream.rejections
    assert (raw.headers["x-interleaf-restored"], raw.headers["x-interleaf-foreign"]) == ("1", "0")
    assert replayed_thinking("openai-chat", field, upstream.requests[1]) == [THOUGHTS[0]]


@pytest.mark.parametrize("ids", ["random", "glm"])
async def test_a_turn_stored_by_an_earlier_version_is_still_restored(
    ids: str, upstream: ScriptedServer, store_url: str
) -> None:
    """A gateway upgraded mid-conversation still finds the rows earlier versions wrote, while they live:

    * ``random``: versions before ``k1:`` keys stored a turn with random tool-call ids under its
      ``f1:`` key (calls and text);
    * ``glm``: versions before ids without letters counted as random bound a GLM turn to its
      conversation; the upgraded gateway looks the turn up by its calls, misses, then finds it there.
    """
    field = "reasoning_content"
    steps = upstream_steps("openai-chat", field, stream=False, turns=2)
    if ids == "glm":
        steps[0] = _one_tool_turn(DIGITLESS_OR_LETTERLESS_IDS["glm"])
    upstream.enqueue(*steps)
    make_strict(upstream, "openai-chat", field)
    options = gateway_options("deepseek", upstream.base_url, store_url)
    async with (
        GatewayServer(options) as gateway,
        openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="k", max_retries=0) as client,
    ):
        call, content = await _first_tool_turn(client, stream=False)
    # Rewrite the stored row as an earlier version wrote it.
    echoed = Message(role="assistant", blocks=(Text(text=content), _tool_call(call)))
    legacy = legacy_fingerprint([Message(role="user", blocks=(Text(text=PROMPT),)), echoed], 1)
    assert legacy is not None and legacy.startswith("f1:")
    assert (legacy == fingerprint(echoed)) is (ids == "random")  # unbound, or bound to the conversation
    path = store_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        rows = db.execute("SELECT rowid, tenant, fingerprint FROM thinking").fetchall()
        assert [key for _, _, key in rows] == [calls_fingerprint(echoed)]
        ((rowid, tenant, _),) = rows
        db.execute(
            "UPDATE thinking SET fingerprint = ?, k = ? WHERE rowid = ?",
            (legacy, row_key(tenant, legacy), rowid),
        )
    async with (
        GatewayServer(options) as gateway,
        openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="k", max_retries=0) as client,
    ):
        history: Any = [
            {"role": "user", "content": PROMPT},
            {"role": "assistant", "content": content, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "README.md\nsrc/"},
        ]
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=history, tools=OPENAI_TOOLS
        )
    assert not upstream.rejections, upstream.rejections
    assert raw.headers["x-interleaf-restored"] == "1"
    assert_upstream_saw_all_thinking("openai-chat", field, upstream.requests)


def _tool_call(call: Any) -> ToolCall:
    function = call["function"]
    return ToolCall(id=call["id"], name=function["name"], raw_arguments=function["arguments"])
