"""The real Anthropic-API apps through the gateway to OpenAI's own Chat and Responses APIs.

An app that speaks only Anthropic's Messages API (Claude Code), or is set up for it, reaches an OpenAI
model through ``interleaf serve -p openai --model-map '*=gpt-5'``, or ``-p openai-responses`` for the
models served on Responses only. Translated as compatible servers take them, the apps' Chat requests
carry settings OpenAI's API refuses: Claude Code sends ``thinking`` (an unknown field there),
``metadata`` (only allowed with ``store``) and ``max_tokens`` (refused by reasoning models) with every
request. The scripted upstream refuses them as OpenAI does (``StrictOpenAIParams``,
tests/support/strict.py). Each app, told it talks to claude-sonnet-4-6 (apps decide what to send by
the model's name), reads a file with one of its own tools and answers. The control runs Claude Code
through the same gateway with the profile's ``openai_strict`` turned off in a config file, which is
how requests were encoded before: it fails.

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

from tests.compat.apps import APPS
from tests.compat.compaction_task import run_app
from tests.compat.dialects import Dialect, WireApi
from tests.compat.gateway import GatewayProcess
from tests.compat.replies import plain_reply, responses_step
from tests.compat.sandbox import FILE_NAME, Sandbox, Target
from tests.compat.tools import plan_call, tool_specs
from tests.support.payloads import minted_call_id, openai_chunks, openai_completion, tool_call
from tests.support.scripted_server import RecordedRequest, ScriptedServer, Step
from tests.support.strict import StrictOpenAIParams

UPSTREAM_MODEL = "gpt-5"
APP_MODEL = "claude-sonnet-4-6"
FINAL = "The file was read; all is well."
# Every app that can speak Anthropic's API and acts through tools (aider edits through its text).
ANTHROPIC_APPS = [app.name for app in APPS.values() if "anthropic" in app.apis and not app.acts_in_text]


THOUGHT = "The user wants the file read: I will call the read tool first."


class OpenAIModel:
    """The scripted OpenAI model, on Chat Completions or Responses: a short text for a side request
    (no tools: titles, summaries), else a call of the app's own read tool, then the answer once a tool
    result is in the conversation. It returns no reasoning on Chat, as OpenAI's Chat API does not; on
    Responses a reasoning item before the call, with a summary of it only when the request asks for one
    (``reasoning.summary``), as OpenAI does. ``reasoning_back`` counts answers whose request carried that
    reasoning item back (by its id, as OpenAI reads a stored item)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.answered = 0
        self.reasoning_ids: list[str] = []
        self.reasoning_back = 0

    def __call__(self, request: RecordedRequest) -> Step | None:
        body = request.json
        responses = request.path.endswith("/responses")
        if request.method != "POST" or not (responses or request.path.endswith("/chat/completions")):
            return None
        stream = body.get("stream") is True
        plan = plan_call(tool_specs(body), 1, self.workdir, FILE_NAME) if body.get("tools") else None
        api = "openai-responses" if responses else "openai-chat"
        if plan is None:
            return plain_reply(api, "A short note.", model=UPSTREAM_MODEL, stream=stream)
        if _has_tool_result(body):
            self.answered += 1
            sent = {
                i.get("id")
                for i in body.get("input") or []
                if isinstance(i, dict) and i.get("type") == "reasoning"
            }
            self.reasoning_back += bool(sent & set(self.reasoning_ids))
            return plain_reply(api, FINAL, model=UPSTREAM_MODEL, stream=stream)
        call_id = minted_call_id("openai-chat")
        if responses:
            asked = "summary" in (body.get("reasoning") or {})
            reasoning_id = f"rs_{secrets.token_hex(8)}"
            self.reasoning_ids.append(reasoning_id)
            reasoning: dict[str, Any] = {
                "type": "reasoning",
                "id": reasoning_id,
                "summary": [{"type": "summary_text", "text": THOUGHT}] if asked else [],
            }
            item = {
                "type": "function_call",
                "id": f"fc_{secrets.token_hex(8)}",
                "call_id": call_id,
                "name": plan.tool,
                "arguments": json.dumps(plan.arguments, separators=(",", ":")),
                "status": "completed",
            }
            return responses_step(
                [reasoning, item], model=UPSTREAM_MODEL, stream=stream, id=f"resp_{secrets.token_hex(8)}"
            )
        call = tool_call(call_id, plan.tool, plan.arguments)
        completion = openai_completion(tool_calls=[call], finish_reason="tool_calls", model=UPSTREAM_MODEL)
        return Step.sse(openai_chunks(completion)) if stream else Step.json(completion)


def _has_tool_result(body: dict[str, Any]) -> bool:
    """A Chat ``tool`` message or a Responses ``function_call_output`` item."""
    items = body.get("messages") or body.get("input") or []
    return isinstance(items, list) and any(
        isinstance(i, dict) and (i.get("role") == "tool" or i.get("type") == "function_call_output")
        for i in items
    )


async def run_through_openai(
    app_name: str,
    tmp: Path,
    gateway_flags: tuple[str, ...],
    *,
    profile: str = "openai",
    api: WireApi = "anthropic",
) -> dict[str, Any]:
    app = APPS[app_name]
    if not app.installed():
        pytest.fail(f"{app_name} is not installed: run scripts/compat (make compat)")
    box = Sandbox.create(tmp / "box")
    model = OpenAIModel(box.workdir)
    upstream = ScriptedServer(responder=model)
    upstream.validators.append(StrictOpenAIParams())
    upstream_api: WireApi = "openai-responses" if profile == "openai-responses" else "openai-chat"
    flags = ("--model-map", f"*={UPSTREAM_MODEL}", *gateway_flags)
    dialect = Dialect(profile, upstream_api, profile, flags)
    async with upstream:
        gateway = GatewayProcess(dialect, upstream.base_url, tmp / "gateway")
        try:
            url = await gateway.start()
            launch = app.configure(box, Target(url, api, APP_MODEL if api == "anthropic" else UPSTREAM_MODEL))
            code, out, err = await run_app(launch.argv, launch.env, launch.cwd, timeout=app.timeout)
        finally:
            await gateway.stop()
        return {
            "code": code,
            "out": out,
            "err": err,
            "answered": model.answered,
            "reasoning_back": model.reasoning_back,
            "requests": [r.json for r in upstream.requests if r.method == "POST"],
            "rejections": [problem for _, problem in upstream.rejections],
            "log": gateway.log_tail(5000),
        }


@pytest.mark.timeout(300)
def test_without_fitting_openai_refuses_what_claude_code_sends(tmp_path: Path) -> None:
    """The control: requests encoded as for a lenient OpenAI-compatible server are refused, and
    Claude Code cannot do the task."""
    config = tmp_path / "config.toml"
    config.write_text("[profiles.openai]\nopenai_strict = false\n")
    run = asyncio.run(run_through_openai("claude-code", tmp_path, ("--config", str(config))))
    assert run["rejections"], run["log"]
    assert run["answered"] == 0, run["out"][-2000:]


# (profile, the app's API, app): every Anthropic-API app in front of both of OpenAI's APIs (Codex-class
# models are served on Responses only).
ROUTES = [
    (profile, "anthropic", name) for profile in ("openai", "openai-responses") for name in ANTHROPIC_APPS
]


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("profile", "api", "app_name"), ROUTES)
def test_an_app_does_a_tool_task_on_openai_through_the_gateway(
    profile: str, api: WireApi, app_name: str, tmp_path: Path
) -> None:
    run = asyncio.run(run_through_openai(app_name, tmp_path, (), profile=profile, api=api))
    detail = (
        json.dumps({k: run[k] for k in ("code", "answered", "reasoning_back", "rejections")})
        + f"\n--- stderr:\n{run['err'][-2000:]}\n--- stdout:\n{run['out'][-1000:]}\n--- gateway:\n{run['log']}"
    )
    assert not run["rejections"], detail
    assert run["code"] == 0 and run["answered"] >= 1 and FINAL in run["out"], detail
    if profile == "openai-responses":
        # gpt-5's reasoning went back with the tool result, whatever the app kept of its thinking.
        assert run["reasoning_back"] == run["answered"], detail
    task = [body for body in run["requests"] if body.get("tools")]
    assert task and all(body["model"] == UPSTREAM_MODEL for body in task), detail
    if app_name == "claude-code":
        # Claude Code asks claude-sonnet-4-6 for adaptive thinking with output_config.effort "high".
        efforts = [
            body.get("reasoning_effort") or (body.get("reasoning") or {}).get("effort") for body in task
        ]
        assert efforts == ["high"] * len(task), detail
