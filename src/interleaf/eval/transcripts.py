"""One trial's transcript as a standalone HTML page, from the run's session store (read only).

The report links these pages; the full record stays in ``DIR/sessions.db``, where
``INTERLEAF_HOME=DIR interleaf sessions show ID`` opens it and ``interleaf run --resume ID`` (with the
same ``INTERLEAF_HOME``) continues it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from interleaf.eval.results import SESSIONS_DB
from interleaf.transcript import Message, message_from_json

MAX_RESULT_CHARS = 20_000
"""A tool result longer than this is cut on the page (the store keeps all of it)."""


def templates() -> Environment:
    """The Jinja environment of the eval report templates (autoescaped)."""
    return Environment(
        loader=PackageLoader("interleaf.eval", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def read_session(directory: Path, session_id: str) -> tuple[dict[str, object], list[Message]]:
    """A session's row and messages, opened read-only (the report never writes the store)."""
    uri = f"file:{(directory / SESSIONS_DB).resolve()}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        rows = db.execute(
            "SELECT data FROM messages WHERE session_id = ? ORDER BY seq", (session_id,)
        ).fetchall()
    info = dict(row) if row is not None else {"id": session_id}
    return info, [message_from_json(json.loads(r["data"])) for r in rows]


def write_transcripts(directory: Path, session_ids: Iterable[str]) -> dict[str, str]:
    """Write ``DIR/transcripts/ID.html`` for each session; returns ``id -> relative link``."""
    template = templates().get_template("transcript.html.j2")
    target = directory / "transcripts"
    target.mkdir(exist_ok=True)
    links: dict[str, str] = {}
    for session_id in sorted(set(session_ids)):
        info, messages = read_session(directory, session_id)
        page = template.render(info=info, messages=messages, limit=MAX_RESULT_CHARS, directory=directory.name)
        (target / f"{session_id}.html").write_text(page, encoding="utf-8")
        links[session_id] = f"transcripts/{session_id}.html"
    return links
