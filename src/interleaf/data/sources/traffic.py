"""Trajectories from the gateway's recorded traffic (``interleaf serve --record``, ``traffic.db``).

Each recorded request holds the conversation so far: what the client sent and, more useful here,
what the gateway sent upstream, with the thinking it restored. A conversation is recorded once per
turn, each request a prefix of the next, so only the longest request of each conversation becomes a
row (a request whose messages begin another request's are left out). Replies are not recorded: the
row ends with the last tool results or user message the model was asked to answer. The file is
opened read-only; refused and failed requests (status other than 200) are skipped.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from interleaf.data.errors import RowError, SourceError
from interleaf.data.rows import Provenance
from interleaf.data.sources.base import Collected, SourceItem
from interleaf.data.sources.wire import decode
from interleaf.paths import data_dir
from interleaf.store.codec import decompress
from interleaf.transcript import Conversation, message_to_json

# The gateway names client formats by their endpoint; the codecs by their API.
_FORMATS = {"anthropic": "anthropic", "openai-chat": "openai-chat", "openai-responses": "responses"}


def default_traffic_db() -> Path:
    return data_dir() / "traffic.db"


def read_traffic(path: Path | None = None) -> Iterator[SourceItem]:
    db = path or default_traffic_db()
    if not db.is_file():
        raise SourceError(f"{db}: no recorded traffic (start the gateway with `interleaf serve --record`)")
    try:
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        rows = connection.execute(
            "SELECT id, started, app, client_format, upstream_format, model, client_body, upstream_body, cut"
            " FROM requests WHERE status = 200 ORDER BY id"
        ).fetchall()
        connection.close()
    except sqlite3.DatabaseError as exc:
        raise SourceError(f"{db}: not a gateway traffic database ({exc})") from None
    decoded: list[tuple[Collected, list[str]]] = []
    for record_id, started, app, client_format, upstream_format, model, client, upstream, cut in rows:
        where = f"{db}#{record_id}"
        if cut:
            yield RowError(where, "the recorded body was cut at the size limit; skipped")
            continue
        body, fmt = (upstream, upstream_format) if upstream is not None else (client, client_format)
        try:
            record = json.loads(decompress(body))
        except ValueError as exc:
            yield RowError(where, f"the recorded body cannot be read ({exc})")
            continue
        try:
            conversation, found = decode(record, _FORMATS.get(str(fmt), "auto"), where)
        except RowError as exc:
            yield exc
            continue
        item = Collected(
            conversation,
            Provenance(
                source="gateway",
                source_ref=where,
                format=found,
                model=str(model) or None,
                profile=str(app) or None,
                created=float(started),
            ),
        )
        decoded.append((item, _message_keys(conversation)))
    yield from _longest(decoded)


def _message_keys(conversation: Conversation) -> list[str]:
    return [json.dumps(message_to_json(m), sort_keys=True, ensure_ascii=False) for m in conversation.messages]


def _longest(decoded: list[tuple[Collected, list[str]]]) -> Iterator[Collected]:
    """The conversations that are not a proper prefix of another, in recorded order."""
    by_start: dict[str, list[int]] = {}
    for index, (_, keys) in enumerate(decoded):
        by_start.setdefault(keys[0] if keys else "", []).append(index)
    for index, (item, keys) in enumerate(decoded):
        others = by_start[keys[0] if keys else ""]
        if any(
            other != index and len(decoded[other][1]) > len(keys) and decoded[other][1][: len(keys)] == keys
            for other in others
        ):
            continue
        yield item
