"""An OpenAI-format app's reasoning effort, through the gateway, to an Anthropic-API upstream.

Codex (Responses, ``reasoning.effort``) and OpenCode or Qwen Code (Chat, ``reasoning_effort``) ask for
reasoning with one word. An Anthropic-API model thinks only when ``thinking`` asks it to, in the form
the model takes; the strict upstream refuses the wrong form as Anthropic does (a budget on Opus 4.7,
adaptive on Sonnet 4.5), and a thinking request with a temperature other than 1.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from tests.support.gateway_server import GatewayServer, gateway_options
from tests.support.payloads import anthropic_events, anthropic_message, text, thinking, tool_use
from tests.support.scripted_server import ScriptedServer, Step
from tests.support.strict import StrictThinkingSetting

pytestmark = pytest.mark.timeout(60)


def _reply() -> dict[str, Any]:
    return anthropic_message([thinking("The user says hi: greet back.", "sig-hi"), text("Hello!")])


@pytest.mark.parametrize(
    ("model", "effort", "sent", "output_config"),
    [
        ("claude-opus-4-7", "medium", {"type": "adaptive", "display": "summarized"}, {"effort": "medium"}),
        ("claude-sonnet-4-5", "high", {"type": "enabled", "budget_tokens": 16000}, None),
    ],
)
async def test_a_chat_apps_reasoning_effort_becomes_the_thinking_the_model_takes(
    model: str,
    effort: Any,  # the SDK's Literal of effort words
    sent: dict[str, Any],
    output_config: dict[str, Any] | None,
    upstream: ScriptedServer,
    store_url: str,
) -> None:
    upstream.validators.append(StrictThinkingSetting())
    upstream.enqueue(Step.sse(anthropic_events(_reply())))
    async with (
        GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway,
        openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="k", max_retries=0) as client,
    ):
        chunks = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "hi"}],
            reasoning_effort=effort,
            stream=True,
        )
        reasoning = [
            getattr(chunk.choices[0].delta, "reasoning_content", None) or ""
            async for chunk in chunks
            if chunk.choices
        ]
    assert not upstream.rejections, upstream.rejections
    body = upstream.requests[0].json
    assert body["thinking"] == sent
    assert body["thinking"].get("budget_tokens", 0) < body["max_tokens"]
    assert body.get("output_config") == output_config
    assert "reasoning_effort" not in body
    assert "".join(reasoning) == "The user says hi: greet back."


async def test_a_responses_apps_reasoning_effort_becomes_adaptive_thinking(
    upstream: ScriptedServer, store_url: str
) -> None:
    upstream.validators.append(StrictThinkingSetting())
    upstream.enqueue(Step.json(_reply()))
    async with (
        GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway,
        openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="k", max_retries=0) as client,
    ):
        reply = await client.responses.create(
            model="claude-opus-4-7", input="hi", reasoning={"effort": "low"}, store=False
        )
    assert not upstream.rejections, upstream.rejections
    body = upstream.requests[0].json
    assert body["thinking"] == {"type": "adaptive", "display": "summarized"}
    assert body["output_config"] == {"effort": "low"}
    assert reply.output_text == "Hello!"


async def test_thinking_stays_off_when_the_apps_own_settings_rule_it_out(
    upstream: ScriptedServer, store_url: str
) -> None:
    # Anthropic refuses thinking with a temperature other than 1: the app's request goes as it would
    # have without the effort, rather than changed or refused. (Sonnet 4.6: adaptive, and it still
    # takes a temperature; Opus 4.7 refuses one, see below.)
    upstream.validators.append(StrictThinkingSetting())
    upstream.enqueue(Step.json(anthropic_message([text("Hello!")])))
    async with (
        GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway,
        openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="k", max_retries=0) as client,
    ):
        reply = await client.chat.completions.create(
            model="claude-sonnet-4-6",
            messages=[{"role": "user", "content": "hi"}],
            reasoning_effort="high",
            temperature=0.2,
        )
    assert not upstream.rejections, upstream.rejections
    body = upstream.requests[0].json
    assert "thinking" not in body and "output_config" not in body and body["temperature"] == 0.2
    assert reply.choices[0].message.content == "Hello!"


async def test_sampling_a_model_refuses_is_left_out_and_thinking_goes_on(
    upstream: ScriptedServer, store_url: str
) -> None:
    # Opus 4.7 refuses temperature, top_p and top_k outright ("`temperature` is deprecated for this
    # model."), and the interleaved-thinking beta: a Chat app that sets a temperature got a 400.
    upstream.validators.append(StrictThinkingSetting())
    upstream.enqueue(Step.json(_reply()))
    async with (
        GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway,
        openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="k", max_retries=0) as client,
    ):
        reply = await client.chat.completions.create(
            model="claude-opus-4-7",
            messages=[{"role": "user", "content": "hi"}],
            reasoning_effort="high",
            temperature=0.2,
            top_p=0.9,
        )
    assert not upstream.rejections, upstream.rejections
    request = upstream.requests[0]
    assert "temperature" not in request.json and "top_p" not in request.json
    assert request.json["thinking"]["type"] == "adaptive" and request.json["output_config"] == {
        "effort": "high"
    }
    assert "interleaved-thinking" not in request.headers.get("anthropic-beta", "")
    assert reply.choices[0].message.content == "Hello!"


async def test_a_budget_model_still_gets_the_interleaved_thinking_beta(
    upstream: ScriptedServer, store_url: str
) -> None:
    upstream.validators.append(StrictThinkingSetting())
    upstream.enqueue(Step.json(_reply()))
    async with (
        GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway,
        openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="k", max_retries=0) as client,
    ):
        await client.chat.completions.create(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}], temperature=0.5
        )
    assert not upstream.rejections, upstream.rejections
    request = upstream.requests[0]
    assert request.json["temperature"] == 0.5  # Sonnet 4.5 takes it
    assert "interleaved-thinking-2025-05-14" in request.headers["anthropic-beta"]


async def test_an_anthropic_apps_own_temperature_for_opus_4_7_is_left_out_not_refused(
    upstream: ScriptedServer, store_url: str
) -> None:
    # Qwen Code and llm send a temperature to every Anthropic model; Opus 4.7 answers that with a 400.
    # Passed through, the request keeps everything else byte for byte in meaning.
    upstream.validators.append(StrictThinkingSetting())
    upstream.enqueue(Step.json(_reply()))
    upstream.enqueue(Step.json(_reply()))
    async with (
        GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway,
        anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="k", max_retries=0) as client,
    ):
        reply = await client.messages.create(
            model="claude-opus-4-7",
            max_tokens=1000,
            messages=[{"role": "user", "content": "hi"}],
            metadata={"user_id": "u-1"},
            # This SDK release no longer takes temperature as an argument; apps still send it.
            extra_body={"temperature": 0.3, "top_k": 20},
        )
        # Sonnet 4.6 takes a temperature: the client's bytes go as they are.
        await client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=1000,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"temperature": 0.3},
        )
    assert not upstream.rejections, upstream.rejections
    first, second = (request.json for request in upstream.requests)
    assert "temperature" not in first and "top_k" not in first
    assert first["metadata"] == {"user_id": "u-1"} and first["max_tokens"] == 1000
    assert second["temperature"] == 0.3
    assert [block.type for block in reply.content] == ["thinking", "text"]


@pytest.mark.parametrize("restored", [False, True])
async def test_a_thinking_budget_for_opus_4_7_goes_as_adaptive_thinking(
    restored: bool, upstream: ScriptedServer, store_url: str
) -> None:
    # llm (llm-anthropic) asks every Claude model for a budget; Opus 4.7 refuses one with a 400. Both
    # ways a same-format request goes (bytes passed through, or re-encoded with thinking restored).
    upstream.validators.append(StrictThinkingSetting())
    thought = thinking("Look at a first.", "sig-a")
    upstream.enqueue(Step.json(anthropic_message([thought, tool_use("toolu_01Ab9XyZ", "read", {"p": "a"})])))
    upstream.enqueue(Step.json(_reply()))
    budget: Any = {"type": "enabled", "budget_tokens": 6000}
    async with (
        GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway,
        anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="k", max_retries=0) as client,
    ):
        messages: list[Any] = [{"role": "user", "content": "Read a."}]
        first = await client.messages.create(
            model="claude-opus-4-7", max_tokens=8000, messages=messages, thinking=budget
        )
        # The app keeps its thinking, or drops it (then the gateway restores it).
        kept = [b.model_dump() for b in first.content if restored is False or b.type != "thinking"]
        messages += [
            {"role": "assistant", "content": kept},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_01Ab9XyZ", "content": "A"}],
            },
        ]
        await client.messages.create(
            model="claude-opus-4-7", max_tokens=8000, messages=messages, thinking=budget
        )
    assert not upstream.rejections, upstream.rejections
    for request in upstream.requests:
        assert request.json["thinking"] == {"type": "adaptive", "display": "summarized"}
        assert request.json["output_config"] == {"effort": "medium"}
    assert upstream.requests[1].json["messages"][1]["content"][0]["thinking"] == "Look at a first."
