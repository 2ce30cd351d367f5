"""The conversations the endpoint probe sends, and how it reads the replies.

Every trial is one tool loop: the user asks for the ``lookup`` tool and then for a code; the assistant's
earlier turn thought about a random code and called the tool; the tool answered. The model now speaks
*inside* the loop — the last message is the tool result, never an extra user message, because a user
message after the assistant turn makes templates such as MiniMax-M2's or Qwen3's drop that turn's
thinking (docs/architecture.md, rule 3) and the probe would measure its own mistake.

The code appears in exactly one place per conversation, so the reply can only hold it if that place
reached the model:

* :func:`way_trial` — only in the earlier thinking (sent back in the way under test);
* :func:`control_trial` — nowhere: a reply holding any code of the run means codes reach the model
  some other way (a cache replaying earlier reasoning, a probe bug), and no verdict holds;
* :func:`baseline_trial` — only in the earlier turn's visible text, which every template renders: a
  model that cannot repeat it from there is too weak for the probe to judge anything.

Servers that verify signatures take no fabricated thinking: :mod:`interleaf.probe.signed` probes them
from a real first turn instead.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from interleaf.transcript import (
    Conversation,
    JSONDict,
    Message,
    Response,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    ToolSpec,
)

TOOL_NAME = "lookup"
CALL_ID = "call_probe_1"
LOOKUP = ToolSpec(
    name=TOOL_NAME,
    description="Look something up. Takes no arguments.",
    parameters={"type": "object", "properties": {}},
)

# Letters and digits that no model confuses with one another (no 0/O, 1/I/L).
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

SYSTEM = (
    "You are taking part in a memory check inside a tool loop. Before calling a tool you noted a "
    "verification code. When the tool has answered, reply to the user with that exact code and nothing "
    "else. If you cannot find a code you noted, reply NONE. Never make up a code."
)
USER = "Run the `lookup` tool, then tell me the verification code you noted while thinking."
RESULT = "ok (the tool returns nothing useful). Now reply with the verification code you noted."


def new_code(rng: random.Random) -> str:
    """A fresh code such as ``K7Q-3X9P``: 31**7 possibilities, so no model guesses one."""
    letters = [rng.choice(_ALPHABET) for _ in range(7)]
    return "".join(letters[:3]) + "-" + "".join(letters[3:])


def normalize(text: str) -> str:
    """Upper-case letters and digits only: ``k7q 3x9p`` and ``K7Q-3X9P`` read the same."""
    return re.sub(r"[^A-Z0-9]", "", text.upper())


@dataclass(frozen=True, slots=True)
class Reply:
    """What the model said, split where a code could hide."""

    thinking: str
    text: str
    tool_calls: tuple[ToolCall, ...]

    @classmethod
    def of(cls, response: Response) -> Reply:
        message = response.message
        thinking = "\n".join(b.text for b in message.thinking if isinstance(b, Thinking))
        return cls(thinking=thinking, text=message.text, tool_calls=message.tool_calls)

    def where(self, code: str) -> str | None:
        """``thinking``, ``text`` or ``tool_call`` — the first place ``code`` appears — or ``None``."""
        wanted = normalize(code)
        arguments = " ".join(f"{c.name} {c.arguments_json}" for c in self.tool_calls)
        for place, value in (("thinking", self.thinking), ("text", self.text), ("tool_call", arguments)):
            if wanted and wanted in normalize(value):
                return place
        return None

    def excerpt(self, limit: int = 160) -> str:
        """A one-line summary for reports: visible text first, then thinking."""
        parts = []
        if self.text.strip():
            parts.append(self.text.strip())
        if self.thinking.strip():
            parts.append(f"[thinking] {self.thinking.strip()}")
        if self.tool_calls:
            parts.append("[calls] " + ", ".join(c.name for c in self.tool_calls))
        line = " ".join(" | ".join(parts).split()) or "(empty reply)"
        return line if len(line) <= limit else line[: limit - 1] + "…"


def _loop(assistant: tuple[Thinking | Text | ToolCall, ...], params: JSONDict) -> Conversation:
    return Conversation(
        system=(Text(text=SYSTEM),),
        messages=(
            Message(role="user", blocks=(Text(text=USER),)),
            Message(role="assistant", blocks=assistant),
            Message(role="tool", blocks=(ToolResult(call_id=CALL_ID, content=RESULT, name=TOOL_NAME),)),
        ),
        tools=(LOOKUP,),
        params=dict(params),
    )


def _call() -> ToolCall:
    return ToolCall(id=CALL_ID, name=TOOL_NAME, arguments={}, raw_arguments="{}")


def thinking_text(code: str) -> str:
    """The earlier turn's reasoning: the code early and explicit, easy for a small model to find."""
    return (
        f"The verification code is {code}. I must remember it and repeat it exactly after the tool "
        "returns. Now I call lookup."
    )


def way_trial(code: str, params: JSONDict) -> Conversation:
    """The code only in the earlier thinking; the codec puts that thinking in the way under test."""
    return _loop((Thinking(text=thinking_text(code)), _call()), params)


def control_trial(params: JSONDict) -> Conversation:
    """The same loop with no reasoning and no code anywhere."""
    return _loop((_call(),), params)


def baseline_trial(code: str, params: JSONDict) -> Conversation:
    """The code only in the earlier turn's visible text, which every template renders."""
    return _loop((Text(text=f"I noted the verification code {code}. Now I call lookup."), _call()), params)


def tool_check(params: JSONDict) -> Conversation:
    """A request the model should answer with a call to ``lookup``."""
    return Conversation(
        system=(Text(text="You are a helpful assistant. Use the tools you are given."),),
        messages=(Message(role="user", blocks=(Text(text="Call the `lookup` tool now."),)),),
        tools=(LOOKUP,),
        params=dict(params),
    )
