"""The README's screenshot (docs/screenshot.png) is taken here, not by hand: the single-text tab at 1280x800
after a review is analysed. Every run leaves it in test-results/screenshots/readme.png; with
UPDATE_DOCS_SCREENSHOT=1 it also replaces docs/screenshot.png (then commit it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from sentiment_app.examples import SINGLE_EXAMPLES
from tests.ui.conftest import SCREENSHOTS
from tests.ui.screen import expect_on_screen

pytestmark = [pytest.mark.ui, pytest.mark.timeout(300)]

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"


def test_readme_screenshot_shows_a_verdict_and_its_words(page: Page, app_server) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    page.get_by_role("textbox", name="评论").fill(SINGLE_EXAMPLES[4])
    page.get_by_role("button", name="分析", exact=True).click()
    verdict = page.get_by_role("heading", level=2)
    expect(verdict).to_be_visible(timeout=60_000)
    expect_on_screen(verdict)
    expect(page.locator("#explanation .highlighted").first).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    taken = SCREENSHOTS / "readme.png"
    page.screenshot(path=str(taken))
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        shutil.copyfile(taken, DOCS_SCREENSHOT)
    assert DOCS_SCREENSHOT.is_file(), "docs/screenshot.png is missing: rerun with UPDATE_DOCS_SCREENSHOT=1"
    assert DOCS_SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
