"""The ``interleaf`` command line: one typer app, each command group in its own module.

Command modules import their heavy dependencies inside the command functions, so ``interleaf --help``
and ``interleaf convert`` start fast.
"""

from __future__ import annotations

import typer

from interleaf import __version__
from interleaf.cli import agent_commands, mcp, model, plugins, serve, sessions
from interleaf.cli import convert as convert_command
from interleaf.cli import data as data_commands
from interleaf.cli import eval as eval_commands
from interleaf.cli import probe as probe_commands
from interleaf.cli import view as view_command

app = typer.Typer(
    name="interleaf",
    help=(
        "Lossless interleaved thinking: convert transcripts between wire formats, run an agent, "
        "serve a gateway that restores the thinking apps drop, and probe where thinking leaks."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"interleaf {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """interleaf: every earlier thinking block goes back to the model exactly."""


app.command(name="run", no_args_is_help=True)(agent_commands.run)
app.command(name="chat")(agent_commands.chat)
app.command(name="convert", no_args_is_help=True)(convert_command.convert)
app.add_typer(sessions.app, name="sessions")
app.add_typer(model.app, name="model")
app.add_typer(mcp.app, name="mcp")
app.add_typer(probe_commands.app, name="probe")
app.add_typer(eval_commands.app, name="eval")
app.add_typer(data_commands.app, name="data")
app.command(name="serve")(serve.serve)
app.command(name="plugins")(plugins.plugins)
app.command(name="view")(view_command.view)


def main() -> None:
    app()
