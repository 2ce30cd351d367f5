"""Scripted models for controls that can fail: deterministic policies that answer a conversation.

A policy is a function ``Conversation -> Response``. :class:`ScriptedModel` serves one in-process (the
benchmark uses it to measure the harness alone); :func:`openai_chat_reply` serves one over a real HTTP
server (tests put it behind ``tests/support/scripted_server.py``), so the ``restored`` condition goes
through a real gateway. The controls:

* :func:`needle_policy` thinks ``SECRET: word`` and later needs it. With its thinking given back it is
  always right; without, it guesses among the four possible answers (chance).
* :func:`guessing_policy` ignores history and guesses at once: every condition scores the same.
* :func:`bfcl_replay_policy` replays BFCL's ground-truth calls turn by turn; :func:`silent_policy`
  calls nothing.
"""

from __future__ import annotations

import ast
import hashlib
import random
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from interleaf.transcript import (
    Conversation,
    Message,
    ReasoningDialect,
    Response,
    Text,
    Thinking,
    ToolCall,
    Usage,
)
from interleaf.wire.events import StreamEvent, events_from_response

Policy = Callable[[Conversation], Response]
_TABLE = re.compile(r"Substitution table (\d+) of \d+: ([^\n]*?)\.\n")
_PAIR = re.compile(r"([a-z]+) -> ([a-z]+)")


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _first_user_text(conversation: Conversation) -> str:
    for message in conversation.messages:
        if message.role == "user" and not message.tool_results:
            return message.text
    return ""


def _system_text(conversation: Conversation) -> str:
    """The system prompt, wherever the wire put it (Anthropic's top level, OpenAI's system messages)."""
    parts = [t.text for t in conversation.system or ()]
    parts += [m.text for m in conversation.messages if m.role == "system"]
    return "\n".join(parts)


def _seed(conversation: Conversation) -> int:
    value = conversation.extra.get("seed", 0)
    return int(value) if isinstance(value, int) else 0


def _reply(blocks: Sequence[Thinking | Text | ToolCall], conversation: Conversation) -> Response:
    """A response with usage figures a real server would give (characters / 4)."""
    chars = sum(
        len(b.text) for m in conversation.messages for b in m.blocks if isinstance(b, Text | Thinking)
    )
    chars += sum(len(b.text) for m in conversation.messages for b in m.tool_results)
    out = sum(len(b.text) if isinstance(b, Text | Thinking) else len(b.arguments_json) for b in blocks)
    stop = "tool_use" if any(isinstance(b, ToolCall) for b in blocks) else "end_turn"
    return Response(
        message=Message(role="assistant", blocks=tuple(blocks)),
        model="scripted",
        stop_reason=stop,
        usage=Usage(input_tokens=chars // 4 + 1, output_tokens=out // 4 + 1),
    )


def _call_id(*parts: object) -> str:
    return "call_" + hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:16]


def _listed(prompt: str, label: str) -> list[str]:
    match = re.search(rf"^{label}: (.+)\.$", prompt, re.M)
    return [w.strip() for w in match.group(1).split(",")] if match else []


def needle_policy(conversation: Conversation) -> Response:
    """Choose a secret in thinking, read every page, then answer from the secret if it is still there.

    It reads what a real model would: its earlier thinking, the tool results, and a summary in the
    system prompt (``--context-policy summary``); asked to summarise, it keeps the lines that matter.
    """
    system = _system_text(conversation)
    prompt = _first_user_text(conversation)
    if system.startswith("Summarise"):
        keep = [line for line in prompt.splitlines() if re.search(r"SECRET:|Substitution table \d", line)]
        return _reply([Text(text="\n".join(keep) or "nothing to keep")], conversation)
    words, finals = _listed(prompt, "Words to choose from"), _listed(prompt, "Possible final answers")
    pages_match = re.search(r"^Pages: (\d+)\.$", prompt, re.M)
    pages = int(pages_match.group(1)) if pages_match else 1
    seed = _seed(conversation)
    earlier = [m for m in conversation.messages if m.role == "assistant"]
    seen = "\n".join([system, *(r.text for m in conversation.messages for r in m.tool_results)])
    tables: dict[int, dict[str, str]] = {}
    for number, listing in _TABLE.findall(seen + "\n"):
        tables[int(number)] = dict(_PAIR.findall(listing))
    if not earlier and not tables:
        choice = _rng(prompt, seed).choice(words)
        return _reply(
            [
                Thinking(
                    text=f"I pick a word at random. SECRET: {choice}",
                    dialect=ReasoningDialect.REASONING_CONTENT,
                ),
                ToolCall(id=_call_id(prompt, seed, 1), name="read_page", arguments={"page": 1}),
            ],
            conversation,
        )
    secret: str | None = None
    notes = [b.text for m in earlier for b in m.thinking if isinstance(b, Thinking)] + [system]
    for note in notes:
        if match := re.search(r"SECRET: (\w+)", note):
            secret = match.group(1)
    read = max(tables, default=0)
    if read < pages:
        note = f"VALUE noted; next page {read + 1}." if secret else "I cannot see my earlier notes."
        return _reply(
            [
                Thinking(text=note, dialect=ReasoningDialect.REASONING_CONTENT),
                ToolCall(id=_call_id(prompt, seed, read + 1), name="read_page", arguments={"page": read + 1}),
            ],
            conversation,
        )
    if secret is None:
        answer = _rng(prompt, seed, "guess").choice(finals)
        thought = "My secret is not in front of me any more; I can only guess."
    else:
        answer = secret
        for number in sorted(tables):
            answer = tables[number].get(answer, answer)
        thought = f"SECRET was {secret}; after the tables the VALUE is {answer}."
    return _reply(
        [Thinking(text=thought, dialect=ReasoningDialect.REASONING_CONTENT), Text(text=answer)], conversation
    )


def guessing_policy(conversation: Conversation) -> Response:
    """Ignore history: choose a secret as asked, then guess one of the listed answers at once, from the
    task alone (the pages are never read)."""
    prompt = _first_user_text(conversation)
    words = _listed(prompt, "Words to choose from") or ["nothing"]
    finals = _listed(prompt, "Possible final answers") or ["nothing"]
    secret = _rng(prompt, _seed(conversation)).choice(words)
    answer = _rng(prompt, _seed(conversation), "guess").choice(finals)
    thought = f"SECRET: {secret}. I will not read anything; I just guess."
    return _reply(
        [Thinking(text=thought, dialect=ReasoningDialect.REASONING_CONTENT), Text(text=answer)], conversation
    )


def silent_policy(conversation: Conversation) -> Response:
    """Call nothing, ever: every BFCL task with expected calls fails."""
    return _reply([Text(text="I will not call any function.")], conversation)


def bfcl_replay_policy(
    ground_truth: Mapping[str, Sequence[Sequence[str]]], parameters: Mapping[str, Sequence[str]]
) -> Policy:
    """Replay BFCL's ground truth: at each new user turn, that turn's calls at once; then a short answer.

    ``ground_truth`` maps a task's first question to its per-turn call strings (``cd(folder='x')``);
    ``parameters`` maps function names to their parameter names, in order, for positional arguments.
    """

    def policy(conversation: Conversation) -> Response:
        calls_for = ground_truth.get(_first_user_text(conversation))
        turn = sum(1 for m in conversation.messages if m.role == "user" and not m.tool_results) - 1
        last = conversation.messages[-1] if conversation.messages else None
        if (
            calls_for is None
            or turn >= len(calls_for)
            or last is None
            or last.role != "user"
            or last.tool_results
        ):
            return _reply([Text(text="Done.")], conversation)
        blocks: list[Thinking | Text | ToolCall] = [
            Thinking(
                text=f"Turn {turn}: replaying the reference calls.",
                dialect=ReasoningDialect.REASONING_CONTENT,
            )
        ]
        for index, call in enumerate(calls_for[turn]):
            name, arguments = parse_call(call, parameters)
            blocks.append(ToolCall(id=_call_id(turn, index, call), name=name, arguments=arguments))
        if len(blocks) == 1:
            blocks.append(Text(text="I cannot do that with the functions I have."))
        return _reply(blocks, conversation)

    return policy


def parse_call(text: str, parameters: Mapping[str, Sequence[str]]) -> tuple[str, dict[str, Any]]:
    """``mv(source='a', destination='b')`` -> ``("mv", {...})``; positional arguments are named from
    ``parameters``."""
    node = ast.parse(text.strip(), mode="eval").body
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ValueError(f"not a function call: {text!r}")
    name = node.func.id
    arguments = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg is not None}
    for position, value in enumerate(node.args):
        arguments[parameters[name][position]] = ast.literal_eval(value)
    return name, arguments


class ScriptedModel:
    """A :class:`~interleaf.agent.loop.Model` answering in-process from a policy (no HTTP)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.requests: list[Conversation] = []

    async def stream(self, conversation: Conversation) -> AsyncIterator[StreamEvent]:
        self.requests.append(conversation)
        for event in events_from_response(self.policy(conversation)):
            yield event

    async def complete(self, conversation: Conversation, *, stream: bool = False) -> Response:
        self.requests.append(conversation)
        return self.policy(conversation)


def openai_chat_reply(body: Mapping[str, Any], policy: Policy) -> tuple[bool, Any]:
    """Answer an OpenAI Chat request body with ``policy``: ``(streamed, payload)`` where ``payload`` is
    the JSON body, or the list of SSE chunk payloads ending with ``"[DONE]"`` when the request streams.
    Thinking goes out as ``reasoning_content``."""
    from interleaf.wire import openai_chat

    conversation = openai_chat.decode_request(dict(body))
    response = policy(conversation)
    dialect = ReasoningDialect.REASONING_CONTENT
    if body.get("stream"):
        payloads: list[Any] = list(openai_chat.stream_payloads(response, dialect))
        return True, [*payloads, "[DONE]"]
    return False, openai_chat.encode_response(response, dialect=dialect)


class ScriptedSource:
    """A :class:`~interleaf.eval.backend.ModelSource` serving one policy in-process for every condition
    (no gateway, so no ``restored``): for measuring the harness without a model or a network."""

    def __init__(self, policy: Policy, *, profile: str = "sglang", model: str = "scripted") -> None:
        self.policy = policy
        self.profile_name = profile
        self.api = "openai-chat"
        self.model_name = model
        self.endpoint = "in-process"

    def model(self, condition: str) -> ScriptedModel:
        if condition == "restored":
            raise ValueError(
                "the in-process scripted source has no gateway; use an HTTP endpoint for restored"
            )
        return ScriptedModel(self.policy)
