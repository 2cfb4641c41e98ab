"""What a user sees at 1280×800 and at 390×844 (a phone), checked on screen, not only in the DOM.

On screen means: a non-empty box inside the viewport that is the element hit at its centre
(:mod:`tests.ui.screen`). Each test leaves screenshots in ``test-results/screenshots/`` for review:
every tab at both widths.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from sentiment_app.examples import SINGLE_EXAMPLES
from tests.ui.screen import expect_on_screen, scroll_to_top_of, watch_on_screen, watched
from tests.ui.test_batch import TEXT_COLUMN, upload, write_gbk_csv

pytestmark = [pytest.mark.ui, pytest.mark.timeout(600)]

TABS = ("单条分析", "批量分析", "例句对比")
LONG_JOB_ROWS = 6_000  # several thousand reviews of hotel-export length: a job long enough to watch
LONG_REVIEW_REPEATS = 4  # each test review four times over: ~60 characters, like a real review
VERDICT_COLORS = {"负面": "rgb(214, 69, 69)", "正面": "rgb(46, 158, 91)"}  # formatting.NEGATIVE/POSITIVE_COLOR
REVIEW = "物流很快，包装完好，客服态度也很好，下次还会回购。"


def is_phone(page: Page) -> bool:
    return page.viewport_size["width"] < 640


def test_all_three_tabs_are_reachable_and_the_header_is_short(screen: Page, shot) -> None:
    page = screen
    header = page.locator(".app-header").first.bounding_box()
    assert header and header["height"] < 0.2 * page.viewport_size["height"], f"the header takes {header}"
    expect(page.get_by_role("button", name="关于 / 设置")).to_be_visible()  # settings, collapsed
    expect(page.get_by_text("SENTIMENT_MODEL")).to_have_count(0)
    for name in TABS:
        tab = page.get_by_role("tab", name=name)
        expect_on_screen(tab)
        tab.click()
        expect(tab).to_have_attribute("aria-selected", "true")
        shot(f"tab-{name}")


def test_single_text_verdict_is_on_screen_right_after_submit(screen: Page, app_server, shot) -> None:
    page = screen
    page.get_by_role("textbox", name="评论").fill(REVIEW)
    page.get_by_role("button", name="分析", exact=True).click()
    verdict = page.get_by_role("heading", level=2)
    expect(verdict).to_have_text(re.compile("^(" + "|".join(map(re.escape, app_server.labels)) + ")$"))
    expect_on_screen(verdict)
    expect_on_screen(page.get_by_text(re.compile(r"置信度 \d+\.\d%")))
    for label, color in VERDICT_COLORS.items():  # the same red and green as the charts
        if label in app_server.labels:
            meter = page.get_by_role("meter", name=label)
            assert meter.evaluate("el => getComputedStyle(el).backgroundColor") == color
    shot("verdict")

    # The examples: open below the verdict on a desktop, collapsed on a phone; a click on one far down
    # the page brings its verdict into view.
    example = page.get_by_role("button", name=SINGLE_EXAMPLES[-1], exact=True)
    if is_phone(page):
        expect(example).to_be_hidden()
        page.locator("#examples-box").get_by_role("button", name=re.compile("^示例")).click()
    example.scroll_into_view_if_needed()
    example.click()
    expect(page.get_by_role("textbox", name="评论")).to_have_value(SINGLE_EXAMPLES[-1])
    expect(page.locator("#verdict").get_by_text(re.compile(r"用时 \d+ ms"))).to_be_visible()
    expect_on_screen(verdict)


def test_batch_progress_and_verdict_columns_are_on_screen(screen: Page, tmp_path: Path, shot) -> None:
    page = screen
    source = write_gbk_csv(tmp_path / "酒店评论.csv", rows=LONG_JOB_ROWS, repeat=LONG_REVIEW_REPEATS)
    page.get_by_role("tab", name="批量分析").click()
    upload(page, source)
    expect(page.get_by_role("combobox", name="文本列")).to_have_value(TEXT_COLUMN)
    run = page.get_by_role("button", name="开始分析")
    run.scroll_into_view_if_needed()

    # For the whole job: the bar, its "done / total" line and Stop beside it are where the eyes are.
    done = page.get_by_text(re.compile(rf"完成：\s*{LONG_JOB_ROWS:,} 行"))
    watch_on_screen(page, "#batch-progress [role=progressbar]", "#stop-job")
    run.click()
    page.wait_for_timeout(1500)
    shot("running")
    expect(done).to_be_visible(timeout=300_000)
    samples = [s for s in watched(page) if re.search(rf"已分析 [\d,]+ / {LONG_JOB_ROWS:,} 行", s[0])]
    assert len(samples) >= 3, f"progress seen only {len(samples)} times during the job: {watched(page)}"
    hidden = [s for s in samples if s[1] or s[2]]
    assert not hidden, f"progress or Stop off screen during the job: {hidden[:3]}"
    assert re.search(r"每秒 [\d,]+ 行 · 预计还需", samples[-1][0]), samples[-1][0]
    expect_on_screen(done)

    # Every result table shows its verdict column without scrolling sideways.
    for name, column in (("结果预览", "情感"), ("最不确定", "置信度"), ("混淆矩阵", None)):
        grid = page.get_by_role("grid", name=re.compile(f"^{name}"))
        scroll_to_top_of(grid)
        headers = grid.get_by_role("columnheader")
        header = headers.last if column is None else grid.get_by_role("columnheader", name=column, exact=True)
        expect_on_screen(header)
        assert page.evaluate("window.scrollX") == 0
        if column == "置信度":  # the least confident rows show the confidence they are sorted by
            expect_on_screen(grid.get_by_role("columnheader", name="情感", exact=True))
    chart = page.get_by_role("img").filter(has_text="条数")
    scroll_to_top_of(chart)
    expect_on_screen(chart)
    shot("results")


def test_comparison_verdicts_are_on_screen_and_go_stale_after_an_edit(screen: Page, shot) -> None:
    page = screen
    page.get_by_role("tab", name="例句对比").click()
    compare = page.get_by_role("button", name="对比", exact=True)
    compare.scroll_into_view_if_needed()
    compare.click()
    results = page.get_by_role("grid", name="对比结果")
    expect(results.get_by_role("row").nth(1)).to_be_visible()
    scroll_to_top_of(results)
    expect_on_screen(results.get_by_role("columnheader", name="判断", exact=True))
    expect_on_screen(results.get_by_role("columnheader", name=re.compile(r"^P\(")))
    assert page.evaluate("window.scrollX") == 0
    chart = page.get_by_role("img").filter(has_text="正面概率")
    scroll_to_top_of(chart)
    expect_on_screen(chart)
    shot("results")

    # Editing the examples marks the results stale until the next comparison.
    examples = page.get_by_role("grid", name=re.compile(r"^例句"))
    scroll_to_top_of(examples)
    examples.get_by_role("gridcell").nth(1).dblclick()
    editor = examples.get_by_role("textbox", name="Edit cell")
    editor.fill("服务一般，价格偏贵。")
    editor.press("Enter")
    stale = page.get_by_text(re.compile("例句已修改"))
    expect(stale).to_be_visible()
    expect(page.locator(".stale").first).to_be_visible()
    compare.click()
    expect(stale).to_be_hidden()
    expect(page.locator(".stale")).to_have_count(0)
