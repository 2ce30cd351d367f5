"""``coding``: 20 small code-run-fix tasks written for interleaf, judged by hidden pytest tests.

Each trial copies a tiny repo into a fresh temporary workdir and gives the agent its bug report; the
agent works with its real tools (shell, files, python; the embedded model's three), exactly as
``interleaf run`` would. The hidden tests are never in the workdir: once the agent is done they are
copied next to a snapshot of its work and run with pytest, through the agent's own verification runner
inside the same OS sandbox its shell uses (bubblewrap, no network). Pass means every hidden test passed.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from interleaf.eval.spec import Grade, Task, TurnResult, check_options
from interleaf.eval.suites.coding_tasks import TASKS_1, CodingTask
from interleaf.eval.suites.coding_tasks_more import TASKS_2
from interleaf.tools.base import Tool
from interleaf.transcript import Message

NAME = "coding"
VERSION = "coding-1"
TASKS: dict[str, CodingTask] = {task.id: task for task in (*TASKS_1, *TASKS_2)}
HIDDEN_TEST = "test_hidden_interleaf_eval.py"
GRADE_TIMEOUT = 120.0


def task_prompt(task: CodingTask) -> str:
    return (
        f"Bug report: {task.report}\n\nFix the code in the current directory so the described behaviour is "
        "right. Hidden tests will check it; run the code yourself to confirm the fix before you answer."
    )


class CodingRun:
    def __init__(self, task: CodingTask, workdir: Path) -> None:
        self.task = task
        self.workdir = workdir
        self.system: str | None = None
        self.tools: Sequence[Tool] | None = None
        self.max_steps = 25
        for name, content in task.files.items():
            path = workdir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")

    def turns(self) -> int:
        return 1

    def turn(self, index: int) -> tuple[str, Sequence[Tool]]:
        return task_prompt(self.task), ()

    def continues(self, result: TurnResult) -> bool:
        return False

    async def grade(self, results: Sequence[TurnResult], messages: Sequence[Message]) -> Grade:
        return await run_hidden_tests(self.task, self.workdir)

    async def aclose(self) -> None:
        pass


async def run_hidden_tests(task: CodingTask, workdir: Path) -> Grade:
    """Copy the agent's workdir, add the hidden tests, run pytest in the sandbox; pass when all pass."""
    from interleaf.agent.verify import run_verification
    from interleaf.config import SandboxConfig
    from interleaf.tools.sandbox import Sandbox, SandboxPolicy

    with tempfile.TemporaryDirectory(prefix="interleaf-grade-") as scratch:
        grade_dir = Path(scratch) / "repo"
        shutil.copytree(workdir, grade_dir, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
        (grade_dir / HIDDEN_TEST).write_text(task.hidden, encoding="utf-8")
        policy = SandboxPolicy.from_config(SandboxConfig(), mode="workdir", network=False)
        sandbox = Sandbox(policy, workdir=grade_dir, session_dir=Path(scratch) / "session")
        command = f"{sys.executable} -m pytest -q -p no:cacheprovider -p no:randomly {HIDDEN_TEST}"
        result = await run_verification(grade_dir, command, timeout=GRADE_TIMEOUT, sandbox=sandbox)
    info = {"exit_code": result.exit_code, "output": result.output[-1500:]}
    if result.exit_code not in (0, 1):
        # pytest did not get to judge the code (it could not start, the sandbox failed, it timed out):
        # that is the harness's failure, not the model's, so the trial errors and is tried again.
        raise GradingError(
            f"the hidden tests could not run (exit {result.exit_code}): {result.output.strip()[-400:]}"
        )
    return Grade(result.passed, "tests_passed" if result.passed else "tests_failed", info)


class GradingError(RuntimeError):
    """The hidden tests could not be run; the trial is an error, not a failure of the model."""


class CodingSuite:
    name = NAME
    version = VERSION
    description = "20 small code-run-fix tasks judged by hidden pytest tests"

    def tasks(self, options: Mapping[str, str], seed: int) -> list[Task]:
        check_options(options, {}, NAME)
        return [Task(id=task_id, suite=NAME, info={"files": len(t.files)}) for task_id, t in TASKS.items()]

    async def open(self, task: Task, workdir: Path, seed: int) -> CodingRun:
        return CodingRun(TASKS[task.id], workdir)
