"""``interleaf data collect``: trajectories from a source, normalised to the transcript, into a dataset."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from interleaf.data.dataset import DatasetWriter, WriteMode
from interleaf.data.errors import RowError
from interleaf.data.rows import make_row
from interleaf.data.sources import read_source


@dataclass
class CollectSummary:
    rows: int = 0
    """Rows written by this run."""
    duplicates: int = 0
    """Trajectories skipped because the dataset already had the same transcript."""
    problems: list[str] = field(default_factory=list)
    """One line per record that could not be read."""
    formats: Counter[str] = field(default_factory=Counter)
    total_rows: int = 0
    """Rows in the dataset after this run (more than ``rows`` when appending)."""


def collect(
    kind: str,
    paths: Sequence[Path],
    out: Path,
    *,
    fmt: str = "auto",
    mode: WriteMode = "new",
    limit: int | None = None,
    on_problem: Callable[[RowError], None] | None = None,
) -> CollectSummary:
    """Read every trajectory of the source into the dataset at ``out``.

    A record that cannot be read is reported through ``on_problem`` (and in the summary) and
    skipped; the rest are still collected. Rows are written part by part, so what was read before
    an interruption is kept.
    """
    summary = CollectSummary()
    writer = DatasetWriter(
        out, stage="collect", mode=mode, details={"source": kind, "paths": [str(p) for p in paths]}
    )
    try:
        for item in read_source(kind, paths, fmt=fmt):
            if isinstance(item, RowError):
                summary.problems.append(str(item))
                if on_problem is not None:
                    on_problem(item)
                continue
            if writer.add(make_row(item.conversation, item.provenance)):
                summary.rows += 1
                summary.formats[item.provenance.format] += 1
            else:
                summary.duplicates += 1
            if limit is not None and summary.rows >= limit:
                break
    finally:
        writer.close(rows_added=summary.rows, duplicates=summary.duplicates, problems=len(summary.problems))
    summary.total_rows = writer.rows
    return summary
