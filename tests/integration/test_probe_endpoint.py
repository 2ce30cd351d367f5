"""``interleaf probe endpoint`` against scripted model servers over real HTTP.

Each scripted upstream plays a model that remembers: it reads what a real template would show the
model — visible text, tool results and the reasoning fields this server honours — finds a probe code
there and repeats it. One reads only ``reasoning`` (vLLM), one only ``reasoning_content``, one drops all
reasoning; the probe must name the field each one keeps. The signed mode runs against a strict
Anthropic upstream that rejects missing or edited signatures.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from interleaf.backends.http import RetryPolicy, Timeouts
from interleaf.backends.profiles import get_profile
from interleaf.cli import app
from interleaf.probe.endpoint import EndpointOptions, probe_endpoint
from interleaf.probe.report import (
    EndpointReport,
    Overall,
    Trial,
    Verdict,
    WayResult,
    conclude_endpoint,
    judge,
)
from interleaf.transcript import ReasoningDialect
from tests.support.payloads import (
    anthropic_events,
    anthropic_message,
    openai_chunks,
    openai_completion,
    text,
    thinking,
    tool_call,
    tool_use,
)
from tests.support.scripted_server import RecordedRequest, ScriptedServer, Step
from tests.support.strict import StrictAnthropic

pytestmark = pytest.mark.timeout(60)

CODE = re.compile(r"[A-Z2-9]{3}-[A-Z2-9]{4}")
QUICK = Timeouts(connect=2.0, first_byte=10.0, idle=10.0, total=30.0)
NO_RETRY = RetryPolicy(max_retries=0)


def options(**changes: Any) -> EndpointOptions:
    return EndpointOptions(**{"trials": 3, "seed": 7, "timeouts": QUICK, "retry": NO_RETRY, **changes})


class RememberingModel:
    """Fills each scripted step with the reply of a model that sees only ``reads`` of the reasoning
    fields (plus visible text and tool results; ``<think>`` in content only when ``"think_tags"`` is
    read) and repeats the probe code it finds. A request ending in a user message gets a tool call.
    ``weak`` models never repeat anything."""

    def __init__(self, server: ScriptedServer, reads: Iterable[str], *, weak: bool = False) -> None:
        self.reads = set(reads)
        self.weak = weak
        server.on_reply.append(self.fill)
        server.enqueue(*(Step() for _ in range(200)))

    def visible(self, body: dict[str, Any]) -> str:
        seen = []
        for message in body.get("messages", []):
            content = message.get("content")
            parts = [content] if isinstance(content, str) else [p.get("text", "") for p in content or []]
            for part in parts:
                if message.get("role") == "assistant" and "think_tags" not in self.reads:
                    part = re.sub(r"<think>.*?</think>", "", part, flags=re.S)
                seen.append(part)
            if message.get("role") == "assistant":
                for field in self.reads & {"reasoning", "reasoning_content"}:
                    seen.append(str(message.get(field) or ""))
                if "reasoning_details" in self.reads:
                    seen.extend(str(d.get("text", "")) for d in message.get("reasoning_details") or [])
        return "\n".join(seen)

    def fill(self, request: RecordedRequest, step: Step) -> None:
        body = request.json
        if body["messages"][-1]["role"] == "user":
            completion = openai_completion(
                reasoning="The user wants a tool call.", tool_calls=[tool_call("call_9", "lookup", {})]
            )
        else:
            found = None if self.weak else CODE.search(self.visible(body))
            answer = found[0] if found else "NONE"
            completion = openai_completion(content=answer, reasoning="Looking for the code I noted.")
        if body.get("stream"):
            step.events = openai_chunks(completion)
        else:
            step.body = completion


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as started:
        yield started


async def probe(server: ScriptedServer, profile: str, **changes: Any) -> EndpointReport:
    return await probe_endpoint(
        get_profile(profile), base_url=server.base_url, model="scripted-model", options=options(**changes)
    )


def verdicts(report: EndpointReport) -> dict[str, Verdict]:
    return {way.way: way.verdict for way in report.ways}


async def test_a_server_reading_only_reasoning_keeps_that_way_and_drops_the_others(
    server: ScriptedServer,
) -> None:
    RememberingModel(server, reads={"reasoning"})

    report = await probe(server, "vllm")

    assert verdicts(report) == {
        "reasoning": Verdict.KEPT,
        "reasoning_content": Verdict.DROPPED,
        "reasoning_details": Verdict.DROPPED,
        "think_tags": Verdict.DROPPED,
    }
    assert report.overall is Overall.KEPT and report.exit_code == 0
    primary = next(w for w in report.ways if w.primary)
    assert primary.way == "reasoning" and primary.hits == 3
    assert report.control is not None and report.control.hits == 0
    assert report.baseline is not None and report.baseline.verdict is Verdict.KEPT
    assert [(c.name, c.status) for c in report.checks] == [("tool calls", "ok"), ("streaming", "ok")]
    assert report.reply_ways == ("reasoning_content",)


async def test_the_vllm_bug_sending_reasoning_content_to_a_server_that_reads_reasoning_is_a_leak(
    server: ScriptedServer,
) -> None:
    RememberingModel(server, reads={"reasoning"})

    report = await probe(server, "vllm", primary=ReasoningDialect.REASONING_CONTENT)

    assert report.overall is Overall.LEAK and report.exit_code == 1
    assert "reasoning_content is dropped" in report.summary and "send it as reasoning" in report.summary


async def test_a_server_reading_only_reasoning_content(server: ScriptedServer) -> None:
    RememberingModel(server, reads={"reasoning_content"})

    kept = await probe(server, "sglang")

    assert verdicts(kept) == {
        "reasoning_content": Verdict.KEPT,
        "reasoning": Verdict.DROPPED,
        "reasoning_details": Verdict.DROPPED,
        "think_tags": Verdict.DROPPED,
    }
    assert kept.exit_code == 0
    leaked = await probe(server, "vllm", ways=(ReasoningDialect.REASONING,))
    assert verdicts(leaked) == {"reasoning": Verdict.DROPPED}
    assert leaked.exit_code == 1


async def test_a_server_that_drops_all_reasoning_leaks_every_way(server: ScriptedServer) -> None:
    RememberingModel(server, reads=())

    report = await probe(server, "sglang")

    assert set(verdicts(report).values()) == {Verdict.DROPPED}
    assert report.overall is Overall.LEAK and report.exit_code == 1
    assert report.baseline is not None and report.baseline.verdict is Verdict.KEPT, "the model itself is fine"


async def test_each_way_carries_the_code_only_in_its_own_field(server: ScriptedServer) -> None:
    RememberingModel(server, reads=())

    await probe(server, "sglang", trials=1, checks=False, controls=False)

    requests = [r.json for r in server.requests if r.method == "POST"]
    assert len(requests) == 4
    for body, field in zip(
        requests, ("reasoning_content", "reasoning", "reasoning_details", "content"), strict=True
    ):
        assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool"]
        assistant = body["messages"][2]
        code = CODE.search(json.dumps(assistant))
        assert code is not None
        elsewhere = json.dumps([m for m in body["messages"] if m is not assistant])
        assert code[0] not in elsewhere, "the code appears only in the earlier thinking"
        holding = [k for k, v in assistant.items() if code[0] in json.dumps(v)]
        assert holding == [field]
        assert assistant["tool_calls"][0]["function"]["name"] == "lookup"


async def test_a_model_too_weak_to_repeat_anything_cannot_be_probed(server: ScriptedServer) -> None:
    RememberingModel(server, reads={"reasoning_content"}, weak=True)

    report = await probe(server, "sglang")

    assert report.overall is Overall.UNPROBED and report.exit_code == 2
    assert set(verdicts(report).values()) == {Verdict.INCONCLUSIVE}
    assert any("too weak" in note for note in report.notes)


async def test_a_server_that_restores_codes_from_elsewhere_voids_the_probe(server: ScriptedServer) -> None:
    model = RememberingModel(server, reads={"reasoning_content"})
    remembered: list[str] = []
    visible = model.visible

    def leaky(body: dict[str, Any]) -> str:  # a cache replaying earlier reasoning by tool-call id
        seen = visible(body)
        remembered.extend(CODE.findall(seen))
        return seen + "\n".join(remembered[-1:])

    model.visible = leaky  # type: ignore[method-assign]

    report = await probe(server, "sglang", ways=(ReasoningDialect.REASONING_CONTENT,))

    assert report.control is not None and report.control.hits == 3
    assert report.overall is Overall.UNPROBED and "control" in report.summary


async def test_an_unreachable_server_cannot_be_probed() -> None:
    report = await probe_endpoint(
        get_profile("vllm"), base_url="http://127.0.0.1:9", model="m", options=options()
    )

    assert report.overall is Overall.UNPROBED and report.exit_code == 2
    assert "could not connect" in report.summary


async def test_a_server_rejecting_one_way_reports_that_way_as_an_error(server: ScriptedServer) -> None:
    RememberingModel(server, reads={"reasoning_content"})
    server.validators.append(
        lambda r: (
            "reasoning_details is not supported"
            if any("reasoning_details" in m for m in r.json.get("messages", []))
            else None
        )
    )

    report = await probe(server, "sglang")

    way = next(w for w in report.ways if w.way == "reasoning_details")
    assert way.verdict is Verdict.ERROR and "reasoning_details is not supported" in way.errors[0]
    assert report.exit_code == 0, "the profile's own way still keeps thinking"


# -------------------------------------------------------------------------------- signed (Anthropic)


def is_tool_result(message: dict[str, Any]) -> bool:
    content = message["content"]
    return isinstance(content, list) and any(b.get("type") == "tool_result" for b in content)


class SignedModel:
    """An Anthropic model: turn 1 invents a code in signed thinking and calls ``lookup``; turn 2
    repeats the code if the replayed thinking holds it (``remembers``)."""

    def __init__(self, server: ScriptedServer, *, remembers: bool = True) -> None:
        self.remembers = remembers
        self.count = 0
        server.on_reply.append(self.fill)  # before StrictAnthropic records what was issued
        server.enqueue(*(Step() for _ in range(50)))

    def fill(self, request: RecordedRequest, step: Step) -> None:
        body = request.json
        last = body["messages"][-1]
        self.count += 1
        if not is_tool_result(last):
            code = f"Q{self.count:03d}ZX7W"
            content = [
                thinking(f"I invent my code. CODE: {code}. Now call lookup.", f"sig-{self.count}"),
                tool_use(f"toolu_{self.count}", "lookup", {}),
            ]
        else:
            replayed = " ".join(
                b.get("thinking", "")
                for m in body["messages"]
                if m["role"] == "assistant"
                for b in m["content"]
            )
            found = re.search(r"CODE: (\w+)", replayed) if self.remembers else None
            content = [
                thinking("The tool answered; recall the code.", f"sig-r{self.count}"),
                text(found[1] if found else "NONE"),
            ]
        message = anthropic_message(content)
        if body.get("stream"):
            step.events = anthropic_events(message)
        else:
            step.body = message


@pytest.mark.parametrize(("remembers", "expected"), [(True, Overall.KEPT), (False, Overall.LEAK)])
async def test_signed_thinking_is_probed_from_a_real_first_turn(
    server: ScriptedServer, remembers: bool, expected: Overall
) -> None:
    SignedModel(server, remembers=remembers)
    strict = StrictAnthropic(server)

    report = await probe_endpoint(
        get_profile("anthropic"),
        base_url=server.base_url,
        api_key="test-key",
        options=options(),
    )

    assert report.mode == "signed" and report.overall is expected
    assert [w.way for w in report.ways] == ["anthropic"]
    assert report.ways[0].hits == (3 if remembers else 0)
    assert report.control is None and report.baseline is None
    assert any("fabricated thinking cannot be probed" in note for note in report.notes)
    assert server.rejections == [], "every replayed thinking block kept its signature"
    assert strict.issued, "the strict upstream saw signed thinking issued"
    second_turns = [r.json for r in server.requests if r.method == "POST" and len(r.json["messages"]) == 3]
    assert len(second_turns) == 3
    for body in second_turns:
        # The profile's model, Claude Sonnet 4.6, takes adaptive thinking (its budget form is
        # deprecated); at a high effort it thinks on every request, as a probe needs.
        assert body["thinking"] == {"type": "adaptive"}
        assert body["output_config"] == {"effort": "high"}
        replayed = body["messages"][1]["content"]
        assert replayed[0]["type"] == "thinking" and replayed[0]["signature"].startswith("sig-")


async def test_fabricated_thinking_blocks_on_an_anthropic_api_that_does_not_verify(
    server: ScriptedServer,
) -> None:
    """MiniMax's /anthropic takes unsigned thinking blocks: the probe fabricates them there."""

    def fill(request: RecordedRequest, step: Step) -> None:
        messages = request.json["messages"]
        if not is_tool_result(messages[-1]):
            message = anthropic_message([tool_use("toolu_1", "lookup", {})])
        else:
            seen = json.dumps(messages)
            found = CODE.search(seen)
            message = anthropic_message([text(found[0] if found else "NONE")])
        if request.json.get("stream"):
            step.events = anthropic_events(message)
        else:
            step.body = message

    server.on_reply.append(fill)
    server.enqueue(*(Step() for _ in range(50)))

    report = await probe_endpoint(
        get_profile("minimax"), base_url=server.base_url, api_key="k", options=options()
    )

    assert report.mode == "fabricated"
    assert verdicts(report) == {"anthropic": Verdict.KEPT}
    assert report.exit_code == 0
    first = next(r.json for r in server.requests if r.method == "POST" and len(r.json["messages"]) == 3)
    block = first["messages"][1]["content"][0]
    assert block["type"] == "thinking" and "signature" not in block


# ----------------------------------------------------------------------------------------- CLI


async def invoke(*args: str) -> Result:
    # The command runs its own event loop: give it a thread, and keep this loop serving the upstream.
    return await asyncio.to_thread(lambda: CliRunner().invoke(app, ["probe", "endpoint", *args]))


async def test_cli_json_report_and_exit_code(server: ScriptedServer) -> None:
    RememberingModel(server, reads={"reasoning"})

    result = await invoke(
        "-p",
        "vllm",
        "--base-url",
        server.base_url,
        "-m",
        "m",
        "-n",
        "2",
        "--json",
        "--dialect",
        "reasoning_content",
    )

    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["overall"] == "leak" and report["primary_way"] == "reasoning_content"
    assert {w["way"]: w["verdict"] for w in report["ways"]}["reasoning"] == "kept"
    assert "reasoning trial 2/2: hit" in result.stderr, "progress goes to stderr"


async def test_cli_table(server: ScriptedServer) -> None:
    RememberingModel(server, reads={"reasoning_content"})

    result = await invoke(
        "-p", "sglang", "--base-url", server.base_url, "-m", "m", "-n", "1", "--no-controls"
    )

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    row = next(line for line in lines if line.startswith("reasoning_content"))
    assert "1/1" in row and "kept" in row
    assert any(line.startswith("reasoning ") and "dropped" in line for line in lines)
    assert "KEPT (exit 0)" in result.stdout


async def test_cli_rejects_an_unknown_way() -> None:
    result = await invoke("-p", "vllm", "--way", "telepathy")

    assert result.exit_code == 2
    assert "'telepathy' is not a way" in result.stderr


async def test_cli_rejects_a_way_the_api_cannot_carry() -> None:
    result = await invoke("-p", "vllm", "--way", "anthropic")

    assert result.exit_code == 2
    assert "cannot carry thinking as anthropic" in result.stderr


# -------------------------------------------------------------------------------- verdict rules


def trials(hits: int, misses: int = 0, errors: int = 0) -> tuple[Trial, ...]:
    return (
        *(Trial(code="AAA-AAAA", found_in="text") for _ in range(hits)),
        *(Trial(code="AAA-AAAA") for _ in range(misses)),
        *(Trial(code="AAA-AAAA", error="HTTP 400") for _ in range(errors)),
    )


@pytest.mark.parametrize(
    ("hits", "misses", "errors", "verdict"),
    [
        (3, 0, 0, Verdict.KEPT),
        (2, 1, 0, Verdict.KEPT),
        (1, 2, 0, Verdict.INCONCLUSIVE),
        (0, 3, 0, Verdict.DROPPED),
        (2, 0, 1, Verdict.KEPT),
        (0, 0, 3, Verdict.ERROR),
        (3, 2, 0, Verdict.INCONCLUSIVE),
        (4, 1, 0, Verdict.KEPT),
    ],
)
def test_judge(hits: int, misses: int, errors: int, verdict: Verdict) -> None:
    assert judge(trials(hits, misses, errors)) is verdict


def way(name: str, hits: int, misses: int, *, primary: bool = False) -> WayResult:
    found = trials(hits, misses)
    return WayResult(way=name, trials=found, verdict=judge(found), primary=primary)


def test_without_a_primary_way_the_best_way_decides() -> None:
    _, overall, summary, _ = conclude_endpoint(
        [way("reasoning", 0, 3), way("think_tags", 3, 0)], control=None, baseline=None
    )
    assert overall is Overall.KEPT and summary == "thinking survives when sent as <think> in content"

    _, overall, summary, _ = conclude_endpoint([way("reasoning", 0, 3)], control=None, baseline=None)
    assert overall is Overall.LEAK and "whichever way" in summary


def test_an_inconclusive_primary_way_cannot_be_judged() -> None:
    _, overall, summary, notes = conclude_endpoint(
        [way("reasoning", 1, 2, primary=True)], control=None, baseline=way("baseline", 3, 0)
    )

    assert overall is Overall.UNPROBED and "could not tell whether reasoning keeps thinking" in summary
    assert any("even the best way" in note for note in notes)


async def test_a_profile_that_sends_no_thinking_back_is_judged_by_its_best_way(
    server: ScriptedServer,
) -> None:
    RememberingModel(server, reads={"reasoning"})

    report = await probe_endpoint(
        get_profile("openai"), base_url=server.base_url, api_key="k", options=options(trials=1)
    )

    assert report.primary_way is None and report.overall is Overall.KEPT
    assert any("sends no thinking back" in note for note in report.notes)
