"""Reasoning summaries from OpenAI's Responses API, through the gateway and for the agent.

The upstream is a scripted model that behaves as OpenAI's Responses API does for a reasoning model
(interleaf.backends.reasoning_summary): it writes a summary of its reasoning only when asked
(``reasoning.summary``), and an organization OpenAI has not verified gets a 400 for asking, with
OpenAI's error (``param: "reasoning.summary"``). Its replies are the recorded GPT-5.2 reply of
tests/fixtures/responses, with the summary taken out when none was asked for.

Before interleaf asked, an Anthropic app on gpt-5 through ``interleaf serve -p openai-responses``
showed no thinking at all, and the agent recorded none.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from interleaf.backends.adapter import Backend
from interleaf.backends.client import ModelClient
from interleaf.backends.errors import BackendHTTPError
from interleaf.backends.profiles import get_profile
from interleaf.gateway.config import ModelMap
from interleaf.transcript import Conversation, Message, Text, Thinking
from interleaf.wire.anthropic import decode_request as decode_anthropic
from tests.support.gateway_server import GatewayServer, gateway_options
from tests.support.scripted_server import RecordedRequest, ScriptedServer, Step

pytestmark = pytest.mark.timeout(60)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "responses"
SUMMARY_REPLY: dict[str, Any] = json.loads((FIXTURES / "reply_summary.json").read_text())
SUMMARY_EVENTS: list[dict[str, Any]] = [
    json.loads(line[len("data: ") :])
    for line in (FIXTURES / "reply_summary.sse").read_text().splitlines()
    if line.startswith("data: ")
]
SUMMARY_TEXT = "\n\n".join(part["text"] for part in SUMMARY_REPLY["output"][0]["summary"])

# OpenAI's answer to a summary request from an organization it has not verified (as quoted in
# continuedev/continue#9854 and OpenHands/software-agent-sdk#987).
UNVERIFIED = {
    "error": {
        "message": (
            "Your organization must be verified to generate reasoning summaries. Please go to: "
            "https://platform.openai.com/settings/organization/general and click on Verify Organization. "
            "If you just verified, it can take up to 15 minutes for access to propagate."
        ),
        "type": "invalid_request_error",
        "param": "reasoning.summary",
        "code": "unsupported_value",
    }
}


def _unsummarized(value: Any) -> Any:
    """``value`` (a reply, an item or an event) with every reasoning summary emptied."""
    if isinstance(value, dict):
        out = {key: _unsummarized(item) for key, item in value.items()}
        if out.get("type") == "reasoning":
            out["summary"] = []
        return out
    if isinstance(value, list):
        return [_unsummarized(item) for item in value]
    return value


class OpenAIReasoningModel:
    """A responder: a summary only when asked; ``verified`` False refuses the asking, as OpenAI does.
    Records which API keys asked."""

    def __init__(self, *, verified: bool) -> None:
        self.verified = verified
        self.asked: list[bool] = []

    def __call__(self, request: RecordedRequest) -> Step:
        body = request.json
        reasoning = body.get("reasoning") or {}
        asked = "summary" in reasoning
        self.asked.append(asked)
        if asked and not self.verified:
            return Step.json(UNVERIFIED, status=400)
        if body.get("stream"):
            events = (
                SUMMARY_EVENTS
                if asked
                else _unsummarized(
                    [e for e in SUMMARY_EVENTS if not e["type"].startswith("response.reasoning_summary")]
                )
            )
            return Step.sse(copy.deepcopy(events))
        return Step.json(copy.deepcopy(SUMMARY_REPLY if asked else _unsummarized(SUMMARY_REPLY)))


def _gateway(upstream: ScriptedServer, store_url: str) -> Any:
    options = gateway_options(
        "openai-responses", upstream.base_url, store_url, model_map=ModelMap.parse(["*=gpt-5"])
    )
    return GatewayServer(options)


async def _ask_claude(client: anthropic.AsyncAnthropic, *, stream: bool) -> list[Any]:
    """An Anthropic app's request, with thinking on (Claude Code's settings); the reply's blocks."""
    settings: Any = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 32000,
        "messages": [{"role": "user", "content": "Merge sort or quicksort for a linked list?"}],
        "thinking": {"type": "adaptive"},
        "extra_body": {"output_config": {"effort": "high"}},
    }
    if stream:
        async with client.messages.stream(**settings) as events:
            return list((await events.get_final_message()).content)
    return list((await client.messages.create(timeout=30, **settings)).content)


@pytest.mark.parametrize("stream", [False, True])
async def test_an_anthropic_app_on_gpt5_sees_the_reasoning_summary_as_thinking(
    upstream: ScriptedServer, store_url: str, stream: bool
) -> None:
    model = OpenAIReasoningModel(verified=True)
    upstream.responder = model
    async with (
        _gateway(upstream, store_url) as gateway,
        anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="k", max_retries=0) as client,
    ):
        blocks = await _ask_claude(client, stream=stream)
    assert upstream.requests[0].json["reasoning"] == {"effort": "high", "summary": "auto"}
    assert [block.type for block in blocks] == ["thinking", "text"]
    assert blocks[0].thinking == SUMMARY_TEXT
    assert blocks[1].text.startswith("Use merge sort")


@pytest.mark.parametrize("stream", [False, True])
async def test_an_unverified_organization_is_asked_once_and_the_app_never_sees_the_refusal(
    upstream: ScriptedServer, store_url: str, stream: bool
) -> None:
    model = OpenAIReasoningModel(verified=False)
    upstream.responder = model
    async with (
        _gateway(upstream, store_url) as gateway,
        anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="key-a", max_retries=0) as first,
        anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="key-b", max_retries=0) as other,
    ):
        replies = [await _ask_claude(first, stream=stream), await _ask_claude(first, stream=stream)]
        # Another key may belong to a verified organization: it is asked for itself.
        replies.append(await _ask_claude(other, stream=stream))
    # key-a: refused, sent again without; then never asked. key-b: refused, sent again without.
    assert model.asked == [True, False, False, True, False]
    keys = [request.headers["authorization"] for request in upstream.requests]
    assert keys == ["Bearer key-a"] * 3 + ["Bearer key-b"] * 2
    for blocks in replies:
        assert [block.type for block in blocks if block.type != "thinking"] == ["text"]
        assert all(block.thinking == "" for block in blocks if block.type == "thinking")


async def test_an_apps_own_responses_request_goes_as_the_app_sent_it(
    upstream: ScriptedServer, store_url: str
) -> None:
    # Codex-style: the app asks for a summary itself. The refusal reaches it as it would directly,
    # and the gateway does not resend the app's request in another form.
    model = OpenAIReasoningModel(verified=False)
    upstream.responder = model
    async with (
        _gateway(upstream, store_url) as gateway,
        openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="k", max_retries=0) as client,
    ):
        with pytest.raises(openai.BadRequestError) as caught:
            await client.responses.create(
                model="gpt-5", input="hi", reasoning={"effort": "low", "summary": "detailed"}
            )
    assert "verified to generate reasoning summaries" in str(caught.value)
    assert model.asked == [True]


def _conversation() -> Conversation:
    return Conversation(
        messages=(Message(role="user", blocks=(Text(text="Merge sort or quicksort for a linked list?"),)),),
        params={"reasoning_effort": "high"},
    )


@pytest.mark.parametrize("stream", [False, True])
async def test_the_agent_records_the_summary_as_thinking(
    scripted_server: ScriptedServer, stream: bool
) -> None:
    model = OpenAIReasoningModel(verified=True)
    scripted_server.responder = model
    profile = get_profile("openai-responses", base_url=scripted_server.url("/v1"))
    async with ModelClient(profile, api_key="k") as client:
        reply = await client.complete(_conversation(), stream=stream)
    assert scripted_server.requests[0].json["reasoning"] == {"effort": "high", "summary": "auto"}
    thinking = [block for block in reply.message.blocks if isinstance(block, Thinking)]
    assert [block.text for block in thinking] == [SUMMARY_TEXT]


@pytest.mark.parametrize("stream", [False, True])
async def test_the_agent_on_an_unverified_organization_asks_once(
    scripted_server: ScriptedServer, stream: bool
) -> None:
    model = OpenAIReasoningModel(verified=False)
    scripted_server.responder = model
    profile = get_profile("openai-responses", base_url=scripted_server.url("/v1"))
    async with ModelClient(profile, api_key="k") as client:
        first = await client.complete(_conversation(), stream=stream)
        second = await client.complete(_conversation(), stream=stream)
    assert model.asked == [True, False, False]
    for reply in (first, second):
        texts = [block.text for block in reply.message.blocks if isinstance(block, Text)]
        assert len(texts) == 1 and texts[0].startswith("Use merge sort")


async def test_the_agent_passes_on_any_other_400(scripted_server: ScriptedServer) -> None:
    # Not every 400 is the summary refusal: one about another field is the caller's, sent once.
    scripted_server.enqueue(
        Step.json(
            {"error": {"message": "Invalid value: 'x'.", "type": "invalid_request_error", "param": "input"}},
            status=400,
        )
    )
    profile = get_profile("openai-responses", base_url=scripted_server.url("/v1"))
    async with ModelClient(profile, api_key="k") as client:
        with pytest.raises(BackendHTTPError) as caught:
            await client.complete(_conversation())
    assert caught.value.status == 400 and len(scripted_server.requests) == 1


def test_the_profile_says_which_summary_and_whether_to_ask() -> None:
    settings = {"model": "gpt-5", "reasoning_effort": "high"}
    conversation = replace(_conversation(), params=settings)
    for setting, expected in (("auto", "auto"), ("detailed", "detailed"), (None, None)):
        profile = get_profile("openai-responses").with_overrides(reasoning_summary=setting)
        body = Backend(profile).encode(conversation, stream=False, replay="profile", defaults="required")
        assert body["reasoning"].get("summary") == expected
    # An app's own Responses request is the app's: nothing is added to it.
    own = replace(conversation, source="responses")
    body = Backend(get_profile("openai-responses")).encode(
        own, stream=False, replay="profile", defaults="required"
    )
    assert body["reasoning"] == {"effort": "high"}
    # Not asked of a key whose organization was refused; asked of any other.
    backend = Backend(get_profile("openai-responses"))
    backend.summary_refusals.remember("Bearer key-a")
    for key, expected in (("Bearer key-a", None), ("Bearer key-b", "auto")):
        body = backend.encode(
            conversation, stream=False, replay="profile", defaults="required", credential=key
        )
        assert body["reasoning"].get("summary") == expected


async def test_a_chat_app_on_gpt5_gets_the_summary_as_its_reasoning(
    upstream: ScriptedServer, store_url: str
) -> None:
    # OpenCode, Qwen Code, aider: an OpenAI Chat app with an effort, on a Responses-only model.
    upstream.responder = OpenAIReasoningModel(verified=True)
    async with (
        _gateway(upstream, store_url) as gateway,
        openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="k", max_retries=0) as client,
    ):
        reply = await client.chat.completions.create(
            model="gpt-5",
            messages=[{"role": "user", "content": "Merge sort or quicksort for a linked list?"}],
            reasoning_effort="high",
        )
    assert upstream.requests[0].json["reasoning"] == {"effort": "high", "summary": "auto"}
    message = reply.choices[0].message
    assert (message.model_extra or {}).get("reasoning_content") == SUMMARY_TEXT
    assert (message.content or "").startswith("Use merge sort")


def test_an_anthropic_apps_thinking_without_an_effort_still_asks_for_a_summary() -> None:
    # Adaptive thinking alone names no effort: gpt-5 reasons at its default, and only a summary says so.
    backend = Backend(get_profile("openai-responses"))

    def sent(model: str, thinking: dict[str, Any]) -> dict[str, Any]:
        request = {
            "model": model,
            "max_tokens": 1024,
            "thinking": thinking,
            "messages": [{"role": "user", "content": "hi"}],
        }
        conversation = decode_anthropic(request)
        return backend.encode(conversation, stream=False, replay="profile", defaults="required")

    assert sent("gpt-5", {"type": "adaptive"})["reasoning"] == {"summary": "auto"}
    assert "reasoning" not in sent("gpt-5", {"type": "disabled"})
    assert "reasoning" not in sent(
        "gpt-4.1", {"type": "adaptive"}
    )  # not a reasoning model: nothing to sum up
