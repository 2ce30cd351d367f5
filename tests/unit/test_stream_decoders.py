"""The SSE decoder gives the same events for every way of splitting its input.

The ``<think>`` splitter's properties are tests/unit/test_think_splitter.py.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from interleaf.wire.stream import SSEDecoder, SSEEvent


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
