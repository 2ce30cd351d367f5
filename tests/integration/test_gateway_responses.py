"""The OpenAI Responses API through the gateway: Responses clients (Codex, pi, the OpenAI Agents SDK) in
front of Responses, Anthropic and OpenAI Chat upstreams, and Anthropic clients that get the gateway's
own signature on thinking an OpenAI-format upstream never signs.

The client side is the official ``openai`` SDK's ``responses`` API used the way apps that drop
reasoning use it: each turn is replayed from its function calls and outputs only. Strict upstreams
reject a request whose earlier reasoning is missing or changed, so every restored item is checked
byte-exact by the upstream itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from tests.compat.replies import responses_step
from tests.support.gateway_server import GatewayServer, gateway_options
from tests.support.payloads import (
    anthropic_events,
    anthropic_message,
    openai_chunks,
    openai_completion,
    text,
    thinking,
    tool_call,
    tool_use,
)
from tests.support.scripted_server import ScriptedServer, Step
from tests.support.strict import StrictAnthropic, StrictOpenAIReasoning, StrictResponses

pytestmark = pytest.mark.timeout(60)

MODEL = "scripted-model"
TOOLS: list[Any] = [{"type": "function", "name": "read_file", "parameters": {"type": "object"}}]
APPS = Path(__file__).parents[1] / "fixtures" / "apps"


def _reasoning(n: int) -> dict[str, Any]:
    return {
        "type": "reasoning",
        "id": f"rs_{n}abcdef",
        "summary": [{"type": "summary_text", "text": f"Plan step {n}: read the next file."}],
        "encrypted_content": f"gAAAAABencrypted{n}==",
    }


def _call(n: int) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{n}abcdef",
        "call_id": f"call_q7Zr9x{n}Lm2",
        "name": "read_file",
        "arguments": json.dumps({"path": f"file{n}.txt"}),
        "status": "completed",
    }


def _answer() -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_end",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Both files read.", "annotations": []}],
    }


async def _drop_reasoning_loop(
    gateway: GatewayServer, *, stream: bool, turns: int = 3
) -> list[dict[str, str]]:
    """A Responses app that keeps function calls and outputs but drops reasoning items; returns the
    gateway's counts per request."""
    counts: list[dict[str, str]] = []
    history: list[Any] = [{"role": "user", "content": "Read the two files."}]
    async with openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="k", max_retries=0) as client:
        for _ in range(turns):
            if stream:
                async with client.responses.stream(
                    model=MODEL, input=history, tools=TOOLS, store=False
                ) as events:
                    async for _event in events:
                        pass
                    reply: Any = await events.get_final_response()
                    headers = events._response.headers
            else:
                raw = await client.responses.with_raw_response.create(
                    model=MODEL, input=history, tools=TOOLS, store=False
                )
                reply, headers = raw.parse(), raw.headers
            counts.append({k: headers[f"x-interleaf-{k}"] for k in ("restored", "missing", "foreign")})
            calls = [item for item in reply.output if item.type == "function_call"]
            if not calls:
                break
            for call in calls:
                history.append(
                    {
                        "type": "function_call",
                        "call_id": call.call_id,
                        "name": call.name,
                        "arguments": call.arguments,
                    }
                )
                history.append(
                    {"type": "function_call_output", "call_id": call.call_id, "output": "contents"}
                )
    return counts


@pytest.mark.parametrize("stream", [False, True])
async def test_responses_app_on_a_responses_upstream_gets_dropped_reasoning_items_back_byte_exact(
    stream: bool, upstream: ScriptedServer, store_url: str
) -> None:
    upstream.validators.append(StrictResponses(upstream))
    upstream.enqueue(
        responses_step([_reasoning(1), _call(1)], model=MODEL, stream=stream, id="resp_1"),
        responses_step([_reasoning(2), _call(2)], model=MODEL, stream=stream, id="resp_2"),
        responses_step([_reasoning(3), _answer()], model=MODEL, stream=stream, id="resp_3"),
    )
    async with GatewayServer(gateway_options("openai-responses", upstream.base_url, store_url)) as gateway:
        counts = await _drop_reasoning_loop(gateway, stream=stream)
    assert not upstream.rejections, upstream.rejections
    assert [c["restored"] for c in counts] == ["0", "1", "2"]
    last = upstream.requests[-1].json["input"]
    assert [item for item in last if item.get("type") == "reasoning"] == [_reasoning(1), _reasoning(2)]


@pytest.mark.parametrize("stream", [False, True])
async def test_responses_app_on_an_anthropic_upstream_gets_signed_thinking_restored(
    stream: bool, upstream: ScriptedServer, store_url: str
) -> None:
    upstream.validators.append(StrictAnthropic(upstream))
    replies = [
        anthropic_message(
            [thinking("First, list.", "sig-one"), tool_use("toolu_01AbCdEfGh1", "read_file", {"path": "a"})]
        ),
        anthropic_message(
            [thinking("Then read.", "sig-two"), tool_use("toolu_01AbCdEfGh2", "read_file", {"path": "b"})]
        ),
        anthropic_message([thinking("Done.", "sig-three"), text("Both read.")]),
    ]
    upstream.enqueue(*(Step.sse(anthropic_events(r)) if stream else Step.json(r) for r in replies))
    async with GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway:
        counts = await _drop_reasoning_loop(gateway, stream=stream)
    assert not upstream.rejections, upstream.rejections
    assert [c["restored"] for c in counts] == ["0", "1", "2"]


async def test_responses_app_on_a_deepseek_style_upstream_gets_reasoning_content_restored(
    upstream: ScriptedServer, store_url: str
) -> None:
    upstream.validators.append(StrictOpenAIReasoning(upstream, "reasoning_content"))
    replies = [
        openai_completion(
            content="",
            reasoning="I will read a.",
            reasoning_field="reasoning_content",
            tool_calls=[tool_call("call_Xy12abCD34", "read_file", {"path": "a"})],
        ),
        openai_completion(content="Done.", reasoning="All read.", reasoning_field="reasoning_content"),
    ]
    upstream.enqueue(Step.sse(openai_chunks(replies[0])), Step.sse(openai_chunks(replies[1])))
    async with GatewayServer(gateway_options("deepseek", upstream.base_url, store_url)) as gateway:
        counts = await _drop_reasoning_loop(gateway, stream=True, turns=2)
    assert not upstream.rejections, upstream.rejections
    assert [c["restored"] for c in counts] == ["0", "1"]
    assert upstream.requests[-1].json["messages"][1]["reasoning_content"] == "I will read a."


async def test_codex_shaped_requests_pass_through_to_a_chat_upstream(
    upstream: ScriptedServer, store_url: str
) -> None:
    """The exact request shapes Codex sent (recorded by the compatibility suite, texts replaced)."""
    recorded = json.loads((APPS / "codex" / "openai-responses--responses.json").read_text())
    first = recorded["requests"][0]
    body = first["body"]
    upstream.enqueue(
        Step.json(openai_completion(content="ok", reasoning="r", reasoning_field="reasoning_content"))
    )
    headers = {
        "content-type": "application/json",
        "authorization": "Bearer k",
        "user-agent": first["headers"].get("user-agent", "codex"),
    }
    async with (
        GatewayServer(gateway_options("deepseek", upstream.base_url, store_url)) as gateway,
        aiohttp.ClientSession() as session,
        session.post(gateway.base_url + "/v1/responses", json=body, headers=headers) as response,
    ):
        assert response.status == 200, await response.text()
        answer = await response.text()
    assert upstream.requests[0].json["messages"], upstream.requests[0].json
    assert "event: response.completed" in answer or '"object":"response"' in answer.replace(" ", "")


async def test_previous_response_id_needs_a_stateful_upstream_and_says_so(
    upstream: ScriptedServer, store_url: str
) -> None:
    async with GatewayServer(gateway_options("deepseek", upstream.base_url, store_url)) as gateway:
        async with openai.AsyncOpenAI(
            base_url=gateway.base_url + "/v1", api_key="k", max_retries=0
        ) as client:
            with pytest.raises(openai.BadRequestError) as refused:
                await client.responses.create(model=MODEL, input="again", previous_response_id="resp_123")
        counted = gateway.gateway.metrics.unserved.total()
    assert "previous_response_id needs an upstream that keeps Responses state" in str(refused.value)
    assert counted == 1
    assert not upstream.requests


# ------------------------------------------------------------------------- gateway-minted signatures


async def test_anthropic_app_on_a_chat_upstream_gets_signed_thinking_that_it_can_replay(
    upstream: ScriptedServer, store_url: str
) -> None:
    """An Anthropic client that keeps only signed thinking (unsigned it turns into text, or drops) gets
    the gateway's own signature; replayed, the token is redeemed and never reaches the upstream."""
    upstream.validators.append(StrictOpenAIReasoning(upstream, "reasoning_content"))
    first = openai_completion(
        content="",
        reasoning="Check a first.",
        reasoning_field="reasoning_content",
        tool_calls=[tool_call("call_Aa11Bb22Cc", "read_file", {"path": "a"})],
    )
    upstream.enqueue(
        Step.json(first),
        Step.json(openai_completion(content="fine", reasoning="ok", reasoning_field="reasoning_content")),
    )
    upstream.enqueue(
        Step.json(openai_completion(content="fine", reasoning="ok", reasoning_field="reasoning_content"))
    )
    tools: list[Any] = [{"name": "read_file", "input_schema": {"type": "object"}}]
    async with (
        GatewayServer(gateway_options("deepseek", upstream.base_url, store_url)) as gateway,
        anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="k", max_retries=0) as client,
    ):
        reply = await client.messages.create(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "go"}], tools=tools
        )
        shown = reply.content[0]
        assert shown.type == "thinking" and shown.signature.startswith("ilf1.")
        call = next(b for b in reply.content if b.type == "tool_use")
        kept: list[Any] = [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in reply.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "x"}]},
        ]
        replayed = await client.messages.with_raw_response.create(
            model=MODEL, max_tokens=100, messages=kept, tools=tools
        )
        tampered = json.loads(json.dumps(kept))
        tampered[1]["content"][0]["thinking"] = "Something else entirely."
        forged = await client.messages.with_raw_response.create(
            model=MODEL, max_tokens=100, messages=tampered, tools=tools
        )
    assert not upstream.rejections, upstream.rejections
    assert replayed.headers["x-interleaf-restored"] == "0"  # the client's own copy was good
    assert (
        forged.headers["x-interleaf-restored"] == "1"
    )  # the edited block was dropped, the original restored
    for request in upstream.requests[1:]:
        assert request.json["messages"][1]["reasoning_content"] == "Check a first."
        assert "ilf1." not in request.raw.decode()


async def test_responses_app_on_a_chat_upstream_gets_a_token_it_replays_and_the_upstream_never_sees(
    upstream: ScriptedServer, store_url: str
) -> None:
    """Qwen Code keeps a reasoning item only when it has encrypted_content (else it turns the text into
    an assistant message): the gateway gives translated reasoning items its own token, redeemed on the
    way back; an item whose token does not match its text is dropped and the stored original restored."""
    upstream.validators.append(StrictOpenAIReasoning(upstream, "reasoning_content"))
    first = openai_completion(
        content="",
        reasoning="Check a first.",
        reasoning_field="reasoning_content",
        tool_calls=[tool_call("call_Rr11Ss22Tt", "read_file", {"path": "a"})],
    )
    done = openai_completion(content="ok", reasoning="fine", reasoning_field="reasoning_content")
    upstream.enqueue(Step.json(first), Step.json(done), Step.json(done))
    async with (
        GatewayServer(gateway_options("deepseek", upstream.base_url, store_url)) as gateway,
        openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="k", max_retries=0) as client,
    ):
        reply = await client.responses.create(model=MODEL, input="go", tools=TOOLS, store=False)
        items = [item.model_dump(exclude_none=True) for item in reply.output]
        reasoning = next(item for item in items if item["type"] == "reasoning")
        assert reasoning["encrypted_content"].startswith("ilf1.")
        call = next(item for item in items if item["type"] == "function_call")
        kept: list[Any] = [
            {"role": "user", "content": "go"},
            reasoning,
            call,
            {"type": "function_call_output", "call_id": call["call_id"], "output": "x"},
        ]
        replayed = await client.responses.with_raw_response.create(model=MODEL, input=kept, tools=TOOLS)
        forged: list[Any] = json.loads(json.dumps(kept))
        forged[1]["summary"][0]["text"] = "Something else."
        tampered = await client.responses.with_raw_response.create(model=MODEL, input=forged, tools=TOOLS)
    assert not upstream.rejections, upstream.rejections
    assert replayed.headers["x-interleaf-restored"] == "0"
    assert tampered.headers["x-interleaf-restored"] == "1"
    for request in upstream.requests[1:]:
        assert request.json["messages"][1]["reasoning_content"] == "Check a first."
        assert "ilf1." not in request.raw.decode()
