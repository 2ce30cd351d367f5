"""Recorded gateway traffic (``interleaf serve --record``): per client app, restored / missing / foreign
turn counts over time; per request, what the client sent, what went upstream, and which thinking the
gateway put back (highlighted).

Bodies are decoded with interleaf's own codecs into transcripts, so both sides read the same way whatever
their wire formats. Restored, missing and foreign turns are indices into the decoded *client*
conversation; the upstream side is matched by position among assistant turns, which the gateway never
adds, drops or reorders.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from interleaf.transcript import Conversation, Message, RedactedThinking, Text, Thinking, ToolCall, ToolResult
from interleaf.view.parts import OtherPart, Part, TextPart, ThinkingPart
from interleaf.view.render import render
from interleaf.view.sessions_db import UnknownSession
from interleaf.view.traffic import Bucket, TrafficReader
from interleaf.wire import anthropic, openai_chat, responses
from interleaf.wire.errors import WireError

PER_PAGE = 50
RAW_LIMIT = 2_000_000
"""Characters of a body's JSON shown on the page (the rest is summarised)."""
BUCKETS = (60, 300, 3600, 6 * 3600, 86400)

_DECODERS = {
    "anthropic": anthropic.decode_request,
    "openai-chat": openai_chat.decode_request,
    "openai-responses": responses.decode_request,
    "responses": responses.decode_request,
}


@dataclass
class Turn:
    index: int
    role: str
    parts: list[Part]
    state: str = ""
    """``restored``, ``missing``, ``foreign`` or ``""``."""


@dataclass
class Side:
    """One body of a request, decoded for the page."""

    title: str
    format: str
    size: int | None
    upstream: bool
    raw: str = ""
    problem: str = ""
    turns: list[Turn] = field(default_factory=list)


def _parts(message: Message) -> list[Part]:
    parts: list[Part] = []
    for block in message.blocks:
        if isinstance(block, Thinking):
            dialect = block.dialect.value if block.dialect else None
            parts.append(ThinkingPart(block.text, signed=bool(block.signature), dialect=dialect))
        elif isinstance(block, RedactedThinking):
            dialect = block.dialect.value if block.dialect else None
            parts.append(ThinkingPart("", redacted=True, signed=True, dialect=dialect))
        elif isinstance(block, Text):
            parts.append(TextPart(block.text))
        elif isinstance(block, ToolCall):
            parts.append(OtherPart(f"call {block.name}", block.arguments_json[:4000]))
        elif isinstance(block, ToolResult):
            parts.append(OtherPart(f"result for {block.call_id}", block.text[:4000]))
        else:
            parts.append(OtherPart(block.kind, ""))
    return parts


def decode_body(fmt: str, body: bytes | None) -> tuple[Conversation | None, str, str]:
    """The conversation in ``body``, the body as pretty JSON, and what went wrong (or ``""``)."""
    if body is None:
        return None, "", "nothing was sent upstream (the gateway answered the client itself)"
    text = body.decode("utf-8", errors="replace")
    try:
        value = json.loads(text)
    except ValueError as exc:
        return None, text[:RAW_LIMIT], f"the body is not JSON ({exc})"
    pretty = json.dumps(value, ensure_ascii=False, indent=2)
    if len(pretty) > RAW_LIMIT:
        pretty = pretty[:RAW_LIMIT] + f"\n… ({len(pretty) - RAW_LIMIT:,} more characters)"
    decoder = _DECODERS.get(fmt)
    if decoder is None:
        return None, pretty, f"the viewer cannot decode the {fmt or 'unknown'!r} format; the JSON is below"
    try:
        return decoder(value), pretty, ""
    except (WireError, ValueError, TypeError, KeyError) as exc:
        return None, pretty, f"the body is not a valid {fmt} request: {exc}"


def _side(
    title: str, fmt: str, body: bytes | None, size: int | None, states: dict[int, str], *, upstream: bool
) -> Side:
    conversation, raw, problem = decode_body(fmt, body)
    side = Side(title, fmt, size, upstream, raw, problem)
    if conversation is not None:
        side.turns = [
            Turn(i, m.role, _parts(m), states.get(i, ""))
            for i, m in enumerate(conversation.messages)
            if m.role != "system"
        ]
    return side


def _client_states(record: Any) -> dict[int, str]:
    states: dict[int, str] = {}
    for name in ("restored", "missing", "foreign"):
        for index in getattr(record, name):
            states[index] = name
    return states


def _upstream_states(client: Side, upstream: Side) -> None:
    """Carry the client's turn states to the upstream's assistant turns, by their order."""
    ordered = [t.state for t in client.turns if t.role == "assistant"]
    assistants = [t for t in upstream.turns if t.role == "assistant"]
    for turn, state in zip(assistants, ordered, strict=False):
        turn.state = state


def bucket_for(apps: list[Any]) -> int:
    """A bucket size that spreads the recorded span over about 48 bars."""
    if not apps:
        return BUCKETS[0]
    span = max(a.last for a in apps) - min(a.first for a in apps)
    return next((b for b in BUCKETS if span / b <= 48), BUCKETS[-1])


def bars(series: list[Bucket], width: int = 240, height: int = 36) -> dict[str, Any]:
    """Bar geometry for a small SVG chart: restored up, missing (and foreign) stacked on top."""
    top = max([b.restored + b.missing + b.foreign for b in series] + [1])
    step = width / max(len(series), 1)
    out = []
    for i, b in enumerate(series):
        restored = height * b.restored / top
        lost = height * (b.missing + b.foreign) / top
        out.append(
            {
                "x": round(i * step, 1),
                "w": round(max(step - 1, 1), 1),
                "restored_y": round(height - restored, 1),
                "restored_h": round(restored, 1),
                "lost_y": round(height - restored - lost, 1),
                "lost_h": round(lost, 1),
                "title": f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(b.start))}: {b.requests} requests, "
                f"{b.restored} restored, {b.missing} missing, {b.foreign} foreign",
            }
        )
    return {"width": width, "height": height, "bars": out, "top": top}


def gateway_page(request: Request) -> Response:
    reader: TrafficReader = request.app.state.traffic
    context: dict[str, Any] = {
        "title": "Gateway traffic",
        "page": "gateway",
        "section": "gateway",
        "root": "",
        "source_path": str(reader.path),
        "recording": reader.exists,
        "path": str(reader.path),
    }
    if not reader.exists:
        return HTMLResponse(render("gateway.html", **context))
    app = request.query_params.get("app") or None
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    apps = reader.apps()
    bucket = bucket_for(apps)
    series = reader.series(bucket)
    total = reader.count(app)
    pages = max(1, -(-total // PER_PAGE))
    page = min(page, pages)
    context.update(
        apps=apps,
        charts={name: bars(values) for name, values in series.items()},
        bucket=bucket,
        app=app,
        requests=reader.requests(app=app, offset=(page - 1) * PER_PAGE, limit=PER_PAGE),
        total=total,
        page_number=page,
        pages=pages,
    )
    return HTMLResponse(render("gateway.html", **context))


def request_page(request: Request) -> Response:
    reader: TrafficReader = request.app.state.traffic
    record_id = request.path_params["id"]
    record = reader.request(record_id)
    if record is None:
        raise UnknownSession(
            f"no recorded request {record_id}: it was never recorded, or the recorder has dropped it since "
            "(it keeps the newest requests up to its size limit)"
        )
    states = _client_states(record)
    summary = record.summary
    client = _side(
        "What the client sent",
        summary.client_format,
        record.client_body,
        record.client_size,
        states,
        upstream=False,
    )
    upstream = _side(
        "What went upstream",
        summary.upstream_format or summary.client_format,
        record.upstream_body,
        record.upstream_size,
        {},
        upstream=True,
    )
    _upstream_states(client, upstream)
    return HTMLResponse(
        render(
            "gateway_request.html",
            title=f"Request {summary.request_id or record_id}",
            page="gateway-request",
            section="gateway",
            root="",
            source_path=str(reader.path),
            record=record,
            s=summary,
            sides=[client, upstream],
            crumbs=[
                ("Gateway", "/gateway"),
                (summary.app, f"/gateway?app={summary.app}"),
                (f"request {record_id}", ""),
            ],
        )
    )


def routes() -> list[Route]:
    return [Route("/gateway", gateway_page), Route("/gateway/requests/{id:int}", request_page)]


__all__ = ["bars", "decode_body", "routes"]
