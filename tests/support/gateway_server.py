"""The gateway for tests: started for real with uvicorn on a free loopback port, in the test's loop.

::

    async with GatewayServer(options) as gateway:
        client = anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="key-a")

``gateway.gateway`` is the :class:`interleaf.gateway.Gateway` (metrics, capture queue) for assertions.
Sync SDK clients must run in a thread (``asyncio.to_thread``): the gateway shares the test's loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interleaf.gateway import Gateway, ServeOptions, create_app
from interleaf.gateway.server import InProcessServer
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
        self._server: InProcessServer | None = None
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
        self._server = await InProcessServer(app).__aenter__()
        self.port = self._server.port
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            await self._server.__aexit__(*exc_info)
        self._server = None

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
