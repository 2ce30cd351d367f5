"""OpenAI Chat Completions codec: golden payloads, the losslessness properties, streams, cross-format.

Properties (hypothesis, strategies below): ``encode(decode(body)) == body`` for generated wire bodies with
unknown keys everywhere; ``decode(encode(t)) == t`` for canonical transcripts in every dialect; a stream
assembles to ``decode_response`` of the equivalent non-streamed body for every chunking, also as raw SSE
bytes split anywhere; malformed input raises only ``WireFormatError``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from interleaf.transcript import (
    Block,
    Conversation,
    Image,
    Message,
    Opaque,
    ReasoningDialect,
    RedactedThinking,
    Response,
    Text,
    Thinking,
    ToolCall,
    ToolChoice,
    ToolResult,
    ToolSpec,
    Usage,
    parse_arguments,
)
from interleaf.wire import anthropic, openai_chat
from interleaf.wire.errors import (
    Losses,
    StreamIncompleteError,
    StreamServerError,
    WireError,
    WireFormatError,
)
from interleaf.wire.events import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    MessageEnd,
    MessageStart,
    StreamEvent,
    UsageUpdate,
)
from interleaf.wire.openai_chat import (
    CONTENT_SHAPE,
    DETAILS_SOURCE,
    FORMAT,
    StreamAssembler,
    StreamEncoder,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    stream_payloads,
)
from interleaf.wire.stream import SSEDecoder

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openai_chat"
RD = ReasoningDialect.REASONING_DETAILS
RC = ReasoningDialect.REASONING_CONTENT
R = ReasoningDialect.REASONING
TAGS = ReasoningDialect.THINK_TAGS
OPENAI_DIALECTS = (RD, RC, R, TAGS)
JSON = dict[str, Any]

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def sse_payloads(raw: bytes, pieces: Iterable[bytes] | None = None) -> list[JSON | str]:
    """The data payloads of an SSE byte stream (``"[DONE]"`` kept as a string), fed in ``pieces``."""
    decoder = SSEDecoder()
    events = []
    for piece in pieces if pieces is not None else [raw]:
        events.extend(decoder.feed(piece))
    events.extend(decoder.flush())
    return [e.data if e.data == "[DONE]" else json.loads(e.data) for e in events]


def assemble(payloads: Iterable[JSON | str]) -> tuple[Response, list[StreamEvent]]:
    assembler = StreamAssembler()
    events: list[StreamEvent] = []
    for payload in payloads:
        events.extend(assembler.done() if payload == "[DONE]" else assembler.feed(payload))
    events.extend(assembler.done())
    return assembler.finish(), events


def message_of(body: JSON, index: int) -> JSON:
    message = body["messages"][index]
    assert isinstance(message, dict)
    return message


# ------------------------------------------------------------------------------ golden: requests


def test_deepseek_tool_loop_request_decodes_and_round_trips() -> None:
    body = fixture("deepseek_tool_loop_request.json")
    conversation = decode_request(body)

    assert conversation.source == FORMAT
    assert conversation.params == {
        "model": "deepseek-chat",
        "max_tokens": 4096,
        "stream": False,
        "thinking": {"type": "enabled"},
    }
    system, user, first, results, second, _ = conversation.messages
    assert system.role == "system" and system.plain and system.text == "You are a weather assistant."
    assert user.role == "user" and user.text == "Weather in Paris, then Lyon?"
    assert first.blocks == (
        Thinking(text="Need the weather; call the tool.", dialect=RC),
        ToolCall(
            id="call_1",
            name="get_weather",
            arguments={"city": "Paris"},
            raw_arguments='{"city": "Paris"}',
        ),
    )
    assert first.plain  # content "" is a string: it comes back as ""
    assert results.blocks == (ToolResult(call_id="call_1", content="15°C, cloudy"),)
    # DeepSeek's "" reasoning_content is a real, empty thinking block, not the absence of one.
    assert second.thinking == (Thinking(text="", dialect=RC),)
    assert not second.plain and CONTENT_SHAPE not in second.extra  # content null
    assert conversation.tools == (
        ToolSpec(
            name="get_weather",
            description="Current weather",
            parameters=body["tools"][0]["function"]["parameters"],
        ),
    )
    assert encode_request(conversation) == body
    assert encode_request(conversation, dialect=RC) == body


def test_gemini_request_keeps_encrypted_item_thought_signature_and_image_detail() -> None:
    body = fixture("openrouter_gemini_request.json")
    conversation = decode_request(body)
    user, assistant, results = conversation.messages

    (image,) = [b for b in user.blocks if isinstance(b, Image)]
    assert (image.media_type, image.data, image.url) == ("image/png", "iVBORw0KGgo=", None)
    assert image.extra == {"image_url": {"detail": "high"}}
    redacted, call = assistant.blocks
    assert isinstance(redacted, RedactedThinking) and redacted.data == "CiQB0e2Kb7Xq"
    assert redacted.item == body["messages"][1]["reasoning_details"][0]
    assert isinstance(call, ToolCall)
    assert call.extra == {"extra_content": {"google": {"thought_signature": "CiQB0e2Kb7Xq"}}}
    assert results.blocks == (ToolResult(call_id="tool_0_describe", content=(Text(text="a cat"),)),)
    assert conversation.tool_choice == ToolChoice(mode="tool", name="describe", parallel=False)
    assert conversation.tools[0].extra == {"function": {"strict": True}}
    assert conversation.params["max_tokens"] == 2048
    assert conversation.extra == {"max_completion_tokens": 2048, "reasoning": {"effort": "high"}}
    assert encode_request(conversation) == body
    assert json.dumps(encode_request(conversation)["messages"][1]["reasoning_details"]) == json.dumps(
        body["messages"][1]["reasoning_details"]
    )


def test_developer_role_round_trips_as_a_system_message() -> None:
    body = {
        "model": "o3",
        "messages": [{"role": "developer", "content": "Be terse."}, {"role": "user", "content": "hi"}],
    }
    conversation = decode_request(body)
    assert conversation.messages[0] == Message(
        role="system", blocks=(Text(text="Be terse."),), plain=True, extra={"role": "developer"}
    )
    assert encode_request(conversation) == body
    # Anthropic takes it as the system prompt, with no stray role key
    assert anthropic.encode_request(conversation)["system"] == "Be terse."


@pytest.mark.parametrize(
    "tokens",
    [{"max_tokens": 100}, {"max_completion_tokens": 100}, {"max_tokens": 50, "max_completion_tokens": 100}],
)
def test_max_tokens_spelling_round_trips(tokens: JSON) -> None:
    body = {"messages": [], **tokens}
    conversation = decode_request(body)
    assert conversation.params["max_tokens"] == 100
    assert encode_request(conversation) == body
    # a budget set by a profile goes out under the client's spelling
    out = encode_request(replace(conversation, params={"max_tokens": 7}))
    assert out["max_completion_tokens" if "max_completion_tokens" in tokens else "max_tokens"] == 7


def test_parallel_tool_calls_lives_on_the_tool_choice() -> None:
    with_choice = decode_request({"messages": [], "tool_choice": "required", "parallel_tool_calls": False})
    assert with_choice.tool_choice == ToolChoice(mode="required", parallel=False)
    assert anthropic.encode_request(with_choice)["tool_choice"] == {
        "type": "any",
        "disable_parallel_tool_use": True,
    }
    alone = {"messages": [], "parallel_tool_calls": True}
    assert decode_request(alone).tool_choice is None and encode_request(decode_request(alone)) == alone
    from_anthropic = anthropic.decode_request(
        {"messages": [], "max_tokens": 5, "tool_choice": {"type": "auto", "disable_parallel_tool_use": True}}
    )
    body = encode_request(from_anthropic)
    assert body["tool_choice"] == "auto" and body["parallel_tool_calls"] is False


def test_unknown_tool_choice_and_custom_tools_ride_verbatim() -> None:
    body = {
        "messages": [],
        "tools": [{"type": "custom", "custom": {"name": "grammar", "format": {"type": "text"}}}],
        "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}},
        "parallel_tool_calls": True,
    }
    conversation = decode_request(body)
    assert conversation.tool_choice is None
    assert conversation.tools[0].name == "grammar"
    assert encode_request(conversation) == body


# -------------------------------------------------------------------- golden: reasoning dialects


def test_minimax_split_response_keeps_the_item_byte_exact() -> None:
    body = fixture("minimax_split_response.json")
    response = decode_response(body)
    item = body["choices"][0]["message"]["reasoning_details"][0]
    thinking, call = response.message.blocks
    assert thinking == Thinking(text="The user wants the files. Start with ls.", dialect=RD, item=item)
    assert isinstance(call, ToolCall) and call.arguments == {"command": "ls"}
    assert response.stop_reason == "tool_use"
    assert response.usage == Usage(
        input_tokens=212,
        output_tokens=38,
        reasoning_tokens=21,
        extra={"total_tokens": 250},
    )
    assert encode_response(response) == body
    # replayed in the request: the item verbatim, and reasoning_content not invented
    request = encode_request(Conversation(messages=(response.message,)), dialect=RD)
    sent = message_of(request, 0)
    assert json.dumps(sent["reasoning_details"]) == json.dumps([item])
    assert "reasoning_content" not in sent


def test_minimax_inline_think_splits_in_place_and_round_trips() -> None:
    body = fixture("minimax_inline_response.json")
    response = decode_response(body)
    assert response.message.plain
    assert response.message.blocks == (
        Thinking(text="\nThe listing shows README.md and src. Summarize.\n", dialect=TAGS),
        Text(text="\n\nThe directory holds README.md and src/."),
    )
    assert encode_response(response) == body
    assert encode_response(response, dialect=TAGS) == body
    # the same thinking forced into a field leaves the visible text alone
    as_field = encode_response(response, dialect=RC)["choices"][0]["message"]
    assert as_field == {
        "role": "assistant",
        "content": "\n\nThe directory holds README.md and src/.",
        "reasoning_content": "\nThe listing shows README.md and src. Summarize.\n",
    }


def test_openrouter_reasoning_beside_details_is_not_duplicated() -> None:
    body = fixture("openrouter_claude_response.json")
    response = decode_response(body)
    message = body["choices"][0]["message"]
    thinking, redacted, text, call = response.message.blocks
    assert thinking == Thinking(
        text="I should list the directory before answering.",
        signature="EqQBCgIYAhIMzQ0BNYz1n4K5ZbGnGgxrbWFzdGVyLTEyMzQ=",
        dialect=RD,
        item=message["reasoning_details"][0],
    )
    assert redacted == RedactedThinking(
        data="gAAAAABo9xRedactedBlob==", dialect=RD, item=message["reasoning_details"][1]
    )
    assert text == Text(text="Let me look.")
    assert isinstance(call, ToolCall) and call.extra == {"index": 0}
    assert len(response.message.thinking) == 2  # `reasoning` is not a third block
    assert response.message.extra == {"refusal": None, "reasoning": message["reasoning"]}
    assert response.usage is not None and response.usage.cache_read_tokens == 1024
    assert response.usage.reasoning_tokens == 42
    assert response.extra["choices"] == [{"logprobs": None, "native_finish_reason": "tool_use", "index": 0}]
    assert encode_response(response) == body

    # forced into reasoning: one field, the duplicate not repeated, and every drop reported
    losses = Losses()
    out = encode_response(response, dialect=R, losses=losses)["choices"][0]["message"]
    assert out["reasoning"] == "I should list the directory before answering."
    assert "reasoning_details" not in out
    assert any("thinking signature dropped: reasoning cannot carry it" in item for item in losses)
    assert any("redacted thinking dropped" in item for item in losses)


def test_empty_reasoning_content_is_a_thinking_block_and_null_is_not() -> None:
    empty = decode_message_dict({"role": "assistant", "content": "ok", "reasoning_content": ""})
    assert empty.thinking == (Thinking(text="", dialect=RC),)
    null = decode_message_dict({"role": "assistant", "content": "ok", "reasoning_content": None})
    assert null.thinking == () and null.extra == {"reasoning_content": None}


def decode_message_dict(data: JSON) -> Message:
    return openai_chat.decode_message(data, "message")


@pytest.mark.parametrize(
    ("content", "shape"),
    [("", None), (None, None), ([], "list"), ("absent", "absent")],
)
def test_empty_string_null_empty_list_and_absent_content_stay_distinct(
    content: Any, shape: str | None
) -> None:
    data: JSON = {
        "role": "assistant",
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    if content != "absent":
        data["content"] = content
    message = decode_message_dict(data)
    assert message.plain is (content == "")
    assert message.extra.get(CONTENT_SHAPE) == shape
    assert openai_chat.encode_message(message) == [data]


@pytest.mark.parametrize(
    "content",
    [
        "<think>a</think>b",
        "prefilled</think>answer",  # a server that put <think> in the prompt
        "</think>",
        "answer<think>cut off by max_tokens",
        "<think>",
        "<think>x</think>y<think>z",
        "a<think>b</think>c</think>d",
        "no tags",
    ],
)
def test_think_tags_round_trip_byte_exact(content: str) -> None:
    data = {"role": "assistant", "content": content}
    message = decode_message_dict(data)
    assert all(b.dialect is TAGS for b in message.thinking if isinstance(b, Thinking))
    assert openai_chat.encode_message(message) == [data]


def test_reasoning_details_item_kinds() -> None:
    items: list[JSON] = [
        {"type": "reasoning.summary", "summary": "**Plan**", "format": "openai-responses-v1", "index": 0},
        {"type": "reasoning.encrypted", "data": "enc", "id": "rs_1"},
        {"type": "reasoning.text", "text": "t", "signature": None, "x_vendor": [1, 2]},
        {"type": "reasoning.text", "signature": "only-sig"},
        {"type": "reasoning.future", "payload": {"a": 1}},
    ]
    message = decode_message_dict({"role": "assistant", "content": "x", "reasoning_details": items})
    summary, encrypted, text, signed, unknown, _ = message.blocks
    assert summary == Thinking(text="**Plan**", dialect=RD, item=items[0])
    assert encrypted == RedactedThinking(data="enc", dialect=RD, item=items[1])
    assert text == Thinking(text="t", signature=None, dialect=RD, item=items[2])
    assert signed == Thinking(text="", signature="only-sig", dialect=RD, item=items[3])
    assert unknown == Opaque(source=DETAILS_SOURCE, data=items[4])
    (out,) = openai_chat.encode_message(message)
    assert json.dumps(out["reasoning_details"]) == json.dumps(items)  # in place, key order kept


def test_tool_call_fields_at_both_levels_and_broken_arguments_survive() -> None:
    call = {
        "id": "call_9",
        "type": "function",
        "function": {"name": "run", "arguments": '{"cmd": "ls", ', "x_fn": True},
        "x_outer": {"k": 1},
    }
    message = decode_message_dict({"role": "assistant", "content": None, "tool_calls": [call]})
    (block,) = message.tool_calls
    assert block.arguments == {} and block.raw_arguments == '{"cmd": "ls", '
    assert block.arguments_error is not None
    assert block.extra == {"x_outer": {"k": 1}, "function": {"x_fn": True}}
    assert openai_chat.encode_message(message)[0]["tool_calls"] == [call]
    # arguments sent as an object by some servers come back as an object
    odd = {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}
    decoded = decode_message_dict({"role": "assistant", "content": None, "tool_calls": [odd]})
    assert decoded.tool_calls[0].arguments == {"a": 1}
    assert openai_chat.encode_message(decoded)[0]["tool_calls"] == [odd]


def test_tool_call_without_raw_arguments_is_compact_json() -> None:
    message = Message(
        role="assistant", blocks=(ToolCall(id="t", name="f", arguments={"a": "é", "b": [1, 2]}),)
    )
    (out,) = openai_chat.encode_message(message)
    assert out["tool_calls"][0]["function"]["arguments"] == '{"a":"é","b":[1,2]}'


# ------------------------------------------------------------------------- tool results, system


def test_consecutive_tool_messages_are_one_message_and_split_back() -> None:
    body = {
        "messages": [
            {"role": "tool", "tool_call_id": "a", "content": "1"},
            {"role": "tool", "tool_call_id": "b", "content": [{"type": "text", "text": "2"}], "name": "g"},
            {"role": "tool", "tool_call_id": "c", "content": None},
            {"role": "user", "content": "next"},
        ]
    }
    conversation = decode_request(body)
    assert len(conversation.messages) == 2
    assert conversation.messages[0].tool_results == (
        ToolResult(call_id="a", content="1"),
        ToolResult(call_id="b", content=(Text(text="2"),), name="g"),
        ToolResult(call_id="c", content=None, extra={"content": None}),
    )
    assert encode_request(conversation) == body


def test_anthropic_user_message_with_results_and_text_becomes_tool_messages_then_user() -> None:
    conversation = anthropic.decode_request(
        {
            "model": "claude",
            "max_tokens": 100,
            "system": "Sys.",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "content": "r1", "is_error": True},
                        {"type": "text", "text": "Also, hurry."},
                        {
                            "type": "tool_result",
                            "tool_use_id": "t2",
                            "content": [{"type": "text", "text": "r2"}],
                        },
                    ],
                }
            ],
        }
    )
    losses = Losses()
    body = encode_request(conversation, losses=losses)
    assert body["messages"] == [
        {"role": "system", "content": "Sys."},
        {"role": "tool", "tool_call_id": "t1", "content": "r1"},
        {"role": "tool", "tool_call_id": "t2", "content": "r2"},  # another format's text: strings
        {"role": "user", "content": "Also, hurry."},
    ]
    assert body["max_tokens"] == 100 and body["model"] == "claude"
    assert any("is_error" in item for item in losses)


# ------------------------------------------------------------------------------- cross-format


ANTHROPIC_REPLY: JSON = {
    "id": "msg_01XyZ",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
        {
            "type": "thinking",
            "thinking": "Two cities; Paris first.",
            "signature": "EqQBCgIYAhIM1gbcDa9GJwZA==",
        },
        {"type": "text", "text": "I'll check both cities."},
        {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"location": "Paris"}},
        {"type": "thinking", "thinking": "Now New York.", "signature": "ErUBCkYIBhgCIkB2c2ln=="},
        {"type": "tool_use", "id": "toolu_01B", "name": "get_weather", "input": {"location": "New York"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 472, "output_tokens": 89},
}


def _thinking_pairs(message: Message) -> list[tuple[str, str | None]]:
    return [(b.text, b.signature) for b in message.blocks if isinstance(b, Thinking)]


def test_anthropic_reply_into_reasoning_details_keeps_every_thinking_block_and_signature() -> None:
    reply = anthropic.decode_response(ANTHROPIC_REPLY)
    expected = [
        ("Two cities; Paris first.", "EqQBCgIYAhIM1gbcDa9GJwZA=="),
        ("Now New York.", "ErUBCkYIBhgCIkB2c2ln=="),
    ]

    losses = Losses()
    body = encode_response(reply, dialect=RD, losses=losses)
    assert body["choices"][0]["message"]["reasoning_details"] == [
        {"type": "reasoning.text", "text": text, "signature": signature} for text, signature in expected
    ]
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert body["usage"] == {"prompt_tokens": 472, "completion_tokens": 89, "total_tokens": 561}
    back = decode_response(body)
    assert _thinking_pairs(back.message) == expected
    assert [(c.id, c.arguments) for c in back.message.tool_calls] == [
        ("toolu_01A", {"location": "Paris"}),
        ("toolu_01B", {"location": "New York"}),
    ]
    assert any("moved ahead" in item for item in losses)  # the second block's position is reported

    conversation = Conversation(
        messages=(
            Message(role="user", blocks=(Text(text="Weather?"),)),
            reply.message,
            Message(
                role="tool",
                blocks=(
                    ToolResult(call_id="toolu_01A", content="15C"),
                    ToolResult(call_id="toolu_01B", content="5C"),
                ),
            ),
        ),
        source="anthropic",
    )
    request = decode_request(encode_request(conversation, dialect=RD))
    assert _thinking_pairs(request.messages[1]) == expected
    # ... and back to Anthropic the signatures ride along unchanged
    blocks = anthropic.encode_message(request.messages[1])
    assert blocks is not None
    assert [(b["thinking"], b["signature"]) for b in blocks["content"] if b["type"] == "thinking"] == expected

    # streamed in the same dialect, the client gets the same
    streamed, _ = assemble(stream_payloads(reply, RD))
    assert _thinking_pairs(streamed.message) == expected


def test_anthropic_thinking_into_reasoning_content_reports_what_it_drops() -> None:
    message = Message(
        role="assistant",
        blocks=(
            Thinking(text="a", signature="s1", dialect=ReasoningDialect.ANTHROPIC),
            RedactedThinking(data="blob", dialect=ReasoningDialect.ANTHROPIC),
            Thinking(text="b", signature="s2", dialect=ReasoningDialect.ANTHROPIC),
            ToolCall(id="t", name="f", arguments={}),
        ),
    )
    losses = Losses()
    body = encode_request(
        Conversation(messages=(Message(role="user", blocks=(Text(text="q"),)), message)), losses=losses
    )
    assert (
        message_of(body, 1)["reasoning_content"] == "a\n\nb"
    )  # no dialect: Anthropic-origin -> reasoning_content
    assert losses.items == [
        "messages[1]: thinking signature dropped: reasoning_content cannot carry it",
        "messages[1]: redacted thinking dropped: reasoning_content cannot carry it",
        "messages[1]: thinking signature dropped: reasoning_content cannot carry it",
        "messages[1]: 2 thinking blocks joined into one reasoning_content: block boundaries lost",
    ]
    tags = encode_request(Conversation(messages=(message,)), dialect=TAGS)
    assert message_of(tags, 0)["content"] == "<think>a</think><think>b</think>"
    details = encode_request(Conversation(messages=(message,)), dialect=RD)
    assert message_of(details, 0)["reasoning_details"][1] == {"type": "reasoning.encrypted", "data": "blob"}


def test_anthropic_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot carry thinking"):
        encode_request(Conversation(), dialect=ReasoningDialect.ANTHROPIC)


def test_foreign_fields_are_reported_not_leaked() -> None:
    conversation = anthropic.decode_request(
        {"model": "m", "max_tokens": 5, "messages": [], "service_tier": "auto"}
    )
    losses = Losses()
    body = encode_request(conversation, losses=losses)
    assert "service_tier" not in body
    assert losses.items == ["anthropic request fields service_tier have no OpenAI Chat meaning"]


# --------------------------------------------------------------------------- responses, errors


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("stop", "end_turn"),
        ("tool_calls", "tool_use"),
        ("length", "max_tokens"),
        ("content_filter", "content_filter"),
        ("eos", "eos"),
        ("end_turn", "end_turn"),  # a portable name sent verbatim must not come back as "stop"
        (None, None),
    ],
)
def test_finish_reason_maps_and_round_trips(finish: str | None, stop: str | None) -> None:
    body = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": finish}]
    }
    response = decode_response(body)
    assert response.stop_reason == stop
    assert encode_response(response) == body


def test_usage_maps_the_five_counts_and_keeps_the_rest() -> None:
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
        "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 64},
        "completion_tokens_details": {"reasoning_tokens": 12, "accepted_prediction_tokens": 0},
        "x_cost": 0.1,
    }
    decoded = openai_chat.decode_usage(usage)
    assert (
        decoded.input_tokens,
        decoded.output_tokens,
        decoded.cache_read_tokens,
        decoded.reasoning_tokens,
    ) == (
        100,
        20,
        64,
        12,
    )
    assert openai_chat.encode_usage(decoded) == usage


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "bad key", "type": "authentication_error", "code": None}},
        {"object": "error", "message": "bad model", "type": "NotFoundError", "code": 404},
    ],
)
def test_error_bodies_raise_server_errors(body: JSON) -> None:
    with pytest.raises(StreamServerError):
        decode_response(body)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"messages": "hi"}, "messages"),
        ({}, "messages"),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0].text"),
        (
            {
                "messages": [
                    {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}
                ]
            },
            "messages[0].tool_calls[0].id",
        ),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": 3}]}]},
            "messages[0].tool_calls[0].function",
        ),
        ({"messages": [{"role": "assistant", "reasoning_details": [1]}]}, "messages[0].reasoning_details[0]"),
        ({"messages": [{"role": "assistant", "reasoning_content": 7}]}, "messages[0].reasoning_content"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [], "tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
        ({"messages": [], "tool_choice": {"type": "function"}}, "tool_choice.function"),
    ],
)
def test_malformed_requests_name_the_path(body: JSON, path: str) -> None:
    with pytest.raises(WireFormatError) as caught:
        decode_request(body)
    assert caught.value.path == path


def test_malformed_responses_name_the_path() -> None:
    with pytest.raises(WireFormatError, match="choices"):
        decode_response({"choices": []})
    with pytest.raises(WireFormatError) as caught:
        decode_response({"choices": [{"message": {"role": "user", "content": "x"}}]})
    assert caught.value.path == "choices[0].message.role"


# ---------------------------------------------------------------------------- golden: streams


@pytest.mark.parametrize("name", ["minimax_split_stream", "openrouter_claude_stream", "inline_think_stream"])
def test_recorded_stream_equals_the_non_streamed_body(name: str) -> None:
    raw = (FIXTURES / f"{name}.sse").read_bytes()
    expected = decode_response(fixture(f"{name}.json"))
    response, events = assemble(sse_payloads(raw))
    assert response == expected
    check_events(events, response)


def test_recorded_stream_split_at_every_byte() -> None:
    raw = (FIXTURES / "inline_think_stream.sse").read_bytes()
    expected = decode_response(fixture("inline_think_stream.json"))
    for cut in range(len(raw) + 1):
        response, _ = assemble(sse_payloads(raw, [raw[:cut], raw[cut:]]))
        assert response == expected, cut


@given(data=st.data())
@FAST
def test_recorded_streams_split_at_random_bytes(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(["minimax_split_stream", "openrouter_claude_stream"]))
    raw = (FIXTURES / f"{name}.sse").read_bytes()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=12)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    response, _ = assemble(sse_payloads(raw, pieces))
    assert response == decode_response(fixture(f"{name}.json"))


def test_think_tags_split_across_deltas_at_every_point() -> None:
    content = "<think>\nhm</think>\n\nok"
    expected = decode_response(completion({"role": "assistant", "content": content}))
    for i in range(len(content) + 1):
        for j in range(i, len(content) + 1):
            parts = [content[:i], content[i:j], content[j:]]
            response, events = assemble(chunks_of_contents(parts))
            assert response == expected, (i, j)
            check_events(events, response)


def test_openrouter_signature_arrives_after_the_text() -> None:
    raw = (FIXTURES / "openrouter_claude_stream.sse").read_bytes()
    response, events = assemble(sse_payloads(raw))
    first = response.message.blocks[0]
    assert isinstance(first, Thinking) and first.signature == "EqQBCgIYAhIMzQ0BNYz1n4K5"
    starts = [e for e in events if isinstance(e, BlockStart)]
    assert [(s.index, s.kind) for s in starts] == [
        (0, "thinking"),
        (1, "redacted_thinking"),
        (2, "text"),
        (3, "tool_call"),
    ]
    ends = [e for e in events if isinstance(e, BlockEnd)]
    assert ends[0].block == first  # the signature is on the BlockEnd
    # the usage-only chunk after finish_reason is seen
    assert any(isinstance(e, UsageUpdate) and e.usage.cache_read_tokens == 1024 for e in events)


def test_stream_without_finish_reason_is_incomplete() -> None:
    assembler = StreamAssembler()
    assembler.feed(chunk({"role": "assistant", "content": "Hel"}))
    with pytest.raises(StreamIncompleteError):
        assembler.finish()
    with pytest.raises(StreamIncompleteError):
        assembler.done()


def test_error_chunk_raises_a_server_error() -> None:
    assembler = StreamAssembler()
    assembler.feed(chunk({"role": "assistant", "content": "Hel"}))
    with pytest.raises(StreamServerError) as caught:
        assembler.feed({"error": {"message": "upstream overloaded", "type": "server_error"}})
    assert caught.value.error_type == "server_error"


def test_prefilled_think_stops_live_events_but_not_the_reply() -> None:
    response, events = assemble(chunks_of_contents(["the user said hi", "</th", "ink>Hello"]))
    assert response.message.blocks == (
        Thinking(text="the user said hi", dialect=TAGS, extra={"open_tag": False}),
        Text(text="Hello"),
    )
    check_events(events, response)


def test_stream_encoder_restreams_an_anthropic_stream_live() -> None:
    """Anthropic SSE in, OpenAI chunks out, event by event (a gateway's job)."""
    source = anthropic.StreamAssembler()
    encoder = StreamEncoder(dialect=RC, model="claude")
    payloads: list[JSON] = []
    start = {k: v for k, v in ANTHROPIC_REPLY.items() if k != "content"} | {"content": []}
    events_in: list[JSON] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(ANTHROPIC_REPLY["content"]):
        if block["type"] == "tool_use":
            events_in.append(
                {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}
            )
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            events_in.append({"type": "content_block_delta", "index": index, "delta": delta})
        else:
            events_in.append(
                {"type": "content_block_start", "index": index, "content_block": {**block, block["type"]: ""}}
            )
            key = block["type"]
            delta = {"type": f"{key}_delta", key: block[key]}
            events_in.append({"type": "content_block_delta", "index": index, "delta": delta})
        events_in.append({"type": "content_block_stop", "index": index})
    events_in += [
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 89}},
        {"type": "message_stop"},
    ]
    for event_in in events_in:
        for event in source.feed(event_in):
            payloads.extend(encoder.encode(event))
    response, _ = assemble(payloads)
    assert response.message.thinking == (
        Thinking(text="Two cities; Paris first.\n\nNow New York.", dialect=RC),
    )
    assert [c.id for c in response.message.tool_calls] == ["toolu_01A", "toolu_01B"]
    assert response.stop_reason == "tool_use"


# ------------------------------------------------------------------------------ event checking


def check_events(events: Sequence[StreamEvent], response: Response) -> None:
    """Live events are consistent with the final reply: deltas are prefixes, ends are the blocks."""
    assert isinstance(events[0], MessageStart)
    assert isinstance(events[-1], MessageEnd) and events[-1].response == response
    blocks = response.message.blocks
    assert [(e.index, e.block) for e in events if isinstance(e, BlockEnd)] == list(enumerate(blocks))
    texts: dict[int, str] = {}
    for event in events:
        if isinstance(event, BlockStart):
            block = blocks[event.index]
            prefilled = isinstance(block, Thinking) and block.extra.get("open_tag") is False
            assert event.kind == block.kind or (prefilled and event.kind == "text"), event
            if isinstance(block, ToolCall):
                assert (event.id, event.name) == (block.id, block.name)
            texts[event.index] = ""
        elif isinstance(event, BlockDelta):
            assert event.index in texts, "delta before its start"
            texts[event.index] += event.text
    for index, text in texts.items():
        block = blocks[index]
        full = block.arguments_json if isinstance(block, ToolCall) else getattr(block, "text", "")
        assert full.startswith(text), (index, text, full)


# ---------------------------------------------------------------------------- chunk builders


def chunk(delta: JSON, finish: str | None = None, **top: Any) -> JSON:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **top,
    }


def completion(message: JSON, finish: str = "stop") -> JSON:
    return {
        "id": "c1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }


def chunks_of_contents(parts: Sequence[str]) -> list[JSON | str]:
    out: list[JSON | str] = [chunk({"role": "assistant"})]
    out += [chunk({"content": part}) for part in parts]
    return [*out, chunk({}, "stop"), "[DONE]"]


def _cut(text: str, rnd: random.Random) -> list[str]:
    """``text`` in random pieces (at least one; empty pieces allowed, as servers send them)."""
    if not text:
        return [""]
    cuts = sorted(rnd.randint(0, len(text)) for _ in range(rnd.randint(0, 4)))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def stream_message(message: JSON, rnd: random.Random) -> list[JSON]:
    """Deltas a server could send for ``message`` (an independent model of the OpenAI stream)."""
    deltas: list[JSON] = [{"role": "assistant"}]
    skip = {"role", "content", "tool_calls", "reasoning_details", "reasoning_content", "reasoning"}
    deltas[0].update((k, v) for k, v in message.items() if k not in skip)
    details = message.get("reasoning_details", _NONE)
    if details is None or details == []:
        deltas.append({"reasoning_details": details})
    elif details is not _NONE:
        for item in details:
            if "index" not in item:
                deltas.append({"reasoning_details": [item]})
                continue
            pieces = {
                k: _cut(v, rnd)
                for k, v in item.items()
                if k in ("text", "summary", "data", "signature") and isinstance(v, str)
            }
            keys = list(item)
            late_signature = keys[-1] == "signature" and "signature" in pieces and rnd.random() < 0.5
            first = {
                k: (pieces[k][0] if k in pieces else v)
                for k, v in item.items()
                if not (late_signature and k == "signature")
            }
            deltas.append({"reasoning_details": [first]})
            for key, parts in pieces.items():
                for part in parts[1:] if not (late_signature and key == "signature") else parts:
                    deltas.append(
                        {"reasoning_details": [{"index": item["index"], "type": item.get("type"), key: part}]}
                    )
    for field in ("reasoning_content", "reasoning"):
        if field in message:
            value = message[field]
            deltas += (
                [{field: part} for part in _cut(value, rnd)] if isinstance(value, str) else [{field: value}]
            )
    content = message.get("content")
    deltas += (
        [{"content": part} for part in _cut(content, rnd)]
        if isinstance(content, str)
        else [{"content": None}]
    )
    calls = message.get("tool_calls", _NONE)
    if calls is None or calls == []:
        deltas.append({"tool_calls": calls})
    elif calls is not _NONE:
        for position, call in enumerate(calls):
            function = call["function"]
            parts = _cut(function["arguments"], rnd)
            head = {**call, "index": position, "function": {**function, "arguments": parts[0]}}
            deltas.append({"tool_calls": [head]})
            deltas += [{"tool_calls": [{"index": position, "function": {"arguments": p}}]} for p in parts[1:]]
    # servers pack several fields in one delta (OpenRouter: reasoning beside reasoning_details)
    packed: list[JSON] = []
    for delta in deltas:
        if packed and not set(packed[-1]) & set(delta) and rnd.random() < 0.3:
            packed[-1].update(delta)
        else:
            packed.append(dict(delta))
    return packed


_NONE: Any = object()


def stream_body(body: JSON, rnd: random.Random) -> list[JSON | str]:
    """The chunks of a non-streamed body: every choice's deltas, the finish chunk, a usage chunk, [DONE]."""
    top = {k: v for k, v in body.items() if k not in ("choices", "usage")}
    if top.get("object") == "chat.completion":
        top["object"] = "chat.completion.chunk"
    out: list[JSON | str] = []
    for choice in body["choices"]:
        index = choice["index"]
        for delta in stream_message(choice["message"], rnd):
            out.append({**top, "choices": [{"index": index, "delta": delta, "finish_reason": None}]})
        rest = {k: v for k, v in choice.items() if k not in ("message", "index")}
        out.append({**top, "choices": [{"index": index, "delta": {}, **rest}]})
    if "usage" in body:
        out.append({**top, "choices": [], "usage": body["usage"]})
    return [*out, "[DONE]"]


def sse_bytes(payloads: Iterable[JSON | str]) -> bytes:
    return "".join(f"data: {p if isinstance(p, str) else json.dumps(p)}\n\n" for p in payloads).encode()


# ---------------------------------------------------------------------------------- strategies

KEY = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=5).map(lambda s: f"x_{s}")
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6), st.text(max_size=6))
JSON_VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=2), st.dictionaries(st.text(max_size=4), inner, max_size=2)
    ),
    max_leaves=5,
)
UNKNOWN = st.dictionaries(KEY, JSON_VALUE, max_size=2)
TEXT = st.text(max_size=10)
NAME = st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=8)
IDS = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=10)
TAGGY = st.lists(
    st.sampled_from(["a", " ", "\n", "é", "<think>", "</think>", "<thi", "nk>", "</", "<", ">"]), max_size=8
).map("".join)
NO_TAGS = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="<"), max_size=10)
ARGUMENTS = st.one_of(
    st.dictionaries(st.text(max_size=4), SCALAR, max_size=3).map(lambda d: json.dumps(d)),
    st.dictionaries(st.text(max_size=4), SCALAR, max_size=3).map(
        lambda d: json.dumps(d, separators=(",", ":"))
    ),
    TEXT,
)


def with_unknown(draw: st.DrawFn, base: JSON) -> JSON:
    """``base`` plus unknown keys, in a random key order (byte-exactness must not depend on order)."""
    pairs = list(base.items()) + list(draw(UNKNOWN).items())
    return dict(draw(st.permutations(pairs)))


def maybe(draw: st.DrawFn, out: JSON, key: str, strategy: st.SearchStrategy[Any]) -> None:
    if draw(st.booleans()):
        out[key] = draw(strategy)


@st.composite
def detail_item(draw: st.DrawFn, index: int | None = None) -> JSON:
    kind = draw(st.sampled_from(["text", "text", "summary", "encrypted", "unknown", "signature_only"]))
    item: JSON = {}
    if kind in ("text", "signature_only"):
        item["type"] = "reasoning.text"
        if kind == "text":
            item["text"] = draw(TEXT)
        maybe(draw, item, "signature", st.one_of(st.none(), TEXT))
    elif kind == "summary":
        item.update(type="reasoning.summary", summary=draw(TEXT))
    elif kind == "encrypted":
        item.update(type="reasoning.encrypted", data=draw(TEXT))
    else:
        item.update(type=f"reasoning.{draw(KEY)}", payload=draw(JSON_VALUE))
    maybe(draw, item, "id", IDS)
    maybe(draw, item, "format", st.sampled_from(["MiniMax-response-v1", "anthropic-claude-v1", "unknown"]))
    if index is not None:
        item["index"] = index
    return with_unknown(draw, item)


@st.composite
def wire_tool_call(draw: st.DrawFn) -> JSON:
    function = with_unknown(draw, {"name": draw(NAME), "arguments": draw(ARGUMENTS)})
    return with_unknown(draw, {"id": draw(IDS), "type": "function", "function": function})


@st.composite
def wire_assistant(draw: st.DrawFn, stream: bool = False) -> JSON:
    message: JSON = {"role": "assistant"}
    contents = (
        [TAGGY, st.none()]
        if stream
        else [TAGGY, st.none(), st.just(_NONE), st.lists(wire_part(), max_size=2)]
    )
    content = draw(st.one_of(*contents))
    if content is not _NONE:
        message["content"] = content
    shape = draw(st.sampled_from(["absent", "null", "empty", "items"]))
    if shape != "absent":
        if shape == "items":
            indexes = draw(st.booleans())
            count = draw(st.integers(1, 3))
            message["reasoning_details"] = [
                draw(detail_item(index=i if indexes else None)) for i in range(count)
            ]
        else:
            message["reasoning_details"] = None if shape == "null" else []
    for field in ("reasoning_content", "reasoning"):
        maybe(draw, message, field, st.one_of(st.none(), TEXT))
    calls = draw(st.sampled_from(["absent", "null", "empty", "items"]))
    if calls == "items":
        message["tool_calls"] = draw(st.lists(wire_tool_call(), min_size=1, max_size=2))
    elif calls != "absent":
        message["tool_calls"] = None if calls == "null" else []
    maybe(draw, message, "name", st.one_of(st.none(), NAME))
    return with_unknown(draw, message)


@st.composite
def wire_part(draw: st.DrawFn) -> JSON:
    kind = draw(st.sampled_from(["text", "image", "data_image", "audio"]))
    if kind == "text":
        return with_unknown(draw, {"type": "text", "text": draw(TAGGY)})
    if kind == "audio":
        return with_unknown(
            draw, {"type": "input_audio", "input_audio": {"data": draw(TEXT), "format": "wav"}}
        )
    url = (
        f"https://x.test/{draw(NAME)}.png"
        if kind == "image"
        else f"data:image/{draw(NAME)};base64,{draw(IDS)}"
    )
    image = with_unknown(draw, {"url": url, **({"detail": "low"} if draw(st.booleans()) else {})})
    return with_unknown(draw, {"type": "image_url", "image_url": image})


@st.composite
def wire_simple(draw: st.DrawFn) -> JSON:
    role = draw(st.sampled_from(["system", "developer", "user"]))
    message: JSON = {"role": role}
    content = draw(st.one_of(TAGGY, st.none(), st.just(_NONE), st.lists(wire_part(), max_size=3)))
    if content is not _NONE:
        message["content"] = content
    maybe(draw, message, "name", st.one_of(st.none(), NAME))
    return with_unknown(draw, message)


@st.composite
def wire_tool_message(draw: st.DrawFn) -> JSON:
    message: JSON = {"role": "tool", "tool_call_id": draw(IDS)}
    text_parts = st.lists(st.builds(lambda t: {"type": "text", "text": t}, TEXT), max_size=2)
    content = draw(st.one_of(TEXT, st.none(), st.just(_NONE), text_parts))
    if content is not _NONE:
        message["content"] = content
    maybe(draw, message, "name", st.one_of(st.none(), NAME))
    return with_unknown(draw, message)


@st.composite
def wire_tool(draw: st.DrawFn) -> JSON:
    if draw(st.integers(0, 5)) == 0:
        return {"type": "custom", "custom": {"name": draw(NAME), "description": draw(TEXT)}}
    function: JSON = {"name": draw(NAME)}
    maybe(draw, function, "description", st.one_of(TEXT, st.none()))
    maybe(draw, function, "parameters", st.one_of(st.just({"type": "object"}), st.none()))
    maybe(draw, function, "strict", st.booleans())
    return with_unknown(draw, {"type": "function", "function": with_unknown(draw, function)})


@st.composite
def wire_request(draw: st.DrawFn) -> JSON:
    messages = draw(st.lists(st.one_of(wire_simple(), wire_assistant(), wire_tool_message()), max_size=5))
    body: JSON = {"messages": messages}
    for wire in (
        "model",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "stream",
        "thinking",
        "reasoning_effort",
        "metadata",
        "max_tokens",
        "max_completion_tokens",
    ):
        maybe(draw, body, wire, JSON_VALUE)
    tools = draw(st.sampled_from(["absent", "null", "empty", "items"]))
    if tools == "items":
        body["tools"] = draw(st.lists(wire_tool(), min_size=1, max_size=2))
    elif tools != "absent":
        body["tools"] = None if tools == "null" else []
    choice = st.one_of(
        st.sampled_from(["auto", "none", "required", "any", None]),
        st.builds(lambda n, u: {"type": "function", "function": {"name": n, **u}}, NAME, UNKNOWN),
        st.just({"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}),
    )
    maybe(draw, body, "tool_choice", choice)
    maybe(draw, body, "parallel_tool_calls", st.one_of(st.booleans(), st.none()))
    return with_unknown(draw, body)


FINISH = st.sampled_from(
    ["stop", "tool_calls", "length", "content_filter", "eos", "end_turn", "tool_use", "stop_sequence"]
)


@st.composite
def wire_usage(draw: st.DrawFn) -> JSON:
    usage: JSON = {"prompt_tokens": draw(st.integers(0, 999)), "completion_tokens": draw(st.integers(0, 999))}
    maybe(draw, usage, "total_tokens", st.integers(0, 2000))
    maybe(
        draw,
        usage,
        "prompt_tokens_details",
        st.fixed_dictionaries(
            {},
            optional={"cached_tokens": st.one_of(st.integers(0, 9), st.none()), "audio_tokens": st.just(0)},
        ),
    )
    maybe(
        draw,
        usage,
        "completion_tokens_details",
        st.fixed_dictionaries({}, optional={"reasoning_tokens": st.integers(0, 9), "x_other": st.just(0)}),
    )
    return with_unknown(draw, usage)


@st.composite
def wire_response(draw: st.DrawFn, stream: bool = False) -> JSON:
    choices = []
    for index in range(draw(st.integers(1, 2))):
        choice: JSON = {"index": index, "message": draw(wire_assistant(stream=stream))}
        choice["finish_reason"] = draw(FINISH if stream else st.one_of(FINISH, st.none()))
        maybe(draw, choice, "logprobs", st.none())
        choices.append(with_unknown(draw, choice))
    body: JSON = {
        "id": draw(IDS),
        "object": "chat.completion",
        "created": draw(st.integers(0, 2**31)),
        "model": draw(NAME),
        "choices": choices,
    }
    maybe(draw, body, "system_fingerprint", st.one_of(st.none(), IDS))
    maybe(draw, body, "usage", st.one_of(st.none(), wire_usage()))
    return with_unknown(draw, body)


# ------------------------------------------------------------------- canonical transcripts


def expected_detail(item: JSON) -> Block:
    """The brief's mapping of one reasoning_details item, written out independently of the codec."""
    kind = item.get("type")
    if kind == "reasoning.text" and isinstance(item.get("text", ""), str | None):
        signature = item.get("signature")
        return Thinking(
            text=item.get("text") or "",
            signature=signature if isinstance(signature, str) else None,
            dialect=RD,
            item=item,
        )
    if kind == "reasoning.summary" and isinstance(item.get("summary"), str):
        return Thinking(text=item["summary"], dialect=RD, item=item)
    if kind == "reasoning.encrypted" and isinstance(item.get("data"), str):
        return RedactedThinking(data=item["data"], dialect=RD, item=item)
    return Opaque(source=DETAILS_SOURCE, data=item)


@st.composite
def c_part(draw: st.DrawFn) -> Block:
    kind = draw(st.sampled_from(["text", "url", "data", "opaque"]))
    if kind == "text":
        return Text(text=draw(TAGGY), extra=draw(UNKNOWN))
    if kind == "opaque":
        return Opaque(source=FORMAT, data={"type": "input_audio", "input_audio": {"data": draw(TEXT)}})
    extra = draw(UNKNOWN)
    if draw(st.booleans()):
        extra["image_url"] = {"detail": draw(st.sampled_from(["low", "high", "auto"]))}
    if kind == "url":
        return Image(url=f"https://x.test/{draw(NAME)}", extra=extra)
    return Image(media_type=f"image/{draw(NAME)}", data=draw(IDS), extra=extra)


def empty_content_extra(draw: st.DrawFn) -> JSON:
    shape = draw(st.sampled_from([None, "absent", "list"]))
    return {} if shape is None else {CONTENT_SHAPE: shape}


@st.composite
def c_inline(draw: st.DrawFn) -> list[Block]:
    """Alternating <think> blocks and text, as split_think_tags returns them, marks where legal."""
    blocks: list[Block] = []
    thinking = draw(st.booleans())
    for _ in range(draw(st.integers(1, 4))):
        if thinking:
            blocks.append(Thinking(text=draw(NO_TAGS), dialect=TAGS))
        else:
            blocks.append(Text(text=draw(NO_TAGS.filter(bool))))
        thinking = not thinking
    first, last = blocks[0], blocks[-1]
    if isinstance(first, Thinking) and draw(st.booleans()):
        blocks[0] = Thinking(text=first.text, dialect=TAGS, extra={"open_tag": False})
    elif isinstance(last, Thinking) and draw(st.booleans()):
        blocks[-1] = Thinking(text=last.text, dialect=TAGS, extra={"close_tag": False})
    return blocks


@st.composite
def c_tool_call(draw: st.DrawFn) -> ToolCall:
    raw = draw(ARGUMENTS)
    extra = draw(UNKNOWN)
    function = draw(UNKNOWN)
    if function:
        extra["function"] = function
    return ToolCall(
        id=draw(IDS), name=draw(NAME), arguments=parse_arguments(raw), raw_arguments=raw, extra=extra
    )


@st.composite
def c_assistant(draw: st.DrawFn, dialect: ReasoningDialect) -> Message:
    extra: JSON = dict(draw(UNKNOWN))
    thinking: list[Block] = []
    if dialect is RD:
        thinking = [expected_detail(item) for item in draw(st.lists(detail_item(), min_size=1, max_size=3))]
        for field in ("reasoning", "reasoning_content"):  # OpenRouter-style duplicates ride in extra
            maybe(draw, extra, field, st.one_of(st.none(), TEXT))
    elif dialect in (RC, R) and draw(st.booleans()):
        thinking = [Thinking(text=draw(TEXT), dialect=dialect)]
        if dialect is RC:
            maybe(draw, extra, "reasoning", st.one_of(st.none(), TEXT))
    if dialect in (RC, R):
        lower = ("reasoning_content",) if dialect is R else ()
        for field in lower if thinking else ("reasoning_content", "reasoning"):
            maybe(draw, extra, field, st.none())
    if dialect is not RD:
        maybe(draw, extra, "reasoning_details", st.sampled_from([None, []]))

    plain = draw(st.booleans())
    content: list[Block]
    if plain and dialect is TAGS:
        content = draw(st.one_of(st.just([]), c_inline()))
    elif plain:
        content = draw(st.one_of(st.just([]), NO_TAGS.filter(bool).map(lambda s: [Text(text=s)])))
    else:
        content = draw(st.lists(c_part(), max_size=2))
        if not content:
            extra.update(empty_content_extra(draw))
    calls = draw(st.lists(c_tool_call(), max_size=2))
    if not calls:
        maybe(draw, extra, "tool_calls", st.sampled_from([None, []]))
    name = draw(st.one_of(st.none(), NAME))
    if name is None:
        maybe(draw, extra, "name", st.none())
    return Message(
        role="assistant", blocks=(*thinking, *content, *calls), name=name, plain=plain, extra=extra
    )


@st.composite
def c_simple(draw: st.DrawFn) -> Message:
    role: Literal["system", "user"] = draw(st.sampled_from(["system", "user"]))
    extra: JSON = {"role": "developer"} if role == "system" and draw(st.booleans()) else {}
    extra.update(draw(UNKNOWN))
    plain = draw(st.booleans())
    if plain:
        blocks: list[Block] = [Text(text=draw(TAGGY))]
    else:
        blocks = draw(st.lists(c_part(), max_size=2))
        if not blocks:
            extra.update(empty_content_extra(draw))
    name = draw(st.one_of(st.none(), NAME))
    return Message(role=role, blocks=tuple(blocks), name=name, plain=plain, extra=extra)


@st.composite
def c_tool_results(draw: st.DrawFn) -> Message:
    results = []
    for _ in range(draw(st.integers(1, 3))):
        extra = dict(draw(UNKNOWN))
        content = draw(
            st.one_of(
                TEXT, st.none(), st.lists(st.builds(lambda t: Text(text=t), TEXT), max_size=2).map(tuple)
            )
        )
        if content is None and draw(st.booleans()):
            extra["content"] = None
        name = draw(st.one_of(st.none(), NAME))
        results.append(ToolResult(call_id=draw(IDS), content=content, name=name, extra=extra))
    return Message(role="tool", blocks=tuple(results))


@st.composite
def c_conversation(draw: st.DrawFn, dialect: ReasoningDialect) -> Conversation:
    messages: list[Message] = []
    for _ in range(draw(st.integers(0, 5))):
        kinds = [c_simple(), c_assistant(dialect)]
        if not messages or messages[-1].role != "tool":
            kinds.append(c_tool_results())
        messages.append(draw(st.one_of(*kinds)))
    params: JSON = {}
    for name in ("model", "max_tokens", "temperature", "stop", "stream", "thinking", "reasoning_effort"):
        maybe(draw, params, name, JSON_VALUE)
    extra = dict(draw(UNKNOWN))
    if "max_tokens" in params and draw(st.booleans()):
        extra["max_completion_tokens"] = params["max_tokens"]
    tools = tuple(
        ToolSpec(
            name=draw(NAME),
            description=draw(st.one_of(st.none(), TEXT)),
            parameters=draw(st.one_of(st.none(), st.just({"type": "object"}))),
            extra=draw(UNKNOWN),
        )
        for _ in range(draw(st.integers(0, 2)))
    )
    choice = draw(
        st.one_of(
            st.none(),
            st.builds(
                ToolChoice,
                mode=st.sampled_from(["auto", "none", "required"]),
                parallel=st.one_of(st.none(), st.booleans()),
            ),
            st.builds(
                ToolChoice,
                mode=st.just("tool"),
                name=NAME,
                parallel=st.one_of(st.none(), st.booleans()),
                extra=UNKNOWN,
            ),
        )
    )
    if choice is None:
        maybe(draw, extra, "parallel_tool_calls", st.booleans())
    return Conversation(
        messages=tuple(messages), tools=tools, tool_choice=choice, params=params, extra=extra, source=FORMAT
    )


@st.composite
def c_response(draw: st.DrawFn, dialect: ReasoningDialect) -> Response:
    usage = draw(
        st.one_of(
            st.none(),
            st.builds(
                Usage,
                input_tokens=st.integers(0, 99),
                output_tokens=st.integers(0, 99),
                cache_read_tokens=st.one_of(st.none(), st.integers(0, 9)),
                reasoning_tokens=st.one_of(st.none(), st.integers(0, 9)),
                extra=st.just({"total_tokens": 5}),
            ),
        )
    )
    choice0: JSON = {"index": 0}
    maybe(draw, choice0, "logprobs", st.none())
    return Response(
        message=draw(c_assistant(dialect)),
        id=draw(st.one_of(st.none(), IDS)),
        model=draw(st.one_of(st.none(), NAME)),
        stop_reason=draw(
            st.sampled_from([None, "end_turn", "tool_use", "max_tokens", "content_filter", "eos"])
        ),
        usage=usage,
        extra={"object": "chat.completion", "choices": [choice0], **draw(UNKNOWN)},
        source=FORMAT,
    )


# ------------------------------------------------------------------------------- properties


@given(body=wire_request())
@FAST
def test_request_round_trips_exactly(body: JSON) -> None:
    assert encode_request(decode_request(copy.deepcopy(body))) == body


@given(body=wire_response())
@FAST
def test_response_round_trips_exactly(body: JSON) -> None:
    response = decode_response(copy.deepcopy(body))
    out = encode_response(response)
    assert out == body
    json.dumps(out)  # plain JSON throughout
    for sent, received in zip(_items(out), _items(body), strict=True):
        assert json.dumps(sent) == json.dumps(received)  # opaque items byte-exact, key order included


def _items(body: JSON) -> list[Any]:
    return [i for c in body["choices"] for i in (c["message"].get("reasoning_details") or [])]


@pytest.mark.parametrize("dialect", OPENAI_DIALECTS)
@given(data=st.data())
@FAST
def test_canonical_conversation_round_trips(dialect: ReasoningDialect, data: st.DataObject) -> None:
    conversation = data.draw(c_conversation(dialect))
    assert decode_request(encode_request(conversation)) == conversation
    assert decode_request(encode_request(conversation, dialect=dialect)) == conversation


@pytest.mark.parametrize("dialect", OPENAI_DIALECTS)
@given(data=st.data())
@FAST
def test_canonical_response_round_trips(dialect: ReasoningDialect, data: st.DataObject) -> None:
    response = data.draw(c_response(dialect))
    assert decode_response(encode_response(response)) == response
    assert decode_response(encode_response(response, dialect=dialect)) == response


@given(text=TAGGY)
@settings(max_examples=150, deadline=None)
def test_inline_content_round_trips_for_any_tag_soup(text: str) -> None:
    data = {"role": "assistant", "content": text}
    assert openai_chat.encode_message(decode_message_dict(data)) == [data]


@given(body=wire_response(stream=True), rnd=st.randoms(use_true_random=False))
@FAST
def test_stream_assembles_to_the_non_streamed_response(body: JSON, rnd: random.Random) -> None:
    payloads = stream_body(body, rnd)
    response, events = assemble(payloads)
    assert response == decode_response(body)
    check_events(events, response)
    # the same stream as raw SSE bytes, cut anywhere
    raw = sse_bytes(payloads)
    cuts = sorted(rnd.randint(0, len(raw)) for _ in range(rnd.randint(1, 8)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    assert assemble(sse_payloads(raw, pieces))[0] == response


@given(body=wire_response(), dialect=st.sampled_from([None, *OPENAI_DIALECTS]))
@example(  # an unclosed <think> before tool calls: the stream must not close it either
    body={
        "id": "0",
        "object": "chat.completion",
        "created": 0,
        "model": "A",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "<think>",
                    "tool_calls": [
                        {"id": "0", "type": "function", "function": {"name": "A", "arguments": "{}"}}
                    ],
                },
                "finish_reason": "stop",
            }
        ],
    },
    dialect=None,
)
@FAST
def test_stream_payloads_give_what_encode_response_gives(
    body: JSON, dialect: ReasoningDialect | None
) -> None:
    response = decode_response(body)
    expected = decode_response(encode_response(response, dialect=dialect))
    if response.stop_reason is None or any("content" not in c["message"] for c in body["choices"]):
        return  # a stream always carries content and ends with a finish_reason
    losses = Losses()
    streamed, events = assemble(stream_payloads(response, dialect, losses=losses))
    assert streamed == expected
    assert not [item for item in losses if "re-streaming" in item]
    check_events(events, streamed)


@given(data=st.data())
@FAST
def test_anthropic_replies_restream_in_every_dialect(data: st.DataObject) -> None:
    dialect = data.draw(st.sampled_from(OPENAI_DIALECTS))
    blocks: list[JSON] = []
    for _ in range(data.draw(st.integers(0, 4))):
        kind = data.draw(st.sampled_from(["thinking", "redacted_thinking", "text", "tool_use"]))
        if kind == "thinking":
            blocks.append({"type": "thinking", "thinking": data.draw(NO_TAGS), "signature": data.draw(IDS)})
        elif kind == "redacted_thinking":
            blocks.append({"type": "redacted_thinking", "data": data.draw(IDS)})
        elif kind == "text":
            blocks.append({"type": "text", "text": data.draw(NO_TAGS)})
        else:
            blocks.append(
                {"type": "tool_use", "id": data.draw(IDS), "name": data.draw(NAME), "input": {"a": 1}}
            )
    reply = anthropic.decode_response({**ANTHROPIC_REPLY, "content": blocks})
    expected = decode_response(encode_response(reply, dialect=dialect))
    streamed, _ = assemble(stream_payloads(reply, dialect))
    assert streamed == expected


# ------------------------------------------------------------------------------ malformed input

JUNK_KEYS = st.sampled_from(
    [
        "messages",
        "role",
        "content",
        "tool_calls",
        "function",
        "name",
        "arguments",
        "id",
        "type",
        "reasoning_details",
        "reasoning_content",
        "reasoning",
        "text",
        "index",
        "choices",
        "message",
        "delta",
        "finish_reason",
        "usage",
        "tools",
        "tool_choice",
        "image_url",
        "url",
        "tool_call_id",
        "parallel_tool_calls",
        "summary",
        "data",
        "signature",
        "prompt_tokens_details",
        "cached_tokens",
        "max_completion_tokens",
        "logprobs",
        "x_junk",
    ]
)
JUNK_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 3),
    st.sampled_from(
        [
            "",
            "assistant",
            "user",
            "tool",
            "system",
            "developer",
            "function",
            "text",
            "image_url",
            "reasoning.text",
            "reasoning.encrypted",
            "<think>a</think>b",
            "{}",
            "stop",
        ]
    ),
)
JUNK = st.recursive(
    JUNK_LEAF,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(JUNK_KEYS, inner, max_size=4)),
    max_leaves=25,
)


def mutate(value: Any, rnd: random.Random, junk: Callable[[], Any]) -> Any:
    """``value`` with one nested value replaced by junk or one key removed."""
    value = copy.deepcopy(value)
    containers: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict | list) and node:
            containers.append(node)
            for child in node.values() if isinstance(node, dict) else node:
                walk(child)

    walk(value)
    if not containers:
        return junk()
    target = rnd.choice(containers)
    key = rnd.choice(list(target)) if isinstance(target, dict) else rnd.randrange(len(target))
    if isinstance(target, dict) and rnd.random() < 0.3:
        del target[key]
    else:
        target[key] = junk()
    return value


@given(body=wire_request(), rnd=st.randoms(use_true_random=False), data=st.data())
@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_malformed_requests_raise_only_wire_format_errors(
    body: JSON, rnd: random.Random, data: st.DataObject
) -> None:
    broken = mutate(body, rnd, lambda: data.draw(JUNK))
    try:
        conversation = decode_request(broken)
    except WireFormatError:
        return
    encode_request(conversation)
    for dialect in OPENAI_DIALECTS:
        encode_request(conversation, dialect=dialect)


@given(body=wire_response(), rnd=st.randoms(use_true_random=False), data=st.data())
@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_malformed_responses_raise_only_wire_format_errors(
    body: JSON, rnd: random.Random, data: st.DataObject
) -> None:
    broken = mutate(body, rnd, lambda: data.draw(JUNK))
    try:
        response = decode_response(broken)
    except WireFormatError:
        return
    encode_response(response)
    stream_payloads(response, RD)


@given(body=wire_response(stream=True), rnd=st.randoms(use_true_random=False), data=st.data())
@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_malformed_chunks_raise_only_wire_errors(body: JSON, rnd: random.Random, data: st.DataObject) -> None:
    payloads = [p for p in stream_body(body, rnd) if p != "[DONE]"]
    payloads = mutate(payloads, rnd, lambda: data.draw(JUNK))
    with contextlib.suppress(WireFormatError, StreamIncompleteError):
        assemble(payloads)


@given(junk=JUNK)
@settings(max_examples=100, deadline=None)
def test_junk_raises_only_wire_format_errors(junk: Any) -> None:
    for decode in (decode_request, decode_response, openai_chat.decode_message):
        with contextlib.suppress(WireFormatError, StreamServerError):
            decode(junk)
    with contextlib.suppress(WireError):
        StreamAssembler().feed(junk)


@pytest.mark.parametrize(
    ("sent", "forwarded"),
    [
        ({"type": "adaptive"}, {"type": "enabled"}),
        ({"type": "adaptive", "display": "omitted"}, {"type": "enabled"}),
        ({"type": "enabled", "budget_tokens": 1024}, {"type": "enabled", "budget_tokens": 1024}),
        ({"type": "disabled"}, {"type": "disabled"}),
    ],
)
def test_anthropic_thinking_setting_becomes_the_one_chat_servers_know(
    sent: dict[str, Any], forwarded: dict[str, Any]
) -> None:
    """Claude Code, OpenCode, Qwen Code, Cline and pi send Anthropic's ``adaptive``; DeepSeek, Kimi and GLM
    read ``thinking.type`` as ``enabled`` or ``disabled``."""
    request = {
        "model": "m",
        "max_tokens": 9,
        "thinking": sent,
        "messages": [{"role": "user", "content": "q"}],
    }
    losses = Losses()
    body = encode_request(anthropic.decode_request(request), losses=losses)
    assert body["thinking"] == forwarded
    assert any("display" in item for item in losses.items) == ("display" in sent)
    # A Chat client's own setting is its business: it goes as it came.
    own = {"model": "m", "thinking": sent, "messages": [{"role": "user", "content": "q"}]}
    assert encode_request(decode_request(own))["thinking"] == sent
