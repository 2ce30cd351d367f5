"""Reading an M2 prompt back into a conversation (``interleaf convert --from minimax-m2``, data import).

The inverse of :func:`interleaf.wire.minimax_prompt.render` up to what the prompt does not show:
``render(parse(prompt)) == prompt`` for every prompt the template writes, but the conversation read
back is not the one rendered. Thinking the template dropped (before the last user message) is gone;
call ids are new, and each tool result takes the id of the call in its position; a system message is
always present; tool-call values are typed by the declared tools' schemas, so a string value loses
surrounding whitespace, as any M2 tool parser reads it. Text that sat beside tool results in a user
message comes back as an ordinary user message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from interleaf.transcript import (
    Block,
    Conversation,
    Message,
    ReasoningDialect,
    Text,
    Thinking,
    ToolResult,
    ToolSpec,
)
from interleaf.wire.errors import WireFormatError
from interleaf.wire.minimax_output import parse as parse_output
from interleaf.wire.minimax_prompt import BOS, EOS, GENERATION_PROMPT, ROLE, TOOLS_FOOTER, TOOLS_HEADER
from interleaf.wire.minimax_xml import TOOL_CALL_OPEN
from interleaf.wire.toolcalls import IdFactory, new_call_id

__all__ = ["parse_prompt"]

_END = f"{EOS}\n"


def parse_prompt(text: str, *, id_factory: IdFactory | None = None) -> Conversation:
    """The conversation an M2 prompt shows. A trailing generation prompt is allowed and dropped."""
    if not text.startswith(BOS + ROLE + "system\n"):
        raise WireFormatError("prompt", f"an M2 prompt starts with {BOS}{ROLE}system; this one does not")
    new_id = id_factory or new_call_id
    pieces = text[len(BOS) + len(ROLE) :].split(ROLE)
    if len(pieces) > 1 and ROLE + pieces[-1] == GENERATION_PROMPT:
        pieces.pop()
    tools: tuple[ToolSpec, ...] = ()
    messages: list[Message] = []
    pending: list[str] = []  # ids of the last assistant turn's calls, matched to results by position
    for number, piece in enumerate(pieces):
        path = f"prompt.turns[{number}]"
        if not piece.endswith(_END):
            raise WireFormatError(path, f"a turn ends with {EOS} and a newline; this one does not")
        role, _, body = piece[: -len(_END)].partition("\n")
        if number == 0:
            system, tools = _system(body, path)
            messages.append(Message(role="system", blocks=(Text(text=system),)))
        elif role == "user":
            messages.append(Message(role="user", blocks=(Text(text=body),), plain=True))
        elif role == "ai":
            message = _assistant(body, tools, new_id)
            messages.append(message)
            pending = [call.id for call in message.tool_calls]
        elif piece.startswith("tool\n<response>"):
            results = []
            for content in _responses(piece[len("tool") : -len(_END)]):
                call_id = pending.pop(0) if pending else new_id()
                results.append(ToolResult(call_id=call_id, content=content))
            messages.append(Message(role="tool", blocks=tuple(results)))
        else:
            raise WireFormatError(f"{path}.role", f"unknown turn {piece.partition(chr(10))[0]!r}")
    return Conversation(messages=tuple(messages), tools=tools, source="minimax")


def _system(body: str, path: str) -> tuple[str, tuple[ToolSpec, ...]]:
    start = body.find(TOOLS_HEADER)
    if start == -1 or not body.endswith(TOOLS_FOOTER):
        return body, ()
    declared = body[start + len(TOOLS_HEADER) : -len(TOOLS_FOOTER)]
    tools = []
    for position, line in enumerate(declared.split("\n")[:-1]):
        if not (line.startswith("<tool>") and line.endswith("</tool>")):
            raise WireFormatError(f"{path}.tools[{position}]", "expected <tool>{json}</tool>")
        try:
            data = json.loads(line[len("<tool>") : -len("</tool>")])
        except json.JSONDecodeError as exc:
            raise WireFormatError(
                f"{path}.tools[{position}]", f"the tool is not valid JSON: {exc.msg}"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise WireFormatError(f"{path}.tools[{position}]", "a tool needs a string name")
        tools.append(
            ToolSpec(
                name=data["name"], description=data.get("description"), parameters=data.get("parameters")
            )
        )
    return body[:start], tuple(tools)


def _assistant(body: str, tools: Sequence[ToolSpec], new_id: IdFactory) -> Message:
    """An ``ai`` turn: ``<think>\\n{reasoning}\\n</think>\\n\\n``, the content, ``\\n`` and the calls."""
    blocks: list[Block] = []
    close = body.find("\n</think>\n\n") if body.startswith("<think>\n") else -1
    if close != -1:
        reasoning = body[len("<think>\n") : close]
        blocks.append(Thinking(text=reasoning, dialect=ReasoningDialect.THINK_TAGS))
        body = body[close + len("\n</think>\n\n") :]
    calls = body.find("\n" + TOOL_CALL_OPEN)
    content = body if calls == -1 else body[:calls]
    if content:
        blocks.append(Text(text=content))
    if calls != -1:
        parsed = parse_output(body[calls + 1 :], tools, prompt_ends_in_think=False, id_factory=new_id)
        blocks.extend(parsed.tool_calls)
    return Message(role="assistant", blocks=tuple(blocks))


def _responses(body: str) -> list[str]:
    """The ``<response>`` contents of a tool turn, in order."""
    return [part.removesuffix("</response>") for part in body.split("\n<response>")[1:]]
