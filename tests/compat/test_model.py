"""The compatibility suite's own parts, with real HTTP and the official SDKs: the strict scripted model
accepts a client that sends every earlier thinking block back and refuses, with the vendor's words, one
that drops it; its Responses stream parses with the OpenAI SDK; tool arguments fill app schemas; the
fixture redactor keeps the suite's texts and hides the app's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from tests.compat.dialects import DIALECTS
from tests.compat.fixtures import PLACEHOLDER, Redactor
from tests.compat.model import TASK_MARKER, CompatModel
from tests.compat.tools import ToolSpec, plan_call
from tests.support.scripted_server import ScriptedServer

PROMPT = f"{TASK_MARKER} 0123abcd: read notes.txt"
FILE_TEXT = "compat file content 0123456789ab"


def _tool(name: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
    return {"type": "function", "function": {"name": name, "description": "d", "parameters": schema}}


CHAT_TOOLS = [_tool("read_file"), _tool("list_directory")]


async def _started(dialect: str, tmp_path: Path) -> tuple[ScriptedServer, CompatModel]:
    (tmp_path / "notes.txt").write_text(FILE_TEXT)
    model = CompatModel(DIALECTS[dialect], tmp_path, "notes.txt", FILE_TEXT)
    server = await ScriptedServer(count_tokens=True).start()
    model.attach(server)
    return server, model


async def _chat_loop(url: str, *, keep: str | None) -> list[tuple[int, dict[str, Any]]]:
    """Three Chat requests; ``keep`` names the assistant field sent back (None: only the tool calls)."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
    answers: list[tuple[int, dict[str, Any]]] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            body = {"model": "m", "messages": messages, "tools": CHAT_TOOLS}
            async with session.post(url + "/v1/chat/completions", json=body) as response:
                answer = await response.json()
            answers.append((response.status, answer))
            if response.status != 200:
                break
            message = answer["choices"][0]["message"]
            sent = {
                "role": "assistant",
                "content": message.get("content"),
                "tool_calls": message.get("tool_calls"),
            }
            if keep is not None:
                sent[keep] = message[keep]
            messages.append(sent)
            for call in message.get("tool_calls") or []:
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": FILE_TEXT})
    return answers


async def test_a_chat_client_that_keeps_reasoning_finishes_the_task(tmp_path: Path) -> None:
    server, model = await _started("reasoning_content", tmp_path)
    try:
        answers = await _chat_loop(server.base_url, keep="reasoning_content")
    finally:
        await server.stop()
    assert [status for status, _ in answers] == [200, 200, 200]
    assert answers[2][1]["choices"][0]["message"]["content"] == model.done_text
    steps = [(e.step, [(x.turn, x.exact) for x in e.echoes]) for e in model.task_exchanges()]
    assert steps == [(1, []), (2, [(1, True)]), (3, [(1, True), (2, True)])]
    assert [e.tool for e in model.task_exchanges()] == ["read_file", "list_directory", ""]
    assert model.task_exchanges()[1].tool_result_seen


async def test_a_chat_client_that_drops_reasoning_gets_deepseeks_400(tmp_path: Path) -> None:
    server, model = await _started("reasoning_content", tmp_path)
    try:
        answers = await _chat_loop(server.base_url, keep=None)
    finally:
        await server.stop()
    status, body = answers[-1]
    assert status == 400
    assert (
        body["error"]["message"]
        == "Missing `reasoning_content` field in the assistant message at message index 1"
    )
    echo = model.task_exchanges()[1].echoes[0]
    assert (echo.exact, echo.detail) == (False, "thinking dropped")


async def test_think_tags_moved_out_of_content_are_refused(tmp_path: Path) -> None:
    server, _ = await _started("think_tags", tmp_path)
    try:
        answers = await _chat_loop(server.base_url, keep=None)
    finally:
        await server.stop()
    first = answers[0][1]["choices"][0]["message"]
    assert first["content"].startswith("<think>\nCompat thinking for step 1")
    # The client above re-sends content as it came, so the <think> section survives...
    assert [status for status, _ in answers] == [200, 200, 200]
    server, _ = await _started("think_tags", tmp_path)
    try:
        async with aiohttp.ClientSession() as session:
            messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
            body = {"model": "m", "messages": messages, "tools": CHAT_TOOLS}
            async with session.post(server.base_url + "/v1/chat/completions", json=body) as response:
                message = (await response.json())["choices"][0]["message"]
            call = message["tool_calls"][0]
            messages += [
                {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": "x"},
            ]
            async with session.post(server.base_url + "/v1/chat/completions", json=body) as response:
                status, refused = response.status, await response.json()
    finally:
        await server.stop()
    # ...and one that strips it is refused.
    assert status == 400
    assert "<think>...</think>" in refused["error"]["message"]


async def test_the_responses_stream_parses_with_the_openai_sdk_and_drops_are_refused(tmp_path: Path) -> None:
    server, model = await _started("responses", tmp_path)
    tools: Any = [
        {
            "type": "function",
            "name": name,
            "parameters": CHAT_TOOLS[0]["function"]["parameters"],
            "strict": False,
        }
        for name in ("read_file", "list_directory")
    ]
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="k", max_retries=0)
    try:
        items: list[Any] = [{"role": "user", "content": PROMPT}]
        outputs = []
        for _ in range(3):
            stream = await client.responses.create(model="gpt-5", input=items, tools=tools, stream=True)
            final = None
            async for event in stream:
                if event.type == "response.completed":
                    final = event.response
            assert final is not None
            outputs.append(final)
            for item in final.output:
                items.append(item.model_dump(exclude_none=True))
                if item.type == "function_call":
                    items.append(
                        {"type": "function_call_output", "call_id": item.call_id, "output": FILE_TEXT}
                    )
        assert outputs[-1].output_text == model.done_text
        reasoning = outputs[0].output[0]
        assert reasoning.type == "reasoning" and reasoning.encrypted_content
        # Drop the first reasoning item: the next request is refused in OpenAI's words.
        without = [i for i in items if not (i.get("type") == "reasoning" and i.get("id") == reasoning.id)]
        with pytest.raises(openai.BadRequestError, match="without its required 'reasoning' item"):
            await client.responses.create(model="gpt-5", input=without, tools=tools)
    finally:
        await client.close()
        await server.stop()


async def test_anthropic_thinking_round_trips_through_the_sdk(tmp_path: Path) -> None:
    server, model = await _started("anthropic", tmp_path)
    client = anthropic.AsyncAnthropic(base_url=server.base_url, api_key="k", max_retries=0)
    tool: Any = {"name": "Read", "description": "d", "input_schema": CHAT_TOOLS[0]["function"]["parameters"]}
    try:
        messages: list[Any] = [{"role": "user", "content": PROMPT}]
        for _ in range(3):
            async with client.messages.stream(
                model="m", max_tokens=100, messages=messages, tools=[tool]
            ) as stream:
                message = await stream.get_final_message()
            messages.append({"role": "assistant", "content": [b.model_dump() for b in message.content]})
            calls = [b for b in message.content if b.type == "tool_use"]
            if calls:
                messages.append(
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": "x"}],
                    }
                )
        assert [e.status for e in model.task_exchanges()] == [200, 200, 200]
        assert all(x.exact for e in model.task_exchanges() for x in e.echoes)
        count = await client.messages.count_tokens(model="m", messages=messages)
        assert count.input_tokens > 0
    finally:
        await client.close()
        await server.stop()


def test_tool_arguments_fill_the_apps_own_schemas(tmp_path: Path) -> None:
    cline_read = ToolSpec(
        "read_files",
        {
            "type": "object",
            "properties": {
                "files": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"path": {"type": "string"}},
                        "required": ["path"],
                    },
                }
            },
            "required": ["files"],
        },
    )
    codex_shell = ToolSpec(
        "shell",
        {"type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}}},
    )
    first = plan_call([codex_shell, cline_read], 1, tmp_path, "notes.txt")
    assert first is not None
    assert first.arguments == {"files": [{"path": str(tmp_path / "notes.txt")}]}
    second = plan_call([codex_shell, cline_read], 2, tmp_path, "notes.txt")
    assert second is not None
    assert second.arguments == {"command": ["bash", "-lc", f"cat {tmp_path / 'notes.txt'}"]}
    assert plan_call([ToolSpec("Write", {})], 1, tmp_path, "notes.txt") is None


def test_fixtures_keep_the_suites_texts_and_hide_the_apps() -> None:
    thinking = "Compat thinking for step 1: I will call read. cm0123abcdt1"
    redactor = Redactor([thinking, PROMPT])
    body = {
        "system": "You are a secret system prompt.",
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "<reminder>app text</reminder>\n" + PROMPT}],
            },
            {"role": "assistant", "content": f"<think>\n{thinking}\n</think>\n\n", "tool_calls": []},
        ],
        "tools": [{"name": "Read", "description": "Reads a file.", "input_schema": {"required": ["path"]}}],
    }
    shaped = redactor.value(body)
    assert shaped["system"] == PLACEHOLDER
    assert shaped["messages"][0]["content"][0]["text"] == PLACEHOLDER + PROMPT
    assert shaped["messages"][1]["content"] == f"<think>\n{thinking}\n</think>\n\n"
    assert shaped["tools"][0] == {
        "name": "Read",
        "description": PLACEHOLDER,
        "input_schema": {"required": ["path"]},
    }
    assert "secret" not in json.dumps(shaped)
