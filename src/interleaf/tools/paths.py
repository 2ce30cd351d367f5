"""Paths for the file tools: resolved against the workdir and kept inside it unless allowed."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from interleaf.tools.base import ToolContext, ToolError

__all__ = ["display_path", "missing_file_message", "resolve_path"]

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
    if ctx.allow_outside_workdir or resolved.is_relative_to(ctx.workdir):
        return resolved
    if not write and resolved.is_relative_to(ctx.session_dir):
        return resolved
    via = "" if str(resolved) == raw else f" (it resolves to {resolved})"
    raise ToolError(
        f"the path {raw} is outside the workdir {ctx.workdir}{via}; the file tools only touch files "
        "inside the workdir. Use a path inside it, or ask the user to allow paths outside the workdir "
        "(the allow_outside_workdir setting).",
        brief=f"refused: {raw} is outside the workdir",
    )


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
