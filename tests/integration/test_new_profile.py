"""A new backend profile is added in one place, and the agent, the gateway and the probe all use it.

The place is a plugin package (docs/plugins.md), installed for real into a fresh venv: it declares a
profile for Quokka, a fictional OpenAI-compatible server with quirks of its own:

* it wants an ``X-Quokka-Client`` header and ``"keep_reasoning": true`` in every body;
* it takes earlier thinking back only in ``reasoning`` (and, strict like DeepSeek, rejects a tool-call
  turn without it);
* it reports errors inside an HTTP 200: ``{"ok": false, "code": "busy", "message": ...}``, which the
  profile's ``reply_error`` teaches interleaf to read as the 429 it stands for.

Nothing else in interleaf changes. Then, in that venv, ``interleaf run -p quokka`` completes a tool
task (thinking back in ``reasoning``) and fails clearly on a busy server; ``interleaf serve -p quokka``
restores the thinking an OpenAI SDK client drops and answers the busy error as a 429 the SDK raises;
``interleaf probe endpoint -p quokka`` finds that ``reasoning`` is the way this server keeps thinking.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from tests.support.payloads import openai_chunks, openai_completion, tool_call
from tests.support.plugin_venv import INTERLEAF, Plugin, PluginVenv, make_plugin_venv
from tests.support.scripted_server import RecordedRequest, ScriptedServer, Step
from tests.support.strict import StrictOpenAIReasoning

pytestmark = pytest.mark.timeout(180)

QUOKKA = '''
"""interleaf support for the Quokka inference server: one profile, nothing else."""

from typing import Any

from interleaf.backends.profiles import Profile, ReplyError
from interleaf.transcript import ReasoningDialect


def quokka_error(data: Any) -> ReplyError | None:
    """Quokka answers HTTP 200 with {"ok": false, "code", "message"} when it fails."""
    if not isinstance(data, dict) or data.get("ok") is not False:
        return None
    code = str(data.get("code", "error"))
    return ReplyError(429 if code == "busy" else 400, f"quokka_{code}", str(data.get("message", "")))


def profiles() -> list[Profile]:
    return [
        Profile(
            name="quokka",
            description="Quokka inference server (OpenAI-compatible).",
            api="openai-chat",
            base_url="http://127.0.0.1:9/v1",
            auth="bearer",
            key_env="QUOKKA_API_KEY",
            key_required=False,
            headers={"X-Quokka-Client": "interleaf"},
            thinking_dialect=ReasoningDialect.REASONING,
            extra_body={"keep_reasoning": True},
            model="quokka-1",
            reply_error=quokka_error,
        )
    ]
'''
ENTRY_POINTS = """
[project.entry-points."interleaf.profiles"]
quokka = "interleaf_quokka:profiles"
"""

CODE = re.compile(r"[A-Z2-9]{3}-[A-Z2-9]{4}")
THOUGHT = "The notes are in notes.txt; read them before answering."
BUSY = {"ok": False, "code": "busy", "message": "all quokkas are busy, try again in a minute"}


@pytest.fixture(scope="module")
def quokka_venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    return make_plugin_venv(
        tmp_path_factory.mktemp("quokka"), [Plugin("interleaf-quokka", QUOKKA, ENTRY_POINTS)]
    )


def quokka_quirks(request: RecordedRequest) -> str | None:
    """The server's own demands, checked on every request."""
    if request.headers.get("x-quokka-client") != "interleaf":
        return "Quokka: unknown client (send X-Quokka-Client)"
    if request.json.get("keep_reasoning") is not True:
        return "Quokka: keep_reasoning must be true"
    return None


class QuokkaModel:
    """A Quokka model: a request ending in a user message gets a tool call (``read_file`` when offered)
    with its thinking in ``reasoning``; any other gets the probe code it can see, reading visible text
    and ``reasoning`` only, or ``NONE``. ``busy`` makes it answer the error inside an HTTP 200."""

    def __init__(self) -> None:
        self.busy = False

    def __call__(self, request: RecordedRequest) -> Step | None:
        if request.method != "POST":
            return None
        if self.busy:
            return Step.json(BUSY)
        body = request.json
        messages = body["messages"]
        if messages[-1]["role"] == "user":
            offered = [t["function"]["name"] for t in body.get("tools") or []]
            name = "read_file" if "read_file" in offered else (offered[0] if offered else "lookup")
            completion = openai_completion(
                reasoning=THOUGHT,
                reasoning_field="reasoning",
                tool_calls=[tool_call("call_q1", name, {"path": "notes.txt"})],
                model="quokka-1",
            )
        else:
            seen = "\n".join(
                f"{m.get('content') or ''}\n{m.get('reasoning') or ''}"
                for m in messages
                if isinstance(m, dict)
            )
            found = CODE.search(seen)
            completion = openai_completion(
                content=found[0] if found else "NONE",
                reasoning="Done.",
                reasoning_field="reasoning",
                model="quokka-1",
            )
        return Step.sse(openai_chunks(completion)) if body.get("stream") else Step.json(completion)


@pytest.fixture
async def quokka() -> AsyncIterator[tuple[ScriptedServer, QuokkaModel]]:
    model = QuokkaModel()
    async with ScriptedServer(validators=[quokka_quirks], responder=model, models=["quokka-1"]) as server:
        yield server, model


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_the_agent_uses_the_new_profile(
    quokka_venv: PluginVenv, quokka: tuple[ScriptedServer, QuokkaModel], tmp_path: Path
) -> None:
    server, model = quokka
    server.validators.append(StrictOpenAIReasoning(server, "reasoning"))
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("quokkas are friendly\n")
    argv = ["-c", INTERLEAF, "run", "--json", "-p", "quokka", "--base-url", f"{server.base_url}/v1"]
    argv += ["--workdir", str(work), "--approve", "auto", "--sandbox", "readonly", "--no-browser"]
    code, out, err = await quokka_venv.arun(*argv, "What do the notes say?")
    assert code == 0, err
    assert server.rejections == []  # every quirk honoured, thinking back in `reasoning` on turn 2
    posts = [r.json for r in server.requests if r.method == "POST"]
    assert len(posts) == 2 and posts[0]["model"] == "quokka-1"
    assert posts[1]["messages"][2]["reasoning"] == THOUGHT
    assert json.loads(out.splitlines()[-1])["status"] == "done"

    model.busy = True
    code, out, err = await quokka_venv.arun(*argv, "Again, please.")
    assert code != 0
    assert "all quokkas are busy" in out + err and "Traceback" not in err


async def test_the_gateway_uses_the_new_profile(
    quokka_venv: PluginVenv, quokka: tuple[ScriptedServer, QuokkaModel], tmp_path: Path
) -> None:
    server, model = quokka
    server.validators.append(StrictOpenAIReasoning(server, "reasoning"))
    port = _free_port()
    gateway = await quokka_venv.start(
        "-c", INTERLEAF, "serve", "-p", "quokka", "--base-url", f"{server.base_url}/v1",
        "--port", str(port), "--store", f"sqlite:///{tmp_path}/thinking.db",
    )  # fmt: skip
    try:
        await _until_healthy(f"http://127.0.0.1:{port}/healthz", gateway)
        async with openai.AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0
        ) as client:
            tools: Any = [
                {"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}}
            ]
            messages: Any = [{"role": "user", "content": "What do the notes say?"}]
            first = await client.chat.completions.create(model="quokka-1", messages=messages, tools=tools)
            call = first.choices[0].message.tool_calls
            assert call is not None
            # The app keeps the call, drops the thinking (as most apps do).
            messages += [
                {"role": "assistant", "content": None, "tool_calls": [c.model_dump() for c in call]},
                {"role": "tool", "tool_call_id": call[0].id, "content": "quokkas are friendly"},
            ]
            await client.chat.completions.create(model="quokka-1", messages=messages, tools=tools)
            model.busy = True
            with pytest.raises(openai.RateLimitError) as busy:
                await client.chat.completions.create(model="quokka-1", messages=messages[:1])
    finally:
        gateway.terminate()
        await gateway.wait()
    assert server.rejections == []
    posts = [r for r in server.requests if r.method == "POST"]
    assert posts[1].json["messages"][1]["reasoning"] == THOUGHT  # restored, where Quokka reads it
    assert "all quokkas are busy" in str(busy.value)


async def test_the_probe_uses_the_new_profile(
    quokka_venv: PluginVenv, quokka: tuple[ScriptedServer, QuokkaModel]
) -> None:
    server, _ = quokka
    argv = ["-c", INTERLEAF, "probe", "endpoint", "-p", "quokka", "--base-url", f"{server.base_url}/v1"]
    code, out, err = await quokka_venv.arun(*argv, "-n", "2", "--seed", "3", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["primary_way"] == "reasoning" and report["overall"] == "kept"
    verdicts = {way["way"]: way["verdict"] for way in report["ways"]}
    assert verdicts["reasoning"] == "kept" and verdicts["reasoning_content"] != "kept"
    assert server.rejections == []


async def _until_healthy(url: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if process.returncode is not None:
                assert process.stderr is not None
                pytest.fail(f"the gateway exited: {(await process.stderr.read()).decode()[-2000:]}")
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    pytest.fail(f"the gateway did not answer {url} within 30 s")
