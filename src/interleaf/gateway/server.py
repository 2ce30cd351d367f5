"""Running the gateway under uvicorn (uvloop + httptools), as ``interleaf serve`` does: :func:`serve`
hands the options over to a fresh interpreter that imports only the gateway, :func:`run` serves them.

History of that hand-over: an earlier version re-executed itself the same way; measured then (typer
0.12), it saved about 1 MiB of a 42 MiB process, so it went. typer 0.29 validates every flag with
pydantic, and the CLI's process grew by 12 MiB that the gateway never uses: it is back, measured."""

from __future__ import annotations

import contextlib
import copyreg
import gc
import io
import logging
import os
import pickle
import resource
import signal
import sys
import tempfile
from types import FrameType, MappingProxyType
from typing import Any

import uvicorn

from interleaf.backends.errors import BackendConfigError, redact_url
from interleaf.gateway.app import create_app
from interleaf.gateway.config import GatewayConfigError, ServeOptions
from interleaf.gateway.protocol import guarded_protocol
from interleaf.serving import ServerInLoop, listening_socket
from interleaf.store.thinking import StoreError

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


CLIENT_KEEPALIVE_SECONDS = 75
"""How long an idle client connection stays open: longer than the idle pools of aiohttp (15 s), Node's
undici (4 s) and httpx (5 s). A client that keeps an idle connection longer than the server sometimes
sends a request just as the server closes it and gets a reset instead of an answer; uvicorn's default of
5 s is below aiohttp's 15 (a test client met exactly that)."""


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
        timeout_keep_alive=CLIENT_KEEPALIVE_SECONDS,
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
    for advice in options.advice():
        log.warning("%s", advice)
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


SERVE_HERE_ENV = "INTERLEAF_SERVE_HERE"
"""Set to ``1`` to serve in ``interleaf serve``'s own process instead of a fresh interpreter."""
BAD_INPUT = 2  # interleaf.cli.exit_codes.BAD_INPUT (the gateway does not import the CLI)


def serve(options: ServeOptions, *, log_level: int = logging.INFO) -> None:
    """Serve until interrupted, in an interpreter that has imported the gateway and nothing else.

    ``interleaf serve`` reads its flags with typer, and typer (0.29) validates each flag with a pydantic
    ``TypeAdapter``: pydantic and its adapters stay in the process, about 12 MiB of a gateway that
    never uses them again (start RSS 59 -> 47 MiB; docs/benchmarks.md, "Gateway"). So this process
    replaces itself (``os.execv``: the same PID, so a supervisor's signals, the exit status and the
    open terminal are unchanged) with ``python -m interleaf.gateway``, handing over the options it
    resolved through an unnamed temporary file. It serves here instead when it cannot (not POSIX, a
    profile from a plugin that does not pickle) or is told to (``INTERLEAF_SERVE_HERE=1``).
    """
    if os.name != "posix" or os.environ.get(SERVE_HERE_ENV) == "1":
        run(options, log_level=log_level)
        return
    payload = handover_payload(options, log_level)
    if payload is None:
        run(options, log_level=log_level)
        return
    with tempfile.TemporaryFile() as handover:
        handover.write(payload)
        handover.flush()
        descriptor = os.dup(handover.fileno())  # outlives the file object's close
    os.set_inheritable(descriptor, True)  # and the exec
    sys.stdout.flush()
    sys.stderr.flush()
    # The original command line follows, so process listings still read "... interleaf serve ...".
    os.execv(sys.executable, [sys.executable, "-m", "interleaf.gateway", str(descriptor), *sys.argv])


def handover_payload(options: ServeOptions, log_level: int) -> bytes | None:
    """What :func:`serve` hands over (pickled options and log level), or ``None`` when the options do
    not pickle (a plugin's profile holding a lambda): the gateway then serves in the CLI's process."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer)
    pickler.dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _reduce_mapping_proxy}
    try:
        pickler.dump((options, log_level))
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        log.warning("serving in the CLI's own process: the options do not pickle (%s)", exc)
        return None
    return buffer.getvalue()


def serve_handed_over(args: list[str]) -> int:
    """The other side of :func:`serve`: read the options from the descriptor ``args[0]``, serve them,
    and give the exit status (``interleaf serve``'s own for a store or key file that fails)."""
    try:
        with os.fdopen(int(args[0]), "rb") as handover:
            handover.seek(0)
            options, log_level = pickle.load(handover)
    except (IndexError, ValueError, OSError, EOFError, pickle.UnpicklingError):
        print(
            "python -m interleaf.gateway is started by `interleaf serve`; run that instead", file=sys.stderr
        )
        return BAD_INPUT
    try:
        run(options, log_level=log_level)
    except (GatewayConfigError, BackendConfigError, StoreError) as exc:
        print(f"interleaf serve: error: {exc}", file=sys.stderr)
        return BAD_INPUT
    return 0


def _reduce_mapping_proxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    # Profiles hold read-only mappings, which pickle cannot write by themselves.
    return _mapping_proxy, (dict(proxy),)


def _mapping_proxy(items: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(items)


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
            timeout_keep_alive=CLIENT_KEEPALIVE_SECONDS,  # as `interleaf serve` does
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
