"""The shapes the sessions reader returns, its errors, and how it judges a file: the schema it needs and
what an SQLite error means for the person looking at the page."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interleaf.store.sessions import SessionInfo

REQUIRED_TABLES = {
    "sessions": {
        "id",
        "created",
        "updated",
        "title",
        "workdir",
        "profile",
        "model",
        "mode",
        "status",
        "steps",
    },
    "messages": {"session_id", "seq", "role", "data", "created"},
    "notes": {"session_id", "seq", "kind", "data", "created"},
}
INFO_COLUMNS = "id, created, updated, title, workdir, profile, model, mode, status, steps, input_tokens, output_tokens, cost"
SORTS = {
    "updated": "updated",
    "created": "created",
    "steps": "steps",
    "tokens": "input_tokens + output_tokens",
    "cost": "COALESCE(cost, 0)",
    "title": "title COLLATE NOCASE",
}
FILTERS = ("profile", "model", "mode", "status")


class StoreUnreadable(Exception):
    """The sessions file cannot be read as an interleaf sessions database; the message says why."""


class UnknownSession(LookupError):
    """No session has that id (or the prefix is ambiguous); the message says which and what to do."""


@dataclass(frozen=True, slots=True)
class SessionQuery:
    """What the sessions list shows: a text search, exact-match filters, an order, a page."""

    text: str = ""
    profile: str = ""
    model: str = ""
    mode: str = ""
    status: str = ""
    sort: str = "updated"
    descending: bool = True
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True, slots=True)
class SessionPage:
    rows: list[SessionInfo]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True, slots=True)
class MessageRow:
    """A message's place in a session without its content: enough to plan which ones a page needs."""

    seq: int
    role: str


@dataclass(frozen=True, slots=True)
class RawMessage:
    seq: int
    role: str
    created: float
    data: str


@dataclass(frozen=True, slots=True)
class RawNote:
    seq: int
    kind: str
    created: float
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Activity:
    """What changes while a session runs; the live page compares two of these."""

    messages: int
    notes: int
    status: str
    steps: int
    input_tokens: int
    output_tokens: int
    cost: float | None
    updated: float


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def check_schema(db: sqlite3.Connection, path: Path) -> None:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table, columns in REQUIRED_TABLES.items():
        if table not in tables:
            found = ", ".join(sorted(tables)) or "none"
            raise StoreUnreadable(
                f"{path} is a SQLite database but not an interleaf sessions store: it has no {table!r} "
                f"table (its tables: {found}). Point --sessions at the sessions.db `interleaf run` writes."
            )
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if missing := columns - have:
            raise StoreUnreadable(
                f"{path}: table {table!r} lacks column(s) {', '.join(sorted(missing))}; it was not written by "
                "interleaf, or by a version this viewer does not know"
            )


def explain(path: Path, exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "file is not a database" in text:
        return f"{path} is not a SQLite database (SQLite says: {text}); point --sessions at a sessions.db"
    if "malformed" in text or "corrupt" in text:
        return (
            f"{path} is damaged (SQLite says: {text}). `sqlite3 {path} .recover` may save what is left; "
            "the viewer only reads, it cannot repair it"
        )
    if "locked" in text or "busy" in text:
        return f"{path} is locked by another program right now ({text}); reload the page in a moment"
    if "unable to open" in text:
        return f"cannot open {path} ({text}): check that it exists and that you may read it"
    return f"cannot read {path}: {text}"


__all__ = [
    "FILTERS",
    "INFO_COLUMNS",
    "REQUIRED_TABLES",
    "SORTS",
    "Activity",
    "MessageRow",
    "RawMessage",
    "RawNote",
    "SessionPage",
    "SessionQuery",
    "StoreUnreadable",
    "UnknownSession",
    "check_schema",
    "escape_like",
    "explain",
]
