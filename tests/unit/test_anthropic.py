"""Anthropic Messages codec: lossless round trips, stream assembly at every split, clear errors."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interleaf.transcript import (
    Conversation,
    Message,
    Opaque,
    ReasoningDialect,
    RedactedThinking,
    Response,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
)
from interleaf.wire import anthropic, openai_chat
from interleaf.wire.errors import Losses, StreamIncompleteError, StreamServerError, WireFormatError
from interleaf.wire.events import BlockDelta, BlockEnd, BlockStart, MessageEnd, MessageStart
from interleaf.wire.stream import SSEDecoder, encode_sse

FIXTURES = Path(__file__).parent.parent / "fixtures" / "anthropic"

# ------------------------------------------------------------------------------------------ strategies

texts = st.text(max_size=40)
ids = st.from_regex(r"toolu_[A-Za-z0-9]{4,12}", fullmatch=True)
signatures = st.from_regex(r"[A-Za-z0-9+/]{8,60}={0,2}", fullmatch=True)
json_scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=10)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
unknown_keys = st.dictionaries(st.from_regex(r"x_[a-z]{1,6}", fullmatch=True), json_values, max_size=2)
cache_control = st.just({"type": "ephemeral"})


def _with_extra(block: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda b, extra: {**b, **extra}, block, unknown_keys)


text_block = _with_extra(st.builds(lambda t: {"type": "text", "text": t}, texts))
thinking_block = _with_extra(
    st.builds(lambda t, s: {"type": "thinking", "thinking": t, "signature": s}, texts, signatures)
    | st.builds(lambda t: {"type": "thinking", "thinking": t}, texts)
)
redacted_block = st.builds(lambda d: {"type": "redacted_thinking", "data": d}, signatures)
tool_use_block = _with_extra(
    st.builds(
        lambda i, n, a: {"type": "tool_use", "id": i, "name": n, "input": a},
        ids,
        st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
        st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    )
)
image_block = st.builds(
    lambda d: {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": d}},
    signatures,
) | st.builds(lambda u: {"type": "image", "source": {"type": "url", "url": f"https://e.x/{u}.png"}}, texts)
document_block = st.builds(
    lambda d: {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": d}}, texts
)
tool_result_block = _with_extra(
    st.builds(
        lambda i, c, e: {"type": "tool_result", "tool_use_id": i, "content": c, **e},
        ids,
        texts | st.lists(text_block | image_block, max_size=3),
        st.just({}) | st.builds(lambda b: {"is_error": b}, st.booleans()),
    )
)

assistant_message = st.builds(
    lambda blocks, extra: {"role": "assistant", "content": blocks, **extra},
    st.lists(thinking_block | redacted_block | text_block | tool_use_block, min_size=1, max_size=5),
    st.just({}),
)
user_message = st.builds(
    lambda content: {"role": "user", "content": content},
    texts | st.lists(text_block | image_block | tool_result_block | document_block, min_size=1, max_size=4),
)
# Claude Code's mid-conversation system messages (its `mid-conversation-system` beta) stand among the turns.
system_message = st.builds(
    lambda content: {"role": "system", "content": content},
    texts
    | st.lists(_with_extra(st.builds(lambda t: {"type": "text", "text": t}, texts)), min_size=1, max_size=2),
)
request_bodies = st.builds(
    lambda messages, system, extra, thinking: {
        "model": "claude-sonnet-4-5",
        "max_tokens": 2048,
        **system,
        "messages": messages,
        "tools": [{"name": "get_weather", "description": "d", "input_schema": {"type": "object"}}],
        **thinking,
        **extra,
    },
    st.lists(user_message | assistant_message | system_message, min_size=1, max_size=6),
    st.just({})
    | st.builds(lambda t: {"system": t}, texts)
    | st.builds(
        lambda t: {"system": [{"type": "text", "text": t, "cache_control": {"type": "ephemeral"}}]}, texts
    ),
    unknown_keys,
    st.just({})
    | st.just({"thinking": {"type": "enabled", "budget_tokens": 1024}})
    | st.just(
        {
            "thinking": {"type": "adaptive"},
            "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        }
    ),
)
response_bodies = st.builds(
    lambda content, stop, usage: {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    },
    st.lists(thinking_block | redacted_block | text_block | tool_use_block, max_size=6),
    st.sampled_from(["end_turn", "tool_use", "max_tokens"]),
    st.fixed_dictionaries(
        {"input_tokens": st.integers(0, 10**6), "output_tokens": st.integers(0, 10**6)},
        optional={
            "cache_read_input_tokens": st.integers(0, 10) | st.none(),
            "service_tier": st.just("standard"),
        },
    ),
)


def canonical(value: Any) -> str:
    """Byte-level comparison that ignores only dict key order."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


# ------------------------------------------------------------------------------------------ round trips


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request_bodies)
def test_request_wire_round_trip_is_identity(body: dict[str, Any]) -> None:
    conversation = anthropic.decode_request(body)
    losses = Losses()
    assert canonical(anthropic.encode_request(conversation, losses=losses)) == canonical(body)
    assert not losses


@settings(max_examples=150, deadline=None)
@given(request_bodies)
def test_transcript_round_trip_is_identity(body: dict[str, Any]) -> None:
    conversation = anthropic.decode_request(body)
    assert anthropic.decode_request(anthropic.encode_request(conversation)) == conversation


@settings(max_examples=150, deadline=None)
@given(response_bodies)
def test_response_round_trip_keeps_signatures_byte_exact(body: dict[str, Any]) -> None:
    response = anthropic.decode_response(body)
    assert canonical(anthropic.encode_response(response)) == canonical(body)
    wire_signatures = [b.get("signature") for b in body["content"] if b["type"] == "thinking"]
    decoded = [b.signature for b in response.message.blocks if isinstance(b, Thinking)]
    assert decoded == wire_signatures
    assert anthropic.decode_response(anthropic.encode_response(response)) == response


def test_decoded_blocks_keep_order_dialect_and_unknown_fields() -> None:
    body = {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "a", "signature": "S1"},
            {"type": "redacted_thinking", "data": "ENC"},
            {"type": "text", "text": "hi", "citations": [{"cited_text": "x"}]},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {"q": 1}, "caller": {"type": "direct"}},
            {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {}},
        ],
    }
    message = anthropic.decode_message(body)
    assert [b.kind for b in message.blocks] == [
        "thinking",
        "redacted_thinking",
        "text",
        "tool_call",
        "opaque",
    ]
    thinking = message.blocks[0]
    assert isinstance(thinking, Thinking)
    assert (thinking.signature, thinking.dialect) == ("S1", ReasoningDialect.ANTHROPIC)
    assert isinstance(message.blocks[1], RedactedThinking) and message.blocks[1].data == "ENC"
    text_block, call = message.blocks[2], message.blocks[3]
    assert isinstance(text_block, Text)
    assert isinstance(call, ToolCall)
    assert text_block.extra == {"citations": [{"cited_text": "x"}]}
    assert call.extra == {"caller": {"type": "direct"}}
    assert isinstance(message.blocks[4], Opaque)
    assert anthropic.encode_message(message) == body


def test_signature_only_thinking_is_kept_not_treated_as_empty() -> None:
    """display: omitted returns empty thinking with a valid signature; dropping it causes a 400."""
    body = {"role": "assistant", "content": [{"type": "thinking", "thinking": "", "signature": "SIG"}]}
    message = anthropic.decode_message(body)
    assert message.blocks == (Thinking(text="", signature="SIG", dialect=ReasoningDialect.ANTHROPIC),)
    assert anthropic.encode_message(message) == body


def test_user_message_of_tool_results_becomes_a_tool_message() -> None:
    body = {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "a", "content": "1"},
            {"type": "tool_result", "tool_use_id": "b", "content": "2", "is_error": True},
        ],
    }
    message = anthropic.decode_message(body)
    assert message.role == "tool"
    assert [r.call_id for r in message.tool_results] == ["a", "b"]
    assert message.tool_results[1].is_error is True
    assert anthropic.encode_message(message) == body


def test_leading_system_messages_from_other_formats_join_the_system_field() -> None:
    conversation = Conversation(
        messages=(
            Message(role="system", blocks=(Text(text="be brief"),)),
            Message(role="user", blocks=(Text(text="hi"),), plain=True),
            Message(role="system", blocks=(Text(text="late"),)),
        ),
        params={"model": "m", "max_tokens": 10},
    )
    losses = Losses()
    body = anthropic.encode_request(conversation, losses=losses)
    assert body["system"] == "be brief"
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert [str(x) for x in losses] == [
        "messages[2]: a system message after the start has no place in Anthropic Messages"
    ]


def test_system_messages_among_the_turns_stay_in_place_and_translate_to_openai_in_place() -> None:
    body = {
        "model": "m",
        "max_tokens": 10,
        "system": [{"type": "text", "text": "base"}],
        "messages": [
            {"role": "system", "content": "first note"},
            {"role": "user", "content": "hi"},
            {
                "role": "system",
                "content": [{"type": "text", "text": "late note", "cache_control": {"type": "ephemeral"}}],
            },
            {"role": "user", "content": "go"},
        ],
    }
    conversation = anthropic.decode_request(body)
    assert [m.role for m in conversation.messages] == ["system", "user", "system", "user"]
    assert anthropic.encode_request(conversation) == body  # not folded into the top-level system
    losses = Losses()
    chat = openai_chat.encode_request(conversation, losses=losses)
    assert [m["role"] for m in chat["messages"]] == ["system", "system", "user", "system", "user"]
    assert chat["messages"][3]["content"] == "late note"  # Anthropic's cache_control stays behind
    assert any("cache_control" in str(loss) for loss in losses)


@pytest.mark.parametrize("tools", [5, "x", {"name": "t"}, True])
def test_tools_that_are_not_a_list_are_a_wire_error(tools: Any) -> None:
    with pytest.raises(WireFormatError, match="tools: expected a list"):
        anthropic.decode_request({"messages": [], "tools": tools})


def test_foreign_fields_are_reported_not_sent() -> None:
    conversation = Conversation(
        messages=(Message(role="user", blocks=(Text(text="hi"),), plain=True),),
        extra={"reasoning_split": True},
        source="openai-chat",
    )
    losses = Losses()
    body = anthropic.encode_request(conversation, losses=losses)
    assert "reasoning_split" not in body
    assert "reasoning_split" in " ".join(losses)


def test_reasoning_details_thinking_keeps_text_and_signature_and_reports_item_fields() -> None:
    item = {
        "type": "reasoning.text",
        "id": "r1",
        "format": "anthropic-claude-v1",
        "text": "t",
        "signature": "S",
    }
    block = Thinking(text="t", signature="S", dialect=ReasoningDialect.REASONING_DETAILS, item=item)
    losses = Losses()
    assert anthropic.encode_block(block, "content[0]", losses) == {
        "type": "thinking",
        "thinking": "t",
        "signature": "S",
    }
    assert "format, id" in " ".join(losses)


# ------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "messages: required field is missing"),
        ({"messages": {}}, "messages: expected list, got dict"),
        (
            {"messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role: must be 'user', 'assistant' or 'system'",
        ),
        ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content: expected a string or a list"),
        (
            {"messages": [{"role": "user", "content": [{"text": "x"}]}]},
            "messages[0].content[0].type: required",
        ),
        (
            {"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "x", "name": "f"}]}]},
            "messages[0].content[0].input: required field is missing",
        ),
        ({"messages": [], "system": 5}, "system: expected a string or a list of text blocks"),
        ({"messages": [], "tool_choice": {"type": "maybe"}}, "tool_choice.type: unknown tool_choice 'maybe'"),
    ],
)
def test_malformed_requests_name_the_bad_path(body: dict[str, Any], message: str) -> None:
    with pytest.raises(WireFormatError) as info:
        anthropic.decode_request(body)
    assert str(info.value).startswith(message)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_junk_never_escapes_as_anything_but_a_wire_error(junk: Any) -> None:
    for decode in (anthropic.decode_request, anthropic.decode_response):
        with contextlib.suppress(WireFormatError):
            decode(junk)
        with contextlib.suppress(WireFormatError):
            decode({"messages": [junk], "content": [junk]})


def test_error_body_raises_server_error() -> None:
    with pytest.raises(StreamServerError, match="overloaded_error"):
        anthropic.decode_response({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})


# ------------------------------------------------------------------------------------------ streams


def _assemble(chunks: list[bytes]) -> tuple[Response, list[Any]]:
    decoder = SSEDecoder()
    assembler = anthropic.StreamAssembler()
    events: list[Any] = []
    for chunk in chunks:
        for sse in decoder.feed(chunk):
            events.extend(assembler.feed(json.loads(sse.data)))
    for sse in decoder.flush():
        events.extend(assembler.feed(json.loads(sse.data)))
    return assembler.finish(), events


def test_recorded_stream_assembles_to_the_non_streamed_response_at_every_split() -> None:
    raw = (FIXTURES / "thinking_tools.sse").read_bytes()
    expected = anthropic.decode_response(json.loads((FIXTURES / "thinking_tools.json").read_text()))
    for split in range(len(raw) + 1):
        response, _ = _assemble([raw[:split], raw[split:]])
        assert response == expected, f"split at byte {split}"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 4000), max_size=12))
def test_recorded_stream_assembles_identically_for_any_chunking(cuts: list[int]) -> None:
    raw = (FIXTURES / "thinking_tools.sse").read_bytes()
    points = sorted({c % (len(raw) + 1) for c in cuts})
    chunks = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    expected = anthropic.decode_response(json.loads((FIXTURES / "thinking_tools.json").read_text()))
    assert _assemble(chunks)[0] == expected


def test_stream_events_show_blocks_as_they_arrive_and_signature_only_at_the_end() -> None:
    response, events = _assemble([(FIXTURES / "thinking_tools.sse").read_bytes()])
    assert isinstance(events[0], MessageStart) and events[0].id == "msg_01XyZ"
    assert events[1] == BlockStart(0, "thinking")
    assert events[2] == BlockDelta(0, "The user is asking for")
    ends = [e for e in events if isinstance(e, BlockEnd)]
    assert [e.index for e in ends] == [0, 1, 2, 3, 4]
    first = ends[0].block
    assert isinstance(first, Thinking) and first.signature is not None and first.signature.startswith("EqQB")
    assert isinstance(events[-1], MessageEnd) and events[-1].response == response
    calls = response.message.tool_calls
    assert [c.arguments for c in calls] == [
        {"location": "Paris", "days": 2},
        {"location": "New York", "days": 2},
    ]


def test_stream_cut_before_message_stop_is_incomplete() -> None:
    raw = (FIXTURES / "thinking_tools.sse").read_bytes()
    cut = raw[: raw.index(b"event: message_delta")]
    decoder = SSEDecoder()
    assembler = anthropic.StreamAssembler()
    for sse in decoder.feed(cut):
        assembler.feed(json.loads(sse.data))
    with pytest.raises(StreamIncompleteError, match="before message_stop"):
        assembler.finish()


def test_error_event_mid_stream_raises() -> None:
    assembler = anthropic.StreamAssembler()
    assembler.feed({"type": "message_start", "message": {"id": "m", "content": []}})
    with pytest.raises(StreamServerError, match="Overloaded"):
        assembler.feed({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})


def _block_stream(deltas: list[dict[str, Any]], start: dict[str, Any]) -> anthropic.StreamAssembler:
    assembler = anthropic.StreamAssembler()
    assembler.feed({"type": "message_start", "message": {"id": "m", "content": []}})
    assembler.feed({"type": "content_block_start", "index": 0, "content_block": start})
    for delta in deltas:
        assembler.feed({"type": "content_block_delta", "index": 0, "delta": delta})
    return assembler


def test_a_long_block_keeps_its_start_text_and_every_delta_in_order() -> None:
    pieces = [f"step {n}; " for n in range(20_000)]
    deltas: list[dict[str, Any]] = [{"type": "thinking_delta", "thinking": p} for p in pieces]
    deltas += [
        {"type": "signature_delta", "signature": "c2ln"},
        {"type": "signature_delta", "signature": "Zw=="},
    ]
    assembler = _block_stream(deltas, {"type": "thinking", "thinking": "Plan: ", "signature": None})
    (end,) = assembler.feed({"type": "content_block_stop", "index": 0})
    assert isinstance(end, BlockEnd)
    assert end.block == Thinking(
        text="Plan: " + "".join(pieces), signature="c2lnZw==", dialect=ReasoningDialect.ANTHROPIC
    )


@pytest.mark.parametrize(
    ("start", "delta", "where"),
    [
        ({"type": "text", "text": ""}, {"type": "text_delta", "text": None}, "delta.text"),
        ({"type": "thinking", "thinking": ""}, {"type": "thinking_delta", "thinking": 7}, "delta.thinking"),
        (
            {"type": "thinking", "thinking": ["x"]},
            {"type": "thinking_delta", "thinking": "a"},
            "content_block.thinking",
        ),
    ],
)
def test_a_delta_that_is_not_text_is_a_format_error_naming_the_field(
    start: dict[str, Any], delta: dict[str, Any], where: str
) -> None:
    with pytest.raises(WireFormatError, match=where):
        _block_stream([delta], start)


def _without_block_extras(response: Response) -> Response:
    blocks = tuple(replace(b, extra={}) if not isinstance(b, Opaque) else b for b in response.message.blocks)
    return replace(response, message=response.message.with_blocks(blocks))


@settings(max_examples=100, deadline=None)
@given(response_bodies)
def test_stream_encoder_output_reassembles_to_the_same_response(body: dict[str, Any]) -> None:
    """Re-streaming is for replies from another format, so block-level vendor fields (which belong to
    the source format) are not streamed; same-format streams pass through the gateway as raw bytes."""
    response = _without_block_extras(anthropic.decode_response(body))
    sse = b"".join(encode_sse(json.dumps(p), p["type"]) for p in anthropic.stream_payloads(response))
    assembled, _ = _assemble([sse])
    assert anthropic.encode_response(assembled) == anthropic.encode_response(response)
    assert assembled.message.blocks == response.message.blocks


def test_cross_format_blocks_stream_as_anthropic() -> None:
    """A reply from an OpenAI-dialect upstream re-streamed to an Anthropic client."""
    response = Response(
        message=Message(
            role="assistant",
            blocks=(
                Thinking(text="plan", dialect=ReasoningDialect.REASONING_CONTENT),
                Text(text="ok"),
                ToolCall(id="call_1", name="f", arguments={"a": 1}, raw_arguments='{"a": 1}'),
            ),
        ),
        id="chatcmpl-1",
        model="m",
        stop_reason="tool_use",
    )
    assembled, _ = _assemble(
        [b"".join(encode_sse(json.dumps(p), p["type"]) for p in anthropic.stream_payloads(response))]
    )
    assert anthropic.encode_response(assembled)["content"] == [
        {"type": "thinking", "thinking": "plan"},
        {"type": "text", "text": "ok"},
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
    ]


def test_openai_encrypted_reasoning_is_left_out_of_the_stream_and_the_indices_run_on() -> None:
    """An OpenAI reasoning item with no summary (only its encrypted blob) cannot be an Anthropic block:
    a whole reply leaves it out, and so must a stream, without a gap in the indices the SDKs count on.
    It used to go out as ``"content_block": null``, which the anthropic SDK fails on."""
    item = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAB"}
    response = Response(
        message=Message(
            role="assistant",
            blocks=(
                RedactedThinking(data="gAAAAB", dialect=ReasoningDialect.RESPONSES, item=item),
                Text(text="ok"),
                ToolCall(id="call_1", name="f", arguments={"a": 1}, raw_arguments='{"a": 1}'),
            ),
        ),
        model="gpt-5",
        stop_reason="tool_use",
    )
    payloads = anthropic.stream_payloads(response)
    starts = [p for p in payloads if p["type"] == "content_block_start"]
    assert [(p["index"], p["content_block"]["type"]) for p in starts] == [(0, "text"), (1, "tool_use")]
    indexed = [p["index"] for p in payloads if "index" in p]
    assert set(indexed) == {0, 1}
    assembled, _ = _assemble([b"".join(encode_sse(json.dumps(p), p["type"]) for p in payloads)])
    assert anthropic.encode_response(assembled)["content"] == anthropic.encode_response(response)["content"]


def test_tool_result_with_list_content_and_images_round_trips() -> None:
    block = {
        "type": "tool_result",
        "tool_use_id": "t",
        "content": [
            {"type": "text", "text": "see"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
        ],
    }
    decoded = anthropic.decode_block(block)
    assert isinstance(decoded, ToolResult) and decoded.text == "see"
    assert anthropic.encode_block(decoded) == block


def test_fields_from_another_format_are_reported_not_sent() -> None:
    """An OpenAI-origin conversation must not leak OpenAI vendor fields into an Anthropic request."""
    from interleaf.wire import openai_chat

    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": "",
                "refusal": None,
                "reasoning_content": "think",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": "{}"},
                        "extra_content": {"google": {"thought_signature": "x"}},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
        ],
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}}
        ],
    }
    losses = Losses()
    encoded = anthropic.encode_request(openai_chat.decode_request(body), losses=losses)
    assert encoded["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "think"},
            {"type": "tool_use", "id": "call_1", "name": "f", "input": {}},
        ],
    }
    assert encoded["tools"] == [{"name": "f", "input_schema": {"type": "object"}}]
    reported = " ".join(losses)
    assert "extra_content" in reported
    assert "function" in reported
