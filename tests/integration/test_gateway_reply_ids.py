"""A reply translated into the client's format gets an id of its own, unique to that reply.

Upstreams do not all give one: Ollama's OpenAI API numbers its replies ``chatcmpl-0`` to
``chatcmpl-998`` at random (two replies of a session share one soon enough), some servers send none,
and a reply translated without an id used to get the same fallback every time (``msg_interleaf``,
``resp_interleaf``). Claude Code takes two replies with the same message id for parts of one turn and
merges them, which breaks its history; Responses clients key output items by ids derived from it.
Same-format replies are not touched: they go to the client byte for byte.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from tests.support.gateway_server import GatewayServer, gateway_options
from tests.support.payloads import anthropic_events, anthropic_message, openai_chunks, openai_completion, text
from tests.support.scripted_server import ScriptedServer, Step

pytestmark = pytest.mark.timeout(60)

MODEL = "scripted-model"
ASK: Any = [{"role": "user", "content": "hi"}]


def _chat_reply(stream: bool, reply_id: str | None) -> Step:
    completion = openai_completion(content="hello", reasoning="greet", reasoning_field="reasoning_content")
    if reply_id is None:
        del completion["id"]
    else:
        completion["id"] = reply_id
    return Step.sse(openai_chunks(completion)) if stream else Step.json(completion)


async def _anthropic_ids(base_url: str, stream: bool) -> list[str]:
    async with anthropic.AsyncAnthropic(base_url=base_url, api_key="k", max_retries=0) as client:
        ids = []
        for _ in range(2):
            if stream:
                async with client.messages.stream(model=MODEL, max_tokens=50, messages=ASK) as events:
                    started = None
                    async for event in events:
                        if event.type == "message_start":
                            started = event.message.id
                    final = await events.get_final_message()
                assert started == final.id  # one id for the whole reply
                ids.append(final.id)
            else:
                ids.append((await client.messages.create(model=MODEL, max_tokens=50, messages=ASK)).id)
        return ids


async def _responses_ids(base_url: str, stream: bool) -> list[str]:
    async with openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="k", max_retries=0) as client:
        ids = []
        for _ in range(2):
            if stream:
                seen = set()
                async with client.responses.stream(model=MODEL, input="hi") as events:
                    async for event in events:
                        response = getattr(event, "response", None)
                        if response is not None:
                            seen.add(response.id)
                    final = await events.get_final_response()
                assert seen == {final.id}
                ids.append(final.id)
                items = [getattr(item, "id", None) for item in final.output]
            else:
                reply = await client.responses.create(model=MODEL, input="hi")
                ids.append(reply.id)
                items = [getattr(item, "id", None) for item in reply.output]
            assert all(items) and len(set(items)) == len(items)
        return ids


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("reply_id", ["chatcmpl-7", None], ids=["repeated", "absent"])
@pytest.mark.parametrize("client", ["anthropic", "openai-responses"])
async def test_every_translated_reply_has_its_own_id(
    client: str, reply_id: str | None, stream: bool, upstream: ScriptedServer, store_url: str
) -> None:
    upstream.enqueue(_chat_reply(stream, reply_id), _chat_reply(stream, reply_id))
    async with GatewayServer(gateway_options("deepseek", upstream.base_url, store_url)) as gateway:
        if client == "anthropic":
            ids = await _anthropic_ids(gateway.base_url, stream)
        else:
            ids = await _responses_ids(gateway.base_url, stream)
    prefix = "msg_" if client == "anthropic" else "resp_"
    assert ids[0] != ids[1] and all(i.startswith(prefix) for i in ids), ids


@pytest.mark.parametrize("stream", [False, True])
async def test_a_chat_client_of_an_anthropic_upstream_gets_distinct_ids_too(
    stream: bool, upstream: ScriptedServer, store_url: str
) -> None:
    for _ in range(2):
        message = anthropic_message([text("hello")], id="msg_same")
        upstream.enqueue(Step.sse(anthropic_events(message)) if stream else Step.json(message))
    async with (
        GatewayServer(gateway_options("anthropic", upstream.base_url, store_url)) as gateway,
        openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="k", max_retries=0) as client,
    ):
        ids = []
        for _ in range(2):
            if stream:
                chunks = await client.chat.completions.create(model=MODEL, messages=ASK, stream=True)
                seen = {chunk.id async for chunk in chunks}
                assert len(seen) == 1
                ids.append(seen.pop())
            else:
                ids.append((await client.chat.completions.create(model=MODEL, messages=ASK)).id)
    assert ids[0] != ids[1] and all(i.startswith("chatcmpl-") for i in ids), ids
