"""Trajectories from files: JSON lines in any wire format, and MiniMax-M2 native prompt text."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from interleaf.data.errors import RowError, SourceError
from interleaf.data.rows import Provenance
from interleaf.data.sources.base import Collected, SourceItem
from interleaf.data.sources.wire import decode

# Keys of a record that describe the trajectory rather than belong to it.
_META_KEYS = ("task_id", "model", "profile", "outcome", "passed")


def _open_text(path: Path) -> TextIO:
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    try:
        if path.suffix == ".gz":
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
        return path.open(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"{path}: cannot open ({exc.strerror or exc})") from None


def read_jsonl(path: Path, fmt: str = "auto") -> Iterator[SourceItem]:
    """One trajectory a line. A ``.json`` file may instead hold one object, or a list of them."""
    if path.suffix == ".json":
        yield from _read_json_document(path, fmt)
        return
    with _open_text(path) as handle:
        number = 0
        while True:
            try:
                line = handle.readline()
            except (UnicodeDecodeError, OSError, EOFError) as exc:
                yield RowError(f"{path}:{number + 1}", f"cannot be read ({exc}); stopped reading this file")
                return
            if not line:
                return
            number += 1
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield RowError(where, f"not valid JSON ({exc.msg} at column {exc.colno})")
                continue
            yield _collected(record, fmt, where, str(path))


def _read_json_document(path: Path, fmt: str) -> Iterator[SourceItem]:
    with _open_text(path) as handle:
        try:
            document = json.load(handle)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield RowError(str(path), f"not valid JSON ({exc})")
            return
    records = document if isinstance(document, list) else [document]
    for index, record in enumerate(records):
        where = f"{path}[{index}]" if isinstance(document, list) else str(path)
        yield _collected(record, fmt, where, str(path))


def _collected(record: Any, fmt: str, where: str, source_ref_base: str) -> SourceItem:
    try:
        conversation, found = decode(record, fmt, where)
    except RowError as exc:
        return exc
    meta = {key: record.get(key) for key in _META_KEYS} if isinstance(record, dict) else {}
    passed = meta.get("passed")
    return Collected(
        conversation,
        Provenance(
            source="jsonl",
            source_ref=where,
            format=found,
            task_id=_str_or_none(meta.get("task_id")),
            model=_str_or_none(meta.get("model")) or _str_or_none(conversation.params.get("model")),
            profile=_str_or_none(meta.get("profile")),
            outcome=_str_or_none(meta.get("outcome")),
            passed=passed if isinstance(passed, bool) else None,
        ),
    )


def read_m2_text(path: Path) -> Iterator[SourceItem]:
    """MiniMax-M2 native prompts: a text file of one or more prompts, each starting with ``]~!b[``."""
    from interleaf.wire import minimax
    from interleaf.wire.errors import WireError

    with _open_text(path) as handle:
        try:
            text = handle.read()
        except UnicodeDecodeError as exc:
            yield RowError(str(path), f"not UTF-8 text ({exc})")
            return
    if not text.startswith(minimax.BOS):
        yield RowError(str(path), f"not M2 native text: a prompt starts with {minimax.BOS}")
        return
    for number, chunk in enumerate(text.split(minimax.BOS)[1:], start=1):
        where = f"{path}#{number}"
        prompt = minimax.BOS + chunk
        # Prompts written one after another may be separated by a newline the template never writes.
        if prompt.endswith("\n\n"):
            prompt = prompt[:-1]
        try:
            conversation = minimax.parse_prompt(prompt)
        except (WireError, ValueError) as exc:
            yield RowError(where, f"not a valid M2 prompt: {exc}")
            continue
        yield Collected(conversation, Provenance(source="m2", source_ref=where, format="minimax-m2"))


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
