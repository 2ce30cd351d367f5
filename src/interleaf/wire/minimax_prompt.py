"""Rendering a conversation as MiniMax-M2 prompt text, byte for byte as the official chat template does.

The rules (reference/minimax-m2.md §3.2) applied to the transcript:

* ``]~!b[]~b]system\\n`` then the system text: ``Conversation.system`` when set, else the first message
  if it is a system message, else ``default_system``. Empty content gets ``default_system`` too; for a
  system message that is the template's test of the content's truth, so ``""`` (``plain``) or no
  blocks is empty, while one empty text part is not. ``current_date`` / ``current_location`` in that system message's ``extra`` add
  their lines. Tools follow inside the system turn. Later system messages have no place in the
  template, which skips them; they are recorded as losses.
* User turns carry their text parts concatenated; images are left out (a loss).
* An assistant turn is ``]~b]ai\\n``, then ``<think>\\n{reasoning}\\n</think>\\n\\n`` only when the message
  comes after the last user message (:attr:`Conversation.last_user_index`, so tool results never
  count as user turns), then the visible text, then the ``<minimax:tool_call>`` block.
* The reasoning is the message's Thinking blocks, rendered as the template renders thinking that
  travels inline in ``content`` (M2's own form): each block's text without leading or trailing
  newlines, several blocks joined by a blank line (M2 has one thinking block a turn; the transcript may
  hold more, from other models). A message with thinking also loses the newlines around its visible
  text, as the template strips ``content`` after ``</think>``. A message without Thinking blocks whose
  text holds ``</think>`` is split exactly as the template splits it.
* Tool results (``role="tool"`` messages, and ToolResult blocks in a user message, Anthropic style) in
  a row make one ``]~b]tool`` turn with one ``<response>`` each, in order; ids are not rendered. String
  content renders as ``<response>{content}</response>``, parts as ``<response>{text}\\n</response>``
  with the text parts joined by newlines: one response a result, where the template would write one a
  part and so break the matching of results to calls by position. Text beside tool results in a user
  message follows as a user turn that, like the results, does not reset thinking (ARCHITECTURE.md
  rule 3; the template, seeing a user turn, would drop the loop's thinking).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from interleaf.transcript import (
    Conversation,
    Image,
    Message,
    RedactedThinking,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    ToolSpec,
)
from interleaf.wire.errors import Losses, WireFormatError
from interleaf.wire.minimax_xml import render_tool_calls

__all__ = [
    "BOS",
    "DEFAULT_SYSTEM",
    "EOS",
    "GENERATION_PROMPT",
    "ROLE",
    "TOOLS_FOOTER",
    "TOOLS_HEADER",
    "TOOL_ROLE_ERROR",
    "assistant_parts",
    "render",
    "render_tools_section",
]

BOS = "]~!b["
ROLE = "]~b]"
EOS = "[e~["
GENERATION_PROMPT = "]~b]ai\n<think>\n"
DEFAULT_SYSTEM = "You are a helpful assistant."
TOOL_ROLE_ERROR = "Message has tool role, but there was no previous assistant message with a tool call!"

TOOLS_HEADER = (
    "\n\n# Tools\nYou may call one or more tools to assist with the user query.\n"
    "Here are the tools available in JSONSchema format:\n\n<tools>\n"
)
TOOLS_FOOTER = (
    "</tools>\n\nWhen making tool calls, use XML format to invoke tools and pass parameters:\n\n"
    "<minimax:tool_call>\n"
    '<invoke name="tool-name-1">\n'
    '<parameter name="param-key-1">param-value-1</parameter>\n'
    '<parameter name="param-key-2">param-value-2</parameter>\n'
    "...\n"
    "</invoke>\n"
    "</minimax:tool_call>"
)


def render_tools_section(tools: tuple[ToolSpec, ...]) -> str:
    """The tool declarations appended to the system turn (empty without tools)."""
    if not tools:
        return ""
    lines = []
    for tool in tools:
        function: dict[str, object] = {"name": tool.name}
        if tool.description is not None:
            function["description"] = tool.description
        if tool.parameters is not None:
            function["parameters"] = tool.parameters
        lines.append(f"<tool>{json.dumps(function, ensure_ascii=False)}</tool>\n")
    return TOOLS_HEADER + "".join(lines) + TOOLS_FOOTER


def assistant_parts(message: Message) -> tuple[str, str]:
    """``(reasoning, visible)`` of an assistant message, as the template would render them."""
    visible = message.text
    thinking = [block.text.strip("\n") for block in message.blocks if isinstance(block, Thinking)]
    if thinking:
        return "\n\n".join(text for text in thinking if text), visible.strip("\n")
    if "</think>" in visible:
        head, tail = visible.split("</think>")[0], visible.split("</think>")[-1]
        return head.strip("\n").split("<think>")[-1].strip("\n"), tail.strip("\n")
    return "", visible


# ------------------------------------------------------------------------------------------- turns


@dataclass(frozen=True, slots=True)
class _Turn:
    """One message as the template sees it: OpenAI-shaped, one tool message per tool result."""

    role: Literal["system", "user", "assistant", "tool"]
    path: str
    message: Message | None = None
    result: ToolResult | None = None
    text: str = ""
    show_thinking: bool = False


def _turns(conversation: Conversation, start: int, losses: Losses | None) -> list[_Turn]:
    last_user = conversation.last_user_index
    turns: list[_Turn] = []
    for index in range(start, len(conversation.messages)):
        message = conversation.messages[index]
        path = f"messages[{index}]"
        if message.role == "system":
            _lose(losses, path, "a system message after the first has no place in the M2 prompt")
            turns.append(_Turn("system", path))
        elif message.role == "assistant":
            _note_assistant_losses(message, path, losses)
            turns.append(_Turn("assistant", path, message=message, show_thinking=index > last_user))
        else:
            turns.extend(_user_or_tool_turns(message, path, losses))
    return turns


def _user_or_tool_turns(message: Message, path: str, losses: Losses | None) -> list[_Turn]:
    turns: list[_Turn] = []
    for position, block in enumerate(message.blocks):
        where = f"{path}.blocks[{position}]"
        if isinstance(block, ToolResult):
            turns.append(_Turn("tool", where, result=block))
            _note_result_losses(block, where, losses)
        elif isinstance(block, Image):
            _lose(losses, where, "the M2 prompt has no place for images")
        elif not isinstance(block, Text) or message.role == "tool":
            _lose(losses, where, f"a {block.kind} block in a {message.role} message has no M2 form")
    if message.role == "user" and (not turns or message.text):
        turns.append(_Turn("user", path, text=message.text))
    return turns


def _note_assistant_losses(message: Message, path: str, losses: Losses | None) -> None:
    for position, block in enumerate(message.blocks):
        where = f"{path}.blocks[{position}]"
        if isinstance(block, RedactedThinking):
            _lose(losses, where, "redacted thinking cannot be replayed in an M2 prompt")
        elif isinstance(block, ToolCall) and block.arguments_error is not None:
            _lose(losses, where, f"{block.arguments_error}; rendered without arguments")
        elif not isinstance(block, Thinking | Text | ToolCall):
            _lose(losses, where, f"a {block.kind} block in an assistant message has no M2 form")


def _note_result_losses(result: ToolResult, path: str, losses: Losses | None) -> None:
    if isinstance(result.content, tuple) and any(isinstance(p, Image) for p in result.content):
        _lose(losses, path, "images in a tool result have no place in the M2 prompt")
    if result.is_error:
        _lose(losses, path, "is_error has no M2 form; only the result text is rendered")


def _lose(losses: Losses | None, path: str, what: str) -> None:
    if losses is not None:
        losses.add(path, what)


# ------------------------------------------------------------------------------------------ render


def _content_given(message: Message) -> bool:
    """Whether the template's ``system_message.content`` is truthy: a non-empty string or list."""
    return bool(message.text) if message.plain else bool(message.blocks)


def _system(conversation: Conversation, default_system: str, losses: Losses | None) -> tuple[str, int]:
    """The system text and the index of the first message after the system message."""
    if conversation.system is not None:
        text = "".join(part.text for part in conversation.system)
        return text or default_system, 0
    messages = conversation.messages
    if not messages or messages[0].role != "system":
        return default_system, 0
    first = messages[0]
    for position, block in enumerate(first.blocks):
        if not isinstance(block, Text):
            _lose(
                losses,
                f"messages[0].blocks[{position}]",
                f"a {block.kind} block has no place in the M2 system turn",
            )
    text = first.text if _content_given(first) else default_system
    for key, label in (("current_date", "Current date"), ("current_location", "Current location")):
        value = first.extra.get(key)
        if value:
            text += f"\n{label}: {value}"
    return text, 1


def render(
    conversation: Conversation,
    *,
    add_generation_prompt: bool = True,
    default_system: str = DEFAULT_SYSTEM,
    losses: Losses | None = None,
) -> str:
    """The M2 prompt text for ``conversation``.

    Raises WireFormatError for a tool result with no assistant tool call before it, with the
    template's own message.
    """
    system, start = _system(conversation, default_system, losses)
    out = [BOS, ROLE, "system\n", system, render_tools_section(conversation.tools), EOS, "\n"]
    turns = _turns(conversation, start, losses)
    had_call = False
    for position, turn in enumerate(turns):
        if turn.role == "assistant":
            had_call = _render_assistant(turn, out)
        elif turn.role == "tool":
            if not had_call:
                raise WireFormatError(turn.path, TOOL_ROLE_ERROR)
            if position == 0 or turns[position - 1].role != "tool":
                out.append(f"{ROLE}tool")
            assert turn.result is not None
            content = turn.result.content
            if isinstance(content, tuple):
                out.append(f"\n<response>{turn.result.text}\n</response>")
            else:
                out.append(f"\n<response>{content or ''}</response>")
            if position == len(turns) - 1 or turns[position + 1].role != "tool":
                out.append(f"{EOS}\n")
        elif turn.role == "user":
            out.append(f"{ROLE}user\n{turn.text}{EOS}\n")
    if add_generation_prompt:
        out.append(GENERATION_PROMPT)
    return "".join(out)


def _render_assistant(turn: _Turn, out: list[str]) -> bool:
    """Append one assistant turn; returns whether it made tool calls."""
    assert turn.message is not None  # set for every assistant turn
    reasoning, visible = assistant_parts(turn.message)
    out.append(f"{ROLE}ai\n")
    if reasoning and turn.show_thinking:
        out.append(f"<think>\n{reasoning}\n</think>\n\n")
    out.append(visible)
    calls = turn.message.tool_calls
    if calls:
        out.append("\n" + render_tool_calls(calls))
    out.append(f"{EOS}\n")
    return bool(calls)
