"""Codec cost: decode+encode of a typical message and of one stream chunk, per format.

The baseline, measured in the same run, is what any proxy pays anyway: ``json.loads`` + ``json.dumps``
of the same payload. Figures are medians of repeated timeit runs, in microseconds.

    .venv/bin/python -m benchmarks.bench_codecs
"""

from __future__ import annotations

import functools
import json
import statistics
import timeit
from collections.abc import Callable
from typing import Any

from benchmarks.report import write_section
from interleaf.transcript import Conversation, Message, ReasoningDialect, Text, Thinking, ToolCall, ToolResult

THINKING = (
    "The user wants the weather in two cities. I should call get_weather for Paris and then for New York, "
    "compare the results and answer briefly. Paris first; the tool takes a location and a number of days. "
) * 6  # ~1.2 KB, a typical M2 thinking block between tool calls


def typical_conversation() -> Conversation:
    """A user task, an assistant turn (thinking + text + two calls), two results: the unit of a tool loop."""
    assistant = Message(
        role="assistant",
        blocks=(
            Thinking(text=THINKING, signature="EqQBCgIYAhIM" + "x" * 200, dialect=ReasoningDialect.ANTHROPIC),
            Text(text="I'll check both cities."),
            ToolCall(id="toolu_01A", name="get_weather", arguments={"location": "Paris", "days": 2}),
            ToolCall(id="toolu_01B", name="get_weather", arguments={"location": "New York", "days": 2}),
        ),
    )
    results = Message(
        role="tool",
        blocks=(
            ToolResult(call_id="toolu_01A", content='{"temp": 15, "sky": "cloudy"}'),
            ToolResult(call_id="toolu_01B", content='{"temp": 5, "sky": "clear"}'),
        ),
    )
    return Conversation(
        messages=(
            Message(role="user", blocks=(Text(text="Weather in Paris and NYC for 2 days?"),)),
            assistant,
            results,
        ),
        params={"model": "m", "max_tokens": 1024},
    )


def _median_us(fn: Callable[[], object], number: int) -> float:
    runs = timeit.repeat(fn, number=number, repeat=7)
    return statistics.median(runs) / number * 1e6


def _json_round_trip(payload: Any) -> Callable[[], object]:
    text = json.dumps(payload)
    return lambda: json.dumps(json.loads(text))


LONG_REPLY = 10_000
"""Chunks in the long reply: a cost per chunk that grows with the reply's length shows here."""


def measure() -> list[tuple[str, float, float, float, float, float]]:
    """(format, message µs, json µs, chunk µs, chunk json µs, chunk µs in a long reply) for each codec."""
    from interleaf.wire import anthropic, openai_chat

    conversation = typical_conversation()
    assistant = conversation.messages[1]
    rows: list[tuple[str, float, float, float, float, float]] = []

    # Anthropic: an assistant message dict <-> transcript, and one content_block_delta event.
    wire_message = anthropic.encode_message(assistant)
    assert wire_message is not None
    msg_us = _median_us(lambda: anthropic.encode_message(anthropic.decode_message(wire_message)), 2000)
    chunk = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "abc def "},
    }
    start = {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}

    def anthropic_chunks(count: int = 100) -> None:
        assembler = anthropic.StreamAssembler()
        assembler.feed({"type": "message_start", "message": {"id": "m", "content": []}})
        assembler.feed(start)
        for _ in range(count):
            assembler.feed(chunk)
        assembler.feed({"type": "content_block_stop", "index": 0})

    chunk_us = _median_us(anthropic_chunks, 50) / 100
    long_us = _median_us(lambda: anthropic_chunks(LONG_REPLY), 3) / LONG_REPLY
    rows.append(
        (
            "anthropic",
            msg_us,
            _median_us(_json_round_trip(wire_message), 2000),
            chunk_us,
            _median_us(_json_round_trip(chunk), 5000),
            long_us,
        )
    )

    for dialect in (
        ReasoningDialect.REASONING_CONTENT,
        ReasoningDialect.REASONING_DETAILS,
        ReasoningDialect.THINK_TAGS,
    ):
        body = openai_chat.encode_request(conversation, dialect=dialect)
        wire = body["messages"][1]

        def round_trip(w: dict[str, Any] = wire) -> object:
            return openai_chat.encode_message(openai_chat.decode_message(w))

        msg_us = _median_us(round_trip, 2000)
        delta: dict[str, Any] = (
            {"content": "abc def "}
            if dialect is ReasoningDialect.THINK_TAGS
            else {"reasoning_details": [{"type": "reasoning.text", "index": 0, "text": "abc def "}]}
            if dialect is ReasoningDialect.REASONING_DETAILS
            else {"reasoning_content": "abc def "}
        )
        oa_chunk = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        }

        def openai_chunks(c: dict[str, Any] = oa_chunk, count: int = 100) -> None:
            assembler = openai_chat.StreamAssembler()
            for _ in range(count):
                assembler.feed(c)

        rows.append(
            (
                f"openai-chat ({dialect.value})",
                msg_us,
                _median_us(_json_round_trip(wire), 2000),
                _median_us(openai_chunks, 50) / 100,
                _median_us(_json_round_trip(oa_chunk), 5000),
                _median_us(functools.partial(openai_chunks, oa_chunk, LONG_REPLY), 3) / LONG_REPLY,
            )
        )

    from interleaf.wire import minimax

    render_us = _median_us(lambda: minimax.render_prompt(conversation), 1000)
    nan = float("nan")
    rows.append(("minimax-m2 (render whole task)", render_us, nan, nan, nan, nan))
    return rows


def fmt(value: float) -> str:
    """One decimal, or a dash for a figure that does not apply (NaN)."""
    return f"{value:.1f}" if value == value else "–"


def main() -> None:
    rows = measure()
    lines = [
        "## Codecs: decode + encode",
        "",
        "A typical assistant turn of a tool loop (1.2 KB thinking with signature, text, two tool calls),",
        "decoded to the transcript and encoded back; and one stream chunk fed to the assembler, averaged",
        f"over a 100-chunk reply and over a {LONG_REPLY:,}-chunk one (the same per chunk: the cost does not",
        "grow with the reply). Baseline: `json.loads` + `json.dumps` of the same payload, in the same run.",
        "",
        "| format | message µs | JSON round trip µs | ratio | chunk µs | chunk JSON µs "
        f"| chunk µs, {LONG_REPLY:,} chunks |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, msg, base, chunk, chunk_base, long_chunk in rows:
        ratio = f"{msg / base:.1f}×" if base == base else "–"
        lines.append(
            f"| {name} | {msg:.1f} | {fmt(base)} | {ratio} | {fmt(chunk)} | {fmt(chunk_base)} "
            f"| {fmt(long_chunk)} |"
        )
    lines += ["", "Target from the foundation issue: well under 50 µs a typical message."]
    text = "\n".join(lines)
    print(text)
    write_section("codecs", text)


if __name__ == "__main__":
    main()
