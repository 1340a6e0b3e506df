"""The report in a real browser: headless Debian Chromium driven by Playwright.

It opens ``index.html`` from a quick run of the labs (the one `make test` just wrote, named
by ``DLMATH_REPORT_DIR``, or else labs 2 and 3 run here),
checks that every embedded plotly figure rendered with data, that the console shows no
errors, and saves a screenshot (``DLMATH_SCREENSHOT_DIR`` or the test's temp folder).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dlmath.labs import run_lab
from dlmath.report import write_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a sandboxed, offline machine: no first-run UI, no background network calls.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-file-access-from-files",
]
INTERACTIVE_LABS = (2, 3)


@contextmanager
def chromium_page(problems: list[str] | None = None) -> Iterator:
    """A page of Debian's headless Chromium (Playwright, no browser download); console
    errors and page errors are appended to ``problems`` when given."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium is missing: `make test` installs Debian's chromium"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            if problems is not None:
                page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: problems.append(str(e)))
            yield page
        finally:
            browser.close()


pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The report of `make test`'s quick run (DLMATH_REPORT_DIR) or, alone, a fresh one."""
    given = os.environ.get("DLMATH_REPORT_DIR")
    if given:
        index = Path(given).resolve() / "index.html"
        assert index.exists(), f"DLMATH_REPORT_DIR={given} holds no index.html"
        return index
    out = tmp_path_factory.mktemp("report")
    for n in INTERACTIVE_LABS:
        run_lab(n, out, quick=True, show_progress=False)
    return write_report(out)


def test_report_renders_interactive_plots_without_console_errors(report: Path, tmp_path: Path):
    problems: list[str] = []
    shots = Path(os.environ.get("DLMATH_SCREENSHOT_DIR", tmp_path))
    with chromium_page(problems) as page:
        page.goto(report.as_uri(), wait_until="load")
        assert "Milestone checklist" in page.inner_text("#milestones")
        frames = page.locator("iframe")
        assert frames.count() >= 1, "the report embeds no interactive plot"
        for i in range(frames.count()):
            frames.nth(i).scroll_into_view_if_needed()  # lazy iframes load when visible
            frame = frames.nth(i).element_handle().content_frame()
            frame.wait_for_load_state("load")
            frame.wait_for_function(
                "() => { const g = document.querySelector('.js-plotly-plot');"
                " return g && g.data && g.data.length > 0 && g._fullLayout; }",
                timeout=30_000,
            )
            # _fullData holds the decoded arrays (numpy data arrives base64-encoded)
            n_points = frame.evaluate(
                "() => { const n = a => (a && a.length) || 0;"
                " return document.querySelector('.js-plotly-plot')._fullData"
                ".reduce((s, t) => s + Math.max(n(t.z), n(t.y), n(t.x)), 0); }"
            )
            assert n_points > 0, f"iframe {i} has a plot without data"
            assert frame.locator(".main-svg").count() >= 1, f"iframe {i} drew no SVG"
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(shots / "report.png"), full_page=True)
    assert not problems, f"browser console errors: {problems}"
    assert (shots / "report.png").stat().st_size > 10_000
