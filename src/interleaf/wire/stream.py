"""The SSE decoder shared by the stream assemblers.

It follows httpx's decoder shape: ``feed(chunk) -> list`` returns whatever is complete so far and keeps
the rest, ``flush()`` returns what remains at the end. It gives the same output for every way of
splitting the input, which the tests check at every split point. The ``<think>`` splitter, the other
incremental decoder, is :mod:`interleaf.wire.think`.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

__all__ = [
    "SSEDecoder",
    "SSEEvent",
    "encode_sse",
]

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
        if not self._skip_lf and "\r" not in text:
            # Lines end in \n alone (nearly every server): one split in C instead of a find per line.
            lines = text.split("\n")
            if self._line:
                lines[0] = self._line + lines[0]
            self._line = lines.pop()
            for line in lines:
                self._process_line(line, events)
            return events
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
