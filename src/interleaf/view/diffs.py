"""File edits as diffs: ``edit_file`` (old text -> new text) and ``write_file`` (a whole new file).

The arguments hold only the replaced text, not the file; ``edit_file``'s result says at which line the new
text starts (``the new text is at line N`` / ``lines N-M``), which gives the diff real line numbers.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

MAX_LINES = 400
"""Diff lines shown; the rest is summarised in one ``more`` line (the arguments still hold it all)."""

_AT_LINE = re.compile(r"the new text is at lines? (\d+)")


@dataclass(frozen=True, slots=True)
class DiffLine:
    kind: Literal["add", "del", "ctx", "more"]
    text: str
    old: int | None = None
    new: int | None = None


def edit_diff(old: str, new: str, result: str | None = None) -> list[DiffLine]:
    """The lines of ``old`` replaced by ``new``, numbered from where the edit landed when the result says."""
    match = _AT_LINE.search(result or "")
    first = int(match[1]) if match else 1
    old_lines, new_lines = old.splitlines(), new.splitlines()
    lines: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            lines += [
                DiffLine("ctx", old_lines[a0 + i], first + a0 + i, first + b0 + i) for i in range(a1 - a0)
            ]
            continue
        lines += [DiffLine("del", old_lines[i], first + i, None) for i in range(a0, a1)]
        lines += [DiffLine("add", new_lines[i], None, first + i) for i in range(b0, b1)]
    return _capped(lines)


def write_diff(content: str) -> list[DiffLine]:
    """A new file's content as added lines."""
    return _capped([DiffLine("add", line, None, n) for n, line in enumerate(content.splitlines(), 1)])


def _capped(lines: list[DiffLine]) -> list[DiffLine]:
    if len(lines) <= MAX_LINES:
        return lines
    hidden = len(lines) - MAX_LINES
    return [*lines[:MAX_LINES], DiffLine("more", f"… {hidden:,} more lines (the arguments hold them all)")]


__all__ = ["DiffLine", "edit_diff", "write_diff"]
