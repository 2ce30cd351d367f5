"""`interleaf view` in real headless Chromium (Playwright, the system Chromium the browser tool uses).

The session on show is recorded here by a real agent run (`AgentSession`, pro mode, real tools in a
sandbox, the agent's own browser) against a scripted model: a plan, a shell command, a file written and
then edited, a sub-agent, a call the deny list refuses, a browser screenshot, a long thought, and
`finish`. The tests then use the viewer as a person would: the list, search, opening the session,
expanding thinking, the keyboard, following the sub-agent, watching a running session grow, and opening
an exported HTML file from disk with no server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, Locator, Page, async_playwright, expect
from typer.testing import CliRunner

from interleaf.agent.session import AgentSession, RunOptions
from interleaf.cli import app as cli_app
from interleaf.store.sessions import SessionStore
from interleaf.tools.browser_session import LAUNCH_ARGS, find_chromium
from interleaf.view.app import ViewOptions
from interleaf.view.server import ViewServer
from tests.integration.test_view_app import record_traffic
from tests.support.payloads import anthropic_events, anthropic_message, text, thinking, tool_use
from tests.support.scripted_server import ScriptedServer, Step
from tests.unit.test_view_eval_runs import make_eval_run

shared_loop = pytest.mark.asyncio(loop_scope="module")

TASK = "Write hello to out.txt, keep notes in notes.md, have a helper count them, and show me the site."
LONG_THOUGHT = "".join(
    f"Line {i}: weighing whether the notes are complete before finishing.\n" for i in range(600)
)
THOUGHTS = [
    "Plan first: the file, the notes, a count by a helper, then a look at the site.",
    "Write out.txt with the shell and notes.md with write_file, both at once.",
    "The note should say it was written twice; edit it.",
    "A helper can count the lines of notes.md while I keep my context small.",
    "Clean up everything with rm -rf / — no, that would be refused, let me see.",
    "Open the local site in the browser.",
    "Take a screenshot so the user can see it.",
    LONG_THOUGHT,
]
CHILD_THOUGHTS = ["Count the lines with wc.", "wc says 2 lines; report that."]
PAGE_TITLE = "interleaf test site"


@dataclass
class Recorded:
    home: Path
    store: Path
    session_id: str


def _reply(blocks: list[dict[str, Any]], n: int, *, delay: float = 0.0) -> Step:
    return Step.sse(anthropic_events(anthropic_message(blocks, id=f"msg_{n}")), delay=delay)


def scripted_steps(site_url: str) -> list[Step]:
    """The model's side of the recorded run: the parent's steps with the sub-agent's two in the middle."""
    steps = [
        [
            thinking(THOUGHTS[0], "sig-1"),
            tool_use(
                "toolu_1",
                "plan",
                {
                    "items": [
                        {"text": "write the files", "status": "in_progress"},
                        {"text": "count", "status": "pending"},
                    ]
                },
            ),
        ],
        [
            thinking(THOUGHTS[1], "sig-2"),
            text("Writing both files."),
            tool_use("toolu_2", "shell", {"command": "echo hello > out.txt && cat out.txt"}),
            tool_use(
                "toolu_3", "write_file", {"path": "notes.md", "content": "# notes\nhello was written\n"}
            ),
        ],
        [
            thinking(THOUGHTS[2], "sig-3"),
            tool_use(
                "toolu_4",
                "edit_file",
                {
                    "path": "notes.md",
                    "old_string": "hello was written\n",
                    "new_string": "hello was written twice\n",
                },
            ),
        ],
        [
            thinking(THOUGHTS[3], "sig-4"),
            tool_use("toolu_5", "subagent", {"task": "Count the lines of notes.md."}),
        ],
        # The sub-agent's own steps, asked by the child loop with the same model.
        [thinking(CHILD_THOUGHTS[0], "sig-c1"), tool_use("toolu_c1", "shell", {"command": "wc -l notes.md"})],
        [thinking(CHILD_THOUGHTS[1], "sig-c2"), text("notes.md has 2 lines.")],
        [thinking(THOUGHTS[4], "sig-5"), tool_use("toolu_6", "shell", {"command": "rm -rf /"})],
        [
            thinking(THOUGHTS[5], "sig-6"),
            tool_use("toolu_7", "browser", {"action": "navigate", "url": site_url}),
        ],
        [thinking(THOUGHTS[6], "sig-7"), tool_use("toolu_8", "browser", {"action": "screenshot"})],
        # finish ends the run: its verification passes (no tests in the workdir), so no reply follows.
        [
            thinking(THOUGHTS[7], "sig-8"),
            tool_use("toolu_9", "finish", {"answer": "out.txt and notes.md are written."}),
        ],
    ]
    return [_reply(blocks, n) for n, blocks in enumerate(steps, 1)]


async def serve_site() -> web.AppRunner:
    async def index(request: web.Request) -> web.Response:
        body = f"<!doctype html><title>{PAGE_TITLE}</title><h1 style='color:#1b5cb8'>Hello from the site</h1>"
        return web.Response(text=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


async def record_session(home: Path, workdir: Path) -> str:
    """Run the agent for real against the scripted model; the session lands in ``home``/sessions.db."""
    site = await serve_site()
    try:
        site_url = f"http://127.0.0.1:{site.addresses[0][1]}/"
        async with ScriptedServer(scripted_steps(site_url)) as model:
            options = RunOptions(
                workdir=workdir,
                mode="pro",
                profile="anthropic",
                base_url=model.base_url,
                api_key="test-key",
                # Unconfined, so the run does not depend on this machine's sandbox (tested elsewhere); the
                # deny list still refuses `rm -rf /` before any approval mode is asked.
                approve="all",
                sandbox="off",
                store_path=home / "sessions.db",
            )
            async with AgentSession(options) as session:
                finished = await session.run(TASK)
                session_id = session.session_id
            model.assert_done()
    finally:
        await site.cleanup()
    assert finished.status == "done", finished
    assert (workdir / "notes.md").read_text() == "# notes\nhello was written twice\n"
    return session_id


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    root = tmp_path_factory.mktemp("view")
    home, workdir = root / "home", root / "work"
    home.mkdir()
    workdir.mkdir()
    session_id = await record_session(home, workdir)
    store = SessionStore(home / "sessions.db")
    for i in range(30):  # others around it, for the list
        other = store.create(
            title=f"other task {i}", workdir="/w", profile="vllm", model="m2", mode="lightning"
        )
        store.update(other, status="done" if i % 4 else "max_steps", steps=i)
    store.close()
    make_eval_run(root / "evals" / "needle-run")
    record_traffic(home / "traffic.db")
    return Recorded(home, home / "sessions.db", session_id)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def viewer(recorded: Recorded) -> AsyncIterator[ViewServer]:
    options = ViewOptions(
        sessions=recorded.store,
        evals=(recorded.home.parent / "evals",),
        traffic=recorded.home / "traffic.db",
        port=0,
        poll_seconds=0.1,
    )
    async with ViewServer(options) as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = find_chromium()
    assert executable is not None, "the viewer tests need the system Chromium (apt-get install chromium)"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(executable), args=list(LAUNCH_ARGS), chromium_sandbox=False
        )
        yield launched
        await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1366, "height": 800})
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    await context.close()
    assert errors == [], errors  # no script error on any page a test visited


async def image_loads(image: Locator, *, width: int | None = None) -> None:
    """Wait until an image (lazy ones scroll into view) has really loaded: decoded, with its size."""
    await image.scroll_into_view_if_needed()
    handle = await image.element_handle()
    await image.page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=handle, timeout=10_000
    )
    natural = await image.evaluate("img => img.naturalWidth")
    assert natural > 100 if width is None else natural == width


@shared_loop
async def test_the_list_searches_and_filters(page: Page, viewer: ViewServer, recorded: Recorded) -> None:
    await page.goto(viewer.url + "/sessions")
    rows = page.locator("table.sessions tbody tr")
    await expect(rows).to_have_count(31)
    # Newest first: the 30 written after the recorded run come before it.
    await expect(rows.first).to_contain_text("other task 29")
    await expect(rows.last).to_contain_text(TASK)
    # The list narrows as you type (no submit), and the URL keeps the search.
    await page.get_by_label("Search").fill("helper count")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(TASK)
    await expect(page).to_have_url(f"{viewer.url}/sessions?q=helper+count")
    await page.get_by_label("Search").fill("")
    await page.get_by_label("Status").select_option("max_steps")
    await expect(rows).to_have_count(8)
    await expect(page.locator(".status-max_steps")).to_have_count(8)
    # The keyboard walks the rows; Enter opens one.
    await page.locator("h1").click()  # leave the filter controls
    await page.keyboard.press("j")
    await page.keyboard.press("j")
    await expect(page.locator("tr[data-row].current")).to_contain_text("other task 24")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("other task 24")


@shared_loop
async def test_a_recorded_session_reads_as_a_timeline(
    page: Page, viewer: ViewServer, recorded: Recorded
) -> None:
    await page.goto(viewer.url + "/sessions?q=helper")
    await page.get_by_role("link", name=TASK).click()
    await expect(page).to_have_url(f"{viewer.url}/sessions/{recorded.session_id}")
    await expect(page.get_by_role("heading", level=1)).to_have_text(TASK)
    steps = page.locator("ol[data-timeline] > li.entry.step")
    await expect(steps).to_have_count(8)
    first = steps.nth(0)
    # Thinking is folded to one line...
    thought = first.locator("details.thinking")
    await expect(thought.locator(".headline")).to_have_text(THOUGHTS[0])
    await expect(thought.locator(".body")).to_be_hidden()
    # ...and opens to the exact text when clicked.
    await thought.locator("summary").click()
    await expect(thought.locator(".body")).to_be_visible()
    await expect(thought.locator(".body pre")).to_have_text(THOUGHTS[0])
    await expect(first.locator("ul.plan li")).to_have_count(2)
    # Tool calls with their arguments and results; the edit as a diff with line numbers.
    second = steps.nth(1)
    await expect(second.locator("pre.shell")).to_contain_text("echo hello > out.txt && cat out.txt")
    await expect(second.locator(".result pre.out").first).to_have_text("hello")
    await expect(steps.nth(2).locator("pre.diff .dl.del")).to_contain_text("hello was written")
    await expect(steps.nth(2).locator("pre.diff .dl.add")).to_contain_text("hello was written twice")
    await expect(steps.nth(2).locator("pre.diff .dl.add .ln").nth(1)).to_have_text("2")
    # The deny list's refusal is marked.
    refused = steps.nth(4).locator("section.call.refused")
    await expect(refused.locator(".badge.refused")).to_have_text("refused")
    await expect(refused.locator("pre.shell")).to_contain_text("rm -rf /")
    # The browser's screenshot is inline and really loads.
    shot = steps.nth(6).locator("figure.shot img")
    await expect(shot).to_be_visible()
    await image_loads(shot)
    # Per-step time and tokens, and the run's end.
    await expect(second.locator(".entry-head .meta")).to_contain_text("tool calls")
    await expect(page.locator("li.marker-finished")).to_have_count(1)


@shared_loop
async def test_long_thinking_opens_lazily_in_chunks(
    page: Page, viewer: ViewServer, recorded: Recorded
) -> None:
    await page.goto(f"{viewer.url}/sessions/{recorded.session_id}")
    long_step = page.locator("ol[data-timeline] > li.entry.step").nth(7)
    details = long_step.locator("details.thinking")
    await expect(details.locator(".meta")).to_contain_text("k chars")
    assert await details.locator(".body pre").count() == 0  # nothing laid out while folded
    await details.locator("summary").click()
    chunks = details.locator(".body pre .chunk")
    await expect(chunks.nth(3)).to_be_attached()  # laid out on opening, in chunks
    assert await chunks.count() >= 4
    assert await details.locator(".body pre").evaluate("pre => pre.textContent") == LONG_THOUGHT


@shared_loop
async def test_keyboard_moves_between_steps_and_toggles_thinking(
    page: Page, viewer: ViewServer, recorded: Recorded
) -> None:
    await page.goto(f"{viewer.url}/sessions/{recorded.session_id}")
    await page.keyboard.press("j")
    await expect(page.locator("li.entry.current h3")).to_have_text("Task")
    await page.keyboard.press("j")
    await page.keyboard.press("j")
    current = page.locator("li.entry.current")
    await expect(current.locator("h3")).to_have_text("Step 2")
    await page.keyboard.press("t")
    await expect(current.locator("details.thinking")).to_have_attribute("open", "")
    await page.keyboard.press("t")
    await expect(current.locator("details.thinking")).not_to_have_attribute("open", "")
    await page.keyboard.press("k")
    await expect(page.locator("li.entry.current h3")).to_have_text("Step 1")
    await page.keyboard.press("T")
    assert (
        await page.locator("details.thinking[open]").count() == await page.locator("details.thinking").count()
    )
    await page.keyboard.press("?")
    await expect(page.get_by_role("dialog")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("dialog")).to_be_hidden()


@shared_loop
async def test_the_subagent_nests_and_can_be_followed(
    page: Page, viewer: ViewServer, recorded: Recorded
) -> None:
    await page.goto(f"{viewer.url}/sessions/{recorded.session_id}")
    call = page.locator("section.call", has=page.locator(".tool", has_text="subagent"))
    await expect(call.locator(".subagent-head")).to_contain_text("2 steps")
    await call.locator("details.subagent-steps > summary").click()
    await expect(call.locator("ol.nested > li.entry.step")).to_have_count(2)
    await call.get_by_role("link", name="Open the sub-agent's timeline").click()
    await expect(page).to_have_url(f"{viewer.url}/sessions/{recorded.session_id}/subagents/0")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Count the lines of notes.md.")
    steps = page.locator("ol[data-timeline] > li.entry.step")
    await expect(steps).to_have_count(2)
    await expect(steps.nth(0).locator("details.thinking .headline")).to_have_text(CHILD_THOUGHTS[0])
    await expect(steps.nth(0).locator(".result pre.out")).to_contain_text("2 notes.md")
    # The breadcrumb leads back to the step that started it.
    await page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=TASK[:60]).click()
    await expect(page.locator("h1")).to_have_text(TASK)


async def wait_for_messages(store: SessionStore, session_id: str, count: int) -> None:
    """Until the agent has recorded ``count`` messages (it writes from its own task; polling is fine)."""
    for _ in range(400):
        if len(store.messages(session_id)) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the agent did not record {count} messages within 20 s")


@shared_loop
async def test_a_running_session_grows_live(
    page: Page, viewer: ViewServer, recorded: Recorded, tmp_path: Path
) -> None:
    replies = [
        _reply([thinking("Start with ls.", "l1"), tool_use("toolu_l1", "shell", {"command": "ls"})], 1),
        _reply(
            [thinking("Now make a file.", "l2"), tool_use("toolu_l2", "shell", {"command": "touch a"})],
            2,
            delay=1.5,
        ),
        _reply([thinking("All set.", "l3"), text("Made a.")], 3, delay=1.5),
    ]
    workdir = tmp_path / "live"
    workdir.mkdir()
    async with ScriptedServer(replies) as model:
        options = RunOptions(
            workdir=workdir,
            profile="anthropic",
            base_url=model.base_url,
            api_key="test-key",
            store_path=recorded.store,
            browser=False,
            approve="all",
            sandbox="off",
        )
        async with AgentSession(options) as session:
            run = asyncio.create_task(session.run("make a file called a"))
            await wait_for_messages(session.store, session.session_id, 2)
            await page.goto(f"{viewer.url}/sessions/{session.session_id}")
            await expect(page.locator("[data-live-status]")).to_contain_text("Running")
            steps = page.locator("ol[data-timeline] > li.entry.step")
            assert await steps.count() <= 2
            # No reload: the page fetches the new steps as the agent records them.
            await expect(steps).to_have_count(3, timeout=20_000)
            await expect(steps.nth(2).locator("details.thinking .headline")).to_have_text("All set.")
            finished = await run
    assert finished.status == "done"
    await expect(page.locator("[data-live-status]")).to_contain_text("ended (done)", timeout=10_000)
    await expect(page.locator('[data-live-field="status"]')).to_have_text("done")
    await expect(steps.nth(1).locator(".result")).to_be_visible()


@shared_loop
async def test_an_exported_file_opens_from_disk_without_a_server(
    page: Page, recorded: Recorded, tmp_path: Path
) -> None:
    out = tmp_path / "exported.html"
    result = CliRunner().invoke(
        cli_app,
        ["sessions", "export", recorded.session_id, "--format", "html", "-o", str(out)],
        env={"INTERLEAF_HOME": str(recorded.home)},
    )
    assert result.exit_code == 0, result.output
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(out.as_uri())
    await expect(page.get_by_role("heading", level=1)).to_have_text(TASK)
    steps = page.locator("ol[data-timeline] > li.entry.step")
    await expect(steps).to_have_count(8)
    thought = steps.nth(1).locator("details.thinking")
    await thought.locator("summary").click()
    await expect(thought.locator(".body pre")).to_have_text(THOUGHTS[1])
    long_thought = steps.nth(7).locator("details.thinking")
    await long_thought.locator("summary").click()
    assert await long_thought.locator(".body pre").evaluate("pre => pre.textContent") == LONG_THOUGHT
    await image_loads(steps.nth(6).locator("figure.shot img"))
    call = page.locator("section.call", has=page.locator(".tool", has_text="subagent"))
    await call.locator("details.subagent-steps > summary").click()
    await expect(call.locator("ol.nested > li.entry.step")).to_have_count(2)
    await page.keyboard.press("j")
    await expect(page.locator("li.entry.current")).to_have_count(1)
    # Everything came from the file itself: no request left it (data: images do not count).
    assert [url for url in requested if not url.startswith(("file:", "data:"))] == []


@shared_loop
async def test_eval_runs_show_plots_tables_and_transcripts(page: Page, viewer: ViewServer) -> None:
    await page.goto(viewer.url + "/evals")
    await page.get_by_role("link", name="needle-run").click()
    plot = page.locator("figure.plot img")
    await expect(plot).to_have_count(1)
    await image_loads(plot, width=480)
    summary = page.locator("table.summary tbody tr")
    await expect(summary).to_have_count(2)
    await expect(summary.filter(has_text="keep")).to_contain_text("100 %")
    await expect(summary.filter(has_text="drop")).to_contain_text("25 %")
    # A trial's transcript.
    await page.locator("table.trials tbody tr").first.get_by_role("link", name="20261201-0k0000").click()
    await expect(page.locator("details.thinking .headline").first).to_have_text(
        "The code for needle-000 is 4721. I keep it in mind."
    )
    await page.go_back()
    # The same task under two conditions, side by side.
    await page.get_by_role("link", name="side by side across conditions").first.click()
    columns = page.locator(".compare > section.column")
    await expect(columns).to_have_count(2)
    await expect(columns.nth(0).locator(".column-head")).to_contain_text("drop")
    await expect(columns.nth(1).locator(".column-head")).to_contain_text("keep")
    await expect(columns.nth(0)).to_contain_text("I no longer see my earlier notes.")
    await expect(columns.nth(1)).to_contain_text("Earlier I noted the code: 4721.")
    boxes = await columns.nth(0).bounding_box(), await columns.nth(1).bounding_box()
    assert boxes[0] is not None and boxes[1] is not None and boxes[0]["x"] < boxes[1]["x"]  # side by side
    await page.goto(viewer.url + "/evals/needle-run/files/report.html")
    await expect(page.get_by_role("heading", level=1)).to_have_text("needle: keep vs drop")
    await image_loads(page.locator("img"), width=480)


@shared_loop
async def test_gateway_traffic_highlights_restored_thinking(page: Page, viewer: ViewServer) -> None:
    await page.goto(viewer.url + "/gateway")
    app_row = page.locator("table.apps tbody tr")
    await expect(app_row).to_have_count(1)
    await expect(app_row).to_contain_text("claude-cli")
    await expect(app_row.locator("svg.spark rect.restored")).to_have_count(1)
    await page.locator("table.requests tbody tr a").first.click()
    upstream = page.locator("section.column").nth(1)
    restored = upstream.locator(".restored-block details.thinking")
    await expect(restored).to_have_count(1)
    await expect(restored.locator(".headline")).to_have_text("Use the calculator for 6*7.")
    colour = await restored.evaluate("el => getComputedStyle(el).backgroundColor")
    plain = await page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert colour != plain
    await expect(page.locator("section.column").nth(0).locator("details.thinking")).to_have_count(0)


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


CONTRAST_JS = """
() => {
  const rgb = (s) => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor;
      if (!c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') return rgb(c);
    }
    return rgb(getComputedStyle(document.documentElement).backgroundColor);
  };
  const picks = ['body', '.muted', 'a', '.entry-head .meta', 'details.thinking .headline', '.badge.refused',
                 '.status', 'th', '.result-label', 'pre.diff .add', 'pre.diff .del', '.marker', '.tag'];
  const out = [];
  for (const selector of picks) {
    const el = document.querySelector(selector);
    if (el) out.push([selector, rgb(getComputedStyle(el).color), background(el)]);
  }
  return out;
}
"""


@shared_loop
@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_themes_follow_the_system_and_text_stays_readable(
    browser: Browser, viewer: ViewServer, recorded: Recorded, scheme: str
) -> None:
    context = await browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 800})  # type: ignore[arg-type]
    page = await context.new_page()
    try:
        await page.goto(f"{viewer.url}/sessions/{recorded.session_id}")
        background = await page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        dark = _luminance(tuple(float(x) for x in background[4:-1].split(",")[:3])) < 0.2  # type: ignore[arg-type]
        assert dark == (scheme == "dark")
        checked = await page.evaluate(CONTRAST_JS)
        assert len(checked) >= 10
        for selector, fg, bg in checked:
            ratio = _contrast(tuple(fg), tuple(bg))
            assert ratio >= 4.5, f"{scheme}: {selector} has contrast {ratio:.2f} ({fg} on {bg})"
    finally:
        await context.close()


@shared_loop
async def test_pages_have_landmarks_and_labelled_controls(
    page: Page, viewer: ViewServer, recorded: Recorded
) -> None:
    for path in ("/sessions", f"/sessions/{recorded.session_id}", "/evals/needle-run", "/gateway"):
        await page.goto(viewer.url + path)
        for role in ("banner", "main", "contentinfo"):
            await expect(page.get_by_role(role)).to_have_count(1)
        await expect(page.get_by_role("navigation", name="Sections")).to_have_count(1)
        await expect(page.get_by_role("heading", level=1)).to_have_count(1)
        unlabelled = await page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, button')]
                 .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                               && !el.textContent.trim()).map(el => el.outerHTML)"""
        )
        assert unlabelled == [], (path, unlabelled)
        images = await page.evaluate("() => [...document.images].filter(i => !i.alt).map(i => i.src)")
        assert images == [], (path, images)
    # The skip link takes keyboard users to the content.
    await page.goto(viewer.url + "/sessions")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
