"""Rendering a conversation as MiniMax-M2 prompt text, byte for byte as the official chat template does.

"The official chat template" is the M2 ``chat_template.jinja`` as reconstructed from four agreeing
public copies (llama.cpp ``models/templates/unsloth-MiniMax-M2.jinja``, tinker-cookbook's
``MiniMaxM2Renderer``, a Swift port and ``docs/tool_calling_guide.md`` of MiniMax-AI/MiniMax-M2);
``tests/fixtures/minimax/m2_chat_template.jinja`` is that reconstruction, and the tests render it
with transformers' own renderer against this module over generated conversations.

A conversation reaches the template as OpenAI-style messages; this module renders what the template
makes of the messages interleaf sends for it:

* ``]~!b[]~b]system\\n`` then the system text: ``Conversation.system`` when set, else the first message
  if it is a system message, else ``default_system``. Empty content gets ``default_system`` too; for a
  system message that is the template's test of the content's truth, so ``""`` (``plain``) or no
  blocks is empty, while one empty text part is not. ``current_date`` / ``current_location`` in that
  system message's ``extra`` add their lines. Tools follow inside the system turn. Later system
  messages have no place in the template, which skips them; they are recorded as losses.
* User turns carry their text parts concatenated; images are left out (a loss).
* An assistant turn is ``]~b]ai\\n``, then ``<think>\\n{reasoning}\\n</think>\\n\\n`` only when the message
  comes after the last user message (:attr:`Conversation.last_user_index`, so tool results never
  count as user turns), then the visible text, then the ``<minimax:tool_call>`` block.
* Thinking goes back the way it arrived. Blocks that arrived inline (``<think>`` in ``content``, M2's
  own form) go inline, and the template splits them off at ``</think>`` and strips the newlines
  around reasoning and visible text. Any other thinking goes as ``reasoning_content`` (the field
  vLLM and SGLang hand the template; several blocks joined by a blank line), which the template
  renders as it is, newlines and all, with the visible text unstripped. A message without thinking
  whose text holds ``</think>`` is split as the template splits it (a loss).
* Tool results (``role="tool"`` messages, and ToolResult blocks in a user message, Anthropic style) in
  a row make one ``]~b]tool`` turn, in order; ids are not rendered. String content renders as
  ``<response>{content}</response>``. Content in parts goes as interleaf's OpenAI Chat codec sends it:
  from an OpenAI Chat conversation as parts, which the template writes as one
  ``<response>{text}\\n</response>`` a part (an image part leaves an empty one, no parts none); from
  any other format, text-only parts as one string joined by newlines, one ``<response>`` a result.
* Text beside tool results in a user message follows as a user turn that, like the results, does
  not reset thinking: an agent's reminder must not erase the loop's thinking. The template, seeing a
  user turn, would drop it; where that changes the prompt it is reported as a difference from the
  official template (:data:`TEMPLATE_DEVIATION`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Literal

from interleaf.transcript import (
    Conversation,
    Image,
    Message,
    ReasoningDialect,
    RedactedThinking,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    ToolSpec,
)
from interleaf.wire.errors import Losses, WireFormatError
from interleaf.wire.minimax_xml import render_tool_calls
from interleaf.wire.openai_messages import FORMAT as OPENAI_CHAT
from interleaf.wire.openai_messages import THINKING_SEPARATOR
from interleaf.wire.think import join_think_tags

__all__ = [
    "BOS",
    "DEFAULT_SYSTEM",
    "EOS",
    "GENERATION_PROMPT",
    "ROLE",
    "TEMPLATE_DEVIATION",
    "TOOLS_FOOTER",
    "TOOLS_HEADER",
    "TOOL_ROLE_ERROR",
    "AssistantView",
    "assistant_parts",
    "render",
    "render_tools_section",
    "template_view",
]

BOS = "]~!b["
ROLE = "]~b]"
EOS = "[e~["
GENERATION_PROMPT = "]~b]ai\n<think>\n"
DEFAULT_SYSTEM = "You are a helpful assistant."
TOOL_ROLE_ERROR = "Message has tool role, but there was no previous assistant message with a tool call!"
TEMPLATE_DEVIATION = "differs from the official template"
"""Starts every loss that is a difference of the rendered prompt from the official template's."""

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


@dataclass(frozen=True, slots=True)
class AssistantView:
    """An assistant message as interleaf hands it to the M2 template: ``reasoning_content`` (``None``
    when the message has none, or its thinking travels inline) and the string ``content``."""

    reasoning_content: str | None
    content: str


def template_view(message: Message) -> AssistantView:
    """Thinking goes back the way it arrived: inline blocks in ``content`` with the text, in order;
    any other thinking in ``reasoning_content``."""
    thinking = [block for block in message.blocks if isinstance(block, Thinking)]
    if thinking and all(block.dialect is ReasoningDialect.THINK_TAGS for block in thinking):
        inline = [block for block in message.blocks if isinstance(block, Thinking | Text)]
        return AssistantView(reasoning_content=None, content=join_think_tags(inline))
    if thinking:
        return AssistantView(
            reasoning_content=THINKING_SEPARATOR.join(block.text for block in thinking), content=message.text
        )
    return AssistantView(reasoning_content=None, content=message.text)


def assistant_parts(message: Message) -> tuple[str, str]:
    """``(reasoning, visible)`` of an assistant message, exactly as the template renders them."""
    view = template_view(message)
    if view.reasoning_content is not None:
        return view.reasoning_content, view.content
    content = view.content
    if "</think>" not in content:
        return "", content
    head, tail = content.split("</think>")[0], content.split("</think>")[-1]
    return head.strip("\n").split("<think>")[-1].strip("\n"), tail.strip("\n")


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
    beside_results: bool = False
    """A user turn made of the text next to tool results in the same message (Anthropic style)."""


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
            turns.extend(_user_or_tool_turns(message, path, losses, conversation.source == OPENAI_CHAT))
    return turns


def _user_or_tool_turns(message: Message, path: str, losses: Losses | None, native: bool) -> list[_Turn]:
    turns: list[_Turn] = []
    for position, block in enumerate(message.blocks):
        where = f"{path}.blocks[{position}]"
        if isinstance(block, ToolResult):
            result = block if native else _joined(block)
            turns.append(_Turn("tool", where, result=result))
            _note_result_losses(result, where, losses)
        elif isinstance(block, Image):
            _lose(losses, where, "the M2 prompt has no place for images")
        elif not isinstance(block, Text) or message.role == "tool":
            _lose(losses, where, f"a {block.kind} block in a {message.role} message has no M2 form")
    if message.role == "user" and (not turns or message.text):
        turns.append(_Turn("user", path, text=message.text, beside_results=bool(turns)))
    return turns


def _note_assistant_losses(message: Message, path: str, losses: Losses | None) -> None:
    thinking: list[Thinking] = []
    for position, block in enumerate(message.blocks):
        where = f"{path}.blocks[{position}]"
        if isinstance(block, Thinking):
            thinking.append(block)
            if block.signature is not None:
                _lose(losses, where, "thinking signature dropped: the M2 prompt cannot carry it")
        elif isinstance(block, RedactedThinking):
            _lose(losses, where, "redacted thinking cannot be replayed in an M2 prompt")
        elif isinstance(block, ToolCall) and block.arguments_error is not None:
            _lose(losses, where, f"{block.arguments_error}; rendered without arguments")
        elif not isinstance(block, Text | ToolCall):
            _lose(losses, where, f"a {block.kind} block in an assistant message has no M2 form")
    view = template_view(message)
    if view.reasoning_content is not None:
        if len(thinking) > 1:
            _lose(
                losses,
                path,
                f"{len(thinking)} thinking blocks joined into one reasoning_content: block boundaries lost",
            )
        return
    if not thinking:
        if "</think>" in view.content:
            _lose(
                losses,
                path,
                "visible text holding </think> is split there by the template: what precedes it renders "
                "as reasoning",
            )
        return
    intended = (THINKING_SEPARATOR.join(b.text.strip("\n") for b in thinking), message.text.strip("\n"))
    if assistant_parts(message) != intended:
        _lose(
            losses,
            path,
            "inline <think> content is split by the template at its first and last </think>: part of this "
            "message's thinking or text does not reach the prompt",
        )


def _joined(result: ToolResult) -> ToolResult:
    """A result from outside OpenAI Chat whose parts are all plain text, as interleaf's OpenAI Chat
    codec sends it: one string, the parts joined by newlines."""
    content = result.content
    if isinstance(content, tuple) and all(isinstance(p, Text) and not p.extra for p in content):
        return replace(result, content=result.text)
    return result


def _note_result_losses(result: ToolResult, path: str, losses: Losses | None) -> None:
    if isinstance(result.content, tuple) and any(isinstance(p, Image) for p in result.content):
        _lose(
            losses,
            path,
            "images in a tool result have no place in the M2 prompt: each leaves an empty <response>",
        )
    if result.content == ():
        _lose(
            losses,
            path,
            "a tool result of no parts renders no <response>, as in the template: later results no longer "
            "line up with their calls",
        )
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
    shown: list[str] = []  # assistant turns whose thinking the prompt shows
    for position, turn in enumerate(turns):
        if turn.role == "assistant":
            had_call, showed = _render_assistant(turn, out)
            if showed:
                shown.append(turn.path)
        elif turn.role == "tool":
            if not had_call:
                raise WireFormatError(turn.path, TOOL_ROLE_ERROR)
            if position == 0 or turns[position - 1].role != "tool":
                out.append(f"{ROLE}tool")
            assert turn.result is not None
            out.append(_response(turn.result))
            if position == len(turns) - 1 or turns[position + 1].role != "tool":
                out.append(f"{EOS}\n")
        elif turn.role == "user":
            if turn.beside_results and shown:
                _lose(
                    losses,
                    turn.path,
                    f"{TEMPLATE_DEVIATION}: the text beside the tool results renders as a user turn, after "
                    f"which the template would drop the thinking of {', '.join(shown)}; this prompt keeps it",
                )
            out.append(f"{ROLE}user\n{turn.text}{EOS}\n")
    if add_generation_prompt:
        out.append(GENERATION_PROMPT)
    return "".join(out)


def _response(result: ToolResult) -> str:
    """``<response>`` elements of one result: one for a string, one a part for parts (as the
    template writes list content; a part without text leaves an empty one)."""
    content = result.content
    if isinstance(content, tuple):
        return "".join(
            f"\n<response>{part.text if isinstance(part, Text) else ''}\n</response>" for part in content
        )
    return f"\n<response>{content or ''}</response>"


def _render_assistant(turn: _Turn, out: list[str]) -> tuple[bool, bool]:
    """Append one assistant turn; returns whether it made tool calls and whether it showed thinking."""
    assert turn.message is not None  # set for every assistant turn
    reasoning, visible = assistant_parts(turn.message)
    out.append(f"{ROLE}ai\n")
    showed = bool(reasoning) and turn.show_thinking
    if showed:
        out.append(f"<think>\n{reasoning}\n</think>\n\n")
    out.append(visible)
    calls = turn.message.tool_calls
    if calls:
        out.append("\n" + render_tool_calls(calls))
    out.append(f"{EOS}\n")
    return bool(calls), showed
