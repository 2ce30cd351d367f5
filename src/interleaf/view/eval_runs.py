"""Eval run directories (``interleaf eval run --out DIR``), read for the viewer.

The layout this reads (what ``interleaf eval run --out DIR`` writes; docs/view.md, "Eval runs"):
``results.jsonl``, one JSON object a line per trial, with at least ``task`` and ``condition`` and usually
``key``, ``trial``, ``suite``, ``suite_version``, ``context_policy``, ``seed``, ``model``, ``profile``,
``endpoint``, ``interleaf_version``, ``outcome`` (``pass``, ``fail`` or ``error``; a boolean or
``{"passed": ...}`` is read too), ``detail``, ``metrics`` and ``session_id``; ``run.json`` (what was
asked); the agent's sessions in ``sessions.db`` (any ``*.db`` / ``*.sqlite`` in the directory or one level
below); ``report.html``, ``plots/*.png`` and ``transcripts/*.html`` once reported. Another ``*.jsonl``
whose first line is a trial is read when ``results.jsonl`` is absent. Nothing is written.

A re-run appends a new line for a trial it repeats (an error is tried again): the last line of a ``key``
counts. A line that is not a trial is reported, not fatal: the page lists the unreadable lines.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interleaf.view.sessions_db import SessionsReader, StoreUnreadable

RESULT_NAMES = ("results.jsonl", "trials.jsonl")
RUN_FILE = "run.json"
SERVED_SUFFIXES = (".html", ".png", ".svg", ".jpg", ".jpeg", ".json")
SESSION_SUFFIXES = (".db", ".sqlite", ".sqlite3")
PLOT_SUFFIXES = (".png", ".svg")


class EvalRunMissing(LookupError):
    """The directory does not exist or holds no trials; the message says what was looked for."""


@dataclass(frozen=True, slots=True)
class Trial:
    number: int
    """Position in the results (0-based): the trial's id in the viewer's URLs."""
    task: str
    condition: str
    trial: int
    suite: str
    outcome: str
    """``pass``, ``fail`` or ``error``."""
    metrics: dict[str, Any]
    session_id: str | None
    detail: str
    data: dict[str, Any]

    def metric(self, *names: str) -> float | None:
        """The first of ``names`` found in the trial's metrics (or its top level) as a number."""
        for name in names:
            value = self.metrics.get(name, self.data.get(name))
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        return None

    @property
    def tokens(self) -> float | None:
        tokens_in = self.metric("input_tokens", "tokens_in")
        tokens_out = self.metric("output_tokens", "tokens_out")
        if tokens_in is None and tokens_out is None:
            return self.metric("tokens")
        return (tokens_in or 0.0) + (tokens_out or 0.0)

    @property
    def seconds(self) -> float | None:
        return self.metric("seconds", "wall_seconds", "wall_time")


@dataclass(frozen=True, slots=True)
class Summary:
    suite: str
    condition: str
    tasks: int
    trials: int
    passed: int
    errors: int
    pass_at_1: float
    pass_all_k: float | None
    """τ-bench's pass^k: the share of tasks all of whose k trials passed (``None`` with one trial a task)."""
    k: int
    mean_steps: float | None
    mean_tokens: float | None
    mean_seconds: float | None


@dataclass
class EvalRun:
    name: str
    path: Path
    trials: list[Trial] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    report: str | None = None
    session_files: list[Path] = field(default_factory=list)
    results_file: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    """``run.json``: what the run was asked to do."""
    superseded: int = 0
    """Lines replaced by a later line of the same trial key (a retried error)."""

    @property
    def facts(self) -> dict[str, str]:
        """What the run is (from run.json, else what the trials agree on), for the run's header."""
        keys = ("suite", "suite_version", "model", "profile", "endpoint", "interleaf_version", "seed", "mode")
        out: dict[str, str] = {}
        for key in keys:
            values = {str(t.data.get(key)) for t in self.trials if t.data.get(key) not in (None, "")}
            setting = self.settings.get(key)
            if setting not in (None, "", [], {}):
                values = {", ".join(map(str, setting)) if isinstance(setting, list) else str(setting)}
            if values:
                out[key] = ", ".join(sorted(values)[:6])
        return out

    def summaries(self) -> list[Summary]:
        groups: dict[tuple[str, str], list[Trial]] = defaultdict(list)
        for trial in self.trials:
            groups[(trial.suite, trial.condition)].append(trial)
        return [_summary(suite, condition, trials) for (suite, condition), trials in sorted(groups.items())]

    def reader_for(self, session_id: str) -> SessionsReader | None:
        """The sessions file holding ``session_id``, if one of the run's files does."""
        for path in self.session_files:
            reader = SessionsReader(path)
            try:
                if reader.find(session_id):
                    return reader
            except StoreUnreadable:
                continue
            finally:
                reader.close()
        return None

    def pairs(self, task: str) -> list[Trial]:
        return [t for t in self.trials if t.task == task]


def _summary(suite: str, condition: str, trials: list[Trial]) -> Summary:
    by_task: dict[str, list[Trial]] = defaultdict(list)
    for trial in trials:
        by_task[trial.task].append(trial)
    k = min(len(v) for v in by_task.values())
    passed = sum(1 for t in trials if t.outcome == "pass")

    def mean(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return sum(known) / len(known) if known else None

    return Summary(
        suite=suite,
        condition=condition,
        tasks=len(by_task),
        trials=len(trials),
        passed=passed,
        errors=sum(1 for t in trials if t.outcome == "error"),
        pass_at_1=passed / len(trials),
        pass_all_k=(
            sum(1 for v in by_task.values() if all(t.outcome == "pass" for t in v)) / len(by_task)
            if k > 1
            else None
        ),
        k=k,
        mean_steps=mean([t.metric("steps") for t in trials]),
        mean_tokens=mean([t.tokens for t in trials]),
        mean_seconds=mean([t.seconds for t in trials]),
    )


def _outcome(value: Any) -> str:
    if isinstance(value, bool):
        return "pass" if value else "fail"
    if isinstance(value, dict):
        if "outcome" in value:
            return _outcome(value["outcome"])
        return _outcome(value.get("passed"))
    text = str(value).lower()
    if text in ("pass", "passed", "success", "ok", "true"):
        return "pass"
    if text in ("error", "errored", "crashed"):
        return "error"
    return "fail"


def _trial(number: int, data: dict[str, Any]) -> Trial:
    metrics = data.get("metrics") if isinstance(data.get("metrics"), dict) else {}
    outcome_value = data.get("outcome", data.get("passed"))
    detail = data.get("detail") or data.get("error") or ""
    if isinstance(data.get("outcome"), dict):
        detail = detail or str(data["outcome"].get("detail", ""))
    session = data.get("session_id") or data.get("session")
    trial = data.get("trial", 0)
    condition = str(data["condition"])
    policy = data.get("context_policy")
    if isinstance(policy, str) and policy not in ("", "full"):
        condition += f" · {policy}"
    return Trial(
        number=number,
        task=str(data["task"]),
        condition=condition,
        trial=trial if isinstance(trial, int) else 0,
        suite=str(data.get("suite", "")),
        outcome=_outcome(outcome_value),
        metrics=dict(metrics or {}),
        session_id=str(session) if session else None,
        detail=str(detail)[:500],
        data=data,
    )


def results_file(path: Path) -> Path | None:
    """The trials file of a run directory, or ``None`` when it holds none."""
    for name in RESULT_NAMES:
        if (path / name).is_file():
            return path / name
    for candidate in sorted(path.glob("*.jsonl")):
        try:
            with candidate.open(encoding="utf-8", errors="replace") as file:
                first = json.loads(file.readline() or "null")
        except (OSError, ValueError):
            continue
        if isinstance(first, dict) and "task" in first and "condition" in first:
            return candidate
    return None


def load(name: str, path: Path) -> EvalRun:
    """Read one run directory; raises :class:`EvalRunMissing` when it is not one."""
    if not path.exists():
        raise EvalRunMissing(f"the eval directory {path} does not exist (moved or deleted?)")
    if not path.is_dir():
        raise EvalRunMissing(f"{path} is a file, not an eval output directory")
    found = results_file(path)
    if found is None:
        raise EvalRunMissing(
            f"{path} holds no trial results (a .jsonl file of one trial a line, as `interleaf eval run --out "
            f"{path}` writes); has the run started?"
        )
    run = EvalRun(name=name, path=path, results_file=found.name)
    run.settings = _settings(path / RUN_FILE, run.problems)
    latest: dict[str, dict[str, Any]] = {}
    with found.open(encoding="utf-8", errors="replace") as file:
        for line_number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError as exc:
                run.problems.append(f"{found.name} line {line_number}: not JSON ({exc})")
                continue
            if not isinstance(data, dict) or "task" not in data or "condition" not in data:
                run.problems.append(
                    f"{found.name} line {line_number}: not a trial (needs task and condition)"
                )
                continue
            key = str(data.get("key") or f"line {line_number}")
            if key in latest:
                run.superseded += 1
                del latest[key]  # re-inserted: trials keep the order of their latest lines
            latest[key] = data
    run.trials = [_trial(number, data) for number, data in enumerate(latest.values())]
    run.plots = sorted(
        str(p.relative_to(path))
        for p in [*path.glob("*"), *path.glob("plots/*")]
        if p.suffix in PLOT_SUFFIXES and p.is_file()
    )
    run.report = "report.html" if (path / "report.html").is_file() else None
    run.session_files = sorted(
        p for p in [*path.glob("*"), *path.glob("*/*")] if p.suffix in SESSION_SUFFIXES and p.is_file()
    )
    return run


def discover(roots: list[Path]) -> tuple[dict[str, Path], list[str]]:
    """Run directories under ``roots`` (each a run itself, or a folder of runs), by unique name; and
    what could not be used (a missing root), as sentences."""
    runs: dict[str, Path] = {}
    problems: list[str] = []
    for root in roots:
        if not root.is_dir():
            problems.append(f"the eval directory {root} does not exist")
            continue
        candidates = [root] if results_file(root) else sorted(p for p in root.iterdir() if p.is_dir())
        found = False
        for candidate in candidates:
            if results_file(candidate) is None:
                continue
            found = True
            name, n = candidate.name, 2
            while name in runs:
                name, n = f"{candidate.name}-{n}", n + 1
            runs[name] = candidate
        if not found:
            problems.append(f"{root} holds no eval runs yet (no trial results in it or its subdirectories)")
    return runs, problems


def _settings(path: Path, problems: list[str]) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name}: unreadable ({exc})")
        return {}
    return value if isinstance(value, dict) else {}


def safe_file(run: EvalRun, relative: str) -> Path | None:
    """A report file of the run (HTML, plot, JSON) by its path inside the run directory, at most two levels
    down; ``None`` for anything else, and for any path that would leave the directory."""
    parts = Path(relative).parts
    if not parts or len(parts) > 2 or any(p in ("..", ".") or p.startswith(".") for p in parts):
        return None
    path = (run.path / relative).resolve()
    if path.suffix.lower() not in SERVED_SUFFIXES or not path.is_relative_to(run.path.resolve()):
        return None
    return path if path.is_file() else None


__all__ = ["EvalRun", "EvalRunMissing", "Summary", "Trial", "discover", "load", "results_file", "safe_file"]
