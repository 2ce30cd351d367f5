"""What :class:`~interleaf.wire.responses.restream.StreamEncoder` has sent a Responses client: its
output items and their parts as the client assembles them, and the event payloads that build them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from interleaf.transcript import JSONDict
from interleaf.wire.responses.common import PLAIN_ASSISTANT

__all__ = ["Emitter", "ItemKind", "OutItem", "Part", "reasoning_part_events", "same_json"]

ItemKind = Literal["message", "reasoning", "function_call", "item"]


@dataclass
class Part:
    """A content part (message), the reasoning_text part live thinking goes in, or call arguments."""

    kind: str
    sent: list[str] = field(default_factory=list)
    final: JSONDict | None = None


@dataclass
class OutItem:
    """One output item as the client has it: announced at ``index``, done once ``final`` is set."""

    index: int
    kind: ItemKind
    skeleton: JSONDict
    parts: list[Part] = field(default_factory=list)
    fields: Mapping[str, Any] | None = None  # message: its own fields, from its first Text (native)
    plain: bool = False  # message: its content is one string (native)
    adopted: bool = False  # function call: its arguments are the text the live deltas carried
    accepting: bool = False  # message: later text blocks still join it
    final: JSONDict | None = None

    @property
    def item_id(self) -> str:
        value = self.skeleton.get("id", self.skeleton.get("call_id"))
        return value if isinstance(value, str) else ""

    def message(self, *, native: bool) -> JSONDict:
        """The final message item of parts that are all done."""
        if native:
            final: JSONDict = {**(self.fields if self.fields is not None else PLAIN_ASSISTANT)}
        else:
            final = {k: v for k, v in self.skeleton.items() if k != "content"}
            final.update(status="completed", role="assistant")
        final["content"] = [p.final for p in self.parts]
        if self.plain and self.parts and self.parts[0].final is not None:
            final["content"] = self.parts[0].final.get("text", "")
        return final

    def unfinished(self) -> JSONDict:
        """The final item of a reasoning item or call whose block never ended: what was sent."""
        if self.kind == "function_call":
            return {**self.skeleton, "arguments": "".join(self.parts[0].sent), "status": "incomplete"}
        content = [p.final for p in self.parts]
        return {**self.skeleton, **({"content": content} if content else {})}


class Emitter:
    """Event payloads, numbered in the order they are made."""

    def __init__(self) -> None:
        self.sequence = 0

    def event(self, kind: str, **fields: Any) -> JSONDict:
        payload: JSONDict = {"type": kind, **fields, "sequence_number": self.sequence}
        self.sequence += 1
        return payload

    def part(self, kind: str, item: OutItem, position: int, **fields: Any) -> JSONDict:
        """An event about a content part of ``item``."""
        return self.event(
            kind, item_id=item.item_id, output_index=item.index, content_index=position, **fields
        )

    def call(self, kind: str, item: OutItem, **fields: Any) -> JSONDict:
        """An event about the arguments of a function call item."""
        return self.event(kind, item_id=item.item_id, output_index=item.index, **fields)


def reasoning_part_events(emit: Emitter, item: OutItem, final: Mapping[str, Any]) -> list[JSONDict]:
    """The part events of a reasoning item sent whole: its reasoning_text parts, then its summary."""
    out: list[JSONDict] = []
    for position, part in enumerate(_parts(final.get("content"))):
        text = part["text"] if isinstance(part.get("text"), str) else ""
        out.append(emit.part("response.content_part.added", item, position, part={**part, "text": ""}))
        if text:
            out.append(emit.part("response.reasoning_text.delta", item, position, delta=text))
        out.append(emit.part("response.reasoning_text.done", item, position, text=text))
        out.append(emit.part("response.content_part.done", item, position, part=dict(part)))
    for position, part in enumerate(_parts(final.get("summary"))):
        text = part["text"] if isinstance(part.get("text"), str) else ""
        at: JSONDict = {"item_id": item.item_id, "output_index": item.index, "summary_index": position}
        out.append(emit.event("response.reasoning_summary_part.added", **at, part={**part, "text": ""}))
        if text:
            out.append(emit.event("response.reasoning_summary_text.delta", **at, delta=text))
        out.append(emit.event("response.reasoning_summary_text.done", **at, text=text))
        out.append(emit.event("response.reasoning_summary_part.done", **at, part=dict(part)))
    return out


def same_json(text: str, value: Any) -> bool:
    """Whether ``text`` is JSON for ``value``."""
    try:
        return bool(json.loads(text) == value)
    except ValueError:
        return False


def _parts(value: Any) -> list[Mapping[str, Any]]:
    return [p for p in value if isinstance(p, Mapping)] if isinstance(value, list) else []
