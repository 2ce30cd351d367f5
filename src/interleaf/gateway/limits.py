"""Bounds on the work one request can make the gateway do.

Every check the gateway runs on client-supplied values is linear in their size; these limits bound the
sizes on top of ``--max-body``, so no request can hold the event loop for long (one event loop serves
every client: a request that costs a second of CPU stalls all of them for that second). They are
checked on the decoded conversation, which is where the gateway does per-item work (keys, restoration,
translation); a request that passes through undecoded costs a JSON parse and a scan, both linear.

The limits are far above what real apps send (docs/gateway.md, "Limits"): a long Claude Code session
has a few thousand messages, ids are under 100 characters, tool-call arguments a few kilobytes deep at
most a dozen levels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from interleaf.transcript import Conversation, ToolCall


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may hold. Exceeding one is a 400 naming the limit."""

    max_messages: int = 20_000
    max_tools: int = 2_000
    max_id_chars: int = 512
    """Tool-call and tool-result ids."""
    max_name_chars: int = 512
    """Tool names (MCP tools are named ``mcp__server__tool``)."""
    max_depth: int = 128
    """Nesting of tool-call arguments (objects and arrays)."""


DEFAULT_LIMITS = Limits()


class LimitExceeded(ValueError):
    """A request over a limit; the message names the item, the limit and the size."""


def check_conversation(conversation: Conversation, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise :class:`LimitExceeded` for the first item of ``conversation`` over ``limits``."""
    if len(conversation.messages) > limits.max_messages:
        raise LimitExceeded(
            f"the request has {len(conversation.messages)} messages, over this gateway's limit of "
            f"{limits.max_messages}; compact the conversation"
        )
    if len(conversation.tools) > limits.max_tools:
        raise LimitExceeded(
            f"the request declares {len(conversation.tools)} tools, over the limit of {limits.max_tools}"
        )
    for tool in conversation.tools:
        _check_name(tool.name, "a tool name", limits)
    for index, message in enumerate(conversation.messages):
        for block in message.blocks:
            if isinstance(block, ToolCall):
                _check_id(block.id, f"messages[{index}]: a tool-call id", limits)
                _check_name(block.name, f"messages[{index}]: a tool-call name", limits)
                depth = nesting_depth(block.arguments, limits.max_depth)
                if depth > limits.max_depth:
                    raise LimitExceeded(
                        f"messages[{index}]: the arguments of tool call {block.name[:64]!r} nest deeper than "
                        f"{limits.max_depth} levels"
                    )
            elif block.kind == "tool_result":
                _check_id(block.call_id, f"messages[{index}]: a tool-result id", limits)


def _check_id(value: str, what: str, limits: Limits) -> None:
    if len(value) > limits.max_id_chars:
        raise LimitExceeded(
            f"{what} is {len(value)} characters long, over the limit of {limits.max_id_chars}"
        )


def _check_name(value: str, what: str, limits: Limits) -> None:
    if len(value) > limits.max_name_chars:
        raise LimitExceeded(
            f"{what} is {len(value)} characters long, over the limit of {limits.max_name_chars}"
        )


def nesting_depth(value: Any, stop_after: int) -> int:
    """How deep ``value`` nests (a scalar is 0, ``{}`` is 1), without recursion; stops counting once
    past ``stop_after`` (the answer is then ``stop_after + 1``)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            depth += 1
            if depth > stop_after:
                return depth
            deepest = max(deepest, depth)
            stack.extend((child, depth) for child in _children(item))
    return deepest


def _children(item: dict[str, Any] | list[Any]) -> Iterator[Any]:
    values = item.values() if isinstance(item, dict) else item
    return (v for v in values if isinstance(v, dict | list))
