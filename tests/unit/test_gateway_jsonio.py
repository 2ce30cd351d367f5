"""The JSON reader parses exactly as the stdlib does, on every input the stdlib takes, bytes or text, and
fails where it fails.

``wire.jsonread.loads`` (the gateway's ``jsonio.loads``) reads with orjson and falls back to
:func:`json.loads` where the two differ; a difference it missed would change a tool argument, a key, a
streamed event or a restored turn without a sound.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from interleaf.gateway.jsonio import BodyError, loads, loads_body


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (``1 == 1.0`` and ``0.0 == -0.0`` are not enough);
    a loop, not recursion: the inputs nest deeper than Python's recursion limit."""
    pending = [(a, b)]
    while pending:
        x, y = pending.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, float):
            if struct.pack("<d", x) != struct.pack("<d", y) and not (math.isnan(x) and math.isnan(y)):
                return False
        elif isinstance(x, dict):
            if list(x) != list(y):
                return False
            pending.extend((x[k], y[k]) for k in x)
        elif isinstance(x, list):
            if len(x) != len(y):
                return False
            pending.extend(zip(x, y, strict=True))
        elif x != y:
            return False
    return True


def outcome(parse: Any, data: bytes | str) -> tuple[str, Any]:
    try:
        return "value", parse(data)
    except RecursionError:
        return "error", "RecursionError"
    except ValueError as exc:
        return "error", type(exc).__name__


def check(data: bytes) -> None:
    """``data`` parsed as bytes, and as the text it decodes to (stream events arrive as text), when it does."""
    inputs: list[bytes | str] = [data]
    for errors in ("strict", "surrogatepass"):
        try:
            inputs.append(data.decode("utf-8", errors))
        except UnicodeDecodeError:
            continue
    for data_in in inputs:
        ours, stdlib = outcome(loads, data_in), outcome(json.loads, data_in)
        assert ours[0] == stdlib[0], (data_in[:200], ours, stdlib)
        if ours[0] == "value":
            assert same(ours[1], stdlib[1]), (data_in[:200], ours[1], stdlib[1])
        else:
            assert ours[1] == stdlib[1]


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF) | st.characters())
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=600, deadline=None)
@given(values, st.booleans(), st.booleans())
def test_every_value_json_writes_reads_back_as_json_reads_it(
    value: Any, ascii_only: bool, spaced: bool
) -> None:
    separators = (", ", ": ") if spaced else (",", ":")
    text = json.dumps(value, ensure_ascii=ascii_only, separators=separators)
    check(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=64))
@example(b'{"a": 1, "a": 2}')
@example(b"\xef\xbb\xbf{}")  # a UTF-8 byte-order mark
@example('{"a": 1}'.encode("utf-16"))
@example(b"[1e400, -1e400, 1e-400]")
@example(b'{"n": 123456789012345678901234567890}')
@example(b'{"n": -9223372036854775809}')
@example(b'{"n": 18446744073709551616}')
@example(b'{"n": 1.2345678901234567890123}')
@example(b'"\\ud800"')
@example(b'"\xed\xa0\x80"')  # a lone surrogate encoded as UTF-8 bytes
@example(b"[NaN, Infinity, -Infinity]")
@example(b" \t\r\n[1] \n")
@example(b"[1,]")
@example(b"")
@example(b"[" * 1100 + b"]" * 1100)
def test_any_bytes_parse_or_fail_as_json_would(data: bytes) -> None:
    check(data)


def test_integers_beyond_64_bits_stay_exact() -> None:
    assert loads(b'{"id": 123456789012345678901234567890}') == {"id": 123456789012345678901234567890}
    assert loads('{"id": 123456789012345678901234567890}') == {"id": 123456789012345678901234567890}
    assert isinstance(loads(b"[9223372036854775807]")[0], int)


def test_text_with_a_lone_surrogate_character_parses_as_json_parses_it() -> None:
    assert loads('"\\ud800"') == json.loads('"\\ud800"')  # the escape: six ASCII characters
    assert loads('["\ud83d"]') == ["\ud83d"]  # the character itself: not UTF-8, json reads it


def test_body_errors_say_what_is_wrong() -> None:
    with pytest.raises(BodyError, match="not valid JSON"):
        loads_body(b'{"model": ')
    with pytest.raises(BodyError, match="must be a JSON object, not list"):
        loads_body(b"[1, 2]")
    with pytest.raises(BodyError, match="deeper than this gateway reads"):
        loads_body(b"[" * 100_000 + b"]" * 100_000)
