"""The eval report in headless Chromium: it renders, its plots load, every transcript link resolves.

A real run (scripted model over HTTP, keep / drop / restored through a real gateway) produces the run
directory; ``interleaf eval report`` writes the page; Chromium opens it from disk as a user would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright
from typer.testing import CliRunner

from interleaf.cli.eval import app as eval_app
from interleaf.eval.runner import run_eval
from interleaf.eval.scripted import needle_policy
from interleaf.tools.browser_session import LAUNCH_ARGS, find_chromium
from tests.fixtures.eval.endpoint import run_config, scripted_endpoint


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = find_chromium()
    assert executable is not None, "the report tests need the system Chromium (apt-get install chromium)"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(executable), args=list(LAUNCH_ARGS), chromium_sandbox=False
        )
        yield launched
        await launched.close()


async def test_the_report_renders_its_plots_load_and_transcript_links_resolve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, browser: Browser
) -> None:
    monkeypatch.setenv("INTERLEAF_HOME", str(tmp_path / "home"))
    out = tmp_path / "run"
    options = {"lengths": "1k,2k", "hops": "1-2", "per_cell": "2"}
    async with scripted_endpoint(needle_policy) as server:
        await run_eval(
            run_config(server, "needle", out, conditions=["keep", "drop", "restored"], options=options)
        )
    result = CliRunner().invoke(eval_app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    report = out / "report.html"
    assert result.output.strip() == str(report)
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "deltas.png",
        "needle_lengths.png",
        "pass_rates.png",
    ]

    page = await browser.new_page()
    await page.goto(report.as_uri())
    assert "needle" in await page.title()
    rows = await page.locator("#summary-table tr").count()
    assert rows == 1 + 3  # header + keep, drop, restored
    summary = await page.locator("#summary-table").inner_text()
    assert "100.0%" in summary
    # Every plot is inline (the page is self-contained) and decodes to a real image.
    images = page.locator("img")
    assert await images.count() == 3
    loaded = await page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 300)")
    assert loaded == [True, True, True]
    assert await page.evaluate("Array.from(document.images).every(i => i.src.startsWith('data:image/png'))")
    external = await page.evaluate(
        "Array.from(document.querySelectorAll('[src],[href]')).map(e => e.getAttribute('src') || e.getAttribute('href'))"
        ".filter(u => /^(https?:)?\\/\\//.test(u)).length"
    )
    assert external == 0

    hrefs = await page.locator("a.transcript").evaluate_all("links => links.map(a => a.href)")
    assert hrefs, "the differences table links the transcripts of the trials that differ"
    for href in sorted(set(hrefs)):
        response = await page.goto(href)
        assert response is not None and response.ok, href
        title = await page.locator("#title").inner_text()
        assert title.startswith("needle/len"), title
        body = await page.locator("body").inner_text()
        assert "read_page" in body
        if "/keep/" in title or "/restored/" in title:
            assert "SECRET:" in body  # the thinking the model needed is on the page
    await page.goto(report.as_uri())
    plot_link = page.locator("figcaption a").first
    await plot_link.click()
    assert page.url.endswith("plots/pass_rates.png")
