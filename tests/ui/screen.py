"""What a user sees, not what the DOM holds: an element is on screen when its box is non-empty, lies
inside the viewport, and is what a tap at its centre would hit (``document.elementFromPoint``: not
covered by an overlay, not clipped away by a scrolling parent)."""

from __future__ import annotations

import time

from playwright.sync_api import Locator, Page

ON_SCREEN = """(el) => {
  const r = el.getBoundingClientRect();
  const box = `${Math.round(r.left)},${Math.round(r.top)} ${Math.round(r.width)}x${Math.round(r.height)}`;
  if (r.width < 1 || r.height < 1) return `empty box (${box})`;
  if (r.left < 0 || r.top < 0 || r.right > window.innerWidth + 0.5 || r.bottom > window.innerHeight + 0.5)
    return `outside the ${window.innerWidth}x${window.innerHeight} viewport (${box})`;
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  if (!hit || !(hit === el || el.contains(hit)))
    return `covered at its centre by <${hit ? hit.tagName.toLowerCase() + '.' + hit.className : 'nothing'}> (${box})`;
  return '';
}"""


# Records, at every change of what ``selector`` shows, its text and whether it and ``also`` are on screen:
# progress changes faster than a test can poll from outside the page.
WATCH = """([selector, also]) => {
  const onScreen = ON_SCREEN;
  window.__watched = [];
  const look = () => {
    const el = document.querySelector(selector);
    if (!el) return;
    const other = document.querySelector(also);
    window.__watched.push([el.innerText.trim(), onScreen(el), other ? onScreen(other) : 'not in the page']);
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, characterData: true});
}""".replace("ON_SCREEN", ON_SCREEN)


def watch_on_screen(page: Page, selector: str, also: str) -> None:
    """Start recording (see :data:`WATCH`); :func:`watched` returns the records."""
    page.evaluate(WATCH, [selector, also])


def watched(page: Page) -> list[tuple[str, str, str]]:
    return [tuple(row) for row in page.evaluate("window.__watched")]


def why_not_on_screen(locator: Locator) -> str:
    """'' when the (first) element is on screen, else why not."""
    if locator.count() == 0:
        return "not in the page"
    return locator.first.evaluate(ON_SCREEN)


def expect_on_screen(locator: Locator, timeout_s: float = 30.0) -> None:
    """Wait until the element is on screen; fail with the last reason it was not."""
    deadline = time.monotonic() + timeout_s
    while True:
        reason = why_not_on_screen(locator)
        if not reason:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{locator} is not on screen: {reason}")
        time.sleep(0.1)


def scroll_to_top_of(locator: Locator) -> None:
    """Scroll the window (vertically only) so the element's top is near the top of the viewport, as a
    user scrolling down to it would; nothing scrolls sideways."""
    locator.first.evaluate("(el) => window.scrollBy(0, el.getBoundingClientRect().top - 80)")
