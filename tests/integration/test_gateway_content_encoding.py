"""Request bodies sent compressed, as Codex sends large Responses API bodies (zstd) and other clients
send gzip: the gateway decodes them, restores thinking as for any request, sends the upstream plain
JSON, and refuses what it cannot decode (an unknown coding, broken data, a decompression bomb) with an
error in the client's format instead of calling the body invalid JSON.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import zstandard

from tests.support.gateway_scenario import (
    MODEL,
    PROMPT,
    anthropic_turn,
    assert_upstream_saw_all_thinking,
    openai_turn,
)
from tests.support.gateway_server import GatewayServer, gateway_options
from tests.support.scripted_server import ScriptedServer, Step

pytestmark = pytest.mark.timeout(60)

ANTHROPIC = {"content-type": "application/json", "x-api-key": "k", "anthropic-version": "2023-06-01"}
OPENAI = {"content-type": "application/json", "authorization": "Bearer k"}

COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "zstd": lambda data: zstandard.ZstdCompressor(level=3).compress(data),
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "gzip, zstd": lambda data: zstandard.ZstdCompressor().compress(gzip.compress(data)),
}


async def post(url: str, body: Any, headers: dict[str, str], encoding: str) -> tuple[int, Any]:
    data = COMPRESS[encoding](json.dumps(body).encode())
    async with (
        aiohttp.ClientSession(auto_decompress=True) as session,
        session.post(url, data=data, headers={**headers, "content-encoding": encoding}) as response,
    ):
        return response.status, await response.json()


@pytest.mark.parametrize("encoding", list(COMPRESS))
async def test_a_compressed_conversation_is_decoded_and_its_thinking_restored(
    upstream: ScriptedServer, store_url: str, encoding: str
) -> None:
    upstream.enqueue(Step.json(anthropic_turn(0)), Step.json(anthropic_turn(1)))
    question: dict[str, Any] = {"role": "user", "content": PROMPT}
    first = {"model": MODEL, "max_tokens": 100, "messages": [question]}
    async with GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway:
        url = gateway.base_url + "/v1/messages"
        status, reply = await post(url, first, ANTHROPIC, encoding)
        assert status == 200, reply
        await gateway.settle()
        # The app sends the turn back without its thinking, compressed again.
        dropped = [block for block in reply["content"] if block["type"] != "thinking"]
        call = next(block for block in dropped if block["type"] == "tool_use")
        second = {
            **first,
            "messages": [
                question,
                {"role": "assistant", "content": dropped},
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "ok"}],
                },
            ],
        }
        status, _ = await post(url, second, ANTHROPIC, encoding)
        assert status == 200
        assert gateway.gateway.metrics.restored.total() == 1
    assert len(upstream.requests) == 2
    for request in upstream.requests:  # plain JSON upstream, with no coding left to undo
        assert "content-encoding" not in request.headers
        assert request.body is not None
    assert_upstream_saw_all_thinking("anthropic", "thinking", upstream.requests)


async def test_a_zstd_responses_request_as_codex_sends_it_is_answered(
    upstream: ScriptedServer, store_url: str
) -> None:
    upstream.enqueue(Step.json(openai_turn(0, "reasoning_content")))
    body = {"model": MODEL, "input": PROMPT, "stream": False, "store": False}
    async with GatewayServer(gateway_options("deepseek", upstream.base_url, store_url)) as gateway:
        status, reply = await post(gateway.base_url + "/v1/responses", body, OPENAI, "zstd")
    assert status == 200, reply
    assert reply["object"] == "response"
    assert upstream.requests[0].json["messages"][-1]["content"] == PROMPT


def _bomb() -> bytes:
    """64 MiB of zeros: a few kilobytes on the wire, over the test's 1 MiB limit once decoded."""
    return zstandard.ZstdCompressor().compress(bytes(64 * 2**20))


@pytest.mark.parametrize(
    ("encoding", "data", "status", "says"),
    [
        pytest.param("br", lambda: b"\x1b\x03\x00", 415, "'br' is not supported", id="brotli"),
        pytest.param("compress", lambda: b"x", 415, "'compress' is not supported", id="unknown"),
        pytest.param("zstd", lambda: b"this is not zstd", 400, "not valid zstd data", id="not-zstd"),
        pytest.param(
            "gzip",
            lambda: gzip.compress(b'{"model": "m", "messages": []}')[:20],
            400,
            "not valid gzip data",
            id="cut-gzip",
        ),
        pytest.param("zstd", _bomb, 413, "decompresses (zstd)", id="zstd-bomb"),
    ],
)
async def test_what_cannot_be_decoded_is_refused_in_the_clients_format(
    upstream: ScriptedServer,
    store_url: str,
    encoding: str,
    data: Callable[[], bytes],
    status: int,
    says: str,
) -> None:
    options = gateway_options("anthropic", upstream.base_url, store_url, max_body=2**20)
    async with (
        GatewayServer(options) as gateway,
        aiohttp.ClientSession() as session,
        session.post(
            gateway.base_url + "/v1/messages",
            data=data(),
            headers={**ANTHROPIC, "content-encoding": encoding},
        ) as response,
    ):
        assert response.status == status
        answer = await response.json()
    assert answer["type"] == "error"
    assert says in answer["error"]["message"], answer
    assert upstream.requests == []


async def test_a_body_that_expands_past_200_fold_is_refused_as_a_bomb_below_the_limit(
    upstream: ScriptedServer, store_url: str
) -> None:
    # Under the default 32 MiB limit: 2 KB that would decode to 64 MiB is refused by its ratio, after
    # at most 1 MiB of decoding. A small but very repetitive body (under 1 MiB decoded) still passes.
    upstream.enqueue(Step.json(anthropic_turn(0)))
    repetitive = {
        "model": MODEL,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "the same log line\n" * 40_000}],
    }
    async with (
        GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway,
        aiohttp.ClientSession() as session,
    ):
        status, _ = await post(gateway.base_url + "/v1/messages", repetitive, ANTHROPIC, "zstd")
        assert status == 200
        async with session.post(
            gateway.base_url + "/v1/messages",
            data=_bomb(),
            headers={**ANTHROPIC, "content-encoding": "zstd"},
        ) as response:
            assert response.status == 413
            answer = await response.json()
    assert "decompression bomb" in answer["error"]["message"], answer
    assert len(upstream.requests) == 1
