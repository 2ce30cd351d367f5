"""reasoning_effort as the ``thinking`` each Anthropic-API model takes (interleaf.backends.effort)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from interleaf.backends.adapter import Backend
from interleaf.backends.effort import (
    AnthropicThinking,
    adaptive_for_budget,
    anthropic_thinking,
    refuses_sampling,
    takes_adaptive,
    thinking_conflict,
)
from interleaf.backends.profiles import get_profile
from interleaf.transcript import (
    Conversation,
    Message,
    ReasoningDialect,
    Text,
    Thinking,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from interleaf.wire.errors import Losses


@pytest.mark.parametrize(
    ("model", "adaptive"),
    [
        ("claude-opus-4-7", True),
        ("claude-sonnet-4-6", True),
        ("claude-opus-5", True),
        ("claude-fable-5-1", True),
        ("claude-mythos-preview", True),
        ("anthropic.claude-opus-4-6-v1", True),  # Bedrock
        ("claude-opus-4-7@20260416", True),  # Vertex
        ("Claude-Opus-4-7", True),
        ("claude-sonnet-4-5-20250929", False),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", False),
        ("claude-sonnet-4-20250514", False),  # a date, not version 4.20
        ("claude-opus-4-1", False),
        ("claude-haiku-4-5", False),
        ("claude-3-7-sonnet-20250219", False),
        ("claude-3-5-haiku-latest", False),
        ("MiniMax-M3", True),
        ("MiniMax-M2.7", None),  # thinks always: nothing is sent
        ("minimax-m2.5-highspeed", None),
        ("deepseek-chat", False),  # another vendor's Anthropic-compatible API: the budget form
        ("kimi-k2-thinking", False),
    ],
)
def test_each_model_gets_the_form_it_takes(model: str, adaptive: bool | None) -> None:
    assert takes_adaptive(model) is adaptive


def test_adaptive_models_get_an_effort_and_budget_models_a_budget() -> None:
    # Opus 4.7 on return the thinking text only when asked: display summarized.
    assert anthropic_thinking("claude-opus-4-7", "medium") == AnthropicThinking(
        {"type": "adaptive", "display": "summarized"}, {"effort": "medium"}
    )
    # Anthropic's "max" is not on every adaptive model: xhigh and max ask for the most they all take.
    for most in ("xhigh", "max"):
        assert anthropic_thinking("claude-opus-5", most) == AnthropicThinking(
            {"type": "adaptive", "display": "summarized"}, {"effort": "high"}
        )
        assert anthropic_thinking("claude-sonnet-4-5", most) == AnthropicThinking(
            {"type": "enabled", "budget_tokens": 32000}
        )
    assert anthropic_thinking("claude-sonnet-4-6", "minimal") == AnthropicThinking(
        {"type": "adaptive"}, {"effort": "low"}
    )
    # MiniMax documents no effort for M3.
    assert anthropic_thinking("MiniMax-M3", "low") == AnthropicThinking({"type": "adaptive"})
    assert anthropic_thinking("claude-sonnet-4-5", "low") == AnthropicThinking(
        {"type": "enabled", "budget_tokens": 2048}
    )
    assert anthropic_thinking("claude-sonnet-4-5", "high") == AnthropicThinking(
        {"type": "enabled", "budget_tokens": 16000}
    )


def test_a_budget_stays_below_max_tokens_but_never_below_the_minimum() -> None:
    assert anthropic_thinking("claude-sonnet-4-5", "high", max_tokens=4096) == AnthropicThinking(
        {"type": "enabled", "budget_tokens": 4095}
    )
    assert anthropic_thinking("claude-sonnet-4-5", "high", max_tokens=500) == AnthropicThinking(
        {"type": "enabled", "budget_tokens": 1024}
    )


@pytest.mark.parametrize("effort", ["none", "extreme", ""])
def test_no_thinking_for_none_or_an_unknown_effort(effort: str) -> None:
    assert anthropic_thinking("claude-opus-4-7", effort) is None
    assert anthropic_thinking("claude-sonnet-4-5", effort) is None


def test_nothing_for_a_model_that_thinks_unasked() -> None:
    assert anthropic_thinking("MiniMax-M2.7", "high") is None


@pytest.mark.parametrize(
    ("params", "choice", "conflict"),
    [
        ({}, None, None),
        ({"temperature": 1}, ToolChoice(mode="auto"), None),
        ({"top_p": 0.95}, ToolChoice(mode="none"), None),
        ({"temperature": 0.2}, None, "temperature 0.2"),
        ({"top_k": 40}, None, "top_k"),
        ({"top_p": 0.5}, None, "top_p 0.5"),
        ({}, ToolChoice(mode="required"), "tool_choice required"),
        ({}, ToolChoice(mode="tool", name="read"), "tool_choice tool"),
    ],
)
def test_settings_that_rule_thinking_out(
    params: dict[str, object], choice: ToolChoice | None, conflict: str | None
) -> None:
    assert thinking_conflict("claude-opus-4-7", params, choice) == conflict


def test_minimax_has_none_of_claudes_rules() -> None:
    # Its recommended sampling sets top_k, which /anthropic ignores.
    assert thinking_conflict("MiniMax-M3", {"temperature": 1.0, "top_p": 0.95, "top_k": 40}, None) is None


def _chat(**params: object) -> Conversation:
    return Conversation(
        messages=(Message(role="user", blocks=(Text(text="hi"),)),), params=params, source="openai-chat"
    )


def test_the_adapter_turns_an_effort_into_thinking_for_the_model_asked() -> None:
    backend = Backend(get_profile("anthropic"))
    body = backend.encode(
        _chat(model="claude-opus-4-7", reasoning_effort="medium"),
        stream=False,
        replay="profile",
        defaults="required",
    )
    assert body["thinking"] == {"type": "adaptive", "display": "summarized"}
    assert body["output_config"] == {"effort": "medium"}
    assert "reasoning_effort" not in body
    body = backend.encode(
        _chat(model="claude-sonnet-4-5", reasoning_effort="high", max_tokens=8000),
        stream=False,
        replay="profile",
        defaults="required",
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 7999} and "output_config" not in body


def test_the_adapter_keeps_a_thinking_the_request_sets_itself() -> None:
    backend = Backend(get_profile("anthropic"))
    own = {"type": "enabled", "budget_tokens": 3000}
    body = backend.encode(
        _chat(model="claude-sonnet-4-5", reasoning_effort="high", thinking=own),
        stream=False,
        replay="profile",
        defaults="required",
    )
    assert body["thinking"] == own and "output_config" not in body


def test_the_adapter_leaves_thinking_off_where_the_request_rules_it_out_and_says_why() -> None:
    backend = Backend(get_profile("anthropic"))
    losses = Losses()
    body = backend.encode(
        _chat(model="claude-sonnet-4-6", reasoning_effort="high", temperature=0.2),
        stream=False,
        replay="profile",
        defaults="required",
        losses=losses,
    )
    assert "thinking" not in body and "output_config" not in body and body["temperature"] == 0.2
    assert list(losses) == [
        "reasoning_effort: thinking left off: this server refuses thinking with the request's temperature 0.2"
    ]


@pytest.mark.parametrize(
    ("model", "refuses"),
    [
        ("claude-opus-4-7", True),
        ("claude-opus-4-8", True),
        ("claude-fable-5", True),
        ("claude-mythos-preview", True),
        ("anthropic.claude-opus-4-7", True),  # Bedrock
        ("claude-opus-4-6", False),
        ("claude-sonnet-4-6", False),
        ("claude-sonnet-4-5-20250929", False),
        ("claude-3-7-sonnet", False),
        ("MiniMax-M3", False),
        ("deepseek-chat", False),
    ],
)
def test_the_models_that_refuse_sampling_settings(model: str, refuses: bool) -> None:
    assert refuses_sampling(model) is refuses


def test_sampling_opus_4_7_refuses_is_left_out_of_a_translated_request() -> None:
    losses = Losses()
    body = Backend(get_profile("anthropic")).encode(
        _chat(model="claude-opus-4-7", reasoning_effort="high", temperature=0.2, top_p=0.9),
        stream=False,
        replay="profile",
        defaults="required",
        losses=losses,
    )
    assert "temperature" not in body and "top_p" not in body
    assert body["thinking"]["type"] == "adaptive"  # no longer ruled out by the temperature
    assert list(losses) == [
        "temperature: left out: claude-opus-4-7 refuses sampling settings",
        "top_p: left out: claude-opus-4-7 refuses sampling settings",
    ]


def test_the_interleaved_thinking_beta_goes_only_to_models_that_need_it() -> None:
    backend = Backend(get_profile("anthropic"))
    assert (
        "interleaved-thinking-2025-05-14" in backend.headers("k", model="claude-sonnet-4-5")["anthropic-beta"]
    )
    assert "anthropic-beta" not in backend.headers("k", model="claude-opus-4-7")
    assert "anthropic-beta" in backend.headers("k")  # model unknown: the profile's headers
    # A client's own betas are its own.
    passed = {"anthropic-beta": "interleaved-thinking-2025-05-14,context-1m"}
    assert (
        backend.headers("k", passed=passed, model="claude-opus-4-7")["anthropic-beta"]
        == passed["anthropic-beta"]
    )
    # Other betas of the profile stay.
    other = get_profile("anthropic").with_overrides(
        headers={"anthropic-beta": "interleaved-thinking-2025-05-14,context-1m"}
    )
    assert Backend(other).headers("k", model="claude-opus-4-7")["anthropic-beta"] == "context-1m"


def test_an_openai_chat_backend_gets_the_effort_as_it_is() -> None:
    body = Backend(get_profile("deepseek")).encode(
        _chat(model="deepseek-reasoner", reasoning_effort="high"),
        stream=False,
        replay="profile",
        defaults="required",
    )
    assert body["reasoning_effort"] == "high" and "thinking" not in body


def _loop(*, thought: bool) -> Conversation:
    """A tool loop in progress: the user's task, a tool call (with or without its thinking), its result."""
    blocks: tuple[Thinking | ToolCall, ...] = (ToolCall(id="call_1", name="read", arguments={"path": "a"}),)
    if thought:
        blocks = (
            Thinking(text="Read a first.", signature="sig-1", dialect=ReasoningDialect.ANTHROPIC),
            *blocks,
        )
    return Conversation(
        messages=(
            Message(role="user", blocks=(Text(text="Read a."),)),
            Message(role="assistant", blocks=blocks),
            Message(role="tool", blocks=(ToolResult(call_id="call_1", content="contents of a"),)),
        ),
        params={"model": "claude-sonnet-4-5", "reasoning_effort": "high"},
        source="openai-chat",
    )


def test_a_budget_is_not_turned_on_in_the_middle_of_a_loop_that_went_without_thinking() -> None:
    # With a budget, Anthropic requires the loop's tool-call turns to start with thinking (a 400
    # otherwise): a loop whose call came back without it goes on without thinking, as before.
    backend = Backend(get_profile("anthropic"))
    losses = Losses()
    body = backend.encode(
        _loop(thought=False), stream=False, replay="profile", defaults="required", losses=losses
    )
    assert "thinking" not in body
    assert any("messages[1] of this tool loop called a tool without thinking" in loss for loss in losses)
    body = backend.encode(_loop(thought=True), stream=False, replay="profile", defaults="required")
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 16000}


def test_an_adaptive_model_may_have_skipped_thinking_on_a_turn_and_keeps_it_on() -> None:
    backend = Backend(get_profile("anthropic"))
    loop = _loop(thought=False)
    loop = replace(loop, params={**loop.params, "model": "claude-opus-4-7"})
    body = backend.encode(loop, stream=False, replay="profile", defaults="required")
    assert body["thinking"] == {"type": "adaptive", "display": "summarized"}


def test_a_budget_for_a_model_that_refuses_one_becomes_adaptive() -> None:
    assert adaptive_for_budget(
        "claude-opus-4-7", {"type": "enabled", "budget_tokens": 2000}
    ) == AnthropicThinking({"type": "adaptive", "display": "summarized"}, {"effort": "low"})
    assert adaptive_for_budget(
        "claude-opus-5", {"type": "enabled", "budget_tokens": 20000}
    ) == AnthropicThinking({"type": "adaptive", "display": "summarized"}, {"effort": "high"})
    assert adaptive_for_budget("claude-opus-4-7", {"type": "enabled"}) == AnthropicThinking(
        {"type": "adaptive", "display": "summarized"}
    )
    # Models that take a budget, settings that are not one: nothing to change.
    assert adaptive_for_budget("claude-opus-4-6", {"type": "enabled", "budget_tokens": 2000}) is None
    assert adaptive_for_budget("claude-sonnet-4-5", {"type": "enabled", "budget_tokens": 2000}) is None
    assert adaptive_for_budget("claude-opus-4-7", {"type": "adaptive"}) is None
    assert adaptive_for_budget("claude-opus-4-7", {"type": "disabled"}) is None
    assert adaptive_for_budget("MiniMax-M3", {"type": "enabled", "budget_tokens": 2000}) is None
