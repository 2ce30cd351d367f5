"""The judge's rubric, the trajectory digest it reads, and the checks on its verdict.

Criteria, each an integer 1-5 (docs/data.md has the full rubric):

* ``logic``: logical completeness: each step follows from the task, the earlier steps and the tool
  results; no leaps; the reasoning reaches the answer.
* ``redundancy``: 5 = nothing restated or repeated; 1 = mostly repetition, or thinking that only
  restates the tool output.
* ``correctness``: every step and tool call is right, and the answer is right given the results.
* ``format``: the answer is clean and in the format the task asks for (or a sensible one).
* ``difficulty``: 1 = trivial, 5 = expert work over many steps (feeds the difficulty score).

The quality score is the mean of the first four. A verdict that is not this JSON object, or has a
score out of range, is rejected (:class:`VerdictError`); the runner retries once, then records the
row as unjudged.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from interleaf.data import text as tx
from interleaf.transcript import Conversation, Text, Thinking, ToolCall, ToolResult

RUBRIC_VERSION = "1"
CRITERIA = ("logic", "redundancy", "correctness", "format")
SCORES = (*CRITERIA, "difficulty")

SYSTEM_PROMPT = """You grade one AI agent trajectory for a training dataset: the TASK, each STEP (the \
agent's private THINKING, its TEXT, its tool CALLs and their RESULTs) and the FINAL answer. Give each \
criterion an integer from 1 to 5 (for the first four, 5 is the best):
- logic: each step follows from the task, the earlier steps and the results; the reasoning reaches the answer.
- redundancy: 5 = nothing repeated and no thinking that only restates a result; 1 = mostly repetition.
- correctness: the steps and calls are right and the final answer matches the results.
- format: the final answer is clean and in the format the task asks for.
- difficulty: 1 = a trivial task, 5 = expert work over many steps.
Reply with one compact JSON object: {"logic":n,"redundancy":n,"correctness":n,"format":n,"difficulty":n,\
"reason":"the main weakness, at most 15 words"}"""

RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **{name: {"type": "integer", "minimum": 1, "maximum": 5} for name in SCORES},
        "reason": {"type": "string", "maxLength": 120},
    },
    "required": [*SCORES, "reason"],
    "additionalProperties": False,
}


class VerdictError(ValueError):
    """The judge's reply is not a valid verdict; the message says what is wrong with it."""


@dataclass(frozen=True, slots=True)
class Verdict:
    logic: int
    redundancy: int
    correctness: int
    format: int
    difficulty: int
    reason: str

    @property
    def score(self) -> float:
        total = self.logic + self.redundancy + self.correctness + self.format
        return round(total / len(CRITERIA), 3)

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (*SCORES, "reason")}


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_verdict(reply: str) -> Verdict:
    """The verdict in ``reply`` (a JSON object, optionally in a code fence); VerdictError otherwise."""
    text = reply.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise VerdictError(f"not JSON: {tx.clip(reply.strip(), 80)!r}") from None
    if not isinstance(data, dict):
        raise VerdictError(f"not a JSON object but {type(data).__name__}")
    values: dict[str, int] = {}
    for name in SCORES:
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise VerdictError(f"{name} is {value!r}, not an integer 1-5")
        if not 1 <= value <= 5:
            raise VerdictError(f"{name} is {value}, out of the range 1-5")
        values[name] = int(value)
    reason = data.get("reason", "")
    if not isinstance(reason, str):
        raise VerdictError("reason is not a string")
    return Verdict(reason=reason.strip()[:240], **values)


def digest(conversation: Conversation, max_chars: int = 2400) -> str:
    """The trajectory as the judge reads it: task, steps, final answer, within ``max_chars``.

    Long pieces are clipped head-and-tail; when the steps still do not fit, the middle steps are left
    out (the first two and the last three stay), and the digest says how many.
    """
    task = tx.clip(tx.task_text(conversation), max(max_chars // 5, 200))
    steps: list[str] = []
    number = 0
    names: dict[str, str] = {}
    for message in conversation.messages:
        if message.role == "assistant":
            number += 1
            lines = [f"STEP {number}"]
            for block in message.blocks:
                if isinstance(block, Thinking):
                    lines.append(f"  THINKING: {tx.clip(block.text.strip(), 500)}")
                elif isinstance(block, Text) and block.text.strip():
                    lines.append(f"  TEXT: {tx.clip(block.text.strip(), 300)}")
                elif isinstance(block, ToolCall):
                    names[block.id] = block.name
                    lines.append(f"  CALL {block.name} {tx.clip(block.arguments_json, 200)}")
            steps.append("\n".join(lines))
        else:
            results = [b for b in message.blocks if isinstance(b, ToolResult)]
            if results and steps:
                steps[-1] += "".join(
                    f"\n  RESULT{' (error)' if r.is_error else ''}: {tx.clip(r.text.strip(), 200)}"
                    for r in results
                )
            elif message.role == "user" and message.text.strip() and steps:
                steps.append(f"USER: {tx.clip(message.text.strip(), 200)}")
    answer = tx.final_answer(conversation)
    head = f"TASK: {task}\n"
    tail = f"\nFINAL: {tx.clip(answer.strip(), 400) if answer.strip() else '(none: the trajectory ends without an answer)'}"
    budget = max_chars - len(head) - len(tail)
    body = "\n".join(steps)
    if len(body) > budget and len(steps) > 5:
        kept_head, kept_tail = steps[:2], steps[-3:]
        omitted = len(steps) - 5
        body = "\n".join([*kept_head, f"[… {omitted} steps omitted …]", *kept_tail])
    if len(body) > budget:
        body = tx.clip(body, max(budget, 200))
    return head + body + tail
