"""`interleaf data` end to end as a user runs it: agent sessions recorded against scripted models ->
collect -> clean -> export -> `interleaf convert` back, plus stats, the HTML report and bad input."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from interleaf.agent.session import AgentSession, RunOptions
from interleaf.cli.data import app
from interleaf.config import Config, ProfileConfig
from interleaf.data.dataset import open_dataset
from interleaf.data.export.formats import thinking_texts
from interleaf.data.rows import conversation_of
from interleaf.transcript import ReasoningDialect, conversation_from_json
from tests.support.payloads import anthropic_message, openai_completion, text, thinking, tool_call, tool_use
from tests.support.scripted_server import ScriptedServer, Step

INTERLEAF = str(Path(sys.executable).with_name("interleaf"))
THOUGHTS = (
    "The user wants hello in out.txt; «echo» then cat it to check.\n",
    "The file holds hello, so the task is done and I can answer.",
)
TASK = "Write hello to out.txt and show it."
SHELL = {"command": "echo hello > out.txt && cat out.txt"}


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


async def _record(server: ScriptedServer, workdir: Path, profile: str, config: Config) -> None:
    options = RunOptions(
        workdir=workdir,
        profile=profile,
        base_url=server.base_url,
        api_key="k",
        approve="auto",
        config=config,
        stream=False,
    )
    async with AgentSession(options) as session:
        finished = await session.run(TASK)
    assert finished.status == "done", finished


@pytest.fixture
async def sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scripted_server: ScriptedServer) -> Path:
    """Two real agent sessions: one on an Anthropic-style model (signed thinking), one on an inline-<think> server."""
    monkeypatch.setenv("INTERLEAF_HOME", str(tmp_path / "home"))
    work = tmp_path / "work"
    work.mkdir()
    scripted_server.enqueue(
        Step.json(anthropic_message([thinking(THOUGHTS[0], "sig-1=="), tool_use("toolu_1", "shell", SHELL)])),
        Step.json(anthropic_message([thinking(THOUGHTS[1], "sig-2=="), text("out.txt now holds: hello")])),
    )
    await _record(scripted_server, work, "anthropic", Config())
    scripted_server.enqueue(
        Step.json(
            openai_completion(
                content=f"<think>{THOUGHTS[0]}</think>\n\n", tool_calls=[tool_call("call_1", "shell", SHELL)]
            )
        ),
        Step.json(openai_completion(content=f"<think>{THOUGHTS[1]}</think>\n\nout.txt now holds: hello")),
    )
    config = Config(
        profiles={"vllm": ProfileConfig(thinking_dialect=ReasoningDialect.THINK_TAGS, model="m2")}
    )
    await _record(scripted_server, work, "vllm", config)
    return tmp_path / "home" / "sessions.db"


def test_sessions_to_sft_and_back_lose_no_thinking_byte(sessions: Path, tmp_path: Path) -> None:
    code, out, err = cli("collect", "--from", "sessions", "--out", str(tmp_path / "ds"))
    assert code == 0, err
    assert "collected 2 trajectories" in out
    code, out, err = cli("clean", str(tmp_path / "ds"), "--out", str(tmp_path / "clean"))
    assert code == 0, err
    assert "kept 1 of 2 rows" in out  # the two sessions are near-duplicates of each other
    report = json.loads((tmp_path / "clean" / "report.json").read_text())
    assert report["dedup"]["near_duplicates_removed"] == 1
    rows = open_dataset(tmp_path / "clean").read_all().to_pylist()
    assert [thinking_texts(conversation_of(r)) for r in rows] == [list(THOUGHTS)]
    for fmt in ("anthropic", "openai-chat"):
        out_dir = tmp_path / f"sft-{fmt}"
        code, _, err = cli(
            "export", str(tmp_path / "clean"), "--format", fmt, "--out", str(out_dir), "--validation", "0"
        )
        assert code == 0, err
        (line,) = (out_dir / "train.jsonl").read_text(encoding="utf-8").splitlines()
        record = tmp_path / f"{fmt}.json"
        record.write_text(line, encoding="utf-8")
        done = subprocess.run(
            [INTERLEAF, "convert", "--from", fmt, "--to", "transcript", str(record)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        back = conversation_from_json(json.loads(done.stdout))
        assert thinking_texts(back) == list(THOUGHTS), fmt


def test_stats_and_the_html_report(sessions: Path, tmp_path: Path) -> None:
    cli("collect", "--from", "sessions", "--out", str(tmp_path / "ds"))
    cli("clean", str(tmp_path / "ds"), "--out", str(tmp_path / "clean"))
    code, out, err = cli("stats", str(tmp_path / "clean"), "--json", "--html", str(tmp_path / "report.html"))
    assert code == 0, err
    figures = json.loads(out[: out.rindex("}") + 1])
    assert figures["rows"] == 1 and figures["cleaned"] is True
    assert figures["thinking_blocks"] == 2
    assert figures["clean"]["input_rows"] == 2
    assert figures["clean"]["rejected_by"] == {"near-duplicate thinking": 1}
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    titles = re.findall(r"<h2>(.*?)</h2>", page)
    assert titles == [
        "Trajectory length",
        "Thinking-to-action ratio",
        "Rule hits",
        "Judge scores",
        "Difficulty",
        "Domains",
        "Removed by cleaning",
    ]
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 4
    assert all(base64.b64decode(image).startswith(b"\x89PNG\r\n\x1a\n") for image in images)


def test_a_corrupt_part_is_named_and_the_other_parts_are_still_cleaned(
    sessions: Path, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "clean_cases.jsonl"
    source.write_text(
        "\n".join(json.dumps(json.loads(line)["transcript"]) for line in fixtures.read_text().splitlines())
        + "\n"
    )
    cli("collect", "--from", "jsonl", str(source), "--out", str(tmp_path / "ds"))
    cli("collect", "--from", "sessions", "--out", str(tmp_path / "ds"), "--append")
    parts = open_dataset(tmp_path / "ds").parts
    assert len(parts) == 2
    parts[1].path.write_bytes(b"PAR1 this is not parquet")
    code, out, err = cli("clean", str(tmp_path / "ds"), "--out", str(tmp_path / "clean"))
    assert code == 2
    (error,) = [line for line in err.splitlines() if "error:" in line]
    assert error == (
        f"interleaf data clean: error: {parts[1].path}: not a readable Parquet file "
        + error.split("not a readable Parquet file ")[1]
    )
    assert pq.read_table(tmp_path / "clean" / "part-00000.parquet").num_rows == 4
    assert "kept 4 of 4 rows" in out


def test_bad_input_gets_one_line_errors(tmp_path: Path) -> None:
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": 3}\n', encoding="utf-8")
    code, out, err = cli("collect", "--from", "jsonl", str(lines), "--out", str(tmp_path / "ds"))
    assert code == 2
    assert "collected 1 trajectories" in out
    assert err.splitlines()[0] == (
        f"interleaf data collect: error: {lines}:2: not a valid openai-chat record: messages: expected a list, got int"
    ) or err.splitlines()[0].startswith(
        f"interleaf data collect: error: {lines}:2: not a valid openai-chat record"
    )
    code, _, err = cli("clean", str(tmp_path / "missing"), "--out", str(tmp_path / "x"))
    assert (code, err.strip()) == (
        2,
        f"interleaf data clean: error: {tmp_path / 'missing'}: no such dataset (a directory made by `interleaf data collect`)",
    )
    code, _, err = cli("collect", "--from", "nowhere", "--out", str(tmp_path / "y"))
    assert code == 2 and "--from 'nowhere' is not a source" in err
    code, _, err = cli("export", str(tmp_path / "ds"), "--format", "csv", "--out", str(tmp_path / "z"))
    assert code == 2 and "--format 'csv' is not a format" in err
    rules = tmp_path / "rules.toml"
    rules.write_text("[rules.secretz]\n", encoding="utf-8")
    code, _, err = cli("clean", str(tmp_path / "ds"), "--out", str(tmp_path / "w"), "--rules", str(rules))
    assert code == 2 and err.startswith(
        f"interleaf data clean: error: {rules}: [rules.secretz]: no such rule"
    )


def test_rules_lists_every_rule_with_its_action() -> None:
    code, out, _ = cli("rules")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert names[:3] == ["thinking-unbalanced", "thinking-empty", "thinking-absent"]
    assert "secrets                    scrub" in out
