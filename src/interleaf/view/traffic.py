"""Reading recorded gateway traffic (the file :class:`interleaf.store.traffic.TrafficRecorder` writes),
read-only, for the viewer's gateway pages."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interleaf.store.codec import decompress
from interleaf.store.traffic import default_path


class TrafficUnreadable(Exception):
    """The traffic file cannot be read; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class AppSummary:
    app: str
    requests: int
    restored: int
    missing: int
    foreign: int
    first: float
    last: float
    user_agent: str
    """One full User-Agent seen for this app (the most recent)."""


@dataclass(frozen=True, slots=True)
class Bucket:
    start: float
    requests: int
    restored: int
    missing: int
    foreign: int


@dataclass(frozen=True, slots=True)
class RequestSummary:
    id: int
    request_id: str
    started: float
    duration: float | None
    endpoint: str
    app: str
    client_format: str
    upstream_format: str
    model: str
    stream: bool
    status: int
    turns: int
    restored: int
    missing: int
    foreign: int
    error: str


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    summary: RequestSummary
    user_agent: str
    client_body: bytes
    upstream_body: bytes | None
    client_size: int
    upstream_size: int | None
    cut: bool
    """A body was longer than the recorder keeps, so what is stored is its beginning."""
    restored: tuple[int, ...]
    missing: tuple[int, ...]
    foreign: tuple[int, ...]


_SUMMARY = (
    "id, request_id, started, duration, endpoint, app, client_format, upstream_format, model, stream,"
    " status, turns, n_restored, n_missing, n_foreign, error"
)


class TrafficReader:
    """Read-only access to a traffic file (SQLite ``mode=ro``: the viewer never writes to it).

    One connection per thread (Starlette runs sync work on a thread pool; sqlite3 wants that).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self._local = threading.local()

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            return db
        if not self.path.is_file():
            raise TrafficUnreadable(
                f"no recorded gateway traffic at {self.path}: start the gateway with "
                "`interleaf serve --record` to record requests (recording is off by default)"
            )
        with self._errors():
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "requests" not in names:
            db.close()
            raise TrafficUnreadable(
                f"{self.path} is a SQLite file but not interleaf's recorded traffic (it has no "
                "'requests' table); point --traffic at the file `interleaf serve --record` writes"
            )
        self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def _errors(self) -> AbstractContextManager[None]:
        return _map_errors(self.path)

    def apps(self) -> list[AppSummary]:
        """Every client app seen, with its restored/missing/foreign turn counts, busiest first."""
        with self._errors():
            rows = (
                self._db()
                .execute(
                    "SELECT app, COUNT(*), SUM(n_restored), SUM(n_missing), SUM(n_foreign), MIN(started),"
                    " MAX(started), (SELECT user_agent FROM requests r2 WHERE r2.app = r.app ORDER BY id"
                    " DESC LIMIT 1) FROM requests r GROUP BY app ORDER BY COUNT(*) DESC, app"
                )
                .fetchall()
            )
        return [AppSummary(*row) for row in rows]

    def series(self, bucket_seconds: float, *, buckets: int = 48) -> dict[str, list[Bucket]]:
        """Per app, counts per time bucket, over the ``buckets`` buckets up to the newest request."""
        with self._errors():
            db = self._db()
            newest = db.execute("SELECT MAX(started) FROM requests").fetchone()[0]
            if newest is None:
                return {}
            end = (int(newest // bucket_seconds) + 1) * bucket_seconds
            start = end - buckets * bucket_seconds
            rows = db.execute(
                "SELECT app, CAST((started - ?) / ? AS INTEGER) AS b, COUNT(*), SUM(n_restored),"
                " SUM(n_missing), SUM(n_foreign) FROM requests WHERE started >= ? GROUP BY app, b",
                (start, bucket_seconds, start),
            ).fetchall()
        out: dict[str, list[Bucket]] = {}
        for app, index, count, restored, missing, foreign in rows:
            series = out.setdefault(
                app, [Bucket(start + i * bucket_seconds, 0, 0, 0, 0) for i in range(buckets)]
            )
            if 0 <= index < buckets:
                series[index] = Bucket(start + index * bucket_seconds, count, restored, missing, foreign)
        return out

    def count(self, app: str | None = None) -> int:
        where, args = ("WHERE app = ?", (app,)) if app is not None else ("", ())
        with self._errors():
            return int(self._db().execute(f"SELECT COUNT(*) FROM requests {where}", args).fetchone()[0])

    def requests(self, *, app: str | None = None, offset: int = 0, limit: int = 50) -> list[RequestSummary]:
        """Newest first, optionally of one app."""
        where, args = ("WHERE app = ?", (app,)) if app is not None else ("", ())
        with self._errors():
            rows = (
                self._db()
                .execute(
                    f"SELECT {_SUMMARY} FROM requests {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                    (*args, limit, offset),
                )
                .fetchall()
            )
        return [_summary(row) for row in rows]

    def request(self, record_id: int) -> RecordedRequest | None:
        """One request with its bodies, or ``None`` (never recorded, or pruned since)."""
        with self._errors():
            row = (
                self._db()
                .execute(
                    f"SELECT {_SUMMARY}, user_agent, client_body, upstream_body, client_size, upstream_size,"
                    " cut, restored, missing, foreign_turns FROM requests WHERE id = ?",
                    (record_id,),
                )
                .fetchone()
            )
        if row is None:
            return None
        summary = _summary(row[:16])
        agent, client, upstream, client_size, upstream_size, cut, restored, missing, foreign = row[16:]
        try:
            client_body = decompress(client)
            upstream_body = None if upstream is None else decompress(upstream)
        except ValueError as exc:
            raise TrafficUnreadable(f"request {record_id} in {self.path} is damaged ({exc})") from None
        return RecordedRequest(
            summary=summary,
            user_agent=agent,
            client_body=client_body,
            upstream_body=upstream_body,
            client_size=client_size,
            upstream_size=upstream_size,
            cut=bool(cut),
            restored=_indices(restored),
            missing=_indices(missing),
            foreign=_indices(foreign),
        )


def _summary(row: Sequence[Any]) -> RequestSummary:
    values = list(row)
    values[9] = bool(values[9])
    return RequestSummary(*values)


def _indices(text: str) -> tuple[int, ...]:
    try:
        value = json.loads(text)
    except ValueError:
        return ()
    return tuple(i for i in value if isinstance(i, int)) if isinstance(value, list) else ()


@contextmanager
def _map_errors(path: Path) -> Iterator[None]:
    """SQLite errors as :class:`TrafficUnreadable` naming the file, so a page can say what is wrong."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise TrafficUnreadable(
            f"cannot read recorded traffic from {path}: {exc} (is it the file `interleaf serve --record` "
            "writes?)"
        ) from None


__all__ = [
    "AppSummary",
    "Bucket",
    "RecordedRequest",
    "RequestSummary",
    "TrafficReader",
    "TrafficUnreadable",
]
