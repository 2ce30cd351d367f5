"""Paths for the file tools: resolved against the workdir and kept inside it unless allowed.

Credentials (``~/.ssh``, ``~/.aws``, ... the sandbox's list) are refused even when paths outside the
workdir are allowed: the file tools never hand a private key to the model.
"""

from __future__ import annotations

import difflib
import os
import time
from pathlib import Path

from interleaf.tools.base import Reach, ToolContext, ToolError
from interleaf.tools.sandbox import CREDENTIALS_IN_HOME

__all__ = ["changed_since", "display_path", "missing_file_message", "path_reach", "resolve_path"]

_SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".tox"}
_WALK_LIMIT = 20_000


def resolve_path(ctx: ToolContext, raw: str, *, write: bool) -> Path:
    """The real path ``raw`` names: relative to the workdir, ``~`` expanded, symlinks followed.

    A path that ends up outside the workdir is refused unless ``ctx.allow_outside_workdir``; reading
    (not writing) files the tools saved under the session directory is always allowed.
    """
    if not raw.strip():
        raise ToolError("the path is empty; give a file path relative to the workdir", brief="empty path")
    try:
        path = Path(raw).expanduser()
        resolved = (path if path.is_absolute() else ctx.workdir / path).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, an unknown ~user, a NUL byte
        raise ToolError(f"cannot resolve the path {raw!r}: {exc}", brief="bad path") from exc
    if write and not ctx.workdir_writable:
        raise ToolError(
            "the workdir is read-only in this session (--sandbox readonly); nothing can be written. "
            "Say what you would change instead.",
            brief="refused: read-only session",
        )
    if resolved.is_relative_to(ctx.workdir):
        return resolved
    if not write and resolved.is_relative_to(ctx.session_dir):
        return resolved
    credential = _credential(resolved)
    if credential is not None:
        raise ToolError(
            f"the path {raw} is inside {credential}, which holds credentials; the file tools never read "
            "or write credentials. Do the task without them.",
            brief=f"refused: {raw} holds credentials",
        )
    if ctx.allow_outside_workdir:
        return resolved
    via = "" if str(resolved) == raw else f" (it resolves to {resolved})"
    raise ToolError(
        f"the path {raw} is outside the workdir {ctx.workdir}{via}; the file tools only touch files "
        "inside the workdir. Use a path inside it, or ask the user to allow paths outside the workdir "
        "(the allow_outside_workdir setting).",
        brief=f"refused: {raw} is outside the workdir",
    )


def path_reach(ctx: ToolContext | None, raw: str, *, write: bool) -> Reach:
    """How far a file-tool call on ``raw`` reaches: inside the workdir (or, reading, the session's
    outputs) it is ``read`` or ``confined``; anywhere else ``outside``. A path that cannot be resolved
    counts as inside: the tool refuses it with a clearer message than approval could give."""
    inside: Reach = "confined" if write else "read"
    if ctx is None:
        return "outside"
    try:
        path = Path(raw).expanduser()
        resolved = (path if path.is_absolute() else ctx.workdir / path).resolve()
    except (OSError, RuntimeError, ValueError):
        return inside
    if resolved.is_relative_to(ctx.workdir) or (not write and resolved.is_relative_to(ctx.session_dir)):
        return inside
    return "outside"


def changed_since(root: Path, since: float, *, limit: int = 20) -> tuple[list[str], bool]:
    """Up to ``limit`` files under ``root`` modified at or after ``since`` (seconds since the epoch),
    newest first, relative to ``root``; and whether there may be more (more matched, or the walk
    stopped at its size or time bound). Skips version-control and dependency directories."""
    found: list[tuple[float, str]] = []
    seen, deadline = 0, time.monotonic() + 2.0
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in files:
            path = Path(directory, name)
            try:
                mtime = path.lstat().st_mtime
            except OSError:
                continue
            if mtime >= since:
                found.append((mtime, str(path.relative_to(root))))
        seen += len(files) + len(dirs)
        if seen > _WALK_LIMIT or time.monotonic() > deadline:
            return [name for _, name in sorted(found, reverse=True)[:limit]], True
    return [name for _, name in sorted(found, reverse=True)[:limit]], len(found) > limit


def _credential(path: Path) -> Path | None:
    """The credentials location ``path`` is in (under the user's home), or None."""
    home = Path.home().resolve()
    for name in CREDENTIALS_IN_HOME:
        location = home / name
        if path == location or path.is_relative_to(location):
            return location
    return None


def display_path(ctx: ToolContext, path: Path) -> str:
    """``path`` relative to the workdir when it is inside, else absolute."""
    return str(path.relative_to(ctx.workdir)) if path.is_relative_to(ctx.workdir) else str(path)


def missing_file_message(ctx: ToolContext, path: Path) -> str:
    """Say that ``path`` does not exist, and suggest files the caller may have meant."""
    message = f"file not found: {display_path(ctx, path)}"
    parent = path.parent
    if not parent.is_dir():
        existing = next(p for p in parent.parents if p.is_dir())
        missing = parent
        while missing.parent != existing:
            missing = missing.parent
        message += f" (the directory {display_path(ctx, missing)} does not exist)"
    suggestions: list[str] = []
    if parent.is_dir():
        names = [entry.name for entry in os.scandir(parent)]
        suggestions += [
            display_path(ctx, parent / name) for name in difflib.get_close_matches(path.name, names, n=3)
        ]
    for found in _find_named(ctx.workdir, path.name):
        shown = display_path(ctx, found)
        if shown not in suggestions:
            suggestions.append(shown)
    if suggestions:
        message += ". Did you mean: " + ", ".join(suggestions[:5]) + "?"
    return message


def _find_named(root: Path, name: str, limit: int = 5) -> list[Path]:
    """Up to ``limit`` files called ``name`` under ``root``, looking at no more than a bounded number."""
    found: list[Path] = []
    seen = 0
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        seen += len(files) + len(dirs)
        if name in files:
            found.append(Path(directory, name))
        if len(found) >= limit or seen > _WALK_LIMIT:
            break
    return found
