"""The one ``<think>`` splitter (interleaf.wire.think) and every reader that splits with it.

Properties: every chunking of a stream gives the whole-text split; the split agrees with a small
reference written independently here; only a possible partial tag is ever held back; the gateway's
fingerprint text, the OpenAI Chat codec and the MiniMax-M2 parser see the same sections; inline thinking
comes back exactly; and the splitter is linear in its input.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interleaf.store.fingerprint import visible_text as key_text
from interleaf.transcript import Message, ReasoningDialect, Text, Thinking
from interleaf.wire import minimax, openai_chat
from interleaf.wire.textcalls import extract_tool_calls
from interleaf.wire.think import (
    CONTENT_RULES,
    THINK_CLOSE,
    THINK_OPEN,
    Segment,
    ThinkRules,
    ThinkSplitter,
    join_think_tags,
    split,
    split_think_tags,
    visible_text,
)
from interleaf.wire.toolcalls import sequential_call_ids

TAGS = ReasoningDialect.THINK_TAGS
M2 = ThinkRules(starts_inside=True, one_block=True)
RULES = {
    "content": CONTENT_RULES,
    "starts inside": ThinkRules(starts_inside=True),
    "starts outside": ThinkRules(starts_inside=False),
    "m2": M2,
    "m2 without prefill": ThinkRules(starts_inside=False, one_block=True),
}
RULE = st.sampled_from(list(RULES.values()))

PIECES = [
    *(THINK_OPEN, THINK_CLOSE, THINK_OPEN, THINK_CLOSE),
    *("<", "<t", "<th", "<thi", "<thin", "<think", "</", "</t", "</thin", "</think"),
    *("think>", "nk>", ">", "<thx", "</thinking>", "<thinker>", "<b>", "<<"),
    *("a", "é", "𝄞", "x y", " ", "\n", "\n\n", "\t"),
]
TAGGY = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)
TEXTS = st.one_of(TAGGY, st.text(max_size=30), st.text(alphabet="<>/thinks \n", max_size=30))

Row = tuple[bool, str, bool, bool]
"""A section as the tests compare it: (thinking, text, opened, closed)."""


def _rows(text: str, rules: ThinkRules) -> list[Row]:
    return [(s.thinking, s.text, s.opened, s.closed) for s in split(text, rules)]


def _feed(chunks: Iterable[str], rules: ThinkRules) -> list[Segment]:
    splitter = ThinkSplitter(rules)
    return [segment for chunk in chunks for segment in splitter.feed(chunk)] + splitter.flush()


def _assemble(segments: list[Segment]) -> list[Row]:
    """Sections from a stream of segments, as a streaming consumer builds them."""
    rows: list[Row] = []
    visible: list[str] = []
    thinking: list[str] = []
    opened = True
    for kind, text in segments:
        if kind == "text":
            visible.append(text)
        elif kind == "thinking":
            thinking.append(text)
        elif kind == "open":
            if visible:
                rows.append((False, "".join(visible), True, True))
            visible, thinking, opened = [], [], bool(text)
        elif kind == "close":
            rows.append((True, "".join(thinking), opened, bool(text)))
        else:
            assert kind == "prefilled" and text == THINK_CLOSE and not rows
            rows.append((True, "".join(visible), False, True))
            visible = []
    if visible:
        rows.append((False, "".join(visible), True, True))
    return rows


def _chunked(text: str, cuts: Iterable[int]) -> list[str]:
    points = sorted(set(cuts))
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


# ------------------------------------------------------------------------------ a reference

_SECTION = re.compile(r"<think>(.*?)(</think>|\Z)", re.S)


def _reference(text: str, rules: ThinkRules) -> list[Row]:
    """The rules as the module docstring states them, written with a regex and slicing."""
    if rules.one_block:
        lead = len(text) - len(text.lstrip())
        if text.startswith(THINK_OPEN, lead):
            body, opened = text[lead + len(THINK_OPEN) :], True
        elif rules.starts_inside:
            body, opened = text, False
        else:
            return [(False, text, True, True)] if text else []
        head, closed, tail = body.partition(THINK_CLOSE)
        return [(True, head, opened, bool(closed))] + ([(False, tail, True, True)] if tail else [])
    if rules.starts_inside:  # as if the text began with the <think> the prompt ended with
        first, *rest = _content_reference(THINK_OPEN + text, leading_close=False)
        return [(True, first[1], False, first[3]), *rest]
    return _content_reference(text, leading_close=rules.starts_inside is None)


def _content_reference(text: str, *, leading_close: bool) -> list[Row]:
    rows: list[Row] = []
    position = 0
    first_close, first_open = text.find(THINK_CLOSE), text.find(THINK_OPEN)
    if leading_close and first_close != -1 and (first_open == -1 or first_close < first_open):
        rows.append((True, text[:first_close], False, True))
        position = first_close + len(THINK_CLOSE)
    for match in _SECTION.finditer(text, position):
        if match.start() > position:
            rows.append((False, text[position : match.start()], True, True))
        rows.append((True, match.group(1), True, bool(match.group(2))))
        position = match.end()
    if position < len(text):
        rows.append((False, text[position:], True, True))
    return rows


# ----------------------------------------------------------------------------- the properties


@settings(max_examples=400, deadline=None)
@given(text=TEXTS, rules=RULE)
def test_the_split_follows_the_stated_rules(text: str, rules: ThinkRules) -> None:
    assert _rows(text, rules) == _reference(text, rules)
    for section in split(text, rules):
        assert text[section.start : section.start + len(section.text)] == section.text
        assert section.thinking or section.text, "visible sections are never empty"


@settings(max_examples=200, deadline=None)
@given(text=TEXTS, rules=RULE)
def test_every_split_point_and_every_chunk_size_give_the_whole_text_split(
    text: str, rules: ThinkRules
) -> None:
    whole = _rows(text, rules)
    for point in range(len(text) + 1):
        assert _assemble(_feed([text[:point], text[point:]], rules)) == whole, point
    for size in range(1, min(len(text), 9) + 1):
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        assert _assemble(_feed(chunks, rules)) == whole, size


@settings(max_examples=60, deadline=None)
@given(
    text=st.lists(st.sampled_from(PIECES), max_size=3).map("".join).filter(lambda t: len(t) <= 12), rules=RULE
)
def test_every_chunking_of_a_short_text_gives_the_whole_text_split(text: str, rules: ThinkRules) -> None:
    whole = _rows(text, rules)
    boundaries = range(1, len(text))
    for count in range(len(boundaries) + 1):
        for cuts in itertools.combinations(boundaries, count):
            assert _assemble(_feed(_chunked(text, cuts), rules)) == whole, cuts


@settings(max_examples=300, deadline=None)
@given(text=TEXTS, rules=RULE, cuts=st.lists(st.integers(0, 40), max_size=8))
def test_segments_give_the_input_back_and_hold_back_only_a_partial_tag(
    text: str, rules: ThinkRules, cuts: list[int]
) -> None:
    splitter = ThinkSplitter(rules)
    fed = emitted = ""
    for chunk in _chunked(text, [c for c in cuts if c <= len(text)]):
        emitted += "".join(part for _, part in splitter.feed(chunk))
        fed += chunk
        held = splitter.held
        assert emitted + held == fed
        assert _may_become_a_tag(held, at_start=not emitted, rules=rules), held
    assert emitted + "".join(part for _, part in splitter.flush()) == text
    assert splitter.held == ""


def _may_become_a_tag(held: str, *, at_start: bool, rules: ThinkRules) -> bool:
    partial = len(held) < len(THINK_CLOSE) and (THINK_OPEN.startswith(held) or THINK_CLOSE.startswith(held))
    if rules.one_block and at_start:  # or whitespace, then the start of an explicit <think>
        rest = held.lstrip()
        return partial or (len(rest) < len(THINK_OPEN) and THINK_OPEN.startswith(rest))
    return partial


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        (["a<th", "x"], ["a", "<thx"]),  # looked like <think>, was not: released with the next chunk
        (["a<th", "ink>b"], ["a", "<think>", "b"]),
        (["<think>b</thin", "g"], ["<think>", "b", "</thing"]),
        (["<think>b</thin", "k>c"], ["<think>", "b", "</think>", "c"]),
        (["a</t", "rue"], ["a", "</true"]),
        (["a<", "<", "thin", "k>"], ["a", "<", "<think>"]),
        (["x<thi"], ["x", "<thi"]),  # the end of the text releases a partial tag as text
    ],
)
def test_text_that_only_looks_like_a_tag_is_released(chunks: list[str], expected: list[str]) -> None:
    assert [part for _, part in _feed(chunks, CONTENT_RULES) if part] == expected


def test_one_block_rules_hold_leading_whitespace_until_the_explicit_tag_is_decided() -> None:
    splitter = ThinkSplitter(M2)
    assert splitter.feed("\n \n") == [] and splitter.held == "\n \n"
    assert splitter.feed("<thi") == [] and splitter.held == "\n \n<thi"
    assert splitter.feed("nk>r") == [("open", "\n \n<think>"), ("thinking", "r")]
    plain = ThinkSplitter(M2)
    assert plain.feed("\n<thx") == [
        ("open", ""),
        ("thinking", "\n"),
        ("thinking", "<thx"),
    ]


@pytest.mark.parametrize(
    ("text", "rules", "expected"),
    [
        # nesting: a <think> inside thinking is thinking text; the first </think> closes
        ("<think>a<think>b</think>c</think>d", CONTENT_RULES, [(True, "a<think>b"), (False, "c</think>d")]),
        ("a<think>b</think>c", M2, [(True, "a<think>b"), (False, "c")]),
        # unclosed: runs to the end
        ("answer<think>cut off", CONTENT_RULES, [(False, "answer"), (True, "cut off")]),
        ("<think>", CONTENT_RULES, [(True, "")]),
        ("cut off", M2, [(True, "cut off")]),
        ("", M2, [(True, "")]),
        ("", CONTENT_RULES, []),
        # a </think> with no <think> before it: the server prefilled <think>
        ("plan\n</think>\n\nHi", CONTENT_RULES, [(True, "plan\n"), (False, "\n\nHi")]),
        ("</think>", CONTENT_RULES, [(True, "")]),
        ("a</think>b</think>c<think>d", CONTENT_RULES, [(True, "a"), (False, "b</think>c"), (True, "d")]),
        ("a</think>b", ThinkRules(starts_inside=False), [(False, "a</think>b")]),
        ("a</think>b", ThinkRules(starts_inside=False, one_block=True), [(False, "a</think>b")]),
        # M2: one block at the start; an explicit <think> and the whitespace before it are dropped
        ("\n<think>\nr\n</think>\n\nHi", M2, [(True, "\nr\n"), (False, "\n\nHi")]),
        ("r</think>x <think>y</think>", M2, [(True, "r"), (False, "x <think>y</think>")]),
        (" <think>a</think>b", ThinkRules(starts_inside=False, one_block=True), [(True, "a"), (False, "b")]),
        (
            "Hi <think>a</think>",
            ThinkRules(starts_inside=False, one_block=True),
            [(False, "Hi <think>a</think>")],
        ),
        (
            "<think>\nplan <b>it</b> < think\n</think>\n\nHello <thinker> world<think>again</think>!",
            CONTENT_RULES,
            [
                (True, "\nplan <b>it</b> < think\n"),
                (False, "\n\nHello <thinker> world"),
                (True, "again"),
                (False, "!"),
            ],
        ),
        # content rules keep whitespace around tags, byte for byte
        (" <think>\na\n</think>\n\n", CONTENT_RULES, [(False, " "), (True, "\na\n"), (False, "\n\n")]),
    ],
)
def test_nested_unclosed_and_prefilled_sections(
    text: str, rules: ThinkRules, expected: list[tuple[bool, str]]
) -> None:
    assert [(s.thinking, s.text) for s in split(text, rules)] == expected


def test_misuse_gets_an_error_that_says_what_to_do() -> None:
    with pytest.raises(ValueError, match="needs starts_inside=True or False"):
        ThinkRules(one_block=True)
    splitter = ThinkSplitter()
    splitter.feed("<think>a")
    assert splitter.flush() == [("close", "")]
    assert splitter.flush() == []  # a second end changes nothing
    with pytest.raises(ValueError, match="start a new one"):
        splitter.feed("more")


# --------------------------------------------------------------------------------- the readers


@settings(max_examples=300, deadline=None)
@given(text=TEXTS, rules=RULE)
def test_fingerprints_see_the_visible_text_of_the_split(text: str, rules: ThinkRules) -> None:
    visible = "".join(s.text for s in split(text, rules) if not s.thinking)
    assert visible_text(text, rules) == visible  # its shortcut for texts without a tag included
    if rules is CONTENT_RULES:
        assert key_text(text) == re.sub(r"\s+", "", visible)


@settings(max_examples=200, deadline=None)
@given(text=TEXTS)
def test_the_codec_decodes_content_as_the_split_does(text: str) -> None:
    message = openai_chat.decode_message({"role": "assistant", "content": text})
    expected = [(s.thinking, s.text) for s in split(text)]
    assert [(isinstance(b, Thinking), getattr(b, "text", None)) for b in message.blocks] == expected
    assert openai_chat.encode_message(message) == [{"role": "assistant", "content": text}]


@settings(max_examples=200, deadline=None)
@given(text=TEXTS, prefilled=st.booleans())
def test_the_m2_parser_splits_as_the_one_block_rules_do(text: str, prefilled: bool) -> None:
    rules = ThinkRules(starts_inside=prefilled, one_block=True)
    blocks = minimax.parse_output(text, prompt_ends_in_think=prefilled).message.blocks
    # M2 leaves out visible text that is only whitespace (between </think> and a tool call, say)
    expected = [(s.thinking, s.text) for s in split(text, rules) if s.thinking or s.text.strip()]
    assert [(isinstance(b, Thinking), getattr(b, "text", None)) for b in blocks] == expected


def test_tool_calls_are_read_only_outside_thinking() -> None:
    call = '<tool_call>{"name": "shell", "arguments": {"command": "ls"}}</tool_call>'
    for text, calls in [
        (f"<think>{call}</think>{call}", 1),
        (f"{call}</think>{call}", 1),  # prefilled: the first call was thinking
        (f"{call}<think>{call}", 1),  # unclosed: the second call is thinking
        (f"<think>a</think>{call}</think>{call}", 2),  # a stray </think> in visible text is text
    ]:
        result = extract_tool_calls(text, (), id_factory=sequential_call_ids())
        assert len(result.calls) == calls, text


# ---------------------------------------------------------------------------------- round trips

THOUGHT = st.text(max_size=12).filter(lambda t: THINK_CLOSE not in t)
SAID = st.text(min_size=1, max_size=12).filter(lambda t: THINK_OPEN not in t and THINK_CLOSE not in t)


@st.composite
def inline_blocks(draw: st.DrawFn) -> list[Thinking | Text]:
    """Thinking and text as a model writes them inline: text never holds a tag, text never twice in a row."""
    blocks: list[Thinking | Text] = []
    for _ in range(draw(st.integers(0, 5))):
        if (blocks and isinstance(blocks[-1], Text)) or draw(st.booleans()):
            blocks.append(Thinking(text=draw(THOUGHT), dialect=TAGS))
        else:
            blocks.append(Text(text=draw(SAID)))
    return blocks


@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_joining_a_split_and_splitting_again_changes_nothing(text: str) -> None:
    blocks = split_think_tags(text)
    assert split_think_tags(join_think_tags(blocks)) == blocks
    sections = split(text)
    prefilled = bool(sections) and sections[0].thinking and not sections[0].opened
    unclosed = bool(sections) and sections[-1].thinking and not sections[-1].closed
    if not prefilled and not unclosed:
        assert join_think_tags(blocks) == text  # the two normalisations are the only changes


@settings(max_examples=300, deadline=None)
@given(blocks=inline_blocks())
def test_inline_thinking_comes_back_exactly(blocks: list[Thinking | Text]) -> None:
    content = join_think_tags(blocks)
    assert split_think_tags(content) == blocks
    rows = _assemble(_feed(list(content), CONTENT_RULES))
    assert [(thinking, text) for thinking, text, _, _ in rows] == [
        (isinstance(b, Thinking), b.text) for b in blocks
    ]
    if blocks:  # and through the OpenAI Chat codec, encoding inline and decoding again
        message = Message(role="assistant", blocks=tuple(blocks), plain=True)
        wire = openai_chat.encode_message(message, dialect=TAGS)
        assert wire[0]["content"] == content
        assert openai_chat.decode_message(wire[0]).blocks == tuple(blocks)


@settings(max_examples=200, deadline=None)
@given(thought=THOUGHT.filter(lambda t: not t.lstrip().startswith(THINK_OPEN)), said=SAID)
def test_m2_output_gives_its_thinking_back_exactly(thought: str, said: str) -> None:
    blocks = minimax.parse_output(f"{thought}</think>{said}").message.blocks
    assert blocks[0] == Thinking(text=thought, dialect=TAGS)
    assert blocks[1:] == ((Text(text=said),) if said.strip() else ())


# ------------------------------------------------------------------------------------- linear time


def _best_of(run: Callable[[], object], rounds: int = 5) -> float:
    # CPU time, not wall time: on a loaded machine a long run is preempted more often than a short one,
    # which skews a wall-clock ratio by up to the load average.
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def _streamed(text: str, rules: ThinkRules, size: int) -> Callable[[], object]:
    return lambda: _feed((text[i : i + size] for i in range(0, len(text), size)), rules)


# (size, run at a size): whole texts are split at 80k and 1.28M characters, where copying the rest of the
# text once per tag (the old streaming splitter's habit) outgrows the constant cost of a tag; streams are
# fed a character at a time at 20k and 320k.
SHAPES: dict[str, tuple[int, Callable[[int], Callable[[], object]]]] = {
    "many sections": (80_000, lambda n: lambda: split("<think>a</think>b" * (n // 16))),
    "many opening tags": (80_000, lambda n: lambda: split(THINK_OPEN * (n // 7))),
    "many closing tags": (80_000, lambda n: lambda: split(THINK_CLOSE * (n // 8))),
    "many partial tags": (80_000, lambda n: lambda: split("<thi</thin" * (n // 10))),
    "prefilled, then stray closes": (
        80_000,
        lambda n: lambda: split("a" * (n // 2) + THINK_CLOSE * (n // 16)),
    ),
    "m2 leading whitespace": (80_000, lambda n: lambda: split(" \n" * (n // 2) + "x", M2)),
    "streamed a character at a time": (
        20_000,
        lambda n: _streamed("<think>ab</think>c<th" * (n // 21), CONTENT_RULES, 1),
    ),
    "m2 whitespace streamed a character at a time": (20_000, lambda n: _streamed("\n" * n, M2, 1)),
    "streamed in chunks that end in partial tags": (20_000, lambda n: _streamed("x</thin" * (n // 7), M2, 7)),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_splitting_time_grows_linearly_with_the_input(shape: str) -> None:
    """16x the input must take about 16x the time (up to 4x more for caches), not 256x (quadratic)."""
    size, make = SHAPES[shape]
    small, large = make(size), make(16 * size)
    ratio = _best_of(large) / _best_of(small)
    assert ratio < 64, f"{shape}: 16x the input took {ratio:.1f}x the time (quadratic would be ~256x)"
