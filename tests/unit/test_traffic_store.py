"""Recorded gateway traffic: what the gateway's recorder writes is what the viewer's reader reads, the file
is private and bounded, and recording never blocks or raises."""

from __future__ import annotations

import json
import random
import sqlite3
import stat
import time
import zlib
from pathlib import Path

import pytest

from interleaf.data.errors import RowError
from interleaf.data.sources import read_source
from interleaf.store.codec import ZSTD_MAGIC
from interleaf.store.traffic import TrafficRecorder, app_label
from interleaf.view.traffic import TrafficReader, TrafficUnreadable

CLIENT = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
UPSTREAM = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}], "x": 1}).encode()


def record(
    recorder: TrafficRecorder, n: int, *, app: str = "claude-cli/2.0.1", at: float = 1_800_000_000.0
) -> list[bool]:
    """Record ``n`` requests; whether each was queued."""
    queued: list[bool] = []
    for i in range(n):
        queued.append(
            recorder.record(
                request_id=f"req_{i}",
                started_at=at + i,
                user_agent=app,
                client_format="anthropic",
                upstream_format="openai-chat",
                client_body=CLIENT + b" " * i,
                upstream_body=UPSTREAM,
                status=200,
                restored=(1, 3),
                missing=(5,),
                foreign=(),
                turns=3,
                duration=0.25,
                endpoint="/v1/messages",
                model="m",
                stream=True,
            )
        )
    return queued


def test_what_is_recorded_is_read_back(tmp_path: Path) -> None:
    recorder = TrafficRecorder(tmp_path / "home" / "traffic.db")
    record(recorder, 3)
    recorder.record(
        request_id="refused",
        started_at=1_800_000_100.0,
        user_agent="OpenAI/Python 1.50.0",
        client_format="openai-chat",
        client_body=b"{}",
        upstream_body=None,
        status=400,
        missing=(1,),
        error="thinking missing",
    )
    recorder.close()
    reader = TrafficReader(recorder.path)
    apps = {a.app: a for a in reader.apps()}
    assert set(apps) == {"claude-cli", "OpenAI/Python"}
    assert (apps["claude-cli"].requests, apps["claude-cli"].restored, apps["claude-cli"].missing) == (3, 6, 3)
    assert apps["claude-cli"].user_agent == "claude-cli/2.0.1"
    newest = reader.requests(limit=2)
    assert [r.request_id for r in newest] == ["refused", "req_2"]
    full = reader.request(newest[1].id)
    assert full is not None
    assert full.client_body == CLIENT + b"  " and full.upstream_body == UPSTREAM
    assert (full.restored, full.missing, full.foreign) == ((1, 3), (5,), ())
    assert full.summary.stream and full.summary.upstream_format == "openai-chat"
    refused = reader.request(newest[0].id)
    assert (
        refused is not None and refused.upstream_body is None and refused.summary.error == "thinking missing"
    )
    assert reader.count("claude-cli") == 3 and reader.count() == 4
    assert reader.request(10_000) is None


def test_bodies_are_zstd_and_files_of_earlier_versions_in_zlib_still_read(tmp_path: Path) -> None:
    recorder = TrafficRecorder(tmp_path / "traffic.db")
    record(recorder, 2)
    recorder.close()
    with sqlite3.connect(recorder.path) as db:
        stored = db.execute("SELECT client_body, upstream_body FROM requests ORDER BY id").fetchall()
        assert all(body.startswith(ZSTD_MAGIC) for row in stored for body in row)
        # The first request as an earlier version recorded it: zlib at level 6.
        db.execute(
            "UPDATE requests SET client_body = ?, upstream_body = ? WHERE id = 1",
            (zlib.compress(CLIENT, 6), zlib.compress(UPSTREAM, 6)),
        )
    reader = TrafficReader(recorder.path)
    old, new = reader.request(1), reader.request(2)
    assert old is not None and (old.client_body, old.upstream_body) == (CLIENT, UPSTREAM)
    assert new is not None and (new.client_body, new.upstream_body) == (CLIENT + b" ", UPSTREAM)
    # The data pipeline reads both as well (each is its own one-turn conversation here).
    assert not [item for item in read_source("gateway", [recorder.path]) if isinstance(item, RowError)]


def test_a_damaged_body_is_a_clear_error_for_the_viewer_and_the_pipeline(tmp_path: Path) -> None:
    recorder = TrafficRecorder(tmp_path / "traffic.db")
    record(recorder, 1)
    recorder.close()
    with sqlite3.connect(recorder.path) as db:
        (body,) = db.execute("SELECT upstream_body FROM requests").fetchone()
        middle = len(body) // 2
        db.execute("UPDATE requests SET upstream_body = ?", (body[:middle] + b"\xff" + body[middle + 1 :],))
    with pytest.raises(TrafficUnreadable, match="is damaged"):
        TrafficReader(recorder.path).request(1)
    (problem,) = list(read_source("gateway", [recorder.path]))
    assert isinstance(problem, RowError) and "cannot be read" in str(problem), problem


def test_the_file_is_private(tmp_path: Path) -> None:
    recorder = TrafficRecorder(tmp_path / "new-dir" / "traffic.db")
    recorder.close()
    assert stat.S_IMODE(recorder.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(recorder.path.parent.stat().st_mode) == 0o700


def test_the_oldest_requests_go_first(tmp_path: Path) -> None:
    recorder = TrafficRecorder(tmp_path / "traffic.db", max_requests=10)
    record(recorder, 25)
    recorder.close()
    reader = TrafficReader(recorder.path)
    assert reader.count() == 10
    assert [r.request_id for r in reader.requests(limit=100)][-1] == "req_15"


def test_bodies_are_bounded_in_bytes_too(tmp_path: Path) -> None:
    big = random.Random(7).randbytes(100_000)  # does not compress
    recorder = TrafficRecorder(tmp_path / "traffic.db", max_bytes=350_000, max_body_bytes=60_000)
    for i in range(10):
        recorder.record(
            request_id=f"r{i}",
            started_at=float(i),
            user_agent="app",
            client_format="anthropic",
            client_body=big,
            upstream_body=big,
            status=200,
        )
    recorder.close()
    reader = TrafficReader(recorder.path)
    kept = reader.requests(limit=100)
    assert [r.request_id for r in kept] == ["r9", "r8"]  # 2 x 120 KB stored fit in 350 KB; a third would not
    record_ = reader.request(kept[0].id)
    assert record_ is not None and record_.cut and len(record_.client_body) == 60_000
    assert record_.client_size == len(big)
    assert recorder.path.stat().st_size < 800_000  # freed pages go back: 10 x 120 KB were written


def test_recording_never_blocks_the_caller(tmp_path: Path) -> None:
    recorder = TrafficRecorder(tmp_path / "traffic.db", queue_size=5)
    # Another process holds the write lock: the writer thread waits for it, and the queue fills up.
    other = sqlite3.connect(recorder.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    queued = record(recorder, 50)
    elapsed = time.monotonic() - started
    other.execute("ROLLBACK")
    other.close()
    recorder.close()
    assert recorder.dropped > 0  # the queue was full: those were counted, not waited for
    assert queued.count(False) == recorder.dropped  # and the caller was told (the gateway counts them)
    assert elapsed < 5  # the writer waits up to 10 s for the lock; the caller never did
    assert TrafficReader(recorder.path).count() == 50 - recorder.dropped


@pytest.mark.parametrize(
    ("agent", "label"),
    [
        ("claude-cli/2.0.1 (external, cli)", "claude-cli"),
        ("Anthropic/Python 0.40.0", "Anthropic/Python"),
        ("OpenAI/JS 4.2.0", "OpenAI/JS"),
        ("", "unknown"),
        ("   ", "unknown"),
        ("???", "other"),
    ],
)
def test_apps_are_named_by_the_product_in_their_user_agent(agent: str, label: str) -> None:
    assert app_label(agent) == label


def test_the_reader_explains_a_missing_or_foreign_file(tmp_path: Path) -> None:
    with pytest.raises(TrafficUnreadable, match="interleaf serve --record"):
        TrafficReader(tmp_path / "none.db").apps()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(TrafficUnreadable, match="not interleaf's recorded traffic"):
        TrafficReader(other).apps()


def test_counts_are_bucketed_over_time(tmp_path: Path) -> None:
    recorder = TrafficRecorder(tmp_path / "traffic.db")
    record(recorder, 4, at=1_800_000_000.0)
    record(recorder, 2, app="OpenAI/Python 1.0", at=1_800_000_000.0 + 600)
    recorder.close()
    series = TrafficReader(recorder.path).series(300, buckets=4)
    claude = series["claude-cli"]
    assert len(claude) == 4 and sum(b.requests for b in claude) == 4 and sum(b.restored for b in claude) == 8
    assert sum(b.requests for b in series["OpenAI/Python"]) == 2
    assert claude[-1].requests == 0 and series["OpenAI/Python"][-1].requests == 2
