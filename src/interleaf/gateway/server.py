"""Running the gateway under uvicorn (uvloop + httptools), as ``interleaf serve`` does, in the same
process (an earlier version re-executed itself to leave the CLI's modules behind; measured, that saved
about 1 MiB of a 42 MiB process, so it went)."""

from __future__ import annotations

import contextlib
import gc
import logging
import resource
import signal
from types import FrameType
from typing import Any

import uvicorn

from interleaf.backends.errors import redact_url
from interleaf.gateway.app import create_app
from interleaf.gateway.config import ServeOptions
from interleaf.gateway.protocol import guarded_protocol
from interleaf.serving import ServerInLoop, listening_socket

log = logging.getLogger("interleaf.gateway")


def raise_open_file_limit() -> int:
    """Lift the soft limit on open files to the hard limit: each relayed stream holds two sockets,
    and the usual soft limit of 1024 would cap the gateway near 500 streams."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1_048_576 if hard == resource.RLIM_INFINITY else hard
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
    return soft


def uvicorn_config(options: ServeOptions, *, log_level: int = logging.INFO) -> uvicorn.Config:
    app = create_app(options)
    return uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        loop="uvloop",
        http=guarded_protocol(options.header_timeout, options.max_header_bytes),
        ws="none",  # no endpoint speaks WebSocket; loading the library cost ~2 MiB of every gateway
        lifespan="on",
        access_log=False,  # the gateway logs one line per request itself, without secrets
        log_config=None,
        log_level=log_level,
        server_header=False,
        backlog=4096,
        timeout_keep_alive=75,
    )


def run(options: ServeOptions, *, log_level: int = logging.INFO) -> None:
    """Serve until interrupted."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    files = raise_open_file_limit()
    config = uvicorn_config(options, log_level=log_level)
    profile = options.profile
    log.info(
        "interleaf gateway: %s upstream (%s, thinking back as %s) at %s; store %s; %s auth; "
        "on missing thinking: %s; up to %d open files",
        profile.name,
        profile.api,
        profile.thinking_dialect.value if profile.thinking_dialect else "nothing",
        redact_url(profile.url()),
        redact_url(options.store_url) if options.store_url else "sqlite (data dir)",
        "managed" if options.keys_file else "passthrough",
        options.on_missing,
        files,
    )
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler that was
    # there before it: make that a no-op, so a graceful shutdown exits with status 0, not -15 or a
    # KeyboardInterrupt traceback.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _after_shutdown)
    tune_gc()
    uvicorn.Server(config).run()


GC_YOUNG_THRESHOLD = 10_000
"""Allocations between two young-generation collections in ``interleaf serve`` (Python's default: 700)."""


def tune_gc() -> None:
    """Make the collector cheap for a process that serves requests until it stops.

    Each request allocates a few hundred short-lived objects (parsed JSON, a decoded reply, aiohttp
    and Starlette objects), so with Python's defaults the collector ran every few requests and every
    full pass walked the whole import-time heap again. Measured under wrk (docs/benchmarks.md,
    "Gateway"), that was 15-20% of the gateway's CPU time per request. Freezing what start-up made
    takes it out of every later pass, and a higher young-generation threshold makes passes rarer;
    reference cycles are still collected, and the gateway collects fully whenever it goes idle.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)


def _after_shutdown(sig: int, frame: FrameType | None) -> None:
    """The signal was handled: uvicorn already shut down."""


class InProcessServer:
    """A gateway app served by uvicorn inside the caller's event loop (``interleaf probe client``, tests).

    ``async with InProcessServer(app, host, port) as server:`` returns once it accepts connections;
    ``port`` 0 picks a free one (``server.port`` says which).
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: ServerInLoop | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> InProcessServer:
        gateway = getattr(getattr(self.app, "state", None), "gateway", None)
        options = getattr(gateway, "options", None)
        config = uvicorn.Config(
            self.app,
            http=guarded_protocol(options.header_timeout, options.max_header_bytes)
            if isinstance(options, ServeOptions)
            else "httptools",
            ws="none",
            lifespan="on",
            access_log=False,
            log_config=None,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        sock = listening_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._server = ServerInLoop(config, sock, name="gateway")
        await self._server.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            await self._server.stop()
        self._server = None
