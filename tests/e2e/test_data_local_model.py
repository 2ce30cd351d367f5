"""`interleaf data` on the embedded local model (Qwen2.5-Coder-1.5B, offline): a session the agent
records with it is collected and cleaned, and the model judges trajectories with real verdicts.

Slow (minutes on two cores) but never skipped, like the agent's own local-model test. The model
writes no thinking of its own (it is not a reasoning model), so its sessions are exactly what the
`thinking-absent` rule is for.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from interleaf.agent.session import AgentSession, RunOptions
from interleaf.data.clean import clean
from interleaf.data.clean_settings import CleanSettings
from interleaf.data.collect import collect
from interleaf.data.dataset import open_dataset, read_part
from interleaf.data.judge.runner import JudgeSettings
from interleaf.data.rules import BUILTIN, load_rules_config

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "data"


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_local_model_sessions_are_collected_and_the_local_model_judges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "INTERLEAF_MODELS", os.environ.get("INTERLEAF_TEST_MODELS") or str(REPO / ".cache" / "models")
    )
    monkeypatch.setenv("INTERLEAF_HOME", str(tmp_path / "home"))
    work = tmp_path / "work"
    work.mkdir()
    options = RunOptions(workdir=work, approve="auto", max_steps=4)
    async with AgentSession(options) as session:
        assert session.profile.name == "local"
        await session.run("create hello.py that prints hello, then run it")

    # The session, recorded by the local model, becomes one row with all its steps.
    summary = collect("sessions", [], tmp_path / "ds")
    assert summary.rows == 1 and not summary.problems
    (row,) = open_dataset(tmp_path / "ds").read_all().to_pylist()
    assert row["profile"] == "local" and row["n_steps"] >= 1

    # Two hand-written trajectories join it; the embedded model judges all three.
    cases = [
        json.loads(line)["transcript"]
        for line in (FIXTURES / "clean_cases.jsonl").read_text().splitlines()[:2]
    ]
    (tmp_path / "cases.jsonl").write_text("\n".join(json.dumps(c) for c in cases) + "\n", encoding="utf-8")
    collect("jsonl", [tmp_path / "cases.jsonl"], tmp_path / "ds", mode="append")
    rules = tmp_path / "rules.toml"
    rules.write_text('[rules.thinking-absent]\naction = "flag"\n', encoding="utf-8")
    settings = CleanSettings(
        rules=load_rules_config(rules, BUILTIN),
        judge=JudgeSettings(max_chars=1200, cache_path=tmp_path / "judge.db"),
    )
    result = await asyncio.to_thread(clean, tmp_path / "ds", tmp_path / "clean", settings)
    judge = result.report["judge"]
    assert judge["error"] is None
    assert judge["judged"] + judge["unjudged"] == result.kept
    assert judge["judged"] >= 2, judge
    judged = [
        r for r in open_dataset(tmp_path / "clean").read_all().to_pylist() if r["judge_status"] == "judged"
    ]
    assert all(1 <= r["judge_logic"] <= 5 and 1.0 <= r["judge_score"] <= 5.0 for r in judged)
    assert all(r["judge_model"] == "local:qwen2.5-coder-1.5b-instruct" for r in judged)
    assert result.report["rules"]["thinking-absent"]["rows"] >= 1
    assert read_part(tmp_path / "clean" / "rejected.parquet").num_rows == result.rejected
