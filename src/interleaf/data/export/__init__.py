"""``interleaf data export``: SFT files, split into train and validation by task, never by row.

Writes ``OUT/train.jsonl`` and ``OUT/validation.jsonl`` (one record a line in the chosen format) and
``OUT/manifest.json`` (the row id of every line, what each format could not carry, the diversify
styles). A row's split is decided by a hash of its task group and the seed, so every row of a group
of near-duplicate tasks lands on the same side; a dataset that was never cleaned has its task groups
computed here with the same MinHash LSH.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from interleaf.data.dataset import open_dataset, read_part, write_json
from interleaf.data.dedup import DedupConfig, signatures, task_groups
from interleaf.data.engine import make_engine
from interleaf.data.errors import DatasetError
from interleaf.data.export.diversify import diversify
from interleaf.data.export.formats import EXPORT_FORMATS, records
from interleaf.data.rows import conversation_of
from interleaf.transcript import ReasoningDialect, TranscriptFormatError
from interleaf.wire.errors import Losses, WireError

__all__ = ["EXPORT_FORMATS", "ExportSettings", "ExportSummary", "export", "split_of"]

_RENDERED = pa.schema(
    [
        ("id", pa.string()),
        ("lines", pa.list_(pa.large_string())),
        ("losses", pa.list_(pa.string())),
        ("style", pa.string()),
        ("error", pa.string()),
    ]
)


@dataclass(frozen=True, slots=True)
class ExportSettings:
    fmt: str
    validation: float = 0.1
    seed: int = 0
    diversify: bool = False
    dialect: ReasoningDialect | None = None
    workers: int | None = None
    ray: bool = False
    ray_address: str | None = None


@dataclass
class ExportSummary:
    lines: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    losses: int = 0
    styles: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def split_of(group: str, seed: int, validation: float) -> str:
    """``validation`` for a ``validation`` share of task groups, else ``train``; stable per group."""
    value = int.from_bytes(hashlib.sha256(f"{seed}:{group}".encode()).digest()[:8], "big") / 2**64
    return "validation" if value < validation else "train"


def render_rows(table: pa.Table, settings: ExportSettings) -> pa.Table:
    """The stage the engine runs: each row's records as JSON lines, its losses and its style."""
    out: dict[str, list[Any]] = {name: [] for name in _RENDERED.names}
    for row in table.select(["id", "transcript"]).to_pylist():
        losses = Losses()
        style = None
        try:
            conversation = conversation_of(row)
            if settings.diversify:
                conversation, style = diversify(conversation, row["id"], settings.seed)
            lines = [
                json.dumps(record, ensure_ascii=False)
                for record in records(conversation, settings.fmt, dialect=settings.dialect, losses=losses)
            ]
            error = None
        except (TranscriptFormatError, WireError, ValueError) as exc:
            lines, error = [], str(exc).splitlines()[0]
        out["id"].append(row["id"])
        out["lines"].append(lines)
        out["losses"].append(list(losses))
        out["style"].append(style)
        out["error"].append(error)
    return pa.table(out, schema=_RENDERED)


def _groups(table: pa.Table) -> dict[str, str]:
    ids = table.column("id").to_pylist()
    known = table.column("task_group").to_pylist()
    if all(group is not None for group in known):
        return dict(zip(ids, known, strict=True))
    config = DedupConfig()
    tasks = table.column("task").to_pylist()
    keys = [
        None if task_id is None else f"{suite or source}|{task_id}"
        for task_id, suite, source in zip(
            table.column("task_id").to_pylist(),
            table.column("eval_suite").to_pylist(),
            table.column("source").to_pylist(),
            strict=True,
        )
    ]
    order = sorted(range(len(ids)), key=lambda i: ids[i])
    return task_groups(
        [ids[i] for i in order],
        signatures([tasks[i] or "" for i in order], config),
        [keys[i] for i in order],
        config,
    )


def export(source: Path, out: Path, settings: ExportSettings) -> ExportSummary:
    """Write the SFT files of the dataset at ``source`` into the directory ``out``."""
    if settings.fmt not in EXPORT_FORMATS:
        raise DatasetError(f"unknown export format {settings.fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if not 0 <= settings.validation < 1:
        raise DatasetError(f"--validation {settings.validation} must be at least 0 and below 1")
    dataset = open_dataset(source)
    summary = ExportSummary()
    tables: list[pa.Table] = []
    for part in dataset.parts:
        try:
            tables.append(read_part(part.path))
        except DatasetError as exc:
            summary.problems.append(str(exc))
    if not tables:
        raise DatasetError(f"{source}: no readable rows to export")
    table = pa.concat_tables(tables).sort_by([("id", "ascending")])
    groups = _groups(table)
    engine = make_engine(ray=settings.ray, address=settings.ray_address, workers=settings.workers)
    stage = functools.partial(render_rows, settings=settings)
    try:
        rendered = pa.concat_tables(list(engine.map(stage, [table.select(["id", "transcript"])])))
    finally:
        engine.close()
    out.mkdir(parents=True, exist_ok=True)
    ids: dict[str, list[str]] = {"train": [], "validation": []}
    losses: dict[str, list[str]] = {}
    handles = {split: (out / f"{split}.jsonl").open("w", encoding="utf-8") for split in ids}
    try:
        for row in rendered.to_pylist():
            if row["error"] is not None:
                summary.problems.append(
                    f"row {row['id']}: cannot be written as {settings.fmt}: {row['error']}"
                )
                continue
            split = split_of(groups[row["id"]], settings.seed, settings.validation)
            for line in row["lines"]:
                handles[split].write(line + "\n")
                ids[split].append(row["id"])
            if row["losses"]:
                losses[row["id"]] = row["losses"]
                summary.losses += len(row["losses"])
            if row["style"] is not None:
                summary.styles[row["style"]] += 1
    finally:
        for handle in handles.values():
            handle.close()
    for split, listed in ids.items():
        summary.lines[split] = len(listed)
        summary.rows[split] = len(set(listed))
        summary.groups[split] = len({groups[i] for i in set(listed)})
    write_json(
        out / "manifest.json",
        {
            "format": settings.fmt,
            "source": str(source),
            "seed": settings.seed,
            "validation_share": settings.validation,
            "diversify": dict(summary.styles) if settings.diversify else None,
            "lines": summary.lines,
            "rows": summary.rows,
            "task_groups": summary.groups,
            "ids": ids,
            "losses": losses,
            "problems": summary.problems,
        },
    )
    return summary
