"""Serving the viewer with uvicorn: in the foreground (``interleaf view``) or inside a caller's event loop
(tests, benchmarks)."""

from __future__ import annotations

import logging
import signal
import socket
from types import FrameType

import uvicorn

from interleaf.serving import ServerInLoop, listening_socket
from interleaf.view.app import ViewOptions, create_app


def _config(options: ViewOptions, *, log_level: str = "warning") -> uvicorn.Config:
    return uvicorn.Config(
        create_app(options),
        host=options.host,
        port=options.port,
        lifespan="off",
        access_log=False,
        log_config=None,
        log_level=log_level,
        server_header=False,
        # Live pages hold a stream open; stop waiting for them soon after Ctrl-C.
        timeout_graceful_shutdown=1,
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or an OSError whose message says what to do."""
    return listening_socket(host, port, hint="choose another --port")


def run(options: ViewOptions, sock: socket.socket) -> None:
    """Serve on ``sock`` until interrupted (Ctrl-C exits quietly, status 0)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _after_shutdown)
    uvicorn.Server(_config(options)).run(sockets=[sock])


def _after_shutdown(sig: int, frame: FrameType | None) -> None:
    """uvicorn re-raises the signal to the previous handler after its graceful shutdown: ignore it."""


class ViewServer:
    """The viewer in the caller's event loop: ``async with ViewServer(options) as server: server.url``.

    ``options.port`` 0 picks a free port.
    """

    def __init__(self, options: ViewOptions) -> None:
        self.options = options
        self.port = options.port
        self._server: ServerInLoop | None = None

    @property
    def url(self) -> str:
        host = f"[{self.options.host}]" if ":" in self.options.host else self.options.host
        return f"http://{host}:{self.port}"

    async def __aenter__(self) -> ViewServer:
        sock = bind(self.options.host, self.options.port)
        self.port = sock.getsockname()[1]
        self._server = ServerInLoop(_config(self.options), sock, name="viewer")
        await self._server.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            await self._server.stop()
        self._server = None


__all__ = ["ViewServer", "bind", "run"]
