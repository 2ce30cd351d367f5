"""Where the per-row stages run: in this process (a process pool for CPU work) or on Ray Data.

A stage is a function from one Arrow table (a batch of rows) to another, built from module-level
functions and picklable settings, so the same function runs in a worker process, in a Ray task or
inline. Batches are cut the same way for every engine and the stages are deterministic per row, so
the output does not depend on the engine; callers sort by id where order matters.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol

import pyarrow as pa

from interleaf.data.errors import EngineError

Stage = Callable[[pa.Table], pa.Table]

BATCH_ROWS = 256
INLINE_BELOW = 512
"""Fewer rows than this run inline: starting worker processes would cost more than it saves."""


def batches(table: pa.Table, size: int = BATCH_ROWS) -> list[pa.Table]:
    return [table.slice(offset, size) for offset in range(0, table.num_rows, size)]


class Engine(Protocol):
    name: str

    def map(self, stage: Stage, tables: Sequence[pa.Table]) -> Iterator[pa.Table]:
        """``stage`` applied to every batch of ``tables``; results in input order."""
        ...

    def close(self) -> None: ...


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


class LocalEngine:
    """In-process: inline for small inputs, else a pool of ``workers`` processes."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self._pool: ProcessPoolExecutor | None = None

    def map(self, stage: Stage, tables: Sequence[pa.Table]) -> Iterator[pa.Table]:
        work = [batch for table in tables for batch in batches(table)]
        rows = sum(batch.num_rows for batch in work)
        if self.workers <= 1 or rows < INLINE_BELOW:
            for batch in work:
                yield stage(batch)
            return
        if self._pool is None:
            # forkserver: no fork of a process that may hold threads (the embedded model, aiohttp).
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("forkserver")
            )
        yield from self._pool.map(stage, work)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


class RayEngine:
    """Ray Data: the batches become a dataset, ``map_batches`` runs the stage on the cluster.

    ``address`` is a Ray cluster (``ray://host:10001`` or ``host:6379``); ``None`` starts a local
    Ray runtime for this process, stopped at :meth:`close`.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise EngineError("--ray needs Ray Data: pip install 'interleaf[ray]' (or 'ray[data]')") from None
        self._ray: Any = ray
        self._started = False
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address is None:
                options["num_cpus"] = num_cpus or default_workers()
            try:
                ray.init(address=address, **options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = address or "a local Ray runtime"
                raise EngineError(
                    f"cannot start or reach Ray at {where}: {str(exc).splitlines()[0]}"
                ) from None
            self._started = True
        import ray.data

        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False

    def map(self, stage: Stage, tables: Sequence[pa.Table]) -> Iterator[pa.Table]:
        work = [batch for table in tables for batch in batches(table)]
        if not work:
            return
        import ray.data

        dataset = ray.data.from_arrow(work).map_batches(
            stage, batch_format="pyarrow", batch_size=None, zero_copy_batch=True
        )
        for reference in dataset.to_arrow_refs():
            yield self._ray.get(reference)

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False


def make_engine(*, ray: bool = False, address: str | None = None, workers: int | None = None) -> Engine:
    if ray or address is not None:
        return RayEngine(address, num_cpus=workers)
    return LocalEngine(workers)
