"""``interleaf data clean``: rules, near-duplicates, judge, difficulty; a cleaner dataset and a report.

Order of the stages, and why:

1. **check** (per row, parallel: pool or Ray): rules and scrubbing, domain tags, MinHash signatures;
2. **rules**: rows hit by a ``drop`` rule go to ``rejected.parquet``;
3. **dedup**: near-duplicate thinking, then task groups and ``max_per_task`` (before the judge, so
   no judge call is spent on a duplicate);
4. **judge** (optional, async, cached): scores and reasons; ``min_judge`` drops low scores
   (unjudged rows are kept and counted);
5. **difficulty**: from steps, tools, tokens, the judge's rating and the task's pass rate over its
   eval trials; ``min_difficulty`` drops easy rows.

Kept and rejected rows are written sorted by id, so the in-process and Ray runs write the same files.
A corrupt input part is reported (one line naming it) and skipped; the other parts are still cleaned.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from interleaf.data import difficulty as diff
from interleaf.data.check import TASK_SIGNATURE, THINKING_SIGNATURE, UNREADABLE, CheckSettings, check_rows
from interleaf.data.clean_report import build_report, with_columns
from interleaf.data.clean_settings import CleanSettings
from interleaf.data.dataset import (
    REJECTED,
    REPORT,
    DatasetWriter,
    open_dataset,
    read_part,
    write_json,
    write_table,
)
from interleaf.data.dedup import near_duplicates, over_cap, task_groups
from interleaf.data.engine import make_engine
from interleaf.data.errors import DatasetError
from interleaf.data.judge.runner import JudgeReport, Outcome, judge_conversations
from interleaf.data.rows import SCHEMA, conform, conversation_of
from interleaf.data.rules import RuleSet

Progress = Callable[[str, int, int], None]
"""``(stage, done, total)``."""


@dataclass
class CleanResult:
    kept: int
    rejected: int
    report: dict[str, Any]
    problems: list[str]
    judge_error: str | None = None


def _order_key(row: dict[str, Any]) -> tuple[int, int, str]:
    """Best first: fewer flagged hits, then passed / unknown / failed, then id."""
    flags = sum(1 for hit in row["rule_hits"] or () if hit["action"] == "flag")
    passed = {True: 0, None: 1, False: 2}[row["passed"]]
    return flags, passed, row["id"]


def _task_key(row: dict[str, Any]) -> str | None:
    if row["task_id"] is None:
        return None
    return f"{row['eval_suite'] or row['source']}|{row['task_id']}"


def clean(
    source: Path,
    out: Path,
    settings: CleanSettings,
    *,
    progress: Progress | None = None,
    on_problem: Callable[[str], None] | None = None,
) -> CleanResult:
    """Clean the dataset at ``source`` into ``out``; see the module docstring for the stages."""
    timings: dict[str, float] = {}
    problems: list[str] = []

    def problem(message: str) -> None:
        problems.append(message)
        if on_problem is not None:
            on_problem(message)

    dataset = open_dataset(source)
    rule_set = RuleSet(settings.rules)
    stage = functools.partial(check_rows, settings=CheckSettings(settings.rules, settings.dedup))
    engine = make_engine(ray=settings.ray, address=settings.ray_address, workers=settings.workers)
    started = time.perf_counter()
    checked: list[pa.Table] = []
    try:
        done = 0
        tables = []
        for part in dataset.parts:
            try:
                tables.append(read_part(part.path))
            except DatasetError as exc:
                problem(str(exc))
        # One map over every part: on Ray, one dataset (a second one would wait for the first's CPUs).
        total = sum(table.num_rows for table in tables)
        for result in engine.map(stage, tables):
            checked.append(result)
            done += result.num_rows
            if progress is not None:
                progress("check", done, total)
    finally:
        engine.close()
    timings["check"] = time.perf_counter() - started
    if not checked and problems:
        raise DatasetError(f"{source}: no part could be read; nothing to clean")
    table = pa.concat_tables(checked) if checked else check_rows(SCHEMA.empty_table(), CheckSettings())
    rows = (
        table.drop_columns([TASK_SIGNATURE, THINKING_SIGNATURE])
        .select(
            ["id", "rule_hits", "passed", "task_id", "eval_suite", "source", "n_steps", "tools", "tokens"]
        )
        .to_pylist()
    )
    count = len(rows)
    drop_reason: list[str | None] = [None] * count
    dup_of: list[str | None] = [None] * count
    group_of: list[str | None] = [None] * count
    position = {row["id"]: i for i, row in enumerate(rows)}

    # Rules.
    rule_counts: dict[str, dict[str, Any]] = {
        name: {"action": s["action"], "rows": 0, "hits": 0, "dropped": 0}
        for name, s in rule_set.settings().items()
    }
    rule_counts.setdefault(UNREADABLE, {"action": "drop", "rows": 0, "hits": 0, "dropped": 0})
    for i, row in enumerate(rows):
        hits = row["rule_hits"] or []
        for name in {hit["rule"] for hit in hits}:
            rule_counts[name]["rows"] += 1
        for hit in hits:
            rule_counts[hit["rule"]]["hits"] += 1
        dropping = [name for name in dict.fromkeys(h["rule"] for h in hits if h["action"] == "drop")]
        if dropping:
            drop_reason[i] = "rule: " + ", ".join(dropping)
            for name in dropping:
                rule_counts[name]["dropped"] += 1

    # Near-duplicates, then task groups.
    started = time.perf_counter()
    task_signatures = table.column(TASK_SIGNATURE).to_pylist()
    thinking_signatures = table.column(THINKING_SIGNATURE).to_pylist()
    alive = sorted((i for i in range(count) if drop_reason[i] is None), key=lambda i: _order_key(rows[i]))
    duplicates = near_duplicates(
        [rows[i]["id"] for i in alive], [thinking_signatures[i] for i in alive], settings.dedup
    )
    for row_id, kept_id in duplicates.items():
        drop_reason[position[row_id]] = f"near-duplicate thinking of {kept_id}"
        dup_of[position[row_id]] = kept_id
    alive = [i for i in alive if drop_reason[i] is None]
    groups = task_groups(
        [rows[i]["id"] for i in alive],
        [task_signatures[i] for i in alive],
        [_task_key(rows[i]) for i in alive],
        settings.dedup,
    )
    for row_id, group in groups.items():
        group_of[position[row_id]] = group
    capped = over_cap([rows[i]["id"] for i in alive], groups, settings.dedup.max_per_task)
    for row_id in capped:
        drop_reason[position[row_id]] = (
            f"over max-per-task {settings.dedup.max_per_task} in task group {groups[row_id]}"
        )
    timings["dedup"] = time.perf_counter() - started

    # Pass rates over every input trial of a task (a property of the task, whatever was dropped).
    outcomes_by_task: dict[str, list[bool]] = {}
    for row in rows:
        key = _task_key(row)
        if key is not None and row["passed"] is not None:
            outcomes_by_task.setdefault(key, []).append(bool(row["passed"]))
    pass_rate: list[float | None] = []
    for row in rows:
        key = _task_key(row)
        trials = outcomes_by_task.get(key or "")
        pass_rate.append(round(sum(trials) / len(trials), 4) if trials else None)

    # Judge.
    judged: dict[str, Outcome] = {}
    judge_report: JudgeReport | None = None
    if settings.judge is not None:
        started = time.perf_counter()
        keep_ids = sorted(rows[i]["id"] for i in range(count) if drop_reason[i] is None)
        transcripts = table.column("transcript")
        items = [
            (row_id, conversation_of({"transcript": transcripts[position[row_id]].as_py()}))
            for row_id in keep_ids
        ]

        def judge_progress(done: int, total: int) -> None:
            if progress is not None:
                progress("judge", done, total)

        judged, judge_report = asyncio.run(
            judge_conversations(items, settings.judge, on_progress=judge_progress)
        )
        if judge_report.error is not None:
            problem(judge_report.error)
        timings["judge"] = time.perf_counter() - started
        if settings.min_judge is not None:
            for row_id, outcome in judged.items():
                if outcome.verdict is not None and outcome.verdict.score < settings.min_judge:
                    drop_reason[position[row_id]] = (
                        f"judge score {outcome.verdict.score} < {settings.min_judge}"
                    )

    # Difficulty.
    started = time.perf_counter()
    difficulty: list[float | None] = [None] * count
    parts_json: list[str | None] = [None] * count
    for i, row in enumerate(rows):
        verdict = judged[row["id"]].verdict if row["id"] in judged else None
        parts = diff.components(
            steps=row["n_steps"] or 0,
            tools=len(row["tools"] or []),
            tokens=row["tokens"] or 0,
            judge_difficulty=verdict.difficulty if verdict is not None else None,
            pass_rate=pass_rate[i],
        )
        score = diff.score(parts)
        difficulty[i] = score
        parts_json[i] = json.dumps(parts, sort_keys=True)
        if drop_reason[i] is None and settings.min_difficulty is not None and score < settings.min_difficulty:
            drop_reason[i] = f"difficulty {score} < {settings.min_difficulty}"
    timings["difficulty"] = time.perf_counter() - started

    # Assemble and write.
    started = time.perf_counter()
    judge_name = judge_report.judge if judge_report is not None else None
    full = with_columns(
        table, rows, judged, judge_name, group_of, dup_of, pass_rate, difficulty, parts_json, drop_reason
    )
    keep_mask = pa.array([reason is None for reason in drop_reason], type=pa.bool_())
    kept = _sorted(
        full.filter(keep_mask)
        .drop_columns(["drop_reason"])
        .append_column("drop_reason", pa.nulls(int(pc.sum(keep_mask).as_py() or 0), pa.string()))
    )
    rejected = _sorted(full.filter(pc.invert(keep_mask)))
    writer = DatasetWriter(
        out,
        stage="clean",
        mode=settings.mode,
        details={"source": str(source), "engine": "ray" if settings.ray or settings.ray_address else "local"},
    )
    writer.add_table(kept)
    write_table(rejected, out / REJECTED)
    report = build_report(
        source,
        full,
        kept,
        rejected,
        rule_counts,
        duplicates,
        groups,
        capped,
        judge_report,
        settings,
        problems,
    )
    timings["write"] = time.perf_counter() - started
    report["seconds"] = {name: round(value, 3) for name, value in timings.items()}
    write_json(out / REPORT, report)
    writer.close(kept=kept.num_rows, rejected=rejected.num_rows)
    return CleanResult(
        kept.num_rows, rejected.num_rows, report, problems, judge_report.error if judge_report else None
    )


def _sorted(table: pa.Table) -> pa.Table:
    return conform(table.sort_by([("id", "ascending")]))
