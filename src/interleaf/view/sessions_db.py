"""Read-only access to an agent sessions database (the file :mod:`interleaf.store.sessions` writes).

The viewer never writes to a session store: the file is opened through SQLite's ``mode=ro`` URI, so even
a bug here could not change it. (SQLite may still create the ``-wal``/``-shm`` side files a WAL database
needs for reading; the database itself is untouched.) A running agent keeps writing to the same file;
WAL lets this reader see each committed message without blocking it.

Every SQLite failure becomes :class:`StoreUnreadable` with a sentence naming the file and what to do:
a file that is not SQLite, a SQLite file of some other program, a damaged one.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from interleaf.store.sessions import SessionInfo
from interleaf.view.session_records import (
    FILTERS,
    INFO_COLUMNS,
    SORTS,
    Activity,
    MessageRow,
    RawMessage,
    RawNote,
    SessionPage,
    SessionQuery,
    StoreUnreadable,
    UnknownSession,
    check_schema,
    escape_like,
    explain,
)


class SessionsReader:
    """One sessions file, read-only; one SQLite connection per thread (the thread pool's and the loop's)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._checked = False
        self._indexes: dict[str, tuple[MessageRow, ...]] = {}
        self._index_lock = threading.Lock()

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise StoreUnreadable(explain(self.path, exc)) from None

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            return db
        if not self.path.exists():
            raise StoreUnreadable(
                f'there is no sessions database at {self.path} yet: `interleaf run "TASK"` creates it, or '
                "point `interleaf view --sessions` at an existing sessions.db"
            )
        if not self.path.is_file():
            raise StoreUnreadable(f"{self.path} is not a file; point --sessions at a sessions.db file")
        with self._errors():
            db = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False, timeout=5
            )
            try:
                if not self._checked:
                    check_schema(db, self.path)
                    self._checked = True
            except BaseException:
                db.close()
                raise
        self._local.db = db
        return db

    def check(self) -> None:
        """Raise :class:`StoreUnreadable` unless the file is a readable interleaf sessions database."""
        with self._errors():
            self._db().execute("SELECT COUNT(*) FROM sessions").fetchone()

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # ----------------------------------------------------------------------------- sessions

    def search(self, query: SessionQuery) -> SessionPage:
        """One page of sessions matching ``query``; the text matches the task, the id and the workdir."""
        where: list[str] = []
        args: list[Any] = []
        if query.text.strip():
            pattern = "%" + escape_like(query.text.strip()) + "%"
            where.append("(title LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\' OR workdir LIKE ? ESCAPE '\\')")
            args += [pattern, pattern, pattern]
        for name in FILTERS:
            value = getattr(query, name)
            if value:
                where.append(f"{name} = ?")
                args.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        order = SORTS.get(query.sort, SORTS["updated"]) + (" DESC" if query.descending else " ASC")
        per_page = max(1, min(query.per_page, 500))
        with self._errors():
            db = self._db()
            total = int(db.execute(f"SELECT COUNT(*) FROM sessions{clause}", args).fetchone()[0])
            pages = max(1, -(-total // per_page))
            page = max(1, min(query.page, pages))
            rows = db.execute(
                f"SELECT {INFO_COLUMNS} FROM sessions{clause} ORDER BY {order}, id DESC LIMIT ? OFFSET ?",
                [*args, per_page, (page - 1) * per_page],
            ).fetchall()
        return SessionPage([SessionInfo(*row) for row in rows], total, page, per_page)

    def facets(self) -> dict[str, list[str]]:
        """The distinct values of each filter column, for the list's filter menus."""
        out: dict[str, list[str]] = {}
        with self._errors():
            db = self._db()
            for name in FILTERS:
                rows = db.execute(
                    f"SELECT DISTINCT {name} FROM sessions WHERE {name} != '' ORDER BY {name} LIMIT 200"
                ).fetchall()
                out[name] = [str(row[0]) for row in rows]
        return out

    def resolve(self, prefix: str) -> str:
        """The full id for an id, a unique prefix of one, or ``last``."""
        with self._errors():
            db = self._db()
            if prefix == "last":
                row = db.execute("SELECT id FROM sessions ORDER BY updated DESC LIMIT 1").fetchone()
                if row is None:
                    raise UnknownSession(f"there are no sessions in {self.path} yet")
                return str(row[0])
            exact = db.execute("SELECT id FROM sessions WHERE id = ?", (prefix,)).fetchone()
            if exact is not None:
                return str(exact[0])
            rows = db.execute(
                "SELECT id FROM sessions WHERE id LIKE ? ESCAPE '\\' LIMIT 3", (escape_like(prefix) + "%",)
            ).fetchall()
        if not rows:
            raise UnknownSession(f"no session {prefix!r} in {self.path}; the sessions list shows them")
        if len(rows) > 1:
            raise UnknownSession(f"session id {prefix!r} is ambiguous; give more characters")
        return str(rows[0][0])

    def info(self, session_id: str) -> SessionInfo:
        with self._errors():
            row = (
                self._db()
                .execute(f"SELECT {INFO_COLUMNS} FROM sessions WHERE id = ?", (session_id,))
                .fetchone()
            )
        if row is None:
            raise UnknownSession(f"no session {session_id!r} in {self.path}")
        return SessionInfo(*row)

    def activity(self, session_id: str) -> Activity:
        with self._errors():
            row = (
                self._db()
                .execute(
                    "SELECT (SELECT COUNT(*) FROM messages WHERE session_id = s.id),"
                    " (SELECT COUNT(*) FROM notes WHERE session_id = s.id), status, steps, input_tokens,"
                    " output_tokens, cost, updated FROM sessions s WHERE id = ?",
                    (session_id,),
                )
                .fetchone()
            )
        if row is None:
            raise UnknownSession(f"no session {session_id!r} in {self.path}")
        return Activity(*row)

    # ----------------------------------------------------------------------------- messages

    def index(self, session_id: str) -> tuple[MessageRow, ...]:
        """Every message's seq and role, without reading the content.

        Only columns stored before ``data`` are read (reaching ``created`` would walk every long message's
        overflow pages). Messages are append-only, so the index is kept and only new rows are read on the
        next call: a live page or the next chunk of a 2,000-step session costs an index seek, not 4,000
        row reads. A count that does not match what is kept (a session deleted and written again) reads
        it all afresh.
        """
        with self._index_lock:
            known = self._indexes.get(session_id, ())
        with self._errors():
            db = self._db()
            after = known[-1].seq if known else -1
            if known:
                count = db.execute(
                    "SELECT COUNT(*) FROM messages WHERE session_id = ? AND seq <= ?", (session_id, after)
                ).fetchone()[0]
                if count != len(known):
                    known, after = (), -1
            rows = db.execute(
                "SELECT seq, role FROM messages WHERE session_id = ? AND seq > ? ORDER BY seq",
                (session_id, after),
            ).fetchall()
        if rows or not known:
            known = known + tuple(MessageRow(*row) for row in rows)
            with self._index_lock:
                if len(self._indexes) > 256:  # a long-running viewer over many sessions: start over
                    self._indexes.clear()
                self._indexes[session_id] = known
        return known

    def messages(self, session_id: str, start: int = 0, stop: int | None = None) -> list[RawMessage]:
        """Messages with ``start <= seq < stop``, their JSON not yet decoded."""
        with self._errors():
            rows = (
                self._db()
                .execute(
                    "SELECT seq, role, created, data FROM messages WHERE session_id = ? AND seq >= ?"
                    " AND seq < ? ORDER BY seq",
                    (session_id, start, stop if stop is not None else 2**62),
                )
                .fetchall()
            )
        return [RawMessage(*row) for row in rows]

    def notes(
        self, session_id: str, *, first: int | None = None, last: int | None = None, kind: str | None = None
    ) -> list[RawNote]:
        """The session's notes in order, optionally only those written when the session had between
        ``first`` and ``last`` messages (``message_count``), or of one ``kind``. A ``call_finished`` note's
        ``content`` is left out: it repeats the tool result, which the messages hold. A note whose JSON is
        unreadable is kept as ``{}``."""
        query = (
            "SELECT seq, kind, created, CASE WHEN kind = 'call_finished' AND json_valid(data)"
            " THEN json_remove(data, '$.content') ELSE data END FROM notes WHERE session_id = ?"
        )
        args: list[Any] = [session_id]
        if first is not None:
            query += " AND json_valid(data) AND json_extract(data, '$.message_count') >= ?"
            args.append(first)
        if last is not None:
            query += " AND json_valid(data) AND json_extract(data, '$.message_count') <= ?"
            args.append(last)
        if kind is not None:
            query += " AND kind = ?"
            args.append(kind)
        with self._errors():
            rows = self._db().execute(query + " ORDER BY seq", args).fetchall()
        notes = []
        for seq, note_kind, created, data in rows:
            try:
                value = json.loads(data)
            except ValueError:
                value = {}
            notes.append(RawNote(seq, note_kind, created, value if isinstance(value, dict) else {}))
        return notes

    def note_counts(self, session_id: str) -> dict[str, int]:
        with self._errors():
            rows = (
                self._db()
                .execute("SELECT kind, COUNT(*) FROM notes WHERE session_id = ? GROUP BY kind", (session_id,))
                .fetchall()
            )
        return {str(kind): int(count) for kind, count in rows}

    def note_seqs(self, session_id: str, kind: str) -> list[int]:
        """The seqs of one kind of note, in order (without reading their data)."""
        with self._errors():
            rows = (
                self._db()
                .execute(
                    "SELECT seq FROM notes WHERE session_id = ? AND kind = ? ORDER BY seq", (session_id, kind)
                )
                .fetchall()
            )
        return [int(row[0]) for row in rows]

    def note_at(self, session_id: str, seq: int) -> RawNote | None:
        with self._errors():
            row = (
                self._db()
                .execute(
                    "SELECT seq, kind, created, data FROM notes WHERE session_id = ? AND seq = ?",
                    (session_id, seq),
                )
                .fetchone()
            )
        if row is None:
            return None
        try:
            value = json.loads(row[3])
        except ValueError:
            value = {}
        return RawNote(row[0], row[1], row[2], value if isinstance(value, dict) else {})

    def latest_note(self, session_id: str, kind: str) -> RawNote | None:
        seqs = self.note_seqs(session_id, kind)
        return self.note_at(session_id, seqs[-1]) if seqs else None

    def thinking_chars(self, session_id: str) -> int:
        """Characters of thinking across the session, counted inside SQLite (no message is decoded here)."""
        with self._errors():
            row = (
                self._db()
                .execute(
                    "SELECT COALESCE(SUM(length(json_extract(b.value, '$.text'))), 0) FROM messages m,"
                    " json_each(m.data, '$.blocks') b WHERE m.session_id = ? AND m.role = 'assistant'"
                    " AND json_valid(m.data) AND json_extract(b.value, '$.type') = 'thinking'",
                    (session_id,),
                )
                .fetchone()
            )
        return int(row[0])

    def refusals(self, session_id: str) -> int:
        with self._errors():
            row = (
                self._db()
                .execute(
                    "SELECT COUNT(*) FROM notes WHERE session_id = ? AND kind = 'approval' AND json_valid(data)"
                    " AND json_extract(data, '$.allowed') = 0",
                    (session_id,),
                )
                .fetchone()
            )
        return int(row[0])

    def find(self, session_id: str) -> bool:
        """Whether this file holds the session (eval runs keep several files)."""
        with self._errors():
            return (
                self._db().execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone()
                is not None
            )


__all__ = [
    "FILTERS",
    "SORTS",
    "Activity",
    "MessageRow",
    "RawMessage",
    "RawNote",
    "SessionPage",
    "SessionQuery",
    "SessionsReader",
    "StoreUnreadable",
    "UnknownSession",
]
