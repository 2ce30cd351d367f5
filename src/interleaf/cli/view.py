"""``interleaf view``: the local web viewer for sessions, eval runs and recorded gateway traffic."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

from interleaf.cli.exit_codes import BAD_INPUT

TOKEN_ENV = "INTERLEAF_VIEW_TOKEN"


def view(
    port: Annotated[int, typer.Option("--port", help="Port to listen on. Default: 8766.")] = 8766,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on. Default: 127.0.0.1 (this machine only). Any other address needs a "
            f"token: --token, ${TOKEN_ENV}, or one is generated and printed.",
        ),
    ] = "127.0.0.1",
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the viewer in your web browser. Default: off.")
    ] = False,
    sessions: Annotated[
        Path | None,
        typer.Option("--sessions", help="Sessions database to show. Default: the agent's, in the data dir."),
    ] = None,
    evals: Annotated[
        list[Path] | None,
        typer.Option(
            "--eval",
            help="An `interleaf eval run --out` directory, or a folder of them; repeatable. Default: none.",
        ),
    ] = None,
    traffic: Annotated[
        Path | None,
        typer.Option(
            "--traffic",
            help="Recorded gateway traffic (`interleaf serve --record`). Default: traffic.db in the data dir.",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help=f"Require this token on every request (default: ${TOKEN_ENV}; off on loopback, generated "
            "elsewhere).",
        ),
    ] = None,
) -> None:
    """Browse agent sessions, eval runs and gateway traffic as think → act → observe timelines.

    A local, read-only web app: it never changes the files it shows, loads nothing from the internet, and listens on this machine only unless --host says otherwise.

    \b
    Examples:
      interleaf view --open
      interleaf view --eval runs/keep-vs-drop
      interleaf view --host 0.0.0.0 --port 9000      # prints a URL with a token
    """
    try:
        from interleaf.view.app import ViewOptions
        from interleaf.view.security import is_loopback
        from interleaf.view.server import bind, run
    except ImportError as exc:
        typer.echo(
            f"interleaf view: error: the viewer needs Starlette and uvicorn ({exc}): pip install 'interleaf[view]'",
            err=True,
        )
        raise typer.Exit(BAD_INPUT) from None

    token = token or os.environ.get(TOKEN_ENV) or None
    if not is_loopback(host) and token is None:
        token = secrets.token_urlsafe(24)
    defaults = ViewOptions()
    options = ViewOptions(
        sessions=(sessions or defaults.sessions).expanduser(),
        evals=tuple(p.expanduser() for p in evals or ()),
        traffic=(traffic or defaults.traffic).expanduser(),
        host=host,
        port=port,
        token=token,
    )
    if sessions is not None and not options.sessions.is_file():
        typer.echo(f"interleaf view: error: --sessions {options.sessions}: no such file", err=True)
        raise typer.Exit(BAD_INPUT)
    for path in options.evals:
        if not path.is_dir():
            typer.echo(
                f"interleaf view: warning: --eval {path} is not a directory (yet); its page says so", err=True
            )
    try:
        sock = bind(host, port)
    except OSError as exc:
        typer.echo(f"interleaf view: error: {exc}", err=True)
        raise typer.Exit(BAD_INPUT) from None
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{f'[{shown}]' if ':' in shown else shown}:{sock.getsockname()[1]}/"
    if token is not None:
        url += f"?token={token}"
    typer.echo(f"interleaf view: {url}  (read-only; Ctrl-C stops)")
    if not options.sessions.is_file():
        typer.echo(f"  no sessions yet at {options.sessions}: `interleaf run` records them")
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    run(options, sock)
