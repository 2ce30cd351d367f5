"""Structural checks of request bodies in each wire API, independent of interleaf's codecs.

A check returns the problems it found (empty: well-formed), each naming where and what, e.g.
``messages[3].content[0]: tool_result for toolu_1 answers no tool_use of messages[2]``. They encode
the rules the real servers enforce and that a translating gateway can break: roles each API knows,
block and item types with their required fields, every tool result answering a call made before it,
thinking only in the field the upstream reads back. They do not judge texts or settings.

Sources: the Anthropic Messages API reference (docs.anthropic.com/en/api/messages), the OpenAI Chat
Completions and Responses references (platform.openai.com/docs/api-reference); for the Chat ``thinking``
field, DeepSeek's and Kimi's thinking-mode guides (docs/architecture.md §4.2).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

REASONING_FIELDS = ("reasoning_content", "reasoning", "reasoning_details")

_ANTHROPIC_BLOCKS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "image": ("source",),
    "document": ("source",),
    "thinking": ("thinking", "signature"),
    "redacted_thinking": ("data",),
    "tool_use": ("id", "name", "input"),
    "tool_result": ("tool_use_id",),
    "server_tool_use": ("id", "name", "input"),
    "web_search_tool_result": ("tool_use_id", "content"),
    "search_result": ("source", "title", "content"),
}
_CHAT_ROLES = ("system", "developer", "user", "assistant", "tool")
_CHAT_PARTS = ("text", "image_url", "input_audio", "file", "refusal")
_RESPONSES_ROLES = ("system", "developer", "user", "assistant")
_RESPONSES_PARTS = ("input_text", "input_image", "input_file", "output_text", "refusal", "input_audio")


def _objects(
    name: str, items: list[Any], problems: list[str]
) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
    """Each item of the list ``name`` that is a JSON object, with its index and where it is; the others
    are problems."""
    for index, item in enumerate(items):
        where = f"{name}[{index}]"
        if isinstance(item, Mapping):
            yield index, where, item
        else:
            problems.append(f"{where}: not an object")


def request_problems(api: str, body: Any, *, thinking_in: str | None = None) -> list[str]:
    """Problems of ``body`` as a request of ``api`` (``anthropic``, ``openai-chat``,
    ``openai-responses``). For ``openai-chat``, ``thinking_in`` is the one message field the upstream
    reads earlier thinking from (``content`` for inline ``<think>``, so no reasoning field at all);
    thinking in any other field is a problem. ``None``: where thinking travels is not checked."""
    if not isinstance(body, Mapping):
        return [f"the body is {type(body).__name__}, not a JSON object"]
    problems: list[str] = []
    if not isinstance(body.get("model"), str) or not body["model"]:
        problems.append("model: missing or not a string")
    if "stream" in body and not isinstance(body["stream"], bool):
        problems.append(f"stream: {body['stream']!r} is not a boolean")
    if api == "anthropic":
        problems.extend(_anthropic(body))
    elif api == "openai-chat":
        problems.extend(_chat(body, thinking_in))
    elif api == "openai-responses":
        problems.extend(_responses(body))
    else:
        raise ValueError(f"unknown wire API {api!r}; use anthropic, openai-chat or openai-responses")
    return problems


# ------------------------------------------------------------------------------------- Anthropic


def _anthropic(body: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        problems.append(f"max_tokens: {max_tokens!r} is not a positive integer")
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        problems.extend(_anthropic_blocks("system", system, allowed=("text",)))
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*problems, "messages: missing, empty or not a list"]
    calls_before: set[str] = set()
    for index, where, message in _objects("messages", messages, problems):
        role = message.get("role")
        if role not in ("user", "assistant"):
            problems.append(f"{where}: role {role!r} is not user or assistant")
        content = message.get("content")
        if isinstance(content, str):
            calls_before = set()
            continue
        problems.extend(_anthropic_blocks(where + ".content", content))
        blocks = [b for b in content if isinstance(b, Mapping)] if isinstance(content, list) else []
        for position, block in enumerate(blocks):
            if block.get("type") == "tool_result" and block.get("tool_use_id") not in calls_before:
                problems.append(
                    f"{where}.content[{position}]: tool_result for {block.get('tool_use_id')!r} answers "
                    f"no tool_use of messages[{index - 1}]"
                )
        calls_before = {
            b["id"] for b in blocks if b.get("type") == "tool_use" and isinstance(b.get("id"), str)
        }
    return problems


def _anthropic_blocks(where: str, content: Any, allowed: tuple[str, ...] | None = None) -> list[str]:
    if not isinstance(content, list):
        return [f"{where}: {type(content).__name__}, not a string or a list of blocks"]
    problems: list[str] = []
    for position, block in enumerate(content):
        at = f"{where}[{position}]"
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind not in _ANTHROPIC_BLOCKS or (allowed is not None and kind not in allowed):
            problems.append(f"{at}: block type {kind!r} is not one this request may carry")
            continue
        assert isinstance(block, Mapping)
        for name in _ANTHROPIC_BLOCKS[kind]:
            if name not in block:
                problems.append(f"{at}: {kind} block without {name!r}")
        if kind == "tool_use" and not isinstance(block.get("input"), Mapping):
            problems.append(f"{at}: tool_use input is {type(block.get('input')).__name__}, not an object")
        if kind == "text" and not isinstance(block.get("text"), str):
            problems.append(f"{at}: text is not a string")
    return problems


# ------------------------------------------------------------------------------------ OpenAI Chat


def _chat(body: Mapping[str, Any], thinking_in: str | None) -> list[str]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return ["messages: missing, empty or not a list"]
    problems: list[str] = []
    # The servers that read `thinking` in a Chat request (DeepSeek, Kimi, GLM) know these two types.
    thinking = body.get("thinking")
    if "thinking" in body and not (
        isinstance(thinking, Mapping) and thinking.get("type") in ("enabled", "disabled")
    ):
        problems.append(f"thinking: {thinking!r} is not {{'type': 'enabled' | 'disabled', ...}}")
    open_calls: set[str] = set()
    for _, where, message in _objects("messages", messages, problems):
        role = message.get("role")
        if role not in _CHAT_ROLES:
            problems.append(f"{where}: role {role!r} is not one of {', '.join(_CHAT_ROLES)}")
            continue
        if role == "tool":
            call = message.get("tool_call_id")
            if call not in open_calls:
                problems.append(f"{where}: tool message for {call!r} answers no earlier tool call")
            open_calls.discard(call)
            problems.extend(_chat_content(where, message.get("content"), required=True))
            continue
        open_calls = set()
        if role != "assistant":
            problems.extend(_chat_content(where, message.get("content"), required=True))
            continue
        problems.extend(_chat_content(where, message.get("content"), required=False))
        calls = message.get("tool_calls")
        if calls is not None:
            problems.extend(_chat_calls(where, calls))
            open_calls = {c["id"] for c in calls if isinstance(c, Mapping) and isinstance(c.get("id"), str)}
        if message.get("content") in (None, "", []) and not calls and not _carries_reasoning(message):
            problems.append(f"{where}: assistant message with no content, tool calls or reasoning")
        for name in REASONING_FIELDS if thinking_in is not None else ():
            if name in message and name != thinking_in:
                problems.append(f"{where}: thinking in {name!r}, which this upstream does not read back")
    return problems


def _carries_reasoning(message: Mapping[str, Any]) -> bool:
    return any(message.get(name) for name in REASONING_FIELDS)


def _chat_content(where: str, content: Any, *, required: bool) -> list[str]:
    if content is None:
        return [f"{where}: content missing"] if required else []
    if isinstance(content, str):
        return []
    if not isinstance(content, list):
        return [f"{where}.content: {type(content).__name__}, not a string or a list of parts"]
    problems = []
    for position, part in enumerate(content):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind not in _CHAT_PARTS:
            problems.append(f"{where}.content[{position}]: part type {kind!r} is not a Chat content part")
        elif kind == "text" and not isinstance(part.get("text"), str):
            problems.append(f"{where}.content[{position}]: text is not a string")
    return problems


def _chat_calls(where: str, calls: Any) -> list[str]:
    if not isinstance(calls, list):
        return [f"{where}.tool_calls: not a list"]
    problems = []
    for position, call in enumerate(calls):
        at = f"{where}.tool_calls[{position}]"
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(call, Mapping) or not isinstance(call.get("id"), str):
            problems.append(f"{at}: without a string id")
        elif call.get("type") != "function" or not isinstance(function, Mapping):
            problems.append(f"{at}: not a function call")
        elif not isinstance(function.get("name"), str) or not isinstance(function.get("arguments"), str):
            problems.append(f"{at}: function name and arguments must be strings")
    return problems


# -------------------------------------------------------------------------------------- Responses


def _responses(body: Mapping[str, Any]) -> list[str]:
    items = body.get("input")
    if isinstance(items, str):
        return []
    if not isinstance(items, list) or not items:
        return ["input: missing, empty, or neither a string nor a list of items"]
    problems: list[str] = []
    calls: set[str] = set()
    for _, where, item in _objects("input", items, problems):
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            problems.extend(_responses_message(where, item))
        elif kind == "reasoning":
            if not isinstance(item.get("summary"), list):
                problems.append(f"{where}: reasoning item without a summary list")
        elif kind == "function_call":
            if not all(isinstance(item.get(k), str) for k in ("call_id", "name", "arguments")):
                problems.append(f"{where}: function_call needs string call_id, name and arguments")
            calls.add(str(item.get("call_id")))
        elif kind == "function_call_output":
            if item.get("call_id") not in calls:
                problems.append(f"{where}: output for {item.get('call_id')!r} answers no earlier call")
        elif kind not in ("custom_tool_call", "custom_tool_call_output", "item_reference"):
            problems.append(f"{where}: item type {kind!r} is not a Responses input item")
    return problems


def _responses_message(where: str, item: Mapping[str, Any]) -> list[str]:
    role = item.get("role")
    if role not in _RESPONSES_ROLES:
        return [f"{where}: role {role!r} is not one of {', '.join(_RESPONSES_ROLES)}"]
    content = item.get("content")
    if isinstance(content, str):
        return []
    if not isinstance(content, list):
        return [f"{where}.content: not a string or a list of parts"]
    return [
        f"{where}.content[{position}]: part type {kind!r} is not a Responses content part"
        for position, part in enumerate(content)
        if (kind := part.get("type") if isinstance(part, Mapping) else None) not in _RESPONSES_PARTS
    ]
