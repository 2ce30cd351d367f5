"""The Redis thinking store: for gateway replicas on several machines sharing one Redis.

Keys are ``interleaf:v1:{tenant}:{fingerprint}``; values are the encoded message
(:func:`~interleaf.store.thinking.encode_message`), written with ``SET ... PX`` so Redis expires them.
Served markers are ``interleaf:v1:served:{tenant}:{fingerprint}`` (an empty value, a longer expiry),
written in the same pipeline.

Durability is Redis's own: a reply written before the client has it survives a gateway crash at once,
and a Redis crash as far as its persistence goes (``appendonly yes`` with ``appendfsync always`` for
every write; docs/gateway.md, "Operations").
``get_many`` is one ``MGET`` and ``put_many`` one pipeline: a request with 40 assistant turns costs one
round trip, not 40.

Failure handling, so a Redis outage costs misses and never hangs the gateway:

* a short connect timeout (0.5 s) and one immediate retry, which is what heals a pooled connection
  that went stale when Redis restarted; a longer socket timeout (2 s), because it is measured on the
  gateway's own event loop and a loop busy with hundreds of clients reads answers late;
* after a connection failure (refused, reset; not a timeout, which a busy gateway causes itself) the
  store fails fast (no network at all) for ``retry_after`` seconds, so a burst of requests during an
  outage does not each wait out a connect timeout; the first call after that window tries again, so
  recovery needs no restart.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TypeVar
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from interleaf.store.thinking import (
    DEFAULT_TTL_SECONDS,
    StoreConfigError,
    Stored,
    StoreError,
    StoreStats,
    StoreTimeoutError,
    StoreUnavailableError,
    decode_message,
    encode_messages,
    env_tenant_secret,
    served_marker_ttl,
)
from interleaf.transcript import Message

T = TypeVar("T")

KEY_PREFIX = "interleaf:v1:"
SECRET_KEY = KEY_PREFIX + "meta:tenant-secret"  # tenants start with "t1:", so this never collides


def redis_key(tenant: str, fingerprint: str) -> str:
    return f"{KEY_PREFIX}{tenant}:{fingerprint}"


def served_key(tenant: str, fingerprint: str) -> str:
    return f"{KEY_PREFIX}served:{tenant}:{fingerprint}"


def _as_bytes(value: bytes | str) -> bytes:
    # The client runs with decode_responses=False, so values are bytes; the stubs also allow str.
    return value if isinstance(value, bytes) else value.encode()


class RedisThinkingStore:
    """A :class:`~interleaf.store.thinking.ThinkingStore` on Redis (``redis://host:port/db``)."""

    backend = "redis"
    shared = True

    def __init__(
        self,
        url: str,
        *,
        default_ttl: float = DEFAULT_TTL_SECONDS,
        connect_timeout: float = 0.5,
        socket_timeout: float = 2.0,
        max_connections: int = 64,
        retry_after: float = 1.0,
    ) -> None:
        self.default_ttl = default_ttl
        self.retry_after = retry_after
        self._down_until = 0.0
        self._secret: bytes | None = env_tenant_secret()
        self._secret_persisted = False  # True once the secret came from (and so belongs in) Redis
        self._secret_asserted = 0.0  # monotonic time of the last re-assertion
        self._closed = False
        self._hits = self._misses = self._puts = self._errors = 0
        db = urlsplit(url).path.strip("/")
        if db and not db.isdigit():
            raise StoreConfigError(
                f"bad Redis URL {url!r}: database {db!r} is not a number; expected redis://HOST:PORT/DB"
            )
        try:
            pool = aioredis.BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=max(connect_timeout, socket_timeout) * 4,  # waiting for a free pooled connection
                socket_connect_timeout=connect_timeout,
                socket_timeout=socket_timeout,
                retry=Retry(NoBackoff(), 1),
            )
        except ValueError as exc:
            raise StoreConfigError(f"bad Redis URL {url!r}: {exc}; expected redis://HOST:PORT/DB") from None
        self._client = aioredis.Redis.from_pool(pool)

    @property
    def _where(self) -> str:
        kwargs = self._client.connection_pool.connection_kwargs
        return f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        if self._closed:
            raise StoreError(f"the thinking store {self._where} is closed")
        now = time.monotonic()
        if now < self._down_until:
            self._errors += 1
            raise StoreUnavailableError(
                f"thinking store {self._where} is unreachable; next attempt in {self._down_until - now:.2f} s"
            )
        try:
            return await operation()
        except RedisTimeoutError as exc:
            self._errors += 1
            raise StoreTimeoutError(f"thinking store {self._where} did not answer in time ({exc})") from exc
        except (RedisConnectionError, OSError) as exc:
            self._errors += 1
            self._down_until = time.monotonic() + self.retry_after
            raise StoreUnavailableError(
                f"thinking store {self._where} is unreachable ({exc}); is redis-server running? "
                f"retrying in {self.retry_after:g} s"
            ) from exc
        except RedisError as exc:  # OOM, READONLY replica, auth: the store is there but unusable
            self._errors += 1
            raise StoreUnavailableError(f"thinking store {self._where} refused the command: {exc}") from exc

    # ------------------------------------------------------------------------------------ reads

    async def get(self, tenant: str, fingerprint: str) -> Message | None:
        return (await self.get_many(tenant, (fingerprint,))).get(fingerprint)

    async def get_many(self, tenant: str, fingerprints: Iterable[str]) -> dict[str, Message]:
        wanted = list(dict.fromkeys(fingerprints))
        if not wanted:
            return {}
        values: list[bytes | str | None] = await self._call(
            lambda: self._client.mget([redis_key(tenant, fp) for fp in wanted])
        )
        found: dict[str, Message] = {}
        for fingerprint, value in zip(wanted, values, strict=True):
            if value is None:
                continue
            try:
                found[fingerprint] = decode_message(_as_bytes(value))
            except ValueError:  # written by a newer interleaf, or damaged: a miss, not an outage
                self._errors += 1
        self._hits += len(found)
        self._misses += len(wanted) - len(found)
        return found

    async def served(self, tenant: str, fingerprints: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(fingerprints))
        if not wanted:
            return set()
        values: list[bytes | str | None] = await self._call(
            lambda: self._client.mget([served_key(tenant, fp) for fp in wanted])
        )
        return {fp for fp, value in zip(wanted, values, strict=True) if value is not None}

    # ----------------------------------------------------------------------------------- writes

    async def put(
        self, tenant: str, fingerprint: str, message: Stored, *, ttl_seconds: float | None = None
    ) -> None:
        await self.put_many(tenant, {fingerprint: message}, ttl_seconds=ttl_seconds)

    async def put_many(
        self, tenant: str, messages: Mapping[str, Stored], *, ttl_seconds: float | None = None
    ) -> None:
        await self.put_groups({tenant: messages}, ttl_seconds=ttl_seconds)

    async def put_groups(
        self, groups: Mapping[str, Mapping[str, Stored]], *, ttl_seconds: float | None = None
    ) -> None:
        if not any(groups.values()):
            return
        ttl = self.default_ttl if ttl_seconds is None else ttl_seconds
        ttl_ms = max(1, round(ttl * 1000))
        marker_ms = max(1, round(served_marker_ttl(ttl) * 1000))
        keys = [redis_key(tenant, fp) for tenant, messages in groups.items() for fp in messages]
        values = encode_messages([message for messages in groups.values() for message in messages.values()])
        encoded = list(zip(keys, values, strict=True))
        markers = [served_key(tenant, fp) for tenant, messages in groups.items() for fp in messages]

        # Re-assert the secret in case Redis lost it (a restart without persistence): otherwise a replica
        # started later would pick a new one and derive other tenant ids. Once a second is enough, and
        # keeps it off the round trip a reply waits for on a shared store.
        now = time.monotonic()
        secret = self._secret if self._secret_persisted and now - self._secret_asserted > 1.0 else None

        async def write() -> None:
            async with self._client.pipeline(transaction=False) as pipe:
                for key, value in encoded:
                    pipe.set(key, value, px=ttl_ms)
                for key in markers:
                    pipe.set(key, b"", px=marker_ms)
                if secret is not None:
                    pipe.set(SECRET_KEY, secret, nx=True)
                await pipe.execute()

        await self._call(write)
        if secret is not None:  # only a write that landed re-asserted it (a failed one must try again)
            self._secret_asserted = now
        self._puts += len(encoded)

    # ------------------------------------------------------------------------------------ misc

    async def tenant_secret(self) -> bytes:
        if self._secret is None:

            async def load() -> bytes:
                # NX: the first replica to get here picks the secret; every other one reads it back.
                await self._client.set(SECRET_KEY, secrets.token_bytes(32), nx=True)
                value = await self._client.get(SECRET_KEY)
                if value is None:
                    raise StoreUnavailableError(
                        f"{SECRET_KEY} vanished from {self._where} right after SET NX"
                    )
                return _as_bytes(value)

            self._secret = await self._call(load)
            self._secret_persisted = True
        return self._secret

    async def stats(self) -> StoreStats:
        """``entries`` is the Redis database's key count: give interleaf a database of its own."""
        size: int = await self._call(self._client.dbsize)
        return StoreStats(
            backend=self.backend,
            entries=size,
            hits=self._hits,
            misses=self._misses,
            puts=self._puts,
            errors=self._errors,
        )

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()

    async def __aenter__(self) -> RedisThinkingStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
