"""Response bodies (``object: "response"``) to transcript responses and back.

Every ``output`` item is a block of the one assistant message, in order (see :mod:`.items`). ``id`` and
``model`` are typed slots; ``usage`` maps ``input_tokens``, ``output_tokens``,
``input_tokens_details.cached_tokens`` / ``cache_write_tokens`` and
``output_tokens_details.reasoning_tokens`` (``total_tokens`` and the rest stay in ``Usage.extra``).
Everything else, the request fields the API echoes (``instructions``, ``tools``, ``reasoning``...)
included, is ``Response.extra``.

The stop reason comes from ``status``: ``completed`` is ``tool_use`` when the output holds a call that
waits for the client (``function_call``, ``custom_tool_call``, ...) and ``end_turn`` otherwise;
``incomplete`` is ``max_tokens`` for ``max_output_tokens``, ``content_filter`` for a filter, else the
reason as sent. ``status`` is written back from the stop reason and kept in ``extra`` only when that
would not give it back (``in_progress``, ``cancelled``...). An error body or ``status: "failed"``
raises :class:`StreamServerError`, as the OpenAI Chat codec does for its error bodies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from interleaf.transcript import Block, JSONDict, Message, Response, Usage
from interleaf.wire.errors import Losses, StreamServerError
from interleaf.wire.openai_chat import raise_error
from interleaf.wire.responses.common import (
    CLIENT_CALLS,
    FORMAT,
    ItemIds,
    as_object,
    at,
    is_count,
    loss,
    require,
)
from interleaf.wire.responses.items import ItemWriter, decode_output_item, write_assistant

__all__ = [
    "FALLBACK_ID",
    "decode_output",
    "decode_response",
    "decode_usage",
    "encode_response",
    "encode_usage",
    "status_of",
    "stop_reason",
]

FALLBACK_ID = "resp_interleaf"
"""The ``id`` of a reply from another API that came without one."""

_INCOMPLETE = {"max_output_tokens": "max_tokens", "content_filter": "content_filter"}
_STOP_TO_INCOMPLETE = {
    "max_tokens": "max_output_tokens",
    "model_context_window_exceeded": "max_output_tokens",
    "content_filter": "content_filter",
}
_DETAILS = (
    ("input_tokens_details", "cached_tokens", "cache_read_tokens"),
    ("input_tokens_details", "cache_write_tokens", "cache_write_tokens"),
    ("output_tokens_details", "reasoning_tokens", "reasoning_tokens"),
)
_DETAIL_KEYS = ("input_tokens_details", "output_tokens_details")
_ABSENT: Any = object()


# ------------------------------------------------------------------------------------- stop reason


def stop_reason(status: Any, details: Any, output: Sequence[Any]) -> str | None:
    """The portable stop reason of a response's ``status``, ``incomplete_details`` and ``output``."""
    if status == "completed":
        calls = any(isinstance(item, Mapping) and item.get("type") in CLIENT_CALLS for item in output)
        return "tool_use" if calls else "end_turn"
    if status == "incomplete":
        reason = details.get("reason") if isinstance(details, Mapping) else None
        if isinstance(reason, str):
            return _INCOMPLETE.get(reason, reason)
    return None


def status_of(stop: str | None) -> str | None:
    """The ``status`` a stop reason is written back as; ``None``: no ``status`` field."""
    if stop is None:
        return None
    return "incomplete" if stop in _STOP_TO_INCOMPLETE else "completed"


# -------------------------------------------------------------------------------------------- usage


def decode_usage(data: Any, path: str = "usage") -> Usage:
    """``usage``: the mapped counts; ``total_tokens`` and everything else in ``Usage.extra``."""
    data = as_object(data, path)
    values: dict[str, int] = {}
    extra: JSONDict = {}
    for key, value in data.items():
        if key in ("input_tokens", "output_tokens") and is_count(value):
            values[key] = value
        else:
            extra[key] = value
    for key in _DETAIL_KEYS:
        details = extra.get(key)
        if not isinstance(details, Mapping):
            continue
        mapped = {
            wire: portable for k, wire, portable in _DETAILS if k == key and is_count(details.get(wire))
        }
        if not mapped:
            continue
        values.update((portable, details[wire]) for wire, portable in mapped.items())
        remaining = {k: v for k, v in details.items() if k not in mapped}
        if remaining:
            extra[key] = remaining
        else:  # an object holding only mapped counts is implied by them
            del extra[key]
    return Usage(**values, extra=extra)


def encode_usage(usage: Usage, *, native: bool = True, losses: Losses | None = None) -> JSONDict:
    """``usage`` for a response. From another API every count clients read is written (0 when unknown:
    Codex rejects a usage without them) and ``total_tokens`` is computed."""
    out: JSONDict = {}
    extra = usage.extra if native else {}
    for key in ("input_tokens", "output_tokens"):
        value = getattr(usage, key)
        if value is not None or not native:
            out[key] = value or 0
    for key in _DETAIL_KEYS:
        counts: JSONDict = {}
        for k, wire, portable in _DETAILS:
            value = getattr(usage, portable)
            if value is None and not native and wire != "cache_write_tokens":
                value = 0
            if k == key and value is not None:
                counts[wire] = value
        more = extra.get(key)
        if counts:
            out[key] = {**counts, **(more if isinstance(more, Mapping) else {})}
    for key, value in extra.items():
        if key not in out:
            out[key] = value
    if not native:
        out["total_tokens"] = out["input_tokens"] + out["output_tokens"]
        dropped = sorted(k for k in usage.extra if k != "total_tokens")
        if dropped:
            loss(losses, "usage", f"usage fields {', '.join(dropped)} have no Responses field")
    return out


# ---------------------------------------------------------------------------------------- responses


def decode_output(output: Sequence[Any], path: str = "output") -> list[Block]:
    blocks: list[Block] = []
    for index, item in enumerate(output):
        blocks.extend(decode_output_item(item, at(path, index), blocks[-1] if blocks else None))
    return blocks


def raise_failure(body: Mapping[str, Any]) -> None:
    """Raise StreamServerError for an error body or a response whose ``status`` is ``failed``."""
    raise_error(body)
    if body.get("status") == "failed":
        raise StreamServerError("failed", "the response failed and the server said no more")


def decode_response(body: Any) -> Response:
    """A ``POST /v1/responses`` response body; an error body raises StreamServerError."""
    body = as_object(body, "response")
    raise_failure(body)
    output = require(body, "output", list, "")
    blocks = decode_output(output)
    stop = stop_reason(body.get("status"), body.get("incomplete_details"), output)
    mapped: dict[str, str | None] = {"id": None, "model": None}
    extra: JSONDict = {}
    usage: Usage | None = None
    for key, value in body.items():
        if key in mapped and isinstance(value, str):
            mapped[key] = value
        elif key == "usage" and isinstance(value, Mapping):
            usage = decode_usage(value)
        elif key == "status" and value is not None and status_of(stop) == value:
            continue  # written back from the stop reason
        elif key != "output":
            extra[key] = value
    return Response(
        message=Message(role="assistant", blocks=tuple(blocks)),
        id=mapped["id"],
        model=mapped["model"],
        stop_reason=stop,
        usage=usage,
        extra=extra,
        source=FORMAT,
    )


def encode_response(response: Response, *, losses: Losses | None = None) -> JSONDict:
    """A response to a ``POST /v1/responses`` body.

    A reply from another API gets the fields clients read (``object``, ``created_at``, ``status``,
    ``error``, ``incomplete_details``, item ids and statuses; see :class:`ItemIds`); its own vendor
    fields are reported in ``losses``.
    """
    native = response.source in (FORMAT, None)
    response_id = response.id if response.id is not None or native else FALLBACK_ID
    writer = ItemWriter(
        native=native, reply=True, losses=losses, ids=None if native else ItemIds(response_id)
    )
    output = write_assistant(response.message.blocks, "message", writer)
    status = status_of(response.stop_reason)
    details: Any = _ABSENT
    if response.stop_reason in _STOP_TO_INCOMPLETE:
        details = {"reason": _STOP_TO_INCOMPLETE[response.stop_reason]}
    body: JSONDict = {}
    if response_id is not None:
        body["id"] = response_id
    if not native:
        body.update(object="response", created_at=0)
    if status is not None:
        body["status"] = status
    if not native:
        body["error"] = None
        body["incomplete_details"] = None if details is _ABSENT else details
    elif details is not _ABSENT and "incomplete_details" not in response.extra:
        body["incomplete_details"] = details
    if response.model is not None or not native:
        body["model"] = response.model or ""
    body["output"] = output
    if response.usage is not None:
        body["usage"] = encode_usage(response.usage, native=native, losses=losses)
    if native:
        body.update(response.extra)
    else:
        if response.extra:
            fields = ", ".join(sorted(response.extra))
            loss(losses, "", f"{response.source} response fields {fields} have no Responses meaning")
        if response.stop_sequence is not None:
            loss(losses, "", f"stop_sequence {response.stop_sequence!r} has no Responses field")
    return body
