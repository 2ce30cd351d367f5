"""`interleaf view` with big data: a 2,000-step session holding 5 MB of thinking, and 10,000 sessions.

* **First paint** of the session page in headless Chromium (the system Chromium, as the tests use it):
  ``first-contentful-paint`` from the browser's own Paint Timing, a fresh browser context each time (no
  cache). Side by side in the same run: the sessions list with one session (the floor: a page of the same
  app), and the whole session rendered at once (the self-contained export), which is what paging steps
  in chunks avoids.
* **Scrolling** the session page from the top to its last step at a steady 60 px a frame, the page
  fetching further chunks as it goes: frame times from ``requestAnimationFrame`` (median, p95, frames over
  50 ms) and how long reaching the end took.
* **The sessions list with 10,000 sessions**: the server's answer to a page request over HTTP (page 1,
  page 100, the last page, a text search, a filter), against ``/healthz`` on the same server (the HTTP
  floor).

    .venv/bin/python -m benchmarks.bench_view
    .venv/bin/python -m benchmarks.bench_view --no-write --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from playwright.async_api import Browser, async_playwright

from benchmarks.report import write_section
from interleaf.store.sessions import SessionStore
from interleaf.tools.browser_session import LAUNCH_ARGS, find_chromium
from interleaf.transcript import Message, ReasoningDialect, Text, Thinking, ToolCall, ToolResult
from interleaf.view.app import ViewOptions
from interleaf.view.server import ViewServer
from interleaf.view.session_view import export_html
from interleaf.view.sessions_db import SessionsReader

STEPS = 2_000
THINKING_BYTES = 5_000_000
SESSIONS = 10_000
FCP_JS = """() => new Promise(resolve => {
  const read = () => {
    const entry = performance.getEntriesByName('first-contentful-paint')[0];
    const nav = performance.getEntriesByType('navigation')[0];
    if (entry && nav && nav.domContentLoadedEventEnd > 0)
      resolve({fcp: entry.startTime, dcl: nav.domContentLoadedEventEnd, ttfb: nav.responseStart,
               bytes: nav.transferSize || nav.decodedBodySize});
    else requestAnimationFrame(read);
  };
  read();
})"""
# Scroll with `step` pixels a frame (`step` 0: jump to the bottom every frame, which makes the page fetch
# chunk after chunk) until the last step is on the page or `limit` seconds passed.
SCROLL_JS = """async ([step, limit]) => {
  const frames = [];
  let last = performance.now();
  const start = last;
  while (performance.now() - start < limit * 1000) {
    await new Promise(requestAnimationFrame);
    const now = performance.now();
    frames.push(now - last);
    last = now;
    if (step) window.scrollBy(0, step); else window.scrollTo(0, document.body.scrollHeight);
    const atEnd = window.innerHeight + window.scrollY >= document.body.scrollHeight - 2;
    if (atEnd && !document.querySelector('[data-more]')) break;
  }
  return {frames, seconds: (performance.now() - start) / 1000,
          entries: document.querySelectorAll('ol[data-timeline] > li.entry').length};
}"""


def corpus() -> str:
    """English prose for thinking text: the standard library's own docstrings."""
    import asyncio as m1
    import json as m2
    import pathlib as m3
    import sqlite3 as m4
    import subprocess as m5

    docs = [inspect.getdoc(getattr(m, name)) for m in (m1, m2, m3, m4, m5) for name in dir(m)]
    return " ".join(" ".join(d.split()) for d in docs if d and len(d) > 200)


def big_session(path: Path) -> tuple[str, int]:
    """2,000 steps, each a thought, a shell call and its result; 5 MB of thinking in all, with one long
    (50 KB) thought every 100 steps. Returns the id and the thinking bytes written."""
    rng, text = random.Random(1), corpus()
    store = SessionStore(path)
    sid = store.create(
        title="A 2,000-step session", workdir="/work", profile="minimax", model="MiniMax-M2", mode="pro"
    )
    store.append(
        sid, Message(role="user", blocks=(Text(text="Refactor the whole code base, step by step."),))
    )
    long_steps = STEPS // 100
    short = (THINKING_BYTES - long_steps * 50_000) // (STEPS - long_steps)
    written = 0
    for i in range(STEPS):
        size = 50_000 if i % 100 == 50 else short
        start = rng.randrange(len(text) - size) if len(text) > size else 0
        thought = (text * (1 + size // len(text)))[start : start + size]
        written += len(thought.encode())
        call = ToolCall(
            id=f"call_{i}", name="shell", arguments={"command": f"pytest -q tests/test_{i % 97}.py"}
        )
        store.append(
            sid,
            Message(
                role="assistant",
                blocks=(Thinking(text=thought, signature="s" * 40, dialect=ReasoningDialect.ANTHROPIC), call),
            ),
        )
        output = "\n".join(f"tests/test_{i % 97}.py::test_{k} PASSED" for k in range(8))
        store.append(sid, Message(role="tool", blocks=(ToolResult(call_id=call.id, content=output),)))
    store.update(sid, status="done", steps=STEPS)
    store.close()
    return sid, written


def many_sessions(path: Path) -> None:
    """10,000 sessions over 200 days, written in one batch (setup, not the measured operation; the store's
    own ``create`` draws 24 random bits per id within a day, too few for thousands of sessions a day)."""
    SessionStore(path).close()  # the schema
    now = time.time()
    rows = []
    for i in range(SESSIONS):
        created = now - (SESSIONS - i) * 1700.0
        rows.append(
            (
                time.strftime("%Y%m%d", time.localtime(created)) + f"-{i:06x}",
                created,
                created + 60,
                f"task {i}: {'fix the parser' if i % 7 else 'write the docs'}",
                f"/work/{i % 50}",
                ("minimax", "anthropic", "vllm")[i % 3],
                ("MiniMax-M2", "claude", "m2")[i % 3],
                "pro" if i % 2 else "lightning",
                "done" if i % 5 else "max_steps",
                i % 40,
                i * 10,
            )
        )
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO sessions (id, created, updated, title, workdir, profile, model, mode, status, steps,"
            " input_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


async def first_paint(browser: Browser, url: str, runs: int) -> dict[str, list[float]]:
    """First contentful paint, DOMContentLoaded and time to the first byte (ms), per fresh load."""
    marks: dict[str, list[float]] = {"fcp": [], "dcl": [], "ttfb": []}
    for _ in range(runs):
        context = await browser.new_context(viewport={"width": 1366, "height": 800})
        page = await context.new_page()
        await page.goto(url, wait_until="commit")
        measured = await page.evaluate(FCP_JS)
        for key in marks:
            marks[key].append(measured[key])
        await context.close()
    return marks


async def scroll(browser: Browser, url: str, step: int, limit: float) -> dict[str, float]:
    context = await browser.new_context(viewport={"width": 1366, "height": 800})
    page = await context.new_page()
    await page.goto(url)
    result = await page.evaluate(SCROLL_JS, [step, limit])
    await context.close()
    frames = sorted(result["frames"][1:])
    return {
        "median": statistics.median(frames),
        "p95": frames[int(len(frames) * 0.95)],
        "janky": sum(1 for f in frames if f > 50),
        "frames": len(frames),
        "seconds": result["seconds"],
        "entries": result["entries"],
    }


async def http_times(url: str, runs: int) -> list[float]:
    times = []
    async with aiohttp.ClientSession() as http:
        for _ in range(runs + 1):
            started = time.perf_counter()
            async with http.get(url) as response:
                await response.read()
                if response.status != 200:
                    raise SystemExit(f"{url} answered {response.status}")
            times.append((time.perf_counter() - started) * 1000)
    return times[1:]  # the first warms the connection and SQLite's page cache


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    return (
        f"{statistics.median(ordered):.0f} / {ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]:.0f}"
    )


async def main(runs: int, write: bool) -> None:
    executable = find_chromium()
    if executable is None:
        raise SystemExit("the view benchmark needs Chromium: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="interleaf-bench-view-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        sid, thinking = big_session(root / "big.db")
        many_sessions(root / "many.db")
        one = SessionStore(root / "one.db")
        one.create(title="one", workdir="/w", profile="p", model="m", mode="pro")
        one.close()
        setup = time.perf_counter() - started
        size = (root / "big.db").stat().st_size
        rows: list[tuple[str, dict[str, list[float]]]] = []
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(executable), args=list(LAUNCH_ARGS), chromium_sandbox=False
            )
            async with ViewServer(ViewOptions(sessions=root / "one.db", port=0)) as floor:
                floor_marks = await first_paint(browser, floor.url + "/sessions", runs)
            async with ViewServer(ViewOptions(sessions=root / "big.db", port=0)) as big:
                page_marks = await first_paint(browser, f"{big.url}/sessions/{sid}", runs)
                steady = await scroll(browser, f"{big.url}/sessions/{sid}", 100, 20)
                to_end = await scroll(browser, f"{big.url}/sessions/{sid}", 0, 120)
            export_started = time.perf_counter()
            reader = SessionsReader(root / "big.db")
            (root / "export.html").write_text(export_html(reader, sid), encoding="utf-8")
            reader.close()
            export_seconds = time.perf_counter() - export_started
            export_size = (root / "export.html").stat().st_size
            whole_marks = await first_paint(browser, (root / "export.html").as_uri(), max(1, runs // 2))
            await browser.close()
        async with ViewServer(ViewOptions(sessions=root / "many.db", port=0)) as many:
            listing = {
                "`/healthz` (HTTP floor)": "/healthz",
                "page 1": "/sessions",
                "page 100": "/sessions?page=100",
                "last page (200)": "/sessions?page=200",
                "search `docs`": "/sessions?q=docs",
                "filter `status=max_steps&mode=pro`": "/sessions?status=max_steps&mode=pro",
                "sorted by steps, page 50": "/sessions?sort=steps&page=50",
            }
            list_times = {name: await http_times(many.url + path, runs * 4) for name, path in listing.items()}
    rows.append(("sessions list, 1 session (floor)", floor_marks))
    rows.append((f"session page, {STEPS:,} steps (first 40 entries, the rest as you scroll)", page_marks))
    rows.append(("the same session rendered whole (its HTML export, opened from disk)", whole_marks))
    lines = [
        "## Viewer: big sessions, many sessions",
        "",
        "`benchmarks/bench_view.py`: `interleaf view` in headless Chromium (system Chromium, no GPU), a fresh "
        f"browser context per load. The session has {STEPS:,} steps with {thinking / 1e6:.1f} MB of thinking "
        f"(one 50 KB thought every 100 steps), a shell call and its result each ({size / 1e6:.0f} MB SQLite "
        "file). Times in ms, median / p95 of "
        f"{runs} loads. Target: first paint under 1,000 ms.",
        "",
        "| page | first contentful paint | DOMContentLoaded | first byte | FCP vs floor |",
        "|---|---:|---:|---:|---:|",
    ]
    floor_fcp = statistics.median(floor_marks["fcp"])
    for name, marks in rows:
        ratio = statistics.median(marks["fcp"]) / floor_fcp
        lines.append(
            f"| {name} | {ms(marks['fcp'])} | {ms(marks['dcl'])} | {ms(marks['ttfb'])} | {ratio:.1f}× |"
        )
    lines += [
        "",
        "Scrolling the session page (frame times from `requestAnimationFrame`; chunks of 40 steps fetched as "
        "the end nears):",
        "",
        "| scroll | frames | frame time median / p95 | frames over 50 ms | entries on the page after |",
        "|---|---:|---:|---:|---:|",
        f"| steady, 100 px a frame for {steady['seconds']:.0f} s | {steady['frames']:,} | "
        f"{steady['median']:.1f} / {steady['p95']:.1f} ms | {steady['janky']} | {steady['entries']:,} |",
        f"| jump to the bottom every frame until step {STEPS:,} ({to_end['seconds']:.1f} s) | {to_end['frames']:,} | "
        f"{to_end['median']:.1f} / {to_end['p95']:.1f} ms | {to_end['janky']} | {to_end['entries']:,} |",
        "",
        f"Sessions list with {SESSIONS:,} sessions, 50 a page: the server's answer over HTTP on loopback, ms, "
        f"median / p95 of {runs * 4}. Target: a page under 200 ms.",
        "",
        "| request | ms |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {ms(values)} |" for name, values in list_times.items()]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines += [
        "",
        f"Load average when the run ended (1, 5, 15 min): {load}; the machine is shared, so absolute times "
        "vary from run to run, the ratios and targets less so.",
        "",
        f"Writing that export (`interleaf sessions export ID -f html`): {export_seconds:.1f} s, "
        f"{export_size / 1e6:.1f} MB.",
        "",
        f"Setup (writing the data, not measured): {setup:.0f} s.",
    ]
    text = "\n".join(lines)
    print(text)
    if write:
        write_section("view", text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7, help="loads per page (default 7)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    asyncio.run(main(args.runs, not args.no_write))
