"""The real Qwen Code (its pinned npm release) compacting its history through the gateway, in front of
an upstream that refuses a tool call sent back without its thinking (tests/support/strict.py).

After compacting, Qwen Code sends its unfinished step back as a new assistant message: "Got it. Thanks
for the additional context!" plus the step's original tool call (same id), without the thinking. A
strict upstream (DeepSeek, Anthropic) answers 400 and Qwen Code stops. The gateway keys a turn with
random tool-call ids on its calls alone (store/fingerprint.py), so it finds the thinking it served and
puts it back. Qwen Code's context is made small (``contextWindowSize``) and the scripted model reports a
quarter of each request's bytes as its input tokens, so the task (read a 16 KB file eight times) fills
the context every two reads; the model counts the reads its summaries say were done.

Like app_matrix.py this is not a ``test_*`` module: ``scripts/compat`` installs the apps, then names it
to pytest.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.compat.apps_node import qwen_code
from tests.compat.compaction_task import MARK, reads_done, run_app, write_big_file
from tests.compat.dialects import DIALECTS, WireApi
from tests.compat.gateway import GatewayProcess
from tests.compat.launch import npm_bin
from tests.compat.sandbox import Sandbox, Target
from tests.support.payloads import (
    anthropic_events,
    anthropic_message,
    minted_call_id,
    openai_chunks,
    openai_completion,
    text,
    thinking,
    tool_call,
    tool_use,
)
from tests.support.scripted_server import RecordedRequest, ScriptedServer, Step
from tests.support.strict import StrictAnthropic, StrictOpenAIReasoning

# Eight, not six: under CPU load Qwen Code sometimes compacts one read late, and six reads then
# compacted only once (2 of 30 runs), which the test requires twice.
READS = 8
FINAL = "All done after eight reads."
TASK = "Run `cat big.txt` in the current directory eight times, one command at a time, then say so."
CONTEXT_WINDOW = 32_000
REBUILT = "Got it. Thanks for the additional context!"


def respond(request: RecordedRequest) -> Step | None:
    """The scripted model: a summary when asked without tools (Qwen Code's compaction), else the next
    read, with thinking, or the answer."""
    body = request.json
    if request.method != "POST" or not isinstance(body, dict):
        return None
    anthropic = request.api == "anthropic"
    stream = body.get("stream") is True
    tokens = max(10, len(request.raw) // 4)
    reads = reads_done(body)

    def reply(blocks: list[Any], content: str | None, calls: list[Any], reasoning: str) -> Step:
        if anthropic:
            message = anthropic_message(
                blocks, stop_reason="tool_use" if calls else "end_turn", input_tokens=tokens
            )
            return Step.sse(anthropic_events(message)) if stream else Step.json(message)
        completion = openai_completion(
            content=content,
            reasoning=reasoning,
            tool_calls=calls,
            finish_reason="tool_calls" if calls else "stop",
            prompt_tokens=tokens,
        )
        return Step.sse(openai_chunks(completion)) if stream else Step.json(completion)

    if not body.get("tools"):
        summary = f"{MARK} reads={reads}: big.txt was read {reads} times of {READS}. Keep reading."
        return reply([thinking("Summarise.", "sig-summary"), text(summary)], summary, [], "Summarise.")
    plan = f"Read {reads + 1} of {READS}."
    if reads >= READS:
        return reply([thinking(plan, "sig-final"), text(FINAL)], FINAL, [], plan)
    call_id = minted_call_id(request.api)
    # Each read described apart: Qwen Code halts a run whose model repeats one call with identical
    # arguments (an always-on loop guard), and under load its compaction came too late to break the
    # run of identical reads.
    args = {
        "command": "cat big.txt",
        "description": f"Read big.txt, pass {reads + 1}",
        "is_background": False,
    }
    signed = thinking(plan, f"sig-{call_id}")
    return reply(
        [signed, tool_use(call_id, "run_shell_command", args)],
        None,
        [tool_call(call_id, "run_shell_command", args)],
        plan,
    )


async def run_qwen(tmp: Path, target: Target) -> tuple[int, str, str]:
    created = Sandbox.create(tmp / "box")
    box = Sandbox(created.root, created.home, created.workdir, created.file_text, TASK)
    write_big_file(box.workdir)
    launch = qwen_code(box, target)
    settings_path = box.home / ".qwen" / "settings.json"
    settings = json.loads(settings_path.read_text())
    for routes in settings["modelProviders"].values():
        for route in routes:
            route["generationConfig"] = {"contextWindowSize": CONTEXT_WINDOW}
    settings_path.write_text(json.dumps(settings, indent=2))
    if not npm_bin("qwen-code", "qwen").exists():
        pytest.fail("Qwen Code is not installed: run scripts/compat (make compat)")
    return await run_app(launch.argv, launch.env, launch.cwd)


def strict_upstream(dialect: str) -> ScriptedServer:
    upstream = ScriptedServer(responder=respond)
    if dialect == "anthropic":
        upstream.validators.append(StrictAnthropic(upstream))
    else:
        upstream.validators.append(StrictOpenAIReasoning(upstream, "reasoning_content"))
    return upstream


def rebuilt_turns(requests: list[RecordedRequest]) -> int:
    """Requests carrying Qwen Code's rebuilt step (its canned text before a tool call)."""
    return sum(1 for r in requests if REBUILT in json.dumps(r.json))


@pytest.mark.timeout(300)
def test_without_the_gateway_a_strict_upstream_refuses_qwen_codes_rebuilt_step(tmp_path: Path) -> None:
    """The control: Qwen Code really drops the thinking of the step it rebuilds, and the strict
    upstream really refuses it, so Qwen Code stops."""

    async def scenario() -> tuple[int, str, list[RecordedRequest], list[Any]]:
        async with strict_upstream("reasoning_content") as upstream:
            code, _, err = await run_qwen(tmp_path, Target(upstream.base_url, "openai-chat"))
            return code, err, list(upstream.requests), list(upstream.rejections)

    code, err, requests, rejections = asyncio.run(scenario())
    assert code != 0, err[-2000:]
    assert rejections and rebuilt_turns(requests) >= 1, (rejections, err[-2000:])


@pytest.mark.timeout(300)
@pytest.mark.parametrize("dialect", ["reasoning_content", "anthropic"])
@pytest.mark.parametrize("api", ["openai-chat", "anthropic"])
def test_qwen_code_compacts_through_the_gateway_and_finishes_against_a_strict_upstream(
    tmp_path: Path, api: WireApi, dialect: str
) -> None:
    async def scenario() -> tuple[int, str, str, list[RecordedRequest], list[Any], str]:
        async with strict_upstream(dialect) as upstream:
            gateway = GatewayProcess(DIALECTS[dialect], upstream.base_url, tmp_path / "gateway")
            try:
                url = await gateway.start()
                code, out, err = await run_qwen(tmp_path, Target(url, api, DIALECTS[dialect].model))
            finally:
                await gateway.stop()
            return (
                code,
                out,
                err,
                list(upstream.requests),
                list(upstream.rejections),
                gateway.log_tail(20_000),
            )

    code, out, err, requests, rejections, log = asyncio.run(scenario())
    detail = f"qwen exited {code}:\n{err[-3000:]}\n--- rejections: {rejections}\n--- gateway:\n{log[-3000:]}"
    assert code == 0 and FINAL in out, detail
    assert not rejections, detail
    summaries = [r for r in requests if not r.json.get("tools")]
    assert len(summaries) >= 2, [len(r.raw) for r in requests]  # it compacted, more than once
    # The rebuilt step went upstream with its thinking put back (the strict upstream checked it).
    assert rebuilt_turns(requests) >= 1
