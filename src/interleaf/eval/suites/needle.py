"""``needle``: can a stack give a model back its own reasoning, and how does recall decay with length?

Each task asks the model to choose a word *in its reasoning only* (``SECRET: word``), then read pages
with ``read_page``: every page is filler text with one substitution table somewhere inside it, and the
model applies each table to its current word, privately (``VALUE: word``). After the last page it
answers with the final word. The tables are in the tool results, which every condition keeps; the
secret exists only in the model's earlier thinking. A stack that keeps (or restores) thinking lets the
model finish the chain; one that drops it leaves a guess among the four possible answers (chance 25%).

Generated from ``--seed``: ``lengths`` (total context, 1k to 128k tokens) x ``hops`` (1-4 tables to
chain) x ``per_cell`` variants. The grader reads the secret from the transcript's thinking, so it
checks what the model actually chose; a secret written in visible text or a tool argument makes the
trial a ``leaked`` fail (the experiment no longer measures thinking), and a model that produced no
thinking at all fails ``no_secret``: for it, keep and drop cannot differ.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from interleaf.eval.spec import (
    Grade,
    SuiteError,
    Task,
    TurnResult,
    check_options,
    parse_int_list,
    parse_tokens,
)
from interleaf.tools.base import Params, Tool, ToolContext, ToolError, ToolOutcome, tool_spec
from interleaf.transcript import Message, Text, Thinking, ToolCall, ToolSpec

NAME = "needle"
VERSION = "needle-1"
DEFAULT_LENGTHS = "1k,2k,4k,8k,16k,32k,64k,128k"
OPTIONS = {
    "lengths": f"total context sizes in tokens (default {DEFAULT_LENGTHS})",
    "hops": "tables to chain, 1-4 (default 1-4)",
    "per_cell": "tasks per length and hop count (default 2)",
}
CHARS_PER_TOKEN = 4
WORDS = 4
# Four word families; each alphabet draws four words from the next family, so consecutive alphabets never
# share a word and no word appears in the filler.
_FAMILIES = (
    ("amber", "cobalt", "crimson", "jade", "ivory", "ochre", "teal", "violet"),
    ("otter", "heron", "lynx", "bison", "falcon", "gecko", "marten", "ibis"),
    ("maple", "cedar", "birch", "willow", "aspen", "rowan", "hazel", "larch"),
    ("quartz", "basalt", "garnet", "opal", "flint", "onyx", "topaz", "slate"),
)
_FILLER_NOUNS = ("folio", "ledger", "drawer", "crate", "docket", "binder", "parcel", "dossier")
_FILLER_VERBS = ("was moved to", "was filed under", "was checked against", "was copied into")
_FILLER_PLACES = ("shelf", "cabinet", "aisle", "vault", "annex", "bay")
SECRET = re.compile(r"SECRET:\s*\**\s*([A-Za-z]+)")
SYSTEM = (
    "You are an agent taking a memory test. You act only through the tools you are given. Your "
    "reasoning is private: it is never shown to anyone, and only you can see what you wrote in it."
)


@dataclass(frozen=True, slots=True)
class Puzzle:
    """The hidden structure of one task, rebuilt from its info (so tasks stay plain data)."""

    alphabets: tuple[tuple[str, ...], ...]
    tables: tuple[dict[str, str], ...]
    pages: tuple[str, ...]

    def chain(self, secret: str) -> str:
        value = secret
        for table in self.tables:
            value = table[value]
        return value


def build_puzzle(task_seed: int, hops: int, context_tokens: int) -> Puzzle:
    rng = random.Random(task_seed)
    families = [list(f) for f in _FAMILIES]
    for family in families:
        rng.shuffle(family)
    alphabets: list[tuple[str, ...]] = []
    for index in range(hops + 1):
        family = families[index % len(families)]
        offset = (index // len(families)) * WORDS
        alphabets.append(tuple(sorted(family[offset : offset + WORDS])))
    tables = []
    for index in range(hops):
        targets = list(alphabets[index + 1])
        rng.shuffle(targets)
        tables.append(dict(zip(alphabets[index], targets, strict=True)))
    prompt_chars = len(prompt_text(alphabets, hops))
    budget = max(0, context_tokens * CHARS_PER_TOKEN - prompt_chars - 600)
    pages = []
    for index, table in enumerate(tables):
        entries = list(table.items())
        rng.shuffle(entries)
        listing = "; ".join(f"{a} -> {b}" for a, b in entries)
        table_text = f"\n\nSubstitution table {index + 1} of {hops}: {listing}.\n\n"
        filler = _filler(rng, budget // hops)
        cut = int(len(filler) * rng.uniform(0.1, 0.9))
        cut = filler.rfind(". ", 0, cut) + 2 if filler.rfind(". ", 0, cut) > 0 else 0
        pages.append(f"Page {index + 1} of {hops}.\n{filler[:cut]}{table_text}{filler[cut:]}")
    return Puzzle(tuple(alphabets), tuple(tables), tuple(pages))


def _filler(rng: random.Random, chars: int) -> str:
    parts: list[str] = []
    size = 0
    while size < chars:
        sentence = (
            f"{rng.choice(_FILLER_NOUNS).capitalize()} {rng.randint(100, 9999)} {rng.choice(_FILLER_VERBS)} "
            f"{rng.choice(_FILLER_PLACES)} {rng.randint(1, 99)} on day {rng.randint(1, 365)}. "
        )
        parts.append(sentence)
        size += len(sentence)
    return "".join(parts)


def prompt_text(alphabets: Sequence[Sequence[str]], hops: int) -> str:
    pages = "page 1" if hops == 1 else f"pages 1 to {hops}"
    return (
        "Memory test.\n"
        f"1. Before any tool call, choose one of these words at random: {', '.join(alphabets[0])}. Write it "
        "in your reasoning exactly as `SECRET: <word>`. Never write it in your reply text or in a tool "
        "argument.\n"
        f"2. Read {pages} with the read_page tool, one page per call, in order. Each page is long and holds "
        "one substitution table somewhere in it. Apply each table to your current word, privately, and note "
        "`VALUE: <word>` in your reasoning.\n"
        f"3. After the last page, reply with only the final word. The possible final answers are: "
        f"{', '.join(alphabets[-1])}.\n"
        f"Words to choose from: {', '.join(alphabets[0])}.\nPages: {hops}.\n"
        f"Possible final answers: {', '.join(alphabets[-1])}."
    )


class ReadPageParams(Params):
    page: int = Field(description="The page number, starting at 1.")


class ReadPageTool:
    name = "read_page"
    params = ReadPageParams
    read_only = True

    def __init__(self, pages: Sequence[str]) -> None:
        self.pages = list(pages)

    @property
    def spec(self) -> ToolSpec:
        return _READ_PAGE_SPEC

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        page = int(arguments["page"])
        if not 1 <= page <= len(self.pages):
            raise ToolError(f"there is no page {page}; the pages are 1 to {len(self.pages)}")
        return ToolOutcome(content=self.pages[page - 1], brief=f"page {page}")

    async def aclose(self) -> None:
        pass


_READ_PAGE_SPEC = tool_spec(ReadPageTool.name, "Read one page of the test, by number.", ReadPageParams)


class NeedleRun:
    """One trial of a needle task."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.puzzle = build_puzzle(
            int(task.info["task_seed"]), int(task.info["hops"]), int(task.info["context_tokens"])
        )
        self.system: str | None = SYSTEM
        self.tools: Sequence[Tool] | None = [ReadPageTool(self.puzzle.pages)]
        self.max_steps = int(task.info["hops"]) + 6

    def turns(self) -> int:
        return 1

    def turn(self, index: int) -> tuple[str, Sequence[Tool]]:
        return prompt_text(self.puzzle.alphabets, int(self.task.info["hops"])), ()

    def continues(self, result: TurnResult) -> bool:
        return False

    async def grade(self, results: Sequence[TurnResult], messages: Sequence[Message]) -> Grade:
        return grade_needle(self.puzzle, results, messages)

    async def aclose(self) -> None:
        pass


def grade_needle(puzzle: Puzzle, results: Sequence[TurnResult], messages: Sequence[Message]) -> Grade:
    first_words = set(puzzle.alphabets[0])
    finals = set(puzzle.alphabets[-1])
    assistants = [m for m in messages if m.role == "assistant"]
    secret = None
    for message in assistants:
        for block in message.blocks:
            if isinstance(block, Thinking) and (match := SECRET.search(block.text)):
                word = match.group(1).lower()
                if word in first_words:
                    secret = word
                    break
        if secret:
            break
    info: dict[str, Any] = {"secret": secret, "thinking_blocks": sum(len(m.thinking) for m in assistants)}
    if secret is None:
        return Grade(False, "no_secret", info)
    info["expected"] = expected = puzzle.chain(secret)
    for message in assistants:
        for block in message.blocks:
            visible = (
                block.text
                if isinstance(block, Text)
                else block.arguments_json
                if isinstance(block, ToolCall)
                else ""
            )
            if re.search(rf"\b{secret}\b", visible, re.I):
                return Grade(False, "leaked", info)
    status = results[-1].finished.status if results else "none"
    if status != "done":
        return Grade(False, f"agent_{status}", info)
    answered = {w for w in re.findall(r"[a-z]+", results[-1].finished.answer.lower()) if w in finals}
    info["answer"] = sorted(answered)
    if not answered:
        return Grade(False, "no_answer", info)
    if len(answered) > 1:
        return Grade(False, "ambiguous_answer", info)
    return Grade(answered == {expected}, "correct" if answered == {expected} else "wrong_answer", info)


class NeedleSuite:
    name = NAME
    version = VERSION
    description = "thinking retention: the answer needs a fact that exists only in the model's own reasoning"

    def tasks(self, options: Mapping[str, str], seed: int) -> list[Task]:
        check_options(options, OPTIONS, NAME)
        lengths = [
            parse_tokens(t, name="lengths")
            for t in options.get("lengths", DEFAULT_LENGTHS).split(",")
            if t.strip()
        ]
        hops = parse_int_list(options.get("hops", "1-4"), name="hops")
        if any(h < 1 or h > 4 for h in hops):
            raise SuiteError("-o hops: each hop count must be 1 to 4")
        per_cell = parse_int_list(options.get("per_cell", "2"), name="per_cell")[0]
        if per_cell < 1:
            raise SuiteError("-o per_cell must be at least 1")
        rng = random.Random(seed)
        tasks: list[Task] = []
        # Round-robin over the grid, so --limit N still spans lengths and hop counts.
        for variant in range(per_cell):
            for hop in hops:
                for length in lengths:
                    task_seed = rng.randrange(2**31)
                    label = f"{length // 1024}k" if length % 1024 == 0 else str(length)
                    tasks.append(
                        Task(
                            id=f"len{label}-hop{hop}-v{variant}",
                            suite=NAME,
                            info={"context_tokens": length, "hops": hop, "task_seed": task_seed},
                            chance=1 / WORDS,
                        )
                    )
        return _interleave(tasks, lengths)

    async def open(self, task: Task, workdir: Path, seed: int) -> NeedleRun:
        return NeedleRun(task)


def _interleave(tasks: list[Task], lengths: Sequence[int]) -> list[Task]:
    """Order tasks so every prefix spans the lengths (short first within each round)."""
    by_length: dict[int, list[Task]] = {length: [] for length in lengths}
    for task in tasks:
        by_length[int(task.info["context_tokens"])].append(task)
    ordered: list[Task] = []
    while any(by_length.values()):
        for length in lengths:
            if by_length[length]:
                ordered.append(by_length[length].pop(0))
    return ordered
