"""The embedded model server: llama.cpp's OpenAI-compatible HTTP server, in this process (xllamacpp).

Used when no model server is configured. It serves one verified GGUF file (:mod:`model_files`) on an
ephemeral port of 127.0.0.1; everything else talks to it over real HTTP like to any other server, via
the ``local`` profile (:meth:`LocalServer.profile`). ::

    async with LocalServer.for_model("qwen2.5-coder-1.5b") as server:
        ... POST f"{server.base_url}/chat/completions" ...

Loading takes a few seconds, so :meth:`LocalServer.start` does it in a worker thread. A process
usually needs one server: :func:`shared_server` starts it once and hands the same one to every caller.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import aiohttp

from interleaf.backends.errors import BackendConfigError, BackendError
from interleaf.backends.model_files import DEFAULT_MODEL, ModelStore, ProgressCallback
from interleaf.backends.profiles import Profile, get_profile

ReasoningFormat = Literal["none", "auto", "deepseek", "deepseek-legacy"]

_REASONING_FORMATS: dict[ReasoningFormat, str] = {
    "none": "COMMON_REASONING_FORMAT_NONE",
    "auto": "COMMON_REASONING_FORMAT_AUTO",
    "deepseek": "COMMON_REASONING_FORMAT_DEEPSEEK",
    "deepseek-legacy": "COMMON_REASONING_FORMAT_DEEPSEEK_LEGACY",
}


class LocalServerError(BackendError):
    """The embedded server could not start (bad file, out of memory, xllamacpp failure)."""


def default_threads() -> int:
    """CPU threads for llama.cpp: one fewer than the CPUs this process may use (at least one).

    llama.cpp's threads wait for each other at every step, so when any other process holds one of
    their CPUs, generation collapses: Qwen2.5-Coder-1.5B on 2 vCPUs with one busy neighbour made
    0.4-2.2 tokens/s with 2 threads and 16-18 tokens/s with 1. Leaving a CPU to the agent, its tools
    and the test client keeps the worst case fast, at the cost of prompt speed on an idle machine.
    """
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        available = os.cpu_count() or 1
    return max(1, available - 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerOptions:
    """How llama.cpp runs the model; defaults suit a small model on a laptop CPU.

    * ``n_ctx``: context tokens (the ``local`` profile's context window).
    * ``n_batch`` / ``n_ubatch``: prompt-processing batch sizes.
    * ``n_parallel``: request slots (1: requests queue; each slot gets ``n_ctx / n_parallel``).
    * ``threads``: generation and prompt threads (default :func:`default_threads`: CPUs - 1).
    * ``reasoning_format``: ``deepseek`` splits ``<think>`` into ``reasoning_content`` and reads it back,
      which is what the ``local`` profile expects; ``none`` leaves it in ``content``.
    * ``chat_template``: Jinja source replacing the GGUF's template (docs/architecture.md §4.5).
    * ``verbosity``: llama.cpp's log threshold on stderr (0 quiet, 3 info, 4 debug).
    * ``warmup``: run one empty decode at load. Off: it added ~2 s to the start of the 1.5B and
      the first request was no faster without it.
    """

    n_ctx: int = 8192
    n_batch: int = 512
    n_ubatch: int = 512
    n_parallel: int = 1
    threads: int | None = None
    reasoning_format: ReasoningFormat = "deepseek"
    chat_template: str | None = None
    verbosity: int = 0
    warmup: bool = False
    extra: tuple[tuple[str, Any], ...] = field(default=())
    """Further ``xllamacpp.CommonParams`` attributes as ``(name, value)`` pairs, set last; a dotted
    name reaches a nested one (``("sampling.top_k", 20)``)."""


class LocalServer:
    """One llama.cpp server inside this process, serving one model file on 127.0.0.1.

    Construct, then :meth:`start` (async, in a worker thread) or :meth:`start_sync`; stop with
    :meth:`aclose` / :meth:`close` or by leaving ``async with`` / ``with``.
    """

    def __init__(
        self,
        model_path: Path | str,
        *,
        model_id: str | None = None,
        options: ServerOptions | None = None,
        timeout: float = 120.0,
    ) -> None:
        self.model_path = Path(model_path)
        self.model_id = model_id or self.model_path.stem
        self.options = options or ServerOptions()
        self.timeout = timeout
        self._server: Any = None
        self._address: str | None = None
        self._lock = threading.Lock()
        self.load_seconds: float | None = None

    @classmethod
    def for_model(
        cls,
        name: str = DEFAULT_MODEL,
        *,
        store: ModelStore | None = None,
        options: ServerOptions | None = None,
    ) -> LocalServer:
        """A server for a pulled, verified model of the registry (``ModelNotPulledError`` if not pulled)."""
        store = store or ModelStore()
        spec = store.spec(name)
        return cls(store.path(name), model_id=spec.model_id, options=options)

    # ---------------------------------------------------------------------------- state

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def address(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        if self._address is None:
            raise BackendConfigError(
                f"the embedded server for {self.model_path.name} is not running; start it first"
            )
        return self._address

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, ``http://127.0.0.1:PORT/v1``."""
        return self.address + "/v1"

    def profile(self) -> Profile:
        """The ``local`` backend profile pointing at this server."""
        return get_profile("local", base_url=self.base_url, model=self.model_id)

    # ------------------------------------------------------------------------ lifecycle

    async def start(self) -> LocalServer:
        """Load the model and start serving, without blocking the event loop; returns ``self``.

        Returns once ``GET /v1/models`` answers. Starting a running server does nothing. If the
        caller is cancelled mid-load, the load still finishes in its thread: :meth:`close` stops it.
        """
        await asyncio.to_thread(self.start_sync)
        try:
            await self.wait_ready(self.timeout)
        except BaseException:
            await self.aclose()
            raise
        return self

    def start_sync(self) -> LocalServer:
        """Load the model and start serving (blocks for the load, ~1-5 s); returns ``self``."""
        with self._lock:
            if self._server is not None:
                return self
            if not self.model_path.is_file():
                raise BackendConfigError(f"model file {self.model_path} does not exist")
            xllamacpp = _import_xllamacpp()
            params = self._params(xllamacpp)
            started = time.perf_counter()
            try:
                server = xllamacpp.Server(params)
            except (RuntimeError, ValueError) as exc:
                raise LocalServerError(
                    f"llama.cpp could not load {self.model_path}: {exc}; is it a GGUF file llama.cpp "
                    "supports, and is there enough memory? Set ServerOptions(verbosity=3) to see its log"
                ) from None
            address = str(server.listening_address).rstrip("/")
            try:
                _wait_for_main_loop(address, self.timeout)
            except BaseException:
                # Dropping a server whose loop never started would hang in its destructor: keep it.
                _abandoned.append(server)
                raise
            self._server, self._address = server, address
            self.load_seconds = time.perf_counter() - started
        return self

    def close(self) -> None:
        """Stop the server (llama.cpp joins its threads, ~0.1 s). Closing twice does nothing."""
        with self._lock:
            server, self._server, self._address = self._server, None, None
        # Dropping the last reference runs xllamacpp's destructor, which stops and joins the server.
        del server

    async def aclose(self) -> None:
        """:meth:`close` in a worker thread."""
        await asyncio.to_thread(self.close)

    async def ready(self) -> bool:
        """Whether ``GET /v1/models`` answers 200 with at least one model."""
        if self._address is None:
            return False
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
                session.get(self._address + "/v1/models") as response,
            ):
                if response.status != 200:
                    return False
                body = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return False
        return isinstance(body, dict) and bool(body.get("data"))

    async def wait_ready(self, timeout: float) -> None:
        """Poll :meth:`ready` until it holds; :class:`LocalServerError` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not await self.ready():
            if time.monotonic() > deadline:
                raise LocalServerError(
                    f"the embedded server at {self._address} did not answer GET /v1/models within "
                    f"{timeout:g} s"
                )
            await asyncio.sleep(0.05)

    async def __aenter__(self) -> LocalServer:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __enter__(self) -> LocalServer:
        return self.start_sync()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self._address or "stopped"
        return f"LocalServer({self.model_path.name!r}, {where})"

    # ------------------------------------------------------------------------- internals

    def _params(self, xllamacpp: Any) -> Any:
        opts = self.options
        threads = opts.threads or default_threads()
        params = xllamacpp.CommonParams()
        params.model.path = str(self.model_path)
        params.model_alias = {self.model_id}
        params.n_ctx = opts.n_ctx
        params.n_batch = opts.n_batch
        params.n_ubatch = opts.n_ubatch
        params.n_parallel = opts.n_parallel
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.use_jinja = True  # the GGUF's own template, with native tool-call parsing
        params.reasoning_format = getattr(
            xllamacpp.common_reasoning_format, _REASONING_FORMATS[opts.reasoning_format]
        )
        if opts.chat_template is not None:
            params.chat_template = opts.chat_template
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # the OS picks a free port; listening_address reports it
        params.ui = False
        params.endpoint_slots = True  # _wait_for_main_loop needs GET /slots
        params.verbosity = opts.verbosity
        params.warmup = opts.warmup
        for name, value in opts.extra:
            *parents, attribute = name.split(".")
            target = params
            for parent in parents:
                target = getattr(target, parent)
            setattr(target, attribute, value)
        return params


def _wait_for_main_loop(address: str, timeout: float) -> None:
    """Block until llama.cpp's task loop runs, by sending one task through it (``GET /slots``).

    xllamacpp's ``Server()`` returns just *before* its thread enters the task loop, and the loop's
    start resets the stop flag: a server dropped in that window never stops and its destructor
    hangs (seen in 6 of 10 immediate start/stop cycles). ``/v1/models`` is answered without the loop,
    ``/slots`` only by it, so an answer proves the loop runs and the server can be stopped.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(address + "/slots", timeout=5) as response:
                response.read()
                return
        except OSError:
            if time.monotonic() > deadline:
                raise LocalServerError(
                    f"the embedded server at {address} did not answer GET /slots"
                ) from None
            time.sleep(0.05)


def _import_xllamacpp() -> Any:
    try:
        import xllamacpp
    except ImportError:
        raise BackendConfigError(
            "the embedded model server needs xllamacpp; install it with `pip install 'interleaf[local]'` "
            "or configure a model server (--backend)"
        ) from None
    return xllamacpp


async def start_default_server(
    name: str = DEFAULT_MODEL,
    *,
    progress: ProgressCallback | None = None,
    pull: bool = True,
    store: ModelStore | None = None,
    options: ServerOptions | None = None,
) -> LocalServer:
    """Start an embedded server for ``name`` (the agent's backend when none is configured).

    With ``pull`` a model that is not in the cache yet is pulled first (~1.1 GB for the default,
    reported through ``progress``); without it, :class:`ModelNotPulledError` says how to pull it.
    The caller owns the server: ``await server.aclose()`` when done.
    """
    store = store or ModelStore()
    if pull:
        await asyncio.to_thread(store.pull, name, progress=progress)
    path = await asyncio.to_thread(store.path, name, progress=progress)
    return await LocalServer(path, model_id=store.spec(name).model_id, options=options).start()


# ------------------------------------------------------------------------------- shared server

_abandoned: list[Any] = []
_shared: LocalServer | None = None
_shared_key: tuple[Any, ...] | None = None
_shared_lock = threading.Lock()


def shared_server(
    name: str = DEFAULT_MODEL, *, store: ModelStore | None = None, options: ServerOptions | None = None
) -> LocalServer:
    """The process's embedded server for ``name``, started on first use and reused afterwards.

    Asking for another model or other options stops the current one and starts a new one. Blocks
    while loading; from async code use :func:`get_shared_server`. Stopped at interpreter exit.
    """
    global _shared, _shared_key
    store = store or ModelStore()
    path = store.path(name)
    key = (path, options or ServerOptions())
    with _shared_lock:
        if _shared is not None and _shared_key == key and _shared.running:
            return _shared
        if _shared is not None:
            _shared.close()
            _shared = _shared_key = None
        server = LocalServer(path, model_id=store.spec(name).model_id, options=options).start_sync()
        _shared, _shared_key = server, key
        return server


async def get_shared_server(
    name: str = DEFAULT_MODEL, *, store: ModelStore | None = None, options: ServerOptions | None = None
) -> LocalServer:
    """:func:`shared_server` without blocking the event loop."""
    server = await asyncio.to_thread(shared_server, name, store=store, options=options)
    await server.wait_ready(server.timeout)
    return server


def close_shared_server() -> None:
    """Stop the shared server, if any."""
    global _shared, _shared_key
    with _shared_lock:
        server, _shared, _shared_key = _shared, None, None
    if server is not None:
        server.close()


# Stop llama.cpp's threads before the interpreter tears down the modules they call back into.
atexit.register(close_shared_server)
