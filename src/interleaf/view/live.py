"""Server-sent events for a running session: the page learns that the session grew and fetches the new
entries itself (the same HTML the first load used), so the stream carries only small JSON notices.

SQLite has no change notifications across processes: the stream polls the session's activity (a few
indexed counts) every ``poll`` seconds, on a worker thread, and speaks only when something changed. It
ends when the session is no longer ``running``, or when the browser goes away.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from interleaf.view.sessions_db import Activity, SessionsReader, StoreUnreadable, UnknownSession

KEEPALIVE_SECONDS = 15.0


def _event(name: str, data: dict[str, object]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _payload(activity: Activity, steps: int) -> dict[str, object]:
    return {
        "messages": activity.messages,
        "notes": activity.notes,
        "status": activity.status,
        "steps": steps,
        "tokens": f"{activity.input_tokens:,} in · {activity.output_tokens:,} out",
    }


async def session_events(reader: SessionsReader, session_id: str, *, poll: float = 0.5) -> AsyncIterator[str]:
    """``update`` whenever the session's messages, notes or status change (once at the start too), and
    ``end`` when it stops running; a comment now and then keeps proxies from closing the stream."""
    yield "retry: 2000\n\n"
    last: Activity | None = None
    quiet_since = time.monotonic()
    while True:
        try:
            activity = await run_in_threadpool(reader.activity, session_id)
            steps = await run_in_threadpool(_steps, reader, session_id) if activity != last else 0
        except (StoreUnreadable, UnknownSession) as exc:
            yield _event("problem", {"message": str(exc)})
            return
        if activity != last:
            yield _event("update", _payload(activity, steps))
            last = activity
            quiet_since = time.monotonic()
        if activity.status != "running":
            yield _event("end", {"status": activity.status})
            return
        if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            yield ": still running\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(poll)


def _steps(reader: SessionsReader, session_id: str) -> int:
    return sum(1 for row in reader.index(session_id) if row.role == "assistant")


__all__ = ["session_events"]
