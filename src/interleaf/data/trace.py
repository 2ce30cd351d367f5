"""``interleaf data trace``: every bad case has its dirty training data; find it.

Given a bad trajectory (any format ``collect`` reads, or plain text such as a bad answer), rank the
dataset's rows by how much they look like it: MinHash similarity (word 3-grams) of the task, the
thinking and the answer, and the share of the bad case's distinctive words the row also holds
(token overlap). Each match says why: which part matched how closely, the words they share, and
the longest phrase they have in common.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from interleaf.data import text as tx
from interleaf.data.dataset import open_dataset, read_part
from interleaf.data.dedup import DedupConfig, signatures
from interleaf.data.errors import DataError, RowError
from interleaf.data.rows import conversation_of
from interleaf.data.sources.wire import decode
from interleaf.transcript import Conversation, TranscriptFormatError

FIELDS = ("task", "thinking", "answer")
_CONFIG = DedupConfig(shingle=3)
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "do",
        "for",
        "from",
        "has",
        "have",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "so",
        "that",
        "the",
        "then",
        "there",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "which",
        "will",
        "with",
        "you",
        "your",
        "let",
        "me",
        "now",
        "ok",
    ]
)


@dataclass(frozen=True, slots=True)
class BadCase:
    """The parts of a bad case: a whole trajectory, or only text (then it is compared everywhere)."""

    task: str = ""
    thinking: str = ""
    answer: str = ""

    @property
    def all_text(self) -> str:
        return "\n".join(part for part in (self.task, self.thinking, self.answer) if part)


@dataclass
class Match:
    id: str
    score: float
    minhash: dict[str, float]
    overlap: float
    source_ref: str
    task: str
    why: list[str] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict, repr=False)
    """The row's task, thinking and answer (to explain the best matches)."""

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "score": self.score,
            "minhash": self.minhash,
            "overlap": self.overlap,
            "source_ref": self.source_ref,
            "task": self.task,
            "why": self.why,
        }


def read_badcase(value: str) -> BadCase:
    """A bad case from a file (JSON in any collect format, an M2 prompt, or text) or literal text."""
    path = Path(value)
    text = value
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot read the bad case ({exc})") from None
    stripped = text.strip()
    if stripped.startswith("]~!b["):
        from interleaf.wire import minimax
        from interleaf.wire.errors import WireError

        try:
            return _from_conversation(minimax.parse_prompt(stripped))
        except WireError as exc:
            raise DataError(f"{value}: not a valid M2 prompt ({exc})") from None
    if stripped.startswith("{"):
        try:
            record = json.loads(stripped)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            try:
                conversation, _ = decode(record, "auto", str(value))
            except RowError:
                pass
            else:
                return _from_conversation(conversation)
    return BadCase(answer=text)


def _from_conversation(conversation: Conversation) -> BadCase:
    return BadCase(
        task="\n".join(tx.user_texts(conversation)) or tx.task_text(conversation),
        thinking=tx.all_thinking(conversation),
        answer=tx.final_answer(conversation)
        or "\n".join(m.text for m in conversation.messages if m.role == "assistant"),
    )


def _distinctive(text: str) -> set[str]:
    return {word for word in tx.tokens(text) if word not in _STOP and (len(word) > 2 or not word.isascii())}


def _longest_common_phrase(a: str, b: str, cap: int = 12) -> str:
    left, right = tx.tokens(a), tx.tokens(b)
    grams = {" ".join(right[i : i + n]) for n in (3,) for i in range(len(right) - n + 1)}
    best = ""
    for i in range(len(left) - 2):
        if " ".join(left[i : i + 3]) not in grams:
            continue
        right_text = " " + " ".join(right) + " "
        n = 3
        while i + n < len(left) and n < cap and f" {' '.join(left[i : i + n + 1])} " in right_text:
            n += 1
        phrase = " ".join(left[i : i + n])
        if len(phrase) > len(best):
            best = phrase
    return best


def trace(badcase: BadCase, dataset_path: Path, *, top: int = 10) -> tuple[list[Match], list[str]]:
    """The ``top`` rows most like ``badcase``, best first, and problems with parts that were skipped."""
    bad_fields = {"task": badcase.task, "thinking": badcase.thinking, "answer": badcase.answer}
    whole = badcase.all_text
    if not tx.tokens(whole):
        raise DataError("the bad case holds no words to compare")
    compare = {name: text for name, text in bad_fields.items() if tx.tokens(text)}
    only_text = set(compare) == {"answer"} and not badcase.task and not badcase.thinking
    bad_signatures = dict(zip(compare, signatures(list(compare.values()), _CONFIG), strict=True))
    bad_words = _distinctive(whole)
    dataset = open_dataset(dataset_path)
    matches: list[Match] = []
    problems: list[str] = []
    for part in dataset.parts:
        try:
            table = read_part(part.path)
        except DataError as exc:
            problems.append(str(exc))
            continue
        for row in table.select(["id", "transcript", "source_ref", "task"]).to_pylist():
            try:
                conversation = conversation_of(row)
            except (TranscriptFormatError, ValueError):
                continue
            texts = {
                "task": "\n".join(tx.user_texts(conversation)) or tx.task_text(conversation),
                "thinking": tx.all_thinking(conversation),
                "answer": tx.final_answer(conversation),
            }
            matches.append(_score(row, texts, compare, bad_signatures, bad_words, only_text))
    matches.sort(key=lambda m: (-m.score, m.id))
    best = matches[:top]
    for match in best:
        match.why = _why(match, compare)
    return best, problems


def _score(
    row: dict[str, str],
    texts: dict[str, str],
    compare: dict[str, str],
    bad_signatures: dict[str, bytes | None],
    bad_words: set[str],
    only_text: bool,
) -> Match:
    similarities: dict[str, float] = {}
    row_fields = FIELDS if only_text else tuple(compare)
    row_signatures = dict(zip(row_fields, signatures([texts[f] for f in row_fields], _CONFIG), strict=True))
    for name in compare:
        mine = bad_signatures[name]
        if mine is None:
            continue
        targets = row_fields if only_text else (name,)
        best = 0.0
        for target in targets:
            theirs = row_signatures.get(target)
            if theirs is not None:
                a, b = np.frombuffer(mine, dtype=np.uint32), np.frombuffer(theirs, dtype=np.uint32)
                best = max(best, float(np.count_nonzero(a == b)) / len(a))
        similarities[name if not only_text else "text"] = round(best, 3)
    row_words = _distinctive("\n".join(texts.values()))
    overlap = len(bad_words & row_words) / len(bad_words) if bad_words else 0.0
    minhash_best = max(similarities.values(), default=0.0)
    match = Match(
        id=row["id"],
        score=round(0.6 * minhash_best + 0.4 * overlap, 4),
        minhash=similarities,
        overlap=round(overlap, 3),
        source_ref=row.get("source_ref") or "",
        task=tx.clip(row.get("task") or texts["task"], 120),
        texts=texts,
    )
    return match


def _why(match: Match, compare: dict[str, str]) -> list[str]:
    texts = match.texts
    reasons = [
        f"{name} {value:.0%} similar (MinHash of word 3-grams)"
        for name, value in sorted(match.minhash.items(), key=lambda item: -item[1])
        if value > 0
    ]
    bad_words = _distinctive("\n".join(compare.values()))
    shared = sorted(bad_words & _distinctive("\n".join(texts.values())), key=lambda w: (-len(w), w))
    if shared:
        reasons.append(f"shares {len(shared)} of {len(bad_words)} distinctive words: {', '.join(shared[:8])}")
    phrase = _longest_common_phrase("\n".join(compare.values()), "\n".join(texts.values()))
    if phrase:
        reasons.append(f"common phrase: {phrase!r}")
    return reasons
