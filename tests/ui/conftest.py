"""Playwright fixtures: the real app in a subprocess on a free local port, Chromium, a page per test.

The app runs as ``python app.py`` with nothing configured, so it serves the embedded compact model
that ships in ``sentiment_app/embedded_model/``.
Every test leaves a full-page screenshot in ``test-results/screenshots/<test>.png`` for review,
and the app's log in ``test-results/ui-app.log``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.app_process import app_env, start_app, stop, wait_until_up
from tests.ui.browser import CHROMIUM_ARGS, NoChromium, find_chromium

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "test-results"
SCREENSHOTS = RESULTS / "screenshots"
# A loaded 2-core machine imports torch, transformers and gradio in well under this.
STARTUP_TIMEOUT_S = 240.0
# Each assertion retries this long: model calls share 2 cores with the rest of the suite.
EXPECT_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class AppServer:
    url: str
    labels: list[str]  # the served model's labels, in class order
    log: Path


def _say(config: pytest.Config, line: str) -> None:
    """A line in pytest's own output (outside capture), so a run's log says what the UI tests used."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)
    else:
        reporter.write_line(line)


def _embedded_labels() -> list[str]:
    """The labels of the embedded model, which the app serves as it starts on a fresh machine."""
    from sentiment_app.model.artifact import read_labels
    from sentiment_app.model.loading import EMBEDDED_MODEL_DIR

    if not EMBEDDED_MODEL_DIR.is_dir():
        raise RuntimeError(f"{EMBEDDED_MODEL_DIR} is missing: the app ships with it and the UI tests drive it")
    return read_labels(EMBEDDED_MODEL_DIR) or []


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[AppServer]:
    labels = _embedded_labels()
    RESULTS.mkdir(exist_ok=True)
    log = RESULTS / "ui-app.log"
    env = app_env(HF_HUB_OFFLINE="1", GRADIO_TEMP_DIR=str(tmp_path_factory.mktemp("gradio-tmp")))
    process, url = start_app(log, env)
    _say(
        pytestconfig,
        f"\nUI tests: app.py on {url} serves the embedded compact model "
        f"(sentiment_app/embedded_model/); its log: {log.relative_to(ROOT)}",
    )
    try:
        wait_until_up(url, process, log, STARTUP_TIMEOUT_S)
        yield AppServer(url=url, labels=labels, log=log)
    finally:
        stop(process)


@pytest.fixture(scope="session")
def browser(pytestconfig: pytest.Config):
    from playwright.sync_api import expect, sync_playwright

    try:
        chromium = find_chromium()
    except NoChromium as exc:
        pytest.fail(str(exc), pytrace=False)
    _say(pytestconfig, f"UI tests: chromium ({chromium.describe()})")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium.executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _screenshot_name(nodeid_name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", nodeid_name).strip("_") + ".png"


@contextmanager
def _open_page(browser, app_server: AppServer, viewport: dict[str, int], name: str) -> Iterator[Any]:
    """A fresh browser context on the app's page; a full-page screenshot ``name`` is saved at the end."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=viewport, locale="zh-CN", accept_downloads=True)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(app_server.url)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        yield page
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(SCREENSHOTS / _screenshot_name(name)), full_page=True)
        finally:
            context.close()
    assert not errors, f"the page raised JavaScript errors: {errors}"


@pytest.fixture
def page(browser, app_server: AppServer, request: pytest.FixtureRequest):
    """The app at 1280×900; a full-page screenshot is saved after the test."""
    with _open_page(browser, app_server, {"width": 1280, "height": 900}, request.node.name) as page:
        yield page


# The two screens the app is laid out for: a laptop and a phone (iPhone 12-14 CSS pixels).
SCREENS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=list(SCREENS), ids=list(SCREENS))
def screen(browser, app_server: AppServer, request: pytest.FixtureRequest):
    """The app at each of :data:`SCREENS`; a full-page screenshot is saved after the test."""
    with _open_page(browser, app_server, SCREENS[request.param], request.node.name) as page:
        yield page


@pytest.fixture
def shot(request: pytest.FixtureRequest):
    """``shot("step")`` saves a screenshot of a state worth reviewing besides the test's last one."""
    page = request.getfixturevalue("screen" if "screen" in request.fixturenames else "page")

    def take(step: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = _screenshot_name(f"{request.node.name}-{step}")
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True)

    return take
