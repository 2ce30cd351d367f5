"""One adapter per backend profile: the agent's model client and the gateway make the same decisions.

A server quirk taught once to the profile's :class:`~interleaf.backends.adapter.Backend` reaches both:
here MiniMax's error inside an HTTP 200 (``base_resp``), which the agent raises as the HTTP error it
stands for and the gateway answers in the client's own format with that status, whole or when the
upstream ignored ``"stream": true``; and the request each side builds from the same conversation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from interleaf.backends.adapter import Backend
from interleaf.backends.client import ModelClient
from interleaf.backends.errors import BackendHTTPError
from interleaf.backends.profiles import get_profile
from interleaf.transcript import Conversation, Message, ReasoningDialect, Text, Thinking, ToolCall, ToolResult
from interleaf.wire.errors import Losses
from tests.support.gateway_server import GatewayServer, gateway_options
from tests.support.scripted_server import ScriptedServer, Step

pytestmark = pytest.mark.timeout(60)

LOGIN_FAIL = {"base_resp": {"status_code": 1004, "status_msg": "login fail: check the API key"}}


async def test_agent_client_raises_minimax_error_inside_a_200_as_401(scripted_server: ScriptedServer) -> None:
    scripted_server.enqueue(Step.json(LOGIN_FAIL))
    profile = get_profile("minimax-openai", base_url=scripted_server.url("/v1"))
    conversation = Conversation(messages=(Message(role="user", blocks=(Text(text="hi"),)),))
    async with ModelClient(profile, api_key="k") as client:
        with pytest.raises(BackendHTTPError) as caught:
            await client.complete(conversation)
    assert (caught.value.status, caught.value.error_type) == (401, "minimax_1004")
    assert "check the API key" in str(caught.value)


async def _ask(chat: openai.AsyncOpenAI, *, stream: bool) -> None:
    messages: Any = [{"role": "user", "content": "hi"}]
    if not stream:
        await chat.chat.completions.create(model="MiniMax-M2.7", messages=messages)
        return
    async for _ in await chat.chat.completions.create(model="MiniMax-M2.7", messages=messages, stream=True):
        pass


@pytest.mark.parametrize("stream", [False, True])
async def test_gateway_answers_minimax_error_inside_a_200_in_the_clients_format(
    scripted_server: ScriptedServer, tmp_path: Path, stream: bool
) -> None:
    # Whole, and an upstream that answers a stream request with one JSON body (as MiniMax does for
    # errors): the OpenAI SDK raises AuthenticationError instead of failing on a reply with no choices.
    scripted_server.enqueue(Step.json(LOGIN_FAIL), Step.json(LOGIN_FAIL))
    options = gateway_options("minimax-openai", scripted_server.url("/v1"), f"sqlite:///{tmp_path}/t.db")
    async with (
        GatewayServer(options) as gateway,
        openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="k", max_retries=0) as chat,
        anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="k", max_retries=0) as claude,
    ):
        with pytest.raises(openai.AuthenticationError) as chat_error:
            await _ask(chat, stream=stream)
        with pytest.raises(anthropic.AuthenticationError) as claude_error:
            await claude.messages.create(
                model="MiniMax-M2.7", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
            )
    assert "check the API key" in str(chat_error.value)
    assert "check the API key" in str(claude_error.value)


def _history() -> Conversation:
    """An OpenAI Chat conversation as the agent records it: thinking that arrived inline in <think>."""
    call = ToolCall(id="call_1", name="read", arguments={"path": "a.txt"})
    return Conversation(
        messages=(
            Message(role="user", blocks=(Text(text="read a.txt"),)),
            Message(
                role="assistant",
                blocks=(Thinking(text="I should read it.", dialect=ReasoningDialect.THINK_TAGS), call),
            ),
            Message(role="tool", blocks=(ToolResult(call_id="call_1", content="A"),)),
        ),
        source="openai-chat",
        params={"model": "m"},
    )


def test_agent_replays_as_arrived_gateway_as_the_profile_says() -> None:
    backend = Backend(get_profile("vllm"))
    agent = backend.encode(_history(), stream=True, replay="as-arrived", defaults="recommended")
    gateway = backend.encode(_history(), stream=True, replay="profile", defaults="required")
    agent_turn: dict[str, Any] = agent["messages"][1]
    gateway_turn: dict[str, Any] = gateway["messages"][1]
    # The agent's history is the server's own output: inline, where the model wrote it.
    assert agent_turn["content"].startswith("<think>I should read it.</think>")
    assert "reasoning" not in agent_turn
    # The gateway's history is a client app's: the profile's dialect (vLLM reads `reasoning`).
    assert gateway_turn["reasoning"] == "I should read it."
    # Usage in the stream: the agent always asks; the gateway leaves an OpenAI Chat app's request alone.
    assert agent["stream_options"] == {"include_usage": True}
    assert "stream_options" not in gateway


def test_a_signature_checking_server_never_gets_another_apis_unsigned_thinking() -> None:
    """A DeepSeek session resumed on Claude: its reasoning_content has no signature, and Anthropic
    refuses a thinking block without one; signed blocks, and unsigned ones in Anthropic's own format
    (the client's business), go as they are."""
    call = ToolCall(id="toolu_01", name="shell", arguments={"command": "ls"})
    foreign = Thinking(text="DeepSeek thought this.", dialect=ReasoningDialect.REASONING_CONTENT)
    signed = Thinking(text="Claude thought this.", signature="c2lnbmVk", dialect=ReasoningDialect.ANTHROPIC)
    conversation = Conversation(
        messages=(
            Message(role="user", blocks=(Text(text="list the files"),)),
            Message(role="assistant", blocks=(foreign, call)),
            Message(role="tool", blocks=(ToolResult(call_id="toolu_01", content="a.txt"),)),
            Message(role="assistant", blocks=(signed, Text(text="One file."))),
            Message(role="user", blocks=(Text(text="and now?"),)),
        ),
        params={"model": "claude-sonnet-4-6"},
    )
    losses = Losses()
    body = Backend(get_profile("anthropic")).encode(
        conversation, stream=False, replay="profile", defaults="required", losses=losses
    )
    assert [b["type"] for b in body["messages"][1]["content"]] == ["tool_use"]
    assert body["messages"][3]["content"][0] == {
        "type": "thinking",
        "thinking": "Claude thought this.",
        "signature": "c2lnbmVk",
    }
    assert [item.split(":")[0] for item in losses] == ["messages[1]"]
    # MiniMax's Anthropic API does not check signatures: another model's thinking still goes there.
    lenient = Backend(get_profile("minimax")).encode(
        conversation, stream=False, replay="profile", defaults="required"
    )
    assert lenient["messages"][1]["content"][0]["type"] == "thinking"


async def test_an_explicit_thinking_dialect_decides_for_every_block() -> None:
    # `interleaf run --thinking-dialect reasoning`: the user knows this vLLM reads only `reasoning`,
    # though its thinking arrived inline; the client then places every block the profile's way.
    profile = get_profile("vllm").with_overrides(thinking_dialect=ReasoningDialect.REASONING)
    async with ModelClient(profile, replay="profile") as client:
        body = await client.build_request(_history(), stream=False)
    assert body["messages"][1]["reasoning"] == "I should read it."
    assert "<think>" not in (body["messages"][1].get("content") or "")
