"""Routes of the sessions list and of a session's pages, for the main store and for an eval run's stores.

Handlers are plain functions: Starlette runs them on its thread pool, where SQLite reads belong.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from interleaf.view import session_view
from interleaf.view.live import session_events
from interleaf.view.render import render
from interleaf.view.session_view import SessionLinks
from interleaf.view.sessions_db import (
    FILTERS,
    SORTS,
    SessionPage,
    SessionQuery,
    SessionsReader,
)

Source = Callable[[Request], tuple[SessionsReader, SessionLinks, str]]

COLUMNS = (
    ("title", "Task", False),
    ("", "Model", False),
    ("", "Mode", False),
    ("", "Status", False),
    ("steps", "Steps", True),
    ("tokens", "Tokens", True),
    ("cost", "Cost", True),
    ("updated", "Updated", True),
)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def query_from(request: Request) -> SessionQuery:
    params = request.query_params
    sort = params.get("sort", "updated")
    return SessionQuery(
        text=params.get("q", "")[:200],
        profile=params.get("profile", ""),
        model=params.get("model", ""),
        mode=params.get("mode", ""),
        status=params.get("status", ""),
        sort=sort if sort in SORTS else "updated",
        descending=params.get("order", "desc") != "asc",
        page=max(1, _int(params.get("page"), 1)),
        per_page=max(1, min(_int(params.get("per_page"), 50), 500)),
    )


def _url(query: SessionQuery, **changes: object) -> str:
    values = {
        "q": query.text,
        "profile": query.profile,
        "model": query.model,
        "mode": query.mode,
        "status": query.status,
        "sort": query.sort,
        "order": "desc" if query.descending else "asc",
        "page": str(query.page),
    }
    values.update({k: str(v) for k, v in changes.items()})
    defaults = {"page": "1", "sort": "updated", "order": "desc"}
    kept = {k: v for k, v in values.items() if v and defaults.get(k) != v}
    return "/sessions" + (f"?{urlencode(kept)}" if kept else "")


def list_page(request: Request) -> Response:
    reader: SessionsReader = request.app.state.sessions
    query = query_from(request)
    filtered = bool(query.text or query.profile or query.model or query.mode or query.status)
    notice = ""
    facets: dict[str, list[str]]
    if not reader.exists:
        notice = (
            f'There is no sessions database at {reader.path} yet: `interleaf run "TASK"` creates it '
            "(or start the viewer with --sessions PATH)."
        )
        result, facets = SessionPage([], 0, 1, query.per_page), {name: [] for name in FILTERS}
    else:
        result, facets = reader.search(query), reader.facets()
    context = {
        "root": "",
        "query": query,
        "result": result,
        "facets": facets,
        "filtered": filtered,
        "notice": notice,
        "columns": COLUMNS,
        "sort_label": f"ordered by {query.sort}, {'descending' if query.descending else 'ascending'}",
        "sort_url": lambda key: _url(
            query, sort=key, order="asc" if key == query.sort and query.descending else "desc", page=1
        ),
        "page_url": lambda page: _url(query, page=page),
    }
    if request.query_params.get("fragment") == "1":
        return HTMLResponse(render("_session_table.html", **context))
    return HTMLResponse(
        render(
            "sessions.html",
            title="Sessions",
            page="sessions",
            section="sessions",
            source_path=str(reader.path),
            **context,
        )
    )


# ------------------------------------------------------------------------------- one session


def main_source(request: Request) -> tuple[SessionsReader, SessionLinks, str]:
    reader: SessionsReader = request.app.state.sessions
    session_id = reader.resolve(request.path_params["sid"])
    return reader, SessionLinks("", f"/sessions/{session_id}", (("Sessions", "/sessions"),)), session_id


def session_routes(prefix: str, source: Source) -> list[Route]:
    def page(request: Request) -> Response:
        reader, links, session_id = source(request)
        if session_id != request.path_params["sid"]:
            return RedirectResponse(links.base, status_code=307)
        start = max(0, _int(request.query_params.get("from"), 0))
        return HTMLResponse(session_view.session_page(reader, session_id, links, start=start))

    def entries(request: Request) -> Response:
        reader, links, session_id = source(request)
        start = max(0, _int(request.query_params.get("start"), 0))
        count = _int(request.query_params.get("count"), session_view.CHUNK)
        html, following = session_view.entries_fragment(reader, session_id, links, start, count)
        headers = {"x-next-url": f"{links.base}/entries?start={following}" if following is not None else ""}
        return HTMLResponse(html, headers=headers)

    def subagent(request: Request) -> Response:
        reader, links, session_id = source(request)
        return HTMLResponse(session_view.subagent_page(reader, session_id, request.path_params["n"], links))

    def stats(request: Request) -> Response:
        reader, _, session_id = source(request)
        return JSONResponse(session_view.stats_json(reader, session_id))

    def image(request: Request) -> Response:
        reader, _, session_id = source(request)
        data, media_type = session_view.image(reader, session_id, request.path_params["ref"])
        return Response(data, media_type=media_type, headers={"cache-control": "private, max-age=3600"})

    def export(request: Request) -> Response:
        reader, _, session_id = source(request)
        html = session_view.export_html(reader, session_id)
        name = f"interleaf-session-{session_id}.html"
        return HTMLResponse(html, headers={"content-disposition": f'attachment; filename="{name}"'})

    async def live(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        reader, _, session_id = await run_in_threadpool(source, request)
        poll = request.app.state.options.poll_seconds
        return StreamingResponse(
            session_events(reader, session_id, poll=poll),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    return [
        Route(prefix, page),
        Route(prefix + "/entries", entries),
        Route(prefix + "/stats", stats),
        Route(prefix + "/live", live),
        Route(prefix + "/subagents/{n:int}", subagent),
        Route(prefix + "/images/{ref}", image),
        Route(prefix + "/export.html", export),
    ]


def routes() -> list[Route]:
    from interleaf.view.routes_evals import eval_source

    return [
        Route("/sessions", list_page),
        *session_routes("/sessions/{sid}", main_source),
        *session_routes("/evals/{run}/sessions/{sid}", eval_source),
    ]


__all__ = ["main_source", "query_from", "routes", "session_routes"]
