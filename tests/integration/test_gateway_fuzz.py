"""Fuzzing both generation endpoints: whatever a client sends, the gateway answers it in the client's
format, never with a 5xx of its own and never with an unhandled exception in its log.

Bodies are valid Anthropic and OpenAI requests mutated field by field (wrong types, odd values, lone
surrogates, deep nesting, unknown blocks), plus arbitrary JSON. The upstream is lenient: it answers
every request with a valid reply, so a 5xx can only be the gateway's own. ``INTERLEAF_FUZZ_EXAMPLES``
sets the number of examples (``make bench`` runs 10,000; CI runs fewer).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.gateway_server import GatewayServer, gateway_options

EXAMPLES = int(os.environ.get("INTERLEAF_FUZZ_EXAMPLES", "300"))

pytestmark = pytest.mark.timeout(max(120, EXAMPLES // 10))

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "\ud800",
            "",
            " ",
            "<think>",
            "</think>",
            "toolu_" + "a" * 600,
            "user",
            "assistant",
            "system",
            "tool",
        ]
    )
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
KEYS = [
    "type",
    "role",
    "content",
    "tools",
    "id",
    "name",
    "input",
    "text",
    "signature",
    "tool_calls",
    "function",
    "arguments",
    "stream",
    "system",
    "thinking",
    "tool_choice",
    "max_tokens",
    "reasoning_details",
    "reasoning_content",
    "reasoning",
    "tool_use_id",
    "tool_call_id",
    "data",
    "messages",
    "model",
]

ANTHROPIC_BODY: dict[str, Any] = {
    "model": "m",
    "max_tokens": 10,
    "system": [{"type": "text", "text": "s"}],
    "tools": [{"name": "t", "input_schema": {"type": "object"}}],
    "messages": [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "x", "signature": ""},
                {"type": "text", "text": "t"},
                {"type": "tool_use", "id": "toolu_01AbCdEf12", "name": "t", "input": {"a": 1}},
            ],
        },
        {"role": "system", "content": "note"},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_01AbCdEf12", "content": "r"}],
        },
    ],
}
OPENAI_BODY: dict[str, Any] = {
    "model": "m",
    "tools": [{"type": "function", "function": {"name": "t", "parameters": {"type": "object"}}}],
    "messages": [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": "<think>r</think>t",
            "tool_calls": [
                {"id": "call_1aB2cD3e", "type": "function", "function": {"name": "t", "arguments": '{"a":1}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1aB2cD3e", "content": "r"},
    ],
}


@st.composite
def mutated(draw: st.DrawFn, base: Any, depth: int = 0) -> Any:
    """``base`` with some fields replaced, added or mutated recursively."""
    if isinstance(base, dict):
        out = dict(base)
        for key in draw(st.lists(st.sampled_from(sorted(out) or KEYS), max_size=2)):
            out[key] = (
                draw(values) if draw(st.booleans()) or depth > 4 else draw(mutated(out.get(key), depth + 1))
            )
        for key in draw(st.lists(st.sampled_from(KEYS), max_size=1)):
            out[key] = draw(values)
        return out
    if isinstance(base, list) and base:
        out_list = list(base)
        index = draw(st.integers(0, len(out_list) - 1))
        out_list[index] = (
            draw(values) if draw(st.booleans()) or depth > 4 else draw(mutated(out_list[index], depth + 1))
        )
        return out_list
    return draw(values) if draw(st.booleans()) else base


def _lenient_upstream() -> web.Application:
    async def messages(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "m",
                "content": [
                    {"type": "thinking", "thinking": "ok", "signature": "sig"},
                    {"type": "text", "text": "ok"},
                ],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 1, "output_tokens": 1},
            }
        )

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/messages", messages)
    return app


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A lenient upstream and a gateway, both on their own event loop in a thread for the module."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    holder: dict[str, str] = {}
    store = Path(tmp_path_factory.mktemp("fuzz")) / "thinking.db"

    async def serve() -> None:
        runner = web.AppRunner(_lenient_upstream())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        options = gateway_options("anthropic", f"http://127.0.0.1:{port}", f"sqlite:///{store}")
        async with GatewayServer(options) as gateway:
            holder["url"] = gateway.base_url
            ready.set()
            await stop.wait()
        await runner.cleanup()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    assert ready.wait(30), "the fuzz gateway did not start"
    yield holder["url"]
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


@pytest.fixture(scope="module")
def error_log() -> Iterator[_Errors]:
    handler = _Errors()
    loggers = [logging.getLogger(name) for name in ("interleaf", "uvicorn.error", "asyncio")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


def _post(url: str, raw: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=raw, headers={"content-type": "application/json", "x-api-key": "k"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _check(url: str, body: Any, anthropic: bool, errors: _Errors) -> None:
    raw = json.dumps(body).encode()  # ASCII escapes: lone surrogates travel as the "\ud800" JSON allows
    status, answer = _post(url, raw)
    assert status < 500, (status, answer[:300], raw[:300])
    if status >= 400:  # an error in the client's own format (a 200 may be a stream)
        parsed = json.loads(answer)
        assert ("type" in parsed and parsed["type"] == "error") if anthropic else ("error" in parsed), parsed
    assert not errors.records, [r.getMessage() for r in errors.records]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=mutated(ANTHROPIC_BODY) | values)
def test_fuzz_messages(gateway_url: str, error_log: _Errors, body: Any) -> None:
    _check(gateway_url + "/v1/messages", body, True, error_log)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=mutated(OPENAI_BODY) | values)
def test_fuzz_chat_completions(gateway_url: str, error_log: _Errors, body: Any) -> None:
    _check(gateway_url + "/v1/chat/completions", body, False, error_log)
