"""The SQLite thinking store: one file, WAL, keyed by ``(tenant, fingerprint)``.

Threading: the sqlite3 module blocks, so the event loop never calls it. Each store owns two threads
with one connection each: a *reader* for ``get``/``get_many``/``stats`` and a *writer* for puts and
maintenance. In WAL mode readers never wait for writers, so a lookup is never queued behind a put that is
waiting out another process's write lock (``busy_timeout``), and one thread per connection is what the
sqlite3 module wants. A lookup costs one thread hop (tens of microseconds, measured in
benchmarks/bench_thinking_store.py) on top of one index seek.

Served markers (see :mod:`interleaf.store.thinking`): while a turn's row is in ``thinking`` (expired or
not), the row is its marker, valid until ``created`` plus
:func:`~interleaf.store.thinking.served_marker_ttl` of its TTL; when maintenance deletes the row
(expired, or evicted by the size bound) it copies that marker into a second table, ``served``, in the
same transaction. So a reply costs one row written, not two: the gateway writes
every reply it sends, and the second insert was a third of its writer's CPU. ``served`` is purged by the
same pass and bounded at :data:`MARKERS_PER_ROW` times ``max_rows``.

The file and a directory it creates are private to the user (0600 / 0700): they hold users' thinking.
``durable`` makes each commit wait for the disk (``synchronous=FULL``), so a reply the gateway wrote
before sending survives a crash of the machine, not only of the process.

TTL is enforced on read (an expired row is a miss). Every ``purge_every`` writes a maintenance pass is
queued on the writer thread (the put that triggers it does not wait): it purges expired rows and enforces
``max_rows``, in batches of short transactions and at most twice the writes since the last pass, because
a delete costs ~50 µs a row at a million rows and an uncapped pass stalled the writer for seconds. The size
bound evicts in ``expires`` order: expired rows first, then the ones closest to expiry (with one TTL, the
oldest).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from interleaf.store.thinking import (
    DEFAULT_TTL_SECONDS,
    SERVED_MARKER_MIN_SECONDS,
    SERVED_MARKER_TTLS,
    Stored,
    StoreError,
    StoreStats,
    StoreTimeoutError,
    StoreUnavailableError,
    decode_message,
    encode_messages,
    env_tenant_secret,
)
from interleaf.transcript import Message

T = TypeVar("T")

log = logging.getLogger("interleaf.store")

# Append-only: ``PRAGMA user_version`` counts the scripts that have run. Never edit a shipped one.
# Statements are split on ';', so no triggers and no ';' inside literals.
MIGRATIONS: list[str] = [
    """
        CREATE TABLE thinking (
            tenant TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            data BLOB NOT NULL,
            created REAL NOT NULL,
            expires REAL NOT NULL,
            PRIMARY KEY (tenant, fingerprint)
        );
        CREATE INDEX thinking_expires ON thinking(expires);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
    """,
    """
        CREATE TABLE served (
            tenant TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            expires REAL NOT NULL,
            PRIMARY KEY (tenant, fingerprint)
        );
        CREATE INDEX served_expires ON served(expires);
    """,
    # Keyed by a 64-bit digest of (tenant, fingerprint) instead of the two strings (~140 bytes): each
    # new turn goes to a random place in the unique index, and an index of 8-byte keys takes that
    # insert at about half the CPU (benchmarks/bench_gateway.py). Rows keep both strings: a read
    # checks them, so a digest collision is a miss, never another tenant's turn.
    """
        CREATE TABLE thinking_v3 (
            k INTEGER NOT NULL,
            tenant TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            data BLOB NOT NULL,
            created REAL NOT NULL,
            expires REAL NOT NULL
        );
        INSERT INTO thinking_v3 (k, tenant, fingerprint, data, created, expires)
            SELECT interleaf_row_key(tenant, fingerprint), tenant, fingerprint, data, created, expires
            FROM thinking ORDER BY rowid;
        DROP TABLE thinking;
        ALTER TABLE thinking_v3 RENAME TO thinking;
        CREATE UNIQUE INDEX thinking_key ON thinking(k);
        CREATE INDEX thinking_expires ON thinking(expires);
    """,
]


def row_key(tenant: str, fingerprint: str) -> int:
    """The ``k`` column of a turn: the first 8 bytes of a BLAKE2b digest of tenant and fingerprint,
    as SQLite's signed 64-bit integer."""
    digest = hashlib.blake2b(f"{tenant}\0{fingerprint}".encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def rowid_range(table: str) -> str:
    """SQL for the lowest and highest rowid of ``table``: two index seeks. (``SELECT min(rowid),
    max(rowid)`` looks the same but scans the whole table: SQLite reads the end of an index for a lone
    ``min()`` or ``max()`` only. At a million turns that scan cost ~100 ms of every maintenance pass,
    more than the thousand writes between two passes.)"""
    return f"SELECT (SELECT min(rowid) FROM {table}), (SELECT max(rowid) FROM {table})"


MARKERS_PER_ROW = 4
"""Served markers kept per allowed turn row: they outlive the turns, and are small."""
_MARKER_EXPIRES = f"created + max(?, {SERVED_MARKER_TTLS} * (expires - created))"
"""When the served marker of a ``thinking`` row expires (SQL; the parameter is SERVED_MARKER_MIN_SECONDS):
:func:`~interleaf.store.thinking.served_marker_ttl` of the row's TTL, from when it was written."""

UPGRADE_WAIT = 600.0
"""Seconds opening a store of an older schema waits for another process holding its write lock."""
_IN_CHUNK = 500  # bound parameters per IN (...) query, well under SQLite's limit
_INSERT_CHUNK = 200  # rows per multi-row INSERT (6 parameters each, under SQLite's 32,766)
_DELETE_BATCH = 2000  # rows per maintenance DELETE: a few ms of write lock each


class SQLiteThinkingStore:
    """The default :class:`~interleaf.store.thinking.ThinkingStore`.

    ``max_rows`` bounds the table; eviction brings it back to 90% of that so it does not run on every
    maintenance pass. ``busy_timeout`` is how long a write waits for another process's lock before
    raising :class:`StoreUnavailableError`. ``upgrade_wait`` is how long opening a store of an older
    schema waits for the write lock it upgrades under: another gateway process started at the same
    time may hold it for the whole upgrade (about 30 s for a million turns), and this one then finds
    the store upgraded.
    """

    backend = "sqlite"
    shared = False  # one gateway process; replicas share Redis

    def __init__(
        self,
        path: Path,
        *,
        default_ttl: float = DEFAULT_TTL_SECONDS,
        max_rows: int = 1_000_000,
        purge_every: int = 1000,
        busy_timeout: float = 2.0,
        durable: bool = False,
        upgrade_wait: float = UPGRADE_WAIT,
    ) -> None:
        if max_rows < 1 or purge_every < 1:
            raise ValueError("max_rows and purge_every must be at least 1")
        self.path = path
        self.default_ttl = default_ttl
        self.max_rows = max_rows
        self.purge_every = purge_every
        self._busy_timeout = busy_timeout
        self._upgrade_wait = upgrade_wait
        self.durable = durable
        self._writes_since_purge = 0
        self._secret: bytes | None = env_tenant_secret()
        self._closed = False
        self._hits = self._misses = self._puts = self._errors = self._evicted = 0
        self._reader_pool = ThreadPoolExecutor(1, thread_name_prefix="interleaf-thinking-read")
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="interleaf-thinking-write")
        opened: list[sqlite3.Connection] = []
        try:
            _create_private(path)
            opened.append(self._connect())
            self._writer = opened[0]
            self._migrate()
            opened.append(self._connect())
            self._reader = opened[1]
        except (OSError, sqlite3.Error) as exc:
            for db in opened:
                db.close()
            self._shutdown_pools()
            raise StoreUnavailableError(f"cannot open the thinking store {path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        # check_same_thread=False: created here, then used only by its own single thread.
        db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout
        )
        # Switching a new file to WAL needs its write lock, and SQLite answers "database is locked" at
        # once, without the busy handler, when processes opening it together would deadlock: retry.
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                db.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    db.close()
                    raise
                time.sleep(0.005 + random.random() * 0.02)
        # NORMAL: in WAL mode a commit survives the process dying, not the machine losing power; a cache
        # can lose its last commits then. --durable asks for FULL (an fsync per commit).
        db.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
        # A batch of replies (up to 2,048 under load) is one transaction whose statements rewrite
        # existing index pages; past 64 KiB SQLite spills the statement journal to a temp file. In a
        # container with a read-only root (only the store's directory writable) there is no temp
        # directory, and the writes failed under load only ("disk I/O error"). Memory holds it instead:
        # a batch is bounded (capture.BATCH_BYTES).
        db.execute("PRAGMA temp_store=MEMORY")
        return db

    def _migrate(self) -> None:
        db = self._writer
        if db.execute("PRAGMA user_version").fetchone()[0] >= len(MIGRATIONS):
            return
        db.create_function("interleaf_row_key", 2, row_key, deterministic=True)
        # Gateway processes may start together: read the version again under the write lock, so only
        # one of them migrates. (executescript would commit first, so statements run one by one.)
        self._lock_for_upgrade(db)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if 0 < version < len(MIGRATIONS):  # an existing store: may copy every row (schema 3 does)
                log.warning(
                    "upgrading the thinking store %s from schema %d to %d, once: every stored turn is "
                    "copied (about 30 s for a million turns)",
                    self.path,
                    version,
                    len(MIGRATIONS),
                )
            for script in MIGRATIONS[version:]:
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {max(version, len(MIGRATIONS))}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _lock_for_upgrade(self, db: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE``, waiting up to ``upgrade_wait`` seconds for the write lock: another
        process may be upgrading this store under it (each attempt waits ``busy_timeout``)."""
        deadline = time.monotonic() + self._upgrade_wait
        told = False
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                    raise
            if not told:
                told = True
                log.warning(
                    "the thinking store %s needs an upgrade and another process holds its write lock"
                    " (it may be upgrading it); waiting up to %g s",
                    self.path,
                    self._upgrade_wait,
                )

    # ------------------------------------------------------------------------------------ plumbing

    async def _run(self, pool: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
        if self._closed:
            raise StoreError(f"the thinking store {self.path} is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn)
        except sqlite3.Error as exc:
            self._errors += 1
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreTimeoutError(
                    f"thinking store {self.path}: {exc} (another process holds the write lock; retrying)"
                ) from exc
            raise StoreUnavailableError(
                f"thinking store {self.path}: {exc} (another process may hold the write lock, or the disk is"
                " full or unreadable)"
            ) from exc

    def _decode(self, rows: Iterable[tuple[str, bytes]]) -> dict[str, Message]:
        out: dict[str, Message] = {}
        for fingerprint, data in rows:
            try:
                out[fingerprint] = decode_message(data)
            except ValueError:  # written by a newer interleaf, or damaged: a miss, not an outage
                self._errors += 1
        return out

    # ------------------------------------------------------------------------------------ reads

    async def get(self, tenant: str, fingerprint: str) -> Message | None:
        return (await self.get_many(tenant, (fingerprint,))).get(fingerprint)

    async def served(self, tenant: str, fingerprints: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(fingerprints))
        if not wanted:
            return set()

        def lookup() -> set[str]:
            now = time.time()
            found: set[str] = set()
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                keys = [row_key(tenant, fp) for fp in chunk]
                found.update(
                    row[0]
                    for row in self._reader.execute(
                        # A row still in `thinking` is its own marker; a deleted one left it in `served`.
                        f"SELECT fingerprint FROM thinking WHERE k IN ({marks}) AND tenant = ?"
                        f" AND {_MARKER_EXPIRES} > ?"
                        f" UNION SELECT fingerprint FROM served WHERE tenant = ? AND fingerprint IN ({marks})"
                        " AND expires > ?",
                        (*keys, tenant, SERVED_MARKER_MIN_SECONDS, now, tenant, *chunk, now),
                    )
                )
            return found & set(wanted)  # a digest collision is not a marker

        return await self._run(self._reader_pool, lookup)

    async def get_many(self, tenant: str, fingerprints: Iterable[str]) -> dict[str, Message]:
        wanted = list(dict.fromkeys(fingerprints))
        if not wanted:
            return {}

        def lookup() -> dict[str, Message]:
            now = time.time()
            rows: list[tuple[str, bytes]] = []
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows += self._reader.execute(
                    f"SELECT fingerprint, data FROM thinking WHERE k IN ({marks}) AND tenant = ?"
                    " AND expires > ?",
                    (*(row_key(tenant, fp) for fp in chunk), tenant, now),
                ).fetchall()
            asked = set(wanted)  # a digest collision is a miss
            return self._decode(row for row in rows if row[0] in asked)

        found = await self._run(self._reader_pool, lookup)
        self._hits += len(found)
        self._misses += len(wanted) - len(found)
        return found

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
        items = [
            (tenant, fp, message) for tenant, messages in groups.items() for fp, message in messages.items()
        ]
        if not items:
            return
        ttl = self.default_ttl if ttl_seconds is None else ttl_seconds

        def write() -> bool:
            now = time.time()
            # The batch compressed in one call (encode_messages), not row by row: see compress_many.
            values = encode_messages([message for _, _, message in items])
            rows = [
                (row_key(tenant, fp), tenant, fp, value, now, now + ttl)
                for (tenant, fp, _), value in zip(items, values, strict=True)
            ]
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                # One multi-row statement per chunk, not executemany: the sqlite3 module releases the
                # GIL around every step, and a writer thread that has to win the GIL back from a busy
                # event loop once per row fell seconds behind under load.
                for start in range(0, len(rows), _INSERT_CHUNK):
                    chunk = rows[start : start + _INSERT_CHUNK]
                    self._writer.execute(
                        "INSERT INTO thinking (k, tenant, fingerprint, data, created, expires) VALUES "
                        + ",".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk))
                        + " ON CONFLICT (k) DO UPDATE SET tenant = excluded.tenant,"
                        " fingerprint = excluded.fingerprint, data = excluded.data,"
                        " created = excluded.created, expires = excluded.expires",
                        [value for row in chunk for value in row],
                    )
                self._writer.execute("COMMIT")
            except BaseException:
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                raise
            self._writes_since_purge += len(rows)
            return self._writes_since_purge >= self.purge_every

        maintenance_due = await self._run(self._writer_pool, write)
        self._puts += len(items)
        if maintenance_due and not self._closed:
            # Queued behind this write on the writer thread; the caller does not wait for it.
            self._writer_pool.submit(self._background_maintenance)

    def _background_maintenance(self) -> None:
        if self._writes_since_purge < self.purge_every:
            return  # an earlier queued pass already ran
        self._writes_since_purge = 0
        try:
            self._evicted += self._maintain(time.time(), budget=max(2 * self.purge_every, _DELETE_BATCH))
        except sqlite3.Error:  # a miss of maintenance, not an outage: the next pass tries again
            self._errors += 1

    def _delete_batches(
        self, where: str, args: tuple[float, ...], limit: int | None, table: str = "thinking"
    ) -> int:
        """Delete rows of ``table`` matching ``where`` in ``expires`` order, in batches of one short
        transaction each; a turn deleted from ``thinking`` leaves its served marker in ``served``."""
        deleted = 0
        while limit is None or deleted < limit:
            batch = _DELETE_BATCH if limit is None else min(_DELETE_BATCH, limit - deleted)
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                rowids = [
                    row[0]
                    for row in self._writer.execute(
                        f"SELECT rowid FROM {table} {where} ORDER BY expires LIMIT ?", (*args, batch)
                    )
                ]
                marks = ",".join("?" * len(rowids))
                if rowids and table == "thinking":
                    self._writer.execute(
                        "INSERT INTO served (tenant, fingerprint, expires)"
                        f" SELECT tenant, fingerprint, {_MARKER_EXPIRES} FROM thinking WHERE rowid IN ({marks})"
                        " ON CONFLICT (tenant, fingerprint) DO UPDATE"
                        " SET expires = max(served.expires, excluded.expires)",
                        (SERVED_MARKER_MIN_SECONDS, *rowids),
                    )
                if rowids:
                    self._writer.execute(f"DELETE FROM {table} WHERE rowid IN ({marks})", rowids)
                self._writer.execute("COMMIT")
            except BaseException:
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                raise
            deleted += len(rowids)
            if len(rowids) < batch:
                break
        return deleted

    def _maintain(self, now: float, budget: int | None) -> int:
        """Purge expired rows, then enforce ``max_rows``, deleting at most ``budget`` rows (``None``: all
        that are due). Deleting costs ~50 µs a row at a million rows (three b-trees to update, and the
        marker it leaves), so background passes are capped at twice the writes since the last pass:
        eviction keeps up with inserts without stalling the writer thread for seconds. Runs on the
        writer thread. Turns go first, so the markers they leave are bounded in the same pass.
        """
        deleted = self._bound("thinking", self.max_rows, now, budget)  # leaves markers in `served`
        self._bound("served", self.max_rows * MARKERS_PER_ROW, now, budget)
        return deleted

    def _bound(self, table: str, max_rows: int, now: float, budget: int | None) -> int:
        """Expired rows of ``table`` go, then the ones closest to expiry beyond ``max_rows``."""
        deleted = self._delete_batches("WHERE expires <= ?", (now,), budget, table)
        # Rowids only grow, so max - min + 1 bounds the row count in O(log n); count for real only when
        # that bound is over the limit.
        low, high = self._writer.execute(rowid_range(table)).fetchone()
        if low is None or high - low + 1 <= max_rows:
            return deleted
        count = self._writer.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if count > max_rows:
            excess = count - int(max_rows * 0.9)
            deleted += self._delete_batches(
                "", (), excess if budget is None else min(excess, budget - deleted), table
            )
        return deleted

    async def purge(self) -> int:
        """Run maintenance now, to completion (expired rows, size bound); returns how many rows went."""
        deleted = await self._run(self._writer_pool, lambda: self._maintain(time.time(), budget=None))
        self._evicted += deleted
        return deleted

    async def wait_idle(self) -> None:
        """Wait until writes and background maintenance queued so far have run."""
        await self._run(self._writer_pool, lambda: None)

    # ------------------------------------------------------------------------------------ misc

    async def tenant_secret(self) -> bytes:
        if self._secret is None:

            def load() -> bytes:
                candidate = secrets.token_bytes(32)
                self._writer.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('tenant_secret', ?)", (candidate,)
                )
                return bytes(
                    self._writer.execute("SELECT value FROM meta WHERE key = 'tenant_secret'").fetchone()[0]
                )

            self._secret = await self._run(self._writer_pool, load)
        return self._secret

    async def count(self) -> int:
        """Rows in the table, live or expired (a full index scan: milliseconds at a million rows)."""
        return int(
            await self._run(
                self._reader_pool, lambda: self._reader.execute("SELECT count(*) FROM thinking").fetchone()[0]
            )
        )

    async def stats(self) -> StoreStats:
        return StoreStats(
            backend=self.backend,
            entries=await self.count(),
            hits=self._hits,
            misses=self._misses,
            puts=self._puts,
            errors=self._errors,
            evicted=self._evicted,
        )

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        # Each connection is closed on its own thread, after any call still queued there.
        await loop.run_in_executor(self._reader_pool, self._reader.close)
        await loop.run_in_executor(self._writer_pool, self._writer.close)
        self._shutdown_pools()

    def _shutdown_pools(self) -> None:
        self._reader_pool.shutdown(wait=False)
        self._writer_pool.shutdown(wait=False)

    async def __aenter__(self) -> SQLiteThinkingStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _create_private(path: Path) -> None:
    """Create ``path``'s directory (0700) and the file itself (0600) if they do not exist yet, so the
    store is never readable by other users, whatever the umask; existing ones are left as they are."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)
