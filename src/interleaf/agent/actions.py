"""The JSON action protocol, for small local models that cannot make native tool calls.

Instead of the server's tool-call parser, each reply is constrained (llama.cpp's JSON-schema grammar) to
one object: ``{"tool": NAME, ...arguments}`` or ``{"final_answer": TEXT}``; with free-form calls the
embedded 1.5B model repeats itself, with the grammar it completes real tasks
(tests/e2e/test_agent_local_model.py). :class:`JsonActions` is the protocol as a model wrapper: it asks
for the grammar, reads the action into a ToolCall block (:mod:`interleaf.wire.textcalls` reads this
format too), and turns ``final_answer`` into the end of the run. Results go back as tool messages: no
user message is ever added (docs/agent.md, "How the loop is built": rule 3 holds for local models too).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from interleaf.agent.flow import FlowInterrupt, Submitted
from interleaf.agent.protocols import TextCalls
from interleaf.transcript import Conversation, Message, Text, ToolResult, ToolSpec
from interleaf.wire.events import BlockEnd, StreamEvent

FINAL_KEY = "final_answer"


def action_schema(tools: Sequence[ToolSpec], *, allow_final: bool = True) -> dict[str, Any]:
    """A ``oneOf`` over one object per tool, plus the final answer when ``allow_final``."""
    variants: list[dict[str, Any]] = []
    for tool in tools:
        parameters = tool.parameters or {}
        properties = {"tool": {"const": tool.name}}
        for name, schema in (parameters.get("properties") or {}).items():
            properties[name] = {k: v for k, v in schema.items() if k in ("type", "enum", "items")} or {}
        variants.append(
            {
                "type": "object",
                "properties": properties,
                "required": ["tool", *parameters.get("required", [])],
                "additionalProperties": False,
            }
        )
    if allow_final:
        variants.append(
            {
                "type": "object",
                "properties": {FINAL_KEY: {"type": "string"}},
                "required": [FINAL_KEY],
                "additionalProperties": False,
            }
        )
    return {"oneOf": variants}


def response_format(tools: Sequence[ToolSpec], *, allow_final: bool = True) -> dict[str, Any]:
    schema = action_schema(tools, allow_final=allow_final)
    return {"type": "json_schema", "json_schema": {"name": "action", "schema": schema}}


def final_allowed(calls: Sequence[str]) -> bool:
    """Whether a final answer may be given after ``calls`` (tool names, oldest first, this task).

    Small models answer "done" without having run anything. The grammar enforces what the prompt asks:
    at least one call, and no file written or edited since the last ``shell`` run. This only narrows
    what the model may write; it adds nothing to the conversation.
    """
    if not calls:
        return False
    last_write = max((i for i, name in enumerate(calls) if name in ("write_file", "edit_file")), default=-1)
    last_run = max((i for i, name in enumerate(calls) if name == "shell"), default=-1)
    return last_write < 0 or last_run > last_write


def instructions(tools: Sequence[ToolSpec]) -> str:
    """What the model is told about the protocol (tool list with arguments, then the format)."""
    lines = ["", "Reply with exactly one JSON object and nothing else. To use a tool:"]
    for tool in tools:
        props = (tool.parameters or {}).get("properties") or {}
        required = set((tool.parameters or {}).get("required") or [])
        args = ", ".join(f'"{name}": ...' for name in props if name in required)
        summary = (tool.description or "").split(". ")[0].rstrip(".")
        lines.append(f'- {{"tool": "{tool.name}", {args}}}  ({summary})')
    lines += [
        'When the task is done, reply {"final_answer": "what you did and the result"}.',
        "You see each tool's output in the next message. Check your work before the final answer.",
    ]
    return "\n".join(lines)


REMINDER = (
    "[Reply with one JSON action. Before the final answer, run what you wrote with the shell tool and "
    "check that its output is right.]"
)
"""Appended to every tool result under this protocol: small models forget the loop's rules, and a tool
result is where a reminder may go without adding a user message."""


def with_reminder(content: str) -> str:
    return content if content.endswith(REMINDER) else f"{content}\n\n{REMINDER}"


def final_answer(text: str) -> str | None:
    """The answer in a ``{"final_answer": ...}`` reply, or ``None`` when the text is not one."""
    try:
        value = json.loads(text.strip())
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get(FINAL_KEY), str):
        return str(value[FINAL_KEY])
    return None


class JsonActions(TextCalls):
    """``model`` spoken to in JSON actions: the request offers the tools in the system prompt and a
    ``response_format`` grammar instead of native tools, each tool result carries the reminder, and
    the reply's action becomes a ToolCall block, or (``final_answer``) the run's answer.

    The reminders and the protocol's instructions are added to each request, not to the transcript,
    so the session records what the tools returned and every request renders the history the same way.
    """

    def request(self, conversation: Conversation) -> Conversation:
        tools = conversation.tools
        task = conversation.messages[conversation.last_user_index :]
        calls = [call.name for message in task for call in message.tool_calls]
        system = "".join(block.text for block in conversation.system or ())
        return replace(
            conversation,
            messages=tuple(_remind(message) for message in conversation.messages),
            system=(Text(text=f"{system}\n{instructions(tools)}"),),
            tools=(),
            extra={
                **conversation.extra,
                "response_format": response_format(tools, allow_final=final_allowed(calls)),
            },
            # response_format is an OpenAI Chat field, and the embedded server speaks that format.
            source="openai-chat",
        )

    def passes(self, event: StreamEvent) -> bool:
        # An action is shown as the call it makes or the answer it gives, not as the JSON text.
        return not (isinstance(event, BlockEnd) and isinstance(event.block, Text))

    def read(self, message: Message, conversation: Conversation) -> tuple[Message, FlowInterrupt | None]:
        message, interrupt = super().read(message, conversation)
        if interrupt is None and not message.tool_calls:
            answer = final_answer(message.text)
            if answer:
                interrupt = Submitted(answer, message)
        return message, interrupt


def _remind(message: Message) -> Message:
    if message.role != "tool":
        return message
    return replace(
        message,
        blocks=tuple(
            replace(b, content=with_reminder(b.content))
            if isinstance(b, ToolResult) and isinstance(b.content, str)
            else b
            for b in message.blocks
        ),
    )
