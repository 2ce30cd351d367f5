"""OpenAI Responses codec: golden requests and replies, the reasoning-item rules, cross-format, errors.

Round-trip properties over generated bodies and transcripts are in ``test_responses_properties.py``;
streams (assembly, re-streaming, the official SDK reading the encoder) in ``test_responses_stream.py``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from interleaf.transcript import (
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
)
from interleaf.wire import anthropic, openai_chat, responses
from interleaf.wire.errors import Losses, StreamServerError, WireFormatError
from interleaf.wire.responses import (
    FORMAT,
    PART_SOURCE,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from interleaf.wire.responses.common import MESSAGE_FIELDS

FIXTURES = Path(__file__).parent.parent / "fixtures"
RESPONSES = ReasoningDialect.RESPONSES
JSON = dict[str, Any]


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / "responses" / name).read_text(encoding="utf-8"))


def reasoning_items(items: list[Any]) -> list[str]:
    """Every reasoning item as JSON text: key order included, the byte-exactness the API needs."""
    return [json.dumps(item) for item in items if isinstance(item, dict) and item.get("type") == "reasoning"]


# ------------------------------------------------------------------------------ golden: requests


def test_codex_request_decodes_into_the_transcript_and_round_trips() -> None:
    body = fixture("codex_request.json")
    conversation = decode_request(copy.deepcopy(body))

    assert conversation.source == FORMAT
    assert conversation.system == (Text(text=body["instructions"]),) and conversation.system_plain
    assert conversation.params == {"model": "gpt-5.3-codex", "stream": True, "reasoning_effort": "medium"}
    assert conversation.extra == {
        "reasoning": {"summary": "auto"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "0fd3bc7d-5a84-4fc9-a248-c41d81dc482e",
        "text": {"verbosity": "low"},
    }
    roles = [m.role for m in conversation.messages]
    assert roles == [
        "system",
        "user",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
        "tool",
    ]
    developer = conversation.messages[0]
    assert developer.extra == {"role": "developer", "type": "message"}

    items = body["input"]
    first = conversation.messages[3]
    assert first.blocks == (
        Thinking(text=items[3]["summary"][0]["text"], dialect=RESPONSES, item=items[3]),
        ToolCall(
            id="call_h2Q8vNw1rT5yXb0cLm3KpZ7e",
            name="exec_command",
            arguments={
                "cmd": "python -m pytest -q tests/test_split.py",
                "workdir": "/home/dev/csvtool",
                "yield_time_ms": 10000,
            },
            raw_arguments=items[4]["arguments"],
        ),
    )
    assert conversation.messages[4].blocks == (
        ToolResult(call_id="call_h2Q8vNw1rT5yXb0cLm3KpZ7e", content=items[5]["output"]),
    )
    # A summary-less item with only its encrypted blob is redacted thinking carrying that blob.
    redacted = conversation.messages[5].blocks[0]
    assert redacted == RedactedThinking(data=items[6]["encrypted_content"], dialect=RESPONSES, item=items[6])
    # Two summary parts: one thinking block, its text the parts joined.
    thinking, text, patch = conversation.messages[7].blocks
    assert isinstance(thinking, Thinking)
    assert thinking.text == "\n\n".join(p["text"] for p in items[9]["summary"])
    assert text == Text(text=items[10]["content"][0]["text"])  # Codex's plain form: nothing recorded
    assert patch == Opaque(source=FORMAT, data=items[11])  # custom_tool_call kept whole, in place
    assert conversation.messages[8].blocks == (Opaque(source=FORMAT, data=items[12]),)

    web_search = ToolSpec(name="", extra=body["tools"][2])
    assert conversation.tools[0] == ToolSpec(
        name="exec_command",
        description="Runs a command in a PTY and returns its output.",
        parameters=body["tools"][0]["parameters"],
        extra={"strict": False},
    )
    assert conversation.tools[1] == ToolSpec(name="apply_patch", extra=body["tools"][1])
    assert conversation.tools[2] == web_search
    assert conversation.tool_choice == ToolChoice(mode="auto", parallel=False)

    out = encode_request(conversation)
    assert out == body
    assert reasoning_items(out["input"]) == reasoning_items(body["input"])


def test_agents_sdk_request_keeps_item_ids_and_output_fields() -> None:
    body = fixture("agents_sdk_request.json")
    conversation = decode_request(copy.deepcopy(body))
    items = body["input"]

    user, assistant, results, answer, follow_up = conversation.messages
    assert user == Message(role="user", blocks=(Text(text=items[0]["content"]),), plain=True)
    assert follow_up.plain and follow_up.text == items[6]["content"]
    reasoning, call = assistant.blocks
    assert reasoning == Thinking(text=items[1]["summary"][0]["text"], dialect=RESPONSES, item=items[1])
    assert call == ToolCall(
        id="call_3kQe7Rw0Yp2Lm9Tz5Vb1Nc8x",
        name="get_weather",
        arguments={"city": "Lisbon", "day": "tomorrow"},
        raw_arguments=items[2]["arguments"],
        extra={"id": items[2]["id"], "status": "completed"},
    )
    assert results.blocks == (
        ToolResult(call_id="call_3kQe7Rw0Yp2Lm9Tz5Vb1Nc8x", content=items[3]["output"]),
    )
    # No parts and no blob (store: true): reasoned, nothing to show; not the absence of thinking.
    empty, text = answer.blocks
    assert empty == Thinking(text="", dialect=RESPONSES, item=items[4])
    assert isinstance(text, Text) and text.text.startswith("Tomorrow in Lisbon")
    assert text.extra == {
        MESSAGE_FIELDS: {"id": items[5]["id"], "role": "assistant", "status": "completed", "type": "message"},
        "annotations": [],
        "logprobs": [],
    }
    assert conversation.params["max_tokens"] == 2048 and conversation.params["reasoning_effort"] == "low"
    assert conversation.params["metadata"] == body["metadata"]
    assert all(tool.extra == {"strict": True} for tool in conversation.tools)
    assert encode_request(conversation) == body


@pytest.mark.parametrize(
    ("body", "shape"),
    [
        ({"model": "m", "input": "hello"}, "text"),
        ({"model": "m", "input": [{"role": "user", "content": "hello"}]}, None),
        ({"model": "m", "previous_response_id": "resp_1"}, "absent"),
        ({"model": "m", "input": None}, "null"),
    ],
)
def test_input_shapes_round_trip(body: JSON, shape: str | None) -> None:
    conversation = decode_request(body)
    assert conversation.extra.get("interleaf:input") == shape
    if "input" in body and body["input"] is not None:
        assert conversation.messages == (Message(role="user", blocks=(Text(text="hello"),), plain=True),)
    assert encode_request(conversation) == body


def test_a_string_input_that_grew_goes_out_as_a_list() -> None:
    conversation = decode_request({"input": "hello"})
    grown = conversation.with_messages(
        [*conversation.messages, Message(role="user", blocks=(Text(text="more"),))]
    )
    assert encode_request(grown)["input"] == [
        {"role": "user", "content": "hello"},
        {"role": "user", "content": [{"type": "input_text", "text": "more"}]},
    ]


def test_user_parts_images_files_and_system_roles() -> None:
    body: JSON = {
        "input": [
            {"role": "system", "content": "sys"},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "look"},
                    {
                        "type": "input_image",
                        "image_url": "data:image/png;base64,iVBORw0KGgo=",
                        "detail": "high",
                    },
                    {"type": "input_image", "image_url": "https://img.test/cat.png", "detail": "auto"},
                    {"type": "input_image", "file_id": "file-abc", "detail": "low"},
                    {"type": "input_file", "file_id": "file-def", "filename": "notes.pdf"},
                ],
                "status": "completed",
            },
        ]
    }
    system, user = decode_request(body).messages
    parts = body["input"][1]["content"]
    assert isinstance(parts, list)
    assert system == Message(role="system", blocks=(Text(text="sys"),), plain=True)
    assert user.blocks == (
        Text(text="look"),
        Image(media_type="image/png", data="iVBORw0KGgo=", extra={"detail": "high"}),
        Image(url="https://img.test/cat.png", extra={"detail": "auto"}),
        Opaque(source=PART_SOURCE, data=parts[3]),
        Opaque(source=PART_SOURCE, data=parts[4]),
    )
    assert user.extra == {"type": "message", "status": "completed"}
    assert encode_request(decode_request(body)) == body


def test_tool_output_lists_and_files() -> None:
    parts = [
        {"type": "input_text", "text": "see"},
        {"type": "input_image", "image_url": "https://i.test/a.png", "detail": "auto"},
    ]
    with_file = [*parts, {"type": "input_file", "file_data": "JVBERi0=", "filename": "a.pdf"}]
    body = {
        "input": [
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": parts},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": with_file,
                "id": "fco_1",
                "status": "completed",
            },
        ]
    }
    _, results = decode_request(body).messages
    first, second = results.blocks
    assert first == ToolResult(
        call_id="c1", content=(Text(text="see"), Image(url="https://i.test/a.png", extra={"detail": "auto"}))
    )
    assert second == ToolResult(
        call_id="c2", content=None, extra={"id": "fco_1", "status": "completed", "output": with_file}
    )
    assert encode_request(decode_request(body)) == body


def test_tool_choices_and_parallel_tool_calls() -> None:
    named = decode_request({"tool_choice": {"type": "function", "name": "f"}, "parallel_tool_calls": False})
    assert named.tool_choice == ToolChoice(mode="tool", name="f", parallel=False)
    assert anthropic.encode_request(named)["tool_choice"] == {
        "type": "tool",
        "name": "f",
        "disable_parallel_tool_use": True,
    }
    for body in (
        {
            "tool_choice": {
                "type": "allowed_tools",
                "mode": "auto",
                "tools": [{"type": "function", "name": "f"}],
            }
        },
        {"tool_choice": {"type": "web_search_preview"}, "parallel_tool_calls": True},
        {"tool_choice": "any"},
        {"parallel_tool_calls": None},
    ):
        conversation = decode_request(body)
        assert conversation.tool_choice is None
        assert encode_request(conversation) == body


def test_reasoning_effort_is_portable_and_the_rest_of_reasoning_stays() -> None:
    conversation = decode_request({"reasoning": {"summary": "auto", "effort": "high"}})
    assert conversation.params == {"reasoning_effort": "high"}
    assert openai_chat.encode_request(conversation)["reasoning_effort"] == "high"
    assert decode_request({"reasoning": {"effort": None}}).extra["reasoning"] == {"effort": None}
    # another API's effort becomes a reasoning object; an OpenAI Chat budget its max_output_tokens
    chat = openai_chat.decode_request(
        {"messages": [], "reasoning_effort": "low", "max_completion_tokens": 300}
    )
    losses = Losses()
    body = encode_request(chat, losses=losses)
    assert body["reasoning"] == {"effort": "low"} and body["max_output_tokens"] == 300
    assert losses.items == ["openai-chat request fields max_completion_tokens have no Responses meaning"]


# ------------------------------------------------------------------------------- golden: replies


def test_summary_reply_joins_the_parts_and_keeps_the_item_byte_exact() -> None:
    body = fixture("reply_summary.json")
    response = decode_response(copy.deepcopy(body))
    thinking, text = response.message.blocks
    item = body["output"][0]
    assert thinking == Thinking(
        text="\n\n".join(p["text"] for p in item["summary"]), dialect=RESPONSES, item=item
    )
    assert isinstance(text, Text) and text.text == body["output"][1]["content"][0]["text"]
    assert response.stop_reason == "end_turn"
    assert (response.id, response.model) == (body["id"], body["model"])
    assert response.usage == Usage(
        input_tokens=41,
        output_tokens=286,
        cache_read_tokens=0,
        reasoning_tokens=192,
        extra={"total_tokens": 327},
    )
    assert "status" not in response.extra  # written back from the stop reason
    assert response.extra["instructions"] == body["instructions"]  # echoed request fields stay
    out = encode_response(response)
    assert out == body
    assert reasoning_items(out["output"]) == reasoning_items(body["output"])


def test_reasoning_text_reply_is_thinking_with_that_text() -> None:
    body = fixture("reply_reasoning_text.json")
    response = decode_response(copy.deepcopy(body))
    thinking, call = response.message.blocks
    assert isinstance(thinking, Thinking) and thinking.text == body["output"][0]["content"][0]["text"]
    assert isinstance(call, ToolCall) and call.id == "call_7e2b4f9a1c3d5e6f8a0b2c4d"
    assert call.arguments == {"command": ["du", "-sh", "/var/log"]}
    assert response.stop_reason == "tool_use"
    assert response.usage is not None and response.usage.reasoning_tokens == 31
    assert response.usage.extra["output_tokens_details"] == {
        "tool_output_tokens": 0,
        "output_tokens_per_turn": [],
        "tool_output_tokens_per_turn": [],
    }
    assert encode_response(response) == body


def test_parallel_calls_reply_with_encrypted_only_reasoning() -> None:
    body = fixture("reply_parallel_calls.json")
    response = decode_response(copy.deepcopy(body))
    redacted, first, second = response.message.blocks
    assert redacted == RedactedThinking(
        data=body["output"][0]["encrypted_content"], dialect=RESPONSES, item=body["output"][0]
    )
    assert [(c.id, c.name) for c in (first, second) if isinstance(c, ToolCall)] == [
        ("call_9363f65c627386b00b622953", "read_file"),
        ("call_534f1f1673e191c2d614c465", "git_log"),
    ]
    assert response.stop_reason == "tool_use"
    assert response.usage is not None and response.usage.cache_read_tokens == 512
    assert encode_response(response) == body


@pytest.mark.parametrize(
    ("status", "details", "stop", "kept"),
    [
        ("incomplete", {"reason": "max_output_tokens"}, "max_tokens", False),
        ("incomplete", {"reason": "content_filter"}, "content_filter", False),
        ("incomplete", {"reason": "max_messages"}, "max_messages", True),
        ("incomplete", None, None, True),
        ("in_progress", None, None, True),
        ("cancelled", None, None, True),
        ("completed", {"reason": "max_output_tokens"}, "end_turn", False),
    ],
)
def test_status_maps_to_a_stop_reason_and_round_trips(
    status: str, details: Any, stop: str | None, kept: bool
) -> None:
    body = {"id": "resp_1", "status": status, "incomplete_details": details, "output": []}
    response = decode_response(body)
    assert response.stop_reason == stop
    assert ("status" in response.extra) is kept
    assert encode_response(response) == body


@pytest.mark.parametrize(
    "body",
    [
        {
            "error": {
                "message": "Incorrect API key",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        },
        {
            "id": "resp_1",
            "object": "response",
            "status": "failed",
            "error": {"code": "server_error", "message": "boom"},
            "output": [],
        },
        {"id": "resp_1", "object": "response", "status": "failed", "error": None, "output": []},
    ],
)
def test_error_bodies_and_failed_responses_raise_server_errors(body: JSON) -> None:
    with pytest.raises(StreamServerError):
        decode_response(body)


# ------------------------------------------------------------------------- reasoning across APIs


def test_thinking_from_another_api_becomes_a_new_item_without_id_or_blob() -> None:
    message = Message(
        role="assistant",
        blocks=(
            Thinking(text="Check Paris first.", signature="EqQBCgIYAh==", dialect=ReasoningDialect.ANTHROPIC),
            RedactedThinking(data="EmwKAhgBEgy3", dialect=ReasoningDialect.ANTHROPIC),
            ToolCall(id="toolu_01", name="get_weather", arguments={"city": "Paris"}),
        ),
    )
    losses = Losses()
    body = encode_request(Conversation(messages=(message,), source="anthropic"), losses=losses)
    assert body["input"] == [
        {
            "type": "reasoning",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": "Check Paris first."}],
        },
        {
            "type": "function_call",
            "call_id": "toolu_01",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
    ]
    assert losses.items == [
        "messages[0].blocks[0]: thinking signature dropped: a Responses reasoning item cannot carry it",
        "messages[0].blocks[1]: redacted thinking dropped: a Responses reasoning item cannot carry another "
        "API's encrypted reasoning",
    ]
    # ... and it reads back as Responses thinking with the same text
    (back,) = decode_request(body).messages
    assert back.blocks[0] == Thinking(text="Check Paris first.", dialect=RESPONSES, item=body["input"][0])


def test_a_reasoning_details_item_keeps_its_text_and_reports_its_fields() -> None:
    chat = openai_chat.decode_request(
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": "ok",
                    "reasoning_details": [
                        {"type": "reasoning.text", "text": "plan", "id": "r1", "format": "x"}
                    ],
                }
            ]
        }
    )
    losses = Losses()
    body = encode_request(chat, losses=losses)
    assert body["input"][0]["content"] == [{"type": "reasoning_text", "text": "plan"}]
    assert (
        "messages[0].blocks[0]: reasoning_details item fields format, id have no Responses slot"
        in losses.items
    )


def test_responses_thinking_replays_its_item_whatever_the_conversation_came_from() -> None:
    item = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"}
    restored = Message(
        role="assistant",
        blocks=(RedactedThinking(data="gAAA", dialect=RESPONSES, item=item), Text(text="hi")),
    )
    body = encode_request(Conversation(messages=(restored,), source="openai-chat"))
    assert json.dumps(body["input"][0]) == json.dumps(item)


# ------------------------------------------------------------------------------- cross-format


def test_codex_request_to_anthropic_and_openai_chat_lists_what_cannot_go() -> None:
    conversation = decode_request(fixture("codex_request.json"))

    losses = Losses()
    claude = anthropic.encode_request(conversation, losses=losses)
    assistant = claude["messages"][2]
    assert [b["type"] for b in assistant["content"]] == ["thinking", "tool_use"]
    assert assistant["content"][0]["thinking"].startswith("**Running the failing test**")
    assert "signature" not in assistant["content"][0]  # nothing minted
    assert claude["messages"][3]["content"][0]["tool_use_id"] == assistant["content"][1]["id"]
    assert any("encrypted_content" in item for item in losses)
    assert any("custom_tool_call" in item for item in losses)

    losses = Losses()
    chat = openai_chat.encode_request(conversation, losses=losses)
    first = next(m for m in chat["messages"] if m["role"] == "assistant")
    assert first["reasoning_content"].startswith("**Running the failing test**")
    assert first["tool_calls"][0]["id"] == "call_h2Q8vNw1rT5yXb0cLm3KpZ7e"
    assert any("encrypted_content" in item and "reasoning_content" in item for item in losses)

    # back from OpenAI Chat: the thinking text and the calls survive, as new reasoning items
    back = decode_request(encode_request(openai_chat.decode_request(chat)))
    thinking = [b for m in back.messages for b in m.blocks if isinstance(b, Thinking)]
    original = [b for m in conversation.messages for b in m.blocks if isinstance(b, Thinking)]
    assert [b.text for b in thinking] == [b.text for b in original]
    assert all(b.item is not None and "encrypted_content" not in b.item for b in thinking)


def test_anthropic_tool_loop_to_responses_and_back() -> None:
    body = json.loads((FIXTURES / "anthropic" / "thinking_tools.json").read_text(encoding="utf-8"))
    reply = anthropic.decode_response(body)
    history = anthropic.decode_request(
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 2048,
            "system": "Be brief.",
            "messages": [
                {"role": "user", "content": "Weather in Paris and NYC?"},
                {"role": "assistant", "content": body["content"]},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": c["id"], "content": "15°C", "is_error": False}
                        for c in body["content"]
                        if c["type"] == "tool_use"
                    ],
                },
            ],
        }
    )
    losses = Losses()
    out = encode_request(history, losses=losses)
    assert out["instructions"] == "Be brief." and out["max_output_tokens"] == 2048
    kinds = [item.get("type", item.get("role")) for item in out["input"]]
    assert kinds[0] == "user" and kinds.count("function_call_output") == 2
    assert sum("signature dropped" in item for item in losses) == len(reply.message.thinking)
    assert sum("is_error" in item for item in losses) == 2
    back = decode_request(out)
    assert [b.text for b in back.messages[1].thinking if isinstance(b, Thinking)] == [
        b.text for b in reply.message.thinking if isinstance(b, Thinking)
    ]
    assert [c.id for c in back.messages[1].tool_calls] == [c.id for c in reply.message.tool_calls]
    assert [r.call_id for r in back.messages[2].tool_results] == [c.id for c in reply.message.tool_calls]


def test_a_reply_from_another_api_gets_what_responses_clients_read() -> None:
    body = json.loads((FIXTURES / "anthropic" / "thinking_tools.json").read_text(encoding="utf-8"))
    reply = anthropic.decode_response(body)
    losses = Losses()
    out = encode_response(reply, losses=losses)
    assert out["object"] == "response" and out["status"] == "completed" and out["error"] is None
    assert out["id"] == body["id"]
    usage = body["usage"]
    assert out["usage"] == {
        "input_tokens": usage["input_tokens"],
        "output_tokens": usage["output_tokens"],
        "input_tokens_details": {
            "cached_tokens": usage["cache_read_input_tokens"],
            "cache_write_tokens": usage["cache_creation_input_tokens"],
        },
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage["input_tokens"] + usage["output_tokens"],
    }
    messages = [item for item in out["output"] if item["type"] == "message"]
    assert all(m["id"].startswith("msg_") and m["status"] == "completed" for m in messages)
    assert all(p["annotations"] == [] for m in messages for p in m["content"])
    calls = [item for item in out["output"] if item["type"] == "function_call"]
    assert [c["call_id"] for c in calls] == [c.id for c in reply.message.tool_calls]
    back = decode_response(out)
    assert back.stop_reason == "tool_use"
    assert [b.text for b in back.message.thinking if isinstance(b, Thinking)] == [
        b.text for b in reply.message.thinking if isinstance(b, Thinking)
    ]
    assert any("signature" in item for item in losses)


def test_max_tokens_from_another_api_is_an_incomplete_response() -> None:
    reply = Response(
        message=Message(role="assistant", blocks=(Text(text="cut"),)),
        stop_reason="max_tokens",
        source="openai-chat",
    )
    out = encode_response(reply)
    assert (out["status"], out["incomplete_details"]) == ("incomplete", {"reason": "max_output_tokens"})
    assert decode_response(out).stop_reason == "max_tokens"


def test_foreign_tools_become_function_tools_without_strict_mode() -> None:
    chat = openai_chat.decode_request(
        {
            "messages": [],
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "a", "parameters": {"type": "object"}, "strict": True},
                },
                {"type": "function", "function": {"name": "b", "description": "B"}},
                {"type": "custom", "custom": {"name": "grammar"}},
            ],
        }
    )
    losses = Losses()
    assert encode_request(chat, losses=losses)["tools"] == [
        {"type": "function", "name": "a", "parameters": {"type": "object"}, "strict": True},
        {
            "type": "function",
            "name": "b",
            "description": "B",
            "parameters": {"type": "object", "properties": {}},
            "strict": False,
        },
    ]
    assert losses.items == ["tools[2]: tool 'grammar' of type 'custom' has no Responses form"]


# ------------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"input": 5}, "input"),
        ({"input": [3]}, "input[0]"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"input": [{"role": "user"}]}, "input[0].content"),
        ({"input": [{"role": "user", "content": 5}]}, "input[0].content"),
        ({"input": [{"role": "user", "content": [{"type": "input_text"}]}]}, "input[0].content[0].text"),
        ({"input": [{"role": "user", "content": [{"text": "x"}]}]}, "input[0].content[0].type"),
        ({"input": [{"type": 7}]}, "input[0].type"),
        ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
        ({"input": [{"type": "function_call", "call_id": "c", "arguments": "{}"}]}, "input[0].name"),
        ({"input": [{"type": "function_call", "call_id": "c", "name": "f"}]}, "input[0].arguments"),
        (
            {"input": [{"type": "message", "role": "assistant", "content": [{"type": "output_text"}]}]},
            "input[0].content[0].text",
        ),
        ({"input": [{"type": "message", "role": "assistant", "content": [7]}]}, "input[0].content[0]"),
        ({"tools": {"type": "function"}}, "tools"),
        ({"tools": [{"type": "function"}]}, "tools[0].name"),
        ({"tools": [{"name": "f"}]}, "tools[0].type"),
        ({"tool_choice": {"type": "function"}}, "tool_choice.name"),
        ({"tool_choice": 3}, "tool_choice"),
    ],
)
def test_malformed_requests_name_the_path(body: JSON, path: str) -> None:
    with pytest.raises(WireFormatError) as caught:
        decode_request(body)
    assert caught.value.path == path


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"output": {}}, "output"),
        ({}, "output"),
        ({"output": ["x"]}, "output[0]"),
        (
            {"output": [{"type": "function_call", "call_id": "c", "name": 3, "arguments": ""}]},
            "output[0].name",
        ),
        ({"output": [], "usage": {"input_tokens": 1}, "x": 1, "id": "r"}, None),
    ],
)
def test_malformed_responses_name_the_path(body: JSON, path: str | None) -> None:
    if path is None:
        assert encode_response(decode_response(body)) == body
        return
    with pytest.raises(WireFormatError) as caught:
        decode_response(body)
    assert caught.value.path == path


def test_public_api() -> None:
    assert set(responses.__all__) == {
        "FORMAT",
        "PART_SOURCE",
        "StreamAssembler",
        "StreamEncoder",
        "decode_request",
        "decode_response",
        "decode_usage",
        "encode_request",
        "encode_response",
        "encode_usage",
        "response_events",
        "stream_payloads",
    }


def test_a_responses_request_translates_without_its_own_fields_or_blobs() -> None:
    """Responses -> Chat / Anthropic: no Responses-only field, marker or tool reaches the other API, and
    an encrypted reasoning blob (OpenAI's) never goes to Anthropic; each is a reported loss."""
    body = json.loads((FIXTURES / "responses" / "codex_request.json").read_text())
    conversation = responses.decode_request(body)

    def to_chat(c: Conversation, losses: Losses) -> dict[str, Any]:
        return openai_chat.encode_request(c, dialect=ReasoningDialect.REASONING_CONTENT, losses=losses)

    def to_anthropic(c: Conversation, losses: Losses) -> dict[str, Any]:
        return anthropic.encode_request(c, losses=losses)

    for encode in (to_chat, to_anthropic):
        losses = Losses()
        encoded = json.dumps(encode(conversation, losses))
        assert "interleaf:" not in encoded
        assert '"status"' not in encoded
        assert "encrypted_content" not in encoded
        assert len(losses) > 0
    anthropic_body = anthropic.encode_request(conversation)
    assert "redacted_thinking" not in json.dumps(anthropic_body)
