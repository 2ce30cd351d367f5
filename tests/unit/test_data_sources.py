"""Collecting: every format interleaf reads becomes one row per trajectory, thinking intact and in order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from interleaf.data.collect import collect
from interleaf.data.dataset import open_dataset
from interleaf.data.errors import DatasetError, SourceError
from interleaf.data.rows import conversation_of
from interleaf.data.sources import read_source
from interleaf.data.sources.base import Collected
from interleaf.data.sources.wire import detect
from interleaf.store.sessions import SessionStore
from interleaf.transcript import Message, Text, Thinking, ToolCall, ToolResult, conversation_to_json
from interleaf.wire import anthropic

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _thinking(row: dict[str, Any]) -> list[str]:
    return [b.text for m in conversation_of(row).messages for b in m.blocks if isinstance(b, Thinking)]


def _rows(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = open_dataset(path).read_all().to_pylist()
    return rows


def _app_request(app: str, dialect: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / "apps" / app / f"{dialect}.json").read_text(encoding="utf-8"))
    body: dict[str, Any] = data["requests"][-1]["body"]
    return body


@pytest.mark.parametrize(
    ("app", "dialect", "fmt"),
    [
        ("claude-code", "anthropic--anthropic", "anthropic"),
        ("cline", "openai-chat--reasoning_content", "openai-chat"),
        ("qwen-code", "openai-chat--think_tags", "openai-chat"),
        ("pi", "openai-chat--reasoning", "openai-chat"),
        ("codex", "openai-responses--responses", "responses"),
    ],
)
def test_real_app_requests_are_read_in_their_format(app: str, dialect: str, fmt: str, tmp_path: Path) -> None:
    body = _app_request(app, dialect)
    assert detect(body) == fmt
    source = tmp_path / "requests.jsonl"
    source.write_text(json.dumps(body) + "\n", encoding="utf-8")
    summary = collect("jsonl", [source], tmp_path / "ds")
    assert summary.rows == 1 and not summary.problems
    (row,) = _rows(tmp_path / "ds")
    assert row["format"] == fmt
    assert row["source_ref"] == f"{source}:1"
    assert row["thinking_blocks"] == len(_thinking(row)) > 0


def test_a_request_with_its_reply_becomes_one_trajectory(tmp_path: Path) -> None:
    reply = json.loads((FIXTURES / "anthropic" / "thinking_tools.json").read_text(encoding="utf-8"))
    request = {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "Weather in Paris and NYC?"}],
    }
    source = tmp_path / "log.jsonl"
    source.write_text(
        json.dumps({"request": request, "response": reply, "task_id": "w1"}) + "\n", encoding="utf-8"
    )
    collect("jsonl", [source], tmp_path / "ds")
    (row,) = _rows(tmp_path / "ds")
    expected = [b["thinking"] for b in reply["content"] if b["type"] == "thinking"]
    assert _thinking(row) == expected
    assert row["task_id"] == "w1"
    assert row["task"] == "Weather in Paris and NYC?"
    # The signature rides along, byte for byte.
    block = conversation_of(row).messages[-1].blocks[0]
    assert isinstance(block, Thinking) and block.signature == reply["content"][0]["signature"]


def test_m2_native_prompts_transcripts_and_sharegpt_lines(tmp_path: Path) -> None:
    prompt = (FIXTURES / "minimax" / "sample1_prompt.txt").read_text(encoding="utf-8")
    text_file = tmp_path / "prompts.txt"
    text_file.write_text(prompt + prompt.replace("Need two calls.", "Need both cities."), encoding="utf-8")
    collect("m2", [text_file], tmp_path / "m2")
    rows = _rows(tmp_path / "m2")
    assert [_thinking(r) for r in rows] == [["Need two calls."], ["Need both cities."]]
    assert [r["source_ref"] for r in rows] == [f"{text_file}#1", f"{text_file}#2"]

    conversation = conversation_of(rows[0])
    lines = tmp_path / "mixed.jsonl"
    lines.write_text(
        json.dumps(conversation_to_json(conversation))
        + "\n"
        + json.dumps({"text": prompt})
        + "\n"
        + json.dumps(
            {
                "conversations": [
                    {"from": "human", "value": "2+2?"},
                    {"from": "gpt", "value": "<think>Add them.</think>4"},
                ]
            }
        )
        + "\n",
        encoding="utf-8",
    )
    summary = collect("jsonl", [lines], tmp_path / "mixed")
    assert dict(summary.formats) == {"transcript": 1, "minimax-m2": 1, "sharegpt": 1}
    assert summary.duplicates == 0  # the same conversation twice would be one row
    assert [_thinking(r) for r in _rows(tmp_path / "mixed")] == [
        ["Need two calls."],
        ["Need two calls."],
        ["Add them."],
    ]


def test_bad_lines_get_one_line_errors_and_the_rest_is_kept(tmp_path: Path) -> None:
    good = json.dumps(_app_request("cline", "openai-chat--reasoning_content"))
    source = tmp_path / "mixed.jsonl"
    source.write_text(
        "\n".join(
            [good, "{not json", json.dumps({"messages": "nope"}), json.dumps([1, 2]), json.dumps({"x": 1})]
        )
        + "\n",
        encoding="utf-8",
    )
    seen: list[str] = []
    summary = collect("jsonl", [source], tmp_path / "ds", on_problem=lambda p: seen.append(str(p)))
    assert summary.rows == 1
    assert len(seen) == 4 == len(summary.problems)
    for number, problem in zip((2, 3, 4, 5), seen, strict=True):
        assert problem.startswith(f"{source}:{number}: ")
        assert "\n" not in problem
    assert "not valid JSON" in seen[0]
    assert "not a valid openai-chat record: messages" in seen[1]
    assert "expected a JSON object, got list" in seen[2]
    assert "not a trajectory in any known format (keys: x)" in seen[3]
    assert len(_rows(tmp_path / "ds")) == 1


def test_collect_refuses_to_overwrite_and_appends_without_duplicates(tmp_path: Path) -> None:
    source = tmp_path / "one.jsonl"
    source.write_text(
        json.dumps(_app_request("cline", "openai-chat--reasoning_content")) + "\n", encoding="utf-8"
    )
    collect("jsonl", [source], tmp_path / "ds")
    with pytest.raises(DatasetError, match="already holds a dataset; pass --overwrite or --append"):
        collect("jsonl", [source], tmp_path / "ds")
    again = collect("jsonl", [source], tmp_path / "ds", mode="append")
    assert (again.rows, again.duplicates, again.total_rows) == (0, 1, 1)


def _session(store: SessionStore, thoughts: list[str]) -> str:
    session_id = store.create(title="t", workdir="/w", profile="anthropic", model="m", mode="lightning")
    store.append(session_id, Message(role="user", blocks=(Text(text="Count files."),)))
    store.append(
        session_id,
        Message(
            role="assistant",
            blocks=(
                Thinking(text=thoughts[0], signature="s1"),
                ToolCall(id="c1", name="shell", arguments={"command": "ls"}),
            ),
        ),
    )
    store.append(session_id, Message(role="tool", blocks=(ToolResult(call_id="c1", content="a\nb"),)))
    store.append(
        session_id, Message(role="assistant", blocks=(Thinking(text=thoughts[1]), Text(text="2 files.")))
    )
    return session_id


def test_sessions_become_rows_with_their_provenance(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    store = SessionStore(db)
    first = _session(store, ["List them.", "Two lines."])
    store.update(first, status="done")
    store.create(title="empty", workdir="/w", profile="p", model="m", mode="lightning")
    store.close()
    items = list(read_source("sessions", [db]))
    assert len(items) == 1
    item = items[0]
    assert isinstance(item, Collected)
    assert item.provenance.source_ref == f"{db}#{first}"
    assert (item.provenance.model, item.provenance.profile, item.provenance.outcome) == (
        "m",
        "anthropic",
        "done",
    )
    with pytest.raises(SourceError, match="no sessions database"):
        list(read_source("sessions", [tmp_path / "missing.db"]))


def test_eval_runs_keep_task_condition_trial_and_outcome(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    store = SessionStore(run / "sessions.db")
    ids = [_session(store, [f"Plan {i}.", f"Done {i}."]) for i in range(3)]
    store.close()
    trials = [
        {
            "task": "needle-1",
            "condition": "keep",
            "trial": 0,
            "suite": "needle",
            "suite_version": "1",
            "outcome": "pass",
            "session_id": ids[0],
        },
        {
            "task": {"id": "needle-1"},
            "condition": "drop",
            "trial": 0,
            "suite": "needle",
            "suite_version": "1",
            "outcome": "fail",
            "session_id": ids[1],
        },
        {
            "task": "needle-2",
            "condition": "keep",
            "trial": 1,
            "suite": "needle",
            "outcome": "error",
            "session_id": ids[2],
        },
        {"task": "needle-3", "condition": "keep", "trial": 0, "suite": "needle", "session_id": "nope"},
        {"summary": True},
    ]
    (run / "trials.jsonl").write_text("\n".join(json.dumps(t) for t in trials) + "\n", encoding="utf-8")
    problems: list[str] = []
    collect("eval", [run], tmp_path / "ds", on_problem=lambda p: problems.append(str(p)))
    rows = _rows(tmp_path / "ds")
    assert [
        (r["task_id"], r["eval_condition"], r["eval_trial"], r["passed"], r["eval_suite"]) for r in rows
    ] == [
        ("needle-1", "keep", 0, True, "needle@1"),
        ("needle-1", "drop", 0, False, "needle@1"),
        ("needle-2", "keep", 1, None, "needle"),
    ]
    assert problems == [f"{run / 'trials.jsonl'}:4: session nope is in none of the run's sessions databases"]
    with pytest.raises(SourceError, match="holds no trial results"):
        list(read_source("eval", [tmp_path / "ds"]))


def test_gateway_traffic_gives_the_longest_request_of_each_conversation_with_restored_thinking(
    tmp_path: Path,
) -> None:
    from interleaf.store.traffic import TrafficRecorder

    first_turn = {"role": "user", "content": "List the files."}
    call = {"id": "c1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}
    stripped = {"role": "assistant", "content": None, "tool_calls": [call]}
    restored = {**stripped, "reasoning_content": "Use ls."}
    result = {"role": "tool", "tool_call_id": "c1", "content": "a.txt"}
    later = [
        first_turn,
        restored,
        result,
        {"role": "assistant", "content": "One file."},
        {"role": "user", "content": "Thanks"},
    ]
    bodies = [
        ([first_turn], [first_turn]),
        ([first_turn, stripped, result], [first_turn, restored, result]),
        ([first_turn, stripped, result], later),
        ([{"role": "user", "content": "Other task."}], [{"role": "user", "content": "Other task."}]),
    ]
    db = tmp_path / "traffic.db"
    recorder = TrafficRecorder(db)
    for number, (client, upstream) in enumerate(bodies):
        recorder.record(
            request_id=f"r{number}",
            started_at=1000.0 + number,
            user_agent="cline/3.0",
            client_format="openai-chat",
            upstream_format="openai-chat",
            client_body=json.dumps({"model": "m", "messages": client}).encode(),
            upstream_body=json.dumps({"model": "m", "messages": upstream}).encode(),
            status=200,
            model="m",
        )
    recorder.record(
        request_id="refused",
        started_at=2000.0,
        user_agent="x",
        client_format="openai-chat",
        client_body=b"{}",
        upstream_body=None,
        status=400,
    )
    recorder.close()
    items = list(read_source("gateway", [db]))
    assert all(isinstance(item, Collected) for item in items)
    collected = [item for item in items if isinstance(item, Collected)]
    assert [item.provenance.source_ref for item in collected] == [f"{db}#3", f"{db}#4"]
    longest = collected[0].conversation
    assert [b.text for m in longest.messages for b in m.blocks if isinstance(b, Thinking)] == ["Use ls."]
    assert collected[0].provenance.profile == "cline"
    with pytest.raises(SourceError, match="interleaf serve --record"):
        list(read_source("gateway", [tmp_path / "none.db"]))


def test_anthropic_decoding_here_is_the_codec_itself() -> None:
    body = _app_request("claude-code", "anthropic--anthropic")
    item = next(iter(read_source_from_body(body)))
    assert isinstance(item, Collected)
    assert item.conversation == anthropic.decode_request(body)


def read_source_from_body(body: dict[str, Any]) -> list[Any]:
    from interleaf.data.sources.files import _collected

    return [_collected(body, "auto", "memory:1", "memory")]
