"""Text-only turns of apps that rebuild the conversation around them (aider), through a real gateway.

aider sends no tools. Between two requests it strips the reminder it appended to the newest user message
and moves its file listings after the last reply, so the conversation before an earlier reply is never
the same twice: a key bound to it never matches again. The gateway also keys a long text-only reply by
its own text and the conversation's first system text, and finds it that way. The client is the official
``openai`` SDK replaying the turn without its ``reasoning_content``, exactly as aider's LiteLLM does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from tests.support.gateway_server import GatewayServer, gateway_options
from tests.support.payloads import openai_completion
from tests.support.scripted_server import ScriptedServer, Step

pytestmark = pytest.mark.timeout(60)

SYSTEM = "Act as an expert software developer. Always use best practices when coding."
REMINDER = "\n\n# Reminder: reply with SEARCH/REPLACE blocks only."
FILES = [
    {
        "role": "user",
        "content": "I have *added these files to the chat*: notes.txt\n\nnotes.txt\n```\nhello\n```",
    },
    {"role": "assistant", "content": "Ok, any changes I propose will be to those files."},
]
EDIT = (
    "notes.txt\n```\n<<<<<<< SEARCH\nhello\n=======\nhello, world: the greeting now names who it greets, "
    "as the task asked, and keeps the file's single line\n>>>>>>> REPLACE\n```\n"
    "This replaces the one line of notes.txt with the longer greeting and leaves nothing else changed."
)
THOUGHT = "The file has one line, hello; the task wants it to greet the world. One SEARCH/REPLACE block."


def _first_request(system: str = SYSTEM) -> list[Any]:
    return [
        {"role": "system", "content": system},
        *FILES,
        {"role": "user", "content": "Make the greeting name the world." + REMINDER},
    ]


def _second_request(reply: str, system: str = SYSTEM) -> list[Any]:
    # aider's next request: the reminder gone from the task, the reply without its reasoning, the file
    # listing moved after it, and the edit's outcome as a new user message with the reminder.
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": "Make the greeting name the world."},
        {"role": "assistant", "content": reply},
        {"role": "user", "content": "I updated the files."},
        {"role": "assistant", "content": "Ok."},
        *FILES,
        {"role": "user", "content": "# 1 SEARCH/REPLACE block failed to match!" + REMINDER},
    ]


async def _two_turns(
    upstream: ScriptedServer,
    tmp_path: Path,
    *,
    text_match: bool = True,
    edit: str = EDIT,
    system2: str = SYSTEM,
) -> tuple[dict[str, Any], str]:
    upstream.enqueue(
        Step.json(openai_completion(content=edit, reasoning=THOUGHT)),
        Step.json(openai_completion(content="Fixed.", reasoning="Retry the edit.")),
    )
    options = gateway_options(
        "deepseek", upstream.base_url, f"sqlite:///{tmp_path}/thinking.db", text_match=text_match
    )
    async with (
        GatewayServer(options) as gateway,
        openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="key-a", max_retries=0) as client,
    ):
        first = await client.chat.completions.create(model="deepseek-chat", messages=_first_request())
        reply = first.choices[0].message.content or ""
        second = await client.chat.completions.with_raw_response.create(
            model="deepseek-chat", messages=_second_request(reply, system2)
        )
    return upstream.requests[1].json["messages"][2], second.headers["x-interleaf-restored"]


async def test_a_long_text_turn_is_found_after_the_app_rebuilt_the_conversation(
    upstream: ScriptedServer, tmp_path: Path
) -> None:
    turn, restored = await _two_turns(upstream, tmp_path)
    assert turn["reasoning_content"] == THOUGHT
    assert turn["content"] == EDIT
    assert restored == "1"


async def test_without_text_match_it_is_not(upstream: ScriptedServer, tmp_path: Path) -> None:
    turn, restored = await _two_turns(upstream, tmp_path, text_match=False)
    assert "reasoning_content" not in turn and restored == "0"


async def test_a_short_text_turn_is_never_matched_by_its_text(
    upstream: ScriptedServer, tmp_path: Path
) -> None:
    # "Sure, I can help with that." repeats across conversations: too short to be told apart.
    turn, restored = await _two_turns(upstream, tmp_path, edit="Sure, I can help with that.")
    assert "reasoning_content" not in turn and restored == "0"


async def test_another_system_prompt_is_another_app(upstream: ScriptedServer, tmp_path: Path) -> None:
    turn, restored = await _two_turns(upstream, tmp_path, system2="You are a travel assistant.")
    assert "reasoning_content" not in turn and restored == "0"
