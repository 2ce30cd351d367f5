"""The scripted model's text mode (apps that send no tools and edit through their replies, such as
aider), with real HTTP and the official SDKs: steps come from the model's own turns a request carries,
steps 1 and 2 are edits aider cannot apply, thinking lost from these plain-text turns is counted but
never refused, and the fixture redactor keeps the edits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import anthropic

from tests.compat.dialects import DIALECTS
from tests.compat.fixtures import PLACEHOLDER, write_fixture
from tests.compat.model import TASK_MARKER, CompatModel
from tests.compat.runner import Cell, CellResult
from tests.compat.textedits import edit_pattern
from tests.support.scripted_server import ScriptedServer

PROMPT = (
    f"{TASK_MARKER} 0123abcd: read the file notes.txt in the current directory, then list the "
    "directory, then reply with one short sentence."
)
FILE_TEXT = "compat file content 0123456789ab"


async def _started(
    dialect: str, tmp_path: Path, *, text_actions: bool = True
) -> tuple[ScriptedServer, CompatModel]:
    (tmp_path / "notes.txt").write_text(FILE_TEXT)
    model = CompatModel(DIALECTS[dialect], tmp_path, "notes.txt", FILE_TEXT, text_actions=text_actions)
    server = await ScriptedServer().start()
    model.attach(server)
    return server, model


async def _text_chat(url: str, *, keep: str | None) -> list[tuple[int, dict[str, Any]]]:
    """aider's shape without tools: every reply goes back as text, then a user message reports the
    failed edit. ``keep`` names the assistant field sent back too (None: text only)."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Edit files with SEARCH/REPLACE blocks."},
        {"role": "user", "content": PROMPT},
    ]
    answers: list[tuple[int, dict[str, Any]]] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            async with session.post(
                url + "/v1/chat/completions", json={"model": "m", "messages": messages}
            ) as response:
                answers.append((response.status, await response.json()))
            message = answers[-1][1]["choices"][0]["message"]
            sent = {"role": "assistant", "content": message["content"]}
            if keep is not None:
                sent[keep] = message[keep]
            messages += [sent, {"role": "user", "content": "# 1 SEARCH/REPLACE block failed to match!"}]
    return answers


async def test_a_text_app_that_keeps_reasoning_gets_two_edits_then_the_answer(tmp_path: Path) -> None:
    server, model = await _started("reasoning_content", tmp_path)
    try:
        answers = await _text_chat(server.base_url, keep="reasoning_content")
    finally:
        await server.stop()
    assert [status for status, _ in answers] == [200, 200, 200]
    texts = [answer["choices"][0]["message"]["content"] for _, answer in answers]
    assert all(edit_pattern("notes.txt").fullmatch(text.rstrip("\n")) for text in texts[:2])
    assert texts[0] != texts[1]
    assert texts[2] == model.done_text
    steps = [(e.step, [(x.turn, x.exact) for x in e.echoes]) for e in model.task_exchanges()]
    assert steps == [(1, []), (2, [(1, True)]), (3, [(1, True), (2, True)])]


async def test_a_text_app_that_drops_reasoning_is_counted_not_refused(tmp_path: Path) -> None:
    server, model = await _started("reasoning_content", tmp_path)
    try:
        answers = await _text_chat(server.base_url, keep=None)
    finally:
        await server.stop()
    assert [status for status, _ in answers] == [200, 200, 200]
    assert answers[2][1]["choices"][0]["message"]["content"] == model.done_text
    lost = [(x.turn, x.exact, x.detail) for e in model.task_exchanges() for x in e.echoes]
    assert lost == [
        (1, False, "thinking dropped"),
        (1, False, "thinking dropped"),
        (2, False, "thinking dropped"),
    ]


async def test_without_text_mode_a_request_without_tools_stays_a_side_request(tmp_path: Path) -> None:
    server, model = await _started("reasoning_content", tmp_path, text_actions=False)
    try:
        answers = await _text_chat(server.base_url, keep=None)
    finally:
        await server.stop()
    assert [answer["choices"][0]["message"]["content"] for _, answer in answers] == ["Compat task"] * 3
    assert model.task_exchanges() == []


async def test_anthropic_text_turns_are_found_by_their_edit_and_checked_with_the_signature(
    tmp_path: Path,
) -> None:
    server, model = await _started("anthropic", tmp_path)
    client = anthropic.AsyncAnthropic(base_url=server.base_url, api_key="k", max_retries=0)
    try:
        messages: list[Any] = [{"role": "user", "content": PROMPT}]
        for number in range(3):
            async with client.messages.stream(model="m", max_tokens=100, messages=messages) as stream:
                message = await stream.get_final_message()
            blocks = [b.model_dump() for b in message.content]
            # Turn 1 keeps its signed thinking; turn 2 comes back with its text only.
            messages.append({"role": "assistant", "content": blocks if number == 0 else blocks[1:]})
            messages.append({"role": "user", "content": "# 1 SEARCH/REPLACE block failed to match!"})
    finally:
        await client.close()
        await server.stop()
    assert [e.status for e in model.task_exchanges()] == [200, 200, 200]
    last = [(x.turn, x.exact, x.detail) for x in model.task_exchanges()[2].echoes]
    assert last == [(1, True, "kept"), (2, False, "thinking dropped")]


async def test_fixtures_keep_a_text_apps_edits(tmp_path: Path) -> None:
    server, _ = await _started("reasoning_content", tmp_path)
    try:
        await _text_chat(server.base_url, keep=None)
        requests = list(server.requests)
    finally:
        await server.stop()
    cell = Cell("aider", "openai-chat", "reasoning_content", "direct")
    path = write_fixture(tmp_path / "apps", cell, requests, CellResult(cell))
    shaped = json.loads(path.read_text())["requests"][-1]["body"]["messages"]
    assert shaped[0]["content"] == PLACEHOLDER
    assert shaped[1]["content"] == PROMPT
    assert edit_pattern("notes.txt").fullmatch(shaped[2]["content"].rstrip("\n"))
    assert shaped[3]["content"] == PLACEHOLDER
