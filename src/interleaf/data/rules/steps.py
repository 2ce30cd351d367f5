"""Rules about the steps: loops, tool calls that cannot run, failures the model walked past."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from interleaf.data import text as tx
from interleaf.data.rules.base import ACKNOWLEDGE, first_line, is_error_result
from interleaf.transcript import Conversation, Thinking, ToolCall


def _call_key(call: ToolCall) -> str:
    if call.arguments_error is not None and call.raw_arguments is not None:
        return f"{call.name} {call.raw_arguments}"
    return f"{call.name} {json.dumps(call.arguments, sort_keys=True, ensure_ascii=False)}"


def repeated_steps(conversation: Conversation, params: Mapping[str, Any]) -> list[str]:
    """Loops: the same call (name and arguments) in ``max_consecutive`` steps in a row or
    ``max_total`` times in all; the same thinking block in two steps; a line of thinking repeated
    ``max_line_repeats`` times."""
    found = []
    steps = tx.assistant_messages(conversation)
    run, previous, totals = 1, None, Counter[str]()
    for index, message in steps:
        keys = sorted(_call_key(call) for call in message.tool_calls)
        for key in keys:
            totals[key] += 1
        signature = "\n".join(keys) if keys else None
        run = run + 1 if signature is not None and signature == previous else 1
        previous = signature
        if run == int(params["max_consecutive"]):
            found.append(f"messages[{index}]: the same call in {run} steps in a row ({tx.clip(keys[0], 60)})")
    for key, count in totals.items():
        if count >= int(params["max_total"]):
            found.append(f"the call {tx.clip(key, 60)!r} is made {count} times")
    blocks = Counter(
        span.text.strip() for span in tx.thinking_spans(conversation) if len(span.text.strip()) >= 40
    )
    found.extend(
        f"the same thinking appears in {count} steps ({tx.clip(text, 50)!r})"
        for text, count in blocks.items()
        if count > 1
    )
    lines: Counter[str] = Counter()
    for span in tx.thinking_spans(conversation):
        for line in span.text.splitlines():
            normalized = re.sub(r"\s+", " ", line.strip().lower())
            if len(normalized) >= 20:
                lines[normalized] += 1
    found.extend(
        f"a line of thinking repeats {count} times ({tx.clip(line, 50)!r})"
        for line, count in lines.items()
        if count >= int(params["max_line_repeats"])
    )
    return found


def tool_call_invalid_json(conversation: Conversation, params: Mapping[str, Any]) -> list[str]:
    """Tool calls whose arguments are not a JSON object."""
    found = []
    for index, message in tx.assistant_messages(conversation):
        for position, block in enumerate(message.blocks):
            if isinstance(block, ToolCall) and block.arguments_error is not None:
                found.append(f"messages[{index}].blocks[{position}]: {block.name}: {block.arguments_error}")
    return found


def tool_call_unknown(conversation: Conversation, params: Mapping[str, Any]) -> list[str]:
    """Calls of tools the conversation does not declare (checked only when it declares tools)."""
    declared = {tool.name for tool in conversation.tools}
    if not declared:
        return []
    return [
        f"messages[{index}]: calls {call.name!r}, which is not among the {len(declared)} declared tools"
        for index, call in tx.tool_calls(conversation)
        if call.name not in declared
    ]


def error_unhandled(conversation: Conversation, params: Mapping[str, Any]) -> list[str]:
    """A failed tool call that the next step ignores: its thinking and text neither acknowledge a
    failure nor mention the error; or the trajectory ends right after the failure."""
    found = []
    messages = conversation.messages
    calls = {call.id: call for _, call in tx.tool_calls(conversation)}
    for index, result in tx.tool_results(conversation):
        if not is_error_result(result):
            continue
        name = calls[result.call_id].name if result.call_id in calls else "a tool"
        error = first_line(result.text) or "an error"
        following = next(
            ((i, m) for i, m in enumerate(messages) if i > index and m.role == "assistant"), None
        )
        if following is None:
            if index == len(messages) - 1:
                found.append(
                    f"messages[{index}]: the {name} call failed ({error}) and the trajectory ends there"
                )
            continue
        reply_index, reply = following
        said = "\n".join([*(b.text for b in reply.blocks if isinstance(b, Thinking)), reply.text])
        if ACKNOWLEDGE.search(said) or _mentions(said, result.text):
            continue
        found.append(f"messages[{reply_index}]: ignores the failed {name} call ({error})")
    return found


def _mentions(said: str, error: str) -> bool:
    """Whether a reply names something distinctive from the error (an exception, a file name)."""
    distinctive = {
        word
        for word in re.findall(r"[A-Za-z_][\w.\-/]{5,}", first_line(error, 300))
        if any(ch.isupper() for ch in word[1:]) or "." in word or "/" in word or "_" in word
    }
    return any(word in said for word in distinctive)
