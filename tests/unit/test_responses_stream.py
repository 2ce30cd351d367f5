"""Responses streams: recorded streams assemble to the whole-body decode at every split point, the
encoder's streams assemble back, and the official ``openai`` SDK accepts what the encoder serves."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interleaf.transcript import (
    ReasoningDialect,
    RedactedThinking,
    Response,
    Text,
    Thinking,
    ToolCall,
)
from interleaf.wire import anthropic, openai_chat
from interleaf.wire.errors import Losses, StreamIncompleteError, StreamServerError, WireFormatError
from interleaf.wire.events import BlockDelta, BlockEnd, BlockStart, MessageEnd, MessageStart, StreamEvent
from interleaf.wire.responses import (
    StreamAssembler,
    StreamEncoder,
    decode_response,
    encode_response,
    stream_payloads,
)
from interleaf.wire.stream import SSEDecoder, encode_sse
from tests.support.scripted_server import ScriptedServer, Step

FIXTURES = Path(__file__).parent.parent / "fixtures"
REPLIES = ("reply_summary", "reply_reasoning_text", "reply_parallel_calls")
JSON = dict[str, Any]


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / "responses" / f"{name}.json").read_text(encoding="utf-8"))


def recorded(name: str) -> bytes:
    return (FIXTURES / "responses" / f"{name}.sse").read_bytes()


def sse_payloads(raw: bytes, pieces: Iterable[bytes] | None = None) -> list[JSON]:
    """The data payloads of an SSE byte stream, fed in ``pieces`` (``[DONE]`` skipped)."""
    decoder = SSEDecoder()
    events = []
    for piece in pieces if pieces is not None else [raw]:
        events.extend(decoder.feed(piece))
    events.extend(decoder.flush())
    return [json.loads(e.data) for e in events if e.data != "[DONE]"]


def assemble(payloads: Iterable[JSON]) -> tuple[Response, list[StreamEvent]]:
    assembler = StreamAssembler()
    events: list[StreamEvent] = []
    for payload in payloads:
        events.extend(assembler.feed(payload))
    return assembler.finish(), events


def sse_bytes(payloads: Iterable[JSON]) -> bytes:
    return b"".join(encode_sse(json.dumps(p), event=p["type"]) for p in payloads)


def check_events(events: Sequence[StreamEvent], response: Response) -> None:
    """Live events agree with the final reply: kinds and ids at the starts, every delta a prefix of
    its block's final text, every block ended once and in order."""
    assert isinstance(events[0], MessageStart)
    assert isinstance(events[-1], MessageEnd) and events[-1].response == response
    blocks = response.message.blocks
    assert [(e.index, e.block) for e in events if isinstance(e, BlockEnd)] == list(enumerate(blocks))
    texts: dict[int, str] = {}
    for event in events:
        if isinstance(event, BlockStart):
            block = blocks[event.index]
            assert event.kind == block.kind, event
            if isinstance(block, ToolCall):
                assert (event.id, event.name) == (block.id, block.name)
            assert event.index not in texts, "started twice"
            texts[event.index] = ""
        elif isinstance(event, BlockDelta):
            assert event.index in texts, "delta before its start"
            texts[event.index] += event.text
    for index, text in texts.items():
        block = blocks[index]
        full = block.arguments_json if isinstance(block, ToolCall) else getattr(block, "text", "")
        assert full.startswith(text), (index, text, full)


def reasoning_json(items: Iterable[Any]) -> list[str]:
    return [json.dumps(i) for i in items if isinstance(i, dict) and i.get("type") == "reasoning"]


# ------------------------------------------------------------------------------- recorded streams


@pytest.mark.parametrize("name", REPLIES)
def test_recorded_stream_equals_the_whole_body(name: str) -> None:
    expected = decode_response(fixture(name))
    response, events = assemble(sse_payloads(recorded(name)))
    assert response == expected
    check_events(events, response)
    # the reasoning item comes from output_item.done / response.completed, never the added event:
    # the blob in output_item.added was cut short
    thinking = [b for b in response.message.blocks if isinstance(b, Thinking | RedactedThinking)]
    assert [json.dumps(b.item) for b in thinking] == reasoning_json(fixture(name)["output"])


@pytest.mark.parametrize("name", REPLIES)
def test_recorded_stream_split_at_every_byte(name: str) -> None:
    raw = recorded(name)
    expected = decode_response(fixture(name))
    for cut in range(len(raw) + 1):
        response, _ = assemble(sse_payloads(raw, [raw[:cut], raw[cut:]]))
        assert response == expected, cut


@given(data=st.data())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_recorded_streams_split_at_random_bytes(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(REPLIES))
    raw = recorded(name)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=16)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    response, events = assemble(sse_payloads(raw, pieces))
    assert response == decode_response(fixture(name))
    check_events(events, response)


def test_summary_parts_stream_live_with_their_separator() -> None:
    _, events = assemble(sse_payloads(recorded("reply_summary")))
    live = "".join(e.text for e in events if isinstance(e, BlockDelta) and e.index == 0)
    parts = fixture("reply_summary")["output"][0]["summary"]
    assert live == "\n\n".join(p["text"] for p in parts)
    starts = [e for e in events if isinstance(e, BlockStart)]
    assert [(s.index, s.kind, s.id) for s in starts] == [
        (0, "thinking", fixture("reply_summary")["output"][0]["id"]),
        (1, "text", fixture("reply_summary")["output"][1]["id"]),
    ]


def test_a_final_event_without_output_takes_the_done_items() -> None:
    payloads = sse_payloads(recorded("reply_parallel_calls"))
    payloads[-1] = {**payloads[-1], "response": {**payloads[-1]["response"], "output": None}}
    response, events = assemble(payloads)
    assert response == decode_response(fixture("reply_parallel_calls"))
    check_events(events, response)


def test_a_final_event_without_output_and_an_unfinished_item_is_incomplete() -> None:
    payloads = [
        p for p in sse_payloads(recorded("reply_parallel_calls")) if p["type"] != "response.output_item.done"
    ]
    payloads[-1] = {**payloads[-1], "response": {**payloads[-1]["response"], "output": None}}
    with pytest.raises(StreamIncompleteError, match="output item 0 unfinished"):
        assemble(payloads)


def test_interleaved_items_stop_live_events_but_not_the_reply() -> None:
    payloads = sse_payloads(recorded("reply_parallel_calls"))
    added = [i for i, p in enumerate(payloads) if p["type"] == "response.output_item.added"]
    done = [i for i, p in enumerate(payloads) if p["type"] == "response.output_item.done"]
    # the second call is announced before the first is done
    order = list(range(len(payloads)))
    order.remove(added[2])
    order.insert(done[1], added[2])
    response, events = assemble(payloads[i] for i in order)
    assert response == decode_response(fixture("reply_parallel_calls"))
    check_events(events, response)


def test_summary_before_reasoning_text_stops_that_blocks_live_text() -> None:
    item = {
        "id": "rs_1",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "short"}],
        "content": [{"type": "reasoning_text", "text": "long raw"}],
    }
    body = {"id": "resp_1", "status": "completed", "output": [item]}
    at = {"item_id": "rs_1", "output_index": 0}
    payloads: list[JSON] = [
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress", "output": []}},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": "rs_1", "type": "reasoning", "summary": []},
        },
        {"type": "response.reasoning_summary_text.delta", **at, "summary_index": 0, "delta": "short"},
        {"type": "response.reasoning_text.delta", **at, "content_index": 0, "delta": "long raw"},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": body},
    ]
    response, events = assemble(payloads)
    assert response.message.blocks == (
        Thinking(text="long raw", dialect=ReasoningDialect.RESPONSES, item=item),
    )
    deltas = [e.text for e in events if isinstance(e, BlockDelta)]
    assert deltas == ["short"]  # nothing after the reasoning_text showed up


def test_a_stream_without_its_final_event_is_incomplete() -> None:
    assembler = StreamAssembler()
    for payload in sse_payloads(recorded("reply_summary"))[:-1]:
        assembler.feed(payload)
    assert not assembler.done
    with pytest.raises(StreamIncompleteError):
        assembler.finish()


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (
            {
                "type": "error",
                "code": "rate_limit_exceeded",
                "message": "slow down",
                "param": None,
                "sequence_number": 3,
            },
            "rate_limit_exceeded",
        ),
        (
            {
                "type": "response.failed",
                "response": {
                    "id": "r",
                    "status": "failed",
                    "error": {"code": "server_error", "message": "boom"},
                    "output": [],
                },
                "sequence_number": 9,
            },
            "server_error",
        ),
    ],
)
def test_server_errors_in_the_stream_raise(payload: JSON, kind: str) -> None:
    assembler = StreamAssembler()
    assembler.feed(sse_payloads(recorded("reply_summary"))[0])
    with pytest.raises(StreamServerError) as caught:
        assembler.feed(payload)
    assert caught.value.error_type == kind


def test_an_incomplete_response_event_ends_the_stream_with_max_tokens() -> None:
    body = {
        **fixture("reply_summary"),
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
    }
    payloads = sse_payloads(recorded("reply_summary"))
    payloads[-1] = {
        "type": "response.incomplete",
        "response": body,
        "sequence_number": payloads[-1]["sequence_number"],
    }
    response, _ = assemble(payloads)
    assert response.stop_reason == "max_tokens" and response == decode_response(body)


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "response.output_item.added", "output_index": "0", "item": {}},
        {"type": "response.output_item.done", "output_index": 0, "item": 3},
        {"type": "response.completed"},
        {"type": "response.completed", "response": {"output": 3}},
    ],
)
def test_malformed_events_raise_wire_format_errors(payload: JSON) -> None:
    with pytest.raises(WireFormatError):
        StreamAssembler().feed(payload)


# ----------------------------------------------------------------------------------- re-streaming


@pytest.mark.parametrize("name", REPLIES)
def test_stream_payloads_assemble_to_the_reply_with_its_items_byte_exact(name: str) -> None:
    body = fixture(name)
    reply = decode_response(copy.deepcopy(body))
    losses = Losses()
    payloads = stream_payloads(reply, losses=losses)
    assert not losses
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    response, events = assemble(sse_payloads(sse_bytes(payloads)))
    assert response == reply
    check_events(events, response)
    done_items = [p["item"] for p in payloads if p["type"] == "response.output_item.done"]
    assert reasoning_json(done_items) == reasoning_json(body["output"])
    assert reasoning_json(payloads[-1]["response"]["output"]) == reasoning_json(body["output"])
    assert payloads[-1]["response"] == body


def test_a_live_responses_stream_restreams_its_original_items() -> None:
    """Responses upstream -> assembler -> encoder: the client gets the upstream's items back."""
    body = fixture("reply_summary")
    payloads: list[JSON] = []
    assembler = StreamAssembler()
    losses = Losses()
    encoder = StreamEncoder(native=True, losses=losses)
    for payload in sse_payloads(recorded("reply_summary")):
        for event in assembler.feed(payload):
            payloads.extend(encoder.encode(event))
    done_items = [p["item"] for p in payloads if p["type"] == "response.output_item.done"]
    assert done_items == body["output"]
    assert reasoning_json(done_items) == reasoning_json(body["output"])
    assert payloads[-1]["response"] == body
    assert not losses
    assert assemble(payloads)[0] == decode_response(body)


def anthropic_stream(body: JSON) -> list[JSON]:
    """The Anthropic SSE payloads of a reply, one delta a block (an independent model of that stream)."""
    start = {k: v for k, v in body.items() if k != "content"} | {"content": [], "stop_reason": None}
    out: list[JSON] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(body["content"]):
        if block["type"] == "redacted_thinking":  # arrives whole
            out.append({"type": "content_block_start", "index": index, "content_block": block})
            out.append({"type": "content_block_stop", "index": index})
            continue
        if block["type"] == "tool_use":
            out.append(
                {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}
            )
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        else:
            key = block["type"]
            first = {k: v for k, v in block.items() if k != "signature"} | {key: ""}
            out.append({"type": "content_block_start", "index": index, "content_block": first})
            delta = {"type": f"{key}_delta", key: block[key]}
        out.append({"type": "content_block_delta", "index": index, "delta": delta})
        if "signature" in block:
            signature = {"type": "signature_delta", "signature": block["signature"]}
            out.append({"type": "content_block_delta", "index": index, "delta": signature})
        out.append({"type": "content_block_stop", "index": index})
    end: JSON = {"stop_reason": body["stop_reason"], "stop_sequence": None}
    out.append(
        {"type": "message_delta", "delta": end, "usage": {"output_tokens": body["usage"]["output_tokens"]}}
    )
    return [*out, {"type": "message_stop"}]


def restream(
    source: anthropic.StreamAssembler | openai_chat.StreamAssembler,
    payloads: Iterable[Any],
    encoder: StreamEncoder,
) -> list[JSON]:
    out: list[JSON] = []
    for payload in payloads:
        if payload == "[DONE]":
            assert isinstance(source, openai_chat.StreamAssembler)
            events = source.done()
        else:
            events = source.feed(payload)
        for event in events:
            out.extend(encoder.encode(event))
    if isinstance(source, openai_chat.StreamAssembler):
        for event in source.done():
            out.extend(encoder.encode(event))
    return out


def test_an_anthropic_stream_restreams_live_as_responses() -> None:
    body = json.loads((FIXTURES / "anthropic" / "thinking_tools.json").read_text(encoding="utf-8"))
    reply = anthropic.decode_response(body)
    losses = Losses()
    payloads = restream(anthropic.StreamAssembler(), anthropic_stream(body), StreamEncoder(losses=losses))
    response, events = assemble(sse_payloads(sse_bytes(payloads)))
    check_events(events, response)
    # What encode_response gives, but each call's arguments are the JSON text the client was streamed
    # (Anthropic's own spacing) rather than interleaf's compact form of the same object.
    expected = encode_response(reply)
    for item in expected["output"]:
        if item["type"] == "function_call":
            item["arguments"] = json.dumps(json.loads(item["arguments"]))
    assert payloads[-1]["response"] == expected
    assert response == decode_response(expected)
    done = [p["item"] for p in payloads if p["type"] == "response.output_item.done"]
    assert done == expected["output"]
    assert [p["type"] for p in payloads[:3]] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
    ]
    # thinking went out live, as summary deltas (what clients read), before the block ended
    first_delta = next(
        i for i, p in enumerate(payloads) if p["type"] == "response.reasoning_summary_text.delta"
    )
    first_done = next(i for i, p in enumerate(payloads) if p["type"] == "response.output_item.done")
    assert first_delta < first_done
    assert sum("signature dropped" in item for item in losses) == 2
    assert not [item for item in losses if "re-streaming" in item]


def test_an_openai_chat_stream_restreams_as_responses() -> None:
    raw = (FIXTURES / "openai_chat" / "minimax_split_stream.sse").read_bytes()
    decoder = SSEDecoder()
    chunks: list[Any] = [
        e.data if e.data == "[DONE]" else json.loads(e.data) for e in decoder.feed(raw) + decoder.flush()
    ]
    whole = openai_chat.decode_response(
        json.loads((FIXTURES / "openai_chat" / "minimax_split_stream.json").read_text())
    )
    losses = Losses()
    payloads = restream(openai_chat.StreamAssembler(), chunks, StreamEncoder(losses=losses))
    response, events = assemble(payloads)
    assert response == decode_response(encode_response(whole))
    check_events(events, response)
    assert not [item for item in losses if "re-streaming" in item]


def test_foreign_redacted_thinking_is_left_out_and_reported() -> None:
    reply = anthropic.decode_response(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude",
            "content": [{"type": "redacted_thinking", "data": "EmwKAhgB"}, {"type": "text", "text": "hi"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 1},
        }
    )
    losses = Losses()
    payloads = stream_payloads(reply, losses=losses)
    assert [p["item"]["type"] for p in payloads if p["type"] == "response.output_item.done"] == ["message"]
    assert any("redacted thinking dropped" in item for item in losses)


def test_the_encoder_writes_an_error_event_in_sequence() -> None:
    encoder = StreamEncoder(response_id="resp_x")
    started = encoder.encode(MessageStart())
    (error,) = encoder.error("server_error", "the upstream went away")
    assert error == {
        "type": "error",
        "code": "server_error",
        "message": "the upstream went away",
        "param": None,
        "sequence_number": len(started),
    }


# ----------------------------------------------------------------------------- the official SDK


def sdk_plain(value: Any) -> Any:
    """A dump of the SDK's parsed models without the fields its parsing adds."""
    if isinstance(value, dict):
        return {k: sdk_plain(v) for k, v in value.items() if k not in ("parsed", "parsed_arguments")}
    if isinstance(value, list):
        return [sdk_plain(v) for v in value]
    return value


def openai_client(server: ScriptedServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="k", max_retries=0)


def served(payloads: Sequence[JSON]) -> Step:
    return Step.sse([(p["type"], json.dumps(p)) for p in payloads])


async def test_the_sdk_reads_the_encoders_stream_of_a_responses_reply(
    scripted_server: ScriptedServer,
) -> None:
    body = fixture("reply_parallel_calls")
    payloads = stream_payloads(decode_response(copy.deepcopy(body)))
    scripted_server.enqueue(served(payloads))
    scripted_server.enqueue(served(payloads))
    async with openai_client(scripted_server) as client:
        stream = await client.responses.create(model="gpt-5.2", input="release notes", stream=True)
        events = [event async for event in stream]
        assert [e.sequence_number for e in events] == list(range(len(payloads)))
        final = events[-1]
        assert final.type == "response.completed"
        assert final.response.model_dump(mode="json", exclude_unset=True) == body
        async with client.responses.stream(model="gpt-5.2", input="release notes") as managed:
            response = await managed.get_final_response()
    reasoning, first, second = response.output
    assert (
        reasoning.type == "reasoning"
        and reasoning.encrypted_content == body["output"][0]["encrypted_content"]
    )
    assert [(c.call_id, c.name, c.arguments) for c in (first, second) if c.type == "function_call"] == [
        (item["call_id"], item["name"], item["arguments"]) for item in body["output"][1:]
    ]
    assert response.usage is not None and response.usage.total_tokens == body["usage"]["total_tokens"]
    assert scripted_server.requests[0].json["stream"] is True


async def test_the_sdk_reads_an_anthropic_reply_restreamed_live(scripted_server: ScriptedServer) -> None:
    body = json.loads((FIXTURES / "anthropic" / "thinking_tools.json").read_text(encoding="utf-8"))
    reply = anthropic.decode_response(body)
    payloads = restream(
        anthropic.StreamAssembler(), anthropic_stream(body), StreamEncoder(model="claude-sonnet-4-5")
    )
    scripted_server.enqueue(served(payloads))
    async with (
        openai_client(scripted_server) as client,
        client.responses.stream(model="claude-sonnet-4-5", input="weather?") as managed,
    ):
        deltas = [e.delta async for e in managed if e.type == "response.reasoning_summary_text.delta"]
        response = await managed.get_final_response()
    expected = encode_response(reply)["output"]
    for item in expected:
        if item["type"] == "function_call":  # the JSON text the client was streamed
            item["arguments"] = json.dumps(json.loads(item["arguments"]))
    assert sdk_plain(response.model_dump(mode="json", exclude_unset=True)["output"]) == expected
    reasoning = [item for item in response.output if item.type == "reasoning"]
    assert [r.summary[0].text for r in reasoning if r.summary] == [
        b["thinking"] for b in body["content"] if b["type"] == "thinking"
    ]
    # no blob is minted; the ids only tell the reply's items apart (the SDK needs that)
    assert all(r.encrypted_content is None for r in reasoning)
    assert len({r.id for r in reasoning}) == len(reasoning) and all(r.id.startswith("rs_") for r in reasoning)
    assert "".join(deltas) == "".join(b["thinking"] for b in body["content"] if b["type"] == "thinking")
    calls = [item for item in response.output if item.type == "function_call"]
    assert [(c.call_id, json.loads(c.arguments)) for c in calls] == [
        (b["id"], b["input"]) for b in body["content"] if b["type"] == "tool_use"
    ]
    assert response.output_text == "I'll check both cities."
    assert response.usage is not None
    assert response.usage.total_tokens == body["usage"]["input_tokens"] + body["usage"]["output_tokens"]


async def test_the_sdk_reads_a_non_streamed_body(scripted_server: ScriptedServer) -> None:
    body = json.loads((FIXTURES / "anthropic" / "thinking_tools.json").read_text(encoding="utf-8"))
    out = encode_response(anthropic.decode_response(body))
    scripted_server.enqueue(Step.json(out))
    async with openai_client(scripted_server) as client:
        response = await client.responses.create(model="claude-sonnet-4-5", input="weather?")
    assert response.model_dump(mode="json", exclude_unset=True) == out
    assert isinstance(response.output[1], openai.types.responses.ResponseOutputMessage)
    assert [type(b).__name__ for b in decode_response(out).message.blocks] == [
        type(b).__name__ for b in anthropic.decode_response(body).message.blocks
    ]
    assert isinstance(decode_response(out).message.blocks[1], Text)


@pytest.mark.parametrize("name", ["minimax_split_stream", "openrouter_claude_stream", "inline_think_stream"])
async def test_the_sdk_reads_an_openai_chat_stream_restreamed_live(
    scripted_server: ScriptedServer, name: str
) -> None:
    """A Chat upstream's blocks all end at its last chunk, so its items are announced before the
    earlier ones are done: the SDK accepts that order and ends with the encoder's output."""
    raw = (FIXTURES / "openai_chat" / f"{name}.sse").read_bytes()
    decoder = SSEDecoder()
    chunks: list[Any] = [
        e.data if e.data == "[DONE]" else json.loads(e.data) for e in decoder.feed(raw) + decoder.flush()
    ]
    payloads = restream(openai_chat.StreamAssembler(), chunks, StreamEncoder())
    order = [p["type"] for p in payloads if p["type"].startswith("response.output_item.")]
    assert order.index("response.output_item.done") > order.index("response.output_item.added", 1)
    scripted_server.enqueue(served(payloads))
    async with (
        openai_client(scripted_server) as client,
        client.responses.stream(model="m", input="hi") as managed,
    ):
        response = await managed.get_final_response()
    output = sdk_plain(response.model_dump(mode="json", exclude_unset=True)["output"])
    assert output == payloads[-1]["response"]["output"]
    whole = openai_chat.decode_response(json.loads((FIXTURES / "openai_chat" / f"{name}.json").read_text()))
    assert output == encode_response(whole)["output"]


def test_a_reply_from_another_api_streams_what_strict_clients_require() -> None:
    """The AI SDK (OpenCode, Cline) requires an id on every output item and reads reasoning only from
    summary events; Qwen Code and OpenCode replay only a reasoning item's summary. A reply from another
    API therefore carries its thinking as both reasoning_text and summary, and every item has an id."""
    body = json.loads((FIXTURES / "anthropic" / "thinking_tools.json").read_text(encoding="utf-8"))
    payloads = restream(anthropic.StreamAssembler(), anthropic_stream(body), StreamEncoder())
    items = [
        p["item"]
        for p in payloads
        if p["type"] in ("response.output_item.added", "response.output_item.done")
    ]
    assert items and all(isinstance(item.get("id"), str) and item["id"] for item in items)
    deltas = "".join(p["delta"] for p in payloads if p["type"] == "response.reasoning_summary_text.delta")
    thoughts = [b["thinking"] for b in body["content"] if b["type"] == "thinking"]
    assert deltas == "".join(thoughts)
    final = payloads[-1]["response"]["output"]
    reasoning = [item for item in final if item["type"] == "reasoning"]
    assert [item["summary"][0]["text"] for item in reasoning] == thoughts
    calls = [item for item in final if item["type"] == "function_call"]
    arguments_events = {
        p["item_id"] for p in payloads if p["type"] == "response.function_call_arguments.delta"
    }
    assert arguments_events == {call["id"] for call in calls}
