"""A three-turn tool loop for gateway tests: what the upstream says, and apps that drop its thinking.

The upstream side is raw wire payloads (tests/support/payloads.py); the client side is the official
``anthropic`` and ``openai`` SDKs used the way real apps use them — each assistant turn rebuilt from its
text and tool calls only, so every earlier thinking block is dropped on replay. Whatever thinking the
upstream sees again must have been restored by the gateway.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai

from tests.support.payloads import (
    anthropic_events,
    anthropic_message,
    openai_chunks,
    openai_completion,
    reasoning_detail,
    text,
    thinking,
    tool_call,
    tool_use,
)
from tests.support.scripted_server import RecordedRequest, Step

MODEL = "scripted-model"
PROMPT = "What is in this project?"

THOUGHTS = (
    "The user wants the project layout. I should list the files first.",
    "There is a README.\nReading it tells me what this project is.",
    "The README says it is a demo. Answer briefly, no more tools.",
)
SIGNATURES = ("EqQBCgIYAhIMturn1+/sig==", "EqQBCgIYAhIMturn2+/sig==", "EqQBCgIYAhIMturn3+/sig==")
VISIBLE = ("Let me look at the files.", None, "It is a small demo project.")
CALLS: tuple[tuple[str, str, dict[str, Any]] | None, ...] = (
    ("list_files", "list_files", {"path": "."}),
    ("read_file", "read_file", {"path": "README.md"}),
    None,
)

ANTHROPIC_TOOLS: list[Any] = [
    {"name": "list_files", "description": "List files.", "input_schema": {"type": "object"}},
    {"name": "read_file", "description": "Read a file.", "input_schema": {"type": "object"}},
]
OPENAI_TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {"name": t["name"], "description": t["description"], "parameters": {"type": "object"}},
    }
    for t in ANTHROPIC_TOOLS
]


def call_id(api: str, turn: int) -> str:
    """Random-looking ids, as real servers mint them (the store keys such turns on their own)."""
    return f"toolu_01XFDUDYJgAACzvnptvVoY{turn + 1}" if api == "anthropic" else f"call_7p2kQ9xZ{turn + 1}w4"


# ---------------------------------------------------------------------------------------- upstream


def anthropic_turn(turn: int, *, prefix: str = "") -> dict[str, Any]:
    content = [thinking(prefix + THOUGHTS[turn], SIGNATURES[turn])]
    visible = VISIBLE[turn]
    if visible is not None:
        content.append(text(visible))
    call = CALLS[turn]
    if call is not None:
        content.append(tool_use(call_id("anthropic", turn), call[1], call[2]))
    return anthropic_message(content, id=f"msg_turn{turn + 1}")


def openai_turn(turn: int, field: str, *, prefix: str = "") -> dict[str, Any]:
    call = CALLS[turn]
    calls = [tool_call(call_id("openai", turn), call[1], call[2])] if call is not None else []
    if field == "reasoning_details":
        return openai_completion(
            content=VISIBLE[turn],
            reasoning_details=[reasoning_detail(prefix + THOUGHTS[turn], 0)],
            tool_calls=calls,
            id=f"chatcmpl-turn{turn + 1}",
        )
    return openai_completion(
        content=VISIBLE[turn],
        reasoning=prefix + THOUGHTS[turn],
        reasoning_field=field,
        tool_calls=calls,
        id=f"chatcmpl-turn{turn + 1}",
    )


def upstream_steps(api: str, field: str, *, stream: bool, turns: int = 3, prefix: str = "") -> list[Step]:
    """The scripted upstream's replies for the loop (``field``: the OpenAI reasoning field)."""
    steps = []
    for turn in range(turns):
        if api == "anthropic":
            body = anthropic_turn(turn, prefix=prefix)
            steps.append(Step.sse(anthropic_events(body)) if stream else Step.json(body))
        else:
            body = openai_turn(turn, field, prefix=prefix)
            steps.append(Step.sse(openai_chunks(body)) if stream else Step.json(body))
    return steps


def issued_thinking(api: str, field: str, turn: int, *, prefix: str = "") -> Any:
    """The thinking of ``turn`` exactly as the upstream issued it, in its own dialect."""
    if api == "anthropic":
        return anthropic_turn(turn, prefix=prefix)["content"][0]
    message = openai_turn(turn, field, prefix=prefix)["choices"][0]["message"]
    return message[field]


def replayed_thinking(api: str, field: str, request: RecordedRequest) -> list[Any]:
    """The thinking of each assistant message in a request the upstream received (None: none)."""
    out: list[Any] = []
    for message in request.json["messages"]:
        if message.get("role") != "assistant":
            continue
        if api == "anthropic":
            content = message.get("content")
            first = content[0] if isinstance(content, list) and content else None
            out.append(first if isinstance(first, dict) and first.get("type") == "thinking" else None)
        else:
            out.append(message.get(field))
    return out


def assert_upstream_saw_all_thinking(
    api: str, field: str, requests: Sequence[RecordedRequest], *, prefix: str = ""
) -> None:
    """Request k carries the thinking of turns 1..k byte-exact (JSON text compared, key order too)."""
    for k, request in enumerate(requests):
        got = replayed_thinking(api, field, request)
        want = [issued_thinking(api, field, turn, prefix=prefix) for turn in range(k)]
        assert json.dumps(got) == json.dumps(want), (
            f"request {k + 1}: upstream saw {got!r}, expected {want!r}"
        )


# ------------------------------------------------------------------------------------------ clients


@dataclass
class Run:
    """What a client saw: the thinking shown per turn, response headers, final text."""

    thinking: list[str | None] = field(default_factory=list)
    signatures: list[str | None] = field(default_factory=list)
    restored: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    foreign: list[int] = field(default_factory=list)
    final_text: str = ""

    def note_headers(self, headers: Any) -> None:
        """Record the gateway's counts (-1 when the answer did not come through a gateway)."""
        self.restored.append(int(headers.get("x-interleaf-restored", -1)))
        self.missing.append(int(headers.get("x-interleaf-missing", -1)))
        self.foreign.append(int(headers.get("x-interleaf-foreign", -1)))


def _anthropic_replay(message: Any, messages: list[dict[str, Any]], run: Run) -> bool:
    """Record what the client saw, append the turn the way apps do (no thinking); True to go on."""
    shown = [b for b in message.content if b.type == "thinking"]
    run.thinking.append(shown[0].thinking if shown else None)
    run.signatures.append(shown[0].signature if shown else None)
    content: list[dict[str, Any]] = []
    for block in message.content:
        if block.type == "text":
            content.append({"type": "text", "text": block.text})
            run.final_text = block.text
        elif block.type == "tool_use":
            content.append({"type": "tool_use", "id": block.id, "name": block.name, "input": block.input})
    messages.append({"role": "assistant", "content": content})
    calls = [b for b in message.content if b.type == "tool_use"]
    if not calls:
        return False
    results = [{"type": "tool_result", "tool_use_id": c.id, "content": f"output of {c.name}"} for c in calls]
    messages.append({"role": "user", "content": results})
    return True


def _anthropic_args(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 2048,
        "messages": list(messages),
        "tools": ANTHROPIC_TOOLS,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }


def anthropic_sync(base_url: str, api_key: str, *, stream: bool, turns: int = 3) -> Run:
    """The sync Anthropic SDK through a tool loop (run it in a thread)."""
    run = Run()
    messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
    with anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0) as client:
        for _ in range(turns):
            if stream:
                with client.messages.stream(**_anthropic_args(messages)) as events:
                    message = events.get_final_message()
                    run.note_headers(events.response.headers)
            else:
                raw = client.messages.with_raw_response.create(**_anthropic_args(messages))
                run.note_headers(raw.headers)
                message = raw.parse()
            if not _anthropic_replay(message, messages, run):
                break
    return run


async def anthropic_async(
    base_url: str | Sequence[str],
    api_key: str,
    *,
    stream: bool,
    turns: int = 3,
    between: Callable[[int], Awaitable[None]] | None = None,
) -> Run:
    """The async Anthropic SDK; streams read event by event. ``base_url`` may name one gateway a turn
    (replicas behind a load balancer); ``between(turn)`` runs after each turn."""
    run = Run()
    messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
    urls = [base_url] * turns if isinstance(base_url, str) else list(base_url)
    # One client per gateway, made before the first turn: each next turn goes out as soon as the
    # previous reply is in, as in a fast agent loop.
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, anthropic.AsyncAnthropic] = {}
        for url in urls:
            if url not in clients:
                clients[url] = anthropic.AsyncAnthropic(base_url=url, api_key=api_key, max_retries=0)
                stack.push_async_callback(clients[url].close)
        for turn, url in enumerate(urls[:turns]):
            client = clients[url]
            if stream:
                async with client.messages.stream(**_anthropic_args(messages)) as events:
                    async for _event in events:
                        pass
                    message = await events.get_final_message()
                    run.note_headers(events.response.headers)
            else:
                raw = await client.messages.with_raw_response.create(**_anthropic_args(messages))
                run.note_headers(raw.headers)
                message = await raw.parse()
            going_on = _anthropic_replay(message, messages, run)
            if between is not None:
                await between(turn)
            if not going_on:
                break
    return run


def _openai_args(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"model": MODEL, "messages": list(messages), "tools": OPENAI_TOOLS}


@dataclass
class _Turn:
    content: str | None = None
    reasoning: str | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)


def _openai_from_message(message: Any) -> _Turn:
    turn = _Turn(content=message.content, reasoning=getattr(message, "reasoning_content", None))
    for call in message.tool_calls or []:
        turn.calls.append(
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            }
        )
    return turn


class _Accumulator:
    """How apps assemble a streamed reply: content, reasoning_content, tool calls by index."""

    def __init__(self) -> None:
        self.turn = _Turn()
        self._calls: dict[int, dict[str, Any]] = {}

    def add(self, chunk: Any) -> None:
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                self.turn.content = (self.turn.content or "") + delta.content
            reasoning = getattr(delta, "reasoning_content", None)
            if reasoning:
                self.turn.reasoning = (self.turn.reasoning or "") + reasoning
            for call in delta.tool_calls or []:
                slot = self._calls.setdefault(
                    call.index, {"id": None, "type": "function", "function": {"name": None, "arguments": ""}}
                )
                if call.id:
                    slot["id"] = call.id
                if call.function and call.function.name:
                    slot["function"]["name"] = call.function.name
                if call.function and call.function.arguments:
                    slot["function"]["arguments"] += call.function.arguments

    def finish(self) -> _Turn:
        self.turn.calls = [self._calls[i] for i in sorted(self._calls)]
        return self.turn


def _openai_replay(turn: _Turn, messages: list[dict[str, Any]], run: Run) -> bool:
    run.thinking.append(turn.reasoning)
    run.signatures.append(None)
    if turn.content:
        run.final_text = turn.content
    message: dict[str, Any] = {"role": "assistant", "content": turn.content}
    if turn.calls:
        message["tool_calls"] = turn.calls
    messages.append(message)  # reasoning_content dropped, as most apps do
    for call in turn.calls:
        messages.append(
            {"role": "tool", "tool_call_id": call["id"], "content": f"output of {call['function']['name']}"}
        )
    return bool(turn.calls)


def _openai_messages() -> list[dict[str, Any]]:
    return [{"role": "system", "content": "You are a coding agent."}, {"role": "user", "content": PROMPT}]


def openai_sync(base_url: str, api_key: str, *, stream: bool, turns: int = 3) -> Run:
    """The sync OpenAI SDK through a tool loop (run it in a thread)."""
    run = Run()
    messages = _openai_messages()
    with openai.OpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0) as client:
        for _ in range(turns):
            if stream:
                chunks = client.chat.completions.create(**_openai_args(messages), stream=True)
                run.note_headers(chunks.response.headers)
                accumulator = _Accumulator()
                for chunk in chunks:
                    accumulator.add(chunk)
                turn = accumulator.finish()
            else:
                raw = client.chat.completions.with_raw_response.create(**_openai_args(messages))
                run.note_headers(raw.headers)
                turn = _openai_from_message(raw.parse().choices[0].message)
            if not _openai_replay(turn, messages, run):
                break
    return run


async def openai_async(base_url: str, api_key: str | Sequence[str], *, stream: bool, turns: int = 3) -> Run:
    """The async OpenAI SDK through a tool loop; ``api_key`` may name one key per turn."""
    run = Run()
    messages = _openai_messages()
    keys = [api_key] * turns if isinstance(api_key, str) else list(api_key)
    clients: dict[str, openai.AsyncOpenAI] = {}
    try:
        for key in keys[:turns]:
            if key not in clients:
                clients[key] = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0)
            client = clients[key]
            if stream:
                chunks = await client.chat.completions.create(**_openai_args(messages), stream=True)
                run.note_headers(chunks.response.headers)
                accumulator = _Accumulator()
                async for chunk in chunks:
                    accumulator.add(chunk)
                turn = accumulator.finish()
            else:
                raw = await client.chat.completions.with_raw_response.create(**_openai_args(messages))
                run.note_headers(raw.headers)
                turn = _openai_from_message(raw.parse().choices[0].message)
            if not _openai_replay(turn, messages, run):
                break
    finally:
        for client in clients.values():
            await client.close()
    return run
