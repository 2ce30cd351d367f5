"""Who may talk to the viewer, and what its pages may do.

* **Loopback by default.** Bound to 127.0.0.1, the viewer only answers requests whose ``Host`` is a
  loopback name, so a web page elsewhere cannot reach it through DNS rebinding.
* **A token off loopback.** Bound to any other address, every request must carry the token: once as
  ``?token=`` (the viewer then sets a cookie and redirects to the same URL without it), then the cookie,
  or ``Authorization: Bearer TOKEN`` for scripts. Only the shipped stylesheet and script (``/static/``)
  are served without it: they hold no data, and the "token needed" page uses them.
* **Strict pages.** Scripts, styles and images come from the viewer itself (``data:`` images too); nothing
  loads from anywhere else; the pages may not be framed.
"""

from __future__ import annotations

import hmac
import ipaddress
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interleaf.view.render import render

COOKIE = "interleaf_view_token"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# A run's own report.html: its inline styles and scripts may run, in a sandbox without the viewer's origin.
REPORT_CSP = (
    "sandbox allow-scripts allow-popups; default-src 'none'; img-src 'self' data:; "
    "style-src 'unsafe-inline'; script-src 'unsafe-inline'"
)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(header: str) -> str:
    if header.startswith("["):
        return header[: header.find("]") + 1]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    """ASGI middleware: the host check, the token, and the security headers on every response."""

    def __init__(self, app: ASGIApp, *, bind_host: str, token: str | None) -> None:
        self.app = app
        self.loopback_only = is_loopback(bind_host)
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if self.loopback_only and not is_loopback(_host_name(headers.get("host", ""))):
            await _refuse(
                send,
                421,
                "Wrong host",
                f"This viewer listens on loopback only and does not answer for host "
                f"{headers.get('host', '(none)')!r}; open it as http://127.0.0.1:PORT/.",
            )
            return
        if self.token is not None and not scope["path"].startswith("/static/"):  # assets hold no data
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            offered = query.get("token")
            if offered is not None and hmac.compare_digest(offered, self.token):
                rest = urlencode([(k, v) for k, v in query.items() if k != "token"])
                await _redirect_with_cookie(send, scope["path"] + (f"?{rest}" if rest else ""), self.token)
                return
            if not self._authorised(headers):
                await _refuse(
                    send,
                    401,
                    "Token needed",
                    "This viewer is reachable from other machines, so it needs its token: open the URL "
                    "`interleaf view` printed (it ends in ?token=...), or send Authorization: Bearer TOKEN.",
                )
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ]
                names = {k.lower() for k, _ in message.get("headers", [])}
                if b"content-security-policy" not in names:
                    extra.append((b"content-security-policy", CSP.encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _authorised(self, headers: dict[str, str]) -> bool:
        assert self.token is not None
        bearer = headers.get("authorization", "")
        if bearer.lower().startswith("bearer ") and hmac.compare_digest(bearer[7:].strip(), self.token):
            return True
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is simply no cookie
            return False
        morsel = cookie.get(COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value, self.token)


async def _redirect_with_cookie(send: Send, location: str, token: str) -> None:
    cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode()), (b"set-cookie", cookie.encode())],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _refuse(send: Send, status: int, heading: str, message: str) -> None:
    body = render(
        "error.html",
        title=heading,
        heading=heading,
        message=message,
        hint="",
        back_url="/",
        back_label="Start page",
        page="error",
        section="",
        root="",
        source_path="",
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"content-security-policy", CSP.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


__all__ = ["CSP", "REPORT_CSP", "Guard", "is_loopback"]
