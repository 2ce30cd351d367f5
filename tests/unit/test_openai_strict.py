"""Requests from another format fitted to what OpenAI's own API takes (interleaf.backends.openai_strict).

Each encoded body is also put to the strict validator of tests/support/strict.py, which holds OpenAI's
refusals independently of interleaf's code.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from interleaf.backends.adapter import Backend
from interleaf.backends.effort import effort_word
from interleaf.backends.openai_strict import reasons
from interleaf.backends.profiles import get_profile
from interleaf.transcript import Conversation, Message, Text
from interleaf.wire import anthropic
from interleaf.wire.errors import Losses
from interleaf.wire.openai_chat import decode_request as decode_chat
from tests.support.scripted_server import RecordedRequest, api_for_path
from tests.support.strict import StrictOpenAIParams

# What Claude Code sends with every request (beside messages, system and tools).
CLAUDE_CODE_SETTINGS: dict[str, Any] = {
    "max_tokens": 32000,
    "metadata": {"user_id": "user_5f2c_account__session_9e1d"},
    "thinking": {"type": "adaptive"},
    "output_config": {"effort": "medium"},
    "stream": True,
}


def _anthropic(model: str, **settings: Any) -> Conversation:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **settings}
    return anthropic.decode_request(body)


def _encode(profile: str, conversation: Conversation) -> tuple[dict[str, Any], list[str]]:
    losses = Losses()
    body = Backend(get_profile(profile)).encode(
        conversation, stream=True, replay="profile", defaults="required", losses=losses
    )
    return body, list(losses)


def _refusal(body: dict[str, Any], path: str = "/v1/chat/completions") -> str | None:
    raw = json.dumps(body).encode()
    return StrictOpenAIParams()(RecordedRequest("POST", path, {}, raw, body, api_for_path(path)))


@pytest.mark.parametrize(
    ("model", "reasoning"),
    [
        ("gpt-5", True),
        ("gpt-5.4-mini", True),
        ("o3", True),
        ("o4-mini-2025-04-16", True),
        ("gpt-oss-120b", True),
        ("openai/gpt-5", True),
        ("ft:o4-mini:acme::abc123", True),
        ("codex-mini-latest", True),
        ("gpt-5-chat-latest", False),  # ChatGPT's non-reasoning model
        ("gpt-4.1", False),
        ("gpt-4o-mini", False),
        ("omni-moderation-latest", False),
        ("", False),
    ],
)
def test_reasoning_models_are_told_apart_by_name(model: str, reasoning: bool) -> None:
    assert reasons(model) is reasoning


@pytest.mark.parametrize(
    ("thinking", "output_config", "effort"),
    [
        ({"type": "adaptive"}, {"effort": "low"}, "low"),
        ({"type": "adaptive"}, {"effort": "medium"}, "medium"),
        ({"type": "adaptive"}, {"effort": "high"}, "high"),
        ({"type": "adaptive"}, {"effort": "max"}, "high"),  # the most every reasoning model takes
        ({"type": "adaptive"}, {"effort": "xhigh"}, "high"),
        ({"type": "adaptive"}, None, None),  # the model's default
        ({"type": "enabled", "budget_tokens": 1024}, None, "low"),
        ({"type": "enabled", "budget_tokens": 2048}, None, "low"),
        ({"type": "enabled", "budget_tokens": 8192}, None, "medium"),
        ({"type": "enabled", "budget_tokens": 31999}, None, "high"),
        ({"type": "disabled"}, {"effort": "high"}, None),
        (None, {"effort": "high"}, None),
    ],
)
def test_anthropic_thinking_settings_as_an_effort_word(
    thinking: Any, output_config: Any, effort: str | None
) -> None:
    assert effort_word(thinking, output_config) == effort


def test_claude_codes_request_to_a_reasoning_model_is_one_openai_takes() -> None:
    body, losses = _encode("openai", _anthropic("gpt-5", **CLAUDE_CODE_SETTINGS))
    assert _refusal(body) is None
    assert body["reasoning_effort"] == "medium"
    assert body["max_completion_tokens"] == 32000
    assert not {"thinking", "metadata", "max_tokens", "output_config"} & set(body)
    assert any(loss.startswith("metadata:") for loss in losses)


def test_the_same_request_without_fitting_is_refused_as_openai_refuses_it() -> None:
    # The control: the validator really refuses what a lenient profile sends (the encoding before this
    # module existed).
    lenient = Backend(get_profile("openai").with_overrides(openai_strict=False))
    body = lenient.encode(
        _anthropic("gpt-5", **CLAUDE_CODE_SETTINGS), stream=True, replay="profile", defaults="required"
    )
    assert _refusal(body) == "Unrecognized request argument supplied: thinking"
    del body["thinking"]
    assert _refusal(body) == "The 'metadata' parameter is only allowed when 'store' is enabled."
    del body["metadata"]
    assert _refusal(body) is not None and "max_completion_tokens" in str(_refusal(body))


def test_sampling_a_reasoning_model_refuses_is_left_out_and_recorded() -> None:
    conversation = _anthropic(
        "o3", max_tokens=1000, temperature=0.2, top_p=0.9, top_k=40, stop_sequences=["END"]
    )
    body, losses = _encode("openai", conversation)
    assert _refusal(body) is None
    assert not {"temperature", "top_p", "top_k", "stop"} & set(body)
    assert {loss.split(":")[0] for loss in losses} >= {"temperature", "top_p", "top_k", "stop"}


def test_temperature_one_stays_on_a_reasoning_model() -> None:
    body, _ = _encode("openai", _anthropic("gpt-5", max_tokens=1000, temperature=1))
    assert body["temperature"] == 1 and _refusal(body) is None


def test_a_model_that_does_not_reason_gets_sampling_but_no_effort() -> None:
    conversation = _anthropic("gpt-4.1", **{**CLAUDE_CODE_SETTINGS, "temperature": 0.2, "top_p": 0.9})
    body, losses = _encode("openai", conversation)
    assert _refusal(body) is None
    assert "reasoning_effort" not in body and body["temperature"] == 0.2 and body["top_p"] == 0.9
    assert any("not one of OpenAI's reasoning models" in loss for loss in losses)


def test_the_agents_effort_on_a_model_that_does_not_reason_is_left_out() -> None:
    # interleaf run -p openai -m gpt-4.1 in lightning mode asks for reasoning_effort low.
    conversation = Conversation(
        messages=(Message(role="user", blocks=(Text(text="hi"),)),),
        params={"model": "gpt-4.1", "reasoning_effort": "low", "max_tokens": 500},
    )
    body, losses = _encode("openai", conversation)
    assert _refusal(body) is None and "reasoning_effort" not in body
    assert body["max_completion_tokens"] == 500
    assert losses == [
        "reasoning_effort: left out: gpt-4.1 is not one of OpenAI's reasoning models, which alone take it"
    ]


def test_a_chat_apps_own_request_goes_as_the_app_wrote_it() -> None:
    # Same format as the server: what the app sends is the app's, as it would be without the gateway.
    conversation = decode_chat(
        {
            "model": "gpt-5",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 100,
            "metadata": {"k": "v"},
            "store": True,
        }
    )
    body, losses = _encode("openai", conversation)
    assert body["max_tokens"] == 100 and body["metadata"] == {"k": "v"} and not losses


def test_claude_codes_request_to_the_responses_api_is_one_openai_takes() -> None:
    body, _ = _encode("openai-responses", _anthropic("gpt-5", **CLAUDE_CODE_SETTINGS))
    assert _refusal(body, "/v1/responses") is None
    # The effort, and a summary of the reasoning for the app to show (backends/reasoning_summary.py).
    assert body["reasoning"] == {"effort": "medium", "summary": "auto"}
    assert body["metadata"] == CLAUDE_CODE_SETTINGS["metadata"]  # Responses takes metadata as it is
    body, _ = _encode("openai-responses", _anthropic("gpt-4.1", **CLAUDE_CODE_SETTINGS))
    assert _refusal(body, "/v1/responses") is None and "reasoning" not in body


def test_lenient_servers_still_get_the_chat_thinking_convention() -> None:
    body, _ = _encode("deepseek", _anthropic("deepseek-chat", **CLAUDE_CODE_SETTINGS))
    assert body["thinking"] == {"type": "enabled"} and body["max_tokens"] == 32000
    assert "reasoning_effort" not in body  # DeepSeek is not known to read it


@pytest.mark.parametrize("profile", ["vllm", "sglang", "ollama"])
def test_servers_that_read_an_effort_get_an_anthropic_apps_effort_too(profile: str) -> None:
    # gpt-oss on a self-hosted server has effort levels: Claude Code's effort reaches them.
    body, _ = _encode(profile, _anthropic("openai/gpt-oss-120b", **CLAUDE_CODE_SETTINGS))
    assert body["reasoning_effort"] == "medium" and body["thinking"] == {"type": "enabled"}
    budget = {**CLAUDE_CODE_SETTINGS, "thinking": {"type": "enabled", "budget_tokens": 2000}}
    del budget["output_config"]
    assert _encode(profile, _anthropic("gpt-oss-20b", **budget))[0]["reasoning_effort"] == "low"
    off = {**CLAUDE_CODE_SETTINGS, "thinking": {"type": "disabled"}}
    assert "reasoning_effort" not in _encode(profile, _anthropic("gpt-oss-20b", **off))[0]
    # A Chat app's own request is its own: no effort added.
    chat = decode_chat({"model": "gpt-oss-20b", "messages": [{"role": "user", "content": "hi"}]})
    assert "reasoning_effort" not in _encode(profile, chat)[0]
