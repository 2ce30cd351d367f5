"""``interleaf probe`` against the embedded model for real: Qwen2.5-Coder-1.5B in llama.cpp.

The model does not reason on its own; with llama.cpp's ``deepseek`` reasoning format and a template
that opens ``<think>`` in the generation prompt it returns real ``reasoning_content``
(docs/architecture.md §4.5). Two such templates differ only in what they do with earlier
reasoning: one renders it for every assistant turn, one drops it. The endpoint probe must tell them
apart through the model's replies alone; ``/apply-template`` is checked as supporting evidence that the
difference is really the template's.

Models are cached like tests/integration/test_local_model.py does: ``$INTERLEAF_TEST_MODELS``, else
``<repo>/.cache/models``, so the 1.1 GB model is pulled at most once per machine.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from interleaf.backends.client import ModelClient
from interleaf.backends.local import LocalServer, ServerOptions
from interleaf.backends.model_files import DEFAULT_MODEL, ModelStore
from interleaf.probe import histories
from interleaf.probe.endpoint import EndpointOptions, probe_endpoint
from interleaf.probe.report import EndpointReport, Overall, Verdict
from interleaf.probe.template import RULE_NONE, RULE_VERBATIM, ChatTemplate, probe_template
from interleaf.transcript import ReasoningDialect

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # room for a first pull of the model

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "tests" / "fixtures" / "templates"
# Temperature 0 and a short reply: the model either repeats the code at once or not at all. Measured
# at temperature 0: 9/9 hits through the keeping template, 0/8 through the dropping one, baseline
# 12/12, control 0/12 — so two trials a way suffice; a request takes ~5-12 s on 2 CPU threads.
OPTIONS = EndpointOptions(
    trials=2,
    ways=(ReasoningDialect.REASONING_CONTENT,),
    temperature=0.0,
    max_tokens=48,
    checks=False,
    seed=11,
)


@pytest.fixture(scope="module")
def model_path() -> Path:
    store = ModelStore(os.environ.get("INTERLEAF_TEST_MODELS") or REPO / ".cache" / "models")
    return store.pull(DEFAULT_MODEL)


async def serve(model_path: Path, template: str) -> AsyncIterator[LocalServer]:
    source = (TEMPLATES / template).read_text(encoding="utf-8")
    options = ServerOptions(reasoning_format="deepseek", chat_template=source, n_ctx=4096)
    async with LocalServer(model_path, model_id="qwen2.5-coder-1.5b-instruct", options=options) as server:
        yield server


@pytest.fixture
async def keeping(model_path: Path) -> AsyncIterator[LocalServer]:
    async for server in serve(model_path, "chatml_keep_reasoning.jinja"):
        yield server


@pytest.fixture
async def dropping(model_path: Path) -> AsyncIterator[LocalServer]:
    async for server in serve(model_path, "chatml_drop_reasoning.jinja"):
        yield server


async def rendered_prompt(server: LocalServer, code: str) -> str:
    """The prompt llama.cpp builds for a way trial: what the template does with the thinking."""
    async with ModelClient(server.profile()) as client:
        body = await client.build_request(histories.way_trial(code, {}), stream=False)
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
        session.post(
            f"{server.address}/apply-template", json={"messages": body["messages"], "tools": body["tools"]}
        ) as response,
    ):
        assert response.status == 200, await response.text()
        prompt: str = (await response.json())["prompt"]
        return prompt


def describe(report: EndpointReport) -> str:
    rows = [*report.ways, report.baseline, report.control]
    return "; ".join(f"{w.way} {w.hits}/{len(w.trials)} {[t.reply for t in w.trials]}" for w in rows if w)


async def test_the_probe_sees_a_template_keep_earlier_thinking(keeping: LocalServer) -> None:
    assert "K7Q-3X9P" in await rendered_prompt(keeping, "K7Q-3X9P")

    report = await probe_endpoint(keeping.profile(), options=OPTIONS)

    assert report.overall is Overall.KEPT, describe(report)
    way = report.ways[0]
    assert way.way == "reasoning_content" and way.primary and way.verdict is Verdict.KEPT
    assert report.control is not None and report.control.hits == 0
    assert report.reply_ways == ("reasoning_content",), "the model really returned reasoning_content"


async def test_the_probe_sees_a_template_drop_earlier_thinking(dropping: LocalServer) -> None:
    assert "K7Q-3X9P" not in await rendered_prompt(dropping, "K7Q-3X9P")

    report = await probe_endpoint(dropping.profile(), options=OPTIONS)

    assert report.overall is Overall.LEAK, describe(report)
    assert report.ways[0].verdict is Verdict.DROPPED and report.ways[0].hits == 0
    assert report.baseline is not None and report.baseline.verdict is Verdict.KEPT, (
        "the same model repeats a code it can see: the miss is the template's, not the model's"
    )
    assert report.exit_code == 1


async def test_the_template_probe_reads_the_models_own_template(model_path: Path) -> None:
    """Qwen2.5's own GGUF template knows nothing of reasoning: reasoning_content never renders, while a
    <think> block in content passes through as plain text in every turn (verbatim, not parsed)."""
    async with (
        LocalServer(model_path, options=ServerOptions(warmup=False)) as server,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
        session.get(f"{server.address}/props") as response,
    ):
        source = (await response.json())["chat_template"]

    report = probe_template(ChatTemplate(source=source, origin="qwen2.5-coder-1.5b GGUF"))

    assert {f.field: f.rule for f in report.fields} == {
        "reasoning_content": RULE_NONE,
        "reasoning": RULE_NONE,
        "thinking": RULE_NONE,
        "<think> in content": RULE_VERBATIM,
    }
    assert report.exit_code == 1
    assert [c.status for c in report.checks] == ["ok", "ok"]
