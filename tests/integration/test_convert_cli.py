"""`interleaf convert` as a user runs it: files and stdin, every format, losses on stderr, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

INTERLEAF = str(Path(sys.executable).with_name("interleaf"))
FIXTURES = Path(__file__).parent.parent / "fixtures"


def convert(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INTERLEAF, "convert", *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 2048,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "messages": [
        {"role": "user", "content": "Weather in Paris and NYC?"},
        json.loads((FIXTURES / "anthropic" / "thinking_tools.json").read_text()) | {"role": "assistant"},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "15°C"},
                {"type": "tool_result", "tool_use_id": "toolu_01B", "content": "5°C", "is_error": False},
            ],
        },
    ],
    "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
}
for key in ("id", "type", "model", "stop_reason", "stop_sequence", "usage"):
    REQUEST["messages"][1].pop(key)


def test_anthropic_to_transcript_and_back_is_identical(tmp_path: Path) -> None:
    source = tmp_path / "request.json"
    source.write_text(json.dumps(REQUEST, ensure_ascii=False))
    to_transcript = convert("--from", "anthropic", "--to", "transcript", str(source))
    assert to_transcript.returncode == 0, to_transcript.stderr
    back = convert("-f", "transcript", "-t", "anthropic", "-", stdin=to_transcript.stdout)
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout) == REQUEST
    assert back.stderr == ""


def test_two_thinking_blocks_survive_reasoning_details_and_back() -> None:
    """Acceptance: an Anthropic response with two thinking blocks, a signature and two tool calls
    -> openai-chat (reasoning_details dialect) -> back keeps every thinking text in order."""
    response = (FIXTURES / "anthropic" / "thinking_tools.json").read_text()
    openai = convert("-f", "anthropic", "-t", "openai-chat", "--dialect", "reasoning_details", stdin=response)
    assert openai.returncode == 0, openai.stderr
    message = json.loads(openai.stdout)["choices"][0]["message"]
    assert [item["type"] for item in message["reasoning_details"]] == ["reasoning.text", "reasoning.text"]
    assert [c["function"]["name"] for c in message["tool_calls"]] == ["get_weather", "get_weather"]
    back = convert("-f", "openai-chat", "-t", "anthropic", stdin=openai.stdout)
    assert back.returncode == 0, back.stderr
    original = json.loads(response)["content"]
    restored = json.loads(back.stdout)["content"]
    texts = [b["thinking"] for b in restored if b["type"] == "thinking"]
    assert texts == [b["thinking"] for b in original if b["type"] == "thinking"]
    assert [b["signature"] for b in restored if b["type"] == "thinking"] == [
        b["signature"] for b in original if b["type"] == "thinking"
    ]
    assert [b["id"] for b in restored if b["type"] == "tool_use"] == ["toolu_01A", "toolu_01B"]


def test_a_signature_into_reasoning_content_is_reported_on_stderr() -> None:
    response = (FIXTURES / "anthropic" / "thinking_tools.json").read_text()
    result = convert("-f", "anthropic", "-t", "openai-chat", "--dialect", "reasoning_content", stdin=response)
    assert result.returncode == 0
    assert "signature" in result.stderr
    assert result.stderr.startswith("interleaf convert: dropped:")
    strict = convert(
        "-f", "anthropic", "-t", "openai-chat", "--dialect", "reasoning_content", "--strict", stdin=response
    )
    assert strict.returncode == 2


def test_to_minimax_m2_writes_the_native_prompt(tmp_path: Path) -> None:
    source = tmp_path / "request.json"
    source.write_text(json.dumps(REQUEST, ensure_ascii=False))
    result = convert("-f", "anthropic", "-t", "minimax-m2", str(source))
    assert result.returncode == 0, result.stderr
    prompt = result.stdout
    assert prompt.startswith("]~!b[]~b]system\nBe brief.")
    assert "<think>\nThe user is asking for the weather" in prompt  # after the last user message: kept
    assert '<minimax:tool_call>\n<invoke name="get_weather">' in prompt
    assert "<response>15°C</response>\n<response>5°C</response>[e~[" in prompt
    assert prompt.rstrip("\n").endswith("]~b]ai\n<think>")
    parsed = convert("-f", "minimax-m2", "-t", "transcript", stdin=prompt)
    assert parsed.returncode == 0, parsed.stderr
    assert [m["role"] for m in json.loads(parsed.stdout)["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
    ]


CODEX_REQUEST = FIXTURES / "responses" / "codex_request.json"


def test_responses_request_to_transcript_and_back_is_identical() -> None:
    to_transcript = convert("--from", "responses", "--to", "transcript", str(CODEX_REQUEST))
    assert to_transcript.returncode == 0, to_transcript.stderr
    back = convert("-f", "transcript", "-t", "responses", "-", stdin=to_transcript.stdout)
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout) == json.loads(CODEX_REQUEST.read_text(encoding="utf-8"))
    assert back.stderr == ""


def test_responses_request_to_anthropic_lists_the_encrypted_reasoning_it_drops() -> None:
    result = convert("-f", "responses", "-t", "anthropic", str(CODEX_REQUEST))
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    thinking = [
        b for m in body["messages"] for b in m["content"] if isinstance(b, dict) and b["type"] == "thinking"
    ]
    assert thinking[0]["thinking"].startswith("**Running the failing test**")
    assert all("signature" not in b for b in thinking)  # an OpenAI blob is not an Anthropic signature
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("interleaf convert: dropped:") for line in lines)
    assert any("encrypted_content" in line for line in lines)
    assert any("custom_tool_call" in line for line in lines)
    strict = convert("-f", "responses", "-t", "anthropic", "--strict", str(CODEX_REQUEST))
    assert strict.returncode == 2


def test_anthropic_reply_to_responses_and_back_keeps_thinking_text_and_calls() -> None:
    response = (FIXTURES / "anthropic" / "thinking_tools.json").read_text(encoding="utf-8")
    out = convert("-f", "anthropic", "-t", "responses", stdin=response)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert [item["type"] for item in body["output"]] == [
        "reasoning",
        "message",
        "function_call",
        "reasoning",
        "function_call",
    ]
    assert all("encrypted_content" not in item for item in body["output"])  # nothing minted
    assert out.stderr.count("signature dropped") == 2
    back = convert("-f", "responses", "-t", "anthropic", stdin=out.stdout)
    assert back.returncode == 0, back.stderr
    original = json.loads(response)["content"]
    restored = json.loads(back.stdout)["content"]
    assert [b["thinking"] for b in restored if b["type"] == "thinking"] == [
        b["thinking"] for b in original if b["type"] == "thinking"
    ]
    assert [b["id"] for b in restored if b["type"] == "tool_use"] == ["toolu_01A", "toolu_01B"]
    assert json.loads(back.stdout)["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("-f", "anthropic", "-t", "openai-chat"), "{", "input is not valid JSON"),
        (("-f", "anthropic", "-t", "openai-chat"), "[1]", "input must be a JSON object"),
        (
            ("-f", "anthropic", "-t", "openai-chat"),
            '{"messages": [{"role": "bot", "content": "x"}]}',
            "messages[0].role",
        ),
        (("-f", "yaml", "-t", "anthropic"), "{}", "--from 'yaml' is not a format"),
        (("-f", "anthropic", "-t", "anthropic", "--dialect", "reasoning"), "{}", "--dialect only applies"),
        (("-f", "anthropic", "-t", "anthropic", "/no/such/file.json"), None, "does not exist"),
        (("-f", "responses", "-t", "anthropic"), '{"temperature": 1}', "not an OpenAI Responses request"),
        (
            ("-f", "responses", "-t", "anthropic"),
            '{"input": [{"role": "bot", "content": "x"}]}',
            "input[0].role",
        ),
        (("-f", "responses", "-t", "anthropic"), '{"status": "failed", "output": []}', "server error"),
    ],
)
def test_bad_input_is_one_line_naming_the_problem_and_exit_2(
    args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    result = convert(*args, stdin=stdin)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("interleaf convert: error:")
    assert message in lines[0]
