"""The file tools: ``read_file``, ``write_file`` and ``edit_file``.

Paths are relative to the workdir and may not leave it unless the context allows (see
:mod:`interleaf.tools.paths`). Files are read and written as UTF-8; binary files are refused rather
than mangled. The work runs in a thread, so a large file does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import difflib
import mimetypes
from pathlib import Path
from typing import Any

from pydantic import Field

from interleaf.tools.base import Params, Reach, ToolContext, ToolError, ToolOutcome, tool_spec
from interleaf.tools.paths import display_path, missing_file_message, path_reach, resolve_path

__all__ = [
    "DEFAULT_READ_LIMIT",
    "EditFileParams",
    "EditFileTool",
    "ReadFileParams",
    "ReadFileTool",
    "WriteFileParams",
    "WriteFileTool",
    "file_tools",
]

DEFAULT_READ_LIMIT = 2000
_SNIFF_BYTES = 8192
_SNIPPET_CONTEXT = 3
_SNIPPET_MAX_LINES = 40


def file_tools() -> tuple[ReadFileTool, WriteFileTool, EditFileTool]:
    """The three file tools, ready for a :class:`~interleaf.tools.base.Toolset`."""
    return ReadFileTool(), WriteFileTool(), EditFileTool()


# ------------------------------------------------------------------------------------------- read_file


class ReadFileParams(Params):
    path: str = Field(description="Path of the file, relative to the workdir.")
    offset: int | None = Field(default=None, ge=1, description="First line to show, 1-based (default 1).")
    limit: int | None = Field(
        default=None, ge=1, description=f"How many lines to show at most (default {DEFAULT_READ_LIMIT})."
    )


class ReadFileTool:
    """``read_file``: a text file's lines with line numbers, a window at a time."""

    name = "read_file"
    params = ReadFileParams
    read_only = True
    spec = tool_spec(
        name,
        "Read a text file. Lines come numbered like `cat -n` (number, tab, text); use offset and limit "
        f"to page through long files ({DEFAULT_READ_LIMIT} lines by default). Very long lines are cut. "
        "Binary files are refused.",
        ReadFileParams,
    )

    def reach(self, arguments: dict[str, Any], ctx: ToolContext | None = None) -> Reach:
        """``read`` inside the workdir (and the session's outputs); ``outside`` elsewhere."""
        return path_reach(ctx, str(arguments.get("path", "")), write=False)

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        params = ReadFileParams.model_validate(arguments)
        return await asyncio.to_thread(_read_file, params, ctx)

    async def aclose(self) -> None:
        return None


def _read_file(params: ReadFileParams, ctx: ToolContext) -> ToolOutcome:
    path = _existing_file(ctx, params.path)
    shown = display_path(ctx, path)
    offset = params.offset or 1
    limit = params.limit or DEFAULT_READ_LIMIT
    lines: list[str] = []
    size = 0
    capped = False
    lossy = False
    number = 0
    with path.open("rb") as file:
        _refuse_binary(ctx, path, file.read(_SNIFF_BYTES))
        file.seek(0)
        for raw in file:
            number += 1
            if number < offset:
                continue
            if len(lines) >= limit:
                number += _count_lines(file)
                break
            text, valid = _decode_line(raw)
            lossy = lossy or not valid
            if len(text) > ctx.max_line_chars:
                text = f"{text[: ctx.max_line_chars]}… [line cut: {len(text):,} characters]"
            line = f"{number:>6}\t{text}"
            if lines and size + len(line) + 1 > ctx.max_output_chars:
                capped = True
                number += _count_lines(file)
                break
            lines.append(line)
            size += len(line) + 1
    total = number
    if total == 0:
        return ToolOutcome(content=f"({shown} is empty)", brief=f"read {shown}: empty")
    if not lines:
        raise ToolError(
            f"offset {offset} is past the end of {shown}, which has {total:,} lines",
            brief=f"read {shown}: offset past end",
        )
    last = offset + len(lines) - 1
    if capped:
        lines.append(
            f"[stopped after line {last} to stay within {ctx.max_output_chars:,} characters; "
            f"{total:,} lines in all; continue with offset={last + 1}]"
        )
    elif last < total:
        lines.append(f"[showing lines {offset}-{last} of {total:,}; continue with offset={last + 1}]")
    if lossy:
        lines.append("[the file is not valid UTF-8; undecodable bytes are shown as \ufffd]")
    return ToolOutcome(content="\n".join(lines), brief=f"read {shown}: lines {offset}-{last} of {total:,}")


def _decode_line(raw: bytes) -> tuple[str, bool]:
    raw = raw.rstrip(b"\n").rstrip(b"\r")
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), False


def _count_lines(file: Any) -> int:
    """Lines left in ``file`` (a final line without a newline counts)."""
    count = 0
    last = b"\n"
    while chunk := file.read(1 << 20):
        count += chunk.count(b"\n")
        last = chunk[-1:]
    return count + (last != b"\n")


# ------------------------------------------------------------------------------------------ write_file


class WriteFileParams(Params):
    path: str = Field(
        description="Path of the file, relative to the workdir; missing directories are created."
    )
    content: str = Field(description="The complete new content of the file.")


class WriteFileTool:
    """``write_file``: create or overwrite a file with the given content."""

    name = "write_file"
    params = WriteFileParams
    read_only = False
    spec = tool_spec(
        name,
        "Write a file, replacing all of its content (parent directories are created). To change part of "
        "an existing file, prefer edit_file.",
        WriteFileParams,
    )

    def reach(self, arguments: dict[str, Any], ctx: ToolContext | None = None) -> Reach:
        """``confined`` inside the workdir; ``outside`` elsewhere."""
        return path_reach(ctx, str(arguments.get("path", "")), write=True)

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        params = WriteFileParams.model_validate(arguments)
        return await asyncio.to_thread(_write_file, params, ctx)

    async def aclose(self) -> None:
        return None


def _write_file(params: WriteFileParams, ctx: ToolContext) -> ToolOutcome:
    path = resolve_path(ctx, params.path, write=True)
    shown = display_path(ctx, path)
    if path.is_dir():
        raise ToolError(
            f"{shown} is a directory; give the path of a file inside it", brief=f"{shown} is a dir"
        )
    old_size = path.stat().st_size if path.exists() else None
    data = params.content.encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise ToolError(
            f"cannot write {shown}: {exc.strerror or exc}", brief=f"cannot write {shown}"
        ) from exc
    what = f"{len(data):,} bytes, {_line_count(params.content):,} lines"
    if old_size is None:
        return ToolOutcome(content=f"created {shown} ({what})", brief=f"created {shown}")
    return ToolOutcome(
        content=f"overwrote {shown} ({what}; it had {old_size:,} bytes before)", brief=f"overwrote {shown}"
    )


def _line_count(text: str) -> int:
    return text.count("\n") + (bool(text) and not text.endswith("\n"))


# ------------------------------------------------------------------------------------------- edit_file


class EditFileParams(Params):
    path: str = Field(description="Path of the file to edit, relative to the workdir.")
    old_string: str = Field(
        description="The exact text to replace, including whitespace and indentation. It must occur exactly "
        "once in the file unless replace_all is true; include surrounding lines to make it unique."
    )
    new_string: str = Field(description="The text to put in its place (must differ from old_string).")
    replace_all: bool = Field(default=False, description="Replace every occurrence instead of exactly one.")


class EditFileTool:
    """``edit_file``: replace an exact piece of text in a file."""

    name = "edit_file"
    params = EditFileParams
    read_only = False
    spec = tool_spec(
        name,
        "Edit a text file by replacing an exact string. old_string must match the file exactly (read the "
        "file first) and occur once, unless replace_all is true. Returns the edited lines with numbers.",
        EditFileParams,
    )

    def reach(self, arguments: dict[str, Any], ctx: ToolContext | None = None) -> Reach:
        """``confined`` inside the workdir; ``outside`` elsewhere."""
        return path_reach(ctx, str(arguments.get("path", "")), write=True)

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        params = EditFileParams.model_validate(arguments)
        return await asyncio.to_thread(_edit_file, params, ctx)

    async def aclose(self) -> None:
        return None


def _edit_file(params: EditFileParams, ctx: ToolContext) -> ToolOutcome:
    old, new = params.old_string, params.new_string
    if not old:
        raise ToolError("old_string is empty; to create or replace a whole file, use write_file")
    if old == new:
        raise ToolError("old_string and new_string are identical, so the edit would change nothing")
    path = _existing_file(ctx, params.path, write=True)
    shown = display_path(ctx, path)
    raw = path.read_bytes()
    _refuse_binary(ctx, path, raw[:_SNIFF_BYTES])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(
            f"{shown} is not valid UTF-8 (at byte {exc.start}); edit_file would corrupt it. Use the shell.",
            brief=f"{shown} is not UTF-8",
        ) from exc
    count = text.count(old)
    if count == 0 and "\r\n" in text and "\n" in old and "\r\n" not in old:
        # The file has Windows line endings; the model writes "\n".
        old, new = old.replace("\n", "\r\n"), new.replace("\r\n", "\n").replace("\n", "\r\n")
        count = text.count(old)
    if count == 0:
        raise ToolError(_no_match_message(text, old, shown), brief=f"edit {shown}: old_string not found")
    starts = _find_all(text, old)
    if count > 1 and not params.replace_all:
        at = ", ".join(str(text.count("\n", 0, start) + 1) for start in starts[:20])
        raise ToolError(
            f"old_string occurs {count} times in {shown} (starting at lines {at}"
            f"{', ...' if count > 20 else ''}); include more surrounding lines to make it unique, or set "
            "replace_all=true to replace every occurrence",
            brief=f"edit {shown}: old_string is ambiguous ({count} matches)",
        )
    if not params.replace_all:
        starts = starts[:1]
    updated = text.replace(old, new, -1 if params.replace_all else 1)
    path.write_bytes(updated.encode("utf-8"))
    shift = len(new) - len(old)
    ranges = [_line_range(updated, start + i * shift, len(new)) for i, start in enumerate(starts)]
    if len(ranges) == 1:
        first, last = ranges[0]
        where = f"line {first}" if first == last else f"lines {first}-{last}"
        head = f"edited {shown}: replaced 1 occurrence; the new text is at {where}:"
        return ToolOutcome(
            content=f"{head}\n{_snippet(updated, first, last)}", brief=f"edited {shown} ({where})"
        )
    where = ", ".join(str(first) if first == last else f"{first}-{last}" for first, last in ranges[:20])
    return ToolOutcome(
        content=f"edited {shown}: replaced {len(ranges)} occurrences; the new text is at lines {where}"
        f"{', ...' if len(ranges) > 20 else ''}",
        brief=f"edited {shown} ({len(ranges)} replacements)",
    )


def _find_all(text: str, needle: str) -> list[int]:
    starts, start = [], text.find(needle)
    while start >= 0:
        starts.append(start)
        start = text.find(needle, start + len(needle))
    return starts


def _line_range(text: str, start: int, length: int) -> tuple[int, int]:
    """First and last line of ``text[start:start + length]``; a final newline ends the last line."""
    first = text.count("\n", 0, start) + 1
    return first, first + text.count("\n", start, start + length - 1) if length else first


def _snippet(text: str, first: int, last: int) -> str:
    lines = text.splitlines()
    begin = max(first - _SNIPPET_CONTEXT, 1)
    end = min(last + _SNIPPET_CONTEXT, len(lines), begin + _SNIPPET_MAX_LINES - 1)
    return "\n".join(f"{n:>6}\t{lines[n - 1]}" for n in range(begin, end + 1))


def _no_match_message(text: str, old: str, shown: str) -> str:
    message = f"old_string was not found in {shown}; it must match the file exactly, whitespace included."
    probe = next((line.strip() for line in old.splitlines() if line.strip()), "")
    if not probe:
        return message + " Read the file and copy the text to replace from it."
    lines = text.splitlines()
    stripped = [line.strip() for line in lines]
    if probe in stripped:
        at = [str(n) for n, line in enumerate(stripped, 1) if line == probe][:5]
        return (
            f"{message} Its first line appears at line {', '.join(at)} when indentation is ignored: check "
            "the indentation (tabs or spaces) and the lines that follow."
        )
    close = difflib.get_close_matches(probe, stripped, n=3, cutoff=0.6)
    if not close:
        return message + " No similar lines either; read the file to see its current content."
    numbered = [f"{stripped.index(line) + 1:>6}\t{lines[stripped.index(line)]}" for line in close]
    return message + " The closest lines in the file are:\n" + "\n".join(numbered)


# -------------------------------------------------------------------------------------------- helpers


def _existing_file(ctx: ToolContext, raw: str, *, write: bool = False) -> Path:
    path = resolve_path(ctx, raw, write=write)
    if not path.exists():
        hint = " To create a file, use write_file." if write else ""
        raise ToolError(missing_file_message(ctx, path) + hint, brief=f"not found: {raw}")
    if path.is_dir():
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
        listing = ", ".join(entries[:50]) + (f", ... ({len(entries)} entries)" if len(entries) > 50 else "")
        raise ToolError(
            f"{display_path(ctx, path)} is a directory, not a file; it contains: {listing or '(nothing)'}",
            brief=f"{raw} is a directory",
        )
    return path


def _refuse_binary(ctx: ToolContext, path: Path, head: bytes) -> None:
    if b"\x00" in head:
        kind = mimetypes.guess_type(path.name)[0] or "binary data"
        raise ToolError(
            f"{display_path(ctx, path)} is a binary file ({kind}, {path.stat().st_size:,} bytes); the file "
            "tools handle text only. Inspect it with the shell (`file`, `xxd | head`) or from Python.",
            brief=f"{path.name} is binary",
        )
