"""Incremental decoders give the same output for every way of splitting their input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from interleaf.transcript import ReasoningDialect, Text, Thinking
from interleaf.wire.stream import (
    SSEDecoder,
    SSEEvent,
    ThinkTagSplitter,
    join_think_tags,
    split_think_tags,
)


def _decode_all(chunks: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)]
    return events + decoder.flush()


RAW = (
    ": comment line\r\n"
    "event: message_start\r\n"
    'data: {"a": "ü€𝄞"}\r\n'
    "\r\n"
    "data: line one\n"
    "data: line two\n"
    "id: 7\n"
    "\n"
    "event: empty\n"
    "\n"
    "data:no-space\r"
    "\r"
    "data: [DONE]"
).encode()


def test_sse_fields_multiline_data_and_line_ends() -> None:
    assert _decode_all([RAW]) == [
        SSEEvent(data='{"a": "ü€𝄞"}', event="message_start"),
        SSEEvent(data="line one\nline two", id="7"),
        SSEEvent(data="no-space", id="7"),
        SSEEvent(data="[DONE]", id="7"),
    ]


def test_sse_every_split_point_gives_the_same_events() -> None:
    expected = _decode_all([RAW])
    for split in range(len(RAW) + 1):
        assert _decode_all([RAW[:split], RAW[split:]]) == expected, split


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(RAW)), max_size=10))
def test_sse_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks = [RAW[a:b] for a, b in zip([0, *points], [*points, len(RAW)], strict=True)]
    assert _decode_all(chunks) == _decode_all([RAW])


def _split_stream(chunks: list[str], *, start_inside: bool = False) -> list[tuple[str, str]]:
    splitter = ThinkTagSplitter(start_inside=start_inside)
    out = [seg for chunk in chunks for seg in splitter.feed(chunk)] + splitter.flush()
    merged: list[tuple[str, str]] = []
    for kind, text in out:  # adjacent same-kind text segments are one logical run
        if merged and kind in ("text", "thinking") and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + text)
        else:
            merged.append((kind, text))
    return merged


CONTENT = "<think>\nplan <b>it</b> < think\n</think>\n\nHello <thinker> world<think>again</think>!"


def test_think_splitter_every_split_point() -> None:
    expected = [
        ("open", ""),
        ("thinking", "\nplan <b>it</b> < think\n"),
        ("close", ""),
        ("text", "\n\nHello <thinker> world"),
        ("open", ""),
        ("thinking", "again"),
        ("close", ""),
        ("text", "!"),
    ]
    for split in range(len(CONTENT) + 1):
        assert _split_stream([CONTENT[:split], CONTENT[split:]]) == expected, split


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["<think>", "</think>", "<", "<th", "think>", "a", "\n", "</", "x y"]), max_size=12
    )
)
def test_think_splitter_matches_the_whole_text_parse(pieces: list[str]) -> None:
    content = "".join(pieces)
    whole = _split_stream([content])
    assert _split_stream(pieces) == whole
    assert _split_stream(list(content)) == whole


def test_raw_output_starting_inside_thinking() -> None:
    assert _split_stream(["plan</thi", "nk>\n\nanswer"], start_inside=True) == [
        ("open", ""),
        ("thinking", "plan"),
        ("close", ""),
        ("text", "\n\nanswer"),
    ]


def test_unterminated_think_is_closed_at_flush() -> None:
    assert _split_stream(["<think>still going"]) == [("open", ""), ("thinking", "still going"), ("close", "")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["<think>", "</think>", "a", "\n\n", "<", "b c"]), max_size=10))
def test_split_and_join_think_tags_round_trip(pieces: list[str]) -> None:
    content = "".join(pieces)
    blocks = split_think_tags(content)
    assert split_think_tags(join_think_tags(blocks)) == blocks
    first_open, first_close = content.find("<think>"), content.find("</think>")
    missing_open = first_close != -1 and (first_open == -1 or first_close < first_open)
    unterminated = isinstance(blocks[-1], Thinking) and not content.endswith("</think>") if blocks else False
    if not missing_open and not unterminated:
        assert join_think_tags(blocks) == content


def test_split_think_tags_missing_open_tag_is_thinking() -> None:
    """Servers that prefill <think> in the prompt return content starting inside the block."""
    assert split_think_tags("plan\n</think>\n\nHi") == [
        Thinking(text="plan\n", dialect=ReasoningDialect.THINK_TAGS),
        Text(text="\n\nHi"),
    ]
