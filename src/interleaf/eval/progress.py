"""The live view of a run: a bar with ETA and the running pass rate of each condition."""

from __future__ import annotations

from typing import Any

from interleaf.eval.results import TrialRecord
from interleaf.eval.runner import running_rates


class LiveProgress:
    """A rich progress bar fed by the runner (:class:`~interleaf.eval.runner.ProgressSink`)."""

    def __init__(self, console: Any | None = None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self.records: list[TrialRecord] = []
        self.errors = 0
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> LiveProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def started(self, total: int, skipped: int, concurrency: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        if skipped:
            self.console.print(f"resuming: {skipped} trial(s) already finished are skipped")
        self.console.print(f"{total} trial(s) to run, {concurrency} at a time")
        self._progress = Progress(
            TextColumn("[bold]trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=self.console,
        )
        self._progress.start()
        self._task = self._progress.add_task("", total=total)

    def notice(self, message: str) -> None:
        self.console.print(f"[yellow]note:[/] {message}")

    def trial_done(self, record: TrialRecord) -> None:
        self.records.append(record)
        if record.outcome == "error":
            self.errors += 1
            if self._progress is not None:
                self._progress.console.print(
                    f"[red]error[/] {record.key}: {record.error or record.detail} (after {record.attempts} attempts)"
                )
        if self._progress is not None:
            self._progress.update(self._task, advance=1, description=self.describe())

    def describe(self) -> str:
        parts = []
        for condition, (passed, graded) in running_rates(self.records).items():
            rate = f"{100 * passed / graded:.0f}%" if graded else "-"
            parts.append(f"{condition} {passed}/{graded} {rate}")
        if self.errors:
            parts.append(f"[red]{self.errors} error(s)[/]")
        return " · ".join(parts)
