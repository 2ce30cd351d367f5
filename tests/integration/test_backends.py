"""The backends layer over real HTTP on loopback, against the scripted model server.

Nothing in interleaf is mocked: requests go through aiohttp to tests/support/scripted_server.py, and
the assertions look at what the server received and what the client returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import client_exceptions as ce

from interleaf.backends import http as http_module
from interleaf.backends.client import ModelClient
from interleaf.backends.errors import (
    BackendConfigError,
    BackendConnectionError,
    BackendError,
    BackendHTTPError,
    BackendProtocolError,
    BackendStreamError,
    BackendTimeout,
    StreamCutError,
    parse_error_body,
)
from interleaf.backends.http import HttpClient, RetryPolicy, Timeouts, map_client_error
from interleaf.backends.profiles import PROFILES, get_profile
from interleaf.transcript import (
    Conversation,
    Message,
    ReasoningDialect,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
)
from interleaf.wire import anthropic
from interleaf.wire.events import BlockDelta, BlockEnd, BlockStart, MessageEnd, MessageStart, StreamEvent
from tests.support.payloads import (
    anthropic_error,
    anthropic_events,
    anthropic_message,
    openai_chunks,
    openai_completion,
    reasoning_detail,
    sse_bytes,
    text,
    thinking,
    tool_call,
    tool_use,
)
from tests.support.scripted_server import ScriptedServer, Step
from tests.support.strict import StrictAnthropic, StrictOpenAIReasoning

pytestmark = pytest.mark.timeout(30)

FAST_RETRY = RetryPolicy(max_retries=2, backoff_base=0.001, backoff_max=0.005)
QUICK = Timeouts(connect=2.0, first_byte=5.0, idle=5.0, total=20.0)


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    async with HttpClient(timeouts=QUICK, retry=FAST_RETRY) as client:
        yield client


def user(prompt: str = "What is in this directory?", **params: Any) -> Conversation:
    return Conversation(messages=(Message(role="user", blocks=(Text(text=prompt),)),), params=params)


def make_client(
    server: ScriptedServer, http: HttpClient, profile: str = "anthropic", prefix: str = "", **kw: Any
) -> ModelClient:
    kw.setdefault("api_key", "test-key")
    return ModelClient(profile, base_url=server.base_url + prefix, http=http, **kw)


async def collect(client: ModelClient, conversation: Conversation) -> list[StreamEvent]:
    return [event async for event in client.stream(conversation)]


async def collect_into(seen: list[StreamEvent], client: ModelClient, conversation: Conversation) -> None:
    """Like collect(), but what arrived before an exception stays in ``seen``."""
    async for event in client.stream(conversation):
        seen.append(event)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


TOOL_REPLY = anthropic_message(
    [
        thinking("The user wants a listing; call ls.", "sig-ls-1"),
        text("Let me look."),
        tool_use("toolu_1", "ls", {"path": "."}),
    ]
)
FINAL_REPLY = anthropic_message([thinking("Two files; answer.", "sig-final-2"), text("README.md and src.")])


# ------------------------------------------------------------------------------ Anthropic API


async def test_anthropic_non_stream(scripted_server: ScriptedServer, http: HttpClient) -> None:
    scripted_server.enqueue(Step.json(TOOL_REPLY))
    response = await make_client(scripted_server, http).complete(user())

    assert response == anthropic.decode_response(TOOL_REPLY)
    first = response.message.blocks[0]
    assert isinstance(first, Thinking) and first.signature == "sig-ls-1"
    (request,) = scripted_server.requests
    assert request.path == "/v1/messages"
    assert request.json["stream"] is False
    assert request.json["model"] == PROFILES["anthropic"].model
    assert request.json["max_tokens"] == PROFILES["anthropic"].max_tokens


async def test_anthropic_stream(scripted_server: ScriptedServer, http: HttpClient) -> None:
    scripted_server.enqueue(Step.sse(anthropic_events(TOOL_REPLY, piece=5)))
    events = await collect(make_client(scripted_server, http), user())

    assert isinstance(events[0], MessageStart)
    assert isinstance(events[-1], MessageEnd)
    assert sum(isinstance(e, MessageEnd) for e in events) == 1
    assert events[-1].response == anthropic.decode_response(TOOL_REPLY)
    thinking_text = "".join(e.text for e in events if isinstance(e, BlockDelta) and e.index == 0)
    assert thinking_text == "The user wants a listing; call ls."
    ends = [e for e in events if isinstance(e, BlockEnd)]
    assert [type(e.block) for e in ends] == [Thinking, Text, ToolCall]
    assert scripted_server.requests[0].json["stream"] is True


async def test_stream_and_non_stream_give_the_same_response(
    scripted_server: ScriptedServer, http: HttpClient
) -> None:
    scripted_server.enqueue(Step.json(FINAL_REPLY), Step.sse(anthropic_events(FINAL_REPLY, piece=3)))
    client = make_client(scripted_server, http)
    plain = await client.complete(user())
    streamed = await client.complete(user(), stream=True)
    assert plain == streamed


async def test_strict_upstream_accepts_a_faithful_tool_loop(
    scripted_server: ScriptedServer, http: HttpClient
) -> None:
    scripted_server.validators.append(StrictAnthropic(scripted_server))
    scripted_server.enqueue(Step.sse(anthropic_events(TOOL_REPLY)), Step.json(FINAL_REPLY))
    client = make_client(scripted_server, http)
    conversation = user()
    first = await client.complete(conversation, stream=True)
    follow_up = conversation.with_messages(
        [
            *conversation.messages,
            first.message,
            Message(role="tool", blocks=(ToolResult(call_id="toolu_1", content="README.md\nsrc"),)),
        ]
    )
    second = await client.complete(follow_up)

    assert second.message.text == "README.md and src."
    replayed = scripted_server.requests[1].json["messages"][1]["content"][0]
    assert replayed == {
        "type": "thinking",
        "thinking": "The user wants a listing; call ls.",
        "signature": "sig-ls-1",
    }
    assert scripted_server.rejections == []


async def test_strict_upstream_rejects_dropped_thinking(
    scripted_server: ScriptedServer, http: HttpClient
) -> None:
    scripted_server.validators.append(StrictAnthropic(scripted_server))
    scripted_server.enqueue(Step.json(TOOL_REPLY))
    client = make_client(scripted_server, http)
    first = await client.complete(user())
    stripped = first.message.with_blocks(b for b in first.message.blocks if not isinstance(b, Thinking))
    follow_up = user().with_messages(
        [
            *user().messages,
            stripped,
            Message(role="tool", blocks=(ToolResult(call_id="toolu_1", content="x"),)),
        ]
    )
    with pytest.raises(BackendHTTPError) as caught:
        await client.complete(follow_up)
    assert caught.value.status == 400
    assert caught.value.error_type == "invalid_request_error"
    assert "Expected `thinking` or `redacted_thinking`, but found `text`" in str(caught.value)


async def test_server_ignoring_stream_flag_still_yields_a_complete_stream(
    scripted_server: ScriptedServer, http: HttpClient
) -> None:
    scripted_server.enqueue(Step.json(FINAL_REPLY))
    events = await collect(make_client(scripted_server, http), user())
    assert isinstance(events[-1], MessageEnd)
    assert events[-1].response == anthropic.decode_response(FINAL_REPLY)


# ---------------------------------------------------------------------------- OpenAI Chat API

MINIMAX_DETAILS = [reasoning_detail("List the directory first.")]
OPENAI_TOOL_REPLY = openai_completion(
    content="Checking.",
    reasoning_details=MINIMAX_DETAILS,
    tool_calls=[tool_call("call_1", "ls", {"path": "."})],
)


async def test_openai_non_stream(scripted_server: ScriptedServer, http: HttpClient) -> None:
    reply = openai_completion(content="Hello.", reasoning="Greet back.", reasoning_field="reasoning_content")
    scripted_server.enqueue(Step.json(reply))
    response = await make_client(scripted_server, http, "deepseek").complete(user())

    assert response.message.text == "Hello."
    (block,) = response.message.thinking
    assert isinstance(block, Thinking) and block.text == "Greet back."
    assert response.stop_reason is not None
    (request,) = scripted_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.json["model"] == "deepseek-chat"
    assert request.json["stream"] is False


async def test_openai_stream(scripted_server: ScriptedServer, http: HttpClient) -> None:
    reply = openai_completion(
        content="Checking.", reasoning="Need ls.", tool_calls=[tool_call("call_1", "ls", {"path": "."})]
    )
    scripted_server.enqueue(Step.sse(openai_chunks(reply, piece=3)), Step.json(reply))
    client = make_client(scripted_server, http, "deepseek")
    events = await collect(client, user())

    assert sum(isinstance(e, MessageEnd) for e in events) == 1
    assert isinstance(events[-1], MessageEnd)
    streamed = events[-1].response
    assert streamed.message.text == "Checking."
    assert [c.name for c in streamed.message.tool_calls] == ["ls"]
    assert streamed.message.tool_calls[0].arguments == {"path": "."}
    assert any(isinstance(e, BlockStart) and e.kind == "thinking" for e in events)
    assert scripted_server.requests[0].json["stream"] is True
    assert scripted_server.requests[0].json["stream_options"] == {"include_usage": True}
    plain = await client.complete(user())
    assert plain.message.blocks == streamed.message.blocks


async def test_minimax_openai_sends_reasoning_details_back_with_reasoning_split(
    scripted_server: ScriptedServer, http: HttpClient
) -> None:
    scripted_server.validators.append(StrictOpenAIReasoning(scripted_server, "reasoning_details"))
    scripted_server.enqueue(
        Step.sse(openai_chunks(OPENAI_TOOL_REPLY)), Step.json(openai_completion(content="Done."))
    )
    client = make_client(scripted_server, http, "minimax-openai")
    conversation = user()
    first = await client.complete(conversation, stream=True)
    follow_up = conversation.with_messages(
        [
            *conversation.messages,
            first.message,
            Message(role="tool", blocks=(ToolResult(call_id="call_1", content="README.md"),)),
        ]
    )
    second = await client.complete(follow_up)

    assert second.message.text == "Done."
    assert scripted_server.rejections == []
    for request in scripted_server.requests:
        assert request.json["reasoning_split"] is True
    assistant = scripted_server.requests[1].json["messages"][1]
    assert assistant["reasoning_details"] == MINIMAX_DETAILS
    assert "reasoning_content" not in assistant


@pytest.mark.parametrize(
    ("profile", "field"),
    [
        ("deepseek", "reasoning_content"),
        ("kimi", "reasoning_content"),
        ("vllm", "reasoning"),
        ("sglang", "reasoning_content"),
    ],
)
async def test_thinking_goes_back_in_the_profiles_field(
    scripted_server: ScriptedServer, http: HttpClient, profile: str, field: str
) -> None:
    earlier = Message(
        role="assistant",
        blocks=(
            Thinking(text="Need ls.", dialect=ReasoningDialect.REASONING_CONTENT),
            ToolCall(id="call_1", name="ls", arguments={"path": "."}, raw_arguments='{"path":"."}'),
        ),
    )
    conversation = user(model="m").with_messages(
        [*user().messages, earlier, Message(role="tool", blocks=(ToolResult(call_id="call_1", content="a"),))]
    )
    scripted_server.enqueue(Step.json(openai_completion(content="ok")))
    await make_client(scripted_server, http, profile).complete(conversation)
    assistant = scripted_server.requests[0].json["messages"][1]
    assert assistant[field] == "Need ls."
    assert assistant["tool_calls"][0]["id"] == "call_1"


async def test_hosted_openai_gets_no_thinking_and_the_loss_is_recorded(
    scripted_server: ScriptedServer, http: HttpClient
) -> None:
    earlier = Message(
        role="assistant",
        blocks=(
            Thinking(text="Plan.", signature="sig", dialect=ReasoningDialect.ANTHROPIC),
            Text(text="Hi."),
        ),
    )
    conversation = user().with_messages([*user().messages, earlier, *user("And now?").messages])
    scripted_server.enqueue(Step.json(openai_completion(content="ok")))
    client = make_client(scripted_server, http, "openai")
    await client.complete(conversation)
    assistant = scripted_server.requests[0].json["messages"][1]
    assert not {"reasoning_content", "reasoning", "reasoning_details"} & set(assistant)
    # A hand-built message's text-only content goes out as a string, the form every server accepts.
    assert assistant["content"] == "Hi."
    assert any("takes no reasoning back" in item for item in client.losses)


async def test_openai_error_chunk_mid_stream(scripted_server: ScriptedServer, http: HttpClient) -> None:
    chunks = openai_chunks(openai_completion(content="Hello there, friend."))
    scripted_server.enqueue(
        Step.sse([*chunks[:3], {"error": {"message": "upstream overloaded", "type": "server_error"}}])
    )
    seen: list[StreamEvent] = []
    with pytest.raises(BackendStreamError) as caught:
        await collect_into(seen, make_client(scripted_server, http, "deepseek"), user())
    assert "upstream overloaded" in str(caught.value)
    assert not any(isinstance(e, MessageEnd) for e in seen)


async def test_openai_stream_with_finish_but_no_done_is_complete(
    scripted_server: ScriptedServer, http: HttpClient
) -> None:
    reply = openai_completion(content="All good.", reasoning="Short.")
    scripted_server.enqueue(Step.sse(openai_chunks(reply, done=False)))
    events = await collect(make_client(scripted_server, http, "deepseek"), user())
    assert isinstance(events[-1], MessageEnd)
    assert [type(e.block) for e in events if isinstance(e, BlockEnd)] == [Thinking, Text]
    assert events[-1].response.message.text == "All good."


async def test_strict_openai_upstream_rejects_missing_reasoning(
    scripted_server: ScriptedServer, http: HttpClient
) -> None:
    scripted_server.validators.append(StrictOpenAIReasoning(scripted_server, "reasoning_content"))
    reply = openai_completion(reasoning="Need ls.", tool_calls=[tool_call("call_9", "ls", {})])
    scripted_server.enqueue(Step.json(reply))
    client = make_client(scripted_server, http, "deepseek")
    first = await client.complete(user())
    stripped = first.message.with_blocks(b for b in first.message.blocks if not isinstance(b, Thinking))
    follow_up = user().with_messages(
        [
            *user().messages,
            stripped,
            Message(role="tool", blocks=(ToolResult(call_id="call_9", content="a"),)),
        ]
    )
    with pytest.raises(BackendHTTPError) as caught:
        await client.complete(follow_up)
    assert caught.value.status == 400
    assert "Missing `reasoning_content` field in the assistant message at message index 1" in str(
        caught.value
    )


async def test_openai_stream_without_finish_is_cut(scripted_server: ScriptedServer, http: HttpClient) -> None:
    chunks = openai_chunks(openai_completion(content="Hello there, friend."), done=False, usage_chunk=False)
    scripted_server.enqueue(Step.sse(chunks[:-1]))  # no finish_reason chunk, no [DONE], clean close
    seen: list[StreamEvent] = []
    with pytest.raises(StreamCutError):
        await collect_into(seen, make_client(scripted_server, http, "deepseek"), user())
    assert not any(isinstance(e, MessageEnd) for e in seen)
    assert len(scripted_server.requests) == 1


# ----------------------------------------------------------------------------------- retries


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 529])
async def test_retry_on_status_then_success(
    scripted_server: ScriptedServer, http: HttpClient, status: int
) -> None:
    scripted_server.enqueue(Step.error(status, "try later"), Step.json(FINAL_REPLY))
    response = await make_client(scripted_server, http).complete(user())
    assert response.message.text == "README.md and src."
    assert len(scripted_server.requests) == 2


async def test_retries_429_then_503_then_success(scripted_server: ScriptedServer, http: HttpClient) -> None:
    scripted_server.enqueue(
        Step.error(429, "slow down"), Step.error(503, "unavailable"), Step.json(FINAL_REPLY)
    )
    await make_client(scripted_server, http).complete(user(), stream=True)
    assert len(scripted_server.requests) == 3
    scripted_server.assert_done()


async def test_retries_give_up_with_the_last_error(scripted_server: ScriptedServer, http: HttpClient) -> None:
    scripted_server.enqueue(*[Step.error(529, "Overloaded", error_type="overloaded_error")] * 3)
    with pytest.raises(BackendHTTPError) as caught:
        await make_client(scripted_server, http).complete(user())
    assert caught.value.status == 529
    assert caught.value.attempts == 3
    assert "Overloaded" in str(caught.value) and "gave up after 3 attempts" in str(caught.value)
    assert len(scripted_server.requests) == 3


async def test_retry_after_a_dropped_connection(scripted_server: ScriptedServer, http: HttpClient) -> None:
    scripted_server.enqueue(Step.disconnect(), Step.json(FINAL_REPLY))
    response = await make_client(scripted_server, http).complete(user())
    assert response.message.text == "README.md and src."
    assert len(scripted_server.requests) == 2


async def test_unsent_only_policy_never_repeats_a_request_the_server_may_have_read(
    scripted_server: ScriptedServer,
) -> None:
    """A generation must not run twice: the server read the request, then closed (a crash, a proxy
    reset); with ``unsent_only`` that is not retried, and the server saw the request exactly once."""
    scripted_server.enqueue(Step.disconnect(), Step.json(FINAL_REPLY))
    policy = replace(FAST_RETRY, unsent_only=True)
    async with HttpClient(timeouts=QUICK, retry=policy) as http:
        with pytest.raises(BackendConnectionError, match="closed the connection"):
            await make_client(scripted_server, http).complete(user())
    assert len(scripted_server.requests) == 1


async def test_unsent_only_policy_still_retries_a_connection_that_never_opened() -> None:
    port = free_port()
    server = ScriptedServer([Step.json(FINAL_REPLY)], port=port)

    async def start_then_retry(seconds: float) -> None:
        await server.start()

    policy = replace(FAST_RETRY, unsent_only=True)
    http = HttpClient(timeouts=QUICK, retry=policy, sleep=start_then_retry)
    try:
        client = ModelClient("anthropic", base_url=f"http://127.0.0.1:{port}", api_key="k", http=http)
        response = await client.complete(user())
    finally:
        await http.aclose()
        await server.stop()
    assert response.message.text == "README.md and src."
    assert len(server.requests) == 1


async def test_connection_refused_then_success() -> None:
    port = free_port()
    server = ScriptedServer([Step.json(FINAL_REPLY)], port=port)
    started: list[float] = []

    async def sleep_then_start(seconds: float) -> None:
        if not started:  # the first attempt was refused: bring the server up before the retry
            started.append(seconds)
            await server.start()

    http = HttpClient(timeouts=QUICK, retry=FAST_RETRY, sleep=sleep_then_start)
    try:
        client = ModelClient("anthropic", base_url=f"http://127.0.0.1:{port}", api_key="k", http=http)
        response = await client.complete(user())
    finally:
        await http.aclose()
        await server.stop()
    assert response.message.text == "README.md and src."
    assert len(started) == 1
    assert len(server.requests) == 1


async def test_connection_refused_message() -> None:
    port = free_port()
    async with HttpClient(timeouts=QUICK, retry=FAST_RETRY) as http:
        client = ModelClient("anthropic", base_url=f"http://127.0.0.1:{port}", api_key="k", http=http)
        with pytest.raises(BackendConnectionError) as caught:
            await client.complete(user())
    message = str(caught.value)
    assert message.startswith(
        f"could not connect to http://127.0.0.1:{port}/v1/messages: connection refused;"
    )
    assert "is the server running and is --base-url right?" in message
    assert "gave up after 3 attempts" in message


async def test_retry_after_is_honoured(scripted_server: ScriptedServer, http: HttpClient) -> None:
    scripted_server.enqueue(Step.error(429, "slow down", retry_after=0.3), Step.json(FINAL_REPLY))
    started = time.monotonic()
    await make_client(scripted_server, http).complete(user())
    assert time.monotonic() - started >= 0.3
    assert len(scripted_server.requests) == 2


async def test_retry_after_ms_is_honoured(scripted_server: ScriptedServer, http: HttpClient) -> None:
    scripted_server.enqueue(
        Step.error(503, "busy", headers={"retry-after-ms": "250"}), Step.json(FINAL_REPLY)
    )
    started = time.monotonic()
    await make_client(scripted_server, http).complete(user())
    assert time.monotonic() - started >= 0.25


async def test_retry_after_beyond_the_limit_is_not_waited_out(scripted_server: ScriptedServer) -> None:
    scripted_server.enqueue(Step.error(429, "quota", retry_after=120), Step.json(FINAL_REPLY))
    async with HttpClient(timeouts=QUICK, retry=FAST_RETRY) as http:
        with pytest.raises(BackendHTTPError) as caught:
            await make_client(scripted_server, http).complete(user())
    assert caught.value.status == 429
    assert "asked to wait 120 s" in str(caught.value)
    assert len(scripted_server.requests) == 1


async def test_x_should_retry_false_is_respected(scripted_server: ScriptedServer, http: HttpClient) -> None:
    scripted_server.enqueue(
        Step.error(503, "no", headers={"x-should-retry": "false"}), Step.json(FINAL_REPLY)
    )
    with pytest.raises(BackendHTTPError):
        await make_client(scripted_server, http).complete(user())
    assert len(scripted_server.requests) == 1


async def test_no_retry_after_the_stream_began(scripted_server: ScriptedServer, http: HttpClient) -> None:
    scripted_server.enqueue(Step.sse(anthropic_events(TOOL_REPLY), cut_after=6), Step.json(FINAL_REPLY))
    seen: list[StreamEvent] = []
    with pytest.raises(StreamCutError) as caught:
        await collect_into(seen, make_client(scripted_server, http), user())
    assert len(scripted_server.requests) == 1
    assert seen and not any(isinstance(e, MessageEnd) for e in seen)
    assert "cut off" in str(caught.value)


async def test_clean_close_before_message_stop_is_cut(
    scripted_server: ScriptedServer, http: HttpClient
) -> None:
    events = anthropic_events(FINAL_REPLY)
    scripted_server.enqueue(Step.sse(events[:-1]))  # everything but message_stop, then a normal end
    seen: list[StreamEvent] = []
    with pytest.raises(StreamCutError) as caught:
        await collect_into(seen, make_client(scripted_server, http), user())
    assert not any(isinstance(e, MessageEnd) for e in seen)
    assert "message_stop" in str(caught.value)


async def test_stream_ending_inside_an_event_is_cut(
    scripted_server: ScriptedServer, http: HttpClient
) -> None:
    events = anthropic_events(FINAL_REPLY)
    partial = b'event: content_block_delta\ndata: {"type":"content_block_delta","ind'
    scripted_server.enqueue(Step.sse([*events[:4], partial]))
    with pytest.raises(StreamCutError) as caught:
        await make_client(scripted_server, http).complete(user(), stream=True)
    assert "middle of an event" in str(caught.value)


async def test_error_event_mid_stream(scripted_server: ScriptedServer, http: HttpClient) -> None:
    events = anthropic_events(FINAL_REPLY)
    scripted_server.enqueue(Step.sse([*events[:4], anthropic_error("overloaded_error", "Overloaded")]))
    with pytest.raises(BackendStreamError) as caught:
        await make_client(scripted_server, http).complete(user(), stream=True)
    assert caught.value.error_type == "overloaded_error"
    assert "Overloaded" in str(caught.value)
    assert len(scripted_server.requests) == 1


# ------------------------------------------------------------------------------ raw HTTP layer


async def test_raw_bytes_pass_through_untouched(scripted_server: ScriptedServer, http: HttpClient) -> None:
    items = anthropic_events(FINAL_REPLY)
    scripted_server.enqueue(Step.sse(items, chunk_delay=0.001))
    async with http.stream(scripted_server.url("/v1/messages"), {"stream": True}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        received = b"".join([chunk async for chunk in response.iter_bytes()])
    assert received == sse_bytes(items, named=True)
    assert response.finished


async def test_keep_alive_connection_is_reused(scripted_server: ScriptedServer, http: HttpClient) -> None:
    scripted_server.enqueue(
        Step.json(FINAL_REPLY), Step.sse(anthropic_events(FINAL_REPLY)), Step.json(FINAL_REPLY)
    )
    client = make_client(scripted_server, http)
    await client.complete(user())
    await client.complete(user(), stream=True)
    await client.complete(user())
    peers = {r.peer for r in scripted_server.requests}
    assert len(peers) == 1


async def test_cookies_an_upstream_sets_are_never_sent_back(
    scripted_server: ScriptedServer, http: HttpClient
) -> None:
    # One HttpClient serves every client of a gateway: a cookie one reply set (a load balancer's
    # affinity or bot-check cookie) sent with the next request would carry one tenant's state into
    # another's requests.
    scripted_server.enqueue(
        Step.json(FINAL_REPLY, headers={"Set-Cookie": "affinity=tenant-a; Path=/"}), Step.json(FINAL_REPLY)
    )
    # By name: aiohttp's default jar keeps no cookie from a bare IP address.
    base_url = scripted_server.base_url.replace("127.0.0.1", "localhost")
    client = ModelClient("anthropic", base_url=base_url, http=http, api_key="test-key")
    await client.complete(user())
    await client.complete(user())
    assert [r.headers.get("cookie") for r in scripted_server.requests] == [None, None]


async def test_post_json_and_get_json(scripted_server: ScriptedServer, http: HttpClient) -> None:
    scripted_server.models = ["a", "b"]
    scripted_server.enqueue(Step.json({"ok": True}, headers={"x-request-id": "r1"}))
    answer = await http.post_json(scripted_server.url("/v1/chat/completions"), b'{"raw":true}')
    assert (answer.status, answer.data, answer.headers["x-request-id"]) == (200, {"ok": True}, "r1")
    assert scripted_server.requests[0].body == {"raw": True}
    models = await http.get_json(scripted_server.url("/v1/models"))
    assert [m["id"] for m in models.data["data"]] == ["a", "b"]


async def test_script_running_out_is_reported(scripted_server: ScriptedServer) -> None:
    async with HttpClient(retry=RetryPolicy(max_retries=0)) as http:
        with pytest.raises(BackendHTTPError) as caught:
            await http.post_json(scripted_server.url("/v1/messages"), {})
    assert "no scripted reply left" in str(caught.value)
    assert len(scripted_server.unexpected) == 1


# ---------------------------------------------------------------------------------- timeouts


async def test_first_byte_timeout(scripted_server: ScriptedServer) -> None:
    scripted_server.enqueue(Step.json(FINAL_REPLY, delay=2.0))
    async with HttpClient(timeouts=Timeouts(first_byte=0.2), retry=FAST_RETRY) as http:
        with pytest.raises(BackendTimeout) as caught:
            await make_client(scripted_server, http).complete(user())
    assert caught.value.phase == "first_byte"
    assert "first_byte timeout after 0.2 s" in str(caught.value)
    assert len(scripted_server.requests) == 1  # the request reached the server: not retried


async def test_idle_timeout_mid_stream(scripted_server: ScriptedServer) -> None:
    scripted_server.enqueue(Step.sse(anthropic_events(FINAL_REPLY), stall_after=3))
    async with HttpClient(timeouts=Timeouts(first_byte=5, idle=0.2), retry=FAST_RETRY) as http:
        with pytest.raises(BackendTimeout) as caught:
            await make_client(scripted_server, http).complete(user(), stream=True)
    assert caught.value.phase == "idle"
    assert "stream went silent" in str(caught.value)
    assert len(scripted_server.requests) == 1


async def test_slow_first_event_is_judged_by_first_byte_not_idle(scripted_server: ScriptedServer) -> None:
    # Headers come at once but the first event takes longer than `idle`: still within first_byte.
    events = anthropic_events(FINAL_REPLY)
    scripted_server.enqueue(Step.sse(events, first_event_delay=0.6))
    async with HttpClient(timeouts=Timeouts(first_byte=5, idle=0.3), retry=FAST_RETRY) as http:
        response = await make_client(scripted_server, http).complete(user(), stream=True)
    assert response.message.text == "README.md and src."


async def test_total_timeout(scripted_server: ScriptedServer) -> None:
    scripted_server.enqueue(Step.sse(anthropic_events(FINAL_REPLY, piece=2), chunk_delay=0.05))
    async with HttpClient(timeouts=Timeouts(first_byte=5, idle=5, total=0.3), retry=FAST_RETRY) as http:
        with pytest.raises(BackendTimeout) as caught:
            await make_client(scripted_server, http).complete(user(), stream=True)
    assert caught.value.phase == "total"


async def test_a_stream_longer_than_many_idle_limits_is_read_whole(scripted_server: ScriptedServer) -> None:
    # One timer serves the whole body: each chunk moves the deadline on instead of arming a new one.
    events = anthropic_events(FINAL_REPLY, piece=2)
    scripted_server.enqueue(Step.sse(events, chunk_delay=0.04))
    async with (
        HttpClient(timeouts=Timeouts(first_byte=5, idle=0.15), retry=FAST_RETRY) as http,
        http.stream(scripted_server.url("/v1/messages"), {}) as stream,
    ):
        started = asyncio.get_running_loop().time()
        chunks = [chunk async for chunk in stream.iter_bytes()]
        took = asyncio.get_running_loop().time() - started
    assert stream.finished and b"message_stop" in b"".join(chunks)
    assert took > 3 * 0.15  # the body outlasted several idle limits


async def test_a_slow_reader_is_not_an_idle_upstream(scripted_server: ScriptedServer) -> None:
    # The idle limit runs while waiting for the upstream, not while the caller handles a chunk.
    scripted_server.enqueue(Step.sse(anthropic_events(FINAL_REPLY)))
    async with (
        HttpClient(timeouts=Timeouts(first_byte=5, idle=0.1), retry=FAST_RETRY) as http,
        http.stream(scripted_server.url("/v1/messages"), {}) as stream,
    ):
        chunks = []
        async for chunk in stream.iter_bytes():
            chunks.append(chunk)
            await asyncio.sleep(0.25)
    assert stream.finished and b"message_stop" in b"".join(chunks)


async def test_cancelling_a_waiting_reader_is_a_cancellation_not_a_timeout(
    scripted_server: ScriptedServer,
) -> None:
    scripted_server.enqueue(Step.sse(anthropic_events(FINAL_REPLY), stall_after=2))
    async with HttpClient(timeouts=Timeouts(first_byte=5, idle=0.3), retry=FAST_RETRY) as http:

        async def read() -> None:
            async with http.stream(scripted_server.url("/v1/messages"), {}) as stream:
                async for _ in stream.iter_bytes():
                    pass

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.1)  # the reader now waits on the stalled stream
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        # The reader's timer went with it: nothing fires at the idle limit into another task.
        await asyncio.sleep(0.4)


@contextlib.asynccontextmanager
async def split_body_server(pause: float, *, finish: bool = True) -> AsyncIterator[str]:
    """A raw HTTP server whose JSON reply comes in two writes ``pause`` seconds apart (or never
    finishes): headers and half the body first, then the rest."""
    body = b'{"reply": "' + b"x" * 4000 + b'"}'
    half = len(body) // 2
    handlers: set[asyncio.Task[Any]] = set()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await reader.readuntil(b"\r\n\r\n")
            head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
            writer.write(head.encode() + body[:half])
            await writer.drain()
            await asyncio.sleep(pause)
            if finish:
                writer.write(body[half:])
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(Exception):  # the client may be gone already
                await writer.wait_closed()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1/messages"
    finally:
        server.close()
        for handler in handlers:  # a stalled one would otherwise outlive the test, its socket open
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


async def test_whole_reply_arriving_in_parts_is_read_to_the_end() -> None:
    async with split_body_server(0.3) as url, HttpClient(timeouts=Timeouts(idle=5), retry=FAST_RETRY) as http:
        response = await http.request("POST", url, {"q": 1})
    assert response.json() == {"reply": "x" * 4000}


async def test_whole_reply_stalling_after_its_first_bytes_is_an_idle_timeout() -> None:
    timeouts = Timeouts(first_byte=5, idle=0.2)
    async with (
        split_body_server(3.0, finish=False) as url,
        HttpClient(timeouts=timeouts, retry=FAST_RETRY) as http,
    ):
        with pytest.raises(BackendTimeout) as caught:
            await http.request("POST", url, {"q": 1})
    assert caught.value.phase == "idle"


# ---------------------------------------------------------------------------- error statuses


async def test_4xx_is_surfaced_with_the_vendor_message_and_not_retried(
    scripted_server: ScriptedServer, http: HttpClient
) -> None:
    problem = "messages.1.content.0: Invalid `signature` in `thinking` block"
    scripted_server.enqueue(
        Step.error(400, problem, error_type="invalid_request_error"), Step.json(FINAL_REPLY)
    )
    with pytest.raises(BackendHTTPError) as caught:
        await make_client(scripted_server, http).complete(user())
    error = caught.value
    assert (error.status, error.error_type, error.server_message) == (400, "invalid_request_error", problem)
    assert f"HTTP 400 (invalid_request_error) from {scripted_server.base_url}/v1/messages: {problem}" == str(
        error
    )
    assert error.json == anthropic_error("invalid_request_error", problem)
    assert len(scripted_server.requests) == 1


async def test_4xx_in_openai_format(scripted_server: ScriptedServer, http: HttpClient) -> None:
    message = "Missing `reasoning_content` field in the assistant message at message index 4"
    scripted_server.enqueue(Step.error(400, message))
    with pytest.raises(BackendHTTPError) as caught:
        await make_client(scripted_server, http, "deepseek").complete(user(), stream=True)
    assert caught.value.server_message == message
    assert caught.value.error_type == "invalid_request_error"


async def test_401_names_the_key_variable(scripted_server: ScriptedServer, http: HttpClient) -> None:
    scripted_server.enqueue(Step.error(401, "invalid x-api-key"))
    with pytest.raises(BackendHTTPError) as caught:
        await make_client(scripted_server, http).complete(user())
    assert "check the API key in ANTHROPIC_API_KEY" in str(caught.value)
    assert "test-key" not in str(caught.value)


async def test_malformed_json_body(scripted_server: ScriptedServer, http: HttpClient) -> None:
    scripted_server.enqueue(Step.malformed())
    with pytest.raises(BackendProtocolError) as caught:
        await make_client(scripted_server, http).complete(user())
    assert "not valid JSON" in str(caught.value)
    assert "--base-url" in str(caught.value)
    assert len(scripted_server.requests) == 1


async def test_malformed_event_data(scripted_server: ScriptedServer, http: HttpClient) -> None:
    scripted_server.enqueue(
        Step.sse([anthropic_events(FINAL_REPLY)[0], ("content_block_start", "{not json")])
    )
    with pytest.raises(BackendProtocolError) as caught:
        await make_client(scripted_server, http).complete(user(), stream=True)
    assert "stream event's data is not valid JSON" in str(caught.value)


async def test_reply_of_the_wrong_shape(scripted_server: ScriptedServer, http: HttpClient) -> None:
    scripted_server.enqueue(Step.json({"id": "x", "content": "not a list"}))
    with pytest.raises(BackendProtocolError) as caught:
        await make_client(scripted_server, http).complete(user())
    assert "not a valid anthropic response" in str(caught.value)


async def test_minimax_error_inside_a_200(scripted_server: ScriptedServer, http: HttpClient) -> None:
    scripted_server.enqueue(Step.json({"base_resp": {"status_code": 1004, "status_msg": "login fail"}}))
    with pytest.raises(BackendHTTPError) as caught:
        await make_client(scripted_server, http, "minimax-openai").complete(user())
    assert caught.value.error_type == "minimax_1004"
    assert "login fail" in str(caught.value)


# ----------------------------------------------------------------------- profiles and headers


@pytest.mark.parametrize(
    ("profile", "prefix", "path", "auth_header", "auth_value"),
    [
        ("anthropic", "", "/v1/messages", "x-api-key", "secret-1"),
        ("minimax", "/anthropic", "/anthropic/v1/messages", "authorization", "Bearer secret-1"),
        ("minimax-openai", "/v1", "/v1/chat/completions", "authorization", "Bearer secret-1"),
        ("openai", "/v1", "/v1/chat/completions", "authorization", "Bearer secret-1"),
        ("deepseek", "", "/v1/chat/completions", "authorization", "Bearer secret-1"),
        ("kimi", "/v1", "/v1/chat/completions", "authorization", "Bearer secret-1"),
        ("openrouter", "/api/v1", "/api/v1/chat/completions", "authorization", "Bearer secret-1"),
        ("vllm", "/v1/", "/v1/chat/completions", "authorization", "Bearer secret-1"),
    ],
)
async def test_auth_and_headers_per_profile(
    scripted_server: ScriptedServer,
    http: HttpClient,
    monkeypatch: pytest.MonkeyPatch,
    profile: str,
    prefix: str,
    path: str,
    auth_header: str,
    auth_value: str,
) -> None:
    spec = PROFILES[profile]
    assert spec.key_env is not None
    monkeypatch.setenv(spec.key_env, "secret-1")
    reply = anthropic_message([text("ok")]) if spec.api == "anthropic" else openai_completion(content="ok")
    scripted_server.enqueue(Step.json(reply))
    client = ModelClient(profile, base_url=scripted_server.base_url + prefix, http=http, model="m")
    await client.complete(user())

    (request,) = scripted_server.requests
    assert request.path == path
    assert request.headers[auth_header] == auth_value
    other = "authorization" if auth_header == "x-api-key" else "x-api-key"
    assert other not in request.headers
    for name, value in spec.headers.items():
        assert request.headers[name.lower()] == value
    assert request.headers["content-type"] == "application/json"
    assert "secret-1" not in repr(client)


async def test_anthropic_profile_sends_version_and_interleaved_beta_to_budget_models(
    scripted_server: ScriptedServer, http: HttpClient
) -> None:
    scripted_server.enqueue(Step.json(FINAL_REPLY))
    await make_client(scripted_server, http, model="claude-sonnet-4-5").complete(user())
    headers = scripted_server.requests[0].headers
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    # The profile's default model, Sonnet 4.6, thinks adaptively and interleaves without the beta.
    scripted_server.enqueue(Step.json(FINAL_REPLY))
    await make_client(scripted_server, http).complete(user())
    headers = scripted_server.requests[1].headers
    assert headers["anthropic-version"] == "2023-06-01" and "anthropic-beta" not in headers


@pytest.mark.parametrize(
    "profile", ["anthropic", "minimax", "minimax-openai", "openai", "deepseek", "kimi", "openrouter"]
)
def test_missing_key_names_the_env_var(profile: str) -> None:
    with pytest.raises(BackendConfigError) as caught:
        ModelClient(profile, env={})
    key_env = PROFILES[profile].key_env
    assert key_env is not None and key_env in str(caught.value)


async def test_self_hosted_needs_no_key_and_discovers_its_model(
    scripted_server: ScriptedServer, http: HttpClient
) -> None:
    scripted_server.models = ["served-model-7b"]
    scripted_server.enqueue(Step.json(openai_completion(content="hi")))
    client = ModelClient("vllm", base_url=scripted_server.base_url, http=http, env={})
    await client.complete(user())
    models_request, chat_request = scripted_server.requests
    assert models_request.method == "GET" and models_request.path == "/v1/models"
    assert chat_request.json["model"] == "served-model-7b"
    assert "authorization" not in chat_request.headers


async def test_minimax_profile_defaults(scripted_server: ScriptedServer, http: HttpClient) -> None:
    scripted_server.enqueue(Step.json(FINAL_REPLY), Step.json(FINAL_REPLY))
    client = make_client(scripted_server, http, "minimax", prefix="/anthropic")
    await client.complete(user())
    await client.complete(user(temperature=0.2, model="MiniMax-M2.5", max_tokens=100))
    defaults, overridden = (r.json for r in scripted_server.requests)
    assert defaults["model"] == "MiniMax-M2.7"
    assert (defaults["temperature"], defaults["top_p"], defaults["top_k"]) == (1.0, 0.95, 40)
    assert defaults["max_tokens"] == 32_768
    assert (overridden["model"], overridden["temperature"], overridden["max_tokens"]) == (
        "MiniMax-M2.5",
        0.2,
        100,
    )
    assert overridden["top_p"] == 0.95


async def test_fast_model(scripted_server: ScriptedServer, http: HttpClient) -> None:
    scripted_server.enqueue(Step.json(FINAL_REPLY))
    await make_client(scripted_server, http, "minimax", fast=True).complete(user())
    assert scripted_server.requests[0].json["model"] == "MiniMax-M2.7-highspeed"


async def test_losses_are_reported(scripted_server: ScriptedServer, http: HttpClient) -> None:
    # A system message after the start has no place in Anthropic Messages: the encoder records it.
    conversation = user().with_messages(
        [*user().messages, Message(role="system", blocks=(Text(text="late note"),))]
    )
    reported: list[list[str]] = []
    scripted_server.enqueue(Step.json(FINAL_REPLY))
    client = make_client(scripted_server, http, on_losses=lambda losses: reported.append(list(losses)))
    await client.complete(conversation)
    assert client.losses and reported == [list(client.losses)]


def test_profile_urls() -> None:
    minimax = get_profile("minimax")
    assert minimax.url() == "https://api.minimax.io/anthropic/v1/messages"
    assert get_profile("minimax-openai").url() == "https://api.minimax.io/v1/chat/completions"
    assert get_profile("deepseek").url() == "https://api.deepseek.com/v1/chat/completions"
    assert get_profile("openrouter").url() == "https://openrouter.ai/api/v1/chat/completions"
    assert minimax.url("http://h:1/v1/") == "http://h:1/v1/messages"
    assert minimax.url("http://h:1/v1/messages") == "http://h:1/v1/messages"
    assert get_profile("vllm").url("http://h:1/api/v4") == "http://h:1/api/v4/chat/completions"
    with pytest.raises(BackendConfigError, match="no fixed address"):
        get_profile("local").url()


def test_profile_lookup_and_overrides() -> None:
    assert get_profile("MiniMax_OpenAI").name == "minimax-openai"
    custom = get_profile(
        "minimax", base_url="https://api.minimaxi.com/anthropic", model="MiniMax-M2.5", key_env="MM_KEY"
    )
    assert (custom.base_url, custom.model, custom.key_env) == (
        "https://api.minimaxi.com/anthropic",
        "MiniMax-M2.5",
        "MM_KEY",
    )
    assert custom.price("MiniMax-M2.5") is not None and custom.price("MiniMax-M2.7") is None
    with pytest.raises(BackendConfigError) as caught:
        get_profile("minmax")
    assert "did you mean 'minimax'" in str(caught.value)
    for name in PROFILES:
        assert name in str(caught.value)


def test_every_profile_is_complete() -> None:
    expected = {
        "anthropic",
        "minimax",
        "minimax-openai",
        "openai",
        "deepseek",
        "kimi",
        "openrouter",
        "vllm",
        "sglang",
        "llamacpp",
        "ollama",
        "local",
        "openai-responses",
    }
    assert expected <= set(PROFILES)
    for profile in PROFILES.values():
        assert profile.api in ("anthropic", "openai-chat", "openai-responses")
        if profile.api == "openai-responses":
            assert profile.thinking_dialect is ReasoningDialect.RESPONSES
        assert profile.description
        if profile.key_required:
            assert profile.key_env
        if profile.api == "anthropic":
            assert profile.thinking_dialect is ReasoningDialect.ANTHROPIC and profile.max_tokens
        assert profile.model or profile.discover_model


# ------------------------------------------------------------------------------ error mapping


def _key() -> Any:
    return SimpleNamespace(host="example.test", port=443, ssl=True, is_ssl=True)


def _instance(cls: type[BaseException]) -> BaseException:
    refused = ConnectionRefusedError(111, "Connection refused")
    if cls is ce.UnixClientConnectorError:
        return cls("/tmp/x.sock", _key(), refused)
    if cls is ce.ClientConnectorCertificateError:
        return cls(_key(), Exception("self-signed certificate"))
    if issubclass(cls, ce.ClientConnectorError):
        return cls(_key(), refused)
    if issubclass(cls, ce.ClientResponseError):
        return cls(None, (), status=407, message="Proxy Authentication Required")  # type: ignore[arg-type]
    if cls is ce.ServerFingerprintMismatch:
        return cls(b"a", b"b", "example.test", 443)
    if issubclass(cls, ce.InvalidURL):
        return cls("http://user:pw@example.test/v1/messages?key=SECRET", "bad port")
    return cls()


def _subclasses(cls: type[BaseException]) -> set[type[BaseException]]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= _subclasses(sub)
    return found


AIOHTTP_ERRORS = sorted(
    (c for c in _subclasses(aiohttp.ClientError) if c.__module__.startswith("aiohttp")),
    key=lambda c: c.__name__,
)


def test_every_aiohttp_client_error_has_its_own_rule() -> None:
    missing = [c.__name__ for c in AIOHTTP_ERRORS if c not in http_module._RULES]
    assert missing == [], f"aiohttp exceptions without a deliberate mapping: {missing}"


@pytest.mark.parametrize("cls", AIOHTTP_ERRORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("phase", ["request", "body"])
def test_every_aiohttp_error_maps_to_a_backend_error(cls: type[BaseException], phase: str) -> None:
    url = "http://user:pw@example.test/v1/messages?key=SECRET"
    error = map_client_error(_instance(cls), url=url, phase=phase)  # type: ignore[arg-type]
    assert isinstance(error, BackendError)
    assert error.message and "example.test/v1/messages" in error.message
    assert "SECRET" not in error.message and "pw" not in error.message


def test_non_transport_errors_are_not_mapped() -> None:
    assert map_client_error(asyncio.CancelledError(), url="http://x", phase="request") is None
    assert map_client_error(KeyError("bug"), url="http://x", phase="request") is None


def test_connection_errors_retry_only_before_the_body() -> None:
    exc = ce.ServerDisconnectedError()
    before = map_client_error(exc, url="http://x", phase="request")
    after = map_client_error(exc, url="http://x", phase="body")
    assert isinstance(before, BackendConnectionError) and before.retryable
    assert isinstance(after, StreamCutError) and not after.retryable


@pytest.mark.parametrize(
    ("body", "message", "error_type"),
    [
        (
            b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
            "Overloaded",
            "overloaded_error",
        ),
        (
            b'{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"}}',
            "bad key",
            "invalid_request_error",
        ),
        (
            b'{"object":"error","message":"model not found","type":"NotFoundError","code":404}',
            "model not found",
            "NotFoundError",
        ),
        (b'{"error":"model \\"x\\" not found"}', 'model "x" not found', None),
        (b'{"detail":"Not Found"}', "Not Found", None),
        (b'{"base_resp":{"status_code":1004,"status_msg":"login fail"}}', "login fail", "minimax_1004"),
        (b"upstream connect error", "upstream connect error", None),
        (b"", "(empty body)", None),
    ],
)
def test_error_bodies(body: bytes, message: str, error_type: str | None) -> None:
    assert parse_error_body(body) == (message, error_type)


def test_html_error_page_is_named() -> None:
    message, _ = parse_error_body(b"<html><body>502 Bad Gateway</body></html>", "text/html")
    assert "HTML page" in message
