"""One headless Chromium for one agent session: launch, tabs, waiting for pages, and shutdown.

The browser is the system's Chromium (Debian's ``chromium`` package), driven by Playwright; no
browser is ever downloaded. Its flags are the ones that work in containers and on closed networks:
headless, no sandbox when running as root (the sandbox needs user namespaces a container rarely
has), and no background networking, component updates or sync (without them Chromium keeps opening
connections to Google's hosts, which a closed network refuses). Each launch gets a fresh, empty
profile, so nothing carries over between sessions.

Waiting: after a navigation or an action, a page is read once it has loaded, has no request in
flight and its DOM has been still for a moment (each wait bounded), so content that scripts fetch and
render after load is there, and a page that never settles is read as far as it got.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from interleaf.tools.base import ToolError
from interleaf.tools.browser_snapshot import settle

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Frame, Page, Playwright, Request

__all__ = [
    "CHROMIUM_ENV",
    "DEFAULT_CHROMIUM",
    "LAUNCH_ARGS",
    "BrowserSession",
    "NavigationWatch",
    "chromium_problem",
    "find_chromium",
]

CHROMIUM_ENV = "INTERLEAF_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
_OTHER_NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")

LAUNCH_ARGS: tuple[str, ...] = (
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
VIEWPORT = {"width": 1280, "height": 800}

INSTALL_HINT = (
    "install Chromium with `apt-get install chromium` (Debian/Ubuntu; the browser tool never downloads "
    f"a browser), or set {CHROMIUM_ENV} to the path of a Chromium or Chrome binary"
)


def find_chromium(explicit: str | Path | None = None) -> Path | None:
    """The Chromium binary to use: ``explicit``, else ``$INTERLEAF_CHROMIUM``, else the system's.

    An explicit or configured path is returned even when missing (so the error can name it);
    ``None`` means no Chromium was found anywhere.
    """
    chosen = explicit or os.environ.get(CHROMIUM_ENV)
    if chosen:
        return Path(chosen).expanduser()
    if Path(DEFAULT_CHROMIUM).exists():
        return Path(DEFAULT_CHROMIUM)
    for name in _OTHER_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def chromium_problem(executable: Path | None) -> str | None:
    """Why the browser cannot start (no Playwright, no Chromium), or None when it can."""
    if importlib.util.find_spec("playwright") is None:  # found without importing it (that is slow)
        return (
            "the browser tool needs the Playwright package: `pip install 'interleaf[browser]'` "
            "(only the Python package; it drives the system Chromium)"
        )
    if executable is None:
        return f"no Chromium was found ({DEFAULT_CHROMIUM} is missing): {INSTALL_HINT}"
    if not executable.is_file() or not os.access(executable, os.X_OK):
        return f"the Chromium binary {executable} does not exist or is not executable: {INSTALL_HINT}"
    return None


@dataclass
class BrowserSession:
    """A running browser with one context (cookies, storage) and its tabs.

    ``tabs`` holds the open pages in the order they opened, including ones a page opened itself
    (``target=_blank``, ``window.open``); ``current`` is the one actions apply to.
    """

    playwright: Playwright
    browser: Browser
    context: BrowserContext
    navigation_timeout: float
    load_timeout: float
    tabs: list[Page] = field(default_factory=list)
    current: Page | None = None
    disconnected: bool = False
    opened: list[Page] = field(default_factory=list)
    """Tabs opened by pages since the last call looked (see :meth:`take_opened`)."""
    loading: dict[Page, int] = field(default_factory=dict)
    """Requests each tab has in flight (the page is not quiet while any are)."""
    _idle: dict[Page, asyncio.Event] = field(default_factory=dict)

    @classmethod
    async def launch(
        cls,
        executable: Path,
        *,
        launch_timeout: float,
        action_timeout: float,
        navigation_timeout: float,
        load_timeout: float,
        headless: bool = True,
    ) -> BrowserSession:
        """Start Playwright and Chromium, and open one tab. Failures raise :class:`ToolError`."""
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import async_playwright

        playwright = await async_playwright().start()
        try:
            browser = await playwright.chromium.launch(
                executable_path=str(executable),
                headless=headless,
                # Playwright adds --no-sandbox unless asked for the sandbox; as root it cannot work.
                chromium_sandbox=hasattr(os, "geteuid") and os.geteuid() != 0,
                args=list(LAUNCH_ARGS),
                timeout=launch_timeout * 1000,
            )
        except PlaywrightError as exc:
            await playwright.stop()
            raise ToolError(
                f"Chromium ({executable}) failed to start: {first_lines(str(exc))}\n"
                f"Check that it runs (`{executable} --headless --version`); {INSTALL_HINT}.",
                brief="browser failed to start",
            ) from None
        except BaseException:
            await playwright.stop()
            raise
        try:
            context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
            context.set_default_timeout(action_timeout * 1000)
            context.set_default_navigation_timeout(navigation_timeout * 1000)
            session = cls(
                playwright=playwright,
                browser=browser,
                context=context,
                navigation_timeout=navigation_timeout,
                load_timeout=load_timeout,
            )
            browser.on("disconnected", lambda _: session._on_disconnected())
            context.on("page", session._on_page)
            context.on("request", lambda request: session._count(request, 1))
            context.on("requestfinished", lambda request: session._count(request, -1))
            context.on("requestfailed", lambda request: session._count(request, -1))
            page = await context.new_page()
            session.current = page
            session.take_opened()
            return session
        except BaseException:
            await browser.close()
            await playwright.stop()
            raise

    def _on_page(self, page: Page) -> None:
        if page not in self.tabs:
            self.tabs.append(page)
            self.opened.append(page)
        page.on("close", self._on_close)

    def _count(self, request: Request, change: int) -> None:
        try:
            page = request.frame.page
        except Exception:
            return  # a service worker's request belongs to no tab
        count = self.loading[page] = max(self.loading.get(page, 0) + change, 0)
        idle = self._idle.setdefault(page, asyncio.Event())
        if count:
            idle.clear()
        else:
            idle.set()

    async def wait_idle(self, page: Page, seconds: float) -> bool:
        """Wait up to ``seconds`` for ``page`` to have no request in flight; False if it still has."""
        if not self.loading.get(page, 0):
            return True
        try:
            await asyncio.wait_for(self._idle.setdefault(page, asyncio.Event()).wait(), max(seconds, 0))
        except TimeoutError:
            return False
        return True

    def _on_close(self, page: Page) -> None:
        self.loading.pop(page, None)
        self._idle.pop(page, None)
        if page in self.tabs:
            self.tabs.remove(page)
        if page in self.opened:
            self.opened.remove(page)
        if self.current is page:
            self.current = self.tabs[-1] if self.tabs else None

    def _on_disconnected(self) -> None:
        self.disconnected = True

    def take_opened(self) -> list[Page]:
        """Tabs opened since the last look (and forget them)."""
        opened, self.opened = self.opened, []
        return opened

    @property
    def usable(self) -> bool:
        return not self.disconnected and self.browser.is_connected()

    async def page(self) -> Page:
        """The current tab, opening a new blank one if every tab was closed."""
        if self.current is None or self.current.is_closed():
            self.current = await self.context.new_page()
            self.take_opened()
        return self.current

    def number(self, page: Page) -> int:
        """The 1-based tab number of ``page``."""
        return self.tabs.index(page) + 1

    async def tab_list(self) -> str:
        """The open tabs, numbered, the current one starred."""
        lines = []
        for number, tab in enumerate(self.tabs, start=1):
            mark = "*" if tab is self.current else " "
            try:
                title = await tab.title()
            except Exception:
                title = "?"
            lines.append(f"{mark}[{number}] {title or '(no title)'} — {tab.url}")
        return "open tabs (* = current):\n" + ("\n".join(lines) or "(none)")

    # ------------------------------------------------------------------------------------ waiting

    async def wait_loaded(self, page: Page, seconds: float) -> bool:
        """Wait for the load event, then briefly for quiet (:meth:`quiet`). False if the load event
        did not come within ``seconds`` (the page is then read as far as it got)."""
        from playwright.async_api import Error as PlaywrightError

        try:
            await page.wait_for_load_state("load", timeout=seconds * 1000)
        except PlaywrightError:
            return False
        await self.quiet(page)
        return True

    async def after_action(self, page: Page, watch: NavigationWatch, notes: list[str]) -> None:
        """After a click or a key: let a navigation it started arrive and load, then quiet."""
        from playwright.async_api import Error as PlaywrightError

        await asyncio.sleep(0.1)  # a navigation an action starts is requested a moment later
        if watch.requested.is_set() and not watch.committed.is_set():
            try:
                await asyncio.wait_for(watch.committed.wait(), self.navigation_timeout)
            except TimeoutError:
                notes.append(
                    "the page started loading another page, which had not answered after "
                    f"{self.navigation_timeout:g} s"
                )
                return
        if watch.committed.is_set():
            try:
                await page.wait_for_load_state("load", timeout=self.load_timeout * 1000)
            except PlaywrightError:
                notes.append(
                    f"the new page was still loading after {self.load_timeout:g} s; this is what had loaded"
                )
        await self.quiet(page)

    async def quiet(self, page: Page, max_seconds: float = 2.0) -> None:
        """Wait (at most ``max_seconds``) until ``page`` has no request in flight and its DOM has
        stopped changing. A page that keeps polling is taken as it is."""
        deadline = time.monotonic() + max_seconds
        for _ in range(2):  # rendering may start new requests: look once more
            await self.wait_idle(page, deadline - time.monotonic())
            await settle(page, max_ms=int(max(deadline - time.monotonic(), 0.2) * 1000))
            if self.loading.get(page, 0) == 0:
                return

    async def adopt_new_tab(self, page: Page, notes: list[str]) -> Page:
        """If the last action opened tabs, make the newest current (it is where the model meant to
        go) and return it; else return ``page``."""
        opened = [tab for tab in self.take_opened() if not tab.is_closed()]
        if not opened:
            return page
        newest = opened[-1]
        from playwright.async_api import Error as PlaywrightError

        try:
            await newest.wait_for_load_state("load", timeout=self.load_timeout * 1000)
        except PlaywrightError:
            notes.append("the new tab was still loading")
        self.current = newest
        notes.append(
            f"a new tab opened ({self.number(newest)} of {len(self.tabs)}) and is now the current tab; "
            "`tabs` lists and switches tabs"
        )
        await self.quiet(newest)
        return newest

    async def close(self) -> None:
        """Close the browser and stop Playwright; safe on a browser that already died."""
        from playwright.async_api import Error as PlaywrightError

        try:
            if self.usable:
                await self.context.close()
                await self.browser.close()
        except PlaywrightError:
            pass  # it died while closing: nothing left to release but the driver
        finally:
            await self.playwright.stop()


def first_lines(message: str, limit: int = 3) -> str:
    """Playwright's error text without its call log (which only repeats the request)."""
    head = message.split("Call log:")[0].strip()
    lines = [line.strip() for line in head.splitlines() if line.strip()]
    text = " ".join(lines[:limit])
    return text if len(text) <= 500 else text[:499] + "…"


class NavigationWatch:
    """Notices whether an action made a tab request, and then commit, a new document."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.requested = asyncio.Event()
        self.committed = asyncio.Event()

    def __enter__(self) -> NavigationWatch:
        self.page.on("request", self._on_request)
        self.page.on("framenavigated", self._on_navigated)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.page.remove_listener("request", self._on_request)
        self.page.remove_listener("framenavigated", self._on_navigated)

    def _on_request(self, request: Request) -> None:
        with contextlib.suppress(Exception):  # a request of a frame already gone
            if request.is_navigation_request() and request.frame == self.page.main_frame:
                self.requested.set()

    def _on_navigated(self, frame: Frame) -> None:
        if frame == self.page.main_frame:
            self.committed.set()
