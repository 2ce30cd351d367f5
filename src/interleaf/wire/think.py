"""The one ``<think>`` splitter: where inline thinking starts and ends, for every reader of the tags.

The OpenAI Chat codec, its stream decoder, the MiniMax-M2 output parser, the text tool-call reader and the
gateway's fingerprints all split here, so a restored turn is keyed on exactly the text the codec decoded
(docs/architecture.md §4.2 and §5: a key that split differently would miss without a sound).

**Content rules** (:data:`CONTENT_RULES`): ``<think>`` inline in OpenAI Chat ``content``, as append-think
servers return it and clients send it back (docs/architecture.md §4.2, §4.4).

* ``<think>`` opens a thinking section; the first ``</think>`` after it closes it. A ``<think>`` inside
  thinking is thinking text (sections do not nest), and a ``</think>`` in visible text after a section is
  visible text.
* An unclosed ``<think>`` runs to the end (a reply cut off by ``max_tokens``).
* A ``</think>`` before any ``<think>`` ends a leading section: the server put ``<think>`` in the prompt
  (MiniMax-M2's template ends its generation prompt with ``<think>\\n``).
* Text keeps every byte, newlines around the tags included; only the tags themselves are taken out.

**One-block rules** (``ThinkRules(starts_inside=..., one_block=True)``): raw MiniMax-M2 output, read as
vLLM's ``minimax_m2`` reasoning parser reads it (vllm-project/vllm
``vllm/reasoning/minimax_m2_reasoning_parser.py``: reasoning ends at the first ``</think>``).

* With ``starts_inside`` the output begins inside thinking (the prompt ended with ``<think>\\n``); M2.5 and
  later may open the block again with an explicit ``<think>``, which is dropped with the whitespace before
  it. Without it, thinking exists only when the output starts (after whitespace) with ``<think>``.
* The first ``</think>`` ends thinking, and everything after it is visible text, tags included: M2 writes
  one thinking block a turn.

:class:`ThinkSplitter` applies the rules to a stream, holding back only what may still become a tag;
:func:`split` applies them to a whole text by feeding it once, so both agree for every chunking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, auto
from typing import Final, Literal, NamedTuple

from interleaf.transcript import ReasoningDialect, Text, Thinking

__all__ = [
    "CONTENT_RULES",
    "THINK_CLOSE",
    "THINK_OPEN",
    "Section",
    "Segment",
    "SegmentKind",
    "ThinkRules",
    "ThinkSplitter",
    "join_think_tags",
    "partial_suffix",
    "split",
    "split_think_tags",
    "visible_text",
]

THINK_OPEN: Final = "<think>"
THINK_CLOSE: Final = "</think>"

SegmentKind = Literal["open", "thinking", "close", "prefilled", "text"]
"""What a segment is.

``open`` and ``close`` start and end a thinking section; ``thinking`` and ``text`` carry its text and
visible text. ``prefilled`` (content rules only) is a ``</think>`` with no ``<think>`` before it: every
``text`` segment so far was in fact thinking whose opening tag the server prefilled, and that section ends
here. A consumer that already showed that text as visible must correct itself.
"""


Segment = tuple[SegmentKind, str]
"""A piece of the split text, in order: ``(kind, text)``. Joining every segment's text gives the input back.

For ``open``, ``close`` and ``prefilled`` the text is the markup consumed: the tag, ``""`` where the
section has no tag (it began with the text or ran to its end), or whitespace plus ``<think>`` for an
explicit opening tag under one-block rules. (Plain tuples: a gateway splits every turn of every request.)
"""


@dataclass(frozen=True, slots=True)
class ThinkRules:
    """How a text marks its thinking (see the module docstring).

    ``starts_inside``: ``True`` when the text begins inside thinking (the prompt ended with ``<think>``),
    ``False`` when it begins outside, ``None`` when unknown: a ``</think>`` before any ``<think>`` then
    says the text began inside. ``one_block``: at most one thinking section, at the start.
    """

    starts_inside: bool | None = None
    one_block: bool = False

    def __post_init__(self) -> None:
        if self.one_block and self.starts_inside is None:
            raise ValueError(
                "ThinkRules(one_block=True) needs starts_inside=True or False: say whether the prompt "
                "ended with <think> (MiniMax-M2's does)"
            )


CONTENT_RULES: Final = ThinkRules()
"""``<think>`` inline in OpenAI Chat ``content``."""


class Section(NamedTuple):
    """A run of thinking or visible text in a split text (a tuple: cheap to make by the thousand).

    ``start`` is where ``text`` begins in the input. For thinking, ``opened`` and ``closed`` say whether
    its ``<think>`` and ``</think>`` are in the input (not: prefilled by the prompt, or cut off at the end).
    """

    thinking: bool
    text: str
    start: int
    opened: bool = True
    closed: bool = True


class _State(Enum):
    LEAD = auto()  # one-block rules, at the start: is there an explicit <think>?
    PRIMED = auto()  # content rules with starts_inside: the open segment is still to come
    BEFORE = auto()  # content rules, no tag yet: </think> would mean a prefilled section
    INSIDE = auto()  # in thinking: only </think> is a tag
    OUTSIDE = auto()  # content rules after a tag: only <think> is a tag
    PLAIN = auto()  # one-block rules after (or without) the thinking: no tags at all
    DONE = auto()


def partial_suffix(text: str, tag: str, start: int = 0) -> int:
    """Length of the longest suffix of ``text[start:]`` that is a proper prefix of ``tag``."""
    for size in range(min(len(tag) - 1, len(text) - start), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


class ThinkSplitter:
    """Text in as it streams, segments out (httpx's decoder shape: ``feed`` and ``flush``).

    ``feed`` returns what is certain so far and holds back only what may still become a tag (a partial
    ``<thi`` or ``</thin`` at the end; under one-block rules also leading whitespace before a possible
    ``<think>``). ``flush`` ends the text: held text is released and an unclosed section closes.
    """

    def __init__(self, rules: ThinkRules = CONTENT_RULES) -> None:
        self._rules = rules
        if rules.one_block:
            self._state = _State.LEAD
        elif rules.starts_inside is None:
            self._state = _State.BEFORE
        else:
            self._state = _State.PRIMED if rules.starts_inside else _State.OUTSIDE
        self._held = ""  # a possible partial tag (its characters are not yet in any segment)
        self._lead: list[str] = []  # one-block rules: leading whitespace, kept apart so it is not rescanned

    @property
    def held(self) -> str:
        """The text fed but not yet in any segment."""
        return "".join(self._lead) + self._held

    def feed(self, text: str) -> list[Segment]:
        """The segments ``text`` (after what came before) decides; raises ValueError after :meth:`flush`."""
        if self._state is _State.DONE:
            raise ValueError("this <think> splitter was flushed; start a new one for more text")
        out: list[Segment] = []
        if text:
            buf = self._held + text
            self._held = buf[self._scan(buf, out, final=False) :]
        return out

    def flush(self) -> list[Segment]:
        """End of text: release what was held back and close a section the text left open."""
        out: list[Segment] = []
        if self._state is _State.DONE:
            return out
        self._scan(self._held, out, final=True)
        self._held = ""
        if self._state is _State.INSIDE:
            out.append(("close", ""))
        self._state = _State.DONE
        return out

    # ------------------------------------------------------------------------------------- scanning

    def _scan(self, buf: str, out: list[Segment], *, final: bool) -> int:
        """Emit the segments ``buf`` decides; return where the undecided rest starts.

        One loop with the states inline: it runs once per tag, and a hostile text is all tags.
        """
        pos, end, state = 0, len(buf), self._state
        after_close = _State.PLAIN if self._rules.one_block else _State.OUTSIDE
        while True:
            if state is _State.INSIDE:
                at = buf.find(THINK_CLOSE, pos)
                if at == -1:
                    keep = 0 if final else partial_suffix(buf, THINK_CLOSE, pos)
                    if end - keep > pos:
                        out.append(("thinking", buf[pos : end - keep]))
                    pos = end - keep
                    break
                if at > pos:
                    out.append(("thinking", buf[pos:at]))
                out.append(("close", THINK_CLOSE))
                pos, state = at + len(THINK_CLOSE), after_close
            elif state is _State.OUTSIDE:
                at = buf.find(THINK_OPEN, pos)
                if at == -1:
                    keep = 0 if final else partial_suffix(buf, THINK_OPEN, pos)
                    if end - keep > pos:
                        out.append(("text", buf[pos : end - keep]))
                    pos = end - keep
                    break
                if at > pos:
                    out.append(("text", buf[pos:at]))
                out.append(("open", THINK_OPEN))
                pos, state = at + len(THINK_OPEN), _State.INSIDE
            elif state is _State.PLAIN:
                if pos < end:
                    out.append(("text", buf[pos:]))
                pos = end
                break
            elif state is _State.BEFORE:
                opened = buf.find(THINK_OPEN, pos)
                # A </think> before any <think> ends a section the server prefilled.
                closed = buf.find(THINK_CLOSE, pos, end if opened == -1 else opened)
                if opened == -1 and closed == -1:
                    keep = 0
                    if not final:
                        keep = max(
                            partial_suffix(buf, THINK_OPEN, pos), partial_suffix(buf, THINK_CLOSE, pos)
                        )
                    if end - keep > pos:
                        out.append(("text", buf[pos : end - keep]))
                    pos = end - keep
                    break
                at, tag = (closed, THINK_CLOSE) if closed != -1 else (opened, THINK_OPEN)
                if at > pos:
                    out.append(("text", buf[pos:at]))
                if closed != -1:
                    out.append(("prefilled", THINK_CLOSE))
                    state = _State.OUTSIDE
                else:
                    out.append(("open", THINK_OPEN))
                    state = _State.INSIDE
                pos = at + len(tag)
            elif state is _State.PRIMED:
                out.append(("open", ""))
                state = _State.INSIDE
            else:  # LEAD
                pos, state = self._lead_in(buf, out, final=final)
                if state is _State.LEAD:
                    break
        self._state = state
        return pos

    def _lead_in(self, buf: str, out: list[Segment], *, final: bool) -> tuple[int, _State]:
        """One-block rules at the start: drop whitespace and an explicit ``<think>``, or give them back."""
        pos = 0
        if not self._held:  # whitespace is only ever held before any partial tag
            pos = len(buf) - len(buf.lstrip())
            if pos:
                self._lead.append(buf[:pos])
        if buf.startswith(THINK_OPEN, pos):
            out.append(("open", "".join(self._lead) + THINK_OPEN))
            self._lead = []
            return pos + len(THINK_OPEN), _State.INSIDE
        if not final and THINK_OPEN.startswith(buf[pos : pos + len(THINK_OPEN)]):
            return pos, _State.LEAD  # the rest may still become <think>: wait
        whitespace, self._lead = "".join(self._lead), []
        if self._rules.starts_inside:
            out.append(("open", ""))
            if whitespace:
                out.append(("thinking", whitespace))
            return pos, _State.INSIDE
        if whitespace:
            out.append(("text", whitespace))
        return pos, _State.PLAIN


# ------------------------------------------------------------------------------------ whole texts


def split(text: str, rules: ThinkRules = CONTENT_RULES) -> list[Section]:
    """``text`` as ordered thinking and visible sections: the streaming split, fed all at once.

    Visible sections are never empty; thinking sections may be (``<think></think>``).
    """
    splitter = ThinkSplitter(rules)
    sections: list[Section] = []
    position = 0
    visible: list[str] = []
    visible_start = 0
    thinking: list[str] = []
    thinking_start, opened = 0, True
    for kind, part in [*splitter.feed(text), *splitter.flush()]:
        if kind == "text":
            if not visible:
                visible_start = position
            visible.append(part)
        elif kind == "thinking":
            thinking.append(part)
        elif kind == "open":
            if visible:
                sections.append(Section(False, "".join(visible), visible_start))
                visible = []
            thinking, thinking_start, opened = [], position + len(part), bool(part)
        elif kind == "close":  # an empty close is the end of a text that never closed its section
            sections.append(Section(True, "".join(thinking), thinking_start, opened, closed=bool(part)))
        else:  # prefilled: the visible text so far was thinking
            sections.append(Section(True, "".join(visible), 0, opened=False))
            visible = []
        position += len(part)
    if visible:
        sections.append(Section(False, "".join(visible), visible_start))
    return sections


def visible_text(text: str, rules: ThinkRules = CONTENT_RULES) -> str:
    """``text`` without its thinking sections and their tags: what a reader of the reply sees.

    The text sections of :func:`split`, read straight off the segments (the gateway keys every turn).
    """
    if "think>" not in text and rules.starts_inside is not True:
        return text  # no tag, and it does not begin inside thinking: all of it is visible (most replies)
    splitter = ThinkSplitter(rules)
    segments = [*splitter.feed(text), *splitter.flush()]
    first = 0
    for index, (kind, _) in enumerate(segments):
        if kind == "prefilled":  # the text before it was thinking
            first = index + 1
            break
        if kind != "text":
            break
    return "".join([part for kind, part in segments[first:] if kind == "text"])


def split_think_tags(content: str) -> list[Thinking | Text]:
    """``content`` with inline ``<think>`` sections as ordered Thinking and Text blocks (content rules).

    :func:`join_think_tags` gives ``content`` back, with two normalisations: an unclosed ``<think>`` at
    the end is closed, and a leading section the server prefilled gains its opening tag.
    """
    return [
        Thinking(text=s.text, dialect=ReasoningDialect.THINK_TAGS) if s.thinking else Text(text=s.text)
        for s in split(content)
    ]


def join_think_tags(blocks: Sequence[Thinking | Text]) -> str:
    """The inverse of :func:`split_think_tags`: each thinking block between ``<think>`` and ``</think>``."""
    return "".join(
        f"{THINK_OPEN}{block.text}{THINK_CLOSE}" if isinstance(block, Thinking) else block.text
        for block in blocks
    )
