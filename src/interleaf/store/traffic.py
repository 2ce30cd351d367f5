"""Recorded gateway traffic (``interleaf serve --record``): what each client sent, what went upstream, and
which earlier assistant turns the gateway restored, for ``interleaf view``.

Off by default. When on, the content stays on this machine: one SQLite file, private to the user
(0600, its directory 0700), bounded in rows and bytes (the oldest requests go first), bodies
compressed with the store's codec (:mod:`interleaf.store.codec`: zstd; files recorded by earlier versions
hold zlib and read the same). Nothing here talks to the network.

Writing (the gateway)::

    recorder = TrafficRecorder()            # $INTERLEAF_HOME/traffic.db, or TrafficRecorder(path)
    recorder.record(                         # once per generation request, when its status is known
        request_id="req_1f2e", started_at=t0, duration=0.42,
        endpoint="/v1/messages", user_agent=request.headers.get("user-agent", ""),
        client_format="anthropic", upstream_format="openai-chat", model="MiniMax-M2", stream=True,
        client_body=raw, upstream_body=upstream_body, status=200,
        restored=(1, 3), missing=(), foreign=(5,), turns=3,
    )
    recorder.close()                         # at shutdown: writes what is queued, then stops

``record`` never blocks and never raises: it puts the request on a bounded queue that one writer thread
drains (compression and SQLite stay off the event loop). When the queue is full the request is not
recorded and :attr:`TrafficRecorder.dropped` counts it. ``restored``, ``missing`` and ``foreign`` are
indices into the *decoded* client conversation's messages (``RestoreOutcome``'s, not wire positions);
``upstream_body`` is ``None`` when nothing was sent upstream (a refused request).

Reading (the viewer) goes through :class:`interleaf.view.traffic.TrafficReader`, which opens the file
read-only.
"""

from __future__ import annotations

import json
import os
import queue
import re
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interleaf.paths import data_dir
from interleaf.store.codec import compress_many

DEFAULT_MAX_REQUESTS = 20_000
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
"""Compressed body bytes kept at most (the file itself stays near this after the oldest are dropped)."""
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
"""A body longer than this is stored cut to this length and marked as cut."""
QUEUE_SIZE = 2_000
BATCH = 200

_COLUMNS = (
    "request_id, started, duration, endpoint, user_agent, app, client_format, upstream_format, model,"
    " stream, status, turns, restored, missing, foreign_turns, n_restored, n_missing, n_foreign,"
    " client_body, upstream_body, client_size, upstream_size, cut, stored_bytes, error"
)
_ROW_MARKS = "(" + ", ".join(["?"] * (_COLUMNS.count(",") + 1)) + ")"
_INSERT_CHUNK = 200  # rows per multi-row INSERT (25 parameters each, under SQLite's 32,766)

MIGRATIONS: list[str] = [
    """
        CREATE TABLE requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id TEXT NOT NULL,
            started REAL NOT NULL,
            duration REAL,
            endpoint TEXT NOT NULL,
            user_agent TEXT NOT NULL,
            app TEXT NOT NULL,
            client_format TEXT NOT NULL,
            upstream_format TEXT NOT NULL,
            model TEXT NOT NULL,
            stream INTEGER NOT NULL,
            status INTEGER NOT NULL,
            turns INTEGER NOT NULL,
            restored TEXT NOT NULL,
            missing TEXT NOT NULL,
            foreign_turns TEXT NOT NULL,
            n_restored INTEGER NOT NULL,
            n_missing INTEGER NOT NULL,
            n_foreign INTEGER NOT NULL,
            client_body BLOB NOT NULL,
            upstream_body BLOB,
            client_size INTEGER NOT NULL,
            upstream_size INTEGER,
            cut INTEGER NOT NULL,
            stored_bytes INTEGER NOT NULL,
            error TEXT NOT NULL
        );
        CREATE INDEX requests_started ON requests(started);
        CREATE INDEX requests_app ON requests(app, started)
    """,
]

_PRODUCT = re.compile(r"[A-Za-z][\w.\-]*(?:/[A-Za-z][\w.\-]*)?")


def app_label(user_agent: str | None) -> str:
    """The client app a User-Agent names, its product part: ``claude-cli/2.0.1 (external)`` ->
    ``claude-cli``, ``Anthropic/Python 0.40.0`` -> ``Anthropic/Python``; ``unknown`` without one."""
    if not user_agent or not user_agent.strip():
        return "unknown"
    match = _PRODUCT.match(user_agent.strip())
    if match is None:
        return "other"
    label = match[0]
    # "claude-cli/2.0.1": the part after the slash is a version, not a second product word.
    head, _, tail = label.partition("/")
    return (head if tail[:1].isdigit() or not tail else label)[:48]


def default_path() -> Path:
    return data_dir() / "traffic.db"


def _create_private(path: Path) -> None:
    """The directory 0700 and the file 0600, whatever the umask: the file holds users' prompts."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


@dataclass(frozen=True, slots=True)
class _Pending:
    request_id: str
    started_at: float
    duration: float | None
    endpoint: str
    user_agent: str
    app: str
    client_format: str
    upstream_format: str
    model: str
    stream: bool
    status: int
    turns: int
    restored: tuple[int, ...]
    missing: tuple[int, ...]
    foreign: tuple[int, ...]
    client_body: bytes
    upstream_body: bytes | None
    error: str


class TrafficRecorder:
    """Writes recorded requests on a thread of its own; see the module docstring for the API."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        max_requests: int = DEFAULT_MAX_REQUESTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        if max_requests < 1 or max_bytes < 1 or max_body_bytes < 1:
            raise ValueError("max_requests, max_bytes and max_body_bytes must be positive")
        self.path = path or default_path()
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.max_body_bytes = max_body_bytes
        self.dropped = 0
        """Requests not recorded because the writer was behind (the queue was full) or failed."""
        self.problem: str | None = None
        """The last write failure, for the gateway's log; recording goes on with the next request."""
        _create_private(self.path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # only takes effect on a new, empty file
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._write_loop, name="interleaf-traffic", daemon=True)
        self._thread.start()

    def _migrate(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for script in MIGRATIONS[version:]:
                for statement in script.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {max(version, len(MIGRATIONS))}")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def record(
        self,
        *,
        started_at: float,
        user_agent: str,
        client_format: str,
        client_body: bytes,
        upstream_body: bytes | None,
        status: int,
        restored: Sequence[int] = (),
        missing: Sequence[int] = (),
        foreign: Sequence[int] = (),
        turns: int = 0,
        duration: float | None = None,
        endpoint: str = "",
        upstream_format: str = "",
        model: str | None = None,
        stream: bool = False,
        app: str | None = None,
        error: str = "",
        request_id: str = "",
    ) -> bool:
        """Queue one request for writing; returns at once: False when the queue was full and the request
        is not recorded (counted in :attr:`dropped`). See the module docstring for the fields.

        ``request_id`` is whatever names the request in the gateway's logs (or the upstream's response
        id); ``error`` the gateway's message when it answered with one.
        """
        pending = _Pending(
            request_id=request_id,
            started_at=started_at,
            duration=duration,
            endpoint=endpoint,
            user_agent=user_agent[:512],
            app=app or app_label(user_agent),
            client_format=client_format,
            upstream_format=upstream_format,
            model=model or "",
            stream=stream,
            status=status,
            turns=turns,
            restored=tuple(restored),
            missing=tuple(missing),
            foreign=tuple(foreign),
            client_body=bytes(client_body),
            upstream_body=None if upstream_body is None else bytes(upstream_body),
            error=error,
        )
        try:
            self._queue.put_nowait(pending)
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def flush(self) -> None:
        """Wait until everything queued so far is written (tests, shutdown)."""
        self._queue.join()

    def close(self) -> None:
        """Write what is queued, stop the writer thread and close the file."""
        if not self._thread.is_alive():
            return
        self._queue.put(None)
        self._thread.join()
        self._db.close()

    # ------------------------------------------------------------------------------ the writer

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first]
            while first is not None and len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
                if batch[-1] is None:
                    break
            items = [item for item in batch if item is not None]
            try:
                if items:
                    self._write(items)
            except Exception as exc:  # the thread must outlive any one bad batch (a full disk, a bug)
                self.dropped += len(items)
                self.problem = f"cannot write recorded traffic to {self.path}: {exc}"
            finally:
                for _ in batch:
                    self._queue.task_done()
            if batch[-1] is None:
                return

    def _write(self, items: list[_Pending]) -> None:
        # The whole batch's bodies compressed in one call and written in multi-row INSERTs, not row by
        # row: each call that gives up the GIL makes this thread win it back from the busy event loop
        # (see codec.compress_many).
        cap = self.max_body_bytes
        upstream = [item.upstream_body[:cap] for item in items if item.upstream_body is not None]
        frames = compress_many([item.client_body[:cap] for item in items] + upstream)
        upstream_frames = iter(frames[len(items) :])
        rows = [
            self._row(item, client, None if item.upstream_body is None else next(upstream_frames))
            for item, client in zip(items, frames[: len(items)], strict=True)
        ]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for start in range(0, len(rows), _INSERT_CHUNK):
                chunk = rows[start : start + _INSERT_CHUNK]
                self._db.execute(
                    f"INSERT INTO requests ({_COLUMNS}) VALUES " + ",".join([_ROW_MARKS] * len(chunk)),
                    [value for row in chunk for value in row],
                )
            pruned = self._prune()
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        if pruned:
            # Give the freed pages back to the file system. (execute() would free one page per call:
            # the pragma works a page per step, and executescript steps it to the end.)
            self._db.executescript("PRAGMA incremental_vacuum;")

    def _row(self, item: _Pending, client: bytes, upstream: bytes | None) -> tuple[Any, ...]:
        cap = self.max_body_bytes
        cut = len(item.client_body) > cap or (
            item.upstream_body is not None and len(item.upstream_body) > cap
        )
        return (
            item.request_id,
            item.started_at,
            item.duration,
            item.endpoint,
            item.user_agent,
            item.app,
            item.client_format,
            item.upstream_format,
            item.model,
            int(item.stream),
            item.status,
            item.turns,
            json.dumps(list(item.restored)),
            json.dumps(list(item.missing)),
            json.dumps(list(item.foreign)),
            len(item.restored),
            len(item.missing),
            len(item.foreign),
            client,
            upstream,
            len(item.client_body),
            None if item.upstream_body is None else len(item.upstream_body),
            int(cut),
            len(client) + len(upstream or b""),
            item.error,
        )

    def _prune(self) -> bool:
        """Drop the oldest requests beyond ``max_requests`` rows or ``max_bytes`` stored bytes."""
        cutoff = self._db.execute(
            "SELECT id FROM requests ORDER BY id DESC LIMIT 1 OFFSET ?", (self.max_requests,)
        ).fetchone()
        by_bytes = self._db.execute(
            "SELECT id FROM (SELECT id, SUM(stored_bytes) OVER (ORDER BY id DESC) AS kept FROM requests)"
            " WHERE kept > ? ORDER BY id DESC LIMIT 1",
            (self.max_bytes,),
        ).fetchone()
        ids = [row[0] for row in (cutoff, by_bytes) if row is not None]
        if not ids:
            return False
        self._db.execute("DELETE FROM requests WHERE id <= ?", (max(ids),))
        return True


__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_REQUESTS",
    "TrafficRecorder",
    "app_label",
    "default_path",
]
