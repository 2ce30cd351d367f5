"""JSON in and out of the gateway, safe for every input a client or upstream can send.

* :func:`json_bytes`: compact UTF-8 JSON; a value holding a lone surrogate (a ``"\\ud800"`` escape,
  valid JSON that no UTF-8 encoder accepts) is written with ASCII escapes instead, which is the same
  JSON value: the peer gets exactly what was sent, never a 500.
* :func:`loads`: JSON bytes parsed, exactly as :func:`json.loads` parses them, about three times faster
  (:mod:`interleaf.wire.jsonread`).
* :func:`loads_body`: a request body parsed, with every way parsing fails as one :class:`BodyError`.
"""

from __future__ import annotations

import json
from typing import Any

from interleaf.wire.jsonread import loads

__all__ = ["BodyError", "json_bytes", "json_text", "loads", "loads_body"]

# json.dumps with options builds an encoder per call; these are shared (encoding keeps no state in them).
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_COMPACT_ASCII = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))


def json_bytes(value: Any) -> bytes:
    """``value`` as compact JSON bytes (UTF-8; ASCII escapes when it holds a lone surrogate)."""
    text = _COMPACT.encode(value)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return _COMPACT_ASCII.encode(value).encode()


def json_text(value: Any) -> str:
    """``value`` as compact JSON text that is always encodable as UTF-8 (see :func:`json_bytes`)."""
    text = _COMPACT.encode(value)
    try:
        text.encode()
    except UnicodeEncodeError:
        return _COMPACT_ASCII.encode(value)
    return text


class BodyError(ValueError):
    """The request body is not a JSON object the gateway can read; the message says why."""


def loads_body(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; :class:`BodyError` when it is not JSON, not an object, or nested
    deeper than the parser allows."""
    try:
        body = loads(raw)
    except RecursionError:
        raise BodyError(
            "the request body nests JSON deeper than this gateway reads (about 1,000 levels)"
        ) from None
    except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not UTF-8
        raise BodyError(f"the request body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise BodyError(f"the request body must be a JSON object, not {type(body).__name__}")
    return body
