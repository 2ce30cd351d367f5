"""An ASGI app served by uvicorn: the listening socket, and a server inside the caller's event loop.

The gateway (``interleaf probe client``, tests) and the viewer (tests, benchmarks) both start uvicorn
in a running loop; this is the one copy of how: bind first (so port 0 picks a free port and a taken one
fails with a message that says what to do), serve on that socket in a task, return once it accepts
connections, and stop gracefully.
"""

from __future__ import annotations

import asyncio
import socket

import uvicorn


def listening_socket(host: str, port: int, *, hint: str = "choose another port") -> socket.socket:
    """A non-blocking socket listening on ``host:port`` (IPv4 or IPv6; port 0 picks a free one), or an
    OSError whose message says what to do."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}; {hint}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class ServerInLoop:
    """``config`` served on ``sock`` by a task of the running loop: :meth:`start` returns once it
    accepts connections, :meth:`stop` shuts it down gracefully (``config.timeout_graceful_shutdown``)."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket, *, name: str) -> None:
        self._server = uvicorn.Server(config)
        self._sock = sock
        self._name = name
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # the start-up error, if it raised one
                raise RuntimeError(f"the {self._name} stopped while starting")
            await asyncio.sleep(0.005)

    async def _serve(self) -> None:
        try:
            await self._server.serve(sockets=[self._sock])
        finally:
            self._sock.close()

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._task = None
