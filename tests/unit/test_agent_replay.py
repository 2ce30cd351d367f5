"""Where the agent's model client sends each earlier thinking block back, block by block.

A block that arrived from this server (the conversation's messages came from OpenAI Chat, as the
agent's do) goes back in its arrival dialect; a block without one for this server (recorded on another
backend, or from another API) goes where the profile says, and is left out, with the loss recorded,
when the profile takes no reasoning back. A hand-built conversation says nothing about where its
blocks came from, so the profile decides for all of them. The bodies are built, not sent.
"""

from __future__ import annotations

from typing import Any

import pytest

from interleaf.backends.client import ModelClient
from interleaf.transcript import (
    Conversation,
    Message,
    ReasoningDialect,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
)

R = ReasoningDialect


def turn(n: int, *thinking: Thinking) -> list[Message]:
    call = ToolCall(id=f"call_{n}", name="ls", arguments={}, raw_arguments="{}")
    return [
        Message(role="assistant", blocks=(*thinking, Text(text=f"step {n}"), call), plain=True),
        Message(role="tool", blocks=(ToolResult(call_id=f"call_{n}", content="a"),)),
    ]


def conversation(*turns: list[Message], source: str | None = "openai-chat") -> Conversation:
    messages = [Message(role="user", blocks=(Text(text="go"),))]
    for t in turns:
        messages += t
    return Conversation(messages=tuple(messages), params={"model": "m"}, source=source)


async def body(profile: str, conv: Conversation) -> tuple[list[dict[str, Any]], list[str]]:
    async with ModelClient(profile, base_url="http://127.0.0.1:9/v1", api_key="k") as client:
        built = await client.build_request(conv, stream=False)
        return [m for m in built["messages"] if m["role"] == "assistant"], list(client.losses)


async def test_each_block_goes_back_as_it_arrived_and_the_rest_as_the_profile_says() -> None:
    here = turn(1, Thinking(text="inline", dialect=R.THINK_TAGS))
    elsewhere = turn(2, Thinking(text="from another backend"))  # no arrival dialect (agent.session)
    other_api = turn(3, Thinking(text="from Anthropic", dialect=R.ANTHROPIC))
    sent, _ = await body("vllm", conversation(here, elsewhere, other_api))
    assert sent[0]["content"] == "<think>inline</think>step 1"
    assert "reasoning" not in sent[0]
    assert (sent[1]["reasoning"], sent[1]["content"]) == ("from another backend", "step 2")
    assert (sent[2]["reasoning"], sent[2]["content"]) == ("from Anthropic", "step 3")


@pytest.mark.parametrize("dialect", [R.REASONING_CONTENT, R.REASONING, R.THINK_TAGS])
async def test_a_profile_that_takes_no_reasoning_back_still_gets_what_its_server_sent(
    dialect: ReasoningDialect,
) -> None:
    arrived = turn(1, Thinking(text="came from this server", dialect=dialect))
    foreign = turn(2, Thinking(text="came from elsewhere", dialect=R.ANTHROPIC, signature="sig"))
    sent, losses = await body("openai", conversation(arrived, foreign))
    carried = sent[0]["content"] if dialect is R.THINK_TAGS else sent[0][dialect.value]
    assert "came from this server" in carried
    assert "came from elsewhere" not in str(sent[1])
    assert losses == ["messages[3].blocks[0]: thinking not sent: the openai API takes no reasoning back"]


async def test_a_hand_built_conversation_goes_back_wholly_the_profiles_way() -> None:
    blocks = turn(1, Thinking(text="inline?", dialect=R.THINK_TAGS))
    sent, _ = await body("deepseek", conversation(blocks, source=None))
    assert (sent[0]["reasoning_content"], sent[0]["content"]) == ("inline?", "step 1")
