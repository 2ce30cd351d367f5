"""``interleaf sessions``: list, show and export saved agent sessions."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from interleaf.store.sessions import SessionStore

from interleaf.cli.exit_codes import BAD_INPUT

app = typer.Typer(
    help="List, show and export saved agent sessions (kept in SQLite under the XDG data dir).",
    no_args_is_help=True,
)

EXPORT_FORMATS = ("jsonl", "transcript", "anthropic", "openai-chat", "minimax-m2", "html")


def _store() -> SessionStore:
    from interleaf.store.sessions import SessionStore

    return SessionStore()


def _resolve(store: SessionStore, session: str) -> str:
    from interleaf.store.sessions import SessionNotFoundError

    try:
        return str(store.resolve(session))
    except SessionNotFoundError as exc:
        typer.echo(f"interleaf sessions: error: {exc}", err=True)
        raise typer.Exit(BAD_INPUT) from None


@app.command("list")
def list_sessions(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many, newest first.")] = 20,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """Saved sessions, newest first."""
    from rich.console import Console
    from rich.table import Table

    store = _store()
    rows = store.recent(limit)
    if json_output:
        for info in rows:
            typer.echo(json.dumps({k: getattr(info, k) for k in info.__slots__}, ensure_ascii=False))
        return
    if not rows:
        typer.echo('no sessions yet; `interleaf run "TASK"` starts one')
        return
    table = Table(box=None, header_style="bold")
    for column in ("id", "updated", "status", "steps", "tokens", "profile", "mode", "title"):
        table.add_column(column, overflow="fold" if column == "title" else "ellipsis")
    for info in rows:
        table.add_row(
            info.id,
            time.strftime("%Y-%m-%d %H:%M", time.localtime(info.updated)),
            info.status,
            str(info.steps),
            f"{info.input_tokens + info.output_tokens:,}",
            info.profile,
            info.mode,
            info.title,
        )
    Console().print(table)


@app.command("show")
def show(
    session: Annotated[str, typer.Argument(help="Session id, unique prefix, or 'last'.")],
    thinking: Annotated[bool, typer.Option("--thinking/--no-thinking", help="Show thinking blocks.")] = True,
) -> None:
    """A session's messages, as a readable transcript."""
    from rich.console import Console
    from rich.markup import escape

    from interleaf.transcript import Image, Opaque, RedactedThinking, Text, Thinking, ToolCall, ToolResult

    store = _store()
    sid = _resolve(store, session)
    info = store.info(sid)
    console = Console(highlight=False)
    console.print(
        f"[bold]{sid}[/] · {info.status} · {info.profile} {info.model} · {info.mode} · {info.workdir}"
    )
    for message in store.messages(sid):
        for block in message.blocks:
            if isinstance(block, Thinking):
                if thinking:
                    console.print(f"[dim italic]✻ {escape(block.text.strip())}[/]")
            elif isinstance(block, RedactedThinking):
                if thinking:
                    console.print("[dim italic]✻ (encrypted thinking)[/]")
            elif isinstance(block, Text):
                label = {"user": "[bold green]user[/]", "assistant": "[bold]assistant[/]"}.get(
                    message.role, message.role
                )
                console.print(f"{label} {escape(block.text)}")
            elif isinstance(block, ToolCall):
                console.print(f"[blue]⏺ {block.name}[/] {escape(block.arguments_json)}")
            elif isinstance(block, ToolResult):
                colour = "red" if block.is_error else "dim"
                console.print(f"  [{colour}]⎿ {escape(block.text[:2000])}[/]")
            elif isinstance(block, Image | Opaque):
                console.print(f"[dim]({block.kind})[/]")


@app.command("export")
def export(
    session: Annotated[str, typer.Argument(help="Session id, unique prefix, or 'last'.")],
    format: Annotated[
        str, typer.Option("--format", "-f", help=f"One of: {', '.join(EXPORT_FORMATS)}. Default: jsonl.")
    ] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Write a session out: jsonl (one message a line), transcript, anthropic, openai-chat, minimax-m2 or html.

    minimax-m2 writes the native prompt text, e.g. to use trajectories as training text.

    html writes the session page of `interleaf view` as one self-contained file (styles, script, screenshots inside): share it, open it from disk, no server needed.

    \b
    Examples:
      interleaf sessions export last -f html -o session.html
      interleaf sessions export 20261201-3fa2 -f anthropic > request.json
    """
    if format not in EXPORT_FORMATS:
        typer.echo(
            f"interleaf sessions export: error: --format {format!r}; use one of {', '.join(EXPORT_FORMATS)}",
            err=True,
        )
        raise typer.Exit(BAD_INPUT)
    if format == "html":
        _write(output, _export_html(session))
        return
    from interleaf.convert import write
    from interleaf.transcript import Conversation, Text, message_to_json

    store = _store()
    sid = _resolve(store, session)
    messages = store.messages(sid)
    if format == "jsonl":
        _write(output, "".join(json.dumps(message_to_json(m), ensure_ascii=False) + "\n" for m in messages))
        return
    prompts = store.notes(sid, "system")
    system = (Text(text=str(prompts[-1]["prompt"])),) if prompts else None
    conversation = Conversation(messages=tuple(messages), system=system, system_plain=True)
    result = write(conversation, format)  # type: ignore[arg-type]
    for loss in result.losses:
        typer.echo(f"interleaf sessions export: dropped: {loss}", err=True)
    out = result.render()
    _write(output, out if out.endswith("\n") else out + "\n")


def _export_html(session: str) -> str:
    """The session page as one HTML file, read through the viewer's read-only reader."""
    from interleaf.paths import data_dir
    from interleaf.view.session_view import export_html
    from interleaf.view.sessions_db import SessionsReader, StoreUnreadable, UnknownSession

    reader = SessionsReader(data_dir() / "sessions.db")
    try:
        return export_html(reader, reader.resolve(session))
    except (StoreUnreadable, UnknownSession) as exc:
        typer.echo(f"interleaf sessions export: error: {exc}", err=True)
        raise typer.Exit(BAD_INPUT) from None
    finally:
        reader.close()


def _write(output: Path | None, text: str) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        typer.echo(
            f"interleaf sessions export: error: cannot write {output}: {exc.strerror or exc}", err=True
        )
        raise typer.Exit(BAD_INPUT) from None
    typer.echo(f"wrote {output} ({len(text.encode()):,} bytes)", err=True)
