"""The LLM judge against scripted model servers over real HTTP: scores stored, bad verdicts retried
once then recorded as unjudged, an unreachable judge never stops the run, verdicts cached and resumed."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from interleaf.cli.data import app
from interleaf.data.clean import clean
from interleaf.data.clean_settings import CleanSettings
from interleaf.data.collect import collect
from interleaf.data.dataset import open_dataset
from interleaf.data.judge.rubric import RESPONSE_SCHEMA, VerdictError, digest, parse_verdict
from interleaf.data.judge.runner import JudgeSettings
from interleaf.transcript import conversation_from_json
from tests.support.payloads import anthropic_message, openai_completion, text
from tests.support.scripted_server import RecordedRequest, ScriptedServer, Step

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"
CASES = [json.loads(line) for line in (FIXTURES / "clean_cases.jsonl").read_text().splitlines()]


def verdict(score: int = 4, difficulty: int = 2, reason: str = "fine") -> str:
    return json.dumps(
        {
            "logic": score,
            "redundancy": score,
            "correctness": score,
            "format": score,
            "difficulty": difficulty,
            "reason": reason,
        }
    )


@pytest.fixture
def dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INTERLEAF_HOME", str(tmp_path / "home"))
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(case["transcript"]) for case in CASES) + "\n", encoding="utf-8")
    collect("jsonl", [source], tmp_path / "ds")
    return tmp_path / "ds"


def _prompt(request: RecordedRequest) -> str:
    return str(request.json["messages"][-1]["content"])


def _settings(server: ScriptedServer, tmp_path: Path, **changes: Any) -> CleanSettings:
    judge = JudgeSettings(
        profile="vllm", base_url=server.base_url, model="judge-model", cache_path=tmp_path / "cache.db"
    )
    return CleanSettings(judge=replace(judge, **changes))


def _rows(path: Path) -> dict[str, dict[str, Any]]:
    return {row["task"]: row for row in open_dataset(path).read_all().to_pylist()}


async def test_scores_and_reasons_are_stored_per_row_and_reported(
    dataset: Path, tmp_path: Path, scripted_server: ScriptedServer
) -> None:
    def answer(request: RecordedRequest) -> Step:
        score = 5 if "data.csv" in _prompt(request) else 3
        return Step.json(openai_completion(content=verdict(score, reason=f"scored {score}")))

    scripted_server.responder = answer
    result = await asyncio.to_thread(clean, dataset, tmp_path / "out", _settings(scripted_server, tmp_path))
    rows = _rows(tmp_path / "out")
    csv = rows["How many data rows does data.csv have, not counting the header?"]
    assert (csv["judge_status"], csv["judge_logic"], csv["judge_score"], csv["judge_reason"]) == (
        "judged",
        5,
        5.0,
        "scored 5",
    )
    assert csv["judge_model"] == "vllm:judge-model"
    assert all(r["judge_status"] == "judged" for r in rows.values())
    assert result.report["judge"]["judged"] == 4
    assert result.report["judge"]["mean_score"] == 3.5
    # The request: the rubric, the digest, greedy decoding and the verdict's JSON schema as a grammar.
    body = scripted_server.requests[0].json
    assert body["model"] == "judge-model"
    assert body["temperature"] == 0.0
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "verdict", "schema": RESPONSE_SCHEMA},
    }
    assert body["messages"][0]["role"] == "system" and "redundancy" in body["messages"][0]["content"]
    assert len(scripted_server.requests) == 4


async def test_a_wrong_verdict_is_retried_once_then_recorded_as_unjudged(
    dataset: Path, tmp_path: Path, scripted_server: ScriptedServer
) -> None:
    def answer(request: RecordedRequest) -> Step:
        prompt = _prompt(request)
        retry = "previous reply was rejected" in prompt
        if "data.csv" in prompt:  # not JSON, then a good verdict
            return Step.json(
                openai_completion(content=verdict(4) if retry else "Sure! The trajectory looks great.")
            )
        if "6 times 7" in prompt:  # out of range both times
            return Step.json(openai_completion(content=verdict(9)))
        return Step.json(openai_completion(content=verdict(4)))

    scripted_server.responder = answer
    result = await asyncio.to_thread(clean, dataset, tmp_path / "out", _settings(scripted_server, tmp_path))
    rows = _rows(tmp_path / "out")
    assert rows["How many data rows does data.csv have, not counting the header?"]["judge_status"] == "judged"
    product = rows["Compute 6 times 7 with Python and tell me the result."]
    assert product["judge_status"] == "unjudged"
    assert product["judge_score"] is None
    assert product["judge_reason"] == "invalid verdict twice: logic is 9, out of the range 1-5"
    assert result.report["judge"]["retried"] == 2
    assert result.report["judge"]["unjudged"] == 1
    assert result.kept == 4  # an unjudged row is kept, and the run finished
    assert len(scripted_server.requests) == 6


def test_an_unreachable_judge_is_one_line_naming_the_endpoint_and_the_rest_is_kept(
    dataset: Path, tmp_path: Path
) -> None:
    settings = CleanSettings(
        judge=JudgeSettings(
            profile="vllm", base_url="http://127.0.0.1:9/v1", model="m", cache_path=tmp_path / "c.db"
        )
    )
    result = clean(dataset, tmp_path / "out", settings)
    assert result.judge_error is not None
    assert result.judge_error.startswith("judge at http://127.0.0.1:9/v1/chat/completions is unreachable:")
    assert "\n" not in result.judge_error
    assert result.kept == 4
    assert {r["judge_status"] for r in _rows(tmp_path / "out").values()} == {"unjudged"}
    # Through the CLI: the same line on stderr, exit code 2, the dataset written.
    done = CliRunner().invoke(
        app,
        [
            "clean",
            str(dataset),
            "--out",
            str(tmp_path / "cli"),
            "--judge-profile",
            "vllm",
            "--judge-base-url",
            "http://127.0.0.1:9/v1",
            "--judge-model",
            "m",
        ],
    )
    assert done.exit_code == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("interleaf data clean: error:")]
    assert len(errors) == 1 and "http://127.0.0.1:9/v1/chat/completions" in errors[0]
    assert len(_rows(tmp_path / "cli")) == 4


async def test_verdicts_are_cached_so_a_rerun_resumes_without_calls(
    dataset: Path, tmp_path: Path, scripted_server: ScriptedServer
) -> None:
    scripted_server.responder = lambda request: Step.json(openai_completion(content=verdict(4)))
    await asyncio.to_thread(clean, dataset, tmp_path / "first", _settings(scripted_server, tmp_path, limit=2))
    assert len(scripted_server.requests) == 2
    second = await asyncio.to_thread(
        clean, dataset, tmp_path / "second", _settings(scripted_server, tmp_path)
    )
    assert len(scripted_server.requests) == 4  # only the two not judged before
    assert second.report["judge"]["from_cache"] == 2
    assert second.report["judge"]["judged"] == 4
    third = await asyncio.to_thread(clean, dataset, tmp_path / "third", _settings(scripted_server, tmp_path))
    assert len(scripted_server.requests) == 4
    assert third.report["judge"]["from_cache"] == 4


async def test_min_judge_drops_low_scores(
    dataset: Path, tmp_path: Path, scripted_server: ScriptedServer
) -> None:
    scripted_server.responder = lambda request: Step.json(
        openai_completion(content=verdict(2 if "6 times 7" in _prompt(request) else 5))
    )
    settings = _settings(scripted_server, tmp_path)
    result = await asyncio.to_thread(
        clean, dataset, tmp_path / "out", CleanSettings(judge=settings.judge, min_judge=3.0)
    )
    assert result.kept == 3
    assert result.report["rejected_by"] == {"judge score 2.0": 1}


async def test_an_anthropic_profile_can_judge_too(
    dataset: Path, tmp_path: Path, scripted_server: ScriptedServer
) -> None:
    scripted_server.responder = lambda request: Step.json(anthropic_message([text(verdict(4))]))
    settings = CleanSettings(
        judge=JudgeSettings(
            profile="anthropic",
            base_url=scripted_server.base_url,
            model="claude-x",
            api_key="k",
            cache_path=tmp_path / "c.db",
            concurrency=2,
        )
    )
    result = await asyncio.to_thread(clean, dataset, tmp_path / "out", settings)
    assert result.report["judge"]["judged"] == 4
    body = scripted_server.requests[0].json
    assert "response_format" not in body and body["system"]


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("nope", "not JSON: 'nope'"),
        ("[1, 2]", "not a JSON object but list"),
        (json.dumps({"logic": 3}), "redundancy is None, not an integer 1-5"),
        (verdict(0), "logic is 0, out of the range 1-5"),
        (verdict(4).replace('"logic": 4', '"logic": 4.5'), "logic is 4.5, not an integer 1-5"),
    ],
)
def test_verdict_checks(reply: str, problem: str) -> None:
    with pytest.raises(VerdictError) as error:
        parse_verdict(reply)
    assert str(error.value) == problem


def test_a_fenced_verdict_is_read() -> None:
    assert parse_verdict(f"```json\n{verdict(3)}\n```").score == 3.0


def test_the_digest_fits_its_budget_and_keeps_the_ends() -> None:
    conversation = conversation_from_json(CASES[2]["transcript"])
    short = digest(conversation, 600)
    assert len(short) <= 600
    assert short.startswith("TASK: The test in test_math.py fails")
    assert "FINAL: add() subtracted its arguments" in short
    full = digest(conversation, 10_000)
    assert full.count("STEP ") == 4 and "RESULT: .\n1 passed" in full
