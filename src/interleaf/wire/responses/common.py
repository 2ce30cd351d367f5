"""Names and small helpers every module of the Responses codec shares.

The transcript has no slot for some Responses structure, so the codec records it in ``extra`` under
keys that cannot be wire fields (they contain a colon):

* :data:`MESSAGE_FIELDS` on the first ``Text`` of an assistant ``message`` item: the item's own fields
  (``type``, ``id``, ``status``, ``role``, ``phase``, unknown ones), everything but ``content``. It is
  written only when the item is not the plain ``{"type": "message", "role": "assistant"}`` form, or
  when it directly follows another message item, so the encoder knows where one item ends;
* :data:`PLAIN` beside it: that item's ``content`` was a string, not a list of parts;
* :data:`INPUT_SHAPE` in ``Conversation.extra``: ``input`` was a string (``"text"``), ``null`` or absent.

Per-block records survive what the gateway does to a history (inserting restored reasoning items),
which a per-message layout would not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from interleaf.transcript import Block, Opaque
from interleaf.wire.errors import Losses
from interleaf.wire.openai_messages import (
    THINKING_SEPARATOR,
    as_object,
    at,
    kind_of,
    merge_extra,
    require,
    rest,
)

__all__ = [
    "CLIENT_CALLS",
    "FORMAT",
    "INPUT_SHAPE",
    "MESSAGE_FIELDS",
    "PART_SOURCE",
    "PLAIN",
    "PLAIN_ASSISTANT",
    "SEPARATOR",
    "TOOL_OUTPUTS",
    "ItemIds",
    "as_object",
    "at",
    "describe",
    "foreign_fields",
    "is_count",
    "kind_of",
    "loss",
    "merge_extra",
    "parse_data_url",
    "require",
    "rest",
]

FORMAT: Final = "responses"
"""``Conversation.source`` / ``Response.source`` and ``Opaque.source`` of a whole input or output item."""
PART_SOURCE: Final = "responses.content"
"""``Opaque.source`` of one content part of a message item that interleaf does not model."""

MESSAGE_FIELDS: Final = "interleaf:message"
PLAIN: Final = "interleaf:plain"
INPUT_SHAPE: Final = "interleaf:input"
PLAIN_ASSISTANT: Final[dict[str, Any]] = {"type": "message", "role": "assistant"}
"""The fields of an assistant message item that need no record (how Codex writes them)."""

SEPARATOR: Final = THINKING_SEPARATOR
"""Joins the text of several summary or reasoning_text parts into one thinking text."""

TOOL_OUTPUTS: Final = frozenset(
    {
        "function_call_output",
        "custom_tool_call_output",
        "computer_call_output",
        "local_shell_call_output",
        "shell_call_output",
        "apply_patch_call_output",
        "mcp_approval_response",
    }
)
"""Input item types the client writes to answer a call: they form ``tool`` messages. Every other
item type that is not a message is the model's (or its server's) and joins the assistant message."""

CLIENT_CALLS: Final = frozenset(
    {
        "function_call",
        "custom_tool_call",
        "local_shell_call",
        "shell_call",
        "apply_patch_call",
        "computer_call",
        "mcp_approval_request",
    }
)
"""Output item types that wait for the client: a completed reply holding one stops for ``tool_use``."""

_DATA_URL = re.compile(r"data:([^;,]*);base64,(.*)", re.DOTALL)


class ItemIds:
    """Ids for the items of a reply from another API: ``msg_<response id>_<n>``, ``rs_<response id>_<n>``.

    Only replies get them, never requests: the official SDK tells a reply's items apart by type and
    id, so two reasoning items without one make its stream helper fail. The body and the stream of a
    reply draw them in the same order, so they agree.
    """

    def __init__(self, response_id: str | None) -> None:
        self._token = re.sub(r"[^A-Za-z0-9]", "", response_id or "") or "interleaf"
        self._counts: dict[str, int] = {}

    def __call__(self, prefix: str) -> str:
        number = self._counts.get(prefix, 0)
        self._counts[prefix] = number + 1
        return f"{prefix}_{self._token}_{number}"


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a ``data:`` URL, or ``None`` for any other URL."""
    match = _DATA_URL.fullmatch(url)
    return None if match is None else (match[1], match[2])


def loss(losses: Losses | None, path: str, what: str) -> None:
    if losses is not None:
        losses.add(path, what)


def describe(block: Block) -> str:
    """How a loss names a block: ``a redacted thinking block``, ``an anthropic block of type 'x'``."""
    if isinstance(block, Opaque):
        kind = block.data.get("type") if isinstance(block.data, Mapping) else None
        return f"a {block.source} block of type {kind!r}"
    return "a " + block.kind.replace("_", " ") + " block"


def foreign_fields(extra: Mapping[str, Any], path: str, losses: Losses | None, *skip: str) -> None:
    """Report another format's vendor fields, which never go to Responses."""
    dropped = sorted(key for key, value in extra.items() if value is not None and key not in skip)
    if dropped:
        loss(losses, path, f"fields {', '.join(dropped)} from another format have no Responses slot")
