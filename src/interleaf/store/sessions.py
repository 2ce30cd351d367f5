"""Agent sessions in SQLite: every message as it happens, so a ``kill -9`` loses at most the step in flight.

One database under the XDG data dir (``$XDG_DATA_HOME/interleaf/sessions.db``); WAL mode, one short
transaction per append. Messages are stored in the transcript's own JSON form, append-only; the live
context after a compaction is derived from a ``compaction`` note, so the full history is never lost.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from interleaf.paths import data_dir
from interleaf.transcript import Message, message_from_json, message_to_json

_ID_DIGITS = (6, 6, 8, 8, 12, 16, 32)
"""Hex digits of each try at a new session id (after the day): short first, longer after collisions."""

# Append-only list of migrations (SQL scripts); ``PRAGMA user_version`` counts how many have run.
# Never edit one that has shipped: add another.
MIGRATIONS: list[str] = [
    """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            created REAL NOT NULL,
            updated REAL NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            workdir TEXT NOT NULL DEFAULT '',
            profile TEXT NOT NULL DEFAULT '',
            model TEXT NOT NULL DEFAULT '',
            mode TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'running',
            steps INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost REAL
        );
        CREATE TABLE messages (
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            data TEXT NOT NULL,
            created REAL NOT NULL,
            PRIMARY KEY (session_id, seq)
        );
        CREATE TABLE notes (
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL,
            created REAL NOT NULL,
            PRIMARY KEY (session_id, seq)
        );
        CREATE INDEX sessions_updated ON sessions(updated);
    """,
]


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    created: float
    updated: float
    title: str
    workdir: str
    profile: str
    model: str
    mode: str
    status: str
    steps: int
    input_tokens: int
    output_tokens: int
    cost: float | None
    messages: int = 0


@dataclass(frozen=True, slots=True)
class LiveContext:
    """What a resumed agent sends: messages after the last compaction, and that compaction's summary."""

    messages: list[Message]
    summary: str | None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """What the session knows about one tool call: when it started and, if it finished, its result."""

    call_id: str
    started: float | None = None
    """Seconds since the epoch when the tool was about to run; ``None``: it never started."""
    finished: bool = False
    is_error: bool = False
    content: str = ""
    """The result's text as the model would have got it (images left out)."""


class SessionNotFoundError(LookupError):
    pass


class SessionStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or data_dir() / "sessions.db"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: committed data survives a process kill
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def _migrate(self) -> None:
        if self._db.execute("PRAGMA user_version").fetchone()[0] >= len(MIGRATIONS):
            return
        # Several processes may open a new file at once: read the version again under the write lock so
        # only one migrates. (executescript would commit first, so statements run one by one.)
        with self._transaction():
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for script in MIGRATIONS[version:]:
                for statement in script.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {max(version, len(MIGRATIONS))}")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def artifacts_dir(self, session_id: str) -> Path:
        """Where a session's tool outputs, screenshots and images go."""
        path = self.path.parent / "sessions" / session_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    # ---------------------------------------------------------------------------------- sessions

    def create(self, *, title: str, workdir: str, profile: str, model: str, mode: str) -> str:
        """A new session; its id is the day and six hex digits (short enough to type), longer after
        a collision: with thousands of sessions a day, two would otherwise share an id."""
        day = time.strftime("%Y%m%d")
        now = time.time()
        for digits in _ID_DIGITS:
            session_id = f"{day}-{secrets.token_hex(digits // 2)}"
            try:
                self._db.execute(
                    "INSERT INTO sessions (id, created, updated, title, workdir, profile, model, mode)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (session_id, now, now, title[:200], workdir, profile, model, mode),
                )
            except sqlite3.IntegrityError:  # the id is taken: draw again, longer
                continue
            return session_id
        raise RuntimeError(f"could not find a free session id in {self.path} (the id generator is broken)")

    def resolve(self, prefix: str) -> str:
        """The full id for an id or a unique prefix of one; ``last`` is the most recent session."""
        if prefix == "last":
            row = self._db.execute("SELECT id FROM sessions ORDER BY updated DESC LIMIT 1").fetchone()
            if row is None:
                raise SessionNotFoundError("there are no sessions yet")
            return str(row[0])
        rows = self._db.execute("SELECT id FROM sessions WHERE id LIKE ? LIMIT 3", (prefix + "%",)).fetchall()
        if not rows:
            raise SessionNotFoundError(f"no session {prefix!r}; `interleaf sessions list` shows them")
        if len(rows) > 1 and not any(r[0] == prefix for r in rows):
            raise SessionNotFoundError(f"session id {prefix!r} is ambiguous; give more characters")
        return str(rows[0][0]) if len(rows) == 1 else prefix

    def info(self, session_id: str) -> SessionInfo:
        row = self._db.execute(
            "SELECT s.*, (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id) FROM sessions s WHERE id = ?",
            (session_id,),
        ).fetchone()
        if row is None:
            raise SessionNotFoundError(f"no session {session_id!r}")
        return SessionInfo(*row)

    def recent(self, limit: int = 50) -> list[SessionInfo]:
        rows = self._db.execute(
            "SELECT s.*, (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id) FROM sessions s"
            " ORDER BY updated DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [SessionInfo(*row) for row in rows]

    def update(self, session_id: str, **fields: Any) -> None:
        allowed = {
            "status",
            "steps",
            "input_tokens",
            "output_tokens",
            "cost",
            "title",
            "model",
            "profile",
            "mode",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update session fields {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self._db.execute(
            f"UPDATE sessions SET {assignments}, updated = ? WHERE id = ?",
            (*fields.values(), time.time(), session_id),
        )

    # ---------------------------------------------------------------------------------- messages

    def append(self, session_id: str, message: Message) -> int:
        data = json.dumps(message_to_json(message), ensure_ascii=False)
        now = time.time()
        with self._transaction():
            seq = self._next_seq("messages", session_id)
            self._db.execute(
                "INSERT INTO messages (session_id, seq, role, data, created) VALUES (?, ?, ?, ?, ?)",
                (session_id, seq, message.role, data, now),
            )
            self._db.execute("UPDATE sessions SET updated = ? WHERE id = ?", (now, session_id))
        return seq

    def note(self, session_id: str, kind: str, data: dict[str, Any]) -> None:
        with self._transaction():
            seq = self._next_seq("notes", session_id)
            payload = dict(data)
            payload.setdefault("message_count", self._count(session_id))
            self._db.execute(
                "INSERT INTO notes (session_id, seq, kind, data, created) VALUES (?, ?, ?, ?, ?)",
                (session_id, seq, kind, json.dumps(payload, ensure_ascii=False, default=str), time.time()),
            )

    def _next_seq(self, table: str, session_id: str) -> int:
        row = self._db.execute(
            f"SELECT COALESCE(MAX(seq), -1) + 1 FROM {table} WHERE session_id = ?", (session_id,)
        )
        return int(row.fetchone()[0])

    def _count(self, session_id: str) -> int:
        return int(
            self._db.execute("SELECT COUNT(*) FROM messages WHERE session_id = ?", (session_id,)).fetchone()[
                0
            ]
        )

    def messages(self, session_id: str) -> list[Message]:
        rows = self._db.execute(
            "SELECT data FROM messages WHERE session_id = ? ORDER BY seq", (session_id,)
        ).fetchall()
        return [message_from_json(json.loads(row[0])) for row in rows]

    def notes(self, session_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT kind, data, created FROM notes WHERE session_id = ?"
        args: tuple[Any, ...] = (session_id,)
        if kind is not None:
            query += " AND kind = ?"
            args = (session_id, kind)
        rows = self._db.execute(query + " ORDER BY seq", args).fetchall()
        return [{"kind": k, "created": c, **json.loads(d)} for k, d, c in rows]

    def call_records(self, session_id: str, call_ids: list[str], *, since: int = 0) -> dict[str, CallRecord]:
        """What the ``call_started`` / ``call_finished`` notes say about these calls (absent: never
        started). ``since``: only notes written once the session had that many messages, so a call id
        a model reused from an earlier step is not mistaken for this one."""
        wanted = set(call_ids)
        records: dict[str, CallRecord] = {}
        rows = self._db.execute(
            "SELECT kind, data, created FROM notes WHERE session_id = ?"
            " AND kind IN ('call_started', 'call_finished') ORDER BY seq",
            (session_id,),
        ).fetchall()
        for kind, data, created in rows:
            note = json.loads(data)
            call_id = str(note.get("call_id"))
            if call_id not in wanted or int(note.get("message_count", 0)) < since:
                continue
            known = records.get(call_id, CallRecord(call_id))
            if kind == "call_started":
                records[call_id] = replace(known, started=float(note.get("at") or created))
            else:
                records[call_id] = replace(
                    known,
                    finished=True,
                    is_error=bool(note.get("is_error")),
                    content=str(note.get("content", "")),
                )
        return records

    def live_context(self, session_id: str) -> LiveContext:
        """The messages a resumed agent sends, after the most recent compaction."""
        messages = self.messages(session_id)
        compactions = self.notes(session_id, "compaction")
        if not compactions:
            return LiveContext(messages, None)
        # Each compaction drops a prefix of the live list, which earlier compactions had already shortened.
        start = sum(int(c["dropped"]) for c in compactions)
        return LiveContext(messages[start:], str(compactions[-1]["summary"]))

    def recorder(self, session_id: str) -> SessionRecorder:
        return SessionRecorder(self, session_id)


@dataclass
class SessionRecorder:
    """The agent's ``Recorder``: appends to one session as things happen."""

    store: SessionStore
    session_id: str

    def append(self, message: Message) -> None:
        self.store.append(self.session_id, message)

    def note(self, kind: str, data: dict[str, object]) -> None:
        self.store.note(self.session_id, kind, dict(data))
