"""Opening the gateway's thinking store from a URL (``--store``): SQLite by default, Redis for replicas.

Kept apart from :mod:`interleaf.store.thinking` (the protocol and its codec), which the backends
import: the factory imports the backends, so the protocol module must not.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from interleaf.paths import data_dir
from interleaf.store.thinking import DEFAULT_TTL_SECONDS, StoreConfigError, ThinkingStore

__all__ = ["default_path", "open_store", "sqlite_path"]


def default_path() -> Path:
    """``$INTERLEAF_HOME/thinking.db``, else ``$XDG_DATA_HOME/interleaf/thinking.db``."""
    return data_dir() / "thinking.db"


def open_store(
    url: str | None = None, ttl: float = DEFAULT_TTL_SECONDS, *, durable: bool = False
) -> ThinkingStore:
    """Open the store named by ``url``; ``durable`` makes SQLite commits wait for the disk (Redis's
    durability is its own configuration).

    * ``None``: SQLite at :func:`default_path`.
    * ``sqlite:///abs/path.db`` (absolute) or ``sqlite://relative/path.db`` (relative to the cwd).
    * ``redis://[:password@]host:port/db`` (or ``rediss://`` for TLS); needs ``interleaf[redis]``.
    """
    if ttl <= 0:
        raise StoreConfigError(f"thinking-store ttl must be positive seconds, got {ttl!r}")
    if url is None:
        from interleaf.store.thinking_sqlite import SQLiteThinkingStore

        return SQLiteThinkingStore(default_path(), default_ttl=ttl, durable=durable)
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from interleaf.store.thinking_sqlite import SQLiteThinkingStore

        return SQLiteThinkingStore(sqlite_path(url), default_ttl=ttl, durable=durable)
    if scheme in ("redis", "rediss"):
        try:
            from interleaf.store.thinking_redis import RedisThinkingStore
        except ImportError as exc:
            raise StoreConfigError(
                f"the redis thinking store needs redis-py with hiredis ({exc}); install interleaf[redis]"
            ) from None
        return RedisThinkingStore(url, default_ttl=ttl)
    raise StoreConfigError(
        f"unknown thinking-store URL {url!r}; use sqlite:///ABS/PATH.db, sqlite://RELATIVE.db "
        "or redis://HOST:PORT/DB (or leave it unset for SQLite under the data dir)"
    )


def sqlite_path(url: str) -> Path:
    """The file a ``sqlite://`` URL names: three slashes for an absolute path, two for a relative one."""
    rest = url[len("sqlite://") :]
    if not rest or rest == "/":
        raise StoreConfigError(f"{url!r} names no file; use sqlite:///ABS/PATH.db or sqlite://RELATIVE.db")
    return Path(unquote(rest)).expanduser()
