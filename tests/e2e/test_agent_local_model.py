"""The agent completes a small real task on the embedded local model (Qwen2.5-Coder-1.5B, offline).

Slow (a minute or two on two CPU cores) but never skipped: it is the proof that `interleaf run` works
with nothing configured. The model is pulled once into the shared test cache.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from interleaf.agent.events import RecordingObserver, ToolCalled
from interleaf.agent.session import AgentSession, RunOptions

REPO = Path(__file__).resolve().parents[2]
EXPECTED = "\n".join(
    "FizzBuzz" if i % 15 == 0 else "Fizz" if i % 3 == 0 else "Buzz" if i % 5 == 0 else str(i)
    for i in range(1, 16)
)


@pytest.mark.slow
@pytest.mark.timeout(1200)
async def test_local_model_writes_runs_and_checks_fizzbuzz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "INTERLEAF_MODELS", os.environ.get("INTERLEAF_TEST_MODELS") or str(REPO / ".cache" / "models")
    )
    monkeypatch.setenv("INTERLEAF_HOME", str(tmp_path / "home"))
    work = tmp_path / "work"
    work.mkdir()
    observer = RecordingObserver()
    options = RunOptions(workdir=work, approve="auto", max_steps=8)
    async with AgentSession(options, observer=observer) as session:
        assert session.profile.name == "local"
        finished = await session.run(
            "create fizzbuzz.py that prints fizzbuzz for 1 to 15, run it and fix it until the output is right"
        )
    assert finished.status == "done", finished
    names = [e.call.name for e in observer.agent_events if isinstance(e, ToolCalled)]
    assert "write_file" in names
    assert "shell" in names[names.index("write_file") :], names  # it ran what it wrote
    script = next(work.glob("*.py"))
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), cwd=work, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await process.communicate()
    assert process.returncode == 0
    assert stdout.decode().strip() == EXPECTED
