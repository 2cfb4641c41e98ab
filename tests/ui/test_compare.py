"""Example comparison tab in Chromium: edit an example, compare, read the table and the chart."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from sentiment_app.examples import COMPARISON_EXAMPLES
from sentiment_app.ui.layout import chinese_kind

pytestmark = [pytest.mark.ui, pytest.mark.timeout(300)]

EDITED = "物流很快，包装完好，非常满意，下次还买。"


def test_edit_an_example_then_compare_shows_table_and_chart(page: Page, app_server, shot) -> None:
    page.get_by_role("tab", name="例句对比").click()
    examples = page.get_by_role("grid", name=re.compile(r"^例句"))
    old_kind, old_text = chinese_kind(COMPARISON_EXAMPLES[-1][0]), COMPARISON_EXAMPLES[-1][1]
    expect(examples.get_by_role("row")).to_have_count(1 + len(COMPARISON_EXAMPLES))

    # Edit the last example's text in place: double-click the cell, type, Enter.
    examples.get_by_role("gridcell", name=old_text).dblclick()
    editor = examples.get_by_role("textbox", name="Edit cell")
    expect(editor).to_be_visible()
    editor.fill(EDITED)
    editor.press("Enter")
    # A selected cell's name also lists its menu buttons, hence "starts with".
    expect(examples.get_by_role("gridcell", name=re.compile("^" + re.escape(EDITED)))).to_be_visible()
    expect(examples.get_by_role("gridcell", name=re.compile("^" + re.escape(old_text)))).to_have_count(0)
    shot("edited")

    page.get_by_role("button", name="对比", exact=True).click()
    results = page.get_by_role("grid", name="对比结果")
    expect(results.get_by_role("row")).to_have_count(1 + len(COMPARISON_EXAMPLES))
    expect(results.get_by_role("columnheader", name=re.compile(r"判断$"))).to_be_visible()
    edited_row = results.get_by_role("row").filter(has_text=EDITED)
    expect(edited_row).to_have_count(1)
    expect(edited_row).to_contain_text(old_kind)
    label = "|".join(map(re.escape, app_server.labels))
    expect(edited_row).to_contain_text(re.compile(rf"({label})"))
    expect(results.get_by_role("gridcell", name=old_text, exact=True)).to_have_count(0)

    chart = page.get_by_role("img").filter(has_text="正面概率")
    expect(chart).to_be_visible()
    expect(chart).to_contain_text(f"{len(COMPARISON_EXAMPLES):02d}. {EDITED[:5]}")
