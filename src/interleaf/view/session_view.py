"""One session rendered: the page (its first entries), further chunks of entries, a sub-agent's page,
images, and the self-contained export. Pure functions of a :class:`SessionsReader`; the routes that call
them live in :mod:`interleaf.view.routes_sessions`.

A page is planned from the message index (no message decoded), then only the chunk it shows is decoded;
the browser fetches the next chunks as the reader scrolls. So a 2,000-step session costs its first page,
not its whole size, before the first paint.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass, field
from typing import Any

from interleaf.transcript import Image, ToolResult
from interleaf.view import timeline
from interleaf.view.render import asset, duration, render, size
from interleaf.view.sessions_db import SessionsReader, UnknownSession
from interleaf.view.timeline import Entry, Span, SubagentRun

FIRST_CHUNK = 40
CHUNK = 40
STALE_SECONDS = 600
"""A running session with nothing recorded for this long may be a crashed one: the page says so."""


@dataclass
class Stats:
    steps: int
    thinking_chars: int | None
    """``None`` on the live page: counting reads every message, so the page asks for it after its first
    paint (``stats_url``)."""
    badges: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SessionLinks:
    """Where a session's pages are: ``base`` is its page (``/sessions/ID``, ``/evals/RUN/sessions/ID``)."""

    root: str
    base: str
    crumbs: tuple[tuple[str, str], ...]
    """The breadcrumb up to (not including) the session itself."""


def _stats(reader: SessionsReader, session_id: str, spans: list[Span], *, thinking: bool) -> Stats:
    counts = reader.note_counts(session_id)
    stats = Stats(
        steps=sum(1 for s in spans if s.kind == "step"),
        thinking_chars=reader.thinking_chars(session_id) if thinking else None,
    )
    labels = (
        ("compaction", "compaction", "compactions"),
        ("subagent", "sub-agent", "sub-agents"),
    )
    for kind, one, many in labels:
        if counts.get(kind):
            stats.badges.append(f"{counts[kind]} {one if counts[kind] == 1 else many}")
    refused = reader.refusals(session_id)
    if refused:
        stats.badges.append(f"{refused} refused call{'s' if refused != 1 else ''}")
    return stats


def load_entries(reader: SessionsReader, session_id: str, spans: list[Span]) -> list[Entry]:
    """Decode and assemble the entries of ``spans`` (consecutive), sub-agents inline."""
    if not spans:
        return []
    first, last = spans[0].start, spans[-1].stop
    messages = reader.messages(session_id, max(0, first - 1), last)  # the one before: for latency
    notes = reader.notes(session_id, first=first, last=last)
    numbers = {seq: n for n, seq in enumerate(reader.note_seqs(session_id, "subagent"))}
    entries = timeline.build(spans, messages, notes, subagent_numbers=numbers)
    for entry in entries:
        for call in entry.calls:
            if call.subagent is not None:
                call.subagent.entries = subagent_entries(call.subagent)
    return entries


def subagent_entries(run: SubagentRun) -> list[Entry]:
    index, rows = timeline.subagent_rows(run)
    entries = timeline.build(timeline.plan(index), rows, [])
    timeline.prefix_image_refs(entries, f"a{run.number}.")
    return entries


def link_images(entries: list[Entry], base: str) -> list[Entry]:
    """Point every image of ``entries`` at the session's image route under ``base``."""
    for image in timeline.all_images(entries):
        image.href = f"{base}/images/{image.ref}"
    return entries


def session_page(
    reader: SessionsReader, session_id: str, links: SessionLinks, *, start: int = 0, page: str = "session"
) -> str:
    info = reader.info(session_id)
    spans = timeline.plan(reader.index(session_id))
    start = max(0, min(start, len(spans)))
    shown = spans[start : start + FIRST_CHUNK]
    entries = link_images(load_entries(reader, session_id, shown), links.base)
    following = start + len(shown)
    system = reader.latest_note(session_id, "system")
    live = info.status == "running"
    quiet = time.time() - info.updated
    stale = (
        f"Nothing has been recorded for {duration(quiet)}: the agent may have stopped without recording "
        "its end (a crash or kill). `interleaf run --resume` continues it."
        if live and quiet > STALE_SECONDS
        else ""
    )
    return render(
        "session.html",
        title=info.title or session_id,
        heading=info.title or "(no task text)",
        page=page,
        section="sessions" if links.base.startswith(f"{links.root}/sessions") else "evals",
        root=links.root,
        source_path=str(reader.path),
        crumbs=[*links.crumbs, (info.title[:60] or session_id, "")],
        info=info,
        status=info.status,
        stats=_stats(reader, session_id, spans, thinking=False),
        stats_url=f"{links.base}/stats",
        system_prompt=str(system.data.get("prompt", "")) if system else "",
        entries=entries,
        next_url=f"{links.base}/entries?start={following}" if following < len(spans) else None,
        next_page_url=f"{links.base}?from={following}",
        live_url=f"{links.base}/live" if live else None,
        stale=stale,
        start=start,
        page_url=links.base,
        entries_url=f"{links.base}/entries",
        export_url=f"{links.base}/export.html",
        subagent_url=lambda run: f"{links.base}/subagents/{run.number}",
    )


def stats_json(reader: SessionsReader, session_id: str) -> dict[str, object]:
    """What the session page fills in after its first paint."""
    chars = reader.thinking_chars(session_id)
    return {"thinking_chars": chars, "thinking": size(chars)}


def entries_fragment(
    reader: SessionsReader, session_id: str, links: SessionLinks, start: int, count: int = CHUNK
) -> tuple[str, int | None]:
    """The HTML of entries ``start`` to ``start + count`` and the index to fetch next (``None``: the end)."""
    reader.info(session_id)  # an unknown id is a 404, not an empty fragment
    spans = timeline.plan(reader.index(session_id))
    shown = spans[max(0, start) : max(0, start) + max(1, min(count, 500))]
    entries = link_images(load_entries(reader, session_id, shown), links.base)
    following = max(0, start) + len(shown)
    html = render(
        "_entries.html",
        entries=entries,
        subagent_url=lambda run: f"{links.base}/subagents/{run.number}",
    )
    return html, following if following < len(spans) else None


def subagent_run(reader: SessionsReader, session_id: str, number: int) -> tuple[SubagentRun, Entry | None]:
    """Sub-agent ``number`` of a session and the parent's step that started it."""
    seqs = reader.note_seqs(session_id, "subagent")
    if not 0 <= number < len(seqs):
        raise UnknownSession(f"session {session_id} has no sub-agent {number} (it has {len(seqs)})")
    note = reader.note_at(session_id, seqs[number])
    assert note is not None
    spans = timeline.plan(reader.index(session_id))
    count = note.data.get("message_count")
    parent = next(
        (s for s in spans if isinstance(count, int) and s.start <= count - 1 < s.stop),
        None,
    )
    entries = load_entries(reader, session_id, [parent]) if parent is not None else []
    for entry in entries:
        for call in entry.calls:
            if call.subagent is not None and call.subagent.number == number:
                return call.subagent, entry
    raw = note.data.get("messages")
    run = SubagentRun(number, str(note.data.get("task", "")), raw if isinstance(raw, list) else [])
    run.entries = subagent_entries(run)
    return run, None


def subagent_page(reader: SessionsReader, session_id: str, number: int, links: SessionLinks) -> str:
    info = reader.info(session_id)
    run, parent = subagent_run(reader, session_id, number)
    step = parent.span.step if parent is not None else None
    title = f"Sub-agent {number + 1}" + (f" of step {step}" if step else "")
    return render(
        "subagent.html",
        title=f"{title} · {info.title or session_id}",
        heading=run.task or title,
        page="subagent",
        section="sessions" if links.base.startswith(f"{links.root}/sessions") else "evals",
        root=links.root,
        source_path=str(reader.path),
        crumbs=[
            *links.crumbs,
            (info.title[:60] or session_id, links.base + (f"#e{parent.span.index}" if parent else "")),
            (title, ""),
        ],
        info=None,
        status=run.status or "unknown",
        stats=Stats(
            steps=run.steps,
            thinking_chars=sum(len(t.text) for e in run.entries for t in e.thinking),
        ),
        system_prompt="",
        export_url=None,
        entries=link_images(run.entries, links.base),
        subagent_url=None,
    )


def image(reader: SessionsReader, session_id: str, ref: str) -> tuple[bytes, str]:
    """An image of the session by its ref (``SEQ-BLOCK-PART``, ``aN.SEQ-BLOCK-PART`` in sub-agent N)."""
    reader.info(session_id)
    try:
        scope, _, rest = ref.rpartition(".")
        seq, block, part = (int(x) for x in rest.split("-"))
        if scope:
            run, _ = subagent_run(reader, session_id, int(scope.removeprefix("a")))
            data = run.messages[seq]
        else:
            raws = reader.messages(session_id, seq, seq + 1)
            data = json.loads(raws[0].data)
        found = timeline.decode_block(data, block)
    except (ValueError, IndexError, KeyError, TypeError):
        raise UnknownSession(f"session {session_id} has no image {ref!r}") from None
    if isinstance(found, ToolResult) and isinstance(found.content, tuple):
        found = found.content[part] if part < len(found.content) else None
    if not isinstance(found, Image) or not found.data:
        raise UnknownSession(f"session {session_id} has no image {ref!r}")
    try:
        return base64.b64decode(found.data, validate=False), found.media_type or "image/png"
    except (binascii.Error, ValueError):
        raise UnknownSession(f"image {ref!r} of session {session_id} is not valid base64") from None


def export_html(reader: SessionsReader, session_id: str) -> str:
    """The session page as one self-contained HTML file: styles, script and images inline, every step
    rendered, sub-agents nested; no server needed to open it."""
    info = reader.info(session_id)
    spans = timeline.plan(reader.index(session_id))
    entries = load_entries(reader, session_id, spans)
    system = reader.latest_note(session_id, "system")

    for image in timeline.all_images(entries):
        image.href = f"data:{image.media_type};base64,{image.data or ''}"
    context: dict[str, Any] = {
        "heading": info.title or "(no task text)",
        "info": info,
        "status": info.status,
        "stats": _stats(reader, session_id, spans, thinking=True),
        "system_prompt": str(system.data.get("prompt", "")) if system else "",
        "entries": entries,
        "export_url": None,
        "subagent_url": None,
        "source_path": str(reader.path),
        "exported": time.time(),
        "css": asset("view.css"),
        "js": asset("view.js"),
    }
    return render("export.html", **context)


__all__ = [
    "CHUNK",
    "FIRST_CHUNK",
    "SessionLinks",
    "entries_fragment",
    "export_html",
    "image",
    "load_entries",
    "session_page",
    "subagent_page",
]
