"""``--diversify``: vary the answer format so a model does not overfit one (MiniMax's format diversity).

The scheme, per row (deterministic: a hash of the row id and the seed picks the style):

* styles ``original``, ``plain``, ``markdown`` and ``json``, a quarter of the rows each;
* ``plain`` strips Markdown from the final answer (headings, emphasis, bullets, inline code marks,
  links become ``text (url)``); ``markdown`` bolds the first sentence and lists the others as
  bullets; ``json`` writes ``{"answer": "<plain text>"}``;
* the matching instruction is appended to the last user message, so the format is asked for, not
  random: "Answer in plain text, without Markdown." / "Format the answer in Markdown." /
  "Answer with a JSON object {"answer": "…"} and nothing else.";
* a row keeps its original answer when the task already asks for a format ("as JSON", "in a table",
  "one sentence", "reply with", "exactly", …), when the answer holds code, or when there is no final
  answer.

Only the final answer's text blocks and the last user message change; thinking, tool calls and tool
results are never touched.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import replace

from interleaf.data import text as tx
from interleaf.transcript import Conversation, Message, Text

STYLES = ("original", "plain", "markdown", "json")
INSTRUCTIONS = {
    "plain": "Answer in plain text, without Markdown.",
    "markdown": "Format the answer in Markdown.",
    "json": 'Answer with a JSON object {"answer": "…"} and nothing else.',
}
# A task asks for a format when it says so ("as JSON", "in a table", "one sentence", "reply with");
# merely naming a file type ("rows of data.csv") does not.
_FIXED_FORMAT = re.compile(
    r"\b(?:in|as|into|with|using) (?:a |an |the )?(?:json|markdown|yaml|csv|xml|html|table|list|bullets?|"
    r"bullet(?:ed)? list|numbered list|code block)\b|\bformat(?:ted|ting)?\b|\bone (?:word|sentence|line)\b|"
    r"\bexactly\b|\bonly (?:the|with)\b|\b(?:reply|respond|answer) with\b|\bin the form\b",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def choose(row_id: str, seed: int) -> str:
    digest = hashlib.sha256(f"{seed}:{row_id}".encode()).digest()
    return STYLES[digest[0] % len(STYLES)]


def to_plain(text: str) -> str:
    text = re.sub(r"^\s{0,3}#{1,6}\s*", "", text, flags=re.MULTILINE)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", text)
    text = re.sub(r"^(\s*)[-*+]\s+", r"\1", text, flags=re.MULTILINE)
    text = re.sub(r"`([^`\n]+)`", r"\1", text)
    return re.sub(r"\[([^\]]+)\]\((\S+?)\)", r"\1 (\2)", text)


def to_markdown(text: str) -> str:
    plain = to_plain(text).strip()
    sentences = [s.strip() for s in _SENTENCE.split(plain) if s.strip()]
    if len(sentences) <= 1:
        return f"**{plain}**"
    return f"**{sentences[0]}**\n\n" + "\n".join(f"- {s}" for s in sentences[1:])


def to_json(text: str) -> str:
    return json.dumps({"answer": to_plain(text).strip()}, ensure_ascii=False)


_TRANSFORMS: dict[str, Callable[[str], str]] = {"plain": to_plain, "markdown": to_markdown, "json": to_json}


def diversify(conversation: Conversation, row_id: str, seed: int) -> tuple[Conversation, str]:
    """The conversation with its answer in the chosen style, and the style (or why it was kept)."""
    style = choose(row_id, seed)
    if style == "original":
        return conversation, "original"
    answer_index = tx.final_answer_index(conversation)
    if answer_index is None or not conversation.messages[answer_index].text.strip():
        return conversation, "kept: no final answer"
    answer = conversation.messages[answer_index].text
    if "```" in answer:
        return conversation, "kept: answer holds code"
    users = [
        i for i, m in enumerate(conversation.messages[:answer_index]) if m.role == "user" and m.text.strip()
    ]
    if not users or any(_FIXED_FORMAT.search(conversation.messages[i].text) for i in users):
        return conversation, "kept: the task fixes the format"
    messages = list(conversation.messages)
    messages[answer_index] = _rewrite_answer(messages[answer_index], _TRANSFORMS[style])
    messages[users[-1]] = _append_instruction(messages[users[-1]], INSTRUCTIONS[style])
    return conversation.with_messages(messages), style


def _rewrite_answer(message: Message, transform: Callable[[str], str]) -> Message:
    texts = [i for i, b in enumerate(message.blocks) if isinstance(b, Text)]
    blocks = list(message.blocks)
    joined = message.text
    # The visible answer becomes one text block in place of the first; thinking stays where it was.
    blocks[texts[0]] = Text(text=transform(joined))
    for i in reversed(texts[1:]):
        del blocks[i]
    return replace(message, blocks=tuple(blocks))


def _append_instruction(message: Message, instruction: str) -> Message:
    blocks = list(message.blocks)
    last = max(i for i, b in enumerate(blocks) if isinstance(b, Text))
    block = blocks[last]
    assert isinstance(block, Text)
    blocks[last] = replace(block, text=f"{block.text}\n\n{instruction}")
    return replace(message, blocks=tuple(blocks))
