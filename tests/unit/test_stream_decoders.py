"""The SSE decoder gives the same events for every way of splitting its input.

The ``<think>`` splitter's properties are tests/unit/test_think_splitter.py.
"""

from __future__ import annotations

import pytest
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
RAW_LF = RAW.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
"""The same stream with \\n line ends only, as nearly every server sends it (the decoder's fast path)."""


def test_sse_fields_multiline_data_and_line_ends() -> None:
    assert _decode_all([RAW]) == [
        SSEEvent(data='{"a": "ü€𝄞"}', event="message_start"),
        SSEEvent(data="line one\nline two", id="7"),
        SSEEvent(data="no-space", id="7"),
        SSEEvent(data="[DONE]", id="7"),
    ]


def test_line_ends_do_not_change_the_events() -> None:
    assert _decode_all([RAW_LF]) == _decode_all([RAW])


@pytest.mark.parametrize("raw", [RAW, RAW_LF], ids=["mixed line ends", "LF only"])
def test_sse_every_split_point_gives_the_same_events(raw: bytes) -> None:
    expected = _decode_all([RAW])
    for split in range(len(raw) + 1):
        assert _decode_all([raw[:split], raw[split:]]) == expected, split


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(RAW)), max_size=10), st.sampled_from([RAW, RAW_LF]))
def test_sse_any_chunking_gives_the_same_events(cuts: list[int], raw: bytes) -> None:
    points = sorted({min(c, len(raw)) for c in cuts})
    chunks = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert _decode_all(chunks) == _decode_all([RAW])


BROKEN = b"data: a\xffb\xe2\x82\n\ndata: \xf0\x9d\x84\x9e ok\n\n"
"""A stray byte and a character cut short (not UTF-8: replaced), then a whole four-byte character."""


def test_bytes_that_are_not_utf8_are_replaced_at_every_split_point() -> None:
    expected = [SSEEvent(data="a\ufffdb\ufffd"), SSEEvent(data="\U0001d11e ok")]
    assert _decode_all([BROKEN]) == expected
    for split in range(len(BROKEN) + 1):
        assert _decode_all([BROKEN[:split], BROKEN[split:]]) == expected, split
    assert _decode_all([BROKEN[i : i + 1] for i in range(len(BROKEN))]) == expected
