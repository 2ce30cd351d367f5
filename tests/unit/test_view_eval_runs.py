"""Eval run directories as the viewer reads them: the fixture run in tests/fixtures/view/eval-run is laid out
the way `interleaf eval run --out DIR` writes one (results.jsonl, run.json, report.html, plots/), and the
transcripts are written here through the real SessionStore."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from interleaf.store.sessions import SessionStore
from interleaf.transcript import Message, Text, Thinking, ToolCall, ToolResult
from interleaf.view.eval_runs import EvalRunMissing, discover, load, safe_file

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "view" / "eval-run"


def make_eval_run(directory: Path) -> Path:
    """A copy of the fixture run with a sessions.db holding the transcript of every trial it names."""
    shutil.copytree(FIXTURE, directory)
    store = SessionStore(directory / "sessions.db")
    for line in (directory / "results.jsonl").read_text().splitlines():
        record = json.loads(line)
        sid = record["session_id"]
        made = store.create(
            title=record["key"],
            workdir="/eval",
            profile="anthropic",
            model="scripted-model",
            mode="lightning",
        )
        store._db.execute("UPDATE sessions SET id = ? WHERE id = ?", (sid, made))  # the ids the results name
        kept = record["condition"] == "keep"
        rec = store.recorder(sid)
        rec.append(
            Message(role="user", blocks=(Text(text=f"{record['task']}: remember the code, then report it"),))
        )
        rec.append(
            Message(
                role="assistant",
                blocks=(
                    Thinking(
                        text=f"The code for {record['task']} is 4721. I keep it in mind.", signature="s"
                    ),
                    ToolCall(id="c1", name="lookup", arguments={"page": 1}),
                ),
            )
        )
        rec.append(Message(role="tool", blocks=(ToolResult(call_id="c1", content="padding " * 20),)))
        thought = "Earlier I noted the code: 4721." if kept else "I no longer see my earlier notes."
        answer = "4721" if record["outcome"] == "pass" else "I do not know the code."
        rec.append(
            Message(role="assistant", blocks=(Thinking(text=thought, signature="s2"), Text(text=answer)))
        )
        store.update(sid, status="done" if record["outcome"] != "error" else "model_error", steps=2)
    store.close()
    return directory


def test_the_run_reads_as_the_eval_wrote_it(tmp_path: Path) -> None:
    run = load("needle", make_eval_run(tmp_path / "run"))
    assert run.results_file == "results.jsonl"
    # The retried error was superseded by its later line: 8 trials, not 9.
    assert len(run.trials) == 8 and run.superseded == 1
    retried = [t for t in run.trials if t.task == "needle-001" and t.condition == "drop" and t.trial == 1]
    assert retried[0].outcome == "fail" and retried[0].data["earlier_sessions"] == ["20261201-eeeeee"]
    assert run.facts["model"] == "scripted-model" and run.facts["mode"] == "lightning"
    summaries = {(s.suite, s.condition): s for s in run.summaries()}
    keep, drop = summaries[("needle", "keep")], summaries[("needle", "drop")]
    assert (keep.pass_at_1, keep.pass_all_k, keep.k) == (1.0, 1.0, 2)
    assert (drop.pass_at_1, drop.pass_all_k) == (0.25, 0.0)
    assert keep.mean_seconds == 1.5 and keep.mean_tokens == 1020.5 and keep.mean_steps == 3
    assert run.plots == ["plots/pass_by_condition.png"] and run.report == "report.html"
    assert run.session_files == [run.path / "sessions.db"]
    reader = run.reader_for(run.trials[0].session_id or "")
    assert reader is not None and reader.info(run.trials[0].session_id or "").title.startswith("needle/")
    assert run.reader_for("20261201-nothere") is None


def test_bad_lines_are_listed_not_fatal(tmp_path: Path) -> None:
    directory = make_eval_run(tmp_path / "run")
    with (directory / "results.jsonl").open("a") as file:
        file.write("{not json\n")
        file.write(json.dumps({"hello": "world"}) + "\n")
        file.write(json.dumps({"task": "t", "condition": "keep", "outcome": True}) + "\n")
    run = load("r", directory)
    assert (
        len(run.problems) == 2 and "line 10: not JSON" in run.problems[0] and "not a trial" in run.problems[1]
    )
    assert run.trials[-1].outcome == "pass"  # a boolean outcome is read as pass/fail


def test_missing_and_empty_directories_are_explained(tmp_path: Path) -> None:
    with pytest.raises(EvalRunMissing, match="does not exist"):
        load("x", tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvalRunMissing, match="holds no trial results"):
        load("x", tmp_path / "empty")
    runs, problems = discover([tmp_path / "nowhere", tmp_path / "empty"])
    assert runs == {}
    assert "does not exist" in problems[0] and "holds no eval runs yet" in problems[1]


def test_a_folder_of_runs_is_discovered_with_unique_names(tmp_path: Path) -> None:
    make_eval_run(tmp_path / "runs" / "a" / "needle")
    make_eval_run(tmp_path / "runs" / "needle")
    runs, problems = discover([tmp_path / "runs", tmp_path / "runs" / "a"])
    assert problems == []
    assert sorted(runs) == ["needle", "needle-2"]


def test_only_report_files_inside_the_run_are_served(tmp_path: Path) -> None:
    run = load("r", make_eval_run(tmp_path / "run"))
    (tmp_path / "secret.html").write_text("no")
    assert safe_file(run, "report.html") == (run.path / "report.html").resolve()
    assert safe_file(run, "plots/pass_by_condition.png") is not None
    for bad in (
        "../secret.html",
        "sessions.db",
        "/etc/passwd",
        "plots/../../secret.html",
        ".hidden.html",
        "a/b/c.png",
    ):
        assert safe_file(run, bad) is None, bad
