"""The SQLite session store: append-only messages, notes, live context after compaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from interleaf.store.sessions import SessionNotFoundError, SessionStore
from interleaf.transcript import Message, ReasoningDialect, Text, Thinking, ToolCall, ToolResult


def _store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "s.db")


def test_messages_come_back_exactly_in_order(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sid = store.create(title="t", workdir="/w", profile="p", model="m", mode="pro")
    messages = [
        Message(role="user", blocks=(Text(text="task"),)),
        Message(
            role="assistant",
            blocks=(
                Thinking(text="plan", signature="SIG==", dialect=ReasoningDialect.ANTHROPIC),
                ToolCall(id="c1", name="shell", arguments={"command": "ls"}),
            ),
        ),
        Message(role="tool", blocks=(ToolResult(call_id="c1", content="a\nb", name="shell"),)),
    ]
    for message in messages:
        store.append(sid, message)
    store.close()
    reopened = _store(tmp_path)
    assert reopened.messages(sid) == messages
    assert reopened.info(sid).messages == 3
    assert reopened.resolve(sid[:-2]) == sid
    assert reopened.resolve("last") == sid


def test_unknown_and_ambiguous_ids_say_what_to_do(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(SessionNotFoundError, match="no sessions yet"):
        store.resolve("last")
    store.create(title="a", workdir="", profile="", model="", mode="")
    store.create(title="b", workdir="", profile="", model="", mode="")
    with pytest.raises(SessionNotFoundError, match="ambiguous"):
        store.resolve("2")
    with pytest.raises(SessionNotFoundError, match="interleaf sessions list"):
        store.resolve("zzz")


def test_live_context_after_compactions(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sid = store.create(title="t", workdir="", profile="", model="", mode="")
    for i in range(6):
        store.append(sid, Message(role="user" if i % 2 == 0 else "assistant", blocks=(Text(text=str(i)),)))
    store.note(sid, "compaction", {"dropped": 2, "summary": "first"})
    store.note(sid, "compaction", {"dropped": 2, "summary": "second"})
    live = store.live_context(sid)
    assert [m.text for m in live.messages] == ["4", "5"]
    assert live.summary == "second"
    assert len(store.messages(sid)) == 6


def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    _store(tmp_path).close()
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()


def test_update_rejects_unknown_fields(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sid = store.create(title="t", workdir="", profile="", model="", mode="")
    store.update(sid, status="done", steps=3)
    assert store.info(sid).status == "done"
    with pytest.raises(ValueError, match="cannot update"):
        store.update(sid, id="x")


def test_a_colliding_session_id_is_drawn_again_longer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A random source that repeats itself: the second session's short ids are all taken.
    monkeypatch.setattr("interleaf.store.sessions.secrets.token_hex", lambda size: "ab" * size)
    store = _store(tmp_path)
    first = store.create(title="a", workdir="", profile="", model="", mode="")
    second = store.create(title="b", workdir="", profile="", model="", mode="")
    assert first.endswith("-ababab") and second.endswith("-abababab")
    assert {s.id for s in store.recent()} == {first, second}
    assert store.info(second).title == "b"
