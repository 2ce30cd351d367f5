"""Eval runs: the list of runs, a run's report (its plots and tables) and trials, a trial's transcript,
and two trials side by side (the same task under two conditions)."""

from __future__ import annotations

import threading
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from interleaf.view import session_view, timeline
from interleaf.view.eval_runs import EvalRun, EvalRunMissing, Trial, discover, load, results_file, safe_file
from interleaf.view.render import render
from interleaf.view.security import REPORT_CSP
from interleaf.view.session_view import SessionLinks
from interleaf.view.sessions_db import SessionsReader, UnknownSession

TRIALS_PER_PAGE = 200
COMPARE_ENTRIES = 300
_lock = threading.Lock()


def _runs(request: Request) -> tuple[dict[str, Path], list[str]]:
    return discover(list(request.app.state.options.evals))


def get_run(request: Request, name: str) -> EvalRun:
    """A run by name, read once and re-read when its results file changes."""
    runs, _ = _runs(request)
    path = runs.get(name)
    if path is None:
        known = ", ".join(sorted(runs)) or "none (start the viewer with --eval DIR)"
        raise EvalRunMissing(f"no eval run named {name!r}; the runs the viewer knows: {known}")
    found = results_file(path)
    if found is None:
        return load(name, path)  # raises EvalRunMissing, saying what is missing
    stat = found.stat()
    key = (stat.st_mtime, stat.st_size)
    cache: dict[Path, tuple[tuple[float, int], EvalRun]] = request.app.state.eval_cache
    with _lock:
        cached = cache.get(path)
    if cached is not None and cached[0] == key and cached[1].name == name:
        return cached[1]
    run = load(name, path)
    with _lock:
        cache[path] = (key, run)
    return run


def eval_source(request: Request) -> tuple[SessionsReader, SessionLinks, str]:
    name = request.path_params["run"]
    run = get_run(request, name)
    session_id = request.path_params["sid"]
    reader = run.reader_for(session_id)
    if reader is None:
        raise UnknownSession(
            f"eval run {name!r} has no transcript for session {session_id!r} in its session files "
            f"({', '.join(p.name for p in run.session_files) or 'none found'})"
        )
    links = SessionLinks(
        "", f"/evals/{name}/sessions/{session_id}", (("Eval runs", "/evals"), (name, f"/evals/{name}"))
    )
    return reader, links, session_id


def evals_page(request: Request) -> Response:
    runs, problems = _runs(request)
    listed = []
    for name in runs:
        try:
            run = get_run(request, name)
        except EvalRunMissing as exc:
            problems.append(str(exc))
            continue
        listed.append(run)
    return HTMLResponse(
        render(
            "evals.html",
            title="Eval runs",
            page="evals",
            section="evals",
            root="",
            source_path="",
            runs=listed,
            problems=problems,
            roots=[str(p) for p in request.app.state.options.evals],
        )
    )


def run_page(request: Request) -> Response:
    run = get_run(request, request.path_params["run"])
    params = request.query_params
    condition, outcome, task = params.get("condition", ""), params.get("outcome", ""), params.get("task", "")
    trials = [
        t
        for t in run.trials
        if (not condition or t.condition == condition)
        and (not outcome or t.outcome == outcome)
        and (not task or task.lower() in t.task.lower())
    ]
    try:
        page = max(1, int(params.get("page", "1")))
    except ValueError:
        page = 1
    pages = max(1, -(-len(trials) // TRIALS_PER_PAGE))
    page = min(page, pages)
    shown = trials[(page - 1) * TRIALS_PER_PAGE : page * TRIALS_PER_PAGE]
    return HTMLResponse(
        render(
            "eval_run.html",
            title=f"Eval run {run.name}",
            page="eval-run",
            section="evals",
            root="",
            source_path=str(run.path),
            run=run,
            summaries=run.summaries(),
            trials=shown,
            total=len(trials),
            page_number=page,
            pages=pages,
            pairs=_pairs(run),
            conditions=sorted({t.condition for t in run.trials}),
            filters={"condition": condition, "outcome": outcome, "task": task},
            crumbs=[("Eval runs", "/evals"), (run.name, "")],
        )
    )


def _pairs(run: EvalRun) -> dict[str, str]:
    """For each task run under two or more conditions, the compare URL of its first trial in two of them
    (a failed one first, when the conditions disagree: that is the interesting pair)."""
    by_task: dict[str, dict[str, Trial]] = {}
    for trial in run.trials:
        by_task.setdefault(trial.task, {}).setdefault(trial.condition, trial)
    out: dict[str, str] = {}
    for task, firsts in by_task.items():
        if len(firsts) < 2:
            continue
        chosen = sorted(firsts.values(), key=lambda t: (t.outcome == "pass", t.condition))
        a, b = chosen[0], next((t for t in chosen[1:] if t.outcome != chosen[0].outcome), chosen[1])
        out[task] = f"/evals/{run.name}/compare?t={a.number}&t={b.number}"
    return out


def trial_page(request: Request) -> Response:
    run = get_run(request, request.path_params["run"])
    number = request.path_params["n"]
    if not 0 <= number < len(run.trials):
        raise UnknownSession(f"eval run {run.name!r} has no trial {number} (it has {len(run.trials)})")
    trial = run.trials[number]
    if trial.session_id is None:
        raise UnknownSession(
            f"trial {number} of {run.name!r} ({trial.task}, {trial.condition}) names no session"
        )
    return RedirectResponse(f"/evals/{run.name}/sessions/{trial.session_id}", status_code=307)


def compare_page(request: Request) -> Response:
    run = get_run(request, request.path_params["run"])
    numbers = []
    for value in request.query_params.getlist("t"):
        try:
            numbers.append(int(value))
        except ValueError:
            continue
    if len(numbers) != 2 or not all(0 <= n < len(run.trials) for n in numbers):
        raise UnknownSession(
            "pick two trials to compare (tick two boxes in the trials table, or follow a task's "
            "'side by side' link)"
        )
    columns = [_column(run, run.trials[n]) for n in numbers]
    same_task = run.trials[numbers[0]].task == run.trials[numbers[1]].task
    return HTMLResponse(
        render(
            "eval_compare.html",
            title=f"Compare · {run.name}",
            page="eval-compare",
            section="evals",
            root="",
            source_path=str(run.path),
            run=run,
            columns=columns,
            same_task=same_task,
            crumbs=[("Eval runs", "/evals"), (run.name, f"/evals/{run.name}"), ("Side by side", "")],
        )
    )


def _column(run: EvalRun, trial: Trial) -> dict[str, object]:
    column: dict[str, object] = {"trial": trial, "entries": [], "problem": "", "more": 0, "base": ""}
    if trial.session_id is None:
        column["problem"] = "this trial names no session, so there is no transcript to show"
        return column
    reader = run.reader_for(trial.session_id)
    if reader is None:
        column["problem"] = f"session {trial.session_id} is not in the run's session files"
        return column
    spans = timeline.plan(reader.index(trial.session_id))
    base = f"/evals/{run.name}/sessions/{trial.session_id}"
    column["base"] = base
    entries = session_view.load_entries(reader, trial.session_id, spans[:COMPARE_ENTRIES])
    column["entries"] = session_view.link_images(entries, base)
    column["more"] = max(0, len(spans) - COMPARE_ENTRIES)
    return column


def file_response(request: Request) -> Response:
    run = get_run(request, request.path_params["run"])
    relative = request.path_params["path"]
    path = safe_file(run, relative)
    if path is None or not path.is_file():
        raise UnknownSession(f"eval run {run.name!r} has no report file {relative!r}")
    headers = {"content-security-policy": REPORT_CSP} if path.suffix == ".html" else {}
    return FileResponse(path, headers=headers)


def routes() -> list[Route]:
    return [
        Route("/evals", evals_page),
        Route("/evals/{run}", run_page),
        Route("/evals/{run}/trials/{n:int}", trial_page),
        Route("/evals/{run}/compare", compare_page),
        Route("/evals/{run}/files/{path:path}", file_response),
    ]


__all__ = ["EvalRunMissing", "eval_source", "get_run", "routes"]
