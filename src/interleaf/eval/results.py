"""A run directory: ``run.json`` (what was asked), ``results.jsonl`` (one line per trial), the agent's
SQLite sessions (``sessions.db``: every transcript) and, after ``interleaf eval report``, the report.

Layout::

    DIR/run.json            suite, version, model, profile, endpoint, conditions, k, seed, versions
    DIR/results.jsonl       one JSON object per finished trial (TrialRecord), appended as trials end
    DIR/sessions.db         the agent's session store: INTERLEAF_HOME=DIR interleaf sessions show ID
    DIR/sessions/ID/        each session's tool outputs
    DIR/gateway-thinking.db the restoring gateway's thinking store (condition ``restored``)
    DIR/report.html, DIR/plots/*.png, DIR/transcripts/*.html   written by ``interleaf eval report``

A trial's key is ``suite/task/condition/policy/trial``: re-running the same command skips keys whose
latest record passed or failed and runs the rest (errors are tried again).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from interleaf.eval.spec import Outcome

RUN_FILE = "run.json"
RESULTS_FILE = "results.jsonl"
SESSIONS_DB = "sessions.db"
GATEWAY_DB = "gateway-thinking.db"
SCHEMA = 1
"""Version of the record layout; readers refuse a newer one rather than misread it."""

# Fields of run.json that must match for a re-run to resume into the same directory.
IDENTITY = ("suite", "suite_version", "profile", "model", "endpoint", "seed", "mode")


class ResultsError(ValueError):
    """A run directory is missing, unreadable or belongs to another experiment."""


def trial_key(suite: str, task: str, condition: str, policy: str, trial: int) -> str:
    return f"{suite}/{task}/{condition}/{policy}/{trial}"


@dataclass(frozen=True, slots=True)
class TrialMetrics:
    steps: int = 0
    turns: int = 0
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    thinking_tokens: int = 0
    thinking_estimated: bool = False
    """True when the server reported no reasoning-token count and the figure comes from the text."""
    wall_seconds: float = 0.0
    model_seconds: float = 0.0
    """Time spent waiting on the model; ``wall - model`` is the harness's own cost (plus tools)."""
    cost: float | None = None


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """One line of ``results.jsonl``."""

    key: str
    suite: str
    suite_version: str
    task: str
    condition: str
    context_policy: str
    trial: int
    seed: int
    model: str
    profile: str
    endpoint: str
    interleaf_version: str
    outcome: Outcome
    detail: str
    metrics: TrialMetrics
    session_id: str | None
    attempts: int = 1
    error: str | None = None
    task_info: Mapping[str, Any] = field(default_factory=dict)
    grade_info: Mapping[str, Any] = field(default_factory=dict)
    statuses: tuple[str, ...] = ()
    """The agent's ``Finished.status`` for each user turn, in order."""
    earlier_sessions: tuple[str, ...] = ()
    """Sessions of attempts that errored before this one (kept: they are evidence too)."""
    finished_at: float = 0.0
    schema: int = SCHEMA

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["statuses"] = list(self.statuses)
        data["earlier_sessions"] = list(self.earlier_sessions)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrialRecord:
        if int(data.get("schema", 1)) > SCHEMA:
            raise ResultsError(
                f"a result line has schema {data.get('schema')}, newer than this interleaf reads ({SCHEMA}); "
                "upgrade interleaf"
            )
        values = dict(data)
        values["metrics"] = TrialMetrics(**values.get("metrics", {}))
        values["statuses"] = tuple(values.get("statuses", ()))
        values["earlier_sessions"] = tuple(values.get("earlier_sessions", ()))
        values["task_info"] = dict(values.get("task_info", {}))
        values["grade_info"] = dict(values.get("grade_info", {}))
        return cls(**values)

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"


class ResultsFile:
    """``results.jsonl``: appended one flushed line at a time, so a killed run keeps every finished trial.

    Lines are flushed, not fsync'd: like the session store (SQLite WAL, synchronous=NORMAL), what was
    written survives the process being killed; an OS crash may lose the last lines, and those trials
    simply run again on the next resume.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / RESULTS_FILE

    def append(self, record: TrialRecord) -> None:
        line = json.dumps(record.to_json(), ensure_ascii=False, sort_keys=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()

    def __iter__(self) -> Iterator[TrialRecord]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except ValueError:
                    # A line cut by a crash mid-write: that trial simply runs again.
                    continue
                if not isinstance(data, dict):
                    raise ResultsError(f"{self.path}:{number}: expected a JSON object per line")
                yield TrialRecord.from_json(data)

    def latest(self) -> dict[str, TrialRecord]:
        """The last record of each trial key (a re-run's record replaces an earlier error)."""
        return {record.key: record for record in self}


def read_run(directory: Path) -> dict[str, Any]:
    path = directory / RUN_FILE
    if not path.exists():
        raise ResultsError(
            f"{directory} is not an eval run directory (no {RUN_FILE}); run `interleaf eval run`"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ResultsError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path} must hold a JSON object")
    return data


def write_run(directory: Path, run: Mapping[str, Any]) -> None:
    """Create or update ``run.json``; a directory holding another experiment is refused."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / RUN_FILE
    if path.exists():
        previous = read_run(directory)
        clashes = [k for k in IDENTITY if k in previous and previous[k] != run.get(k)]
        if clashes:
            what = ", ".join(f"{k} {previous[k]!r} (now {run.get(k)!r})" for k in clashes)
            raise ResultsError(
                f"{directory} holds another run ({what}); pass a new --out directory to keep both"
            )
        merged = {**previous, **run}
        for key in ("conditions", "tasks_run"):
            if key in previous and key in run:
                merged[key] = list(dict.fromkeys([*previous[key], *run[key]]))
    else:
        merged = dict(run)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
