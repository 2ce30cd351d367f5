"""``--ray``: trials as Ray tasks on a local Ray runtime give the same per-trial results as in-process.

Never skipped: ``make test`` installs the ``eval`` extra (Ray); without it the run fails with the install
hint. The scripted model is deterministic (its choices follow the per-trial seed), so every outcome,
step count and token count must match trial by trial; only session ids and timings may differ.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from interleaf.eval.results import TrialRecord
from interleaf.eval.runner import run_eval
from interleaf.eval.scripted import needle_policy
from tests.fixtures.eval.endpoint import run_config, scripted_endpoint


def _view(records: list[TrialRecord]) -> dict[str, tuple[object, ...]]:
    return {
        r.key: (
            r.outcome,
            r.detail,
            r.seed,
            r.statuses,
            r.metrics.steps,
            r.metrics.requests,
            r.metrics.input_tokens,
            r.metrics.output_tokens,
            r.metrics.thinking_tokens,
            r.grade_info.get("secret"),
        )
        for r in records
    }


@pytest.mark.timeout(240)
async def test_a_run_on_local_ray_matches_the_in_process_run_trial_by_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERLEAF_HOME", str(tmp_path / "home"))
    options = {"lengths": "1k", "hops": "1-2", "per_cell": "2"}
    conditions = ["keep", "drop", "restored"]
    async with scripted_endpoint(needle_policy) as server:
        local = await run_eval(
            run_config(server, "needle", tmp_path / "local", conditions=conditions, options=options)
        )
        on_ray = await run_eval(
            run_config(
                server, "needle", tmp_path / "ray", conditions=conditions, options=options, ray="local"
            )
        )
    assert len(local.records) == len(on_ray.records) == 12
    assert _view(local.records) == _view(on_ray.records)
    # The drop trials really differ from keep, so the comparison is not between identical trivia.
    assert {r.outcome for r in on_ray.records if r.condition == "keep"} == {"pass"}
    assert any(r.outcome == "fail" for r in on_ray.records if r.condition == "drop")
    # Ray's workers wrote their transcripts into the run's own session store.
    assert all(r.session_id for r in on_ray.records)
