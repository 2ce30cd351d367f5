"""Regression tests from the real apps' own request shapes, replayed through the gateway (issue 10).

The compatibility suite (tests/compat/) recorded every request each app sent: method, path, query
string, headers and body, with the app's texts replaced and keys redacted (tests/fixtures/apps/). Here
every recorded request of every file goes, in exactly that shape, through a real gateway in front of a
scripted upstream, on the route where both sides speak the same API and on routes that translate:

* Anthropic clients -> Anthropic, and -> DeepSeek (OpenAI Chat, ``reasoning_content``);
* OpenAI Chat clients -> the upstream of the file's own dialect, and -> Anthropic;
* Responses clients -> a Responses upstream, and -> Anthropic, and -> DeepSeek.

Every gateway runs with ``--on-missing error``. Each request must get a 2xx and a complete reply (never
the gateway's own 4xx/5xx); the upstream must receive one well-formed request in its own API
(tests/support/wire_shape.py), and on a same-API route the conversation exactly as the app sent it;
every reply must be keyed and stored (no ``interleaf_capture_errors_total``). The scripted model
answers with thinking and text, no tool calls: such a reply is keyed on the conversation before it,
so the gateway must read the app's request to store it. The assistant turns in the replay are the
recorded ones, which this gateway never served: forwarded and counted foreign, never refused as missing
(aider's example turns among them).

What these pin: Claude Code's requests (``?beta=true``, betas, adaptive thinking, ``context_management``,
``output_config``, system-role messages in ``messages``) answered 400 when decoded and their final
replies never stored; Responses requests answered 404; inline ``<think>`` kept by an app changed on a
``think_tags`` upstream; apps' own assistant turns refused by ``--on-missing error``; unsigned thinking
replayed as text; another model's thinking (``reasoning_content``, a reasoning item) sent to Anthropic
as a ``thinking`` block without the signature the Messages API requires.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from interleaf.backends.profiles import get_profile
from interleaf.transcript import ReasoningDialect
from tests.compat.dialects import DIALECTS, Dialect
from tests.compat.replies import Turn, reply
from tests.support.gateway_server import GatewayServer, gateway_options
from tests.support.recorded_apps import (
    APPS,
    Recording,
    bare_turns,
    earlier_turns,
    load,
    recordings,
    replayed_headers,
)
from tests.support.scripted_server import RecordedRequest, Responder, ScriptedServer, Step
from tests.support.wire_shape import request_problems

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

KEY = "key-app-shapes"
# The upstreams, by the compatibility suite's dialect names (tests/compat/dialects.py), and their labels.
LABELS = {
    "anthropic": "anthropic",
    "reasoning_content": "deepseek",
    "reasoning": "vllm",
    "reasoning_details": "minimax-openai",
    "think_tags": "vllm-think-tags",
    "responses": "openai-responses",
}
SAME = {"anthropic": "anthropic", "openai-responses": "responses"}  # Chat: the file's own dialect
CROSS = {
    "anthropic": ("reasoning_content",),
    "openai-chat": ("anthropic",),
    "openai-responses": ("anthropic", "reasoning_content"),
}
TERMINAL = {
    "anthropic": "event: message_stop",
    "openai-chat": "data: [DONE]",
    "openai-responses": "event: response.completed",
}
REPLY_FIELD = {"anthropic": "content", "openai-chat": "choices", "openai-responses": "output"}
# An error inside a 200 stream: a named error event, or a Chat chunk that is an error object.
ERROR_EVENT = re.compile(r'event: error$|data: \{"error"')
STORED = "interleaf_turns_stored_total"
FOREIGN = "interleaf_turns_foreign_total"
CAPTURE_ERRORS = "interleaf_capture_errors_total"
MOVABLE = ("reasoning_content", "reasoning")


def cases() -> list[Any]:
    """Every recording on every route of its API."""
    out = []
    for recording in recordings():
        for upstream in (SAME.get(recording.api, recording.dialect), *CROSS[recording.api]):
            out.append(pytest.param(recording, upstream, id=f"{recording.name}@{LABELS[upstream]}"))
    return out


# ------------------------------------------------------------------------------------ the world


@dataclass
class Route:
    """A gateway (``--on-missing error``) in front of a scripted upstream speaking ``dialect``."""

    dialect: Dialect
    upstream: ScriptedServer
    gateway: GatewayServer

    @property
    def label(self) -> str:
        return LABELS[self.dialect.name]


def answering(dialect: Dialect) -> Responder:
    """A scripted model answering every generation request in its own API with thinking and a short
    text (streamed when asked); a request to another API's path gets no answer (a 500)."""
    numbers = itertools.count(1)

    def answer(request: RecordedRequest) -> Step | None:
        if request.method != "POST" or request.api != dialect.api or not isinstance(request.body, dict):
            return None
        n = next(numbers)
        turn = Turn(
            number=n,
            thinking=f"Replay thinking {n}: the shape went through.",
            token=f"EqShapeReplay{n:04d}sig==",
            reasoning_id=f"rs_shape{n:04d}",
            call=None,
            text=f"Replay answer {n}.",
        )
        model = request.body.get("model")
        stream = request.body.get("stream") is True
        return reply(dialect, turn, model=model if isinstance(model, str) else "m", stream=stream)

    return answer


def gateway_for(dialect: Dialect, upstream: ScriptedServer, store_url: str) -> GatewayServer:
    assert dialect.profile is not None, f"dialect {dialect.name} has no gateway profile"
    options = gateway_options(dialect.profile, upstream.base_url, store_url, on_missing="error")
    if dialect.name == "think_tags":  # interleaf serve --thinking-dialect think_tags
        profile = get_profile(dialect.profile, base_url=upstream.base_url).with_overrides(
            thinking_dialect=ReasoningDialect.THINK_TAGS
        )
        options = replace(options, profile=profile)
    return GatewayServer(options)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Route]]:
    """One gateway and upstream per upstream dialect, shared by every recording: each recording is
    its own conversation, and each test counts only its own requests."""
    root = tmp_path_factory.mktemp("app-shapes")
    routes: dict[str, Route] = {}
    async with contextlib.AsyncExitStack() as stack:
        stack.enter_context(pytest.MonkeyPatch.context()).setenv("INTERLEAF_HOME", str(root / "home"))
        for name in LABELS:
            dialect = DIALECTS[name]
            upstream = await stack.enter_async_context(ScriptedServer(responder=answering(dialect)))
            gateway = gateway_for(dialect, upstream, f"sqlite:///{root}/{name}.db")
            routes[name] = Route(dialect, upstream, await stack.enter_async_context(gateway))
        yield routes


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


# -------------------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    text: str


async def send(session: aiohttp.ClientSession, route: Route, request: Mapping[str, Any], body: Any) -> Answer:
    """One recorded request (method, path, query string, headers) with ``body``, to the route's gateway."""
    async with session.request(
        request["method"],
        route.gateway.base_url + request["path"],
        params=request["query"] or None,
        headers=replayed_headers(request["headers"], KEY),
        data=json.dumps(body).encode(),
    ) as response:
        return Answer(response.status, response.headers, await response.text())


def answer_problems(api: str, stream: bool, answer: Answer) -> list[str]:
    """What is wrong with a gateway answer in the client's API (empty: a complete reply, nothing
    missing)."""
    if not 200 <= answer.status < 300:
        return [f"HTTP {answer.status}: {answer.text[:600]}"]
    if answer.headers.get("x-interleaf-missing") != "0":
        return [f"x-interleaf-missing is {answer.headers.get('x-interleaf-missing')!r}, expected '0'"]
    if stream:
        problems = [] if TERMINAL[api] in answer.text else [f"the stream has no {TERMINAL[api]!r}"]
        errors = [line for line in answer.text.splitlines() if ERROR_EVENT.match(line)]
        return problems + [f"the stream carries an error: {line[:600]}" for line in errors[:1]]
    reply_body = json.loads(answer.text)
    field = REPLY_FIELD[api]
    return [] if reply_body.get(field) else [f"the reply has no {field!r}: {answer.text[:600]}"]


async def metrics(session: aiohttp.ClientSession, route: Route) -> dict[str, float]:
    """The gateway's /metrics samples, by series (``name{labels}``)."""
    async with session.get(route.gateway.base_url + "/metrics") as response:
        assert response.status == 200, await response.text()
        exposition = await response.text()
    samples: dict[str, float] = {}
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            samples[series] = float(value)
    return samples


def change(before: Mapping[str, float], after: Mapping[str, float], name: str) -> dict[str, float]:
    """How each series of metric ``name`` moved (only those that did)."""
    moved = {
        series: value - before.get(series, 0.0)
        for series, value in after.items()
        if series == name or series.startswith(name + "{")
    }
    return {series: delta for series, delta in moved.items() if delta}


def comparable(api: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """A request body, leaving out which reasoning field carries Chat thinking: moving
    ``reasoning_content`` to vLLM's ``reasoning`` is the gateway's job even on a same-API route."""
    messages = body.get("messages")
    if api != "openai-chat" or not isinstance(messages, list):
        return dict(body)
    return {
        **body,
        "messages": [
            {
                **{k: v for k, v in m.items() if k not in MOVABLE},
                "thinking": [m[k] for k in MOVABLE if k in m],
            }
            if isinstance(m, dict) and m.get("role") == "assistant"
            else m
            for m in messages
        ],
    }


def upstream_problems(route: Route, api: str, request: Mapping[str, Any], sent: RecordedRequest) -> list[str]:
    """What is wrong with the request the upstream got for a recorded one the app sent in ``api``."""
    if sent.api != route.dialect.api:
        return [f"sent to {sent.path}, not to the upstream's API"]
    body = request["body"]
    problems = request_problems(sent.api, sent.body, thinking_in=route.dialect.field or None)
    if sent.api != api:
        return problems
    # Same API: the app's own quirks are not the gateway's to fix (where thinking goes is), and
    # nothing else may change but the profile's extra_body fields a request lacks (MiniMax's
    # reasoning_split).
    own = request_problems(api, body)
    problems = [p for p in problems if p not in own]
    expected = comparable(api, {**route.gateway.options.profile.extra_body, **body})
    got = comparable(sent.api, sent.json)
    changed = sorted(k for k in {*expected, *got} if expected.get(k) != got.get(k))
    if changed:
        problems.append(f"{changed} changed on a same-API route with nothing to restore")
    if api == "anthropic":
        if sent.query != request["query"]:
            problems.append(f"query string {sent.query} instead of {request['query']}")
        betas = set(request["headers"].get("anthropic-beta", "").split(",")) - {""}
        passed = set(sent.headers.get("anthropic-beta", "").split(","))
        if not betas <= passed:
            problems.append(f"anthropic-beta {sorted(betas - passed)} not passed on")
    return problems


# ---------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize(("recording", "upstream"), cases())
async def test_recorded_requests_pass_through_the_gateway(
    recording: Recording, upstream: str, world: dict[str, Route], session: aiohttp.ClientSession
) -> None:
    route = world[upstream]
    before = await metrics(session, route)
    foreign: list[int] = []
    for number, request in enumerate(recording.requests, 1):
        where = f"{recording.name} request {number}/{len(recording.requests)} via {route.label}"
        body = request["body"]
        seen = len(route.upstream.requests)
        answer = await send(session, route, request, body)
        problems = answer_problems(recording.api, body.get("stream") is True, answer)
        assert not problems, f"{where}: " + "; ".join(problems)
        assert answer.headers["x-interleaf-restored"] == "0", f"{where}: restored a turn it never served"
        foreign.append(int(answer.headers["x-interleaf-foreign"]))
        turns, bare = len(earlier_turns(recording.api, body)), bare_turns(recording.api, body)
        assert bare <= foreign[-1] <= turns, (
            f"{where}: {foreign[-1]} foreign of {turns} earlier turns, {bare} of them without thinking"
        )

        arrived = route.upstream.requests[seen:]
        assert len(arrived) == 1, f"{where}: the upstream got {len(arrived)} requests for one"
        problems = upstream_problems(route, recording.api, request, arrived[0])
        assert not problems, f"{where}: " + "; ".join(problems)

    await route.gateway.settle()
    after = await metrics(session, route)
    name = f"{recording.name} via {route.label}"
    assert not change(before, after, CAPTURE_ERRORS), (
        f"{name}: replies not stored: {change(before, after, CAPTURE_ERRORS)}"
    )
    stored = sum(change(before, after, STORED).values())
    assert stored >= len(recording.requests), f"{name}: {stored:g} replies stored"
    counted = sum(change(before, after, FOREIGN).values())
    assert counted == sum(foreign), f"{name}: /metrics counted {counted:g} foreign, the headers {foreign}"


async def test_claude_code_system_message_between_turns_crosses_to_chat_in_place(
    world: dict[str, Route], session: aiohttp.ClientSession
) -> None:
    """Claude Code puts system-role messages inside ``messages`` for model names it does not know; on
    a Chat upstream each stays a system message exactly where it was among the turns."""
    recording = load(APPS / "claude-code" / "anthropic--anthropic.json")
    request = recording.requests[-1]
    body = json.loads(json.dumps(request["body"]))
    messages = body["messages"]
    first_call = next(b["id"] for b in messages[1]["content"] if b["type"] == "tool_use")
    second_call = next(b["id"] for b in messages[3]["content"] if b["type"] == "tool_use")
    messages.insert(3, {"role": "system", "content": "[app text]"})  # after turn 1's tool result
    route = world["reasoning_content"]
    seen = len(route.upstream.requests)
    answer = await send(session, route, request, body)
    problems = answer_problems(recording.api, True, answer)
    assert not problems, "; ".join(problems)
    sent = route.upstream.requests[seen].json
    problems = request_problems("openai-chat", sent, thinking_in="reasoning_content")
    assert not problems, problems
    chat = sent["messages"]
    answered = next(
        i for i, m in enumerate(chat) if m.get("role") == "tool" and m.get("tool_call_id") == first_call
    )
    assert chat[answered + 1] == {"role": "system", "content": "[app text]"}, chat[answered + 1]
    following = chat[answered + 2]
    assert following["role"] == "assistant", following
    assert [c["id"] for c in following["tool_calls"]] == [second_call], following
    assert chat[0]["role"] == "system", "the top-level system prompt comes first"
