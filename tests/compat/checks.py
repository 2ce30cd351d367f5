"""What came back of each earlier task turn in a request, and where.

The scripted model issues every turn's thinking with a unique marker text (and a signature or an
``encrypted_content`` where the dialect has one). On each later request it finds the assistant turn
by the tool-call id it issued (a text app's edit turn: by its anchor text), checks the thinking is
there byte-exact *in the dialect's own place*, and records every other place the marker turned up
(``messages[3].content``: turned into text).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.compat.dialects import Dialect
from tests.compat.replies import Turn, think_section
from tests.support.payloads import reasoning_detail

JSON = dict[str, Any]


@dataclass(frozen=True)
class Echo:
    """One earlier turn as a request carried it back."""

    turn: int
    exact: bool
    detail: str
    """``kept``, or what was wrong: ``dropped``, ``signature missing``, ``moved to text``..."""
    where: tuple[str, ...] = field(default_factory=tuple)
    """JSON paths where the turn's thinking text (or its token) was found."""

    def as_json(self) -> JSON:
        return {"turn": self.turn, "exact": self.exact, "detail": self.detail, "where": list(self.where)}


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a JSON value with its path (``messages[2].content[0].thinking``)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, f"{path}[{index}]")


def echoes(dialect: Dialect, body: Mapping[str, Any], turns: Sequence[Turn]) -> list[Echo]:
    """How ``body`` carries back each of ``turns`` (the task's earlier tool-call and edit turns)."""
    found = list(strings(body))
    out: list[Echo] = []
    for turn in turns:
        if turn.call is None and not turn.anchor:
            continue
        where = tuple(
            path for path, value in found if _marker(turn) in value or (turn.token and turn.token == value)
        )
        if turn.call is not None and not any(turn.call.id == value for _, value in found):
            out.append(Echo(turn.number, False, "assistant turn and its tool call dropped", where))
            continue
        exact, detail = _check(dialect, body, turn)
        out.append(Echo(turn.number, exact, detail, where))
    return out


def carries_text_turn(body: Mapping[str, Any], turn: Turn) -> bool:
    """Whether ``body`` (any API) holds an assistant message with text turn ``turn``'s anchor."""
    items = [i for i in body.get("input") or () if isinstance(i, Mapping)]
    return _chat_assistant(body, turn) is not None or any(_responses_owns(i, turn) for i in items)


def _marker(turn: Turn) -> str:
    return turn.thinking.rsplit(" ", 1)[-1]  # the nonce at the end of the thinking text


def _check(dialect: Dialect, body: Mapping[str, Any], turn: Turn) -> tuple[bool, str]:
    if dialect.api == "anthropic":
        return _check_anthropic(body, turn)
    if dialect.api == "openai-responses":
        return _check_responses(body, turn)
    return _check_chat(dialect, body, turn)


def _messages(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [m for m in body.get("messages") or () if isinstance(m, Mapping)]


def _anthropic_blocks(content: Any) -> list[Mapping[str, Any]]:
    if isinstance(content, str):  # a text-only turn may come back as a plain string
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [b for b in content if isinstance(b, Mapping)]
    return []


def _anthropic_owns(blocks: list[Mapping[str, Any]], turn: Turn) -> bool:
    if turn.call is not None:
        return any(b.get("type") == "tool_use" and b.get("id") == turn.call.id for b in blocks)
    return any(b.get("type") == "text" and turn.anchor in str(b.get("text", "")) for b in blocks)


def _check_anthropic(body: Mapping[str, Any], turn: Turn) -> tuple[bool, str]:
    for message in _messages(body):
        if message.get("role") != "assistant":
            continue
        blocks = _anthropic_blocks(message.get("content"))
        if not _anthropic_owns(blocks, turn):
            continue
        for block in blocks:
            if block.get("type") != "thinking":
                continue
            if block.get("thinking") == turn.thinking:
                signature = block.get("signature")
                if signature == turn.token:
                    return True, "kept"
                return False, "signature missing" if not signature else "signature changed"
        if any(_marker(turn) in str(b.get("text", "")) for b in blocks):
            return False, "thinking turned into text"
        if any(b.get("type") == "thinking" for b in blocks):
            return False, "thinking text changed"
        return False, "thinking dropped"
    return False, "assistant turn dropped"


def _chat_assistant(body: Mapping[str, Any], turn: Turn) -> Mapping[str, Any] | None:
    for message in _messages(body):
        if message.get("role") != "assistant":
            continue
        if turn.call is None:
            if turn.anchor in _text(message.get("content")):
                return message
            continue
        calls = message.get("tool_calls") or ()
        if any(isinstance(c, Mapping) and c.get("id") == turn.call.id for c in calls):
            return message
    return None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def _check_chat(dialect: Dialect, body: Mapping[str, Any], turn: Turn) -> tuple[bool, str]:
    message = _chat_assistant(body, turn)
    if message is None:
        return False, "assistant turn dropped"
    content = _text(message.get("content"))
    if dialect.name == "think_tags":
        if think_section(turn).strip() in content:
            return True, "kept"
        return False, _elsewhere(message, turn, "content")
    value = message.get(dialect.field)
    if dialect.name == "reasoning_details":
        if value == [reasoning_detail(turn.thinking)]:
            return True, "kept"
        if isinstance(value, list) and _marker(turn) in str(value):
            return False, "reasoning_details items changed"
        return False, _elsewhere(message, turn, dialect.field)
    if value == turn.thinking:
        return True, "kept"
    if isinstance(value, str) and value and _marker(turn) not in value:
        return False, f"{dialect.field} replaced"
    return False, _elsewhere(message, turn, dialect.field)


def _elsewhere(message: Mapping[str, Any], turn: Turn, field_name: str) -> str:
    """Why a Chat turn's thinking is not in ``field_name``: where it went instead, or dropped."""
    for key, value in message.items():
        if key != field_name and _marker(turn) in str(value):
            return f"moved to {key}"
    if _marker(turn) in str(message.get(field_name, "")):
        return f"{field_name} changed"
    return "thinking dropped"


def _responses_owns(item: Mapping[str, Any], turn: Turn) -> bool:
    if turn.call is not None:
        return item.get("type") == "function_call" and item.get("call_id") == turn.call.id
    return (
        item.get("type", "message") == "message"
        and item.get("role") == "assistant"
        and turn.anchor in str(item.get("content"))
    )


def _check_responses(body: Mapping[str, Any], turn: Turn) -> tuple[bool, str]:
    items = [i for i in body.get("input") or () if isinstance(i, Mapping)]
    for index, item in enumerate(items):
        if not _responses_owns(item, turn):
            continue
        before = [i for i in items[:index] if i.get("type") == "reasoning"]
        for reasoning in before:
            if reasoning.get("encrypted_content") == turn.token:
                return True, "kept"
        if any(r.get("id") == turn.reasoning_id for r in before):
            return False, "encrypted_content missing or changed"
        if any(_marker(turn) in str(i) for i in items):
            return False, "reasoning item replaced by text"
        return False, "reasoning item dropped"
    return False, "function_call dropped" if turn.call is not None else "assistant message dropped"
