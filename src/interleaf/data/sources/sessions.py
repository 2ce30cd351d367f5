"""Trajectories from interleaf's agent sessions (the SQLite store the agent records into)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from interleaf.data.errors import RowError, SourceError
from interleaf.data.rows import Provenance
from interleaf.data.sources.base import Collected, SourceItem
from interleaf.paths import data_dir
from interleaf.store.sessions import SessionStore
from interleaf.transcript import Conversation

ALL_SESSIONS = 1 << 31


def default_sessions_db() -> Path:
    return data_dir() / "sessions.db"


def open_store(path: Path) -> SessionStore:
    """The session store at ``path``; SourceError when there is none or it is not one."""
    import sqlite3

    if not path.is_file():
        raise SourceError(f"{path}: no sessions database (run `interleaf run` first, or pass its path)")
    try:
        return SessionStore(path)
    except sqlite3.DatabaseError as exc:
        raise SourceError(f"{path}: not a sessions database ({exc})") from None


def read_sessions(path: Path | None = None, *, session_ids: list[str] | None = None) -> Iterator[SourceItem]:
    """Every session with at least one message (or the ones named), oldest first, as one trajectory each.

    The full message history is used, not the live context after a compaction: training data wants
    every thinking block, and the compaction summary is a note, not a message.
    """
    import sqlite3

    db = path or default_sessions_db()
    store = open_store(db)
    try:
        infos = store.recent(ALL_SESSIONS)
        if session_ids is not None:
            wanted = set(session_ids)
            infos = [info for info in infos if info.id in wanted]
        for info in sorted(infos, key=lambda i: (i.created, i.id)):
            where = f"{db}#{info.id}"
            if info.messages == 0:
                continue
            try:
                messages = store.messages(info.id)
            except (sqlite3.DatabaseError, ValueError) as exc:
                yield RowError(where, f"session cannot be read ({exc})")
                continue
            yield Collected(
                Conversation(messages=tuple(messages), source="transcript"),
                Provenance(
                    source="sessions",
                    source_ref=where,
                    format="transcript",
                    model=info.model or None,
                    profile=info.profile or None,
                    created=info.created,
                    outcome=info.status or None,
                ),
            )
    finally:
        store.close()
