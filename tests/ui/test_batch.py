"""CSV batch tab in Chromium: a GBK export with a label column, end to end, and a broken upload."""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from sentiment_app.ui.formatting import marked
from tests import tiny

pytestmark = [pytest.mark.ui, pytest.mark.timeout(300)]

TEXT_COLUMN, LABEL_COLUMN = "评论内容", "标签"
FORMULA = '=HYPERLINK("http://example.com","点这里")差评'
ROWS = 600  # a few model chunks, so there is progress to show


def write_gbk_csv(path: Path, rows: int = ROWS, repeat: int = 1) -> Path:
    """A GBK-encoded export with a header and a label column; row 2 starts like a spreadsheet formula.
    ``repeat`` writes each review that many times over, for reviews as long as real ones."""
    reviews = [(text * repeat, tiny.LABELS[label]) for text, label in tiny.REVIEWS + tiny.HELD_OUT_REVIEWS]
    body = [reviews[i % len(reviews)] for i in range(rows)]
    body[1] = (FORMULA, "负面")
    with open(path, "w", encoding="gbk", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([TEXT_COLUMN, LABEL_COLUMN])
        writer.writerows(body)
    return path


def open_batch_tab(page: Page) -> None:
    page.get_by_role("tab", name="批量分析").click()
    expect(page.get_by_role("tab", name="批量分析")).to_have_attribute("aria-selected", "true")


def upload(page: Page, path: Path) -> None:
    """Click the drop zone and pick the file, as a user does."""
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Click to upload or drop files").click()
    chooser.value.set_files(str(path))


# Progress changes quickly: a MutationObserver notes every text the progress bar shows.
WATCH_PROGRESS = """() => {
  window.__progressSeen = [];
  const look = () => {
    for (const node of document.querySelectorAll('#batch-progress [role="progressbar"]')) {
      const text = (node.innerText || '') + ' ' + node.querySelector('.job-fill').style.width;
      window.__progressSeen.push(text.trim().slice(0, 160));
    }
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def test_gbk_csv_with_labels_previews_runs_and_downloads(page: Page, app_server, tmp_path: Path, shot) -> None:
    source = write_gbk_csv(tmp_path / "评论导出_gbk.csv")
    open_batch_tab(page)
    run = page.get_by_role("button", name="开始分析")
    expect(run).to_be_disabled()
    upload(page, source)

    # Preview and detected columns.
    expect(page.get_by_text(re.compile(r"GB(K|2312|18030)"))).to_be_visible()
    expect(page.get_by_role("combobox", name="文本列")).to_have_value(TEXT_COLUMN)
    expect(page.get_by_role("combobox", name=re.compile(r"^标签列"))).to_have_value(LABEL_COLUMN)
    preview = page.get_by_role("grid", name=re.compile(r"^文件预览"))
    expect(preview.get_by_role("columnheader", name=TEXT_COLUMN)).to_be_visible()
    expect(preview.get_by_role("gridcell", name=tiny.REVIEWS[0][0])).to_be_visible()
    expect(preview.get_by_role("row")).to_have_count(1 + 10)  # header + the first 10 rows
    shot("preview")

    # Run to the end; progress showed on the way.
    page.evaluate(WATCH_PROGRESS)
    expect(run).to_be_enabled()
    run.click()
    expect(page.get_by_text(re.compile(rf"完成：\s*{ROWS:,} 行"))).to_be_visible(timeout=120_000)
    seen = page.evaluate("window.__progressSeen")
    assert any(re.search(rf"[\d,]+ / {ROWS:,}", text) for text in seen), f"no row count progress: {seen[:5]}"
    assert any("100.0%" in text or "100%" in text for text in seen), f"progress never reached 100%: {seen[-5:]}"
    expect(page.get_by_text(re.compile(r"已分析 [\d,]+ / [\d,]+ 行"))).to_have_count(0)

    # Summary: counts, accuracy against the label column, chart, tables.
    expect(page.get_by_role("heading", name="结果概要")).to_be_visible()
    expect(page.get_by_text(re.compile(r"对照标签列.*准确率\s*\d+(\.\d)?%"))).to_be_visible()
    for label in app_server.labels:
        expect(page.get_by_role("cell", name=marked(label, app_server.labels), exact=True)).to_be_visible()
    chart = page.get_by_role("img").filter(has_text="条数")
    expect(chart).to_be_visible()
    results = page.get_by_role("grid", name=re.compile(r"^结果预览"))
    expect(results.get_by_role("columnheader", name="情感")).to_be_visible()
    expect(page.get_by_role("grid", name=re.compile(r"^混淆矩阵"))).to_be_visible()

    # The CSV download: UTF-8 with BOM (Excel), every row, the original and result columns, formula escaped.
    with page.expect_download() as download_info:
        page.get_by_role("button", name=re.compile(r"下载 CSV")).click()
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.suffix == ".csv"
    data = saved.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf"), "the CSV must start with a UTF-8 BOM so Excel shows Chinese"
    table = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(table) == ROWS
    columns = list(table[0])
    assert columns[:2] == [TEXT_COLUMN, LABEL_COLUMN]
    assert "sentiment" in columns and "confidence" in columns
    assert all(f"prob_{label}" in columns for label in app_server.labels), columns
    assert {row["sentiment"] for row in table} <= set(app_server.labels)
    assert table[1][TEXT_COLUMN] == "'" + FORMULA, "a cell starting with = must be escaped for spreadsheets"
    assert table[0][TEXT_COLUMN] == tiny.REVIEWS[0][0]
    for row in table[:20]:
        total = sum(float(row[f"prob_{label}"]) for label in app_server.labels)
        assert abs(total - 1.0) < 1e-3, row

    # The Excel download is a workbook with the same rows.
    import openpyxl

    with page.expect_download() as download_info:
        page.get_by_role("button", name=re.compile(r"下载 Excel")).click()
    workbook_path = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(workbook_path)
    sheet = openpyxl.load_workbook(workbook_path).active
    assert sheet.max_row == ROWS + 1
    assert [cell.value for cell in sheet[1]][:2] == [TEXT_COLUMN, LABEL_COLUMN]


def test_binary_file_named_csv_shows_a_clear_error_and_the_app_keeps_working(
    page: Page, app_server, tmp_path: Path, shot
) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\x00\x01\x02\xff\xfe" + os.urandom(4096))
    open_batch_tab(page)
    upload(page, broken)

    toast = page.get_by_role("status").filter(has_text="broken.csv")
    expect(toast).to_be_visible()
    expect(toast).not_to_contain_text("Traceback")
    # The reason also stays beside the upload after the toast fades; the toast has a Chinese title.
    expect(page.get_by_text("文件无法使用", exact=True).first).to_be_visible()
    # Gradio's own English title ("Warning") is replaced, on screen, by a Chinese one.
    title = toast.locator(".toast-title")
    assert title.evaluate("el => getComputedStyle(el).fontSize") == "0px"
    assert title.evaluate("el => getComputedStyle(el, '::before').content") == '"请注意"'
    expect(page.get_by_text(re.compile(r"请换一个文件再试"))).to_be_visible()
    expect(page.get_by_role("button", name="开始分析")).to_be_disabled()
    shot("error")

    # Remove the bad file with the upload's own clear button and upload a good one: the tab works again.
    page.locator("#batch-upload").get_by_role("button", name=re.compile(r"^(Clear|清除)$")).click()
    expect(page.get_by_role("button", name="Click to upload or drop files")).to_be_visible()
    upload(page, write_gbk_csv(tmp_path / "good.csv", rows=12))
    expect(page.get_by_role("combobox", name="文本列")).to_have_value(TEXT_COLUMN)
    expect(
        page.get_by_role("grid", name=re.compile(r"^文件预览")).get_by_role("gridcell", name=tiny.REVIEWS[0][0])
    ).to_be_visible()
    expect(page.get_by_role("button", name="开始分析")).to_be_enabled()

    # And the other tabs still answer.
    page.get_by_role("tab", name="单条分析").click()
    page.get_by_role("textbox", name="评论").fill("物流很快，包装完好，满意。")
    page.get_by_role("button", name="分析", exact=True).click()
    expect(page.get_by_role("heading", level=2)).to_have_text(
        re.compile("^(" + "|".join(map(re.escape, app_server.labels)) + ")$")
    )
