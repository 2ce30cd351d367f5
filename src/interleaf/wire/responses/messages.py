"""The ``input`` list of a Responses request as transcript messages, and back.

Grouping: ``user``, ``system`` and ``developer`` messages are messages of their own (``developer`` is a
``system`` message with ``extra["role"] = "developer"``, as in the OpenAI Chat codec); a run of
model-side items (reasoning, assistant messages, function calls, other calls) is ONE assistant message
whose blocks keep the item order; a run of tool outputs (``function_call_output`` and the other
``*_output`` items a client writes) is one ``tool`` message. Encoding writes the items back in block
order, so the list comes back item for item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from interleaf.transcript import Block, JSONDict, Message, Opaque, Text, ToolResult
from interleaf.wire.errors import Losses, WireFormatError
from interleaf.wire.responses.common import (
    FORMAT,
    TOOL_OUTPUTS,
    as_object,
    at,
    foreign_fields,
    kind_of,
    loss,
    merge_extra,
    rest,
)
from interleaf.wire.responses.content import decode_input_part, encode_input_part
from interleaf.wire.responses.items import (
    ItemWriter,
    decode_output_item,
    decode_tool_output,
    encode_tool_result,
    write_assistant,
)

__all__ = ["decode_input", "message_starts", "write_input"]

_SIMPLE_ROLES = ("user", "system", "developer")
_ABSENT: Any = object()
Side = Literal["assistant", "tool"]


def decode_input(items: Sequence[Any], path: str = "input") -> list[Message]:
    """The items of ``input`` as messages (see the module docstring for the grouping)."""
    messages: list[Message] = []
    run: list[Block] = []
    side: Side | None = None

    def flush() -> None:
        if side is not None and run:
            messages.append(Message(role=side, blocks=tuple(run)))

    for index, raw in enumerate(items):
        ipath = at(path, index)
        item = as_object(raw, ipath)
        kind = item.get("type")
        if kind is not None and not isinstance(kind, str):
            raise WireFormatError(at(ipath, "type"), f"expected a string, got {kind_of(kind)}")
        role = item.get("role")
        if _own_message(item):
            if role not in _SIMPLE_ROLES:
                raise WireFormatError(
                    at(ipath, "role"),
                    f"expected user, system, developer or assistant, got {role!r}",
                )
            flush()
            run, side = [], None
            messages.append(_decode_simple(item, ipath))
            continue
        new_side: Side = "tool" if kind in TOOL_OUTPUTS else "assistant"
        if new_side != side:
            flush()
            run, side = [], new_side
        if new_side == "tool":
            run.append(decode_tool_output(item, ipath))
        else:
            run.extend(decode_output_item(item, ipath, run[-1] if run else None))
    flush()
    return messages


def _own_message(item: Mapping[str, Any]) -> bool:
    """A user, system or developer message: a message of its own, not part of a run."""
    kind = item.get("type")
    return (kind == "message" or (kind is None and "role" in item)) and item.get("role") != "assistant"


def message_starts(items: Sequence[Any]) -> list[int]:
    """For each message :func:`decode_input` makes of ``items``, the index of its first item (to name a
    decoded message by the client's own ``input[i]``). Items that are not objects count as their own."""
    starts: list[int] = []
    side: Side | None = None
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or _own_message(item):
            starts.append(index)
            side = None
            continue
        new_side: Side = "tool" if item.get("type") in TOOL_OUTPUTS else "assistant"
        if new_side != side:
            starts.append(index)
            side = new_side
    return starts


def _decode_simple(item: Mapping[str, Any], path: str) -> Message:
    role = item["role"]
    extra: JSONDict = {"role": "developer"} if role == "developer" else {}
    extra.update(rest(item, "role", "content"))
    content = item.get("content", _ABSENT)
    if isinstance(content, str):
        return Message(
            role="user" if role == "user" else "system", blocks=(Text(text=content),), plain=True, extra=extra
        )
    if content is _ABSENT:
        raise WireFormatError(at(path, "content"), "required field is missing")
    if not isinstance(content, list):
        raise WireFormatError(
            at(path, "content"), f"expected a string or a list of parts, got {kind_of(content)}"
        )
    cpath = at(path, "content")
    blocks = tuple(decode_input_part(part, at(cpath, j)) for j, part in enumerate(content))
    return Message(role="user" if role == "user" else "system", blocks=blocks, extra=extra)


def write_input(messages: Sequence[Message], *, native: bool, losses: Losses | None) -> list[JSONDict]:
    """The ``input`` items of ``messages``; ``native`` as in :class:`ItemWriter`."""
    writer = ItemWriter(native=native, losses=losses)
    items: list[JSONDict] = []
    for index, message in enumerate(messages):
        path = f"messages[{index}]"
        if message.name is not None:
            loss(losses, path, f"message name {message.name!r} has no Responses slot")
        if message.role == "assistant":
            if message.extra:
                foreign_fields(message.extra, path, losses)
            items.extend(write_assistant(message.blocks, path, writer))
            continue
        if message.role == "tool" or any(_is_tool_side(b) for b in message.blocks):
            for position, block in enumerate(message.blocks):
                bpath = at(at(path, "blocks"), position)
                if isinstance(block, ToolResult):
                    items.append(encode_tool_result(block, bpath, native=native, losses=losses))
                elif isinstance(block, Opaque) and block.source == FORMAT:
                    items.append(dict(block.data))
            others = tuple(b for b in message.blocks if not _is_tool_side(b))
            if others:  # what an Anthropic user message held beside its results
                items.append(_write_simple(Message(role="user", blocks=others), path, native, losses))
            continue
        items.append(_write_simple(message, path, native, losses))
    return items


def _is_tool_side(block: Block) -> bool:
    return isinstance(block, ToolResult) or (isinstance(block, Opaque) and block.source == FORMAT)


def _write_simple(message: Message, path: str, native: bool, losses: Losses | None) -> JSONDict:
    extra = message.extra if native else {}
    developer = message.role == "system" and message.extra.get("role") == "developer"
    out: JSONDict = {}
    if "type" in extra:
        out["type"] = extra["type"]
    out["role"] = "developer" if developer else message.role
    blocks = message.blocks
    single = blocks[0] if len(blocks) == 1 and isinstance(blocks[0], Text) else None
    if single is not None and (not native or (message.plain and not single.extra)):
        out["content"] = single.text  # another API's single text: the string every server reads
        if not native:
            foreign_fields(single.extra, at(at(path, "blocks"), 0), losses)
    elif not blocks and not native:
        out["content"] = ""
    else:
        parts = (
            encode_input_part(b, at(at(path, "blocks"), i), native=native, losses=losses)
            for i, b in enumerate(blocks)
        )
        out["content"] = [p for p in parts if p is not None]
    if native:
        merge_extra(out, extra, "role")
    else:
        foreign_fields(rest(message.extra, "role"), path, losses)
    return out
