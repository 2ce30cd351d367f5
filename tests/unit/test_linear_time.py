"""Every check the gateway runs on client-supplied strings is linear in their size.

One event loop serves every client, so one request whose processing grows faster than its size can
stall all of them (a 100 KB tool-call id once froze the gateway for 40-57 s: the id check was
quadratic). Here each hostile shape is processed at a size and at sixteen times that size, the way the
gateway does (decode, limits, restore keys); the time must grow about sixteenfold (up to 4x more for
caches and allocation), not 256-fold. A ratio of two timings taken in the same run, best of several,
so a busy machine does not decide the outcome.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from interleaf.gateway.formats import decode_request
from interleaf.gateway.limits import LimitExceeded, Limits, check_conversation
from interleaf.store.fingerprint import conversation_fingerprints, fingerprint, looks_random, visible_text
from interleaf.transcript import Message, Text, ToolCall

NO_LIMITS = Limits(max_messages=10**9, max_tools=10**9, max_id_chars=10**9, max_name_chars=10**9)


def _process(fmt: str, body: dict[str, Any]) -> None:
    conversation = decode_request(fmt, body)  # type: ignore[arg-type]
    with contextlib.suppress(LimitExceeded):
        check_conversation(conversation, NO_LIMITS)
    conversation_fingerprints(conversation.messages)


def _openai(messages: list[Any]) -> Callable[[], None]:
    body = {"model": "m", "messages": messages}
    return lambda: _process("openai-chat", json.loads(json.dumps(body)))


def _anthropic(messages: list[Any]) -> Callable[[], None]:
    body = {"model": "m", "max_tokens": 5, "messages": messages}
    return lambda: _process("anthropic", json.loads(json.dumps(body)))


def _call_turn(call_id: str, name: str = "list_files") -> list[Any]:
    return [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "x"},
    ]


SHAPES: dict[str, Callable[[int], Callable[[], None]]] = {
    "a long id of letters": lambda n: _openai(_call_turn("a" * n)),
    "a long id of letters then digits": lambda n: _openai(_call_turn("a" * n + "1")),
    "a long id with separators": lambda n: _openai(_call_turn("ab1-" * (n // 4))),
    "a long tool name": lambda n: _openai(_call_turn("call_x1y2z3w4", name="f" * n)),
    "many unclosed think tags": lambda n: _openai(
        [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "<think>" * (n // 7)},
            {"role": "user", "content": "r"},
        ]
    ),
    "many closing think tags": lambda n: _openai(
        [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "</think><think>" * (n // 15)},
            {"role": "user", "content": "r"},
        ]
    ),
    "many small turns": lambda n: _openai(
        [m for i in range(n // 200) for m in _call_turn(f"call_{i:08d}abc")]
    ),
    "many anthropic blocks": lambda n: _anthropic(
        [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": f"toolu_{i:010d}x", "name": "f", "input": {}}
                    for i in range(n // 60)
                ],
            },
            {"role": "user", "content": "r"},
        ]
    ),
}


def _best_of(run: Callable[[], object], rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("shape", list(SHAPES))
def test_processing_time_grows_linearly_with_the_input(shape: str) -> None:
    small, large = SHAPES[shape](10_000), SHAPES[shape](160_000)
    ratio = _best_of(large) / _best_of(small)
    assert ratio < 64, f"{shape}: 16x the input took {ratio:.1f}x the time (quadratic would be ~256x)"


def test_the_id_check_and_key_are_linear_on_a_megabyte_id() -> None:
    makers: list[Callable[[int], str]] = [
        lambda n: "a" * n,
        lambda n: "a" * n + "1",
        lambda n: "Z9-" * (n // 3),
    ]
    for make in makers:
        short, long = make(62_500), make(1_000_000)
        ratio = _best_of(lambda: looks_random(long), 3) / _best_of(lambda: looks_random(short), 3)  # noqa: B023
        assert ratio < 64, ratio
        turn = Message(role="assistant", blocks=(ToolCall(id=long, name="f"), Text(text="<think>" * 1000)))
        started = time.perf_counter()
        fingerprint(turn)
        visible_text("<think>" * 100_000)
        assert time.perf_counter() - started < 5.0  # the old check needed about an hour at this size
