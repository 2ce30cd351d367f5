"""Capture: every complete reply the gateway hands to a client is stored whole, and restorable from the
moment the client has seen its end.

When a reply is complete (a whole body read, or a stream's end marker), :meth:`CaptureQueue.capture`
*keys* it at once - computes the key the client will send it back under
(:func:`~interleaf.store.fingerprint.turn_fingerprint`: the tool calls alone when their ids are random,
else bound to the conversation before it) - and puts it in this process's map of replies not yet
written (:meth:`CaptureQueue.recent`), which restoration reads before the store. The client's next turn
finds it whatever the store is doing. A writer task then writes what is pending in batches: one
``put_many`` per tenant (with the served markers) once :data:`BATCH_FILL` replies are pending or
:data:`BATCH_WINDOW` seconds have passed.

On a store shared by replicas (``store.shared``: Redis), or with ``durable``, :meth:`capture` returns only
once the reply is written, and the event that ends a stream is held until then
(:mod:`interleaf.gateway.relay`): the next turn may reach another replica, or the machine may fail, the
moment the client has the reply. The writer then writes whatever is pending at once, without a window,
so concurrent replies still share one round trip. A write that fails is retried (a store slowed by load
recovers within moments) for up to :data:`WRITE_THROUGH_WAIT` seconds; after that a shared store's reply
goes out anyway (this replica still restores it; another one, unable to read the store either, refuses
the next turn with a 503 rather than forward it bare), while a ``durable`` reply, whose promise is
broken, becomes a 503 for the client to retry.

Failures are never silent and never stop capture:

* a reply that cannot be keyed (unreadable, over a limit, a bug) is counted in
  ``interleaf_capture_errors_total{reason}`` and logged once a minute per reason, without content;
* a failed write is retried with backoff while the replies stay in memory (this process still restores
  them), up to ``max_pending`` replies and ``max_pending_bytes`` of them; beyond either the oldest are
  dropped, counted (``store_unavailable``) and remembered as lost, so their turns count as missing, not
  foreign;
* the writer task is supervised: if it ever dies it is logged, counted (``worker``) and restarted.

:meth:`CaptureQueue.health` says what is wrong for ``/healthz``. :meth:`CaptureQueue.wait_for_room`
tells the gateway to refuse new work while writes fall behind a healthy store (pending past half of
``max_pending``, or of ``max_pending_bytes``) for longer than :data:`ROOM_WAIT`: load is shed loudly,
with a 503, rather than replies dropped, and a writer held up for a moment only slows new requests down.

Both bounds count: replies, because each costs the writer a row whatever its size; bytes (about: the
text a reply holds, :func:`held_bytes`), because replies range from a few hundred bytes to megabytes of
thinking, and memory and the writer's compressing grow with their size. 4,096 replies of 50 KB waiting
under sustained overload held 200 MB before the byte bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from interleaf.gateway.config import DEFAULT_CAPTURE_BACKLOG_BYTES, ClientFormat
from interleaf.gateway.errors import GatewayError
from interleaf.gateway.formats import (
    decode_reply_message,
    decode_request,
    reply_tool_calls,
    system_text,
)
from interleaf.gateway.jsonio import json_bytes, loads
from interleaf.gateway.limits import LimitExceeded, check_conversation
from interleaf.gateway.metrics import Metrics
from interleaf.store.fingerprint import (
    calls_fingerprint,
    distinct_fingerprint,
    first_system_text,
    has_distinctive_ids,
    text_fingerprint,
    turn_fingerprint,
)
from interleaf.store.thinking import (
    RawReply,
    Stored,
    StoreError,
    StoreTimeoutError,
    ThinkingStore,
    as_message,
)
from interleaf.transcript import (
    Conversation,
    Image,
    Message,
    Opaque,
    RedactedThinking,
    Response,
    Text,
    Thinking,
    ToolCall,
)
from interleaf.wire.errors import WireError

log = logging.getLogger("interleaf.gateway")

BATCH_WINDOW = 0.1
"""Seconds the writer waits for a batch to fill (:data:`BATCH_FILL` replies) before it writes what it has
(a store private to this process). A bigger batch is cheaper per reply: new keys land at random places
in the store's index, and one transaction writes each index page it touches once, however many keys it
gained (benchmarks/bench_thinking_store.py measures a turn's cost in small batches and in big ones). A
reply reaches the store at most this late; until then this process restores it from memory."""
BATCH_FILL = 256
"""Replies pending at which the writer stops waiting for more (:data:`BATCH_WINDOW`)."""
BATCH_BEHIND = 2048
"""Replies per write at most when writes trail the replies (a store private to this process)."""
BATCH_THROUGH = 256
"""Replies per write when each waits for its own (:attr:`CaptureQueue.write_through`): the reply that
opens a batch waits for all of it."""
BATCH_BYTES = 8 * 1024 * 1024
"""A batch also ends once it holds this much (:func:`held_bytes`), whatever its count: a batch being
written is no longer in the backlog that ``max_pending_bytes`` bounds, and the store holds an encoded copy
of it meanwhile. 2,048 replies of 2 KB stay under it; 2,048 of 50 KB would hold 100 MB."""
_RETRY_FIRST, _RETRY_MAX = 0.05, 2.0  # seconds between write attempts while the store fails
ROOM_WAIT = 1.0
"""Seconds a new request waits for a backlog of writes to shrink before it is refused with a 503."""
WRITE_THROUGH_WAIT = 5.0
"""Seconds a reply that must be written first waits for its write (retried meanwhile)."""
HELD_OVERHEAD = 512
"""Bytes counted for each reply on top of its text: its keys, the objects that hold it."""
_LOST_REMEMBERED = 100_000
_RECENT_ERRORS = 60.0  # seconds an error keeps /healthz degraded
_INPUT_REASONS = frozenset({"unreadable", "limits", "too_deep"})  # the reply's content, not the gateway


@dataclass(slots=True)
class CaptureJob:
    """One reply to store: ``reply``, or ``reply_data`` (the upstream's JSON, already parsed by the
    forwarder, decoded into a reply here); the request as ``conversation``, or as the client's raw
    ``request`` bytes, decoded only when the key needs the context."""

    tenant: str
    fmt: ClientFormat
    upstream_api: str
    request: bytes
    conversation: Conversation | None = None
    reply: Response | None = None
    reply_data: Any = None
    reply_body: bytes | None = None
    """The upstream's body that ``reply_data`` was parsed from, when it is the whole reply: stored as it
    came (:class:`~interleaf.store.thinking.RawReply`), which spares re-encoding its message."""


@dataclass(slots=True)
class _Pending:
    tenant: str
    key: str
    message: Stored
    number: int
    """Capture order: :meth:`CaptureQueue.drain` waits for every number up to the last one captured."""
    size: int
    """What the reply holds (:func:`held_bytes`), on its main key's entry only: its other keys share it."""
    written: asyncio.Future[bool] | None = None
    """Resolved (True: written) when a response waits for the write."""


class CaptureQueue:
    """Replies keyed at once, held in memory until written, and the supervised writer that writes them."""

    def __init__(
        self,
        store: ThinkingStore,
        metrics: Metrics,
        *,
        max_pending: int,
        max_pending_bytes: int = DEFAULT_CAPTURE_BACKLOG_BYTES,
        ttl: float,
        window: float = BATCH_WINDOW,
        write_through: bool | None = None,
        durable: bool = False,
        text_keys: bool = True,
    ) -> None:
        self._store = store
        self.text_keys = text_keys
        """Also key long text-only replies by their text (:func:`~interleaf.store.fingerprint.text_fingerprint`)."""
        self.durable = durable
        self.write_through = durable or (store.shared if write_through is None else write_through)
        """Each reply is written before the client has it (a shared or durable store), not behind."""
        self._metrics = metrics
        self._ttl = ttl
        self._window = 0.0 if self.write_through else window
        self._batch = BATCH_THROUGH if self.write_through else BATCH_BEHIND
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self._pending: deque[_Pending] = deque()
        self._pending_bytes = 0
        self._recent: dict[tuple[str, str], Stored] = {}
        self._lost: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._wake = asyncio.Event()
        self._filling = False
        """The writer is waiting for a batch to fill (:meth:`_fill`)."""
        self._progress = asyncio.Event()
        self._captured = 0
        self._attempted = 0
        self._worker: asyncio.Task[None] | None = None
        self._writing = False
        self._store_failing: str | None = None
        self._store_down = False
        """The last write failed for good (unreachable, refused), not just slowly (a timeout)."""
        self._errors: deque[tuple[float, str]] = deque(maxlen=256)
        self._logged: dict[str, float] = {}

    # ---------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self._worker = asyncio.create_task(self._supervise(), name="interleaf-capture")

    async def aclose(self, timeout: float = 5.0) -> None:
        """Write what is pending (up to ``timeout`` seconds), then stop the writer."""
        if self._worker is None:
            return
        with contextlib.suppress(TimeoutError):
            await self.drain(timeout, written=True)
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._worker = None
        if self._pending:
            log.warning("stopping with %d replies not stored (the store is failing)", len(self._pending))
        for entry in self._pending:  # never leave a response waiting
            _resolve(entry.written, False)

    async def drain(self, timeout: float | None = None, *, written: bool = False) -> None:
        """Wait until the writer has tried to write every reply captured so far (a failed write stays
        pending, retried); with ``written``, until nothing is pending at all."""
        target = self._captured
        async with asyncio.timeout(timeout):
            while (self._pending or self._writing) if written else self._attempted < target:
                self._progress.clear()
                await self._progress.wait()

    # ------------------------------------------------------------------------------------ capture

    async def capture(self, job: CaptureJob) -> bool:
        """Key ``job`` now and hold it for the writer; with :attr:`write_through`, wait until it is
        written (at most :data:`WRITE_THROUGH_WAIT`). False only when a ``durable`` reply could not be
        written: the caller must not hand it out as durable. Never raises: a reply that cannot be keyed
        is counted (and True: there is nothing to restore)."""
        try:
            stored, keys = keyed_reply(job, text_keys=self.text_keys)
        except Exception as exc:  # one bad reply must never stop capture of the next
            self.error(_reason(exc), exc)
            return True
        entry: _Pending | None = None
        for key in keys:  # the main key first: a response waiting for the write waits for that one
            self._captured += 1
            held = _Pending(job.tenant, key, stored, self._captured, 0)
            if entry is None:
                entry = held
                entry.size = held_bytes(stored)
                self._pending_bytes += entry.size
                if self.write_through:
                    entry.written = asyncio.get_running_loop().create_future()
            self._recent[(job.tenant, key)] = stored
            self._lost.pop((job.tenant, key), None)
            self._pending.append(held)
        if not self._filling or len(self._pending) >= BATCH_FILL:
            self._wake.set()
        assert entry is not None
        if entry.written is None:
            return True
        if self._store_down:  # a write cannot land now: do not make the client wait for it
            self.error("unwritten")
            return not self.durable
        try:
            # shield: a client gone meanwhile must not cancel the future the writer resolves
            written = await asyncio.wait_for(asyncio.shield(entry.written), WRITE_THROUGH_WAIT)
        except TimeoutError:
            written = False
        if not written:
            self.error("unwritten")  # still pending, still retried; this replica still restores it
            return not self.durable
        return True

    def recent(self, tenant: str, keys: Iterable[str]) -> dict[str, Message]:
        """Replies of ``tenant`` captured by this process and not yet written, among ``keys``."""
        if not self._recent:
            return {}
        return {
            key: as_message(stored) for key in keys if (stored := self._recent.get((tenant, key))) is not None
        }

    def lost(self, tenant: str, keys: Iterable[str]) -> set[str]:
        """Among ``keys``, replies this process captured but could not write (dropped while the store
        failed): their turns are missing, not foreign."""
        if not self._lost:
            return set()
        return {key for key in keys if (tenant, key) in self._lost}

    # ------------------------------------------------------------------------------ health, load

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def pending_bytes(self) -> int:
        """About what the replies waiting to be written hold (:func:`held_bytes`)."""
        return self._pending_bytes

    def _behind(self) -> bool:
        return (
            len(self._pending) >= self.max_pending // 2 or self._pending_bytes >= self.max_pending_bytes // 2
        )

    def overloaded(self) -> str | None:
        """Why new work should be refused now, or ``None``: writes falling behind a healthy store."""
        if self._store_failing is None and self._behind():
            return f"{len(self._pending)} replies ({_mib(self._pending_bytes)}) are waiting to be stored"
        return None

    async def wait_for_room(self, timeout: float = ROOM_WAIT) -> str | None:
        """:meth:`overloaded` after waiting up to ``timeout`` seconds for the writer to bring the
        backlog back under the limit: a writer held up for a moment (a slow checkpoint on a busy disk)
        slows new requests down instead of refusing them; one that stays behind still gets them
        refused."""
        if self.overloaded() is None:
            return None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self.overloaded() is not None:
                    self._progress.clear()
                    await self._progress.wait()
        return self.overloaded()

    def health(self) -> list[str]:
        """What is wrong with capture now (empty when nothing is)."""
        problems: list[str] = []
        if self._store_failing is not None:
            problems.append(f"store writes failing: {self._store_failing}")
        if self._behind():
            problems.append(
                f"capture backlog {len(self._pending)} of {self.max_pending} replies,"
                f" {_mib(self._pending_bytes)} of {_mib(self.max_pending_bytes)}"
            )
        if self._worker is None or self._worker.done():
            problems.append("capture writer not running")
        since = time.monotonic() - _RECENT_ERRORS
        recent = sorted({r for t, r in self._errors if t > since and r not in _INPUT_REASONS})
        if recent:
            problems.append(f"capture errors in the last minute: {', '.join(recent)}")
        return problems

    def error(self, reason: str, exc: BaseException | None = None) -> None:
        """Count a reply not stored for ``reason`` and log it once a minute per reason, never its content."""
        self._metrics.capture_errors.inc(reason)
        now = time.monotonic()
        self._errors.append((now, reason))
        if now - self._logged.get(reason, -_RECENT_ERRORS) < _RECENT_ERRORS:
            return
        self._logged[reason] = now
        where = ""
        if exc is not None and exc.__traceback__ is not None:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
        kind = f" ({type(exc).__name__}{where})" if exc is not None else ""
        level = logging.DEBUG if reason in _INPUT_REASONS else logging.WARNING
        log.log(
            level, "a reply was not stored: %s%s; counted in interleaf_capture_errors_total", reason, kind
        )

    # ------------------------------------------------------------------------------------- writer

    async def _supervise(self) -> None:
        while True:
            try:
                await self._write_loop()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in the writer: keep capturing, say so loudly
                self.error("worker", exc)
                log.exception("the capture writer failed; restarting it")
                await asyncio.sleep(_RETRY_FIRST)

    async def _write_loop(self) -> None:
        delay = _RETRY_FIRST
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            if self._window and len(self._pending) < BATCH_FILL:
                await self._fill()
            batch = self._next_batch()
            if not batch:
                continue
            self._writing = True
            try:
                failed = await self._write(batch)
            finally:
                self._writing = False
                self._attempted = max(self._attempted, max(e.number for e in batch))
                self._progress.set()
            # Dropped before the next wait: an idle writer must not hold its last batch (up to 2,048
            # replies) alive, nor keep the memory they sit in from being handed back.
            del batch
            if not failed:
                delay = _RETRY_FIRST
                continue
            self._pending.extendleft(reversed(failed))
            self._pending_bytes += sum(entry.size for entry in failed)
            self._shed()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)

    async def _fill(self) -> None:
        """Wait up to the window for :data:`BATCH_FILL` replies (:meth:`capture` wakes the writer only
        when they are there, not for each reply)."""
        self._filling = True
        self._wake.clear()
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._window):
                    await self._wake.wait()
        finally:
            self._filling = False

    def _next_batch(self) -> list[_Pending]:
        """Take the oldest pending replies: up to the batch's count, or until they hold
        :data:`BATCH_BYTES` (at least one)."""
        batch: list[_Pending] = []
        held = 0
        while self._pending and len(batch) < self._batch and held < BATCH_BYTES:
            entry = self._pending.popleft()
            held += entry.size
            batch.append(entry)
        self._pending_bytes -= held
        return batch

    async def _write(self, batch: list[_Pending]) -> list[_Pending]:
        """Write ``batch`` in one round trip (``put_groups``); returns it when the write failed."""
        groups: dict[str, dict[str, Stored]] = {}
        for entry in batch:  # a key captured twice: the later reply
            groups.setdefault(entry.tenant, {})[entry.key] = entry.message
        try:
            await self._store.put_groups(groups, ttl_seconds=self._ttl)
        except StoreError as exc:
            self._metrics.store_errors.inc("put")
            if self._store_failing is None:
                log.warning("thinking store write failed; replies kept in memory and retried: %s", exc)
            self._store_failing = str(exc)
            self._store_down = not isinstance(exc, StoreTimeoutError)
            if self._store_down:  # responses waiting for these writes stop waiting
                for entry in batch:
                    _resolve(entry.written, False)
            # Retried and kept in memory meanwhile; an entry superseded by a later capture of its key
            # goes with that one.
            return [e for e in batch if self._recent.get((e.tenant, e.key)) is e.message]
        if self._store_failing is not None:
            log.warning("thinking store writes work again")
            self._store_failing = None
            self._store_down = False
        self._metrics.stored.inc(amount=sum(len(g) for g in groups.values()))
        for entry in batch:
            if self._recent.get((entry.tenant, entry.key)) is entry.message:
                del self._recent[(entry.tenant, entry.key)]
            _resolve(entry.written, True)
        return []

    def _shed(self) -> None:
        """Past ``max_pending`` or ``max_pending_bytes`` while the store fails: drop the oldest,
        remembered as lost."""
        while self._pending and (
            len(self._pending) > self.max_pending or self._pending_bytes > self.max_pending_bytes
        ):
            entry = self._pending.popleft()
            self._pending_bytes -= entry.size
            _resolve(entry.written, False)
            if self._recent.get((entry.tenant, entry.key)) is entry.message:
                del self._recent[(entry.tenant, entry.key)]
            self._lost[(entry.tenant, entry.key)] = None
            if len(self._lost) > _LOST_REMEMBERED:
                self._lost.popitem(last=False)
            self.error("store_unavailable")


def held_bytes(stored: Stored) -> int:
    """About how much memory ``stored`` holds while it waits to be written: a relayed body's length, or
    the text of a message (thinking, signatures, text, tool arguments), plus :data:`HELD_OVERHEAD`.
    Counting a message's text costs a pass over its blocks, not an encoding."""
    if isinstance(stored, RawReply):
        return len(stored.body) + HELD_OVERHEAD
    size = HELD_OVERHEAD
    for block in stored.blocks:
        if isinstance(block, Thinking | Text):
            size += len(block.text)
            if isinstance(block, Thinking) and block.signature:
                size += len(block.signature)
        elif isinstance(block, RedactedThinking):
            size += len(block.data)
        elif isinstance(block, ToolCall):
            size += len(block.name) + (
                len(block.raw_arguments)
                if block.raw_arguments is not None
                else len(json_bytes(block.arguments))
            )
        elif isinstance(block, Image):
            size += len(block.data or "") + len(block.url or "")
        elif isinstance(block, Opaque):
            size += len(json_bytes(block.data))
    return size


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _resolve(future: asyncio.Future[bool] | None, value: bool) -> None:
    if future is not None and not future.done():
        future.set_result(value)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, LimitExceeded):
        return "limits"
    if isinstance(exc, RecursionError):
        return "too_deep"
    if isinstance(exc, WireError | GatewayError | ValueError):  # json's errors are ValueErrors
        return "unreadable"
    return "internal"


def keyed_reply(job: CaptureJob, *, text_keys: bool = True) -> tuple[Stored, tuple[str, ...]]:
    """What to store of the reply (its body as it came, or its message) and its keys: what the client
    will send back, as :func:`~interleaf.gateway.restore.restore` will look it up (the main key, then,
    with ``text_keys`` and a long text-only reply, its text key)."""
    if job.reply is not None:
        message = job.reply.message
    else:
        if job.reply_body is not None:
            # A reply relayed whole is stored as its body: a turn with distinctive ids needs no
            # message at all, only its calls read off the wire.
            calls = reply_tool_calls(job.upstream_api, job.reply_data)
            if calls is not None and (key := distinct_fingerprint(calls)) is not None:
                return RawReply(job.upstream_api, job.reply_body), (key,)
        message = decode_reply_message(job.upstream_api, job.reply_data)
    stored: Stored = message if job.reply_body is None else RawReply(job.upstream_api, job.reply_body)
    if has_distinctive_ids(message):
        return stored, (calls_fingerprint(message),)
    conversation = job.conversation
    if conversation is None:
        conversation = decode_request(job.fmt, loads(job.request))
        check_conversation(conversation)
    messages = [*conversation.messages, message]
    system = system_text(conversation)
    key = turn_fingerprint(messages, len(messages) - 1, system=system)
    text_key = text_fingerprint(message, system=first_system_text(system, messages)) if text_keys else None
    return stored, (key,) if text_key is None else (key, text_key)
