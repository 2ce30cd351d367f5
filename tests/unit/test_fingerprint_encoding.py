"""Keys are hashes of canonical JSON. orjson writes that JSON on the fast path; the json module's text is
the definition (keys of earlier versions were written with it), so the two must agree byte for byte on
every value a tool call's arguments or a key's payload can hold."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interleaf.store import fingerprint
from interleaf.store.fingerprint import _CANONICAL, _canonical_value, _sha256, _utf8, canonical_json

# Characters that take every branch: control characters (escaped), quotes and backslashes, non-ASCII,
# astral characters, U+2028, and lone surrogates (which orjson refuses).
_AWKWARD = st.sampled_from(["\x00", "\x1f", "\x7f", '"', "\\", "/", "é", "𝄞", "\u2028", "\ud83d", "\udfff"])
TEXT = st.text(alphabet=st.characters() | _AWKWARD, max_size=12)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)  # past 64 bits, which orjson refuses
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.5, 1e16, 1.5e-7, -0.0, 2.0**53, 2.0**53 + 2, 1e300, 5e-324])
    | TEXT
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=24,
)


def json_module_text(value: object) -> str:
    return _CANONICAL.encode(_canonical_value(value))


def test_the_fast_path_is_installed() -> None:
    assert vars(fingerprint)["orjson"] is not None  # the gateway's extra, which the tests install


@given(VALUES)
def test_canonical_json_is_the_json_modules_text(value: object) -> None:
    assert canonical_json(value) == json_module_text(value)


@given(st.lists(TEXT | st.lists(TEXT, max_size=3), max_size=6))
def test_a_key_payload_hashes_the_json_modules_bytes(payload: list[object]) -> None:
    import hashlib

    assert _sha256(payload) == hashlib.sha256(_utf8(_CANONICAL.encode(payload))).hexdigest()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"b": 1.5e-7, "a": 1e16, "c": 2.0}, '{"a":1e+16,"b":1.5e-07,"c":2}'),
        ([1e300, math.inf, -math.inf], "[1e+300,Infinity,-Infinity]"),
        ({"n": 2**64}, '{"n":18446744073709551616}'),
        (["\ud83d"], '["\ud83d"]'),
        ({"é": "𝄞\n"}, '{"é":"𝄞\\n"}'),
    ],
)
def test_the_values_orjson_writes_differently_or_refuses(value: object, text: str) -> None:
    assert canonical_json(value) == text
