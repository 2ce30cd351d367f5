"""Rules about the answer and the whole trajectory: contradiction with the tools, mixed languages,
lengths out of range."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from typing import Any

from interleaf.data import text as tx
from interleaf.data.rules.base import ERROR_SIGNS, is_error_result
from interleaf.transcript import Conversation

_SUCCESS_CLAIM = re.compile(
    r"\b(?:successfully|all (?:the )?tests? pass(?:ed|es)?|tests? (?:now )?pass(?:ed|es)?|works now|now works|"
    r"is fixed|has been fixed|fixed it|no errors?|completed? without)\b",
    re.IGNORECASE,
)
_FAILURE_CLAIM = re.compile(
    r"\b(?:fail(?:s|ed|ing)?|errors? (?:remain|persist)|does(?:n't| not) work)\b", re.IGNORECASE
)
_ADMITS = re.compile(
    r"\b(?:not|no longer|couldn't|could not|unable|fail(?:s|ed|ing|ure)?|error|but|however|still)\b",
    re.IGNORECASE,
)
_CLEAN_PASS = re.compile(r"\b[1-9]\d* passed\b")
# A number the answer attributes to a tool ("the output is 42", "the script printed 7"); derived
# figures ("so 100 rows remain") are the model's own reasoning and are not checked.
_NUMERIC_CLAIM = re.compile(
    r"\b(?:output|result|printed|prints|returned|returns|shows|showed|reported|reports)\s+"
    r"(?:is\s+|was\s+|of\s+|:\s*)?\**(-?\d[\d,]*(?:\.\d+)?)\b",
    re.IGNORECASE,
)


def answer_contradicts_tools(conversation: Conversation, params: Mapping[str, Any]) -> list[str]:
    """A final answer at odds with the last tool results: it claims success after a failure (or a
    failure after a clean pass), or attributes to a tool a number that no tool result holds."""
    index = tx.final_answer_index(conversation)
    if index is None:
        return []
    answer = conversation.messages[index].text
    last = tx.results_before(conversation, index)
    if not last:
        return []
    found = []
    failed = [r for r in last if is_error_result(r)]
    if failed and _SUCCESS_CLAIM.search(answer) and not _ADMITS.search(answer):
        found.append(f"messages[{index}]: claims success, but the last tool result reports a failure")
    last_text = "\n".join(r.text for r in last)
    if (
        not failed
        and _CLEAN_PASS.search(last_text)
        and not ERROR_SIGNS.search(last_text)
        and _FAILURE_CLAIM.search(answer)
    ):
        found.append(f"messages[{index}]: reports a failure, but the last tool result shows a clean pass")
    evidence = "\n".join([*(r.text for _, r in tx.tool_results(conversation)), *tx.user_texts(conversation)])
    known = {n.replace(",", "") for n in re.findall(r"-?\d[\d,]*(?:\.\d+)?", evidence)}
    for match in _NUMERIC_CLAIM.finditer(answer):
        number = match.group(1).replace(",", "")
        if number not in known and re.search(r"\d", last_text):
            found.append(
                f"messages[{index}]: states {match.group(0).strip()!r}, a number no tool result holds"
            )
            break
    return found


_SCRIPTS = (
    ("latin", "LATIN"),
    ("cjk", "CJK"),
    ("cjk", "HIRAGANA"),
    ("cjk", "KATAKANA"),
    ("cjk", "HANGUL"),
    ("cyrillic", "CYRILLIC"),
    ("greek", "GREEK"),
    ("arabic", "ARABIC"),
    ("hebrew", "HEBREW"),
    ("devanagari", "DEVANAGARI"),
    ("thai", "THAI"),
)
_CODE = re.compile(r"```.*?```|`[^`\n]*`|https?://\S+", re.DOTALL)


def script_counts(text: str) -> Counter[str]:
    """Letters of ``text`` per writing system (code spans, fences and URLs left out)."""
    counts: Counter[str] = Counter()
    if text.isascii():
        counts["latin"] = sum(1 for ch in text if ch.isalpha())
        return counts
    for ch in _CODE.sub(" ", text):
        if not ch.isalpha():
            continue
        if ch.isascii():
            counts["latin"] += 1
            continue
        name = unicodedata.name(ch, "")
        for script, prefix in _SCRIPTS:
            if name.startswith(prefix):
                counts[script] += 1
                break
        else:
            counts["other"] += 1
    return counts


def language_mixing(conversation: Conversation, params: Mapping[str, Any]) -> list[str]:
    """Thinking or an answer written partly in a script the task does not use (Latin always allowed,
    for code and names): more than ``max_share`` of its letters and at least ``min_letters`` of them."""
    task = script_counts("\n".join(tx.user_texts(conversation)) or tx.task_text(conversation))
    task_total = sum(task.values())
    allowed = {"latin"} | {s for s, n in task.items() if task_total and n / task_total >= 0.1}
    found = []
    pieces = [
        (f"messages[{s.message}].blocks[{s.block}] thinking", s.text) for s in tx.thinking_spans(conversation)
    ]
    index = tx.final_answer_index(conversation)
    if index is not None:
        pieces.append((f"messages[{index}] answer", conversation.messages[index].text))
    for where, text in pieces:
        if text.isascii():
            continue  # only Latin letters: nothing foreign to count
        counts = script_counts(text)
        total = sum(counts.values())
        foreign = {s: n for s, n in counts.items() if s not in allowed}
        count = sum(foreign.values())
        if total and count >= int(params["min_letters"]) and count / total > float(params["max_share"]):
            scripts = ", ".join(sorted(foreign))
            found.append(
                f"{where}: {count / total:.0%} of the letters are {scripts}, which the task does not use"
            )
    return found


def length_out_of_range(conversation: Conversation, params: Mapping[str, Any]) -> list[str]:
    """Token estimate outside [``min_tokens``, ``max_tokens``], more than ``max_steps`` assistant
    steps, or one thinking block over ``max_thinking_tokens``."""
    found = []
    tokens = tx.estimate_tokens("".join(tx.iter_texts(conversation)))
    if tokens < int(params["min_tokens"]):
        found.append(f"~{tokens} tokens, fewer than min_tokens {params['min_tokens']}")
    if tokens > int(params["max_tokens"]):
        found.append(f"~{tokens} tokens, more than max_tokens {params['max_tokens']}")
    steps = len(tx.assistant_messages(conversation))
    if steps > int(params["max_steps"]):
        found.append(f"{steps} steps, more than max_steps {params['max_steps']}")
    for span in tx.thinking_spans(conversation):
        size = tx.estimate_tokens(span.text)
        if size > int(params["max_thinking_tokens"]):
            found.append(
                f"messages[{span.message}].blocks[{span.block}]: ~{size} thinking tokens, more than "
                f"max_thinking_tokens {params['max_thinking_tokens']}"
            )
    return found
