"""The gateway's indexed request headers answer every lookup as Starlette's Headers does."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers

from interleaf.gateway.headers import IndexedHeaders

NAMES = st.sampled_from([b"content-type", b"x-api-key", b"anthropic-beta", b"user-agent", b"accept"])
VALUES = st.binary(max_size=12).map(lambda raw: raw.decode("latin-1").encode("latin-1"))


@given(st.lists(st.tuples(NAMES, VALUES), max_size=8), st.sampled_from(["lower", "upper", "title"]))
def test_every_lookup_matches_starlette(raw: list[tuple[bytes, bytes]], case: str) -> None:
    indexed = IndexedHeaders({"type": "http", "headers": list(raw)})
    plain = Headers(scope={"type": "http", "headers": list(raw)})
    for name in ("content-type", "x-api-key", "anthropic-beta", "user-agent", "accept", "absent"):
        asked = getattr(name, case)()
        assert indexed.get(asked) == plain.get(asked)
        assert indexed.get(asked, "default") == plain.get(asked, "default")
        assert (asked in indexed) == (asked in plain)
        if asked in plain:
            assert indexed[asked] == plain[asked]  # a repeated header: its first value, both ways
        else:
            with pytest.raises(KeyError):
                indexed[asked]
    assert indexed.getlist("anthropic-beta") == plain.getlist("anthropic-beta")
    assert indexed.raw == plain.raw
