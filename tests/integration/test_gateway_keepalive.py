"""The gateway's pooled upstream connections and the upstream's own keep-alive.

Self-hosted servers close an idle connection after a few seconds (uvicorn, and so vLLM and SGLang, and
llama.cpp's server: 5 s). A pool that keeps connections longer than that sends some requests on a
connection the server is closing at that very moment; they fail with a reset or "server disconnected"
and the client gets a 502 although the server is fine. The gateway drops an idle connection before the
server does (``--upstream-keepalive``, 4 s by default), so requests spaced exactly like that succeed.
"""

from __future__ import annotations

import asyncio
import random
import threading

import aiohttp
import anthropic
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from interleaf.backends.http import DEFAULT_KEEPALIVE
from interleaf.serving import listening_socket
from tests.support.gateway_scenario import MODEL, PROMPT
from tests.support.gateway_server import GatewayServer, gateway_options
from tests.support.payloads import anthropic_message, text
from tests.support.scripted_server import ScriptedServer, Step

pytestmark = pytest.mark.timeout(90)

SERVER_KEEPALIVE = 0.5
"""The upstream's idle timeout here: uvicorn's 5 s scaled down tenfold, so the test takes seconds."""


class ThreadedUpstream:
    """A uvicorn server answering Anthropic messages from its own thread and event loop, as a real
    upstream runs in its own process: its keep-alive timer fires independently of the gateway's loop,
    which is what makes the race real (in the test's own loop the two would take turns)."""

    def __init__(self, keep_alive: float, *, answer_after: float = 0.0) -> None:
        self.connections: set[int] = set()
        self._answer_after = answer_after
        app = Starlette(routes=[Route("/v1/messages", self._answer, methods=["POST"])])
        self._sock = listening_socket("127.0.0.1", 0)
        self.port = self._sock.getsockname()[1]
        # uvicorn types the keep-alive as whole seconds, but only hands it to call_later: a fraction works.
        config = uvicorn.Config(app, log_level="error", timeout_keep_alive=keep_alive)  # type: ignore[arg-type]
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="upstream", daemon=True)

    async def _answer(self, request: Request) -> JSONResponse:
        await request.body()
        if self._answer_after:
            await asyncio.sleep(self._answer_after)
        client = request.client
        if client is not None:
            self.connections.add(client.port)
        return JSONResponse(anthropic_message([text("hi")], stop_reason="end_turn"))

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    async def __aenter__(self) -> ThreadedUpstream:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the upstream stopped while starting")
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.should_exit = True
        await asyncio.to_thread(self._thread.join, 10)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        """Connections open to this server now (uvicorn's own count, which it drains on shutdown)."""
        return len(self._server.server_state.connections)


async def ask(client: anthropic.AsyncAnthropic) -> None:
    await client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": PROMPT}])


def test_the_default_keepalive_is_below_the_common_servers_idle_timeout() -> None:
    # uvicorn (vLLM, SGLang) and llama.cpp's server close idle connections after 5 s.
    assert uvicorn.Config("unused:app").timeout_keep_alive == 5
    assert 0 < DEFAULT_KEEPALIVE < 5
    options = gateway_options("anthropic", "http://127.0.0.1:1", "sqlite:///unused.db")
    assert options.upstream_keepalive == DEFAULT_KEEPALIVE


async def test_requests_one_server_keepalive_apart_never_fail(store_url: str) -> None:
    rng = random.Random(7)
    async with ThreadedUpstream(SERVER_KEEPALIVE) as server:
        # The same ratio as the defaults: 4 s in front of a 5 s server.
        options = gateway_options(
            "anthropic", server.base_url, store_url, upstream_keepalive=SERVER_KEEPALIVE * 0.8
        )
        async with GatewayServer(options) as gateway:
            client = anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="k", max_retries=0)
            failures: list[str] = []
            requests = 30
            for _ in range(requests):
                try:
                    await ask(client)
                except anthropic.APIStatusError as exc:  # what a reused, closing connection gave: a 502
                    failures.append(f"{exc.status_code} {exc.message}")
                await asyncio.sleep(SERVER_KEEPALIVE + rng.uniform(-0.01, 0.01))
            await client.close()
            assert failures == []
            assert gateway.gateway.metrics.upstream_errors.total() == 0
    assert len(server.connections) == requests  # every request came after the pool let its connection go


async def test_a_connection_is_reused_within_the_keepalive_and_dropped_after_it(
    upstream: ScriptedServer, store_url: str
) -> None:
    reply = anthropic_message([text("hi")], stop_reason="end_turn")
    upstream.enqueue(*(Step.json(reply) for _ in range(5)))
    options = gateway_options("anthropic", upstream.base_url, store_url, upstream_keepalive=0.3)
    async with GatewayServer(options) as gateway:
        client = anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="k", max_retries=0)
        await ask(client)
        await ask(client)  # at once: the same connection
        await asyncio.sleep(0.5)  # idle past the keep-alive: a new one
        await ask(client)
        await client.close()
    ports = [request.peer[1] for request in upstream.requests if request.peer is not None]
    assert len(ports) == 3
    assert ports[0] == ports[1]
    assert ports[2] != ports[1]


async def test_keepalive_zero_opens_a_connection_per_request(
    upstream: ScriptedServer, store_url: str
) -> None:
    reply = anthropic_message([text("hi")], stop_reason="end_turn")
    upstream.enqueue(*(Step.json(reply) for _ in range(3)))
    options = gateway_options("anthropic", upstream.base_url, store_url, upstream_keepalive=0)
    async with GatewayServer(options) as gateway:
        client = anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="k", max_retries=0)
        for _ in range(3):
            await ask(client)
        await client.close()
    ports = [request.peer[1] for request in upstream.requests if request.peer is not None]
    assert len(set(ports)) == 3


@pytest.mark.parametrize(("idle_limit", "kept"), [(3, 3), (64, 12)])
async def test_a_burst_leaves_at_most_the_idle_limit_of_connections_open(
    store_url: str, idle_limit: int, kept: int
) -> None:
    burst = 12
    # Long keep-alives on both sides: only the idle limit closes anything during the test.
    async with ThreadedUpstream(30.0, answer_after=0.3) as server:
        options = gateway_options(
            "anthropic",
            server.base_url,
            store_url,
            upstream_keepalive=20.0,
            upstream_idle_connections=idle_limit,
        )
        async with GatewayServer(options) as gateway:
            client = anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="k", max_retries=0)
            await asyncio.gather(*(ask(client) for _ in range(burst)))  # each holds a connection 0.3 s
            assert len(server.connections) == burst
            for _ in range(50):  # the server sees the gateway's closes a moment later
                if server.open_connections == kept:
                    break
                await asyncio.sleep(0.02)
            assert server.open_connections == kept
            await ask(client)  # a kept connection serves the next request
            assert len(server.connections) == burst
            await client.close()
            assert gateway.gateway.metrics.upstream_errors.total() == 0


def test_a_negative_idle_limit_is_refused() -> None:
    from interleaf.gateway.config import GatewayConfigError

    with pytest.raises(GatewayConfigError, match="--upstream-idle-connections"):
        gateway_options(
            "anthropic", "http://127.0.0.1:1", "sqlite:///unused.db", upstream_idle_connections=-1
        )


async def test_a_client_connection_outlives_a_common_client_pools_idle_time(
    upstream: ScriptedServer, store_url: str
) -> None:
    """The in-process gateway (tests, ``interleaf probe client``) keeps idle client connections as long as
    ``interleaf serve`` does: aiohttp's pool keeps one 15 s, and a server that closed it after uvicorn's
    default 5 s could reset a request sent at that moment."""
    reply = anthropic_message([text("hi")], stop_reason="end_turn")
    upstream.enqueue(*(Step.json(reply) for _ in range(2)))
    opened: list[str] = []
    reused: list[str] = []
    tracing = aiohttp.TraceConfig()
    tracing.on_connection_create_end.append(lambda *_: _note(opened))
    tracing.on_connection_reuseconn.append(lambda *_: _note(reused))
    options = gateway_options("anthropic", upstream.base_url, store_url)
    body = {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": PROMPT}]}
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    async with GatewayServer(options) as gateway, aiohttp.ClientSession(trace_configs=[tracing]) as session:
        for pause in (0.0, 5.5):  # past uvicorn's default keep-alive
            await asyncio.sleep(pause)
            async with session.post(f"{gateway.base_url}/v1/messages", headers=headers, json=body) as answer:
                assert answer.status == 200
                await answer.read()
    assert (len(opened), len(reused)) == (1, 1)  # the second request went on the first connection


async def _note(events: list[str]) -> None:
    events.append("connection")
