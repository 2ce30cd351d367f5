"""``interleaf convert``: a whole conversation from one wire format to another."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from interleaf.cli.exit_codes import BAD_INPUT

_FORMATS_HELP = "transcript | anthropic | openai-chat | responses | minimax-m2"
_DIALECTS = ("reasoning_content", "reasoning", "reasoning_details", "think_tags")


def convert(
    source: Annotated[str, typer.Option("--from", "-f", help=f"Input format: {_FORMATS_HELP}.")],
    target: Annotated[str, typer.Option("--to", "-t", help=f"Output format: {_FORMATS_HELP}.")],
    file: Annotated[str, typer.Argument(help="Input file, or - for standard input.")] = "-",
    dialect: Annotated[
        str | None,
        typer.Option(
            "--dialect",
            help=(
                "For --to openai-chat: where thinking goes (reasoning_content, reasoning, "
                "reasoning_details, think_tags). Default: the way each block arrived."
            ),
        ),
    ] = None,
    compact: Annotated[bool, typer.Option("--compact", help="One-line JSON output.")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with code 2 if the target cannot carry everything.")
    ] = False,
) -> None:
    """Convert a request body (with its history) or a response body between formats.

    The input shape (request or response) is detected. `--to minimax-m2` writes the MiniMax-M2 native
    prompt text, for exporting trajectories as training text. Anything the target format cannot carry
    (a signature into reasoning_content, say) is listed on stderr.

    Examples:

      interleaf convert --from anthropic --to openai-chat --dialect reasoning_details request.json

      interleaf convert -f openai-chat -t minimax-m2 - < history.json > prompt.txt

      interleaf convert --from responses --to anthropic codex-request.json
    """
    from interleaf.convert import FORMATS, ConvertError
    from interleaf.convert import convert as run_convert
    from interleaf.transcript import ReasoningDialect

    def fail(message: str) -> None:
        typer.echo(f"interleaf convert: error: {message}", err=True)
        raise typer.Exit(BAD_INPUT)

    for option, value in (("--from", source), ("--to", target)):
        if value not in FORMATS:
            fail(f"{option} {value!r} is not a format; use one of {', '.join(FORMATS)}")
    if dialect is not None and dialect not in _DIALECTS:
        fail(f"--dialect {dialect!r} is not a dialect; use one of {', '.join(_DIALECTS)}")
    if dialect is not None and target != "openai-chat":
        fail("--dialect only applies to --to openai-chat")
    if file == "-":
        text = sys.stdin.read()
    else:
        path = Path(file)
        if not path.is_file():
            fail(f"input file {file} does not exist")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            fail(f"input file {file} is not UTF-8 text")
    try:
        result = run_convert(
            text,
            source,  # type: ignore[arg-type]
            target,  # type: ignore[arg-type]
            dialect=None if dialect is None else ReasoningDialect(dialect),
        )
    except ConvertError as exc:
        fail(f"{source} input: {exc}")
        return
    for loss in result.losses:
        typer.echo(f"interleaf convert: dropped: {loss}", err=True)
    output = result.render(indent=None if compact else 2)
    sys.stdout.write(output if output.endswith("\n") else output + "\n")
    if strict and result.losses:
        raise typer.Exit(BAD_INPUT)
