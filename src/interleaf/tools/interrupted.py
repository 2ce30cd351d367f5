"""What a resumed session tells the model about a tool call that a crash (``kill -9``) cut off.

The agent notes each call as started before its tool runs and as finished, with its result, after
(``agent.loop``). On resume, a call of the last step that has no result yet is answered from those
notes, never with a guess: a finished call gets its recorded result; a call that started gets "it may
have run" with what is known (exit status unknown, the workdir's files modified since it started); a
call that never started gets "not run".
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from interleaf.tools.paths import changed_since
from interleaf.transcript import Message, ToolCall, ToolResult

__all__ = ["CallState", "interrupted_result", "interrupted_results"]


class CallState(Protocol):
    """What the session recorded about a call (``store.sessions.CallRecord`` has this shape)."""

    @property
    def started(self) -> float | None: ...

    @property
    def finished(self) -> bool: ...

    @property
    def is_error(self) -> bool: ...

    @property
    def content(self) -> str: ...


_CLOCK_SLACK = 0.05
"""Seconds: file times can trail the clock read just before the call by a tick; keep those in."""


def interrupted_result(
    call: ToolCall,
    *,
    started: float | None,
    finished: tuple[bool, str] | None,
    workdir: Path,
) -> ToolResult:
    """The result ``call`` gets on resume. ``started`` is when it was about to run (``None``: it never
    started); ``finished`` is ``(is_error, text)`` when it ran to the end."""
    if finished is not None:
        is_error, content = finished
    elif started is not None:
        is_error, content = True, _may_have_run(workdir, started)
    else:
        is_error, content = True, "not run: the session was interrupted before this call started"
    return ToolResult(call_id=call.id, content=content, is_error=True if is_error else None, name=call.name)


def interrupted_results(
    calls: Sequence[ToolCall], records: Mapping[str, CallState], workdir: Path
) -> Message:
    """The tool message answering ``calls`` (a step cut off by a crash) from what was recorded."""
    results = []
    for call in calls:
        record = records.get(call.id)
        finished = (record.is_error, record.content) if record is not None and record.finished else None
        started = record.started if record is not None else None
        results.append(interrupted_result(call, started=started, finished=finished, workdir=workdir))
    return Message(role="tool", blocks=tuple(results))


def _may_have_run(workdir: Path, started: float) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
    changed, more = changed_since(workdir, started - _CLOCK_SLACK)
    if changed:
        listed = "\n".join(f"  {name}" for name in changed) + ("\n  ..." if more else "")
        files = f"Files in the workdir modified since the call started:\n{listed}"
    else:
        files = "No file in the workdir was modified since the call started."
    return (
        f"[the session was interrupted while this call was running (started {when}); it may have run, "
        "completely or in part. Its exit status and output are unknown.]\n"
        f"{files}\n[Deleted files do not show here. Check the effects before running the call again.]"
    )
