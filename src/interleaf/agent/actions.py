"""The JSON action protocol, for small local models that cannot make native tool calls.

Instead of the server's tool-call parser, each reply is constrained (llama.cpp's JSON-schema grammar) to
one object: ``{"tool": NAME, ...arguments}`` or ``{"final_answer": TEXT}``. local-model.md §6 measured
this 5/5 on both steps of a tool loop with Qwen2.5-Coder-1.5B, where free-form calls repeat themselves.
Calls still enter the transcript as ToolCall blocks (textcalls reads the action), and results go back as
tool messages: no user message is ever added (ARCHITECTURE.md rule 3 holds for local models too).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from interleaf.transcript import ToolSpec

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
result is where a reminder may go without adding a user message (ARCHITECTURE.md rule 3)."""


def with_reminder(content: str) -> str:
    return f"{content}\n\n{REMINDER}"


def final_answer(text: str) -> str | None:
    """The answer in a ``{"final_answer": ...}`` reply, or ``None`` when the text is not one."""
    try:
        value = json.loads(text.strip())
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get(FINAL_KEY), str):
        return str(value[FINAL_KEY])
    return None
