"""Addresses for the ``browser`` tool: completing what the model wrote, telling this machine's
addresses from others (for approval), and saying what an HTTP status or a network error means."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from interleaf.tools.base import ToolError
from interleaf.tools.browser_session import first_lines

if TYPE_CHECKING:
    from playwright.async_api import Response

__all__ = ["is_loopback_url", "navigation_error", "normalize_url", "status_line"]

_SCHEMES = ("http", "https", "file", "about")


def normalize_url(raw: str) -> str:
    """A full URL from what the model wrote: ``example.com`` → ``https://example.com``,
    ``localhost:8000`` → ``http://localhost:8000``. Schemes other than http(s), file and about
    are refused."""
    url = raw.strip()
    if not url:
        raise ToolError("navigate needs a `url`, e.g. https://example.com")
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if "://" not in url and scheme not in ("about", "file", "data", "javascript", "chrome"):
        host = url.split("/", 1)[0].split(":", 1)[0]
        local = is_loopback_url(f"http://{url}") or host.endswith(".localhost") or host.endswith(".local")
        url = ("http://" if local else "https://") + url
        scheme = url.split(":", 1)[0]
    if scheme not in _SCHEMES:
        raise ToolError(
            f"cannot open {raw!r}: only http, https, file and about: addresses are allowed",
            brief="navigate: scheme not allowed",
        )
    return url


def is_loopback_url(url: str) -> bool:
    """True for addresses on this machine: 127.0.0.0/8, ::1, localhost (and about:blank)."""
    if url.strip().lower() == "about:blank":
        return True
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if parts.scheme not in ("http", "https"):
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def status_line(response: Response | None) -> str | None:
    if response is None:
        return None
    reason = response.status_text or _REASONS.get(response.status, "")
    line = f"{response.status} {reason}".strip()
    if response.status == 404:
        line += " (the page was not found; check the address)"
    elif response.status >= 400:
        line += " (the server answered with an error)"
    return line


_REASONS = {200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 302: "Found",
            304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}  # fmt: skip


def navigation_error(url: str, message: str) -> str:
    text = first_lines(message, 1).removeprefix("Page.goto: ")
    hints = {
        "ERR_CONNECTION_REFUSED": "nothing is listening at that address (is the server running? right port?)",
        "ERR_NAME_NOT_RESOLVED": "the host name does not resolve (a typo, or no network access to it)",
        "ERR_INTERNET_DISCONNECTED": "this machine has no internet access",
        "ERR_ADDRESS_UNREACHABLE": "the address cannot be reached from this machine",
        "ERR_CERT": "the site's TLS certificate is not valid",
        "ERR_TIMED_OUT": "the connection timed out",
        "ERR_ABORTED": "the navigation was aborted (a download, or the page navigated elsewhere)",
        "ERR_UNSAFE_PORT": "browsers refuse this port (it belongs to another protocol)",
    }
    hint = next((h for code, h in hints.items() if code in text), "")
    return f"could not open {url}: {text}" + (f" — {hint}" if hint else "")
