"""Probing servers that verify thinking signatures (Anthropic) from a real first turn.

Fabricated thinking cannot be sent where signatures are checked: unsigned or re-signed blocks are
rejected (or, on a lenient server, mean nothing). So each trial lets the model write its own signed
thinking — turn 1 asks it to invent a code there and call ``lookup`` — then replays that turn exactly,
signatures untouched, with the tool result, and asks for the code back (turn 2). The code is read
from the turn-1 thinking; a model that writes it anywhere else spoils the trial.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import replace

from interleaf.backends.errors import BackendError
from interleaf.probe.histories import LOOKUP, RESULT, Reply, normalize
from interleaf.probe.report import Trial
from interleaf.transcript import Conversation, JSONDict, Message, Response, Text, ToolResult

Ask = Callable[[Conversation], Awaitable[Response]]

SIGNED_SYSTEM = (
    "You are taking part in a memory check inside a tool loop. In your thinking, before you call the "
    "`lookup` tool, invent a random verification code of 8 capital letters and digits and write it in "
    "your thinking exactly once, as `CODE: ` followed by the code. Never write the code in your visible "
    "reply or in tool arguments. Then call `lookup`. When the tool has answered, reply with that exact "
    "code and nothing else; if you cannot find it, reply NONE."
)
SIGNED_USER = "Invent your code while thinking, run the `lookup` tool, then tell me the code."
_SIGNED_CODE = re.compile(r"CODE\s*[:=]\s*[*`\"']*([A-Za-z0-9][A-Za-z0-9-]{4,19})")


def signed_first_turn(params: JSONDict) -> Conversation:
    """Turn 1 of a signed trial: the model invents the code in its own (signed) thinking."""
    return Conversation(
        system=(Text(text=SIGNED_SYSTEM),),
        messages=(Message(role="user", blocks=(Text(text=SIGNED_USER),)),),
        tools=(LOOKUP,),
        params=dict(params),
    )


def signed_code(response: Response) -> str | None:
    """The code the model wrote in its thinking as ``CODE: ...``, or ``None``."""
    reply = Reply.of(response)
    match = _SIGNED_CODE.search(reply.thinking)
    return match[1] if match else None


def signed_second_turn(first: Conversation, response: Response) -> Conversation | None:
    """Turn 2: turn 1 replayed exactly (its signed thinking untouched) plus a result for every call it
    made; ``None`` when turn 1 called no tool."""
    calls = response.message.tool_calls
    if not calls:
        return None
    results = tuple(ToolResult(call_id=c.id, content=RESULT, name=c.name) for c in calls)
    return replace(
        first,
        messages=(*first.messages, response.message, Message(role="tool", blocks=results)),
    )


async def signed_trial(ask: Ask, params: JSONDict) -> Trial:
    """One two-turn trial; ``ask`` sends a conversation with thinking as Anthropic blocks."""
    first = signed_first_turn(params)
    try:
        response = await ask(first)
    except BackendError as exc:
        return Trial(code=None, error=f"turn 1: {exc}")
    code = signed_code(response)
    turn1 = Reply.of(response)
    if code is None:
        return Trial(
            code=None,
            error="turn 1: no `CODE: ...` in the model's thinking (is the thinking display omitted?)",
            reply=turn1.excerpt(),
        )
    outside = turn1.text + " ".join(c.arguments_json for c in turn1.tool_calls)
    if normalize(code) in normalize(outside):
        return Trial(
            code=code, error="turn 1: the model wrote its code outside its thinking", reply=turn1.excerpt()
        )
    second = signed_second_turn(first, response)
    if second is None:
        return Trial(code=code, error="turn 1: the model called no tool", reply=turn1.excerpt())
    try:
        answer = await ask(second)
    except BackendError as exc:
        return Trial(code=code, error=f"turn 2: {exc}")
    reply = Reply.of(answer)
    return Trial(code=code, found_in=reply.where(code), reply=reply.excerpt())
