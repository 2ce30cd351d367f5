"""The gateway's thinking store (SQLite file and a real redis-server) and its fingerprints."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sqlite3
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from interleaf.store.codec import MANY_CALL_BYTES, compress, compress_many
from interleaf.store.fingerprint import (
    calls_fingerprint,
    conversation_context,
    conversation_fingerprints,
    fingerprint,
    fingerprint_variants,
    has_distinctive_ids,
    legacy_fingerprint,
    needs_restore,
    tenant_id,
    text_fingerprint,
    turn_fingerprint,
    visible_text,
)
from interleaf.store.open import open_store
from interleaf.store.thinking import (
    COMPRESS_ABOVE,
    SERVED_MARKER_MIN_SECONDS,
    RawReply,
    StoreConfigError,
    Stored,
    StoreError,
    StoreUnavailableError,
    ThinkingStore,
    as_message,
    decode_message,
    encode_message,
    encode_messages,
    tenant_for,
)
from interleaf.store.thinking_redis import RedisThinkingStore, redis_key
from interleaf.store.thinking_sqlite import MIGRATIONS, SQLiteThinkingStore, row_key, rowid_range
from interleaf.transcript import (
    Message,
    ReasoningDialect,
    RedactedThinking,
    Response,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    message_to_json,
)
from interleaf.wire.apis import API_NAMES, api
from tests.support.redis_server import RedisServer

TENANT = "t1:" + "a" * 32
OTHER_TENANT = "t1:" + "b" * 32

# ------------------------------------------------------------------------------------------- builders


def dump(message: Message) -> str:
    """Byte-exact view of a message: key order kept, nothing sorted."""
    return json.dumps(message_to_json(message), ensure_ascii=False)


def turn(
    call_id: str = "toolu_01A09q90qw90lq917835lq9",
    *,
    text: str = "Let me look at the file.",
    raw_arguments: str | None = '{"path": "src/app.py", "limit": 200}',
    thinking: bool = True,
    size: int = 1,
) -> Message:
    """A realistic assistant turn: signed thinking, a reasoning_details item with odd key order,
    redacted thinking, visible text and a tool call."""
    blocks: list[Thinking | RedactedThinking | Text | ToolCall] = []
    if thinking:
        item = {
            "text": "weigh options",
            "type": "reasoning.text",
            "zeta": [3, 1],
            "id": "rd-1",
            "format": "x",
        }
        blocks += [
            Thinking(
                text="The user wants the file.\n" * size,
                signature="EqQBCkgIARAB" * 8,
                dialect=ReasoningDialect.ANTHROPIC,
            ),
            Thinking(text="weigh options", dialect=ReasoningDialect.REASONING_DETAILS, item=item),
            RedactedThinking(data="ENCRYPTED+/=" * 4, extra={"vendor": {"b": 1, "a": 2}}),
        ]
    blocks.append(Text(text=text))
    if call_id:
        blocks.append(ToolCall(id=call_id, name="read_file", raw_arguments=raw_arguments))
    return Message(role="assistant", blocks=tuple(blocks))


def without_thinking(message: Message) -> Message:
    return message.with_blocks(b for b in message.blocks if not isinstance(b, Thinking | RedactedThinking))


# ------------------------------------------------------------------------------------------- fixtures


async def _open(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> ThinkingStore:
    if kind == "sqlite":
        return SQLiteThinkingStore(tmp_path / "thinking.db")
    server: RedisServer = request.getfixturevalue("redis_server")
    return RedisThinkingStore(server.url, retry_after=0.2)


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ThinkingStore]:
    opened = await _open(request.param, request, tmp_path)
    yield opened
    await opened.aclose()


@pytest.fixture(params=["sqlite", "redis"])
async def store_pair(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[ThinkingStore, ThinkingStore]]:
    """Two store objects on one backend, like two gateway processes or replicas."""
    first = await _open(request.param, request, tmp_path)
    second = await _open(request.param, request, tmp_path)
    yield first, second
    await first.aclose()
    await second.aclose()


# ---------------------------------------------------------------------------------------- fingerprints


def test_keys_are_pinned_to_their_version() -> None:
    """The keys of fixed turns, as written since the f1/k1/c1/x1/t1 formats shipped: stored turns are found
    by them, so any change of normalisation must come with a new prefix (and this test then grows a
    case for it), never as a new value under an old one."""
    call = ToolCall(
        id="toolu_01A09q90qw90lq917835lq9",
        name="read_file",
        arguments={"path": "src/é.py", "limit": 2.0, "opts": {"z": [1, 0.5, {"b": True, "a": None}]}},
    )
    tools = Message(
        role="assistant",
        blocks=(
            Thinking(text="plan", signature="SIG", dialect=ReasoningDialect.ANTHROPIC),
            Text(text="  Reading <think>aside</think> the file.\n"),
            call,
        ),
    )
    reply = Message(role="assistant", blocks=(Text(text="Done: the file defines 𝄞 three functions, " * 4),))
    messages = [
        Message(role="user", blocks=(Text(text="Read src/é.py"),)),
        tools,
        Message(role="user", blocks=(ToolResult(call_id=call.id, content="def f(): ..."),)),
        reply,
    ]
    strict = "f1:7449431a3bc4e5e219131fbedf2812968cc8e7f2f22fd40134543513a48b4407"
    bound = "f1:f5f5ba73d574f34c6d3d7dac901b3b6e3d74d694b0dafee32816e64bddef1b37"
    calls = "k1:b0e42c46c28f6b0e993a14e35883ef8a6aa73bf17e8dfeed234498b8af50be25"
    assert fingerprint(tools) == strict
    assert calls_fingerprint(tools) == calls
    assert legacy_fingerprint([tools], 0) == strict  # what versions before k1: stored this turn under
    assert fingerprint_variants(tools) == (
        strict,
        "f1n:e0dcd678b9018a3c0d3f82bc5b366d938471d44cc95522e547c4658c54b6cc1c",
    )
    assert turn_fingerprint(messages, 3, system="You are careful.") == bound
    assert turn_fingerprint(messages, 1, system="You are careful.") == calls
    assert conversation_fingerprints(messages, system="You are careful.") == {1: calls, 3: bound}
    assert (
        text_fingerprint(reply, system="You are careful.")
        == "x1:86781b8b3a1f32ec309710a3c362d15ce6f2eef141251bf11404d38aff9c7e2b"
    )
    assert tenant_id("sk-key", b"secret", scope="anthropic") == "t1:839d2ef754ccb1eebd72664e16f3e93c"


def test_fingerprint_ignores_thinking_and_signatures() -> None:
    message = turn()
    assert fingerprint(message) == fingerprint(without_thinking(message))
    assert fingerprint(message).startswith("f1:") and len(fingerprint(message)) == 3 + 64


def test_fingerprint_matches_reserialised_arguments() -> None:
    original = turn(raw_arguments='{"path": "é/app.py", "opts": {"b": 1.0, "a": [2, -0.0]}}')
    compact = turn(raw_arguments='{"opts":{"a":[2,0],"b":1},"path":"\\u00e9/app.py"}')
    parsed = without_thinking(original).with_blocks(
        [
            Text(text="Let me look at the file."),
            ToolCall(
                id=original.tool_calls[0].id,
                name="read_file",
                arguments={"path": "é/app.py", "opts": {"a": [2, 0], "b": 1}},
            ),
        ]
    )
    assert fingerprint(original) == fingerprint(compact) == fingerprint(parsed)
    assert fingerprint(turn(raw_arguments="")) == fingerprint(turn(raw_arguments="{}"))


def test_fingerprint_matches_inline_think_tags_kept_or_dropped() -> None:
    plain = turn(thinking=False, text="Let me look at the file.")
    inline = turn(thinking=False, text="<think>\nthe user wants app.py\n</think>\n\nLet me look at the file.")
    prefilled = turn(thinking=False, text="the user wants app.py\n</think>\n\nLet me look at the file.")
    split = plain.with_blocks([Text(text="Let me look\n"), Text(text="at the file.  "), *plain.tool_calls])
    keys = {fingerprint(m) for m in (plain, inline, prefilled, split, turn())}
    assert len(keys) == 1
    assert visible_text("a <think>unclosed") == "a"
    assert fingerprint(turn(text="\ud83d")) != fingerprint(turn(text="\ud83e"))


def test_fingerprint_ignores_tool_call_order() -> None:
    a = ToolCall(id="call_7p2k1xq9ab", name="f", arguments={"x": 1})
    b = ToolCall(id="call_zz81kq0cde", name="g", arguments={})
    assert fingerprint(Message(role="assistant", blocks=(a, b))) == fingerprint(
        Message(role="assistant", blocks=(b, a))
    )


@pytest.mark.parametrize(
    "changed",
    [
        turn(call_id="toolu_01B09q90qw90lq917835lq9"),
        turn(raw_arguments='{"path": "src/app.py", "limit": 201}'),
        turn(text="Let me look at another file."),
        turn().with_blocks(
            [
                Text(text="Let me look at the file."),
                ToolCall(
                    id="toolu_01A09q90qw90lq917835lq9",
                    name="cat",
                    raw_arguments='{"path": "src/app.py", "limit": 200}',
                ),
            ]
        ),
        turn(call_id=""),
    ],
    ids=["id", "arguments", "text", "name", "no-call"],
)
def test_fingerprint_differs_for_a_different_turn(changed: Message) -> None:
    assert fingerprint(changed) != fingerprint(turn())


def test_a_turn_with_random_ids_is_keyed_on_its_calls_whatever_text_surrounds_them() -> None:
    """Qwen Code, after compacting, sends its unfinished step back with new text around the same call:
    the calls key still finds it, and any change to a call (id, name, arguments) is another turn."""
    rewritten = turn(thinking=False, text="Got it. Thanks for the additional context!")
    assert calls_fingerprint(rewritten) == calls_fingerprint(turn()) == calls_fingerprint(turn(text=""))
    assert calls_fingerprint(rewritten).startswith("k1:")
    assert fingerprint(rewritten) != fingerprint(turn())  # the text-bound key did not survive it
    other_turns = [
        turn(call_id="toolu_01B09q90qw90lq917835lq9"),
        turn(raw_arguments='{"path": "src/app.py", "limit": 201}'),
        turn().with_blocks([Text(text="x"), ToolCall(id=turn().tool_calls[0].id, name="cat", arguments={})]),
    ]
    assert calls_fingerprint(turn()) not in {calls_fingerprint(m) for m in other_turns}
    # The gateway's key for it: the calls key; the key before k1: is only the fallback for old rows.
    messages = [Message(role="user", blocks=(Text(text="go"),)), rewritten]
    assert (
        turn_fingerprint(messages, 1) == conversation_fingerprints(messages)[1] == calls_fingerprint(turn())
    )
    assert legacy_fingerprint([rewritten], 0) == fingerprint(rewritten)
    assert legacy_fingerprint([turn(call_id="functions.read:0")], 0) is None  # bound to its conversation


def test_fingerprint_variants_survive_rewritten_ids() -> None:
    strict, no_ids = fingerprint_variants(turn())
    assert strict == fingerprint(turn())
    assert no_ids.startswith("f1n:")
    assert fingerprint_variants(turn(call_id="call_abc"))[1] == no_ids
    assert fingerprint_variants(turn(call_id="")) == (fingerprint(turn(call_id="")),)


@pytest.mark.parametrize(
    ("call_id", "distinctive"),
    [
        ("toolu_01A09q90qw90lq917835lq9", True),
        ("call_function_7p2k1xq9ab_1", True),
        ("chatcmpl-tool-3f2a9c1e5b7d4e0f8a6b", True),
        ("D681PevKs", True),
        ("functions.bash:0", False),
        ("call_0", False),
        ("function-call-1234567890", False),
        ("", False),
    ],
)
def test_distinctive_ids(call_id: str, distinctive: bool) -> None:
    assert has_distinctive_ids(turn(call_id=call_id)) is distinctive


def test_turn_fingerprint_binds_indistinct_turns_to_their_conversation() -> None:
    def conversation(question: str) -> list[Message]:
        return [
            Message(role="user", blocks=(Text(text=question),)),
            turn(),
            Message(
                role="tool", blocks=(ToolResult(call_id="toolu_01A09q90qw90lq917835lq9", content="..."),)
            ),
            Message(role="assistant", blocks=(Thinking(text="all good", signature="S"), Text(text="Done."))),
        ]

    first, second = conversation("fix app.py"), conversation("fix lib.py")
    # A tool-call turn with a random id is keyed on its calls: found even if older history changed.
    assert turn_fingerprint(first, 1) == turn_fingerprint(second, 1) == calls_fingerprint(turn())
    # "Done." is not: two conversations never share its thinking.
    assert turn_fingerprint(first, 3) != turn_fingerprint(second, 3)
    # What the client sends back later (thinking dropped, tool output cleared) gives the captured key.
    echoed = [
        first[0],
        without_thinking(first[1]),
        Message(
            role="tool", blocks=(ToolResult(call_id="toolu_01A09q90qw90lq917835lq9", content="[cleared]"),)
        ),
        without_thinking(first[3]),
    ]
    assert turn_fingerprint(echoed, 3) == turn_fingerprint(first, 3)
    assert turn_fingerprint(first, 3, system="You are A") != turn_fingerprint(first, 3, system="You are B")
    assert conversation_context(first, 0).startswith("c1:")
    # One pass over a whole request gives the same keys as capture did, turn by turn.
    assert conversation_fingerprints(echoed, system="S") == {
        1: turn_fingerprint(first[:2], 1, system="S"),
        3: turn_fingerprint(first, 3, system="S"),
    }


def test_tenant_id_is_keyed_and_never_contains_the_credential() -> None:
    secret = b"s" * 32
    tenant = tenant_id("sk-live-123", secret)
    assert tenant == tenant_id("sk-live-123", secret)
    assert tenant.startswith("t1:") and "sk-live" not in tenant and len(tenant) == 35
    assert tenant != tenant_id("sk-live-124", secret)
    assert tenant != tenant_id("sk-live-123", b"other")
    assert tenant != tenant_id("sk-live-123", secret, scope="https://api.anthropic.com")
    with pytest.raises(ValueError, match="non-empty secret"):
        tenant_id("sk", b"")


def test_needs_restore() -> None:
    stored = turn()
    signed, details, redacted = stored.thinking
    assert isinstance(signed, Thinking) and isinstance(details, Thinking)
    assert not needs_restore(stored, stored)
    assert needs_restore(without_thinking(stored), stored)
    # Text back without its signature (an OpenAI-Chat client sending reasoning_content).
    unsigned = Thinking(text=signed.text, dialect=ReasoningDialect.REASONING_CONTENT)
    assert needs_restore(stored.with_blocks([unsigned, details, redacted, *stored.blocks[3:]]), stored)
    # A reasoning_details item missing, or re-serialised in another key order.
    assert needs_restore(stored.with_blocks([signed, redacted, *stored.blocks[3:]]), stored)
    assert details.item is not None
    reordered = Thinking(text=details.text, dialect=details.dialect, item=dict(sorted(details.item.items())))
    assert needs_restore(stored.with_blocks([signed, reordered, redacted, *stored.blocks[3:]]), stored)
    assert needs_restore(stored.with_blocks([signed, details, *stored.blocks[3:]]), stored)
    # A DeepSeek-style placeholder is not the original.
    assert needs_restore(stored.with_blocks([Thinking(text=""), *stored.blocks[3:]]), stored)
    # Same thinking in another dialect, other extra: nothing to restore.
    same = Thinking(
        text=signed.text, signature=signed.signature, dialect=ReasoningDialect.REASONING, extra={"x": 1}
    )
    assert not needs_restore(stored.with_blocks([same, details, redacted, *stored.blocks[3:]]), stored)
    # A stored turn without thinking never needs restoring.
    assert not needs_restore(without_thinking(stored), without_thinking(stored))


# --------------------------------------------------------------------------------------------- codec


def test_codec_compresses_only_large_messages() -> None:
    small, large = turn(thinking=False), turn(size=40)
    assert encode_message(small).startswith(b"{") and len(encode_message(small)) <= COMPRESS_ABOVE
    assert not encode_message(large).startswith(b"{")
    assert len(encode_message(large)) < len(dump(large)) / 2
    for message in (small, large):
        assert dump(decode_message(encode_message(message))) == dump(message)


@given(st.lists(st.binary(max_size=3000), max_size=12))
def test_a_batch_compresses_to_the_frames_one_by_one_gives(values: list[bytes]) -> None:
    frames = compress_many(values)
    assert frames == [compress(value) for value in values]
    assert [zstandard.ZstdDecompressor().decompress(frame) for frame in frames] == values


def test_a_batch_longer_than_one_call_takes_is_compressed_in_several() -> None:
    # Four values of a third of a call each: a batch call for the first two, then the rest, one by one
    # (zstd's batch call refuses the empty value among them).
    values = [bytes([i]) * (MANY_CALL_BYTES // 3) for i in range(4)] + [b"", b"tail" * 100]
    assert compress_many(values) == [compress(value) for value in values]


def test_a_batch_of_turns_encodes_to_what_each_alone_stores() -> None:
    # Around the compression threshold, messages and relayed replies mixed: what a store's writer gets.
    wire = api("anthropic")
    bodies = [b"{}", b"x" * COMPRESS_ABOVE, b"y" * (COMPRESS_ABOVE + 1)]
    bodies.append(json.dumps(wire.encode_response(Response(message=turn(size=40)), dialect=None)).encode())
    messages = [turn(thinking=False), turn(size=40)]
    batch: list[Stored] = [*(RawReply("anthropic", body) for body in bodies), *messages]
    encoded = encode_messages(batch)
    assert encoded[0] == b"ranthropic\n{}" and encoded[1] == b"ranthropic\n" + bodies[1]
    assert encoded[2] == b"Zanthropic\n" + compress(bodies[2])
    assert encoded[3] == b"Zanthropic\n" + compress(bodies[3])
    assert encoded[4].startswith(b"{") and encoded[5] == compress(encoded_plain(messages[1]))
    assert encoded == [encode_message(stored) for stored in batch]
    for stored, value in zip(batch[3:], encoded[3:], strict=True):  # the first three are no replies
        assert dump(decode_message(value)) == dump(as_message(stored))


def encoded_plain(message: Message) -> bytes:
    return json.dumps(message_to_json(message), ensure_ascii=False, separators=(",", ":")).encode()


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def test_turns_stored_by_earlier_versions_with_zlib_still_read_back() -> None:
    # Earlier versions compressed with zlib: a bare zlib stream for a message, "R<api>\n" before it
    # for a relayed reply. A store upgraded in place keeps those rows until they expire.
    message = turn(size=40)
    text = json.dumps(message_to_json(message), ensure_ascii=False, separators=(",", ":")).encode()
    assert dump(decode_message(zlib.compress(text, 6))) == dump(message)
    wire = api("anthropic")
    body = json.dumps(wire.encode_response(Response(message=message, id="r-1"), dialect=None)).encode()
    expected = wire.decode_reply_message(json.loads(body))
    assert dump(decode_message(b"Ranthropic\n" + zlib.compress(body, 6))) == dump(expected)
    # And what this version writes is not zlib: smaller than zlib's level 6 is not promised, within
    # a tenth of it is.
    ours = encode_message(RawReply("anthropic", body))
    assert ours.startswith(b"Zanthropic\n") and len(ours) < 1.1 * len(zlib.compress(body, 6)) + 12


def test_a_stored_turn_damaged_inside_is_refused_and_frames_without_a_checksum_still_read() -> None:
    body = json.dumps(
        api("anthropic").encode_response(Response(message=turn(size=40)), dialect=None)
    ).encode()
    encoded = encode_message(RawReply("anthropic", body))
    middle = len(encoded) // 2
    for flipped in (encoded[middle] ^ 0x01, encoded[middle] ^ 0x80):
        # One bit of the compressed content: its checksum refuses it, never other bytes read back.
        with pytest.raises(ValueError, match="does not decompress"):
            decode_message(encoded[:middle] + bytes([flipped]) + encoded[middle + 1 :])
    # zstd frames written before the checksum (and by other tools) read back as they are.
    bare = zstandard.ZstdCompressor(level=3, write_checksum=False).compress(body)
    assert dump(decode_message(b"Zanthropic\n" + bare)) == dump(RawReply("anthropic", body).message())


@pytest.mark.parametrize("api_name", API_NAMES)
@pytest.mark.parametrize("size", [1, 60])
def test_a_raw_reply_is_stored_as_its_body_and_read_back_as_its_message(api_name: str, size: int) -> None:
    wire = api(api_name)
    reply = wire.encode_response(Response(message=turn(size=size), id="r-1", model="m"), dialect=None)
    body = json.dumps(reply, ensure_ascii=False).encode()
    expected = wire.decode_response(json.loads(body)).message
    assert dump(wire.decode_reply_message(json.loads(body))) == dump(expected)

    encoded = encode_message(RawReply(api_name, body))
    if len(body) > COMPRESS_ABOVE:  # compressed behind its header
        assert encoded.startswith(b"Z" + api_name.encode() + b"\n") and len(encoded) < len(body)
        assert size == 1 or len(encoded) < len(body) / 4
    else:
        assert encoded == b"r" + api_name.encode() + b"\n" + body
    assert dump(decode_message(encoded)) == dump(expected)
    assert dump(RawReply(api_name, body).message()) == dump(expected)


def test_a_bad_stored_raw_reply_is_a_value_error() -> None:
    body = json.dumps(api("anthropic").encode_response(Response(message=turn()), dialect=None)).encode()
    for bad, says in (
        (b"ranthropic", "without its API name"),
        (b"rno-such-api\n" + body, "unknown API 'no-such-api'"),
        (b"ranthropic\n{not json", "Expecting property name"),
        (b"Zanthropic\n" + body, "does not decompress"),  # flagged compressed, but is not
        (b"Ranthropic\n" + body, "does not decompress"),  # the same, as an earlier version wrote it
        (ZSTD_MAGIC + b"damaged", "does not decompress"),  # a damaged compressed message
        (b"\x78\x9cdamaged", "does not decompress"),  # the same, as an earlier version wrote it
        # a frame whose header claims a terabyte (damage, not a size to allocate)
        (ZSTD_MAGIC + b"\xe0" + (1 << 40).to_bytes(8, "little") + b"\x01\x00\x00", "does not decompress"),
        (
            b"ranthropic\n" + json.dumps({"type": "error", "error": {"type": "overloaded_error"}}).encode(),
            "overloaded_error",
        ),
        (b"ranthropic\n" + json.dumps({"type": "message", "content": "not a list"}).encode(), "content"),
    ):
        with pytest.raises(ValueError, match=re.escape(says)):
            decode_message(bad)


# ------------------------------------------------------------------------------------- both backends


async def test_put_get_is_byte_exact(store: ThinkingStore) -> None:
    odd_text = turn(text="naïve 🙂 \ud83d lone surrogate, \x00 nul, \u2028")
    for index, message in enumerate((turn(), turn(size=40), turn(thinking=False), odd_text)):
        await store.put(TENANT, f"f1:{index}", message)
        got = await store.get(TENANT, f"f1:{index}")
        assert got is not None and dump(got) == dump(message)
        assert got == message
    assert await store.get(TENANT, "f1:unknown") is None


async def test_put_replaces(store: ThinkingStore) -> None:
    await store.put(TENANT, "f1:x", turn(text="one"))
    await store.put(TENANT, "f1:x", turn(text="two"))
    got = await store.get(TENANT, "f1:x")
    assert got is not None and got.text == "two"


async def test_tenants_are_isolated(store: ThinkingStore) -> None:
    await store.put(TENANT, "f1:same", turn())
    assert await store.get(OTHER_TENANT, "f1:same") is None
    assert await store.get_many(OTHER_TENANT, ["f1:same"]) == {}


async def test_ttl_expiry(store: ThinkingStore) -> None:
    await store.put(TENANT, "f1:short", turn(), ttl_seconds=0.3)
    await store.put(TENANT, "f1:long", turn())
    assert await store.get(TENANT, "f1:short") is not None
    await asyncio.sleep(0.5)
    assert await store.get(TENANT, "f1:short") is None
    assert await store.get(TENANT, "f1:long") is not None


async def test_served_markers_outlive_the_turns_and_stay_per_tenant(store: ThinkingStore) -> None:
    """A turn that expired still counts as served (missing, not foreign); one never stored does not."""
    await store.put(TENANT, "f1:short", turn(), ttl_seconds=0.3)
    await store.put_many(TENANT, {"f1:a": turn(), "f1:b": turn()})
    assert await store.served(TENANT, ["f1:short", "f1:a", "f1:b", "f1:never"]) == {
        "f1:short",
        "f1:a",
        "f1:b",
    }
    await asyncio.sleep(0.5)
    assert await store.get(TENANT, "f1:short") is None
    assert await store.served(TENANT, ["f1:short", "f1:never"]) == {"f1:short"}
    assert await store.served(OTHER_TENANT, ["f1:short", "f1:a"]) == set()
    assert await store.served(TENANT, []) == set()


async def test_sqlite_store_file_and_new_directory_are_private(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "deeper" / "thinking.db"
    store = SQLiteThinkingStore(path)
    try:
        await store.put(TENANT, "f1:x", turn())
    finally:
        await store.aclose()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    for sidecar in path.parent.iterdir():  # the WAL and shared-memory files SQLite made beside it
        assert sidecar.stat().st_mode & 0o077 == 0, sidecar


async def test_sqlite_durable_commits_with_full_sync(tmp_path: Path) -> None:
    store = SQLiteThinkingStore(tmp_path / "d.db", durable=True)
    try:
        await store.put(TENANT, "f1:x", turn())
        modes = await store._run(
            store._writer_pool, lambda: store._writer.execute("PRAGMA synchronous").fetchone()
        )
        assert modes == (2,)  # FULL
    finally:
        await store.aclose()


async def test_sqlite_markers_are_bounded_too(tmp_path: Path) -> None:
    store = SQLiteThinkingStore(tmp_path / "m.db", max_rows=10, purge_every=5)
    try:
        for index in range(80):
            await store.put(TENANT, f"f1:{index:03d}", turn(), ttl_seconds=600 + index)
        await store.wait_idle()
        count = await store._run(
            store._reader_pool, lambda: store._reader.execute("SELECT count(*) FROM served").fetchone()[0]
        )
        assert count <= 10 * 4
        assert await store.served(TENANT, ["f1:079"]) == {"f1:079"}  # the newest are kept
        # An evicted turn is gone, and its marker stayed behind in `served`.
        assert await store.get(TENANT, "f1:060") is None
        assert await store.served(TENANT, ["f1:060"]) == {"f1:060"}
    finally:
        await store.aclose()


async def test_sqlite_maintenance_finds_the_rowid_range_by_index_seeks_not_a_scan(tmp_path: Path) -> None:
    """Every maintenance pass reads each table's rowid range to bound its row count: that must be two
    seeks whatever the store holds. (`SELECT min(rowid), max(rowid)` scans the whole table: ~100 ms a
    pass at a million turns.)"""
    path = tmp_path / "t.db"
    async with SQLiteThinkingStore(path, max_rows=5, purge_every=2) as store:
        for index in range(12):
            await store.put(TENANT, f"f1:{index:03d}", turn(), ttl_seconds=600 + index)
        await store.wait_idle()
        assert await store.count() <= 5  # the pass ran and used the range
    with contextlib.closing(sqlite3.connect(path)) as db:
        for table in ("thinking", "served"):
            plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + rowid_range(table))]
            assert plan and not [step for step in plan if step.startswith("SCAN") and "CONSTANT" not in step]
            low, high = db.execute(rowid_range(table)).fetchone()
            assert (low, high) == db.execute(f"SELECT min(rowid), max(rowid) FROM {table}").fetchone()


async def test_sqlite_a_purged_turn_leaves_its_marker(tmp_path: Path) -> None:
    """A turn's row is its own served marker; maintenance that deletes the row copies the marker into
    `served` in the same transaction, so the turn still counts as served (missing, not foreign)."""
    store = SQLiteThinkingStore(tmp_path / "p.db")
    try:
        await store.put(TENANT, "f1:short", turn(), ttl_seconds=0.2)
        await store.put(TENANT, "f1:long", turn())
        markers = "SELECT count(*) FROM served"
        assert await store._run(store._reader_pool, lambda: store._reader.execute(markers).fetchone()[0]) == 0
        await asyncio.sleep(0.4)
        assert await store.purge() == 1
        assert await store.count() == 1
        assert await store._run(store._reader_pool, lambda: store._reader.execute(markers).fetchone()[0]) == 1
        assert await store.served(TENANT, ["f1:short", "f1:long", "f1:never"]) == {"f1:short", "f1:long"}
        assert await store.served(OTHER_TENANT, ["f1:short"]) == set()
    finally:
        await store.aclose()


async def test_get_many_one_call_for_a_whole_conversation(store: ThinkingStore) -> None:
    turns = {f"f1:{i}": turn(call_id=f"toolu_{i:04d}abcdefgh", size=i % 5 + 1) for i in range(40)}
    await store.put_many(TENANT, turns)
    wanted = [*turns, "f1:missing", "f1:0"]
    found = await store.get_many(TENANT, wanted)
    assert set(found) == set(turns)
    assert all(dump(found[fp]) == dump(message) for fp, message in turns.items())
    assert await store.get_many(TENANT, []) == {}
    stats = await store.stats()
    assert (stats.hits, stats.misses, stats.puts, stats.errors) == (40, 1, 40, 0)


async def test_two_instances_share_writes_and_tenant_secret(
    store_pair: tuple[ThinkingStore, ThinkingStore],
) -> None:
    first, second = store_pair
    tenant = await tenant_for(first, "sk-client-key")
    assert tenant == await tenant_for(second, "sk-client-key")
    await first.put(tenant, "f1:shared", turn())
    got = await second.get(tenant, "f1:shared")
    assert got is not None and dump(got) == dump(turn())


async def test_env_secret_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLEAF_TENANT_SECRET", "from-env")
    store = SQLiteThinkingStore(tmp_path / "t.db")
    try:
        assert await store.tenant_secret() == b"from-env"
        assert await tenant_for(store, "k") == tenant_id("k", b"from-env")
    finally:
        await store.aclose()


async def test_closed_store_says_so(store: ThinkingStore) -> None:
    await store.aclose()
    with pytest.raises(StoreError, match="closed"):
        await store.get(TENANT, "f1:x")


# --------------------------------------------------------------------------------------------- SQLite


async def test_sqlite_size_bound_evicts_expired_then_oldest(tmp_path: Path) -> None:
    store = SQLiteThinkingStore(tmp_path / "t.db", max_rows=50, purge_every=10)
    try:
        await store.put(TENANT, "f1:old-but-long-lived", turn(), ttl_seconds=3600)
        await store.put(TENANT, "f1:short-lived", turn(), ttl_seconds=0.05)
        await asyncio.sleep(0.1)
        for index in range(100):
            await store.put(TENANT, f"f1:{index:03d}", turn(), ttl_seconds=600 + index)
        await store.wait_idle()  # maintenance runs on the writer thread after the put that triggered it
        assert 45 <= await store.count() <= 50
        assert await store.get(TENANT, "f1:099") is not None
        assert await store.get(TENANT, "f1:000") is None
        # The long-lived row expires last, so it outlives rows written after it.
        assert await store.get(TENANT, "f1:old-but-long-lived") is not None
        stats = await store.stats()
        assert stats.evicted >= 52 and stats.entries == await store.count()
    finally:
        await store.aclose()


async def test_sqlite_purges_expired_rows_every_n_writes(tmp_path: Path) -> None:
    store = SQLiteThinkingStore(tmp_path / "t.db", purge_every=5)
    try:
        await store.put_many(TENANT, {f"f1:{i}": turn() for i in range(4)}, ttl_seconds=0.05)
        await asyncio.sleep(0.1)
        assert await store.count() == 4  # expired, still on disk, already misses
        assert await store.get_many(TENANT, [f"f1:{i}" for i in range(4)]) == {}
        await store.put(TENANT, "f1:fresh", turn())
        await store.wait_idle()
        assert await store.count() == 1
        await store.put_many(TENANT, {f"f1:{i}": turn() for i in range(3)}, ttl_seconds=0.05)
        await asyncio.sleep(0.1)
        assert await store.purge() == 3
        assert await store.count() == 1
    finally:
        await store.aclose()


async def test_a_write_puts_back_the_secret_a_restarted_redis_lost(redis_server: RedisServer) -> None:
    # Redis restarted without persistence: a replica started afterwards must still derive the tenants
    # the running ones use, so their next write restores the secret.
    first = RedisThinkingStore(redis_server.url)
    later = RedisThinkingStore(redis_server.url)
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        secret = await first.tenant_secret()
        await raw.flushall()
        await first.put(TENANT, "f1:x", turn())
        assert await later.tenant_secret() == secret
    finally:
        for store in (first, later):
            await store.aclose()
        await raw.aclose()


async def test_sqlite_processes_opening_one_new_file_together(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    stores = await asyncio.gather(*(asyncio.to_thread(SQLiteThinkingStore, path) for _ in range(6)))
    try:
        await stores[0].put(TENANT, "f1:x", turn())
        assert all([await s.get(TENANT, "f1:x") is not None for s in stores])
        assert len({await s.tenant_secret() for s in stores}) == 1
    finally:
        for s in stores:
            await s.aclose()


async def test_sqlite_reads_do_not_wait_for_another_processes_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = SQLiteThinkingStore(path, busy_timeout=1.0)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        await store.put(TENANT, "f1:x", turn())
        other.execute("BEGIN IMMEDIATE")  # another gateway process mid-write
        started = time.monotonic()
        assert await store.get(TENANT, "f1:x") is not None
        assert time.monotonic() - started < 0.5  # no busy wait: WAL readers never wait for writers
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="write lock"):
            await store.put(TENANT, "f1:y", turn())
        assert 0.9 < time.monotonic() - started < 3
        other.execute("ROLLBACK")
        await store.put(TENANT, "f1:y", turn())
    finally:
        other.close()
        await store.aclose()


async def test_sqlite_damaged_row_is_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = SQLiteThinkingStore(path)
    try:
        await store.put(TENANT, "f1:x", turn())
        with sqlite3.connect(path) as db:
            db.execute("UPDATE thinking SET data = ?", (b"{not json",))
        db.close()
        assert await store.get(TENANT, "f1:x") is None
        assert (await store.stats()).errors == 1
    finally:
        await store.aclose()


async def test_sqlite_a_row_whose_key_digest_collides_is_a_miss_not_another_turn(tmp_path: Path) -> None:
    """Rows are found by a 64-bit digest of (tenant, fingerprint); a row under the digest of the key
    asked for but holding another tenant or fingerprint (a collision) is a miss, never a hit."""
    path = tmp_path / "t.db"
    async with SQLiteThinkingStore(path) as store:
        await store.put(TENANT, "f1:x", turn())
        await store.put(TENANT, "f1:y", turn(size=2))
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
            # f1:x's row now sits under the digest of (OTHER_TENANT, f1:x), f1:y's under (TENANT, f1:z).
            db.execute(
                "UPDATE thinking SET k = ? WHERE fingerprint = 'f1:x'", (row_key(OTHER_TENANT, "f1:x"),)
            )
            db.execute("UPDATE thinking SET k = ? WHERE fingerprint = 'f1:y'", (row_key(TENANT, "f1:z"),))
        assert await store.get_many(OTHER_TENANT, ["f1:x"]) == {}
        assert await store.get_many(TENANT, ["f1:z"]) == {}
        assert await store.served(OTHER_TENANT, ["f1:x"]) == set()
        assert await store.served(TENANT, ["f1:z"]) == set()


def run_migrations(db: sqlite3.Connection, scripts: list[str]) -> None:
    db.create_function("interleaf_row_key", 2, row_key, deterministic=True)
    for script in scripts:
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)


def store_of_schema_2(path: Path) -> None:
    """A store as the schema before turns were keyed by a digest left it: one turn, one marker."""
    now = time.time()
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        run_migrations(db, MIGRATIONS[:2])
        db.execute("PRAGMA user_version = 2")
        db.execute(
            "INSERT INTO thinking VALUES (?, ?, ?, ?, ?)",
            (TENANT, "f1:old", encode_message(turn()), now, now + 3600),
        )
        db.execute("INSERT INTO served VALUES (?, ?, ?)", (TENANT, "f1:gone", now + 3600))


async def test_sqlite_a_turn_purged_twice_keeps_the_later_marker(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with SQLiteThinkingStore(path) as store:
        for ttl in (0.2, 0.3):  # stored, expired and purged, then stored and purged again
            await store.put(TENANT, "f1:again", turn(), ttl_seconds=ttl)
            await asyncio.sleep(ttl + 0.2)
            assert await store.purge() == 1
        with contextlib.closing(sqlite3.connect(path)) as db:
            rows = db.execute("SELECT tenant, fingerprint, expires FROM served").fetchall()
        assert [row[:2] for row in rows] == [(TENANT, "f1:again")]
        assert rows[0][2] > time.time() + SERVED_MARKER_MIN_SECONDS - 60
        assert await store.served(TENANT, ["f1:again"]) == {"f1:again"}


async def test_sqlite_a_store_of_the_previous_schema_is_migrated_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "t.db"
    store_of_schema_2(path)
    with caplog.at_level(logging.WARNING, logger="interleaf.store"):
        store = SQLiteThinkingStore(path)
    assert f"upgrading the thinking store {path} from schema 2 to {len(MIGRATIONS)}" in caplog.text
    async with store:
        got = await store.get(TENANT, "f1:old")
        assert got is not None and dump(got) == dump(turn())
        assert await store.get(OTHER_TENANT, "f1:old") is None
        assert await store.served(TENANT, ["f1:old", "f1:gone", "f1:never"]) == {"f1:old", "f1:gone"}
        await store.put(TENANT, "f1:old", turn(size=3))  # the migrated row is the one replaced
        replaced = await store.get(TENANT, "f1:old")
        assert replaced is not None and dump(replaced) == dump(turn(size=3))
        assert await store.count() == 1
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


async def test_sqlite_opening_waits_while_another_process_upgrades_the_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two gateway processes start on a store of an older schema: the second waits for the first's
    upgrade (which holds the write lock far longer than ``busy_timeout``), then opens the upgraded
    store without upgrading it again."""
    path = tmp_path / "t.db"
    store_of_schema_2(path)
    upgrading = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    upgrading.execute("BEGIN IMMEDIATE")  # the first process, mid-upgrade
    with caplog.at_level(logging.WARNING, logger="interleaf.store"):
        opening = asyncio.create_task(asyncio.to_thread(SQLiteThinkingStore, path, busy_timeout=0.2))
        await asyncio.sleep(1.0)  # five busy timeouts
        assert not opening.done()
        run_migrations(upgrading, MIGRATIONS[2:])
        upgrading.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        upgrading.execute("COMMIT")
        upgrading.close()
        store = await asyncio.wait_for(opening, 5)
    assert f"the thinking store {path} needs an upgrade and another process holds its write lock" in (
        caplog.text
    )
    assert "upgrading the thinking store" not in caplog.text  # the first process did it
    async with store:
        got = await store.get(TENANT, "f1:old")
        assert got is not None and dump(got) == dump(turn())
        assert await store.served(TENANT, ["f1:old", "f1:gone"]) == {"f1:old", "f1:gone"}


async def test_sqlite_opening_gives_up_on_an_upgrade_lock_held_too_long(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store_of_schema_2(path)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match=r"cannot open the thinking store .* locked"):
            await asyncio.to_thread(SQLiteThinkingStore, path, busy_timeout=0.2, upgrade_wait=0.6)
        assert 0.6 < time.monotonic() - started < 3
        holder.execute("ROLLBACK")
    async with SQLiteThinkingStore(path, busy_timeout=0.2) as store:  # the lock gone: upgraded now
        assert await store.get(TENANT, "f1:old") is not None


async def test_sqlite_unopenable_file_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreUnavailableError, match="cannot open the thinking store"):
        SQLiteThinkingStore(tmp_path / "dir.db")


async def test_open_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLEAF_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    stores = [
        open_store(None),
        open_store(f"sqlite://{tmp_path}/abs.db", ttl=60),
        open_store("sqlite://rel/t.db"),
    ]
    try:
        paths = [s.path for s in stores if isinstance(s, SQLiteThinkingStore)]
        assert paths == [tmp_path / "home" / "thinking.db", tmp_path / "abs.db", Path("rel/t.db")]
        assert (tmp_path / "rel" / "t.db").exists()
        assert stores[1].default_ttl == 60
    finally:
        for s in stores:
            await s.aclose()
    redis_store = open_store("redis://127.0.0.1:1/0")
    assert isinstance(redis_store, RedisThinkingStore)
    await redis_store.aclose()
    for bad in ("postgres://db/x", "sqlite://", "/tmp/x.db"):
        with pytest.raises(StoreConfigError, match=r"sqlite:///ABS/PATH\.db"):
            open_store(bad)
    with pytest.raises(StoreConfigError, match="ttl"):
        open_store(None, ttl=0)


# ---------------------------------------------------------------------------------------------- Redis


async def test_redis_keys_and_expiry_on_the_server(redis_server: RedisServer) -> None:
    store = RedisThinkingStore(redis_server.url)
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        await store.put(TENANT, "f1:abc", turn(), ttl_seconds=120)
        key = redis_key(TENANT, "f1:abc")
        assert key == f"interleaf:v1:{TENANT}:f1:abc"
        assert 0 < await raw.pttl(key) <= 120_000
        value = await raw.get(key)
        assert isinstance(value, bytes) and dump(decode_message(value)) == dump(turn())
    finally:
        await raw.aclose()
        await store.aclose()


async def test_redis_down_fails_fast_then_recovers(redis_server: RedisServer) -> None:
    store = RedisThinkingStore(redis_server.url, retry_after=0.2)
    try:
        await store.put(TENANT, "f1:before", turn())
        assert await store.get(TENANT, "f1:before") is not None

        redis_server.stop()
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: store.get(TENANT, "f1:before"),
            lambda: store.put(TENANT, "f1:during", turn()),
        ]
        for call in calls:
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError, match="unreachable"):
                await call()
            assert time.monotonic() - started < 1.0
        await asyncio.sleep(0.25)  # past retry_after: the next call goes to the network again
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="redis-server running"):
            await store.get_many(TENANT, ["f1:before"])
        assert time.monotonic() - started < 1.0

        redis_server.start()  # same port, empty: the data went with the process
        await asyncio.sleep(0.25)
        await store.put(TENANT, "f1:after", turn())
        got = await store.get(TENANT, "f1:after")
        assert got is not None and dump(got) == dump(turn())
        assert (await store.stats()).errors == 3
    finally:
        await store.aclose()


async def test_redis_unreachable_from_the_start_fails_fast(redis_server: RedisServer) -> None:
    redis_server.stop()
    store = RedisThinkingStore(redis_server.url)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError):
            await store.tenant_secret()
        assert time.monotonic() - started < 1.0
    finally:
        await store.aclose()


async def test_redis_bad_url() -> None:
    with pytest.raises(StoreConfigError, match="redis://HOST:PORT/DB"):
        RedisThinkingStore("redis://127.0.0.1:6379/notadb")
    with pytest.raises(StoreConfigError, match="redis://HOST:PORT/DB"):
        RedisThinkingStore("redis://127.0.0.1:port/0")
