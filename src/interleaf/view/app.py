"""The viewer's Starlette app: sessions, eval runs and gateway traffic, read-only.

Pages are rendered on the server (Jinja2); a small script (``static/view.js``) adds folding, keyboard
navigation, loading further steps as you scroll and the live updates of a running session. Every asset is
in the package: the app works offline and makes no outside request.

Errors are pages, never tracebacks: a file that is not a sessions database, an unknown session id, a
missing eval directory each get a page that says what is wrong and what to do (status 404 or 503), and
anything unexpected a 500 page naming the error (the traceback goes to the server's log).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from interleaf.paths import data_dir
from interleaf.store.traffic import default_path as default_traffic_path
from interleaf.view import routes_evals, routes_gateway, routes_sessions
from interleaf.view.eval_runs import EvalRunMissing
from interleaf.view.render import render, warm
from interleaf.view.security import Guard
from interleaf.view.sessions_db import SessionsReader, StoreUnreadable, UnknownSession
from interleaf.view.traffic import TrafficReader, TrafficUnreadable

log = logging.getLogger("interleaf.view")

DEFAULT_PORT = 8766


@dataclass(frozen=True)
class ViewOptions:
    """What ``interleaf view`` serves and how. Paths default to interleaf's data dir."""

    sessions: Path = field(default_factory=lambda: data_dir() / "sessions.db")
    evals: tuple[Path, ...] = ()
    """Eval output directories: each a run, or a folder of runs."""
    traffic: Path = field(default_factory=default_traffic_path)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None
    """Required by every request when set (and it must be set off loopback)."""
    poll_seconds: float = 0.5
    """How often a live page's stream looks for new steps."""


def error_page(
    status: int, heading: str, message: str, *, hint: str = "", back: tuple[str, str] | None = None
) -> Response:
    url, label = back or ("/sessions", "All sessions")
    html = render(
        "error.html",
        title=heading,
        heading=heading,
        message=message,
        hint=hint,
        back_url=url,
        back_label=label,
        page="error",
        section="",
        root="",
        source_path="",
    )
    return HTMLResponse(html, status_code=status)


async def _unreadable(request: Request, exc: Exception) -> Response:
    return error_page(
        503,
        "This file cannot be read",
        str(exc),
        hint="The viewer only reads: it never changes or repairs the file.",
    )


async def _unknown(request: Request, exc: Exception) -> Response:
    return error_page(404, "Not found", str(exc))


async def _no_eval(request: Request, exc: Exception) -> Response:
    return error_page(404, "No such eval run", str(exc), back=("/evals", "All eval runs"))


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_page(404, "Not found", f"There is no page at {request.url.path}.")
    return error_page(exc.status_code, f"Error {exc.status_code}", str(exc.detail))


async def _bug(request: Request, exc: Exception) -> Response:
    log.exception("interleaf view: %s %s failed", request.method, request.url.path)
    return error_page(
        500,
        "The viewer hit a bug",
        f"{type(exc).__name__}: {exc}",
        hint="The details are in the terminal running `interleaf view`; please report them.",
    )


def create_app(options: ViewOptions | None = None) -> Starlette:
    options = options or ViewOptions()
    static = resources.files("interleaf.view") / "static"
    routes: list[Any] = [
        Route("/", lambda request: RedirectResponse("/sessions", status_code=307)),
        Route("/healthz", lambda request: PlainTextResponse("ok")),
        *routes_sessions.routes(),
        *routes_evals.routes(),
        *routes_gateway.routes(),
        Mount("/static", app=StaticFiles(directory=str(static)), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, bind_host=options.host, token=options.token)],
        exception_handlers={
            StoreUnreadable: _unreadable,
            TrafficUnreadable: _unreadable,
            UnknownSession: _unknown,
            EvalRunMissing: _no_eval,
            HTTPException: _http,
            Exception: _bug,
        },
    )
    warm()  # compile every template now, not during someone's first page
    app.state.options = options
    app.state.sessions = SessionsReader(options.sessions)
    app.state.traffic = TrafficReader(options.traffic)
    app.state.eval_cache = {}
    return app


__all__ = ["DEFAULT_PORT", "ViewOptions", "create_app", "error_page"]
