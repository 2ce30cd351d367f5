"""Datasets on disk: a directory of Parquet parts plus ``manifest.json``.

::

    DATASET/
      manifest.json        format version, row count, parts, the stages that made it
      part-00000.parquet   rows (schema: interleaf.data.rows.SCHEMA), at most ``rows_per_part`` each
      rejected.parquet     (clean) rows that were dropped, with ``drop_reason``
      report.json          (clean) what every stage did: rule hits, duplicates, judge, domains

Parts are written one at a time (temporary file, then rename) and the manifest after each, so an
interrupted or failing run keeps every part it finished. Any ``.parquet`` file, or a directory of
them without a manifest, can be read too: columns the file lacks are read as nulls.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from interleaf import __version__
from interleaf.data.errors import DatasetError
from interleaf.data.rows import SCHEMA, Row, conform, to_table

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
REJECTED = "rejected.parquet"
REPORT = "report.json"
ROWS_PER_PART = 5_000

WriteMode = Literal["new", "overwrite", "append"]


@dataclass(frozen=True, slots=True)
class Part:
    path: Path
    rows: int | None = None


@dataclass
class Dataset:
    """A dataset to read: its parts in order, and its manifest (empty for bare Parquet files)."""

    path: Path
    parts: list[Part]
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int | None:
        value = self.manifest.get("rows")
        return int(value) if isinstance(value, int) else None

    def tables(self) -> Iterator[pa.Table]:
        """Each part as a table with the dataset schema; DatasetError names a part that cannot be read."""
        for part in self.parts:
            yield read_part(part.path)

    def read_all(self) -> pa.Table:
        tables = list(self.tables())
        return pa.concat_tables(tables) if tables else SCHEMA.empty_table()

    def report(self) -> dict[str, Any]:
        """The clean report next to the parts, or ``{}``."""
        path = self.path / REPORT
        if not path.is_file():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{path}: not a readable report ({exc})") from None
        return data if isinstance(data, dict) else {}

    def rejected(self) -> pa.Table | None:
        path = self.path / REJECTED
        return read_part(path) if path.is_file() else None


def open_dataset(path: Path | str) -> Dataset:
    """A dataset directory, a directory of Parquet files, or one Parquet file."""
    path = Path(path)
    if path.is_file():
        return Dataset(path.parent, [Part(path)])
    if not path.is_dir():
        raise DatasetError(f"{path}: no such dataset (a directory made by `interleaf data collect`)")
    manifest_path = path / MANIFEST
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{manifest_path}: not valid JSON ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("interleaf_dataset") != FORMAT_VERSION:
            raise DatasetError(
                f"{manifest_path}: not an interleaf dataset manifest (version {FORMAT_VERSION})"
            )
        parts = [Part(path / str(p["file"]), p.get("rows")) for p in manifest.get("parts", [])]
        return Dataset(path, parts, manifest)
    files = sorted(p for p in path.glob("*.parquet") if p.name != REJECTED)
    if not files:
        raise DatasetError(f"{path}: holds no Parquet files and no {MANIFEST}")
    return Dataset(path, [Part(p) for p in files])


def read_part(path: Path) -> pa.Table:
    """One Parquet file conformed to the dataset schema; DatasetError (one line) when it is unreadable."""
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing (listed in the manifest but not on disk)") from None
    except (OSError, pa.ArrowException) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"{path}: not a readable Parquet file ({first_line})") from None
    missing = [name for name in ("id", "transcript") if name not in table.column_names]
    if missing:
        raise DatasetError(f"{path}: not a trajectory table (no {', '.join(missing)} column)")
    try:
        return conform(table)
    except (pa.ArrowException, ValueError) as exc:
        raise DatasetError(f"{path}: a column has the wrong type ({exc})") from None


class DatasetWriter:
    """Writes rows into a dataset directory, a part at a time, the manifest kept current.

    ``mode``: ``new`` refuses a directory that already holds a dataset, ``overwrite`` replaces it,
    ``append`` adds parts to it (rows whose id it already has are skipped).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        stage: str,
        mode: WriteMode = "new",
        rows_per_part: int = ROWS_PER_PART,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.rows_per_part = rows_per_part
        self._pending: list[Row] = []
        self._parts: list[dict[str, Any]] = []
        self._history: list[dict[str, Any]] = []
        self._seen: set[str] = set()
        self.skipped_existing = 0
        self.rows = 0
        self._prepare(mode)
        self._history.append({"stage": stage, "at": time.time(), "interleaf": __version__, **(details or {})})
        self._write_manifest()

    def _prepare(self, mode: WriteMode) -> None:
        exists = (self.path / MANIFEST).is_file() or (self.path.is_dir() and any(self.path.glob("*.parquet")))
        if self.path.exists() and not self.path.is_dir():
            raise DatasetError(f"{self.path}: exists and is not a directory")
        if exists and mode == "new":
            raise DatasetError(f"{self.path}: already holds a dataset; pass --overwrite or --append")
        if exists and mode == "overwrite":
            for child in self.path.iterdir():
                if child.name == MANIFEST or child.suffix in (".parquet", ".json", ".tmp"):
                    child.unlink()
                elif child.is_dir() and child.name == "plots":
                    shutil.rmtree(child)
        if exists and mode == "append":
            existing = open_dataset(self.path)
            self._parts = [{"file": p.path.name, "rows": p.rows} for p in existing.parts]
            self._history = list(existing.manifest.get("history", []))
            self.rows = int(existing.manifest.get("rows") or 0)
            for table in existing.tables():
                self._seen.update(str(v) for v in table.column("id").to_pylist())
        self.path.mkdir(parents=True, exist_ok=True)

    def add(self, row: Row) -> bool:
        """Queue one row; returns False (and skips it) when the dataset already has its id."""
        if row["id"] in self._seen:
            self.skipped_existing += 1
            return False
        self._seen.add(row["id"])
        self._pending.append(row)
        if len(self._pending) >= self.rows_per_part:
            self.flush()
        return True

    def add_table(self, table: pa.Table) -> None:
        """Write a whole table as one or more parts (rows in the order given)."""
        for offset in range(0, table.num_rows, self.rows_per_part):
            self._write(conform(table.slice(offset, self.rows_per_part)))

    def flush(self) -> None:
        if self._pending:
            rows, self._pending = self._pending, []
            self._write(to_table(rows))

    def _write(self, table: pa.Table) -> None:
        name = f"part-{len(self._parts):05d}.parquet"
        write_table(table, self.path / name)
        self._parts.append({"file": name, "rows": table.num_rows})
        self.rows += table.num_rows
        self._write_manifest()

    def close(self, **summary: Any) -> None:
        """Write what is pending and the final manifest (``summary`` goes into this stage's entry)."""
        self.flush()
        self._history[-1].update(summary)
        self._write_manifest()

    def _write_manifest(self) -> None:
        manifest = {
            "interleaf_dataset": FORMAT_VERSION,
            "rows": self.rows,
            "parts": self._parts,
            "history": self._history,
        }
        write_json(self.path / MANIFEST, manifest)


def write_table(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` atomically (zstd-compressed Parquet)."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        pq.write_table(table, temporary, compression="zstd")
        os.replace(temporary, path)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot write ({exc.strerror or exc})") from None


def write_json(path: Path, data: Any) -> None:
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot write ({exc.strerror or exc})") from None
