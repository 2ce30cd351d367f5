"""``--ray``: each trial as a Ray task, on a local Ray runtime (``--ray``) or a cluster (``--ray ADDRESS``).

A worker opens the endpoint itself from the run's :class:`~interleaf.eval.backend.BackendSpec` (the
embedded model's URL is filled in by the driver, so workers share the driver's server) and runs the
trial exactly as the in-process runner does: same seeds, same agent, same grader, so a deterministic
model gives identical per-trial outcomes either way. Workers write transcripts into the run
directory's session store, so on a multi-machine cluster ``--out`` must be on a shared filesystem.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from interleaf.eval.backend import Backend, BackendSpec
from interleaf.eval.results import GATEWAY_DB, TrialRecord
from interleaf.eval.trial import TrialSpec, run_trial

LOCAL_OBJECT_STORE = 256 * 1024 * 1024


class RayUnavailableError(RuntimeError):
    """Ray is not installed or the cluster cannot be reached."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayUnavailableError(
            "--ray needs Ray: pip install 'interleaf[eval]' (or pip install 'ray>=2.9')"
        ) from None
    return ray


def run_trial_in_worker(spec: TrialSpec, backend: BackendSpec, run_dir: str) -> dict[str, Any]:
    """The Ray task body: open the endpoint for this trial's condition, run it, return the record."""
    from interleaf.eval.suites import get_suite

    async def main() -> TrialRecord:
        suite = get_suite(spec.suite)
        directory = Path(run_dir)
        async with Backend(backend, [spec.condition], directory / GATEWAY_DB, start_local=False) as source:
            return await run_trial(spec, suite, source, directory)

    return asyncio.run(main()).to_json()


async def run_on_ray(
    specs: Sequence[TrialSpec], backend: BackendSpec, run_dir: Path, address: str, concurrency: int
) -> AsyncIterator[TrialRecord]:
    """Submit ``specs`` as Ray tasks (at most ``concurrency`` in flight) and yield records as they end."""
    ray = _import_ray()
    started_here = False
    if not ray.is_initialized():
        try:
            if address == "local":
                # Trial results are small: a small object store keeps Ray's shared memory use modest.
                ray.init(
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                    object_store_memory=LOCAL_OBJECT_STORE,
                )
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        except Exception as exc:
            raise RayUnavailableError(f"could not start or reach Ray at {address!r}: {exc}") from None
        started_here = True
    # Trials wait on the model almost all the time: a fraction of a CPU each lets --concurrency decide.
    remote = ray.remote(num_cpus=0.25, max_retries=0)(run_trial_in_worker)
    queue = list(reversed(specs))
    in_flight: list[Any] = []
    try:
        while queue or in_flight:
            while queue and len(in_flight) < concurrency:
                in_flight.append(remote.remote(queue.pop(), backend, str(run_dir)))
            done, in_flight = await asyncio.to_thread(ray.wait, in_flight, num_returns=1)
            for ref in done:
                data = await asyncio.to_thread(ray.get, ref)
                yield TrialRecord.from_json(data)
    finally:
        for ref in in_flight:
            ray.cancel(ref, force=True)
        if started_here:
            await asyncio.to_thread(ray.shutdown)
