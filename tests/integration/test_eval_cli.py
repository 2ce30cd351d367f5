"""``interleaf eval`` on the command line: a real run, its summary, report and compare, and bad input
answered with a message and exit code 2, never a traceback."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from interleaf.cli.eval import app
from interleaf.eval.scripted import needle_policy
from tests.fixtures.eval.endpoint import PROFILE, scripted_endpoint


def _serve(delay: float) -> Iterator[str]:
    """The scripted needle model on its own thread and loop (the CLI runs its own ``asyncio.run``)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    url: list[str] = []

    async def serve() -> None:
        async with scripted_endpoint(needle_policy, delay=delay) as server:
            url.append(server.base_url)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    assert ready.wait(30)
    yield url[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)
    loop.close()


@pytest.fixture
def server_url() -> Iterator[str]:
    yield from _serve(0.0)


@pytest.fixture
def slow_server_url() -> Iterator[str]:
    """Replies 50 ms late: 80 trials take many seconds, so a Ctrl-C always lands mid-run."""
    yield from _serve(0.05)


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLEAF_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("INTERLEAF_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user config
    monkeypatch.chdir(tmp_path)  # where the default --out directory would go


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_run_report_and_compare_from_the_command_line(server_url: str, tmp_path: Path) -> None:
    common = [
        "-p",
        PROFILE,
        "--base-url",
        server_url,
        "-m",
        "scripted-model",
        "-O",
        "lengths=1k",
        "-O",
        "hops=1-2",
    ]
    first, second = tmp_path / "a", tmp_path / "b"
    code, output = run(
        "run", "--suite", "needle", *common, "-c", "keep,drop", "--limit", "4", "--out", str(first)
    )
    assert code == 0, output
    assert "8 trial(s) run, 0 skipped" in output
    assert "keep" in output and "100%" in output  # the summary table
    code, output = run(
        "run", "--suite", "needle", *common, "-c", "keep,drop", "--limit", "4", "--out", str(first)
    )
    assert code == 0 and "0 trial(s) run, 8 skipped as already finished" in output
    code, output = run(
        "run",
        "--suite",
        "needle",
        *common,
        "-c",
        "keep,drop",
        "--limit",
        "4",
        "--seed",
        "1",
        "--out",
        str(second),
    )
    assert code == 0, output
    code, output = run("report", str(first))
    assert code == 0 and output.strip().endswith("report.html")
    code, output = run("compare", str(first), str(second), "--json")
    assert code == 0, output
    comparison = json.loads(output)
    assert [row["condition"] for row in comparison["conditions"]] == ["keep", "drop"]
    assert comparison["conditions"][0]["first"]["pass_at_1"] == 1.0
    code, output = run("compare", str(first), str(second))
    assert code == 0 and "pass@1 run 1" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--suite", "nedle"], "unknown suite 'nedle' (did you mean 'needle'?)"),
        (["run", "--suite", "needle", "-c", "keep,forget"], "unknown condition 'forget'"),
        (["run", "--suite", "needle", "-O", "lengths"], "must be KEY=VALUE"),
        (["run", "--suite", "needle", "-O", "colour=red", "-p", "vllm"], "has no option colour"),
        (["run", "--suite", "needle", "--context-policy", "window"], "needs a size"),
        (["run", "--suite", "needle", "-p", "nosuch"], "unknown backend profile 'nosuch'"),
        (["run", "--suite", "needle", "--base-url", "http://127.0.0.1:9"], "--base-url needs --profile"),
        (["run", "--suite", "needle", "--mode", "turbo"], "--mode 'turbo' is not a mode"),
        (["report", "."], "is not an eval run directory"),
        (["tasks", "needle", "-O", "hops=9"], "1 to 4"),
    ],
)
def test_bad_input_gets_a_message_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    code, output = run(*args)
    assert code == 2, output
    assert message in output
    assert "Traceback" not in output
    assert not (tmp_path / "eval-runs").exists()  # a refused run leaves nothing behind


def test_help_teaches_the_conditions_and_listing_commands_work() -> None:
    code, output = run("run", "--help")
    assert code == 0
    for word in ("keep", "drop", "restored", "current-loop", "--context-policy", "--ray", "resume"):
        assert word in output
    code, output = run("suites")
    assert code == 0 and {"needle", "bfcl-multi-turn", "coding"} <= {
        line.split()[0] for line in output.splitlines()
    }
    code, output = run("tasks", "needle", "-O", "lengths=1k,2k", "-O", "hops=1", "-O", "per_cell=1")
    assert code == 0
    assert [line.split("\t")[0] for line in output.splitlines()] == ["len1k-hop1-v0", "len2k-hop1-v0"]


def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(slow_server_url: str, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "interleaf", "eval", "run", "--suite", "needle", "-p", PROFILE,
        "--base-url", slow_server_url, "-m", "scripted-model", "-O", "lengths=1k", "-O", "hops=4",
        "-O", "per_cell=40", "-c", "keep,drop", "--concurrency", "1", "--out", str(out),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ
    )
    results = out / "results.jsonl"
    deadline = time.monotonic() + 120
    while not (results.exists() and len(results.read_text().splitlines()) >= 3):
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "interrupted:" in output and "run the same command again to resume" in output
    assert "Traceback" not in output
    finished = len(results.read_text().splitlines())
    assert 3 <= finished < 80
    resumed = subprocess.run(
        [*command[:-2], "--limit", "3", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "skipped as already finished" in resumed.stderr
