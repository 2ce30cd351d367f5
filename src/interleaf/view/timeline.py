"""A session as a timeline of think -> act -> observe entries, built from stored messages and notes.

An *entry* starts at every message that is not a tool message: a user message (the task, or a follow-up
on a resumed session) or an assistant message, a *step*, which owns the tool message that answers it.
Pages are planned from the message index alone (:func:`plan`), so a 2,000-step session is cut into
chunks without decoding a single message; only a chunk's messages are decoded (:func:`build`).

Notes are placed by the number of messages the session had when they were written (``message_count``):
an approval, a call's start and finish, a sub-agent's transcript belong to the calls of the step just
recorded; a compaction comes before the step it made room for; ``finished`` ends a run. A ``usage``
note (per-step tokens, when the agent records them) belongs to the assistant message recorded next.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Sequence
from typing import Any

from interleaf.transcript import (
    Image,
    Message,
    Opaque,
    RedactedThinking,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    TranscriptFormatError,
    message_from_json,
)
from interleaf.view.diffs import edit_diff, write_diff
from interleaf.view.parts import (
    Approval,
    CallPart,
    Entry,
    EntryKind,
    ImagePart,
    Marker,
    OtherPart,
    Part,
    ResultPart,
    Span,
    SubagentRun,
    TextPart,
    ThinkingPart,
    Usage,
)
from interleaf.view.sessions_db import MessageRow, RawMessage, RawNote


def plan(rows: Sequence[MessageRow]) -> list[Span]:
    """Entries from the message index (seq and role) alone."""
    spans: list[Span] = []
    starts = [i for i, row in enumerate(rows) if row.role != "tool" or i == 0]
    step = 0
    for n, i in enumerate(starts):
        row = rows[i]
        end = starts[n + 1] if n + 1 < len(starts) else len(rows)
        kind: EntryKind = "step" if row.role == "assistant" else "task" if row.role == "user" else "orphan"
        if kind == "step":
            step += 1
        spans.append(
            Span(
                index=n,
                kind=kind,
                step=step if kind == "step" else None,
                start=row.seq,
                stop=rows[end - 1].seq + 1,
            )
        )
    return spans


# ---------------------------------------------------------------------------------------- building


def decode(raw: RawMessage) -> tuple[Message | None, str | None]:
    """The message, or why it could not be read."""
    try:
        return message_from_json(json.loads(raw.data)), None
    except (ValueError, TranscriptFormatError) as exc:
        return None, f"message {raw.seq} could not be read: {exc}"


def decode_block(data: Any, index: int) -> object:
    """Block ``index`` of a stored message (its JSON object); raises ValueError/IndexError when absent."""
    try:
        return message_from_json(data).blocks[index]
    except TranscriptFormatError as exc:
        raise ValueError(str(exc)) from None


def build(
    spans: Sequence[Span],
    messages: Iterable[RawMessage],
    notes: Iterable[RawNote],
    *,
    subagent_numbers: dict[int, int] | None = None,
) -> list[Entry]:
    """The entries of ``spans`` (consecutive), from their messages and the notes written around them.

    ``messages`` may include the one before the first span: a step's latency is measured from the message
    recorded before it. ``subagent_numbers`` maps a ``subagent`` note's seq to its number among the
    session's sub-agents.
    """
    by_seq = {m.seq: m for m in messages}
    entries = [Entry(span) for span in spans]
    for entry in entries:
        previous = by_seq.get(entry.span.start - 1)
        _fill(
            entry,
            [by_seq[s] for s in range(entry.span.start, entry.span.stop) if s in by_seq],
            previous.created if previous is not None else None,
        )
    _place_notes(entries, notes, subagent_numbers or {})
    for entry in entries:
        if entry.usage is None and entry.span.kind == "step" and entry.problem is None:
            entry.usage = _estimate(entry)
    return entries


def _fill(entry: Entry, raws: list[RawMessage], previous_created: float | None) -> None:
    if not raws:
        return
    entry.created = raws[0].created or None
    head, problem = decode(raws[0])
    if head is None:
        entry.problem, entry.raw = problem, raws[0].data[:4000]
        return
    if entry.span.kind == "step" and raws[0].created and previous_created:
        entry.latency = max(0.0, raws[0].created - previous_created)
    calls: dict[str, CallPart] = {}
    for b, block in enumerate(head.blocks):
        part = _part(block, raws[0].seq, b, entry)
        if isinstance(part, CallPart):
            calls.setdefault(part.id, part)
        if part is not None:
            entry.parts.append(part)
    for raw in raws[1:]:
        message, problem = decode(raw)
        if message is None:
            entry.parts.append(OtherPart("unreadable message", problem or ""))
            continue
        for b, block in enumerate(message.blocks):
            if isinstance(block, ToolResult):
                result = _result(block, raw.seq, b)
                call = calls.get(block.call_id)
                if call is not None and call.result is None:
                    call.result = result
                    if call.name == "edit_file" and call.diff is not None and not result.is_error:
                        call.diff = edit_diff(
                            str(call.arguments.get("old_string", "")),
                            str(call.arguments.get("new_string", "")),
                            result.text,
                        )
                else:
                    entry.parts.append(OtherPart(f"result for {block.call_id}", result.text))
            else:
                part = _part(block, raw.seq, b, entry)
                if part is not None:
                    entry.parts.append(part)


def _part(block: object, seq: int, b: int, entry: Entry) -> Part | None:
    if isinstance(block, Thinking):
        return ThinkingPart(
            block.text, signed=bool(block.signature), dialect=block.dialect.value if block.dialect else None
        )
    if isinstance(block, RedactedThinking):
        dialect = block.dialect.value if block.dialect else None
        return ThinkingPart("", redacted=True, signed=True, dialect=dialect)
    if isinstance(block, Text):
        return TextPart(block.text)
    if isinstance(block, ToolCall):
        arguments = dict(block.arguments)
        call = CallPart(
            id=block.id,
            name=block.name,
            arguments=arguments,
            arguments_text=_pretty(arguments) if block.arguments_error is None else block.arguments_json,
            arguments_error=block.arguments_error,
        )
        if block.name == "edit_file":
            call.diff = edit_diff(str(arguments.get("old_string", "")), str(arguments.get("new_string", "")))
        elif block.name == "write_file" and isinstance(arguments.get("content"), str):
            call.diff = write_diff(arguments["content"])
        return call
    if isinstance(block, Image):
        entry.images.append(_image(block, f"{seq}-{b}-0"))
        return None
    if isinstance(block, ToolResult):
        return OtherPart(f"result for {block.call_id}", _result(block, seq, b).text)
    if isinstance(block, Opaque):
        return OtherPart(f"{block.source} block", json.dumps(block.data, ensure_ascii=False)[:2000])
    return None


def _result(block: ToolResult, seq: int, b: int) -> ResultPart:
    images = []
    if isinstance(block.content, tuple):
        images = [_image(p, f"{seq}-{b}-{i}") for i, p in enumerate(block.content) if isinstance(p, Image)]
    return ResultPart(block.text, bool(block.is_error), images)


def _image(block: Image, ref: str) -> ImagePart:
    return ImagePart(block.media_type or "image/png", block.data, block.url, ref)


def _pretty(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, ensure_ascii=False, indent=2)


def _estimate(entry: Entry) -> Usage:
    chars = 0
    for part in entry.parts:
        if isinstance(part, ThinkingPart | TextPart):
            chars += len(part.text)
        elif isinstance(part, CallPart):
            chars += len(part.arguments_text)
    return Usage(None, -(-chars // 4), None, estimated=True)


def _place_notes(entries: list[Entry], notes: Iterable[RawNote], subagent_numbers: dict[int, int]) -> None:
    if not entries:
        return

    starts = [entry.span.start for entry in entries]

    def holding(seq: int) -> Entry | None:
        at = bisect.bisect_right(starts, seq) - 1
        if at >= 0 and seq < entries[at].span.stop:
            return entries[at]
        return None

    started: dict[str, float] = {}
    for note in notes:
        data = note.data
        count = data.get("message_count")
        if not isinstance(count, int):
            continue
        if note.kind == "usage":
            target = holding(count)
            if target is not None:
                target.usage = Usage(
                    _int(data.get("input_tokens")),
                    _int(data.get("output_tokens")),
                    _int(data.get("reasoning_tokens")),
                    estimated=False,
                )
                if isinstance(data.get("seconds"), int | float):
                    target.latency = float(data["seconds"])
            continue
        if note.kind == "compaction":
            target = holding(count)
            marker = Marker(
                "compaction",
                f"compacted {data.get('dropped', '?')} earlier messages into a summary",
                str(data.get("summary", "")),
            )
            if target is not None:
                target.before.append(marker)
            elif count >= entries[-1].span.stop:
                entries[-1].after.append(marker)
            continue
        owner = holding(count - 1)
        if owner is None:
            continue
        if note.kind == "finished":
            owner.after.append(_finished(data))
        elif note.kind == "approval":
            call = _call(owner, data.get("call_id"))
            if call is not None:
                call.approval = Approval(
                    bool(data.get("allowed")), str(data.get("note") or ""), str(data.get("reach") or "")
                )
        elif note.kind == "call_started":
            at = data.get("at")
            started[str(data.get("call_id"))] = float(at) if isinstance(at, int | float) else note.created
        elif note.kind == "call_finished":
            call = _call(owner, data.get("call_id"))
            begun = started.get(str(data.get("call_id")))
            if call is not None and begun is not None:
                call.seconds = max(0.0, note.created - begun)
        elif note.kind == "subagent":
            _attach_subagent(owner, note, subagent_numbers.get(note.seq, 0))
        elif note.kind not in ("system",):
            owner.after.append(Marker("note", note.kind, json.dumps(data, ensure_ascii=False)[:2000]))


def _call(entry: Entry, call_id: object) -> CallPart | None:
    return next((c for c in entry.calls if c.id == call_id), None)


def _finished(data: dict[str, Any]) -> Marker:
    status = str(data.get("status", ""))
    message = str(data.get("message") or "")
    if status == "done":
        return Marker("finished", "finished", message)
    if status == "interrupted":
        return Marker("interrupted", "interrupted", message)
    return Marker("stopped", f"stopped: {status.replace('_', ' ')}", message)


def _attach_subagent(owner: Entry, note: RawNote, number: int) -> None:
    task = str(note.data.get("task", ""))
    raw = note.data.get("messages")
    messages = [m for m in raw if isinstance(m, dict)] if isinstance(raw, list) else []
    run = SubagentRun(number, task, messages)
    run.steps = sum(1 for m in messages if m.get("role") == "assistant")
    candidates = [c for c in owner.calls if c.name == "subagent" and c.subagent is None]
    call = next((c for c in candidates if c.arguments.get("task") == task), None) or next(
        iter(candidates), None
    )
    if call is None:
        owner.after.append(Marker("note", "sub-agent", task))
        return
    if call.result is not None:
        run.status = "error" if call.result.is_error else "done"
    call.subagent = run


def subagent_rows(run: SubagentRun) -> tuple[list[MessageRow], list[RawMessage]]:
    """A sub-agent's message index and messages, to build its timeline like a session's. Its messages
    were kept without times, so its steps show no latency."""
    raws = [
        RawMessage(seq=i, role=str(m.get("role", "")), created=0.0, data=json.dumps(m, ensure_ascii=False))
        for i, m in enumerate(run.messages)
    ]
    return [MessageRow(r.seq, r.role) for r in raws], raws


def all_images(entries: Iterable[Entry]) -> Iterable[ImagePart]:
    """Every image of these entries, their sub-agents' included."""
    for entry in entries:
        yield from entry.images
        for call in entry.calls:
            if call.result is not None:
                yield from call.result.images
            if call.subagent is not None:
                yield from all_images(call.subagent.entries)


def prefix_image_refs(entries: Iterable[Entry], prefix: str) -> None:
    """Make image refs unique across timelines (a sub-agent's messages count their seq from 0 too)."""
    for image in all_images(entries):
        image.ref = prefix + image.ref


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


__all__ = [
    "Approval",
    "CallPart",
    "Entry",
    "ImagePart",
    "Marker",
    "OtherPart",
    "ResultPart",
    "Span",
    "SubagentRun",
    "TextPart",
    "ThinkingPart",
    "Usage",
    "all_images",
    "build",
    "decode",
    "decode_block",
    "plan",
    "prefix_image_refs",
    "subagent_rows",
]
