"""The 洞察 section after a batch run, at 1280×800 and 390×844: on screen (in the viewport, not covered or
clipped), Chinese, with charts; and the sentiment chart's axis labels are not cut off."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.insights import planted
from tests.ui.screen import expect_on_screen, scroll_to_top_of
from tests.ui.test_batch import open_batch_tab, upload

pytestmark = [pytest.mark.ui, pytest.mark.timeout(300)]

# The chart's <text> labels of the x axis lie inside the chart's own box (not cut off at the bottom).
LABELS_INSIDE = """(root) => {
  const box = root.getBoundingClientRect();
  const out = [];
  for (const t of root.querySelectorAll('svg text')) {
    const r = t.getBoundingClientRect();
    if (r.height && (r.bottom > box.bottom + 1 || r.top < box.top - 1)) out.push(t.textContent);
  }
  return out;
}"""


def test_insights_section_is_on_screen(screen: Page, app_server, tmp_path: Path, shot) -> None:
    page = screen
    source = tmp_path / "店铺评论.csv"
    planted.build().drop(columns="planted").to_csv(source, index=False, encoding="utf-8-sig")
    open_batch_tab(page)
    upload(page, source)
    run = page.get_by_role("button", name="开始分析")
    expect(run).to_be_enabled()
    run.click()
    head = page.get_by_role("heading", name="洞察：评论说了什么")
    expect(head).to_be_visible(timeout=120_000)

    scroll_to_top_of(head)
    expect_on_screen(head)
    expect_on_screen(page.get_by_text("行被标记").first)
    reasons = page.locator("#reasons-negative")
    scroll_to_top_of(reasons)
    expect_on_screen(reasons.get_by_role("heading").first)
    shot("reasons")
    group_chart = page.locator("#group-chart")
    scroll_to_top_of(group_chart)
    expect_on_screen(group_chart)
    shot("groups")
    period_chart = page.locator("#period-chart")
    scroll_to_top_of(period_chart)
    expect_on_screen(period_chart)
    assert not page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1"), "page scrolls sideways"
    shot("periods")


def test_sentiment_chart_labels_are_not_cut_off_and_ticks_are_whole(page: Page, app_server, tmp_path: Path) -> None:
    source = tmp_path / "店铺评论.csv"
    planted.build().drop(columns="planted").to_csv(source, index=False, encoding="utf-8-sig")
    open_batch_tab(page)
    upload(page, source)
    page.get_by_role("button", name="开始分析").click()
    chart = page.locator("#sentiment-chart")
    expect(chart.locator("svg text").filter(has_text="负面").first).to_be_visible(timeout=120_000)
    scroll_to_top_of(chart)
    texts = chart.locator("svg text").evaluate_all("els => els.map(e => e.textContent || '')")
    ticks = [t for t in texts if t.replace(".", "").isdigit()]
    assert ticks and all("." not in t for t in ticks), f"fractional ticks on the count axis: {ticks}"
    assert chart.evaluate(LABELS_INSIDE) == [], "x-axis labels are cut off"
    for other in ("#group-chart", "#period-chart"):  # the insight charts, labels slanted
        stacked = page.locator(other)
        scroll_to_top_of(stacked)
        assert stacked.evaluate(LABELS_INSIDE) == [], f"{other}: labels are cut off"
