"""The real Codex (its pinned npm release) compacting its context through the gateway, in front of an
upstream that does not speak the Responses API.

With its built-in OpenAI provider (``openai_base_url`` in its config.toml) or a provider named
``OpenAI``, Codex compacts on the server: a ``compaction_trigger`` request that must come back as exactly one
``compaction`` item, or Codex stops the session. The gateway has the upstream write a summary
(gateway/compaction.py). Codex's context is made small (``model_auto_compact_token_limit``) and the
scripted model reports a quarter of each request's bytes as its input tokens, so the task (read a
16 KB file four times) fills the context every two reads; the model counts the reads its summaries say
were done, and finishes only after four in all.

Like app_matrix.py this is not a ``test_*`` module: ``scripts/compat`` installs the apps, then names it
to pytest.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from interleaf.gateway.compaction import PROMPT, SUMMARY_INTRO
from tests.compat.apps_node import codex_config
from tests.compat.compaction_task import MARK, reads_done, run_app, texts, write_big_file
from tests.compat.dialects import DIALECTS
from tests.compat.gateway import GatewayProcess
from tests.compat.launch import npm_bin
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

READS = 4
FINAL = "All done after four reads."
TASK = "Run `cat big.txt` in the current directory four times, one command at a time, then say so."


def respond(request: RecordedRequest) -> Step:
    """The scripted model: a summary when asked for one whole, else the next read or the answer."""
    anthropic = request.api == "anthropic"
    tokens = max(10, len(request.raw) // 4)
    reads = reads_done(request.json)
    if request.json.get("stream") is not True:  # the gateway asking for the compaction's summary
        summary = f"{MARK} reads={reads}: big.txt was read {reads} times of {READS}."
        if anthropic:
            return Step.json(anthropic_message([text(summary)], stop_reason="end_turn", input_tokens=tokens))
        return Step.json(openai_completion(content=summary, finish_reason="stop", prompt_tokens=tokens))
    call_id, command = minted_call_id(request.api), {"cmd": "cat big.txt"}
    if anthropic:
        content = [thinking(f"Read {reads + 1} of {READS}.", "sig")]
        if reads < READS:
            message = anthropic_message(
                [*content, tool_use(call_id, "exec_command", command)],
                stop_reason="tool_use",
                input_tokens=tokens,
            )
        else:
            message = anthropic_message([*content, text(FINAL)], stop_reason="end_turn", input_tokens=tokens)
        return Step.sse(anthropic_events(message))
    calls = [tool_call(call_id, "exec_command", command)] if reads < READS else []
    completion = openai_completion(
        content=None if calls else FINAL,
        reasoning=f"Read {reads + 1} of {READS}.",
        tool_calls=calls,
        finish_reason="tool_calls" if calls else "stop",
        prompt_tokens=tokens,
    )
    return Step.sse(openai_chunks(completion))


BUILTIN_CONFIG = """
model = "compat-model"
openai_base_url = "{base_url}"
model_reasoning_summary = "auto"
check_for_update_on_startup = false
{knobs}
[analytics]
enabled = false

[otel]
exporter = "none"
"""
"""Codex's own OpenAI provider pointed at the gateway: ``openai_base_url`` (Codex 0.171.0 does not read
``OPENAI_BASE_URL`` for it), with a key stored by ``codex login --with-api-key``."""


async def run_codex(tmp: Path, base_url: str, provider: str) -> tuple[int, str, str]:
    """``codex exec`` on the task through the gateway at ``base_url``, with a provider named ``OpenAI``
    (``provider="named"``) or Codex's built-in one (``"builtin"``): both compact on the server."""
    home, work = tmp / "home", tmp / "work"
    for directory in (home / ".codex", home / ".config", home / ".cache", work, tmp / "tmp"):
        directory.mkdir(parents=True, exist_ok=True)
    knobs = "model_context_window = 100000\nmodel_auto_compact_token_limit = 12000\n"
    if provider == "builtin":
        config = BUILTIN_CONFIG.format(base_url=base_url + "/v1", knobs=knobs)
    else:
        config = codex_config("compat-model", base_url + "/v1", name="OpenAI", knobs=knobs)
    (home / ".codex" / "config.toml").write_text(config)
    write_big_file(work)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "TMPDIR": str(tmp / "tmp"),
        "TERM": "dumb",
        "NO_COLOR": "1",
        "CODEX_HOME": str(home / ".codex"),
        "COMPAT_API_KEY": "sk-compat-test-key",
    }
    binary = npm_bin("codex", "codex")
    if not binary.exists():
        pytest.fail(f"Codex is not installed at {binary}: run scripts/compat (make compat)")
    if provider == "builtin":
        code, out, err = await run_app(
            [str(binary), "login", "--with-api-key"], env, work, b"sk-compat-test-key\n"
        )
        assert code == 0, f"codex login exited {code}: {out}{err}"
    flags = [
        "exec",
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",
        "--color",
        "never",
    ]
    return await run_app([str(binary), *flags, TASK], env, work)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("provider", ["named", "builtin"])
@pytest.mark.parametrize("dialect", ["reasoning_content", "anthropic"])
def test_codex_compacts_on_the_server_through_the_gateway_and_finishes(
    tmp_path: Path, dialect: str, provider: str
) -> None:
    async def scenario() -> tuple[int, str, str, list[RecordedRequest], str]:
        async with ScriptedServer(responder=respond) as upstream:
            gateway = GatewayProcess(DIALECTS[dialect], upstream.base_url, tmp_path / "gateway")
            try:
                url = await gateway.start()
                code, out, err = await run_codex(tmp_path, url, provider)
            finally:
                await gateway.stop()
            return code, out, err, list(upstream.requests), gateway.log_tail(1_000_000)

    code, out, err, requests, log = asyncio.run(scenario())
    assert code == 0 and FINAL in out, f"codex exited {code}:\n{err[-3000:]}\n--- gateway:\n{log[-3000:]}"
    # Each compaction (two reads fill the context, so there are two) went upstream as a request for a
    # summary, and every request after the first carried a summary where the history had been.
    summaries = [r for r in requests if r.json.get("stream") is not True]
    assert summaries, [r.json.get("stream") for r in requests]
    assert all(texts(r.json["messages"][-1]["content"]) == PROMPT for r in summaries)
    after = requests[requests.index(summaries[0]) + 1 :]
    intro = json.dumps(SUMMARY_INTRO)[1:-1]  # as it reads inside the JSON text
    assert after and all(intro in json.dumps(r.json) for r in after)
    assert log.count("compacted a conversation") == len(summaries)
    # Its WebSocket attempt (the built-in provider makes one) got the 426 that sends Codex to HTTP at
    # once: a 404 cost seven attempts and about 6 s.
    assert log.count("answered a WebSocket upgrade") <= 1 and "Unsupported upgrade" not in log
