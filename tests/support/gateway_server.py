"""The gateway for tests: started for real with uvicorn on a free loopback port, in the test's loop.

::

    async with GatewayServer(options) as gateway:
        client = anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="key-a")

``gateway.gateway`` is the :class:`interleaf.gateway.Gateway` (metrics, capture queue) for assertions.
Sync SDK clients must run in a thread (``asyncio.to_thread``): the gateway shares the test's loop.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from typing import Any

import uvicorn

from interleaf.gateway import Gateway, ServeOptions, create_app
from interleaf.store.thinking import ThinkingStore


class GatewayServer:
    def __init__(
        self,
        options: ServeOptions,
        *,
        store: ThinkingStore | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.options = options
        self._store = store
        self._env = env
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[Any] | None = None
        self._gateway: Gateway | None = None
        self.port = 0

    @property
    def gateway(self) -> Gateway:
        assert self._gateway is not None, "the gateway is not started"
        return self._gateway

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (the Anthropic SDK's base_url; OpenAI's is this plus ``/v1``)."""
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> GatewayServer:
        self._gateway = Gateway(self.options, store=self._store, env=self._env)
        app = create_app(self.options, gateway=self._gateway)
        config = uvicorn.Config(
            app,
            http="httptools",
            lifespan="on",
            access_log=False,
            log_config=None,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._serve(sock))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the gateway stopped during start-up")
            await asyncio.sleep(0.005)
        return self

    async def _serve(self, sock: socket.socket) -> None:
        assert self._server is not None
        try:
            await self._server.serve(sockets=[sock])
        finally:
            sock.close()

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server = None
        self._task = None

    async def settle(self) -> None:
        """Wait until every captured reply is stored."""
        await self.gateway.captures.drain(5.0)


UPSTREAMS = {"anthropic": ("anthropic", "thinking"), "openai-chat": ("deepseek", "reasoning_content")}
"""Upstream API -> (profile, reasoning field) used when a test does not care which profile."""


def gateway_options(profile: str, upstream_url: str, store_url: str, **changes: Any) -> ServeOptions:
    """Options for a gateway in front of ``upstream_url`` with quick timeouts."""
    from interleaf.backends.http import Timeouts
    from interleaf.backends.profiles import get_profile

    changes.setdefault("timeouts", Timeouts(connect=2.0, first_byte=5.0, idle=5.0, total=None))
    return ServeOptions(profile=get_profile(profile, base_url=upstream_url), store_url=store_url, **changes)
