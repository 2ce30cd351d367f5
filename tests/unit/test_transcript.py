"""The transcript model and its own JSON format (`--from transcript`)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings

from interleaf import transcript as tr
from interleaf.transcript import (
    Conversation,
    Image,
    Message,
    ReasoningDialect,
    RedactedThinking,
    Response,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    Usage,
)
from interleaf.wire import anthropic
from tests.unit.test_anthropic import request_bodies, response_bodies


def _through_json_text(value: dict[str, Any]) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False))


@settings(max_examples=100, deadline=None)
@given(request_bodies)
def test_conversation_json_round_trip(body: dict[str, Any]) -> None:
    conversation = anthropic.decode_request(body)
    data = _through_json_text(tr.conversation_to_json(conversation))
    assert tr.conversation_from_json(data) == conversation


@settings(max_examples=100, deadline=None)
@given(response_bodies)
def test_response_json_round_trip(body: dict[str, Any]) -> None:
    response = anthropic.decode_response(body)
    data = _through_json_text(tr.response_to_json(response))
    assert tr.response_from_json(data) == response


def test_every_block_kind_and_field_survives_json() -> None:
    item = {"type": "reasoning.text", "id": "r", "format": "MiniMax-response-v1", "index": 0, "text": "t"}
    message = Message(
        role="assistant",
        blocks=(
            Thinking(text="t", dialect=ReasoningDialect.REASONING_DETAILS, item=item),
            Thinking(text="", signature="", dialect=ReasoningDialect.ANTHROPIC),
            RedactedThinking(data="ENC", extra={"k": [1]}),
            Text(text="hi"),
            ToolCall(id="c", name="f", arguments={}, raw_arguments='{"a": '),
        ),
    )
    tool = Message(
        role="tool",
        blocks=(
            ToolResult(call_id="c", content=(Text(text="x"), Image(url="u")), is_error=False, name="f"),
            ToolResult(call_id="d"),
        ),
    )
    response = Response(
        message=message, usage=Usage(input_tokens=3, reasoning_tokens=0), stop_reason="tool_use"
    )
    assert tr.response_from_json(_through_json_text(tr.response_to_json(response))) == response
    conversation = Conversation(messages=(message, tool), params={"model": "m"})
    assert (
        tr.conversation_from_json(_through_json_text(tr.conversation_to_json(conversation))) == conversation
    )
    encoded = json.dumps(tr.conversation_to_json(conversation))
    assert (
        '"item": {"type": "reasoning.text", "id": "r", "format": "MiniMax-response-v1", "index": 0' in encoded
    )


def test_empty_and_missing_are_different() -> None:
    assert Thinking(text="", signature="") != Thinking(text="", signature=None)
    assert ToolResult(call_id="a", content="") != ToolResult(call_id="a")


def test_broken_tool_arguments_are_kept_and_explained() -> None:
    call = ToolCall(id="c", name="f", raw_arguments='{"path": "a.py"')
    assert call.arguments == {}
    assert call.arguments_json == '{"path": "a.py"'
    assert call.arguments_error is not None and "not valid JSON" in call.arguments_error
    assert ToolCall(id="c", name="f", raw_arguments="[1]").arguments_error == (
        "tool-call arguments must be a JSON object, got list"
    )
    assert ToolCall(id="c", name="f", raw_arguments="").arguments_error is None


def test_last_user_index_skips_tool_results() -> None:
    conversation = Conversation(
        messages=(
            Message(role="user", blocks=(Text(text="task"),)),
            Message(role="assistant", blocks=(ToolCall(id="a", name="f"),)),
            Message(role="tool", blocks=(ToolResult(call_id="a", content="ok"),)),
            Message(role="user", blocks=(ToolResult(call_id="b", content="mixed"),)),
        )
    )
    assert conversation.last_user_index == 0


def test_usage_adds_and_keeps_unknown_as_none() -> None:
    total = Usage(input_tokens=2) + Usage(input_tokens=3, output_tokens=1)
    assert (total.input_tokens, total.output_tokens, total.cache_read_tokens) == (5, 1, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "transcript: expected a JSON object"),
        ({"messages": []}, "missing 'interleaf_transcript'"),
        ({"interleaf_transcript": 1, "messages": [{"role": "bot"}]}, "messages[0].role: must be one of"),
        (
            {"interleaf_transcript": 1, "messages": [{"role": "user", "blocks": [{"type": "nope"}]}]},
            "messages[0].blocks[0]: unknown block type 'nope'",
        ),
        (
            {"interleaf_transcript": 1, "messages": [{"role": "user", "blocks": [{"type": "text"}]}]},
            "messages[0].blocks[0]:",
        ),
        (
            {"interleaf_transcript": 1, "messages": [{"role": "user", "colour": 1}]},
            "messages[0]: unknown field(s) colour",
        ),
    ],
)
def test_bad_transcripts_name_the_path(data: Any, message: str) -> None:
    with pytest.raises(tr.TranscriptFormatError) as info:
        tr.conversation_from_json(data)
    assert message in str(info.value)
