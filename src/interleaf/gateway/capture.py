"""Capture: every complete reply sent to a client is stored whole, off the response path.

A handler only :meth:`CaptureQueue.submit`\\ s a job (a queue append, no I/O). One worker task *keys*
each job as it arrives — decodes the reply when it came as raw JSON and computes the key the client will
send it back under (:func:`~interleaf.store.fingerprint.turn_fingerprint`: the tool calls alone when
their ids are random, else bound to the conversation before it) — and *writes* what it keyed in batches,
one ``put_many`` per tenant every :data:`BATCH_WINDOW` seconds, so a busy gateway makes one store
round trip (and one SQLite thread hop) per batch rather than per reply. A full queue drops new jobs and
counts them; a store failure is counted and the batch dropped: the gateway never waits on, or fails
because of, a write.

Read-your-writes: a turn keyed but not yet written is served from memory (:meth:`CaptureQueue.recent`),
and a request of a tenant with replies not yet keyed waits for them (:meth:`CaptureQueue.settled`,
CPU-bound and bounded), so a fast agent loop's next turn finds the turn it just got without waiting for
a disk or network write.

That memory is one process's. On a store shared by replicas (``store.shared``: Redis) the next turn can
reach another replica the moment the client has the reply, so there :meth:`CaptureQueue.capture` waits
until the worker has written the reply before it is handed to the client (at most
:data:`WRITE_THROUGH_WAIT`; a slower write goes on behind). The worker then writes whatever is queued at
once instead of collecting for a window, so concurrent replies still share one round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from interleaf.gateway.config import ClientFormat
from interleaf.gateway.errors import GatewayError
from interleaf.gateway.formats import decode_request, decode_response, system_text
from interleaf.gateway.metrics import Metrics
from interleaf.store.fingerprint import fingerprint, has_distinctive_ids, turn_fingerprint
from interleaf.store.thinking import StoreError, ThinkingStore
from interleaf.transcript import Conversation, Message, Response
from interleaf.wire.errors import WireError

log = logging.getLogger("interleaf.gateway")

SETTLE_TIMEOUT = 0.5
"""How long a request waits for its tenant's unkeyed replies before looking up without them."""
BATCH_WINDOW = 0.01
"""Seconds the worker collects keyed replies before writing them in one batch."""
_BATCH = 64
WRITE_THROUGH_WAIT = 0.25
"""Seconds a reply waits for its write to a shared store before it is sent anyway."""
_SLICE = 0.002  # seconds of keying between two yields to the event loop


@dataclass(slots=True)
class CaptureJob:
    """One reply to store: ``reply``, or ``reply_raw`` (the upstream's JSON bytes, decoded by the
    worker); the request as ``conversation`` or as the client's raw ``request`` bytes, decoded only when
    the key needs the context. Raw bytes, not parsed dicts: a queued job should weigh a few KB."""

    tenant: str
    fmt: ClientFormat
    upstream_api: str
    request: bytes
    conversation: Conversation | None = None
    reply: Response | None = None
    reply_raw: bytes | None = None
    written: asyncio.Future[None] | None = None
    """Resolved once the job is written or dropped; set when the response waits for that."""


@dataclass(slots=True)
class _Batch:
    taken: int = 0
    keyed: dict[str, dict[str, Message]] = field(default_factory=lambda: defaultdict(dict))
    waiting: list[asyncio.Future[None]] = field(default_factory=list)
    """Responses held until this batch is written (a shared store)."""


class CaptureQueue:
    """The queue of replies to store and its worker."""

    def __init__(
        self,
        store: ThinkingStore,
        metrics: Metrics,
        *,
        maxsize: int,
        ttl: float,
        window: float = BATCH_WINDOW,
        write_through: bool | None = None,
    ) -> None:
        self._store = store
        self.write_through = store.shared if write_through is None else write_through
        """Each reply is written before the client gets it (a shared store), not behind."""
        self._metrics = metrics
        self._ttl = ttl
        self._window = 0.0 if self.write_through else window
        self._queue: asyncio.Queue[CaptureJob] = asyncio.Queue(maxsize)
        self._unkeyed: dict[str, int] = defaultdict(int)
        self._waiters: dict[str, list[asyncio.Future[None]]] = defaultdict(list)
        self._recent: dict[tuple[str, str], Message] = {}
        self._worker: asyncio.Task[None] | None = None
        self._writing: asyncio.Task[None] | None = None
        self._last_warning = 0.0

    def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name="interleaf-capture")

    async def capture(self, job: CaptureJob) -> None:
        """Store ``job``: queued (:meth:`submit`), and with :attr:`write_through` returns only once it is
        written, failed, or took over :data:`WRITE_THROUGH_WAIT`."""
        if not self.write_through:
            self.submit(job)
            return
        job.written = asyncio.get_running_loop().create_future()
        if self.submit(job):
            with contextlib.suppress(TimeoutError):
                # shield: a client gone meanwhile must not cancel the future the worker resolves
                await asyncio.wait_for(asyncio.shield(job.written), WRITE_THROUGH_WAIT)

    def submit(self, job: CaptureJob) -> bool:
        """Queue ``job``; never blocks (a full queue drops it, counted, and says False)."""
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self._metrics.capture_dropped.inc("queue_full")
            return False
        self._unkeyed[job.tenant] += 1
        return True

    async def settled(self, tenant: str, timeout: float = SETTLE_TIMEOUT) -> None:
        """Return once every reply of ``tenant`` submitted so far is keyed (or after ``timeout``)."""
        if not self._unkeyed.get(tenant):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[tenant].append(future)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(future), timeout)

    def recent(self, tenant: str, keys: Iterable[str]) -> dict[str, Message]:
        """Keyed replies of ``tenant`` not yet written to the store, among ``keys``."""
        if not self._recent:
            return {}
        return {key: message for key in keys if (message := self._recent.get((tenant, key))) is not None}

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until every job submitted so far is stored or dropped."""
        await asyncio.wait_for(self._queue.join(), timeout)

    async def aclose(self, timeout: float = 5.0) -> None:
        """Store what is queued (up to ``timeout`` seconds), then stop the worker."""
        if self._worker is None:
            return
        with contextlib.suppress(TimeoutError):
            await self.drain(timeout)
        for task in (self._worker, self._writing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._worker = self._writing = None

    # --------------------------------------------------------------------------------- the worker

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job = await self._queue.get()
            batch = _Batch()
            deadline = loop.time() + self._window
            slice_end = loop.time() + _SLICE
            while True:
                batch.taken += 1
                self._key(job, batch)
                if loop.time() > slice_end:  # keying is CPU work: let requests in now and then
                    await asyncio.sleep(0)
                    slice_end = loop.time() + _SLICE
                if batch.taken >= _BATCH:
                    break
                try:
                    job = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        async with asyncio.timeout(remaining):
                            job = await self._queue.get()
                    except TimeoutError:
                        break
            if self._writing is not None:
                await self._writing  # one write at a time, in order
            # The write runs while the next batch is keyed.
            self._writing = asyncio.create_task(self._write(batch))

    def _key(self, job: CaptureJob, batch: _Batch) -> None:
        if job.written is not None:
            batch.waiting.append(job.written)
        try:
            message, key = keyed_reply(job)
        except (WireError, GatewayError, ValueError) as exc:
            self._metrics.capture_dropped.inc("unreadable")
            log.debug("reply not stored: it could not be read (%s)", type(exc).__name__)
        else:
            batch.keyed[job.tenant][key] = message
            self._recent[(job.tenant, key)] = message
        finally:
            self._keyed(job.tenant)

    def _keyed(self, tenant: str) -> None:
        left = self._unkeyed[tenant] - 1
        if left > 0:
            self._unkeyed[tenant] = left
            return
        self._unkeyed.pop(tenant, None)
        for future in self._waiters.pop(tenant, ()):
            if not future.done():
                future.set_result(None)

    async def _write(self, batch: _Batch) -> None:
        try:
            for tenant, messages in batch.keyed.items():
                try:
                    await self._store.put_many(tenant, messages, ttl_seconds=self._ttl)
                except StoreError as exc:
                    self._metrics.store_errors.inc("put")
                    self._warn(f"thinking store write failed; {len(messages)} turn(s) not stored: {exc}")
                else:
                    self._metrics.stored.inc(amount=len(messages))
        finally:
            for tenant, messages in batch.keyed.items():
                for key, message in messages.items():
                    if self._recent.get((tenant, key)) is message:
                        del self._recent[(tenant, key)]
            for _ in range(batch.taken):
                self._queue.task_done()
            for future in batch.waiting:
                if not future.done():
                    future.set_result(None)

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warning > 10.0:  # an outage would otherwise log once per reply
            self._last_warning = now
            log.warning(message)


def keyed_reply(job: CaptureJob) -> tuple[Message, str]:
    """The message to store and its key: what the client will send back, as
    :func:`~interleaf.gateway.restore.restore` will look it up."""
    reply = job.reply
    if reply is None:
        reply = decode_response(job.upstream_api, json.loads(job.reply_raw or b"null"))
    message = reply.message
    if has_distinctive_ids(message):
        return message, fingerprint(message)
    conversation = job.conversation or decode_request(job.fmt, json.loads(job.request))
    messages = [*conversation.messages, message]
    return message, turn_fingerprint(messages, len(messages) - 1, system=system_text(conversation))
