"""The ``browser`` tool: a real headless Chromium the agent navigates, reads, clicks and types in.

One browser context per agent session, started on the first call and closed with the session
(:mod:`interleaf.tools.browser_session`). The model reads pages as text with numbered interactive
elements (:mod:`interleaf.tools.browser_snapshot`) and acts on them by number; every action that can
change the page answers with the page as it is afterwards.

Approval: the tool can submit forms, so it is not read-only, but :meth:`BrowserTool.approval_needed`
lets reading actions and pages on this machine (loopback hosts) run without asking.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from interleaf.tools.base import Params, ToolContext, ToolError, ToolOutcome, tool_spec
from interleaf.tools.browser_session import (
    BrowserSession,
    NavigationWatch,
    chromium_problem,
    find_chromium,
    first_lines,
)
from interleaf.tools.browser_snapshot import Snapshot, ref_selector, take_snapshot
from interleaf.tools.browser_urls import is_loopback_url, navigation_error, normalize_url, status_line
from interleaf.transcript import Image, Text

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

__all__ = ["BrowserParams", "BrowserTool", "is_loopback_url", "normalize_url"]

Action = Literal["navigate", "snapshot", "click", "type", "press", "scroll", "back", "screenshot", "tabs"]
_READING: frozenset[str] = frozenset({"snapshot", "screenshot", "scroll", "back", "tabs"})
_ACTING: frozenset[str] = frozenset({"click", "type", "press"})

DESCRIPTION = """\
Drive a real web browser (headless Chromium; JavaScript runs). One `action` per call:
- navigate {url}: open a page; returns the HTTP status, the title and a snapshot.
- snapshot: the current page as text plus its interactive elements, numbered like `[3] button "Submit"`.
- click {ref}: click element number `ref` from the latest snapshot.
- type {ref, text, submit?}: replace the content of field `ref` with `text` (for a select: choose the \
option with that label); submit=true then presses Enter.
- press {key}: press a key in the page, e.g. Enter, Escape, Tab, ArrowDown, Control+A.
- scroll {direction?, ref?}: scroll the page up or down by a screen (or bring element `ref` into view).
- back: go back one page in this tab's history.
- screenshot {full_page?}: a PNG of the window (or the whole page), saved in the session folder.
- tabs {tab_action?, tab?}: list the open tabs, or switch to / close tab number `tab`.
click, type, press, scroll and back return the page as it is afterwards. Element numbers change with \
every snapshot: always use the numbers from the latest result. Pages stay open between calls (one \
browser per session; cookies persist). Long pages are cut in the middle; the full text is saved to a file.\
"""


class BrowserParams(Params):
    action: Action = Field(description="What to do (see the tool description).")
    url: str | None = Field(
        default=None, description="navigate: the address, e.g. https://example.com or localhost:8000."
    )
    ref: int | None = Field(
        default=None, ge=1, description="click, type, scroll: an element number from the latest snapshot."
    )
    text: str | None = Field(default=None, description="type: the text to enter.")
    submit: bool = Field(default=False, description="type: press Enter after typing (submits most forms).")
    key: str | None = Field(default=None, description="press: a key or chord, e.g. Enter, Escape, Control+A.")
    direction: Literal["down", "up"] = Field(default="down", description="scroll: which way (default down).")
    full_page: bool = Field(default=False, description="screenshot: the whole page, not just the window.")
    tab_action: Literal["list", "switch", "close"] = Field(
        default="list", description="tabs: list (default), switch or close."
    )
    tab: int | None = Field(default=None, ge=1, description="tabs switch/close: the tab number.")
    timeout: float | None = Field(
        default=None,
        gt=0,
        le=120,
        description="navigate: seconds to wait for the server to answer (default 20).",
    )


class BrowserTool:
    """The ``browser`` tool. One instance is one browser, started on first use."""

    name = "browser"
    params = BrowserParams
    read_only = False

    def __init__(
        self,
        *,
        executable: str | Path | None = None,
        navigation_timeout: float = 20.0,
        load_timeout: float = 10.0,
        action_timeout: float = 5.0,
        launch_timeout: float = 30.0,
        max_snapshot_chars: int = 20_000,
        headless: bool = True,
    ) -> None:
        self.executable = find_chromium(executable)
        self.navigation_timeout = navigation_timeout
        self.load_timeout = load_timeout
        self.action_timeout = action_timeout
        self.launch_timeout = launch_timeout
        self.max_snapshot_chars = max_snapshot_chars
        self.headless = headless
        self.spec = tool_spec(self.name, DESCRIPTION, BrowserParams)
        self._session: BrowserSession | None = None
        self._lock = asyncio.Lock()
        self._snapshot_page: Page | None = None
        self._snapshot_refs = 0

    @property
    def problem(self) -> str | None:
        """Why this browser cannot start here (no Playwright, no Chromium), or None."""
        return chromium_problem(self.executable)

    # ---------------------------------------------------------------------------------- approval

    def approval_needed(self, arguments: dict[str, Any]) -> bool:
        """Whether this call needs the user's approval in ``ask`` mode.

        Reading (snapshot, screenshot, scroll, back, tabs) never does, nor opening a page on this
        machine (127.0.0.1, localhost, ::1) or acting on one. Opening any other address, or clicking
        and typing in a page from one, does.
        """
        action = arguments.get("action")
        if action in _READING:
            return False
        if action == "navigate":
            return not is_loopback_url(str(arguments.get("url") or ""))
        if action in _ACTING:
            page = self._session.current if self._session is not None else None
            return page is None or not is_loopback_url(page.url)
        return True

    # ---------------------------------------------------------------------------------------- run

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        params = BrowserParams.model_validate(arguments)
        _check_arguments(params)
        async with self._lock:
            notes: list[str] = []
            session = await self._session_for(notes)
            from playwright.async_api import Error as PlaywrightError

            try:
                return await self._act(session, params, ctx, notes)
            except PlaywrightError as exc:
                if not session.usable:
                    raise ToolError(
                        "the browser closed or crashed during this call; the next call starts a new one "
                        "(open pages, cookies and logins are gone)",
                        brief="browser crashed",
                    ) from None
                raise ToolError(
                    f"browser {params.action} failed: {first_lines(str(exc))}",
                    brief=f"{params.action} failed",
                ) from None

    async def _session_for(self, notes: list[str]) -> BrowserSession:
        session = self._session
        if session is not None and not session.usable:
            notes.append(
                "the browser had closed or crashed since the last call; a new one was started "
                "(open pages, cookies and logins are gone)"
            )
            await session.close()
            session = self._session = None
        if session is None:
            problem = self.problem
            if problem is not None:
                raise ToolError(problem, brief="browser unavailable")
            assert self.executable is not None
            session = self._session = await BrowserSession.launch(
                self.executable,
                launch_timeout=self.launch_timeout,
                action_timeout=self.action_timeout,
                navigation_timeout=self.navigation_timeout,
                load_timeout=self.load_timeout,
                headless=self.headless,
            )
            self._snapshot_page, self._snapshot_refs = None, 0
        return session

    async def _act(
        self, session: BrowserSession, params: BrowserParams, ctx: ToolContext, notes: list[str]
    ) -> ToolOutcome:
        page = await session.page()
        if params.action == "navigate":
            return await self._navigate(session, page, params, ctx, notes)
        if params.action == "snapshot":
            return await self._page_outcome(session, page, ctx, notes, brief="snapshot")
        if params.action == "click":
            return await self._click(session, page, params, ctx, notes)
        if params.action == "type":
            return await self._type(session, page, params, ctx, notes)
        if params.action == "press":
            assert params.key is not None
            with NavigationWatch(page) as watch:
                await page.keyboard.press(params.key)
                await session.after_action(page, watch, notes)
            page = await session.adopt_new_tab(page, notes)
            return await self._page_outcome(session, page, ctx, notes, brief=f"press {params.key}")
        if params.action == "scroll":
            return await self._scroll(session, page, params, ctx, notes)
        if params.action == "back":
            return await self._back(session, page, ctx, notes)
        if params.action == "screenshot":
            return await self._screenshot(session, page, params, ctx)
        return await self._tabs(session, params, ctx, notes)

    # ------------------------------------------------------------------------------------ actions

    async def _navigate(
        self, session: BrowserSession, page: Page, params: BrowserParams, ctx: ToolContext, notes: list[str]
    ) -> ToolOutcome:
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        url = normalize_url(params.url or "")
        seconds = params.timeout or self.navigation_timeout
        started = time.monotonic()
        try:
            response = await page.goto(url, wait_until="commit", timeout=seconds * 1000)
        except PlaywrightTimeout:
            await _stop_loading(page)
            raise ToolError(
                f"navigation to {url} timed out after {seconds:g} s: the server did not answer in time. "
                "It may be slow or down; retry with a larger `timeout` (up to 120 s) or try another address.",
                brief=f"navigate timed out after {seconds:g} s",
            ) from None
        except PlaywrightError as exc:
            if "interrupted by another navigation" not in str(exc):
                raise ToolError(navigation_error(url, str(exc)), brief="navigate failed") from None
            # A script (or a navigation still pending) sent the tab elsewhere: show where it went.
            response = None
            notes.append("while loading, the page navigated on by itself")
        remaining = max(seconds - (time.monotonic() - started), 1.0)
        if not await session.wait_loaded(page, min(self.load_timeout, remaining)):
            notes.append(
                f"the page was still loading after {min(self.load_timeout, remaining):g} s; "
                "this is what had loaded (take another snapshot later to see more)"
            )
        status = status_line(response)
        failed = response is not None and response.status >= 400
        brief = f"navigate {url} → {response.status if response is not None else 'ok'}"
        return await self._page_outcome(
            session, page, ctx, notes, brief=brief, status=status, is_error=failed
        )

    async def _click(
        self, session: BrowserSession, page: Page, params: BrowserParams, ctx: ToolContext, notes: list[str]
    ) -> ToolOutcome:
        assert params.ref is not None
        element = await self._element(page, params.ref)
        before = page.url
        with NavigationWatch(page) as watch:
            await element.click(timeout=self.action_timeout * 1000)
            await session.after_action(page, watch, notes)
        page = await session.adopt_new_tab(page, notes)
        if page.url != before:
            notes.append(f"the click went to {page.url}")
        return await self._page_outcome(session, page, ctx, notes, brief=f"click [{params.ref}]")

    async def _type(
        self, session: BrowserSession, page: Page, params: BrowserParams, ctx: ToolContext, notes: list[str]
    ) -> ToolOutcome:
        from playwright.async_api import Error as PlaywrightError

        assert params.ref is not None and params.text is not None
        element = await self._element(page, params.ref)
        tag = str(await element.evaluate("el => el.tagName")).lower()
        try:
            if tag == "select":
                await element.select_option(label=params.text, timeout=self.action_timeout * 1000)
            else:
                await element.fill(params.text, timeout=self.action_timeout * 1000)
        except PlaywrightError as exc:
            raise ToolError(
                f"cannot type into element [{params.ref}] ({tag}): {first_lines(str(exc), 1)}. "
                "Pick a textbox, text area or select from the latest snapshot.",
                brief=f"type [{params.ref}] failed",
            ) from None
        before = page.url
        with NavigationWatch(page) as watch:
            if params.submit:
                await element.press("Enter", timeout=self.action_timeout * 1000)
            await session.after_action(page, watch, notes)
        page = await session.adopt_new_tab(page, notes)
        if page.url != before:
            notes.append(f"the page went to {page.url}")
        brief = f"type [{params.ref}]" + (" + Enter" if params.submit else "")
        return await self._page_outcome(session, page, ctx, notes, brief=brief)

    async def _scroll(
        self, session: BrowserSession, page: Page, params: BrowserParams, ctx: ToolContext, notes: list[str]
    ) -> ToolOutcome:
        if params.ref is not None:
            element = await self._element(page, params.ref)
            await element.scroll_into_view_if_needed(timeout=self.action_timeout * 1000)
        else:
            sign = 1 if params.direction == "down" else -1
            await page.evaluate("(sign) => window.scrollBy(0, sign * window.innerHeight * 0.8)", sign)
        await session.quiet(page)
        return await self._page_outcome(session, page, ctx, notes, brief=f"scroll {params.direction}")

    async def _back(
        self, session: BrowserSession, page: Page, ctx: ToolContext, notes: list[str]
    ) -> ToolOutcome:
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        before = page.url
        try:
            response = await page.go_back(wait_until="commit", timeout=self.navigation_timeout * 1000)
        except PlaywrightTimeout:
            raise ToolError(
                f"going back timed out after {self.navigation_timeout:g} s", brief="back timed out"
            ) from None
        if response is None and page.url == before:
            notes.append("there is no earlier page in this tab's history; the page did not change")
        else:
            await session.wait_loaded(page, self.load_timeout)
        return await self._page_outcome(session, page, ctx, notes, brief="back", status=status_line(response))

    async def _screenshot(
        self, session: BrowserSession, page: Page, params: BrowserParams, ctx: ToolContext
    ) -> ToolOutcome:
        path = ctx.output_path("screenshot", ".png")
        data = await page.screenshot(path=path, full_page=params.full_page, type="png")
        title = await page.title()
        what = "the whole page" if params.full_page else "the window (1280x800)"
        return ToolOutcome(
            content=(
                Text(text=f"screenshot of {what} of {page.url} ({title!r}), saved to {path}"),
                Image(media_type="image/png", data=base64.b64encode(data).decode("ascii")),
            ),
            brief=f"screenshot saved to {path.name}",
            saved=(path,),
        )

    async def _tabs(
        self, session: BrowserSession, params: BrowserParams, ctx: ToolContext, notes: list[str]
    ) -> ToolOutcome:
        if params.tab_action != "list":
            if params.tab is None or params.tab > len(session.tabs):
                raise ToolError(
                    f"tabs {params.tab_action} needs `tab`, a tab number from 1 to {len(session.tabs)}"
                    + f"\n{await session.tab_list()}"
                )
            target = session.tabs[params.tab - 1]
            if params.tab_action == "switch":
                session.current = target
                await target.bring_to_front()
                return await self._page_outcome(
                    session, target, ctx, notes, brief=f"switched to tab {params.tab}"
                )
            await target.close()
            page = await session.page()
            notes.append(f"closed tab {params.tab}; the current tab is {session.number(page)}")
        return ToolOutcome(
            content="\n".join([*(f"[{n}]" for n in notes), await session.tab_list()]), brief="tabs"
        )

    # ------------------------------------------------------------------------------------ helpers

    async def _element(self, page: Page, ref: int) -> Locator:
        if self._snapshot_page is not page or self._snapshot_refs == 0:
            raise ToolError(
                f"there is no element [{ref}] on this page yet: take a snapshot first "
                "(`browser` with action snapshot) and use a number from it",
                brief=f"no element [{ref}]",
            )
        if ref > self._snapshot_refs:
            raise ToolError(
                f"there is no element [{ref}]: the latest snapshot numbered elements 1 to "
                f"{self._snapshot_refs}. Use a number from the latest snapshot.",
                brief=f"no element [{ref}]",
            )
        locator = page.locator(ref_selector(ref))
        if await locator.count() == 0:
            raise ToolError(
                f"element [{ref}] is gone: the page changed since the latest snapshot. "
                "Take a new snapshot and use its numbers.",
                brief=f"element [{ref}] is stale",
            )
        return locator.first

    async def _page_outcome(
        self,
        session: BrowserSession,
        page: Page,
        ctx: ToolContext,
        notes: list[str],
        *,
        brief: str,
        status: str | None = None,
        is_error: bool = False,
    ) -> ToolOutcome:
        snapshot = await self._snapshot(session, page)
        self._snapshot_page, self._snapshot_refs = page, len(snapshot.elements)
        text, saved = self._render(snapshot, session, page, ctx, notes, status)
        return ToolOutcome(content=text, is_error=is_error, brief=brief, saved=saved)

    async def _snapshot(self, session: BrowserSession, page: Page) -> Snapshot:
        """Read the page; if a navigation replaces the document mid-read, read the new one."""
        from playwright.async_api import Error as PlaywrightError

        for attempt in range(3):
            try:
                return await take_snapshot(page)
            except PlaywrightError as exc:
                if attempt == 2 or not ("context was destroyed" in str(exc) or "navigat" in str(exc)):
                    raise
                await session.wait_loaded(page, self.load_timeout)
        raise AssertionError("unreachable")

    def _render(
        self,
        snapshot: Snapshot,
        session: BrowserSession,
        page: Page,
        ctx: ToolContext,
        notes: list[str],
        status: str | None,
    ) -> tuple[str, tuple[Path, ...]]:
        budget = min(ctx.max_output_chars, self.max_snapshot_chars)
        body, cut = snapshot.render(budget)
        saved: tuple[Path, ...] = ()
        if cut:
            path = ctx.output_path("page", ".txt")
            path.write_text(snapshot.full_text(), encoding="utf-8")
            saved = (path,)
            notes.append(f"the page is long and was cut; the full text is saved in {path}")
        tab = f"tab {session.number(page)} of {len(session.tabs)}" if page in session.tabs else "tab"
        head = [f"URL: {snapshot.url}", f"Title: {snapshot.title or '(none)'}"]
        if status is not None:
            head.insert(1, f"Status: {status}")
        head.append(f"({tab}; {snapshot.position})")
        head.extend(f"[{note}]" for note in notes)
        return "\n".join(head) + "\n" + body, saved

    async def aclose(self) -> None:
        async with self._lock:
            if self._session is not None:
                session, self._session = self._session, None
                await session.close()


# ------------------------------------------------------------------------------------- functions


def _check_arguments(params: BrowserParams) -> None:
    """Each action's required fields, with an error that says what to send."""
    needs: dict[str, tuple[str, ...]] = {
        "navigate": ("url",),
        "click": ("ref",),
        "type": ("ref", "text"),
        "press": ("key",),
    }
    missing = [name for name in needs.get(params.action, ()) if getattr(params, name) in (None, "")]
    if params.action == "type" and params.text == "":
        missing = [m for m in missing if m != "text"]  # typing "" clears the field
    if missing:
        fields = " and ".join(f"`{m}`" for m in missing)
        example = {
            "navigate": '{"action": "navigate", "url": "https://example.com"}',
            "click": '{"action": "click", "ref": 3}',
            "type": '{"action": "type", "ref": 2, "text": "hello", "submit": false}',
            "press": '{"action": "press", "key": "Enter"}',
        }[params.action]
        raise ToolError(
            f"browser action `{params.action}` needs {fields}; for example {example}",
            brief=f"browser {params.action}: missing {', '.join(missing)}",
        )


async def _stop_loading(page: Page) -> None:
    """Cancel a navigation still pending after a timeout, so it cannot land later under the model
    (or abort its next navigation). ``window.stop()`` would wait for the navigation to commit."""
    from playwright.async_api import Error as PlaywrightError

    with contextlib.suppress(PlaywrightError):
        cdp = await page.context.new_cdp_session(page)
        try:
            await cdp.send("Page.stopLoading")
        finally:
            await cdp.detach()
