"""Where trajectories come from: one reader per kind of source, all yielding the same items.

* ``sessions``: interleaf's agent sessions (``$INTERLEAF_HOME/sessions.db`` or a given file);
* ``eval``: ``interleaf eval run`` output directories (trial lines + sessions databases);
* ``jsonl``: JSON lines (or ``.json`` documents) in any wire format interleaf reads;
* ``m2``: MiniMax-M2 native prompt text;
* ``gateway``: the gateway's recorded traffic (``interleaf serve --record``), the longest request of
  each conversation, with the thinking the gateway restored.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from interleaf.data.errors import SourceError
from interleaf.data.sources.base import Collected, SourceItem

__all__ = ["KINDS", "Collected", "SourceItem", "read_source"]

KINDS = ("sessions", "eval", "jsonl", "m2", "gateway")


def read_source(kind: str, paths: Sequence[Path], *, fmt: str = "auto") -> Iterator[SourceItem]:
    """Items of one kind of source; SourceError when a whole source cannot be opened."""
    if kind == "sessions":
        from interleaf.data.sources.sessions import read_sessions

        if not paths:
            yield from read_sessions(None)
        for path in paths:
            yield from read_sessions(path)
    elif kind == "eval":
        from interleaf.data.sources.eval_runs import read_eval_dir

        _need_paths(kind, paths, "an eval run directory")
        for path in paths:
            yield from read_eval_dir(path)
    elif kind == "jsonl":
        from interleaf.data.sources.files import read_jsonl

        _need_paths(kind, paths, "a JSON-lines file")
        for path in paths:
            yield from read_jsonl(path, fmt)
    elif kind == "m2":
        from interleaf.data.sources.files import read_m2_text

        _need_paths(kind, paths, "a text file of M2 prompts")
        for path in paths:
            yield from read_m2_text(path)
    elif kind == "gateway":
        from interleaf.data.sources.traffic import read_traffic

        if not paths:
            yield from read_traffic(None)
        for path in paths:
            yield from read_traffic(path)
    else:
        raise SourceError(f"unknown source {kind!r}; use one of {', '.join(KINDS)}")


def _need_paths(kind: str, paths: Sequence[Path], what: str) -> None:
    if not paths:
        raise SourceError(f"--from {kind} needs {what}")
