"""A scripted model server over real HTTP on 127.0.0.1, for protocol tests of the whole project.

It speaks just enough of the Anthropic Messages, OpenAI Chat Completions and OpenAI Responses APIs to
be a realistic upstream: replies are given as raw wire payloads, one :class:`Step` per request in order
(or computed per request by a ``responder``), and every request is recorded. Faults are per step: an error status with a vendor-format body, a delay before the
headers, a malformed body, a dropped connection before any answer, a cut or a stall mid-stream.
Validators turn it into a *strict upstream* that answers 400 in the vendor's format when a request
breaks a rule (e.g. earlier thinking missing) — see ``tests/support/strict.py``.

Routes (any prefix, so ``/anthropic/v1/messages`` works too): ``POST …/messages`` (Anthropic),
``POST …/chat/completions`` (OpenAI Chat), ``POST …/responses`` (OpenAI Responses; its SSE events are
named like Anthropic's), ``GET …/models`` (both shapes), and with ``count_tokens=True``
``POST …/messages/count_tokens`` (an estimate; takes no step). ::

    async with ScriptedServer([Step.json(anthropic_message([text("hi")]))]) as server:
        ... point a client at server.base_url ...
        assert server.requests[0].body["model"] == "m"
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from .payloads import error_body

Api = Literal["anthropic", "openai-chat", "openai-responses"]
SSEItem = dict[str, Any] | str | tuple[str | None, str] | bytes
"""One streamed item: a payload dict (JSON ``data``; on the Anthropic route its ``type`` is also the
``event:`` name, and on the Responses route too), a raw ``data`` string (``"[DONE]"``), an explicit ``(event, data)`` pair, or raw
bytes written to the socket as they are."""


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it. ``headers`` keys are lower-case; ``body`` is the parsed JSON
    (``None`` when there was none or it was not JSON)."""

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any
    api: Api | None
    query: dict[str, str] = field(default_factory=dict)
    peer: tuple[str, int] | None = None
    """The client's address: the same port on two requests means a reused keep-alive connection."""

    @property
    def json(self) -> dict[str, Any]:
        """The body as a dict (asserting it is one): the common case in tests."""
        assert isinstance(self.body, dict), f"request body is not a JSON object: {self.raw[:200]!r}"
        return self.body


Validator = Callable[[RecordedRequest], str | None]
"""Inspects a request; returns an error message (-> HTTP 400 in the vendor format) or None."""

Responder = Callable[[RecordedRequest], "Step | None"]
"""Computes the reply to a request from the request itself (a scripted *model* rather than a script):
called for every request after the validators; ``None`` falls back to the usual handling."""


@dataclass
class Step:
    """One scripted reply. Build with the class methods; the fields are the fault knobs.

    * ``status``/``body``: a JSON reply (success or error). ``raw``: exact body bytes instead.
    * ``events``: stream these SSE items (``chunk_delay`` seconds apart).
    * ``delay``: seconds to wait before sending headers (first-byte timeouts).
    * ``first_event_delay``: seconds between the headers and the first event (a slow first token).
    * ``cut_after``: close the connection abruptly after that many events (no terminating chunk).
    * ``stall_after``: after that many events stop sending and hold the connection for ``stall``
      seconds (idle timeouts).
    * ``drop``: close the connection without any answer (a crash before the first byte).
    * ``headers``: extra response headers (``Retry-After``...).
    * ``validate``: validators for this request only (after the server-wide ones).
    """

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    events: Sequence[SSEItem] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    delay: float = 0.0
    first_event_delay: float = 0.0
    chunk_delay: float = 0.0
    cut_after: int | None = None
    stall_after: int | None = None
    stall: float = 30.0
    drop: bool = False
    validate: Sequence[Validator] = ()

    @classmethod
    def json(cls, body: Any, *, status: int = 200, **knobs: Any) -> Step:
        """Answer with this JSON body."""
        return cls(status=status, body=body, **knobs)

    @classmethod
    def sse(cls, events: Sequence[SSEItem], **knobs: Any) -> Step:
        """Stream these SSE items (see :data:`SSEItem`)."""
        return cls(events=list(events), **knobs)

    @classmethod
    def error(
        cls,
        status: int,
        message: str = "scripted error",
        *,
        error_type: str | None = None,
        api: Api | None = None,
        retry_after: float | str | None = None,
        **knobs: Any,
    ) -> Step:
        """An error status with a body in the vendor format of the route it is served on (or ``api``)."""
        headers = dict(knobs.pop("headers", {}))
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return cls(
            status=status,
            body=_ErrorSpec(status, message, error_type, api),
            headers=headers,
            **knobs,
        )

    @classmethod
    def malformed(cls, raw: bytes = b'{"id": "msg_1", "content": [', **knobs: Any) -> Step:
        """A 200 whose body claims to be JSON but is not."""
        return cls(raw=raw, content_type=knobs.pop("content_type", "application/json"), **knobs)

    @classmethod
    def disconnect(cls, **knobs: Any) -> Step:
        """Close the connection without answering (the client sees a disconnect before any byte)."""
        return cls(drop=True, **knobs)


@dataclass(frozen=True)
class _ErrorSpec:
    status: int
    message: str
    error_type: str | None
    api: Api | None


def api_for_path(path: str) -> Api | None:
    if path.rstrip("/").endswith("/messages"):
        return "anthropic"
    if path.rstrip("/").endswith("/chat/completions"):
        return "openai-chat"
    if path.rstrip("/").endswith("/responses"):
        return "openai-responses"
    return None


class ScriptedServer:
    """The server. Start with ``async with`` (or :meth:`start`/:meth:`stop`).

    ``steps`` are consumed in order by POSTs to either API; :meth:`enqueue` adds more. When none are
    left the server answers 500 with a message saying so, and counts it in :attr:`unexpected`.
    ``validators`` run on every POST before its step is taken; a failing one answers 400 and does not
    consume the step. ``models`` is what ``GET /v1/models`` lists. ``port`` 0 picks a free one.
    ``responder`` (see :data:`Responder`) answers requests from their content instead of the script;
    ``count_tokens`` answers ``POST …/messages/count_tokens`` with an estimate (otherwise it is a 404).
    """

    def __init__(
        self,
        steps: Iterable[Step] = (),
        *,
        validators: Iterable[Validator] = (),
        models: Sequence[str] = ("scripted-model",),
        host: str = "127.0.0.1",
        port: int = 0,
        responder: Responder | None = None,
        count_tokens: bool = False,
    ) -> None:
        self._steps: deque[Step] = deque(steps)
        self.responder = responder
        self.count_tokens = count_tokens
        self.validators: list[Validator] = list(validators)
        self.models = list(models)
        self.requests: list[RecordedRequest] = []
        self.replies: list[tuple[RecordedRequest, Step]] = []
        self.rejections: list[tuple[RecordedRequest, str]] = []
        self.unexpected: list[RecordedRequest] = []
        self.on_reply: list[Callable[[RecordedRequest, Step], Awaitable[None] | None]] = []
        self._host = host
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._bind_port = port
        self._handlers: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------------------- lifecycle

    async def start(self) -> ScriptedServer:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client that hangs up cancels its stalled handler.
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, handler_cancellation=True, shutdown_timeout=0.1
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._bind_port)
        await site.start()
        address = self._runner.addresses[0]
        self._port = int(address[1])
        return self

    async def stop(self) -> None:
        for task in list(self._handlers):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ScriptedServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        assert self._port is not None, "the server is not started"
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no ``/v1``: profiles append it)."""
        return f"http://{self._host}:{self.port}"

    def url(self, path: str = "") -> str:
        return self.base_url + path

    # ---------------------------------------------------------------------------------- script

    def enqueue(self, *steps: Step) -> None:
        self._steps.extend(steps)

    @property
    def pending(self) -> int:
        """Steps not yet used."""
        return len(self._steps)

    def assert_done(self) -> None:
        """Every step was used and no request went unanswered by the script."""
        assert not self._steps, f"{len(self._steps)} scripted step(s) never requested"
        assert not self.unexpected, f"{len(self.unexpected)} request(s) arrived after the script ran out"

    # --------------------------------------------------------------------------------- handling

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            return await self._answer(request)
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        api = api_for_path(request.path)
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            raw=raw,
            body=body,
            api=api,
            query=dict(request.query),
            peer=_peer(request),
        )
        self.requests.append(recorded)
        if request.method == "POST" and api is not None:
            for validator in self.validators:
                problem = validator(recorded)
                if problem:
                    return self._reject(recorded, problem)
        if self.responder is not None:
            answer = self.responder(recorded)
            if answer is not None:
                return await self._answer_with(request, recorded, api or "openai-chat", answer)
        if request.method == "GET" and request.path.rstrip("/").endswith("/models"):
            return web.json_response(self._models_body())
        if self.count_tokens and request.method == "POST" and request.path.endswith("/messages/count_tokens"):
            # Roughly four bytes a token: apps only use the figure to decide when to compact.
            return web.json_response({"input_tokens": max(1, len(raw) // 4)})
        if request.method != "POST" or api is None:
            return web.json_response(
                error_body(
                    "openai-chat", 404, f"scripted server: no route for {request.method} {request.path}"
                ),
                status=404,
            )
        if not self._steps:
            self.unexpected.append(recorded)
            message = (
                f"scripted server: no scripted reply left for request #{len(self.requests)} ({request.path})"
            )
            return web.json_response(error_body(api, 500, message), status=500)
        step = self._steps.popleft()
        for validator in step.validate:
            problem = validator(recorded)
            if problem:
                return self._reject(recorded, problem)
        return await self._answer_with(request, recorded, api, step)

    async def _answer_with(
        self, request: web.Request, recorded: RecordedRequest, api: Api, step: Step
    ) -> web.StreamResponse:
        self.replies.append((recorded, step))
        for hook in self.on_reply:
            result = hook(recorded, step)
            if result is not None:
                await result
        return await self._play(request, api, step)

    def _reject(self, recorded: RecordedRequest, problem: str) -> web.Response:
        self.rejections.append((recorded, problem))
        assert recorded.api is not None
        return web.json_response(error_body(recorded.api, 400, problem, "invalid_request_error"), status=400)

    def _models_body(self) -> dict[str, Any]:
        # Both shapes at once: OpenAI reads "data[].id", Anthropic clients "data[].id" + "type".
        return {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "type": "model", "created": 0, "owned_by": "scripted"}
                for m in self.models
            ],
            "has_more": False,
        }

    async def _play(self, request: web.Request, api: Api, step: Step) -> web.StreamResponse:
        if step.delay:
            await asyncio.sleep(step.delay)
        if step.drop:
            _abort(request)
            return web.Response()  # never sent: the transport is gone
        headers = dict(step.headers)
        if step.events is None:
            body = step.body
            if isinstance(body, _ErrorSpec):
                body = error_body(body.api or api, body.status, body.message, body.error_type)
            raw = step.raw if step.raw is not None else json.dumps(body).encode()
            return web.Response(
                status=step.status,
                body=raw,
                headers=headers,
                content_type=step.content_type or "application/json",
            )
        response = web.StreamResponse(status=step.status, headers=headers)
        response.content_type = step.content_type or "text/event-stream"
        response.headers["Cache-Control"] = "no-cache"
        await response.prepare(request)
        if step.first_event_delay:
            await asyncio.sleep(step.first_event_delay)
        for count, item in enumerate(step.events):
            if step.cut_after is not None and count >= step.cut_after:
                _abort(request)
                return response
            if step.stall_after is not None and count >= step.stall_after:
                await asyncio.sleep(step.stall)
                _abort(request)
                return response
            if count and step.chunk_delay:
                await asyncio.sleep(step.chunk_delay)
            await response.write(_frame(item, named=api != "openai-chat"))
        if step.cut_after is not None and step.cut_after >= len(step.events):
            _abort(request)
            return response
        await response.write_eof()
        return response


def _peer(request: web.Request) -> tuple[str, int] | None:
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    return (str(peer[0]), int(peer[1])) if peer else None


def _frame(item: SSEItem, *, named: bool) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, tuple):
        event, data = item
        head = f"event: {event}\n" if event else ""
        return f"{head}data: {data}\n\n".encode()
    if isinstance(item, str):
        return f"data: {item}\n\n".encode()
    data = json.dumps(item)
    if named and "type" in item:
        return f"event: {item['type']}\ndata: {data}\n\n".encode()
    return f"data: {data}\n\n".encode()


def _abort(request: web.Request) -> None:
    """Close the connection now: what was written is delivered, then FIN — no terminating chunk, so
    the client sees a response that ended early (or, before the headers, no response at all)."""
    transport = request.transport
    if transport is not None:
        transport.close()
