"""An Anthropic app (Claude Code's request settings) through the gateway to OpenAI's own API.

The official ``anthropic`` SDK sends what Claude Code sends with every request (adaptive thinking with
an effort, ``metadata.user_id``, ``max_tokens``) through ``interleaf serve -p openai`` (or
``openai-responses``) to a scripted upstream that refuses settings as OpenAI's API does
(tests/support/strict.py, ``StrictOpenAIParams``). Before the gateway fitted translated requests to it
(interleaf.backends.openai_strict), every such request was a 400.
"""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from interleaf.gateway.config import ModelMap
from tests.support.gateway_server import GatewayServer, gateway_options
from tests.support.payloads import openai_chunks, openai_completion, tool_call
from tests.support.scripted_server import ScriptedServer, Step
from tests.support.strict import StrictOpenAIParams

pytestmark = pytest.mark.timeout(60)

TOOLS: list[Any] = [
    {
        "name": "read_file",
        "description": "Read a file.",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    }
]
SETTINGS: dict[str, Any] = {
    "max_tokens": 32000,
    "metadata": {"user_id": "user_5f2c_account__session_9e1d"},
    "thinking": {"type": "adaptive"},
    "extra_body": {"output_config": {"effort": "high"}},
    "tools": TOOLS,
}


@pytest.mark.parametrize("upstream_model", ["gpt-5", "gpt-4.1"])
async def test_claude_code_settings_reach_openai_chat_as_settings_it_takes(
    upstream_model: str, upstream: ScriptedServer, store_url: str
) -> None:
    upstream.validators.append(StrictOpenAIParams())
    calling = openai_completion(
        tool_calls=[tool_call("call_k3J9x2Lq7Vb1", "read_file", {"path": "a.txt"})],
        finish_reason="tool_calls",
    )
    upstream.enqueue(Step.sse(openai_chunks(calling)))
    upstream.enqueue(Step.json(openai_completion(content="a.txt says hello.")))
    options = gateway_options(
        "openai", upstream.base_url, store_url, model_map=ModelMap.parse([f"*={upstream_model}"])
    )
    async with (
        GatewayServer(options) as gateway,
        anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="k", max_retries=0) as client,
    ):
        messages: list[Any] = [{"role": "user", "content": "What does a.txt say?"}]
        async with client.messages.stream(model="claude-sonnet-4-6", messages=messages, **SETTINGS) as stream:
            first = await stream.get_final_message()
        call = first.content[0]
        assert call.type == "tool_use"
        messages += [
            {"role": "assistant", "content": [block.model_dump() for block in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "hello"}],
            },
        ]
        # A timeout of its own: the SDK otherwise refuses a non-streamed request this large.
        second = await client.messages.create(
            model="claude-sonnet-4-6", messages=messages, timeout=30, **SETTINGS
        )
    assert not upstream.rejections, upstream.rejections
    assert [block.type for block in second.content] == ["text"]
    for request in upstream.requests:
        body = request.json
        assert body["model"] == upstream_model and body["max_completion_tokens"] == 32000
        assert body.get("reasoning_effort") == ("high" if upstream_model == "gpt-5" else None)


async def test_claude_code_settings_reach_the_responses_api_as_settings_it_takes(
    upstream: ScriptedServer, store_url: str
) -> None:
    upstream.validators.append(StrictOpenAIParams())
    upstream.enqueue(
        Step.json(
            {
                "id": "resp_0a1b2c",
                "object": "response",
                "status": "completed",
                "model": "gpt-5",
                "output": [
                    {
                        "type": "message",
                        "id": "msg_0a1b2c",
                        "role": "assistant",
                        "status": "completed",
                        "content": [{"type": "output_text", "text": "Hello!", "annotations": []}],
                    }
                ],
                "usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7},
            }
        )
    )
    options = gateway_options(
        "openai-responses", upstream.base_url, store_url, model_map=ModelMap.parse(["*=gpt-5"])
    )
    async with (
        GatewayServer(options) as gateway,
        anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="k", max_retries=0) as client,
    ):
        reply = await client.messages.create(
            model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}], timeout=30, **SETTINGS
        )
    assert not upstream.rejections, upstream.rejections
    assert reply.content[0].type == "text" and reply.content[0].text == "Hello!"
    # The effort, and a summary of the reasoning for the app to show (tests/integration/test_reasoning_summary.py).
    assert upstream.requests[0].json["reasoning"] == {"effort": "high", "summary": "auto"}
