"""The gateway's thinking store: every assistant turn sent to a client, whole, by (tenant, fingerprint).

When a client later sends the conversation back without the thinking, the gateway looks each assistant
turn up by :func:`interleaf.store.fingerprint.turn_fingerprint` and puts the stored thinking back.

Two backends share one protocol:

* SQLite (default, :mod:`interleaf.store.thinking_sqlite`): one file, nothing to run; several gateway
  processes on one machine may share it.
* Redis (:mod:`interleaf.store.thinking_redis`): for gateway replicas on several machines.

Besides each turn, a store keeps a small *served marker* per key for longer than the turn itself
(:data:`SERVED_MARKER_MIN_SECONDS`, at least four TTLs): a turn whose thinking is gone but whose marker is
there was served by this gateway and lost (expired, evicted) - *missing*; a turn with no marker never
came through it (an app's own synthetic message, history from before the gateway) - *foreign*.

Both raise :class:`StoreUnavailableError` when the backend cannot be reached; the gateway keeps serving
(a miss) and the next call tries again. Messages are stored in the transcript JSON form
(:func:`interleaf.transcript.message_to_json`), or, for a reply the gateway relayed whole, as the
upstream's reply body itself (:class:`RawReply`: no re-encoding on the request path, decoded only when
read); either compressed when large (:mod:`interleaf.store.codec`: zstd with a checksum; rows written by
earlier versions hold zlib, and still read back).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from interleaf.store.codec import compress_many, decompress
from interleaf.store.fingerprint import tenant_id
from interleaf.transcript import Message, message_from_json, message_to_json
from interleaf.wire.apis import api

DEFAULT_TTL_SECONDS = 7 * 24 * 3600.0
"""A week: long enough for a resumed coding session, short enough that abandoned turns go."""

TENANT_SECRET_ENV = "INTERLEAF_TENANT_SECRET"

SERVED_MARKER_MIN_SECONDS = 30 * 24 * 3600.0
"""Served markers live at least this long (and at least four TTLs): long after the thinking, so that a
turn lost to expiry still counts as missing rather than foreign."""


SERVED_MARKER_TTLS = 4
"""... and at least this many of the turn's TTLs."""


def served_marker_ttl(ttl: float) -> float:
    """How long the served marker of a turn stored for ``ttl`` seconds lives."""
    return max(SERVED_MARKER_MIN_SECONDS, SERVED_MARKER_TTLS * ttl)


COMPRESS_ABOVE = 512
"""Encoded messages longer than this many bytes are compressed. Thinking prose compresses about 2x; below
~0.5 KB the saving is a few bytes (benchmarks/bench_thinking_store.py measures both)."""

_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # json.dumps makes one per call


class StoreError(Exception):
    """Base class for thinking-store errors."""


class StoreUnavailableError(StoreError):
    """The backend cannot be reached (server down, timeout, file locked or unreadable).

    The gateway treats it as a miss for this request and keeps serving; the next call tries again.
    """


class StoreTimeoutError(StoreUnavailableError):
    """The backend is there but did not answer in time (a busy server, a busy gateway, a lock held
    briefly elsewhere): trying again in a moment usually works."""


class StoreConfigError(StoreError, ValueError):
    """The store URL or settings are wrong; the message says what to write instead."""


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Counters since this store object was opened, plus the backend's own size figures."""

    backend: str
    entries: int | None
    """Stored turns (SQLite: rows; Redis: interleaf keys if cheap to know, else ``None``)."""
    hits: int
    misses: int
    puts: int
    errors: int
    evicted: int = 0
    """Rows removed by the size bound or TTL purge (SQLite)."""


@runtime_checkable
class ThinkingStore(Protocol):
    """Where the gateway keeps assistant turns whole. All methods are coroutines and may raise
    :class:`StoreUnavailableError`."""

    default_ttl: float
    shared: bool
    """Whether other processes on other machines read this store (Redis, for gateway replicas). A
    gateway on a shared store writes each reply before the client has it: the client's next turn may
    reach another replica at once. A store private to one process (SQLite) is written behind."""

    async def put(
        self, tenant: str, fingerprint: str, message: Stored, *, ttl_seconds: float | None = None
    ) -> None:
        """Store ``message`` under ``(tenant, fingerprint)``, replacing what was there."""
        ...

    async def put_many(
        self, tenant: str, messages: Mapping[str, Stored], *, ttl_seconds: float | None = None
    ) -> None:
        """Store several fingerprints in one round trip (e.g. a turn under each of its variants)."""
        ...

    async def put_groups(
        self, groups: Mapping[str, Mapping[str, Stored]], *, ttl_seconds: float | None = None
    ) -> None:
        """Store the turns of several tenants (``{tenant: {fingerprint: message}}``) in one round trip
        and, where the backend has them, one transaction: the gateway's writer batches this way."""
        ...

    async def get(self, tenant: str, fingerprint: str) -> Message | None:
        """The stored message, or ``None`` for a miss (never stored, expired, evicted, other tenant)."""
        ...

    async def get_many(self, tenant: str, fingerprints: Iterable[str]) -> dict[str, Message]:
        """Every hit among ``fingerprints`` in one round trip; misses are absent from the result."""
        ...

    async def served(self, tenant: str, fingerprints: Iterable[str]) -> set[str]:
        """The ``fingerprints`` that were stored for ``tenant`` at some point and whose served marker is
        still there, whether or not the turn itself still is."""
        ...

    async def tenant_secret(self) -> bytes:
        """The key for :func:`tenant_id`: ``$INTERLEAF_TENANT_SECRET`` if set, else a random one persisted
        in the store itself, so every gateway sharing the store derives the same tenants."""
        ...

    async def stats(self) -> StoreStats: ...

    async def aclose(self) -> None: ...


async def tenant_for(store: ThinkingStore, credential: str, *, scope: str = "") -> str:
    """The tenant id of a client credential under ``store``'s secret."""
    return tenant_id(credential, await store.tenant_secret(), scope=scope)


def env_tenant_secret() -> bytes | None:
    value = os.environ.get(TENANT_SECRET_ENV)
    return value.encode() if value else None


# --------------------------------------------------------------------------------------------- codec


@dataclass(frozen=True, slots=True)
class RawReply:
    """A whole reply as the upstream sent it: the API it speaks and its body (JSON bytes, already
    checked to parse). Stored as it came, which costs no re-encoding when the reply is relayed, and
    decoded to its message only when someone reads it back (a restore, ``interleaf view``)."""

    api: str
    body: bytes

    def message(self) -> Message:
        """The reply's message, as :func:`decode_message` gives it back. Raises ``ValueError``."""
        return api(self.api).decode_reply_message(json.loads(self.body))


Stored = Message | RawReply
"""What a store keeps for a turn: the message, or the reply body it came in."""


def as_message(stored: Stored) -> Message:
    return stored.message() if isinstance(stored, RawReply) else stored


def encode_message(stored: Stored) -> bytes:
    """Compact transcript JSON, zstd-compressed when longer than :data:`COMPRESS_ABOVE` bytes; a
    :class:`RawReply` as ``r<api>\n<body>``, or ``Z<api>\n<zstd of body>`` when the body is long.

    JSON always starts with ``{``, a zstd frame with its magic number ``28 b5 2f fd``, neither with ``r``
    or ``Z``, so the reader needs no other flag. Rows written by earlier versions hold zlib instead (a stream
    starting ``0x78``, or ``R<api>\n<zlib of body>``) and read back the same.
    """
    return encode_messages((stored,))[0]


def encode_messages(stored: Sequence[Stored]) -> list[bytes]:
    """:func:`encode_message` of each, compressing them all in one call
    (:func:`~interleaf.store.codec.compress_many`): what a store's writer thread encodes a batch with."""
    heads: list[bytes] = []
    payloads: list[bytes] = []
    for item in stored:
        if isinstance(item, RawReply):
            long = len(item.body) > COMPRESS_ABOVE
            heads.append((b"Z" if long else b"r") + item.api.encode() + b"\n")
            payloads.append(item.body)
            continue
        # surrogatepass: a lone surrogate from a "\ud83d" escape on the wire survives (json.loads of
        # bytes decodes with surrogatepass too).
        payloads.append(_COMPACT.encode(message_to_json(item)).encode("utf-8", "surrogatepass"))
        heads.append(b"")
    long_ones = [i for i, payload in enumerate(payloads) if len(payload) > COMPRESS_ABOVE]
    for i, frame in zip(long_ones, compress_many([payloads[i] for i in long_ones]), strict=True):
        payloads[i] = frame
    return [head + payload for head, payload in zip(heads, payloads, strict=True)]


def decode_message(data: bytes) -> Message:
    """The inverse of :func:`encode_message`. Raises ``ValueError`` (or a subclass) on a bad value."""
    kind = data[:1]
    if kind in (b"r", b"Z", b"R"):
        name, newline, body = data[1:].partition(b"\n")
        if not newline:
            raise ValueError("a stored reply without its API name")
        if kind != b"r":
            body = decompress(body)
        return RawReply(name.decode("ascii"), body).message()
    if kind != b"{":
        data = decompress(data)
    return message_from_json(json.loads(data))
