"""A strict model server for load tests, run as its own process: ``python -m tests.support.strict_echo``.

It answers any number of concurrent conversations from their content (no script): the first user
message names the conversation, the number of assistant turns in the request is the turn. Each reply
thinks (a text and, for Anthropic, a signature derived from conversation and turn) and calls a tool with
a random id, or answers on the third turn. Every request must carry every earlier thinking block of its
conversation exactly, as the real APIs demand (Anthropic: the signed block; DeepSeek-style OpenAI:
``reasoning_content``), or it is refused with the vendor's 400: a turn the gateway forwarded without its
thinking shows up as that 400 at the client.

``--port 0`` picks a free port; the first line on stdout is ``PORT <n>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from typing import Any

from aiohttp import web

PAD = " Weighing the next step carefully before acting." * 6
TURNS = 3


def thought(conversation: str, turn: int) -> str:
    return f"Thinking in {conversation} at turn {turn}.{PAD}"


def signature(conversation: str, turn: int) -> str:
    return f"EqQB{conversation}x{turn}sig=="


def _conversation(messages: list[Any]) -> str:
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content.split()[-1]
            if isinstance(content, list) and content and isinstance(content[0], dict):
                return str(content[0].get("text", "?")).split()[-1]
    return "?"


def _anthropic_problem(messages: list[Any], conversation: str) -> str | None:
    turn = 0
    for index, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        content = message.get("content") or []
        first = content[0] if isinstance(content, list) and content else {}
        if first.get("type") != "thinking":
            return (
                f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
                f"`{first.get('type')}`. When `thinking` is enabled, a final `assistant` message must start "
                "with a thinking block"
            )
        if first.get("thinking") != thought(conversation, turn) or first.get("signature") != signature(
            conversation, turn
        ):
            return f"messages.{index}.content.0: Invalid `signature` in `thinking` block"
        turn += 1
    return None


def _openai_problem(messages: list[Any], conversation: str) -> str | None:
    turn = 0
    for index, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        if message.get("reasoning_content") != thought(conversation, turn):
            return f"Missing `reasoning_content` field in the assistant message at message index {index}"
        turn += 1
    return None


async def messages_endpoint(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    messages = body.get("messages") or []
    conversation = _conversation(messages)
    problem = _anthropic_problem(messages, conversation)
    if problem is not None:
        return web.json_response(
            {"type": "error", "error": {"type": "invalid_request_error", "message": problem}}, status=400
        )
    turn = sum(1 for m in messages if m.get("role") == "assistant")
    content: list[dict[str, Any]] = [
        {
            "type": "thinking",
            "thinking": thought(conversation, turn),
            "signature": signature(conversation, turn),
        }
    ]
    if turn + 1 < TURNS:
        content.append(
            {
                "type": "tool_use",
                "id": f"toolu_{uuid.uuid4().hex[:24]}",
                "name": "list_files",
                "input": {"path": "."},
            }
        )
    else:
        content.append({"type": "text", "text": f"Done with {conversation}."})
    reply = {
        "id": f"msg_{uuid.uuid4().hex[:12]}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "m"),
        "content": content,
        "stop_reason": "tool_use" if turn + 1 < TURNS else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 10},
    }
    if not body.get("stream"):
        return web.json_response(reply)
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {**reply, "content": [], "stop_reason": None}}
    ]
    for index, block in enumerate(content):
        if block["type"] == "thinking":
            events += [
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                },
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "thinking_delta", "thinking": block["thinking"]},
                },
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "signature_delta", "signature": block["signature"]},
                },
            ]
        elif block["type"] == "tool_use":
            events += [
                {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}},
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
                },
            ]
        else:
            events += [
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": block["text"]},
                },
            ]
        events.append({"type": "content_block_stop", "index": index})
    events += [
        {
            "type": "message_delta",
            "delta": {"stop_reason": reply["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": 10},
        },
        {"type": "message_stop"},
    ]
    return await _sse(request, [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events])


async def chat_endpoint(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    messages = body.get("messages") or []
    conversation = _conversation(messages)
    problem = _openai_problem(messages, conversation)
    if problem is not None:
        return web.json_response(
            {
                "error": {
                    "message": problem,
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_request_error",
                }
            },
            status=400,
        )
    turn = sum(1 for m in messages if m.get("role") == "assistant")
    message: dict[str, Any] = {"role": "assistant", "reasoning_content": thought(conversation, turn)}
    if turn + 1 < TURNS:
        message["content"] = ""
        message["tool_calls"] = [
            {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {"name": "list_files", "arguments": '{"path":"."}'},
            }
        ]
        finish = "tool_calls"
    else:
        message["content"] = f"Done with {conversation}."
        finish = "stop"
    frame = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "created": 1, "model": body.get("model", "m")}
    if not body.get("stream"):
        return web.json_response(
            {
                **frame,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            }
        )
    chunk = {**frame, "object": "chat.completion.chunk"}
    deltas: list[dict[str, Any]] = [
        {"role": "assistant", "content": ""},
        {"reasoning_content": message["reasoning_content"]},
    ]
    if "tool_calls" in message:
        call = message["tool_calls"][0]
        deltas.append({"tool_calls": [{"index": 0, **call}]})
    else:
        deltas.append({"content": message["content"]})
    lines = [
        f"data: {json.dumps({**chunk, 'choices': [{'index': 0, 'delta': d, 'finish_reason': None}]})}\n\n"
        for d in deltas
    ]
    lines.append(
        f"data: {json.dumps({**chunk, 'choices': [{'index': 0, 'delta': {}, 'finish_reason': finish}]})}\n\n"
    )
    lines.append("data: [DONE]\n\n")
    return await _sse(request, lines)


async def _sse(request: web.Request, lines: list[str]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for line in lines:
        await response.write(line.encode())
    await response.write_eof()
    return response


async def models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "strict-model", "object": "model"}]})


def app() -> web.Application:
    application = web.Application(client_max_size=64 * 1024 * 1024)
    application.router.add_post("/v1/messages", messages_endpoint)
    application.router.add_post("/v1/chat/completions", chat_endpoint)
    application.router.add_get("/v1/models", models)
    return application


async def main(port: int) -> None:
    runner = web.AppRunner(app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"PORT {bound}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    try:
        asyncio.run(main(parser.parse_args().port))
    except KeyboardInterrupt:
        sys.exit(0)
