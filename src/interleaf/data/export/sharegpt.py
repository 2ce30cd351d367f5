"""The ShareGPT layout (as LLaMA-Factory reads it), with thinking kept inline where it was.

A record is ``{"conversations": [{"from": …, "value": …}, …], "system": …, "tools": …}`` with turns
``human``, ``gpt`` (an assistant message without calls), ``function_call`` (an assistant message
that calls tools) and ``observation`` (the results). Every thinking block becomes
``<think>TEXT</think>`` at its place among the message's text, byte for byte; a ``function_call``
value ends with its calls as a JSON array of ``{"name", "arguments"}``; an observation answering
several calls is a JSON array of their result texts. ``tools`` is a JSON string of the declared
tools. Signatures, call ids and vendor fields have no place in the layout and are reported as losses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from interleaf.transcript import (
    Block,
    Conversation,
    JSONDict,
    Message,
    RedactedThinking,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    ToolSpec,
)
from interleaf.wire.errors import Losses, WireFormatError
from interleaf.wire.think import split_think_tags


def encode_sharegpt(conversation: Conversation, losses: Losses | None = None) -> JSONDict:
    """A conversation as one ShareGPT record."""
    turns: list[JSONDict] = []
    system_parts = [part.text for part in conversation.system or ()]
    for index, message in enumerate(conversation.messages):
        path = f"messages[{index}]"
        if message.role == "system":
            system_parts.append(message.text)
        elif message.role == "assistant":
            turns.append(_assistant_turn(message, path, losses))
        else:
            results = message.tool_results
            if results:
                texts = [result.text for result in results]
                value = texts[0] if len(texts) == 1 else json.dumps(texts, ensure_ascii=False)
                turns.append({"from": "observation", "value": value})
            if message.role == "user" and message.text:
                turns.append({"from": "human", "value": message.text})
    record: JSONDict = {"conversations": turns}
    if system_parts:
        record["system"] = "\n\n".join(system_parts)
    if conversation.tools:
        tools = []
        for tool in conversation.tools:
            spec: JSONDict = {"name": tool.name}
            if tool.description is not None:
                spec["description"] = tool.description
            if tool.parameters is not None:
                spec["parameters"] = tool.parameters
            tools.append(spec)
        record["tools"] = json.dumps(tools, ensure_ascii=False)
    return record


def _assistant_turn(message: Message, path: str, losses: Losses | None) -> JSONDict:
    pieces: list[str] = []
    calls: list[JSONDict] = []
    for position, block in enumerate(message.blocks):
        where = f"{path}.blocks[{position}]"
        if isinstance(block, Thinking):
            pieces.append(f"<think>{block.text}</think>")
            if block.signature and losses is not None:
                losses.add(where, "thinking signature dropped: ShareGPT has no place for it")
        elif isinstance(block, Text):
            pieces.append(block.text)
        elif isinstance(block, ToolCall):
            calls.append({"name": block.name, "arguments": block.arguments})
        elif losses is not None:
            what = "redacted thinking" if isinstance(block, RedactedThinking) else f"a {block.kind} block"
            losses.add(where, f"{what} has no ShareGPT form")
    if calls:
        return {"from": "function_call", "value": "".join(pieces) + json.dumps(calls, ensure_ascii=False)}
    return {"from": "gpt", "value": "".join(pieces)}


def decode_sharegpt(record: Mapping[str, Any]) -> Conversation:
    """A ShareGPT record (as :func:`encode_sharegpt` writes it) read back; call ids are new."""
    turns = record.get("conversations")
    if not isinstance(turns, list):
        raise WireFormatError("conversations", "expected a list of turns")
    messages: list[Message] = []
    if isinstance(record.get("system"), str) and record["system"]:
        messages.append(Message(role="system", blocks=(Text(text=record["system"]),), plain=True))
    pending: list[str] = []
    counter = 0
    for index, turn in enumerate(turns):
        path = f"conversations[{index}]"
        if not isinstance(turn, Mapping) or not isinstance(turn.get("value"), str):
            raise WireFormatError(path, "a turn is an object with a string 'value'")
        role, value = turn.get("from"), turn["value"]
        if role in ("human", "user"):
            messages.append(Message(role="user", blocks=(Text(text=value),), plain=True))
        elif role in ("gpt", "assistant"):
            messages.append(Message(role="assistant", blocks=tuple(_inline_blocks(value))))
        elif role == "function_call":
            head, calls = _split_calls(value, path)
            blocks = _inline_blocks(head)
            pending = []
            for call in calls:
                counter += 1
                call_id = f"call_{counter}"
                pending.append(call_id)
                arguments = call.get("arguments", {})
                blocks.append(
                    ToolCall(
                        id=call_id,
                        name=str(call.get("name", "")),
                        arguments=arguments if isinstance(arguments, dict) else {},
                    )
                )
            messages.append(Message(role="assistant", blocks=tuple(blocks)))
        elif role == "observation":
            texts = _observation_texts(value, len(pending))
            results = [
                ToolResult(
                    call_id=pending[i] if i < len(pending) else f"call_{counter + i + 1}", content=text
                )
                for i, text in enumerate(texts)
            ]
            messages.append(Message(role="tool", blocks=tuple(results)))
            pending = []
        else:
            raise WireFormatError(f"{path}.from", f"unknown turn {role!r}")
    tools: tuple[ToolSpec, ...] = ()
    if isinstance(record.get("tools"), str) and record["tools"]:
        try:
            declared = json.loads(record["tools"])
        except json.JSONDecodeError as exc:
            raise WireFormatError("tools", f"not a JSON string of tools ({exc.msg})") from None
        tools = tuple(
            ToolSpec(name=str(t["name"]), description=t.get("description"), parameters=t.get("parameters"))
            for t in declared
            if isinstance(t, dict) and "name" in t
        )
    return Conversation(messages=tuple(messages), tools=tools, source="sharegpt")


def _inline_blocks(value: str) -> list[Block]:
    # The one <think> splitter (interleaf.wire.think), so an exported record reads back as the codecs
    # and the gateway read the same text.
    return list(split_think_tags(value))


def _split_calls(value: str, path: str) -> tuple[str, list[JSONDict]]:
    """The text before the trailing JSON array of calls, and the calls."""
    last_think = value.rfind("</think>")
    start = 0 if last_think == -1 else last_think + len("</think>")
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", value[start:]):
        offset = start + match.start()
        try:
            calls, end = decoder.raw_decode(value, offset)
        except json.JSONDecodeError:
            continue
        if end == len(value):
            listed = calls if isinstance(calls, list) else [calls]
            return value[:offset], [c for c in listed if isinstance(c, dict)]
    raise WireFormatError(path, "a function_call turn ends with its calls as JSON")


def _observation_texts(value: str, expected: int) -> list[str]:
    if expected > 1:
        try:
            texts = json.loads(value)
        except json.JSONDecodeError:
            return [value]
        if isinstance(texts, list) and len(texts) == expected and all(isinstance(t, str) for t in texts):
            return texts
    return [value]
