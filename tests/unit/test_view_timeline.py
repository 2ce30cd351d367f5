"""The viewer's reading of a session: the message index planned into entries, notes placed where they
happened (approvals, tool timings, compaction, sub-agents, per-step usage, the end of a run), diffs,
and what an unreadable message becomes. Sessions are written through the real SessionStore."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from interleaf.store.sessions import SessionStore
from interleaf.transcript import (
    Image,
    Message,
    ReasoningDialect,
    RedactedThinking,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    message_to_json,
)
from interleaf.view import timeline
from interleaf.view.diffs import edit_diff, write_diff
from interleaf.view.session_view import load_entries
from interleaf.view.sessions_db import SessionQuery, SessionsReader, StoreUnreadable, UnknownSession
from interleaf.view.timeline import CallPart, TextPart, ThinkingPart

PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
).decode()


def user(text: str) -> Message:
    return Message(role="user", blocks=(Text(text=text),), plain=True)


def write_session(store: SessionStore, *, title: str = "Fix utils.py", status: str = "done") -> str:
    """A session with every kind of entry and note the viewer shows."""
    sid = store.create(title=title, workdir="/work", profile="anthropic", model="claude-x", mode="pro")
    rec = store.recorder(sid)
    rec.note("system", {"prompt": "You are interleaf."})
    rec.append(user(title))
    rec.note("usage", {"input_tokens": 1200, "output_tokens": 80, "reasoning_tokens": 50, "seconds": 1.25})
    rec.append(
        Message(
            role="assistant",
            blocks=(
                Thinking(
                    text="Read first.\nThen edit.", signature="sig-1", dialect=ReasoningDialect.ANTHROPIC
                ),
                Text(text="Looking."),
                ToolCall(id="c1", name="shell", arguments={"command": "cat utils.py"}),
                ToolCall(
                    id="c2",
                    name="edit_file",
                    arguments={
                        "path": "utils.py",
                        "old_string": "a = 1\nb = 2\n",
                        "new_string": "a = 1\nb = 3\n",
                    },
                ),
                ToolCall(id="c3", name="shell", arguments={"command": "rm -rf /"}),
            ),
        )
    )
    for call, allowed, note in (
        ("c1", True, None),
        ("c2", True, "always"),
        ("c3", False, "deny list: rm -rf /"),
    ):
        rec.note(
            "approval", {"tool": "shell", "call_id": call, "allowed": allowed, "note": note, "reach": "read"}
        )
    started = time.time()
    rec.note("call_started", {"call_id": "c1", "tool": "shell", "at": started - 0.5})
    rec.note("call_finished", {"call_id": "c1", "tool": "shell", "is_error": False, "content": "a = 1"})
    rec.append(
        Message(
            role="tool",
            blocks=(
                ToolResult(call_id="c1", content="a = 1\nb = 2\n", name="shell"),
                ToolResult(
                    call_id="c2",
                    content="edited utils.py: replaced 1 occurrence; the new text is at lines 7-8:\n...",
                    name="edit_file",
                ),
                ToolResult(call_id="c3", content="not run: deny list: rm -rf /", is_error=True, name="shell"),
            ),
        )
    )
    rec.note("compaction", {"dropped": 2, "summary": "Earlier: read utils.py", "previous": ""})
    child = [
        user("count lines"),
        Message(
            role="assistant",
            blocks=(
                Thinking(text="wc it"),
                ToolCall(id="s1", name="shell", arguments={"command": "wc -l x"}),
            ),
        ),
        Message(role="tool", blocks=(ToolResult(call_id="s1", content="2 x"),)),
        Message(role="assistant", blocks=(Text(text="2 lines"),)),
    ]
    rec.append(
        Message(
            role="assistant",
            blocks=(
                RedactedThinking(data="opaque=="),
                ToolCall(id="c4", name="subagent", arguments={"task": "count lines"}),
                ToolCall(id="c5", name="browser", arguments={"action": "screenshot"}),
            ),
        )
    )
    rec.note("subagent", {"task": "count lines", "messages": [message_to_json(m) for m in child]})
    rec.append(
        Message(
            role="tool",
            blocks=(
                ToolResult(call_id="c4", content="2 lines\n(helper: done, 2 steps)"),
                ToolResult(
                    call_id="c5", content=(Text(text="screenshot"), Image(media_type="image/png", data=PNG))
                ),
            ),
        )
    )
    rec.append(Message(role="assistant", blocks=(Thinking(text="Done."), Text(text="Fixed."))))
    rec.note("finished", {"status": status, "message": "", "steps": 3})
    store.update(sid, status=status, steps=3, input_tokens=1200, output_tokens=300, cost=0.01)
    return sid


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "sessions.db")


def test_entries_follow_the_messages(store: SessionStore) -> None:
    sid = write_session(store)
    reader = SessionsReader(store.path)
    spans = timeline.plan(reader.index(sid))
    assert [(s.kind, s.step) for s in spans] == [("task", None), ("step", 1), ("step", 2), ("step", 3)]
    # A step owns the tool message that answers it.
    assert [(s.start, s.stop) for s in spans] == [(0, 1), (1, 3), (3, 5), (5, 6)]
    entries = load_entries(reader, sid, spans)
    first = entries[1]
    assert isinstance(first.parts[0], ThinkingPart) and first.parts[0].text == "Read first.\nThen edit."
    assert first.parts[0].headline == "Read first." and first.parts[0].signed
    assert isinstance(first.parts[1], TextPart)
    calls = first.calls
    assert [c.name for c in calls] == ["shell", "edit_file", "shell"]
    assert calls[0].result is not None and calls[0].result.text == "a = 1\nb = 2\n"


def test_notes_land_where_they_happened(store: SessionStore) -> None:
    sid = write_session(store)
    reader = SessionsReader(store.path)
    entries = load_entries(reader, sid, timeline.plan(reader.index(sid)))
    step1, step2, step3 = entries[1], entries[2], entries[3]
    shell, edit, denied = step1.calls
    assert shell.approval is not None and shell.approval.allowed and not shell.refused
    assert shell.seconds is not None and shell.seconds >= 0.5
    assert edit.approval is not None and edit.approval.note == "always"
    assert denied.refused and denied.approval is not None and "deny list" in denied.approval.note
    # Recorded usage and model time belong to the step they were reported for; the rest are estimated.
    assert step1.usage is not None and not step1.usage.estimated
    assert (step1.usage.input_tokens, step1.usage.output_tokens, step1.usage.reasoning_tokens) == (
        1200,
        80,
        50,
    )
    assert step1.latency == 1.25
    assert step3.usage is not None and step3.usage.estimated
    assert step3.usage.output_tokens == 3  # "Done." and "Fixed.": 11 characters
    # The compaction came before the step it made room for; the run's end after the last step.
    assert [m.kind for m in step2.before] == ["compaction"]
    assert step2.before[0].detail == "Earlier: read utils.py"
    assert [m.kind for m in step3.after] == ["finished"]


def test_a_subagent_nests_under_the_call_that_started_it(store: SessionStore) -> None:
    sid = write_session(store)
    reader = SessionsReader(store.path)
    step2 = load_entries(reader, sid, timeline.plan(reader.index(sid)))[2]
    thinking = step2.thinking[0]
    assert thinking.redacted and not thinking.text
    call = step2.calls[0]
    assert call.subagent is not None and call.subagent.task == "count lines"
    assert call.subagent.steps == 2 and call.subagent.status == "done"
    nested = call.subagent.entries
    assert [e.span.kind for e in nested] == ["task", "step", "step"]
    assert nested[1].calls[0].result is not None and nested[1].calls[0].result.text == "2 x"
    shot = step2.calls[1].result
    assert shot is not None and shot.images[0].ref == "4-1-1" and shot.images[0].data == PNG


def test_edits_become_numbered_diffs() -> None:
    lines = edit_diff("a = 1\nb = 2\n", "a = 1\nb = 3\nc = 4\n", "edited x: the new text is at lines 7-9:")
    assert [(d.kind, d.text, d.old, d.new) for d in lines] == [
        ("ctx", "a = 1", 7, 7),
        ("del", "b = 2", 8, None),
        ("add", "b = 3", None, 8),
        ("add", "c = 4", None, 9),
    ]
    created = write_diff("one\ntwo\n")
    assert [(d.kind, d.new) for d in created] == [("add", 1), ("add", 2)]
    long = write_diff("x\n" * 1000)
    assert len(long) == 401 and long[-1].kind == "more" and "600 more lines" in long[-1].text


def test_an_unreadable_message_is_shown_not_fatal(store: SessionStore) -> None:
    sid = write_session(store)
    # Another program (or a future interleaf) wrote something this version cannot read.
    store._db.execute(
        "UPDATE messages SET data = ? WHERE session_id = ? AND seq = 5",
        ('{"role": "assistant", "blocks": [{"type": "hologram"}]}', sid),
    )
    reader = SessionsReader(store.path)
    entries = load_entries(reader, sid, timeline.plan(reader.index(sid)))
    assert entries[3].problem is not None and "hologram" in entries[3].problem
    assert "hologram" in entries[3].raw


def test_search_filters_sorts_and_pages(store: SessionStore) -> None:
    for i in range(30):
        sid = store.create(
            title=f"task {i:02d} {'alpha' if i % 3 == 0 else 'beta'}",
            workdir="/w",
            profile="p",
            model="m",
            mode="pro" if i % 2 else "lightning",
        )
        store.update(sid, steps=i, status="done" if i % 5 else "max_steps")
    reader = SessionsReader(store.path)
    everything = reader.search(SessionQuery(per_page=7))
    assert everything.total == 30 and everything.pages == 5 and len(everything.rows) == 7
    alpha = reader.search(SessionQuery(text="alpha", per_page=100))
    assert alpha.total == 10 and all("alpha" in s.title for s in alpha.rows)
    both = reader.search(SessionQuery(text="alpha", mode="pro", per_page=100))
    assert {int(s.title.split()[1]) for s in both.rows} == {3, 9, 15, 21, 27}
    by_steps = reader.search(SessionQuery(sort="steps", descending=False, page=2, per_page=10))
    assert [s.steps for s in by_steps.rows] == list(range(10, 20))
    past_the_end = reader.search(SessionQuery(page=99, per_page=10))
    assert past_the_end.page == 3 and len(past_the_end.rows) == 10
    assert reader.facets()["status"] == ["done", "max_steps"]
    # LIKE wildcards in the search text are literal.
    assert reader.search(SessionQuery(text="%")).total == 0


def test_ids_resolve_like_the_cli(store: SessionStore) -> None:
    sid = write_session(store)
    reader = SessionsReader(store.path)
    assert reader.resolve(sid[:12]) == sid
    assert reader.resolve("last") == sid
    with pytest.raises(UnknownSession, match="no session 'nope'"):
        reader.resolve("nope")


def test_foreign_and_broken_files_say_what_they_are(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite " * 100)
    with pytest.raises(StoreUnreadable, match="is not a SQLite database"):
        SessionsReader(garbage).check()
    import sqlite3

    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(StoreUnreadable, match=r"not an interleaf sessions store.*invoices"):
        SessionsReader(foreign).check()
    with pytest.raises(StoreUnreadable, match="no sessions database at"):
        SessionsReader(tmp_path / "missing.db").check()


def test_thinking_totals_are_counted_in_sqlite(store: SessionStore) -> None:
    sid = write_session(store)
    reader = SessionsReader(store.path)
    assert reader.thinking_chars(sid) == len("Read first.\nThen edit.") + len("Done.")
    assert reader.refusals(sid) == 1
    notes = reader.notes(sid, kind="call_finished")
    assert "content" not in notes[0].data  # the result is in the messages; the note's copy is not read
    assert json.loads(reader.messages(sid, 0, 1)[0].data)["role"] == "user"


def test_calls_know_when_they_were_interrupted() -> None:
    call = CallPart("c", "shell", {}, "{}", None)
    call.result = timeline.ResultPart("interrupted by the user before this call finished", True)
    assert call.interrupted
    call.result = timeline.ResultPart("ok", False)
    assert not call.interrupted
