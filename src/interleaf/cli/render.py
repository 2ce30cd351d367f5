"""What the user sees while the agent works: a live terminal view, or one JSON event a line.

The terminal view streams the block being written (thinking dimmed) in a small live region; when the
block is complete it is printed once, thinking folded to one line unless ``--thinking full``. Tool
calls and results, a spinner with elapsed time on long steps, and a one-line summary at the end.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Literal, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.text import Text as RichText

from interleaf.agent.events import (
    AgentEvent,
    BlockDone,
    Failed,
    Finished,
    Notice,
    PlanUpdated,
    StepStarted,
    ToolCalled,
    ToolReturned,
    UsageReported,
    to_json,
)
from interleaf.transcript import RedactedThinking, Thinking, Usage
from interleaf.wire.events import BlockDelta, BlockStart, StreamEvent

ThinkingView = Literal["fold", "full", "hide"]
_TAIL_LINES = 8


def summary_line(event: Finished) -> str:
    usage: Usage = event.usage
    tokens = (usage.input_tokens or 0) + (usage.output_tokens or 0)
    parts = [
        "done" if event.status == "done" else event.status.replace("_", " "),
        f"{event.steps} step{'s' if event.steps != 1 else ''}",
        f"{tokens:,} tokens",
        f"{event.seconds:.1f} s",
    ]
    if event.cost is not None:
        parts.append(f"${event.cost:.4f}")
    return " · ".join(parts)


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(width - 1, 1)] + "…"


class TerminalView:
    """The rich terminal view. Implements the agent's Observer protocol."""

    def __init__(self, console: Console | None = None, *, thinking: ThinkingView = "fold") -> None:
        self.console = console or Console(stderr=False, highlight=False)
        self.thinking = thinking
        self._live: Live | None = None
        self._kind: str | None = None
        self._buffer: list[str] = []
        self._status = ""
        self._status_since = time.monotonic()
        self._last_text = ""

    # ------------------------------------------------------------------------------ model stream

    def model_event(self, event: StreamEvent) -> None:
        if isinstance(event, BlockStart):
            self._kind = event.kind
            self._buffer = []
            if event.kind == "tool_call":
                self._set_status(f"writing a {event.name} call")
            elif event.kind == "thinking":
                self._set_status("thinking")
            else:
                self._set_status("writing")
        elif isinstance(event, BlockDelta) and self._kind in ("thinking", "text"):
            self._buffer.append(event.text)
            self._refresh()

    # ----------------------------------------------------------------------------- agent events

    def agent_event(self, event: AgentEvent) -> None:
        if isinstance(event, StepStarted):
            self._set_status(f"step {event.step}: waiting for the model")
        elif isinstance(event, BlockDone):
            self._print_block(event.block)
        elif isinstance(event, ToolCalled):
            self._print(self._call_line(event))
            if event.approved:
                self._set_status(f"running {event.call.name}")
        elif isinstance(event, ToolReturned):
            self._print(self._result_lines(event))
        elif isinstance(event, PlanUpdated):
            marks = {"done": "[green]✓[/]", "in_progress": "[yellow]▸[/]", "pending": "[dim]○[/]"}
            lines = [
                f"  {marks.get(i.get('status', ''), '○')} {escape(i.get('text', ''))}" for i in event.items
            ]
            self._print("[bold]plan[/]\n" + "\n".join(lines))
        elif isinstance(event, Notice):
            self._print(f"[cyan]note[/] {escape(event.message)}")
        elif isinstance(event, Failed):
            self._print(f"[red]error[/] {escape(event.message)}")
        elif isinstance(event, Finished):
            self._stop_live()
            if event.answer and event.status == "done" and event.answer.strip() != self._last_text:
                self.console.print(
                    event.answer.strip()
                )  # not streamed as text (a finish call, a JSON action)
            if event.message:
                self.console.print(f"[yellow]{escape(event.message)}[/]")
            self.console.print(f"[dim]{summary_line(event)}[/]")
        elif isinstance(event, UsageReported):
            pass

    # --------------------------------------------------------------------------------- helpers

    def _call_line(self, event: ToolCalled) -> str:
        args = event.call.arguments
        shown = (
            args.get("command") or args.get("path") or args.get("url") or args.get("code") or args.get("task")
        )
        detail = _one_line(str(shown), 100) if shown else _one_line(json.dumps(args, ensure_ascii=False), 100)
        line = f"[bold blue]⏺ {escape(event.call.name)}[/] {escape(detail)}"
        if not event.approved:
            line += f"\n  [red]refused[/] [dim]{escape(event.note or '')}[/]"
        return line

    def _result_lines(self, event: ToolReturned) -> str:
        text = event.result.text.rstrip()
        lines = text.splitlines() or [""]
        head = "\n    ".join(escape(_one_line(line, 110)) for line in lines[:4])
        more = f"\n    [dim]… {len(lines) - 4} more lines[/]" if len(lines) > 4 else ""
        colour = "red" if event.result.is_error else "dim"
        return f"  [{colour}]⎿ {head}[/]{more} [dim]({event.seconds:.1f} s)[/]"

    def _print_block(self, block: Any) -> None:
        self._stop_live()
        if isinstance(block, RedactedThinking):
            if self.thinking != "hide":
                self.console.print("[dim italic]✻ (encrypted thinking)[/]")
            return
        if isinstance(block, Thinking):
            if self.thinking == "hide" or not block.text.strip():
                return
            if self.thinking == "fold":
                words = len(block.text.split())
                self.console.print(
                    f"[dim italic]✻ {escape(_one_line(block.text, 100))}[/] [dim]({words} words)[/]"
                )
            else:
                self.console.print(RichText(block.text.strip(), style="dim italic"))
            return
        if block.text.strip():
            self._last_text = block.text.strip()
            self.console.print(self._last_text)

    def _print(self, markup: str) -> None:
        self._stop_live()
        self.console.print(markup)

    def _set_status(self, status: str) -> None:
        self._status = status
        self._status_since = time.monotonic()
        self._refresh()

    def _renderable(self) -> Group:
        elapsed = time.monotonic() - self._status_since
        parts: list[Any] = []
        if self._buffer:
            tail = "".join(self._buffer).splitlines()[-_TAIL_LINES:]
            style = "dim italic" if self._kind == "thinking" else ""
            parts.append(RichText("\n".join(tail), style=style))
        parts.append(Spinner("dots", text=RichText(f"{self._status} · {elapsed:.0f} s", style="dim")))
        return Group(*parts)

    def _refresh(self) -> None:
        if not self.console.is_terminal:
            return
        if self._live is None:
            self._live = Live(
                get_renderable=self._renderable, console=self.console, transient=True, refresh_per_second=8
            )
            self._live.start()
        else:
            self._live.refresh()

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._buffer = []

    def pause(self) -> None:
        """Stop the live region (before asking the user something)."""
        self._stop_live()

    def close(self) -> None:
        self._stop_live()


class JsonLinesView:
    """``--json``: one JSON event a line on stdout, the final answer event last."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def model_event(self, event: StreamEvent) -> None:
        pass

    def agent_event(self, event: AgentEvent) -> None:
        self.stream.write(json.dumps(to_json(event), ensure_ascii=False) + "\n")
        self.stream.flush()

    def pause(self) -> None:
        pass

    def close(self) -> None:
        pass
