"""
Headless Chromium (Debian's C{chromium}) driven by Playwright, never a
downloaded browser.  Without Chromium the tests are skipped, except in CI
(C{CI=true}), where they must run: a missing browser there is a failure.
"""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-proxy-server"]
VIEWPORT = {"width": 1280, "height": 860}


def _in_ci():
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def browser_page(tmp_path):
    """A page in a fresh Chromium profile; console messages collected in C{page.console}."""
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")) and not _in_ci():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); required when CI=true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, args=ARGS,
            headless=True, viewport=VIEWPORT, chromium_sandbox=False)
        page = context.new_page()
        page.console = []
        page.on("console", lambda message: page.console.append((message.type, message.text)))
        page.set_default_timeout(60_000)
        try:
            yield page
        finally:
            context.close()
