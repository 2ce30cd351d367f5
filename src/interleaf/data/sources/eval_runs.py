"""Trajectories from ``interleaf eval run`` output directories.

An eval run directory holds one JSON line per trial (``results.jsonl``: task, condition, trial, seed,
model, profile, suite version, outcome, metrics, session id; a re-run appends a newer record under
the same ``key``) and the agent's SQLite sessions with the full transcripts (``sessions.db``). This reader needs only that: it takes every ``*.jsonl`` file under the directory whose
lines carry a session id, finds the session in any ``*.db`` sessions file under it, and keeps the
trial's task, condition, trial number and outcome with the trajectory, so cleaning can compute a
task's pass rate over its k trials.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from interleaf.data.errors import RowError, SourceError
from interleaf.data.rows import Provenance
from interleaf.data.sources.base import Collected, SourceItem
from interleaf.data.sources.sessions import open_store
from interleaf.store.sessions import SessionNotFoundError, SessionStore
from interleaf.transcript import Conversation

_PASS = {"pass", "passed", "success", "succeeded", "ok", "correct", "true"}
_FAIL = {"fail", "failed", "failure", "incorrect", "wrong", "false"}


def passed_of(trial: Mapping[str, Any]) -> bool | None:
    """Whether a trial passed: ``passed``/``success`` if given, else read from ``outcome``. Harness
    errors (a timeout, a model error) are neither: ``None``."""
    for key in ("passed", "success"):
        if isinstance(trial.get(key), bool):
            return bool(trial[key])
    metrics = trial.get("metrics")
    if isinstance(metrics, Mapping):
        for key in ("passed", "success", "pass"):
            if isinstance(metrics.get(key), bool):
                return bool(metrics[key])
    outcome = trial.get("outcome")
    if isinstance(outcome, bool):
        return outcome
    if isinstance(outcome, Mapping):
        return passed_of(outcome)
    if isinstance(outcome, str):
        word = outcome.strip().lower()
        if word in _PASS:
            return True
        if word in _FAIL:
            return False
    return None


def _task_id(trial: Mapping[str, Any]) -> str | None:
    task = trial.get("task_id", trial.get("task"))
    if isinstance(task, Mapping):
        task = task.get("id")
    return None if task is None else str(task)


def _outcome_text(trial: Mapping[str, Any]) -> str | None:
    outcome = trial.get("outcome")
    if outcome is None:
        return None
    if isinstance(outcome, str):
        return outcome
    if isinstance(outcome, Mapping):
        return str(outcome.get("status") or outcome.get("outcome") or json.dumps(outcome, sort_keys=True))
    return str(outcome)


def _stores(directory: Path) -> list[SessionStore]:
    stores = []
    for path in sorted(directory.rglob("*.db")):
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as probe:
                tables = {r[0] for r in probe.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError:
            continue
        if {"sessions", "messages"} <= tables:
            stores.append(open_store(path))
    return stores


def read_eval_dir(directory: Path) -> Iterator[SourceItem]:
    """Every trial with a recorded session, in the order the trial files list them."""
    if not directory.is_dir():
        raise SourceError(f"{directory}: no such eval run directory")
    trial_files = sorted(directory.rglob("*.jsonl"))
    stores = _stores(directory)
    if not trial_files:
        raise SourceError(
            f"{directory}: holds no trial results (*.jsonl); is it an `interleaf eval run` --out?"
        )
    if not stores:
        raise SourceError(f"{directory}: holds no sessions database (*.db) with the trials' transcripts")
    try:
        for trial_file in trial_files:
            yield from _read_trials(trial_file, stores)
    finally:
        for store in stores:
            store.close()


def _read_trials(trial_file: Path, stores: list[SessionStore]) -> Iterator[SourceItem]:
    trials: dict[str, tuple[str, dict[str, Any]]] = {}
    with trial_file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{trial_file}:{number}"
            try:
                trial = json.loads(line)
            except json.JSONDecodeError as exc:
                yield RowError(where, f"not valid JSON ({exc.msg} at column {exc.colno})")
                continue
            if not isinstance(trial, dict):
                yield RowError(where, f"a trial is a JSON object, got {type(trial).__name__}")
                continue
            # A re-run appends a new record under the same trial key: the latest one counts.
            trials[str(trial.get("key") or where)] = (where, trial)
    for where, trial in trials.values():
        session_id = trial.get("session_id", trial.get("session"))
        if not isinstance(session_id, str) or not session_id:
            continue  # a summary line or a trial that never started a session
        item = _trial(trial, session_id, stores, where)
        if item is not None:
            yield item


def _trial(
    trial: dict[str, Any], session_id: str, stores: list[SessionStore], where: str
) -> SourceItem | None:
    for store in stores:
        try:
            info = store.info(session_id)
        except SessionNotFoundError:
            continue
        messages = store.messages(session_id)
        if not messages:
            return None
        suite = trial.get("suite")
        version = trial.get("suite_version")
        trial_number = trial.get("trial")
        condition = trial.get("condition")
        policy = trial.get("context_policy")
        if condition is not None and policy not in (None, "", "full"):
            condition = f"{condition}/{policy}"
        return Collected(
            Conversation(messages=tuple(messages), source="transcript"),
            Provenance(
                source="eval",
                source_ref=f"{where}#{session_id}",
                format="transcript",
                task_id=_task_id(trial),
                model=str(trial.get("model") or info.model or "") or None,
                profile=str(trial.get("profile") or info.profile or "") or None,
                created=info.created,
                outcome=_outcome_text(trial),
                passed=passed_of(trial),
                eval_suite=None if suite is None else f"{suite}@{version}" if version else str(suite),
                eval_condition=None if condition is None else str(condition),
                eval_trial=trial_number if isinstance(trial_number, int) else None,
            ),
        )
    return RowError(where, f"session {session_id} is in none of the run's sessions databases")
