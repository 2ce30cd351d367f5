"""Tool calls written as text, for model servers that have no tool-call parser (small local models).

:func:`extract_tool_calls` reads, in any mixture and any number:

* Hermes/Qwen ``<tool_call>{"name": …, "arguments": {…}}</tool_call>`` (arguments an object or a JSON
  string), with Qwen3-Coder's ``<function=…><parameter=…>`` body inside as well;
* code fences (```` ```json ````, ```` ```tool_call ````, a bare ```` ``` ````) holding a call object or a
  list of them;
* MiniMax-M2 ``<minimax:tool_call>`` XML (:mod:`interleaf.wire.minimax_xml`);
* Llama-style ``<function=name>{…}</function>``;
* a bare JSON object naming a tool: ``{"name": "shell", "arguments": {…}}`` (or ``"parameters"``, or an
  OpenAI ``{"function": {…}}`` item);
* the JSON action format ``{"tool": "shell", "command": "ls"}``: every key but ``tool`` is an argument.

What is plainly not a call stays visible text and is no error: a fence in another language, JSON that
is data, a ``{"final_answer": …}``. What was meant as a call but cannot run gets a
:class:`ToolCallParseError` whose message can go back to the model as it stands. When a tool name can
be read (an unknown tool, broken JSON naming a tool, arguments that are not an object), the call is
still made, so the agent has a call to answer, and the error carries its ``call_id``; unreadable
arguments are kept in ``raw_arguments``, so ``ToolCall.arguments_error`` flags the call too. When no
name can be read, the text stays visible and the error has no ``call_id``. Nothing inside
``<think>…</think>`` is read, nor after an unclosed ``<think>``, nor before a ``</think>`` that has no
``<think>`` before it: thinking is split as the OpenAI Chat codec splits it
(:func:`interleaf.wire.think.split`). No input makes these functions raise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from interleaf.transcript import Block, JSONDict, Message, Text, ToolCall, ToolSpec
from interleaf.wire.minimax_xml import (
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
    ParsedInvoke,
    convert_param_value,
    parameter_types,
    parse_tool_call_block,
)
from interleaf.wire.textcalls_json import (
    CallOutcome,
    FoundCall,
    Tools,
    call_batch,
    invalid_arguments,
    json_error,
    named_in,
    read_values,
)
from interleaf.wire.think import split as split_thinking
from interleaf.wire.toolcalls import IdFactory, ToolCallParseError, new_call_id

__all__ = ["TextCallResult", "ToolCallParseError", "apply_text_tool_calls", "extract_tool_calls"]


@dataclass(frozen=True, slots=True)
class TextCallResult:
    """What :func:`extract_tool_calls` found.

    ``parts`` is the text in order with each extracted call in place of the text that wrote it; ``text``
    joins the text parts (the input minus the extracted calls, byte for byte). ``errors`` are in text
    order; see :class:`ToolCallParseError` for how an agent answers them.
    """

    parts: tuple[str | ToolCall, ...]
    errors: tuple[ToolCallParseError, ...] = ()

    @property
    def text(self) -> str:
        return "".join(part for part in self.parts if isinstance(part, str))

    @property
    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(part for part in self.parts if isinstance(part, ToolCall))


@dataclass(slots=True)
class _Span:
    """A stretch of text read as calls (removed from the text) or complained about (kept as text)."""

    start: int
    end: int
    outcomes: list[CallOutcome]

    @property
    def removed(self) -> bool:
        return any(isinstance(outcome, FoundCall) for outcome in self.outcomes)


# A bare object is tried only where a key follows its brace: "{{ x }}" and "{}" are never calls, and
# each failed attempt costs the decoder a pass over the text before it.
_TRIGGER = re.compile(r'<tool_call>|<function=|<minimax:tool_call>|```|\{(?=\s*")')
_FUNCTION = re.compile(r"<function=([^>\s]+)>")
_QWEN_PARAMETER = re.compile(r"<parameter=([^>]+)>(.*?)</parameter>", re.DOTALL)
_CALL_FENCES = frozenset({"", "json", "json5", "jsonc", "javascript", "js"})
_EXPLICIT_FENCES = frozenset({"tool_call", "tool_calls", "tool_code", "tool", "tool_use", "function_call"})


def extract_tool_calls(
    text: str, tools: Sequence[ToolSpec], *, id_factory: IdFactory | None = None
) -> TextCallResult:
    """Read the tool calls written in ``text``; see the module docstring for the formats.

    ``tools`` are the tools the model may call; ``id_factory`` makes the call ids, in order.
    """
    new_id = id_factory or new_call_id
    known = Tools(tuple(tools))
    spans: list[_Span] = []
    for section in split_thinking(text):
        if not section.thinking:
            spans.extend(_Scanner(section.text, known).scan(section.start))
    parts: list[str | ToolCall] = []
    errors: list[ToolCallParseError] = []
    position = 0
    for span in spans:
        if not span.removed:
            errors.extend(o for o in span.outcomes if isinstance(o, ToolCallParseError))
            continue
        if span.start > position:
            parts.append(text[position : span.start])
        for outcome in span.outcomes:
            if isinstance(outcome, ToolCallParseError):
                errors.append(outcome)
                continue
            call = ToolCall(
                id=new_id(),
                name=outcome.name,
                arguments=outcome.arguments,
                raw_arguments=outcome.raw_arguments,
            )
            parts.append(call)
            if outcome.problem is not None:
                source = text[span.start : span.end]
                errors.append(ToolCallParseError(outcome.problem, outcome.name, source, call_id=call.id))
        position = span.end
    if position < len(text):
        parts.append(text[position:])
    return TextCallResult(parts=tuple(parts), errors=tuple(errors))


def apply_text_tool_calls(
    message: Message, tools: Sequence[ToolSpec], *, id_factory: IdFactory | None = None
) -> tuple[Message, list[ToolCallParseError]]:
    """Turn the calls written in an assistant message's Text blocks into ToolCall blocks.

    Each Text block with calls becomes its text pieces and calls, in order (pieces that are only
    whitespace are dropped; the first piece keeps the block's ``extra``). Thinking and every other
    block stay as they are, in place. A message that is not an assistant message, or has no calls,
    comes back unchanged (the same object).
    """
    if message.role != "assistant":
        return message, []
    new_id = id_factory or new_call_id
    blocks: list[Block] = []
    errors: list[ToolCallParseError] = []
    changed = False
    for block in message.blocks:
        if not isinstance(block, Text):
            blocks.append(block)
            continue
        result = extract_tool_calls(block.text, tools, id_factory=new_id)
        errors.extend(result.errors)
        if not result.calls:
            blocks.append(block)
            continue
        changed = True
        first = True
        for part in result.parts:
            if isinstance(part, ToolCall):
                blocks.append(part)
            elif part.strip():
                blocks.append(Text(text=part, extra=dict(block.extra) if first else {}))
                first = False
    return (message.with_blocks(blocks) if changed else message), errors


# ---------------------------------------------------------------------------------------- scanning


class _Scanner:
    """Finds call spans in one stretch of text that holds no thinking.

    Each reader returns where its span ends and what it found there. No outcomes means "text": the scan
    goes on after ``end``, which for a code block in another language is past the whole block, so
    nothing inside it is read as a call.
    """

    def __init__(self, text: str, tools: Tools) -> None:
        self.text = text
        self.tools = tools

    def scan(self, offset: int) -> list[_Span]:
        spans: list[_Span] = []
        position = 0
        while (match := _TRIGGER.search(self.text, position)) is not None:
            start, trigger = match.start(), match.group(0)
            if trigger == TOOL_CALL_OPEN:
                end, outcomes = self._minimax(start)
            elif trigger == "<tool_call>":
                end, outcomes = self._hermes(start)
            elif trigger == "<function=":
                end, outcomes = self._function(start, explicit=False)
            elif trigger == "```":
                end, outcomes = self._fence(start)
            else:
                end, outcomes = self._bare_json(start)
            if outcomes:
                spans.append(_Span(offset + start, offset + end, outcomes))
            position = max(end, start + 1)
        return spans

    def _minimax(self, start: int) -> tuple[int, list[CallOutcome]]:
        body_start = start + len(TOOL_CALL_OPEN)
        close = self.text.find(TOOL_CALL_CLOSE, body_start)
        end = len(self.text) if close == -1 else close + len(TOOL_CALL_CLOSE)
        content = self.text[body_start : len(self.text) if close == -1 else close]
        outcomes: list[CallOutcome] = []
        for item in parse_tool_call_block(content, self.tools.specs):
            if isinstance(item, ParsedInvoke):
                problem = "; ".join(error.message for error in item.errors) or None
                outcomes.append(self.tools.call(item.name, item.arguments, problem=problem))
            else:
                outcomes.append(item)
        if not outcomes:
            message = (
                'a <minimax:tool_call> block held no call; write <invoke name="tool-name">…</invoke> in it'
            )
            outcomes.append(ToolCallParseError(message, text=content))
        return end, outcomes

    def _hermes(self, start: int) -> tuple[int, list[CallOutcome]]:
        body_start = start + len("<tool_call>")
        close = self.text.find("</tool_call>", body_start)
        closed = close != -1
        end = close + len("</tool_call>") if closed else len(self.text)
        body = self.text[body_start : close if closed else len(self.text)]
        stripped = body.lstrip()
        if stripped.startswith("<function="):  # Qwen3-Coder: <tool_call><function=…>…</function></tool_call>
            inner = _Scanner(body, self.tools)
            outcomes: list[CallOutcome] = []
            position = len(body) - len(stripped)
            while (found := body.find("<function=", position)) != -1:
                function_end, found_outcomes = inner._function(found, explicit=True)
                outcomes.extend(found_outcomes)
                position = max(function_end, found + 1)
            return end, outcomes
        body_start, body = _unfence(body_start, body)
        consumed, outcomes = self._payload(body, explicit=True, closed=closed)
        return (end if closed else body_start + consumed), outcomes

    def _function(self, start: int, *, explicit: bool) -> tuple[int, list[CallOutcome]]:
        match = _FUNCTION.match(self.text, start)
        if match is None:
            return start + 1, []
        name = match.group(1).strip("\"'")
        close = self.text.find("</function>", match.end())
        end = len(self.text) if close == -1 else close + len("</function>")
        body = self.text[match.end() : len(self.text) if close == -1 else close]
        stripped = body.strip()
        if stripped.startswith("{"):
            brace = body.find("{")
            # Never closed: the object alone is the call, and what follows it stays text.
            values, stop, error = read_values(body, brace, limit=None if close != -1 else 1)
            if error is None and len(values) == 1 and isinstance(values[0], dict):
                return (end if close != -1 else match.end() + stop), [self.tools.call(name, values[0])]
            why = "more than one JSON value" if error is None else json_error(body, brace, error)
            problem = invalid_arguments(name, why)
            return end, [self.tools.call(name, {}, raw_arguments=stripped, problem=problem)]
        if "<parameter=" in body:
            types = parameter_types(self.tools.specs, name)
            arguments: JSONDict = {}
            for param in _QWEN_PARAMETER.finditer(body):
                key = param.group(1).strip().strip("\"'")
                value = param.group(2).removeprefix("\n").removesuffix("\n")
                arguments[key] = convert_param_value(value, types.get(key, ()))
            return end, [self.tools.call(name, arguments)]
        if not stripped and (close != -1 or explicit):
            return end, [self.tools.call(name, {})]
        if close == -1 and not explicit:
            return start + 1, []  # "<function=x>" in prose, never closed: not a call
        problem = (
            f"could not read the arguments of tool call {name!r}; write them as one JSON object: "
            f'<function={name}>{{"key": "value"}}</function>'
        )
        return end, [self.tools.call(name, {}, raw_arguments=stripped, problem=problem)]

    def _fence(self, start: int) -> tuple[int, list[CallOutcome]]:
        text = self.text
        line_end = text.find("\n", start + 3)
        info = text[start + 3 : len(text) if line_end == -1 else line_end]
        brace = info.find("{")
        if brace != -1:  # an inline fence: ```json {...}```
            body_start, info = start + 3 + brace, info[:brace]
        else:
            body_start = len(text) if line_end == -1 else line_end + 1
        close = text.find("```", body_start)
        end = len(text) if close == -1 else close + 3
        words = info.split()
        language = words[0].lower() if words else ""
        explicit = language in _EXPLICIT_FENCES
        if not explicit and language not in _CALL_FENCES:
            return end, []
        body = text[body_start : len(text) if close == -1 else close]
        consumed, outcomes = self._payload(body, explicit=explicit, closed=close != -1)
        if not outcomes:
            return end, []
        return (end if close != -1 else body_start + consumed), outcomes

    def _bare_json(self, start: int) -> tuple[int, list[CallOutcome]]:
        values, stop, error = read_values(self.text, start, limit=1)
        if error is None:
            return stop, (call_batch(values[0], self.tools, explicit=False) or []) if values else []
        name = named_in(self.text, start)
        if name is None or not self.tools.known(name):
            # Not a call: an object nested inside may still be one, so the scan resumes after "{".
            return start + 1, []
        # A broken call: it ends where the JSON broke, so its remains stay visible after it.
        end = max(error.pos, start + 1)
        problem = invalid_arguments(name, json_error(self.text, start, error))
        return end, [self.tools.call(name, {}, raw_arguments=self.text[start:end], problem=problem)]

    def _payload(self, body: str, *, explicit: bool, closed: bool) -> tuple[int, list[CallOutcome]]:
        """The calls in a fence or ``<tool_call>`` body: JSON values one after another.

        Returns how much of ``body`` the calls took: all of it when the wrapper was closed; up to the
        last value read when it was not (the rest stays text).
        """
        values, stop, error = read_values(body, 0)
        # Text after the values (a comment, a stray ```) does not undo the calls before it.
        if error is not None and not values:
            brace = max(body.find("{"), 0)
            name = named_in(body, brace)
            if name is not None and (explicit or self.tools.known(name)):
                problem = invalid_arguments(name, json_error(body, brace, error))
                return len(body), [self.tools.call(name, {}, raw_arguments=body.strip(), problem=problem)]
            if explicit:
                why = json_error(body, brace, error)
                message = f"tool call is not valid JSON: {why}; write the call again as valid JSON"
                return len(body), [ToolCallParseError(message, text=body)]
            return len(body), []
        outcomes: list[CallOutcome] = []
        for value in values:
            batch: list[CallOutcome] | None = (
                list(call_batch(value, self.tools, explicit=explicit) or []) or None
            )
            if batch is None:
                if not explicit:
                    return stop, []  # JSON data, not calls: the whole block stays text
                message = 'this is not a tool call; write {"name": "tool-name", "arguments": {...}}'
                batch = [ToolCallParseError(message, text=json.dumps(value, ensure_ascii=False)[:200])]
            outcomes.extend(batch)
        if not outcomes and explicit:
            message = 'an empty tool call; write {"name": "tool-name", "arguments": {...}}'
            outcomes.append(ToolCallParseError(message, text=body))
        return (len(body) if closed else stop), outcomes


def _unfence(start: int, body: str) -> tuple[int, str]:
    """A code fence inside ``<tool_call>``: its content, and where that starts in the text."""
    lead = len(body) - len(body.lstrip())
    if not body.startswith("```", lead):
        return start, body
    line_end = body.find("\n", lead)
    if line_end == -1:
        return start, body
    inner = body[line_end + 1 :]
    close = inner.rfind("```")
    return start + line_end + 1, inner if close == -1 else inner[:close]
