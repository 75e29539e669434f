"""Real Chromium for the browser tests, driven by Playwright pointed at the system browser.

Playwright cannot download its own browsers here, so it launches Debian's ``chromium`` (or another Chromium
or Chrome on PATH) through ``executable_path``. ``.ci/run`` installs chromium, so in CI these tests run;
elsewhere they are skipped, saying why, when no browser or no Playwright is installed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

BROWSER = next(
    (path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))), None
)

#: As the machine's own probe starts Chromium: the closed network refuses its background connections.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

needs_browser = pytest.mark.skipif(
    BROWSER is None, reason="no chromium, chromium-browser or google-chrome on PATH"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Chromium per test module (each test opens its own page)."""
    if BROWSER is None:
        pytest.skip("no chromium, chromium-browser or google-chrome on PATH")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright's Python package is not installed"
    )
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=BROWSER, headless=True, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A fresh page (1280x800, as a laptop shows it) whose console errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"the page reported errors: {errors}"
