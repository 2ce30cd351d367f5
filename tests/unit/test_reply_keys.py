"""A reply relayed whole is keyed off the wire (``reply_tool_calls`` + ``distinct_fingerprint``)
without building its message: the key must be the one its decoded message gets, for every body."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interleaf.gateway.capture import CaptureJob, keyed_reply
from interleaf.store.fingerprint import calls_fingerprint, distinct_fingerprint, has_distinctive_ids
from interleaf.store.thinking import RawReply
from interleaf.wire import anthropic
from interleaf.wire.errors import WireError
from tests.unit.test_anthropic import (
    json_values,
    redacted_block,
    response_bodies,
    text_block,
    thinking_block,
)

# Ids that look minted (toolu_01A09q...) and ids that do not (functions.bash:0, call_1); arguments with
# the floats a JavaScript client rewrites; text with inline think tags and odd whitespace.
call_ids = st.from_regex(r"toolu_01[A-Za-z0-9]{8,20}", fullmatch=True) | st.sampled_from(
    ["functions.bash:0", "call_1", "toolu_abc"]
)
arguments = st.dictionaries(
    st.text(max_size=6),
    json_values | st.sampled_from([1.0, -0.0, 2.5, 1e20, 10**20]),
    max_size=3,
)
tool_use = st.builds(
    lambda i, n, a: {"type": "tool_use", "id": i, "name": n, "input": a},
    call_ids,
    st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
    arguments,
)
think_text = st.builds(
    lambda a, b: {"type": "text", "text": f"{a}<think>{b}</think>\n {a}"},
    st.text(max_size=10),
    st.text(max_size=10),
)
bodies = st.builds(
    lambda body, content: {**body, "content": content},
    response_bodies,
    st.lists(thinking_block | redacted_block | text_block | think_text | tool_use, max_size=6),
)
junk_blocks = st.sampled_from(
    [
        {"type": "text", "text": 5},
        {"type": "tool_use", "id": "toolu_01AAAAAAAAAAAAA", "name": "x", "input": "not an object"},
        {"type": "thinking", "thinking": "t", "signature": 7},
        {"type": "redacted_thinking"},
        {"type": "server_tool_use", "id": "srvtoolu_01AAAAAAAAA", "name": "web_search", "input": {}},
        {"type": "image", "source": "nowhere"},
        "not a block",
    ]
)
junk_bodies = st.builds(
    lambda body, content, at: {**body, "content": [*content[:at], *content[at:]]},
    bodies,
    st.lists(junk_blocks, min_size=1, max_size=2),
    st.integers(0, 3),
)


def _key_of_decoded(body: dict[str, Any]) -> str | None:
    message = anthropic.decode_reply_message(body)
    return calls_fingerprint(message) if has_distinctive_ids(message) else None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies | junk_bodies)
def test_a_key_read_off_the_wire_is_the_key_of_the_decoded_message(body: dict[str, Any]) -> None:
    calls = anthropic.reply_tool_calls(body)
    if calls is None:
        return  # not a plain reply: keyed from its decoded message, as before
    # Whatever the wire path reads, the decoder reads too (it never keys a body the decoder refuses).
    assert distinct_fingerprint(calls) == _key_of_decoded(body)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies | junk_bodies)
def test_keyed_reply_gives_the_same_keys_with_or_without_the_body(body: dict[str, Any]) -> None:
    request = (
        b'{"model": "m", "max_tokens": 5, "system": "s", "messages": [{"role": "user", "content": "hi"}]}'
    )

    def job(body_bytes: bytes | None) -> CaptureJob:
        return CaptureJob("t1:x", "anthropic", "anthropic", request, reply_data=body, reply_body=body_bytes)

    try:
        decoded = anthropic.decode_reply_message(body)
    except WireError:
        decoded = None
    try:
        stored, keys = keyed_reply(job(b"{}"))
    except WireError:
        assert decoded is None  # refused by both paths
        return
    assert decoded is not None
    assert stored == RawReply("anthropic", b"{}")
    plain_stored, plain_keys = keyed_reply(job(None))
    assert keys == plain_keys and plain_stored == decoded


def test_the_wire_path_answers_for_a_plain_reply_and_not_for_any_other_block() -> None:
    body = {
        "content": [
            {"type": "thinking", "thinking": "t", "signature": "s"},
            {"type": "text", "text": "Let me look."},
            {
                "type": "tool_use",
                "id": "toolu_01XyZ9abcDEF123",
                "name": "read",
                "input": {"path": "a", "n": 1.0},
            },
        ]
    }
    calls = anthropic.reply_tool_calls(body)
    assert calls == [("toolu_01XyZ9abcDEF123", "read", {"path": "a", "n": 1.0})]
    assert distinct_fingerprint(calls) == _key_of_decoded(body) is not None
    for other in ({"type": "server_tool_use", "id": "x", "name": "y", "input": {}}, {"type": "image"}):
        assert anthropic.reply_tool_calls({"content": [*body["content"], other]}) is None
    assert anthropic.reply_tool_calls({"type": "error", "error": {}}) is None
    # Numbered ids bind the conversation: no key off the wire.
    numbered = [{"type": "tool_use", "id": "functions.read:0", "name": "read", "input": {}}]
    assert distinct_fingerprint(anthropic.reply_tool_calls({"content": numbered}) or []) is None
