"""Keeping tool output within what the model should read.

Long output is cut in the middle (the head shows what started, the tail how it ended) with a marker
saying how much was cut and where the full output was saved. :class:`OutputSpool` does this for a
stream of any size in bounded memory: past a limit the whole stream goes to a file and only the head
and tail stay in memory.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["OutputSpool", "clean_text", "cut_marker", "cut_middle"]

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_MARKER_ROOM = 300
"""Characters reserved for the cut marker when fitting output into a limit."""


def clean_text(text: str) -> str:
    """Drop what only a terminal would use: ANSI escapes, lines overwritten by ``\\r``, NUL bytes."""
    text = _ANSI.sub("", text)
    if "\r" in text:
        # A progress bar rewrites its line with \r; only the last version of each line matters.
        text = text.replace("\r\n", "\n")
        text = "\n".join(_last_version(line) for line in text.split("\n"))
    return text.replace("\x00", "\ufffd")


def _last_version(line: str) -> str:
    versions = [part for part in line.split("\r") if part]
    return versions[-1] if versions else ""


def cut_marker(omitted: int, unit: str, lines: int, saved: Path | None) -> str:
    """The line that replaces the middle of a cut output."""
    where = (
        f"the full output is saved in {saved} (read parts of it with the shell, e.g. `sed -n`, `grep`, `tail`)"
        if saved is not None
        else "the full output was not saved"
    )
    return f"\n[... {omitted:,} {unit} ({lines:,} lines) cut from the middle; {where} ...]\n"


def cut_middle(text: str, max_chars: int, saved: Path | None = None) -> str:
    """``text`` if it fits in ``max_chars``, else its head and tail around a :func:`cut_marker`.

    The cut snaps to line boundaries when one is near, so lines are not split without need.
    """
    if len(text) <= max_chars:
        return text
    head, tail = _head_tail(text, text, max(max_chars - _MARKER_ROOM, 2))
    omitted = text[len(head) : len(text) - len(tail)]
    return head + cut_marker(len(omitted), "characters", omitted.count("\n"), saved) + tail


def _head_tail(head_text: str, tail_text: str, budget: int) -> tuple[str, str]:
    half = budget // 2
    head = head_text[:half]
    newline = head.rfind("\n")
    if newline >= half * 0.8:
        head = head[: newline + 1]
    tail = tail_text[-(budget - half) :] if len(tail_text) > budget - half else tail_text
    newline = tail.find("\n")
    if 0 <= newline < len(tail) * 0.2:
        tail = tail[newline + 1 :]
    return head, tail


class OutputSpool:
    """Collects a byte stream and renders it as text of bounded size.

    The stream stays whole in memory up to ``memory_limit`` bytes; beyond that it is written to the
    file ``path_factory()`` gives, and only the first and last ``keep`` bytes stay in memory. When the
    rendered text has to be cut, the full output is always on disk and its path is returned.
    """

    def __init__(
        self,
        path_factory: Callable[[], Path],
        *,
        max_chars: int,
        memory_limit: int = 1 << 20,
    ) -> None:
        self._path_factory = path_factory
        self._max_chars = max_chars
        self._keep = max_chars
        self._memory_limit = max(memory_limit, 2 * max_chars)
        self._buffer = bytearray()
        self._head = b""
        self._tail = bytearray()
        self._file: Path | None = None
        self._handle: BinaryIO | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self.total = 0
        """Bytes written so far."""
        self.newlines = 0
        self.binary = False
        """True once the stream held a NUL byte or was not valid UTF-8."""

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.total += len(data)
        self.newlines += data.count(b"\n")
        if not self.binary:
            self.binary = b"\x00" in data or not self._valid_utf8(data)
        if self._handle is None:
            self._buffer += data
            if len(self._buffer) > self._memory_limit:
                self._spill()
            return
        self._handle.write(data)
        self._tail += data
        if len(self._tail) > 2 * self._keep:
            del self._tail[: len(self._tail) - self._keep]

    def _valid_utf8(self, data: bytes) -> bool:
        try:
            self._decoder.decode(data)
        except UnicodeDecodeError:
            return False
        return True

    def _spill(self) -> None:
        self._file = self._path_factory()
        self._handle = self._file.open("wb")
        self._handle.write(self._buffer)
        self._head = bytes(self._buffer[: self._keep])
        self._tail = bytearray(self._buffer[-self._keep :])
        self._buffer = bytearray()

    def recent(self, limit: int = 4096) -> str:
        """The last ``limit`` bytes written, decoded: enough to spot a message without rendering."""
        data = self._buffer if self._file is None else self._tail
        return _decode_tail(bytes(data[-limit:]))

    def close(self) -> None:
        """Flush and close the spill file, if any. Safe to call more than once."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def render(self, transform: Callable[[str], str] = clean_text) -> tuple[str, Path | None]:
        """The text for the model (``transform`` applied, then cut) and the full output's file, if saved."""
        self.close()
        if self._file is None:
            text = transform(self._buffer.decode("utf-8", errors="replace"))
            if len(text) <= self._max_chars:
                return text, None
            self._file = self._path_factory()
            self._file.write_bytes(self._buffer)
            return cut_middle(text, self._max_chars, self._file), self._file
        head_text = transform(_decode_head(self._head))
        tail_bytes = bytes(self._tail[-self._keep :])
        tail_text = transform(_decode_tail(tail_bytes))
        head, tail = _head_tail(head_text, tail_text, max(self._max_chars - _MARKER_ROOM, 2))
        omitted = max(self.total - len(head.encode()) - len(tail.encode()), 0)
        lines = max(self.newlines - head.count("\n") - tail.count("\n"), 0)
        return head + cut_marker(omitted, "bytes", lines, self._file) + tail, self._file


def _decode_head(data: bytes) -> str:
    # The cut may split a UTF-8 sequence at the end; an incremental decode leaves it out.
    return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=False)


def _decode_tail(data: bytes) -> str:
    # ... or at the start: skip up to three continuation bytes.
    start = 0
    while start < min(3, len(data)) and 0x80 <= data[start] < 0xC0:
        start += 1
    return data[start:].decode("utf-8", errors="replace")
