"""Incremental decoders shared by the stream assemblers.

Both follow httpx's decoder shape: ``feed(chunk) -> list`` returns whatever is complete so far and keeps
the rest, ``flush()`` returns what remains at the end. They give the same output for every way of
splitting the input, which the tests check at every split point.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from interleaf.transcript import ReasoningDialect, Text, Thinking

# ----------------------------------------------------------------------------------------------- SSE


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One server-sent event. ``event`` is ``None`` when the server sent no ``event:`` line."""

    data: str
    event: str | None = None
    id: str | None = None


class SSEDecoder:
    """Bytes of a ``text/event-stream`` in, complete events out (WHATWG rules).

    Handles CRLF, CR and LF line ends (including a CRLF split across chunks), UTF-8 split across chunks,
    multi-line ``data``, comments (``: ping``) and events with no data (ignored, as browsers do).
    """

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._line = ""
        self._skip_lf = False
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        return self._feed_text(self._text.decode(chunk))

    def flush(self) -> list[SSEEvent]:
        """End of stream: a final event without its blank line still counts (servers often omit it)."""
        events = self._feed_text(self._text.decode(b"", final=True))
        if self._line:
            self._process_line(self._line, events)
            self._line = ""
        self._dispatch(events)
        return events

    def _feed_text(self, text: str) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        start = 0
        length = len(text)
        if self._skip_lf and length and text[0] == "\n":
            start = 1
        self._skip_lf = False
        while start < length:
            cr = text.find("\r", start)
            lf = text.find("\n", start)
            if cr == -1 and lf == -1:
                self._line += text[start:]
                break
            end = lf if cr == -1 or (lf != -1 and lf < cr) else cr
            self._process_line(self._line + text[start:end], events)
            self._line = ""
            if text[end] == "\r":
                if end + 1 < length:
                    start = end + 2 if text[end + 1] == "\n" else end + 1
                else:
                    self._skip_lf = True
                    start = end + 1
            else:
                start = end + 1
        return events

    def _process_line(self, line: str, events: list[SSEEvent]) -> None:
        if line == "":
            self._dispatch(events)
            return
        if line[0] == ":":
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data:
            events.append(SSEEvent(data="\n".join(self._data), event=self._event, id=self._id))
        self._data = []
        self._event = None


def encode_sse(data: str, event: str | None = None) -> bytes:
    """One event in wire form. ``data`` must not contain newlines (JSON from ``json.dumps`` never does)."""
    if event is None:
        return f"data: {data}\n\n".encode()
    return f"event: {event}\ndata: {data}\n\n".encode()


# --------------------------------------------------------------------------------------- <think> tags

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

SegmentKind = Literal["open", "thinking", "close", "text"]


class ThinkTagSplitter:
    """Splits text with inline ``<think>...</think>`` into thinking and visible parts as it streams.

    Yields ``("open", "")``, ``("thinking", s)``, ``("close", "")`` and ``("text", s)`` segments. A tag
    split across chunks (``"<thi"`` + ``"nk>"``) is held back until it is decided. ``start_inside``
    is for raw M2 output, which begins inside a thinking block because the prompt ends with
    ``<think>\\n``.
    """

    def __init__(self, *, start_inside: bool = False) -> None:
        self._inside = False
        self._start_inside = start_inside
        self._begun = False
        self._pending = ""

    @property
    def inside(self) -> bool:
        """True while the text seen so far ends inside a thinking block."""
        return self._inside

    def feed(self, text: str) -> list[tuple[SegmentKind, str]]:
        out: list[tuple[SegmentKind, str]] = []
        if not text:
            return out
        if not self._begun:
            self._begun = True
            if self._start_inside:
                self._inside = True
                out.append(("open", ""))
        buf = self._pending + text
        self._pending = ""
        while buf:
            tag = THINK_CLOSE if self._inside else THINK_OPEN
            pos = buf.find(tag)
            if pos == -1:
                keep = _partial_suffix(buf, tag)
                body = buf[: len(buf) - keep]
                if body:
                    out.append(("thinking" if self._inside else "text", body))
                self._pending = buf[len(buf) - keep :]
                break
            if pos:
                out.append(("thinking" if self._inside else "text", buf[:pos]))
            out.append(("close" if self._inside else "open", ""))
            self._inside = not self._inside
            buf = buf[pos + len(tag) :]
        return out

    def flush(self) -> list[tuple[SegmentKind, str]]:
        """End of text: release a held-back partial tag and close an unterminated thinking block."""
        out: list[tuple[SegmentKind, str]] = []
        if self._pending:
            out.append(("thinking" if self._inside else "text", self._pending))
            self._pending = ""
        if self._inside:
            out.append(("close", ""))
            self._inside = False
        return out


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


def split_think_tags(content: str) -> list[Thinking | Text]:
    """Split ``content`` with inline ``<think>`` blocks into ordered Thinking and Text blocks.

    Lossless: :func:`join_think_tags` gives ``content`` back, with two normalisations: an unclosed
    ``<think>`` at the end is closed, and a ``</think>`` with no opening tag before it (servers that
    prefill ``<think>`` in the prompt) makes everything before it thinking and gains its opening tag.
    """
    blocks: list[Thinking | Text] = []
    first_open = content.find(THINK_OPEN)
    first_close = content.find(THINK_CLOSE)
    if first_close != -1 and (first_open == -1 or first_close < first_open):
        blocks.append(Thinking(text=content[:first_close], dialect=ReasoningDialect.THINK_TAGS))
        content = content[first_close + len(THINK_CLOSE) :]
    for kind, value in _segments(content):
        if kind == "text":
            blocks.append(Text(text=value))
        else:
            blocks.append(Thinking(text=value, dialect=ReasoningDialect.THINK_TAGS))
    return blocks


def _segments(content: str) -> Iterator[tuple[Literal["text", "thinking"], str]]:
    pos = 0
    while pos < len(content):
        start = content.find(THINK_OPEN, pos)
        if start == -1:
            yield "text", content[pos:]
            return
        if start > pos:
            yield "text", content[pos:start]
        body_start = start + len(THINK_OPEN)
        end = content.find(THINK_CLOSE, body_start)
        if end == -1:
            yield "thinking", content[body_start:]
            return
        yield "thinking", content[body_start:end]
        pos = end + len(THINK_CLOSE)


def join_think_tags(blocks: list[Thinking | Text]) -> str:
    """The inverse of :func:`split_think_tags`."""
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Thinking):
            parts.append(f"{THINK_OPEN}{block.text}{THINK_CLOSE}")
        else:
            parts.append(block.text)
    return "".join(parts)
