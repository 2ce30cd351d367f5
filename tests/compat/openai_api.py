"""The real Claude Code (its pinned npm release) through the gateway to OpenAI's own Chat API.

Claude Code speaks only Anthropic's Messages API; ``interleaf serve -p openai --model-map '*=gpt-5'``
lets it use an OpenAI model. Every request it sends carries settings OpenAI's API refuses once
translated: ``thinking`` (an unknown field there), ``metadata`` (only allowed with ``store``) and
``max_tokens`` (refused by reasoning models). The scripted upstream refuses them as OpenAI does
(``StrictOpenAIParams``, tests/support/strict.py). The control runs the same gateway with the profile's
``openai_strict`` turned off in a config file, which is how requests were encoded before: Claude Code
fails. Through the gateway as shipped it finishes a tool task, the effort it asks thinking for sent
as ``reasoning_effort``.

Like app_matrix.py this is not a ``test_*`` module: ``scripts/compat`` installs the apps, then names it
to pytest.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.compat.apps_node import claude_code
from tests.compat.compaction_task import run_app
from tests.compat.dialects import Dialect
from tests.compat.gateway import GatewayProcess
from tests.compat.launch import npm_bin
from tests.compat.sandbox import Sandbox, Target
from tests.support.payloads import openai_chunks, openai_completion, tool_call
from tests.support.scripted_server import RecordedRequest, ScriptedServer, Step
from tests.support.strict import StrictOpenAIParams

UPSTREAM_MODEL = "gpt-5"
FINAL = "hello.txt holds the greeting."
TASK = "Run `cat hello.txt` in the current directory, then tell me what it holds."


def respond(request: RecordedRequest) -> Step | None:
    """The scripted OpenAI model: a short text for a side request (no tools: titles, summaries), else
    one Bash call, then the answer once a tool result is in the conversation. It returns no reasoning
    text, as OpenAI's Chat API does not."""
    body = request.json
    if request.method != "POST" or not request.path.endswith("/chat/completions"):
        return None
    stream = body.get("stream") is True
    messages = body.get("messages") or []
    if not body.get("tools"):
        completion = openai_completion(content="A greeting file.")
    elif any(m.get("role") == "tool" for m in messages):
        completion = openai_completion(content=FINAL)
    else:
        call = tool_call(
            f"call_{secrets.token_hex(8)}",
            "Bash",
            {"command": "cat hello.txt", "description": "Read hello.txt"},
        )
        completion = openai_completion(tool_calls=[call], finish_reason="tool_calls")
    return Step.sse(openai_chunks(completion)) if stream else Step.json(completion)


async def run_claude_code(tmp: Path, gateway_flags: tuple[str, ...]) -> dict[str, Any]:
    upstream = ScriptedServer(responder=respond)
    upstream.validators.append(StrictOpenAIParams())
    async with upstream:
        dialect = Dialect(
            "openai", "openai-chat", "openai", ("--model-map", f"*={UPSTREAM_MODEL}", *gateway_flags)
        )
        gateway = GatewayProcess(dialect, upstream.base_url, tmp / "gateway")
        created = Sandbox.create(tmp / "box")
        box = Sandbox(created.root, created.home, created.workdir, created.file_text, TASK)
        (box.workdir / "hello.txt").write_text("hello from the workdir\n")
        try:
            url = await gateway.start()
            launch = claude_code(box, Target(url, "anthropic", "claude-sonnet-4-6"))
            code, out, err = await run_app(launch.argv, launch.env, launch.cwd)
        finally:
            await gateway.stop()
        return {
            "code": code,
            "out": out,
            "err": err,
            "requests": [r.json for r in upstream.requests if r.path.endswith("/chat/completions")],
            "rejections": [problem for _, problem in upstream.rejections],
            "log": gateway.log_tail(5000),
        }


def _installed() -> None:
    if not npm_bin("claude-code", "claude").exists():
        pytest.fail("Claude Code is not installed: run scripts/compat (make compat)")


@pytest.mark.timeout(300)
def test_without_fitting_openai_refuses_every_request_claude_code_sends(tmp_path: Path) -> None:
    """The control: requests encoded as for a lenient OpenAI-compatible server are refused, and
    Claude Code cannot work."""
    _installed()
    config = tmp_path / "config.toml"
    config.write_text("[profiles.openai]\nopenai_strict = false\n")
    run = asyncio.run(run_claude_code(tmp_path, ("--config", str(config))))
    assert run["rejections"], run["log"]
    assert FINAL not in run["out"], run["out"][-2000:]


@pytest.mark.timeout(300)
def test_claude_code_finishes_a_tool_task_on_openai_through_the_gateway(tmp_path: Path) -> None:
    _installed()
    run = asyncio.run(run_claude_code(tmp_path, ()))
    detail = json.dumps({k: run[k] for k in ("code", "rejections")}) + f"\n{run['err'][-2000:]}\n{run['log']}"
    assert run["code"] == 0 and FINAL in run["out"], detail
    assert not run["rejections"], detail
    task = [body for body in run["requests"] if body.get("tools")]
    assert len(task) >= 2, detail  # the call, then the answer after the tool result
    for body in task:
        assert body["model"] == UPSTREAM_MODEL and "max_completion_tokens" in body
        # Claude Code asks claude-sonnet-4-6 for adaptive thinking with output_config.effort "high".
        assert body.get("reasoning_effort") == "high", body.get("reasoning_effort")
