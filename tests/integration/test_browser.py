"""The browser tool driving the system Chromium against pages these tests serve on loopback.

One browser serves the tool-level tests (a launch costs seconds); the agent test and the error tests
start their own. Pages: a form that echoes what was posted, links (one opening a new tab), a list a
script renders after load, a slow server, a slow image, a page that changes by itself, a long page
and a 404.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from interleaf.agent.approval import Approver, tool_needs_approval
from interleaf.agent.session import AgentSession, RunOptions
from interleaf.tools.base import ToolContext, ToolOutcome, Toolset
from interleaf.tools.browser import BrowserTool, is_loopback_url, normalize_url
from interleaf.transcript import Image, Text, ToolCall
from tests.support.payloads import openai_chunks, openai_completion, tool_call
from tests.support.scripted_server import ScriptedServer, Step

# The tests share one browser and one site, so they run on one event loop for the module.
shared_loop = pytest.mark.asyncio(loop_scope="module")

PAGE = "<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>"


def page(title: str, body: str) -> web.Response:
    return web.Response(text=PAGE.format(title=title, body=body), content_type="text/html")


class Site:
    """The pages, and what the form received."""

    def __init__(self) -> None:
        self.posts: list[dict[str, str]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self.index)
        app.router.add_get("/form", self.form)
        app.router.add_post("/submit", self.submit)
        app.router.add_get("/items", self.items)
        app.router.add_get("/api/items", self.api_items)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/slow-image", self.slow_image)
        app.router.add_get("/slow-asset.png", self.slow_asset)
        app.router.add_get("/changing", self.changing)
        app.router.add_get("/long", self.long)
        app.router.add_route("*", "/{tail:.*}", self.not_found)
        self.runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def index(self, request: web.Request) -> web.Response:
        return page(
            "Test site",
            "<h1>Test site</h1><p>Welcome to   the\n test site.</p>"
            "<ul><li><a href='/form'>Sign up</a></li><li><a href='/items'>Items</a></li>"
            "<li><a href='/nowhere'>Missing</a></li>"
            "<li><a href='/items' target='_blank'>Items in a new tab</a></li></ul>"
            "<div style='display:none'>hidden text</div>",
        )

    async def form(self, request: web.Request) -> web.Response:
        return page(
            "Sign up",
            "<h1>Sign up</h1><form method='post' action='/submit'>"
            "<label for='name'>Name</label> <input id='name' name='name'>"
            "<label>Email <input type='email' name='email' required></label>"
            "<label>Plan <select name='plan'><option>Free</option><option>Pro</option></select></label>"
            "<button type='submit'>Submit</button></form><p><a href='/'>Home</a></p>",
        )

    async def submit(self, request: web.Request) -> web.Response:
        data = {k: str(v) for k, v in (await request.post()).items()}
        self.posts.append(data)
        name, email = html.escape(data.get("name", "")), html.escape(data.get("email", ""))
        plan = html.escape(data.get("plan", ""))
        return page("Thanks", f"<h1>Thanks, {name}!</h1><p>We will write to {email}.</p><p>Plan: {plan}</p>")

    async def items(self, request: web.Request) -> web.Response:
        script = (
            "fetch('/api/items').then(r => r.json()).then(items => {"
            " const list = document.getElementById('list');"
            " for (const item of items) { const li = document.createElement('li');"
            " li.textContent = item; list.appendChild(li); } });"
        )
        return page("Items", f"<h1>Items</h1><ul id='list'></ul><script>{script}</script>")

    async def api_items(self, request: web.Request) -> web.Response:
        await asyncio.sleep(0.2)
        return web.json_response(["apples", "pears", "plums"])

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return page("Slow", "<p>Finally loaded.</p>")

    async def slow_image(self, request: web.Request) -> web.Response:
        return page("Slow image", "<p>The text is here already.</p><img src='/slow-asset.png' alt='chart'>")

    async def slow_asset(self, request: web.Request) -> web.Response:
        await asyncio.sleep(8)
        return web.Response(body=b"", content_type="image/png")

    async def changing(self, request: web.Request) -> web.Response:
        script = "setTimeout(() => { document.getElementById('box').innerHTML = '<a href=\"/\">New link</a>'; }, 800);"
        return page("Changing", f"<div id='box'><a href='/form'>Old link</a></div><script>{script}</script>")

    async def long(self, request: web.Request) -> web.Response:
        paragraphs = "".join(f"<p>Paragraph {n} {'filler ' * 30}</p>" for n in range(400))
        return page("Long", f"<h1>Long page</h1>{paragraphs}<a href='/'>The end</a>")

    async def not_found(self, request: web.Request) -> web.Response:
        body = PAGE.format(title="Not found", body="<h1>Nothing here</h1>")
        return web.Response(status=404, text=body, content_type="text/html")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def site() -> AsyncIterator[Site]:
    server = Site()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Toolset]:
    async with Toolset([BrowserTool(max_snapshot_chars=6000)]) as toolset:
        yield toolset


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(workdir=tmp_path, session_dir=tmp_path / "session", max_output_chars=8000)


async def act(tools: Toolset, ctx: ToolContext, **arguments: Any) -> ToolOutcome:
    return await tools.call("browser", arguments, ctx)


def ref_of(text: str, fragment: str) -> int:
    """The number of the element whose snapshot line contains ``fragment``."""
    for line in text.splitlines():
        if line.startswith("[") and fragment in line:
            return int(line[1 : line.index("]")])
    raise AssertionError(f"no element line with {fragment!r} in:\n{text}")


# ------------------------------------------------------------------------------- reading pages


@shared_loop
async def test_navigate_shows_status_text_and_numbered_elements(
    browser: Toolset, site: Site, ctx: ToolContext
) -> None:
    outcome = await act(browser, ctx, action="navigate", url=site.base + "/")
    text = outcome.text
    assert not outcome.is_error, text
    assert f"URL: {site.base}/" in text
    assert "Status: 200 OK" in text
    assert "Title: Test site" in text
    assert "# Test site" in text
    assert "Welcome to the test site." in text  # whitespace collapsed
    assert "- Sign up" in text  # list items
    assert "hidden text" not in text
    assert '[1] link "Sign up" -> /form' in text
    assert '[2] link "Items" -> /items' in text
    assert '[4] link "Items in a new tab" (opens a new tab) -> /items' in text
    assert outcome.brief.startswith("navigate")


@shared_loop
async def test_fill_the_form_by_ref_and_read_the_result(
    browser: Toolset, site: Site, ctx: ToolContext
) -> None:
    text = (await act(browser, ctx, action="navigate", url=site.base + "/form")).text
    assert '[1] textbox "Name"' in text
    assert '[2] textbox "Email" (email, required)' in text
    assert '[3] combobox "Plan" = "Free" options: "Free", "Pro"' in text
    assert '[4] button "Submit"' in text
    typed = await act(browser, ctx, action="type", ref=1, text="Grace Hopper")
    assert '[1] textbox "Name" = "Grace Hopper"' in typed.text
    chosen = await act(browser, ctx, action="type", ref=3, text="Pro")
    assert '[3] combobox "Plan" = "Pro"' in chosen.text
    wrong = await act(browser, ctx, action="type", ref=4, text="x")
    assert wrong.is_error and "cannot type into element [4] (button)" in wrong.text
    done = await act(browser, ctx, action="type", ref=2, text="grace@example.com", submit=True)
    assert not done.is_error, done.text
    assert "# Thanks, Grace Hopper!" in done.text
    assert "We will write to grace@example.com." in done.text
    assert f"the page went to {site.base}/submit" in done.text
    assert site.posts[-1] == {"name": "Grace Hopper", "email": "grace@example.com", "plan": "Pro"}


@shared_loop
async def test_click_follows_a_link_and_back_returns(browser: Toolset, site: Site, ctx: ToolContext) -> None:
    await act(browser, ctx, action="navigate", url=site.base + "/")
    clicked = await act(browser, ctx, action="click", ref=1)
    assert "Title: Sign up" in clicked.text
    assert f"the click went to {site.base}/form" in clicked.text
    back = await act(browser, ctx, action="back")
    assert "Title: Test site" in back.text
    assert '[1] link "Sign up" -> /form' in back.text


@shared_loop
async def test_content_rendered_by_script_after_load_is_read(
    browser: Toolset, site: Site, ctx: ToolContext
) -> None:
    text = (await act(browser, ctx, action="navigate", url=f"{site.base}/items")).text
    for item in ("- apples", "- pears", "- plums"):
        assert item in text, text


@shared_loop
async def test_a_404_is_reported_as_such(browser: Toolset, site: Site, ctx: ToolContext) -> None:
    outcome = await act(browser, ctx, action="navigate", url=f"{site.base}/nowhere")
    assert outcome.is_error
    assert "Status: 404 Not Found (the page was not found; check the address)" in outcome.text
    assert "# Nothing here" in outcome.text


@shared_loop
async def test_slow_server_times_out_clearly_then_loads_with_more_time(
    browser: Toolset, site: Site, ctx: ToolContext
) -> None:
    quick = await act(browser, ctx, action="navigate", url=f"{site.base}/slow", timeout=1)
    assert quick.is_error
    assert quick.text.startswith(f"navigation to {site.base}/slow timed out after 1 s")
    assert "larger `timeout`" in quick.text
    patient = await act(browser, ctx, action="navigate", url=f"{site.base}/slow", timeout=10)
    assert not patient.is_error, patient.text
    assert "Finally loaded." in patient.text


@shared_loop
async def test_a_page_still_loading_is_shown_as_far_as_it_got(
    browser: Toolset, site: Site, ctx: ToolContext
) -> None:
    tool = browser.get("browser")
    assert isinstance(tool, BrowserTool)
    tool.load_timeout = 1
    try:
        outcome = await act(browser, ctx, action="navigate", url=f"{site.base}/slow-image")
    finally:
        tool.load_timeout = 10
    assert not outcome.is_error, outcome.text
    assert "the page was still loading after 1 s" in outcome.text
    assert "The text is here already." in outcome.text


@shared_loop
async def test_unreachable_address_is_a_clear_error(browser: Toolset, ctx: ToolContext) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    outcome = await act(browser, ctx, action="navigate", url=f"http://127.0.0.1:{port}/")
    assert outcome.is_error
    assert "ERR_CONNECTION_REFUSED" in outcome.text
    assert "nothing is listening at that address" in outcome.text


@shared_loop
async def test_long_pages_are_cut_and_saved(browser: Toolset, site: Site, ctx: ToolContext) -> None:
    outcome = await act(browser, ctx, action="navigate", url=f"{site.base}/long")
    assert len(outcome.text) < 7000
    assert "# Long page" in outcome.text  # the head stays
    assert "The end" in outcome.text  # the element list survives the cut
    assert len(outcome.saved) == 1
    full = outcome.saved[0].read_text()
    assert "Paragraph 399" in full
    assert str(outcome.saved[0]) in outcome.text
    scrolled = await act(browser, ctx, action="scroll", direction="down")
    assert "the window shows 640-1440 of" in scrolled.text


# ------------------------------------------------------------------------------------ references


@shared_loop
async def test_refs_must_come_from_the_latest_snapshot(
    browser: Toolset, site: Site, ctx: ToolContext
) -> None:
    text = (await act(browser, ctx, action="navigate", url=f"{site.base}/changing")).text
    old = ref_of(text, "Old link")
    too_big = await act(browser, ctx, action="click", ref=old + 5)
    assert too_big.is_error
    assert f"the latest snapshot numbered elements 1 to {old}" in too_big.text
    await asyncio.sleep(1.0)  # the page replaces its link by itself
    stale = await act(browser, ctx, action="click", ref=old)
    assert stale.is_error
    assert "the page changed since the latest snapshot" in stale.text
    fresh = await act(browser, ctx, action="snapshot")
    assert "New link" in fresh.text and "Old link" not in fresh.text


@shared_loop
async def test_action_arguments_are_checked(browser: Toolset, ctx: ToolContext) -> None:
    missing = await act(browser, ctx, action="type", ref=1)
    assert missing.is_error
    assert "browser action `type` needs `text`" in missing.text
    assert '"submit": false' in missing.text
    wrong = await act(browser, ctx, action="fly")
    assert wrong.is_error and "invalid arguments for tool `browser`" in wrong.text
    scheme = await act(browser, ctx, action="navigate", url="javascript:alert(1)")
    assert scheme.is_error and "only http, https, file and about" in scheme.text


@shared_loop
async def test_new_tabs_become_available(browser: Toolset, site: Site, ctx: ToolContext) -> None:
    text = (await act(browser, ctx, action="navigate", url=site.base + "/")).text
    opened = await act(browser, ctx, action="click", ref=ref_of(text, "Items in a new tab"))
    assert "a new tab opened (2 of 2) and is now the current tab" in opened.text
    assert "- apples" in opened.text
    listing = (await act(browser, ctx, action="tabs")).text
    assert f" [1] Test site — {site.base}/" in listing
    assert f"*[2] Items — {site.base}/items" in listing
    switched = await act(browser, ctx, action="tabs", tab_action="switch", tab=1)
    assert "Title: Test site" in switched.text and "(tab 1 of 2;" in switched.text
    closed = await act(browser, ctx, action="tabs", tab_action="close", tab=2)
    assert "closed tab 2; the current tab is 1" in closed.text
    assert "[2]" not in closed.text.split("open tabs")[1]
    bad = await act(browser, ctx, action="tabs", tab_action="switch", tab=7)
    assert bad.is_error and "a tab number from 1 to 1" in bad.text


@shared_loop
async def test_screenshot_is_a_valid_png_saved_in_the_session(
    browser: Toolset, site: Site, ctx: ToolContext
) -> None:
    await act(browser, ctx, action="navigate", url=site.base + "/form")
    outcome = await act(browser, ctx, action="screenshot")
    assert not outcome.is_error, outcome.text
    assert isinstance(outcome.content, tuple)
    text, image = outcome.content
    assert isinstance(text, Text) and isinstance(image, Image)
    path = outcome.saved[0]
    assert path.parent == ctx.session_dir / "outputs" and path.suffix == ".png"
    assert str(path) in text.text
    data = path.read_bytes()
    assert image.media_type == "image/png" and base64.b64decode(image.data or "") == data
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind, width, height = struct.unpack(">I4sII", data[8:24])
    assert (length, kind) == (13, b"IHDR")
    assert (width, height) == (1280, 800)
    full = await act(browser, ctx, action="screenshot", full_page=True)
    width, height = struct.unpack(">II", full.saved[0].read_bytes()[16:24])
    assert width == 1280 and height > 0


@shared_loop
async def test_a_browser_that_died_is_replaced(browser: Toolset, site: Site, ctx: ToolContext) -> None:
    tool = browser.get("browser")
    assert isinstance(tool, BrowserTool)
    await act(browser, ctx, action="navigate", url=site.base + "/")
    session = tool._session
    assert session is not None
    await session.browser.close()  # as if Chromium had crashed
    outcome = await act(browser, ctx, action="navigate", url=site.base + "/form")
    assert not outcome.is_error, outcome.text
    assert "[the browser had closed or crashed since the last call; a new one was started" in outcome.text
    assert "# Sign up" in outcome.text


# -------------------------------------------------------------------------------- setup problems


@shared_loop
async def test_missing_chromium_tells_how_to_install_it(ctx: ToolContext, tmp_path: Path) -> None:
    tool = BrowserTool(executable=tmp_path / "no-chromium")
    assert tool.problem is not None
    async with Toolset([tool]) as tools:
        outcome = await act(tools, ctx, action="snapshot")
    assert outcome.is_error
    assert "apt-get install chromium" in outcome.text
    assert str(tmp_path / "no-chromium") in outcome.text


@shared_loop
async def test_chromium_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INTERLEAF_CHROMIUM", str(tmp_path / "elsewhere"))
    assert BrowserTool().executable == tmp_path / "elsewhere"


# ---------------------------------------------------------------------------------------- approval


def test_urls_are_normalized_and_loopback_is_recognized() -> None:
    assert normalize_url("example.com/a") == "https://example.com/a"
    assert normalize_url("localhost:8000") == "http://localhost:8000"
    assert normalize_url("127.0.0.1:5000/x") == "http://127.0.0.1:5000/x"
    for url in (
        "http://127.0.0.1:1/",
        "http://localhost/",
        "http://[::1]:80/",
        "http://127.9.9.9/",
        "about:blank",
    ):
        assert is_loopback_url(url), url
    for url in (
        "https://example.com/",
        "http://10.0.0.1/",
        "file:///etc/passwd",
        "http://localhost.evil.com/",
    ):
        assert not is_loopback_url(url), url


@shared_loop
async def test_ask_mode_asks_only_for_other_hosts() -> None:
    asked: list[str] = []

    async def ask(call: ToolCall, summary: str) -> Any:
        asked.append(summary)
        return "no"

    tool = BrowserTool()
    approver = Approver("ask", ask=ask)

    async def allowed(**arguments: Any) -> bool:
        call = ToolCall(id="c", name="browser", arguments=arguments)
        needs = tool_needs_approval(tool, call.arguments)
        decision = await approver.decide(call, read_only=tool.read_only, summary="s", needs_approval=needs)
        return decision.allowed

    assert await allowed(action="navigate", url="http://127.0.0.1:8000/")
    assert await allowed(action="snapshot")
    assert await allowed(action="screenshot")
    assert await allowed(action="tabs")
    assert not asked
    assert not await allowed(action="navigate", url="https://example.com/")
    assert not await allowed(action="click", ref=1)  # no page on this machine is open
    assert len(asked) == 2
    never = Approver("never")
    call = ToolCall(id="c", name="browser", arguments={"action": "snapshot"})
    assert (await never.decide(call, read_only=False, summary="", needs_approval=False)).allowed
    assert not (await never.decide(call, read_only=False, summary="", needs_approval=True)).allowed


# ------------------------------------------------------------------------------------ the agent


def _browser_call(call_id: str, **arguments: Any) -> Step:
    completion = openai_completion(
        reasoning=f"Next: {arguments['action']}.", tool_calls=[tool_call(call_id, "browser", arguments)]
    )
    return Step.sse(openai_chunks(completion))


def _tool_results(body: dict[str, Any]) -> list[str]:
    results = []
    for message in body["messages"]:
        if message["role"] == "tool":
            content = message["content"]
            results.append(content if isinstance(content, str) else json.dumps(content))
    return results


@shared_loop
async def test_the_agent_fills_a_form_and_reads_the_result(site: Site, tmp_path: Path) -> None:
    asked: list[str] = []

    async def ask(call: ToolCall, summary: str) -> Any:
        asked.append(summary)
        return "no"

    final = "The result page says: Thanks, Ada Lovelace! We will write to ada@example.com."
    steps = [
        _browser_call("call_1", action="navigate", url=f"{site.base}/form"),
        _browser_call("call_2", action="snapshot"),
        _browser_call("call_3", action="type", ref=1, text="Ada Lovelace"),
        _browser_call("call_4", action="type", ref=2, text="ada@example.com", submit=True),
        _browser_call("call_5", action="navigate", url="https://example.com/"),
        Step.sse(openai_chunks(openai_completion(reasoning="Done.", content=final))),
    ]
    workdir = tmp_path / "work"
    workdir.mkdir()
    async with ScriptedServer(steps) as model:
        options = RunOptions(
            workdir=workdir,
            profile="vllm",
            base_url=model.base_url,
            model="scripted-model",
            approve="ask",
            store_path=tmp_path / "sessions.db",
        )
        async with AgentSession(options, ask=ask) as session:
            assert "browser" in session.agent.tools
            finished = await session.run(
                "Sign up as Ada Lovelace (ada@example.com) and tell me what the site says."
            )
        model.assert_done()
    assert finished.status == "done", finished
    assert finished.answer == final
    assert site.posts[-1] == {"name": "Ada Lovelace", "email": "ada@example.com", "plan": "Free"}
    # Only the page on another host needed approval; the user refused it, and the model was told so.
    assert len(asked) == 1 and "https://example.com/" in asked[0]
    results = _tool_results(model.requests[-1].json)
    assert len(results) == 5
    assert '[1] textbox "Name"' in results[0]
    assert "Thanks, Ada Lovelace!" in results[3]
    assert "We will write to ada@example.com." in results[3]
    assert "not run: the user declined" in results[4]
    offered = [tool["function"]["name"] for tool in model.requests[0].json["tools"]]
    assert "browser" in offered
