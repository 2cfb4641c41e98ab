"""Single text tab in Chromium: a review gets a label, probabilities and highlighted characters."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from sentiment_app.examples import SINGLE_EXAMPLES
from sentiment_app.ui import EMPTY_MESSAGE

pytestmark = [pytest.mark.ui, pytest.mark.timeout(300)]

REVIEW = "房间干净整洁，服务态度非常好，下次还会再来。"


def label_pattern(labels: list[str]) -> re.Pattern[str]:
    return re.compile("^(" + "|".join(map(re.escape, labels)) + ")$")


def spaced(text: str) -> re.Pattern[str]:
    """The text's characters in order, whatever whitespace the highlight puts between them."""
    return re.compile(r"\s*".join(map(re.escape, text)))


def expect_verdict(page: Page, labels: list[str]) -> None:
    verdict = page.get_by_role("heading", level=2)
    expect(verdict).to_have_text(label_pattern(labels))
    shares = []
    for label in labels:
        expect(page.get_by_role("meter", name=label)).to_be_visible()
        bar = page.get_by_role("button", name=re.compile(rf"^{re.escape(label)} \d+%$"))
        expect(bar).to_be_visible()
        shares.append(int(re.search(r"(\d+)%$", bar.inner_text().replace("\n", " ")).group(1)))
    assert 98 <= sum(shares) <= 102, f"probabilities {dict(zip(labels, shares))} should add up to 100%"
    expect(page.get_by_text(re.compile(r"置信度 \d+\.\d%"))).to_be_visible()


def test_typed_review_gets_label_probabilities_and_highlighted_explanation(page: Page, app_server) -> None:
    expect(page.get_by_text("模型：")).to_be_visible()
    page.get_by_role("textbox", name="评论").fill(REVIEW)
    page.get_by_role("button", name="分析", exact=True).click()

    expect_verdict(page, app_server.labels)
    explanation = page.locator("#explanation .textfield")
    expect(explanation).to_have_text(spaced(REVIEW))
    # The legend names the sentiment each colour pushes toward (red 负面, green 正面, as in the charts).
    expect(page.get_by_test_id("highlighted-text:category-legend")).to_contain_text(f"推向{app_server.labels[-1]}")
    # At least one character carries a colour (Gradio marks weighted tokens "highlighted").
    expect(explanation.locator(".highlighted").first).to_be_visible()
    verdict = page.get_by_role("heading", level=2).inner_text()
    expect(page.get_by_text(re.compile(rf"推动判断为\s*{re.escape(verdict)}\s*的词"))).to_be_visible()

    page.get_by_role("button", name="清空").click()
    expect(page.get_by_role("textbox", name="评论")).to_have_value("")
    expect(page.get_by_role("heading", level=2)).to_have_count(0)


def test_empty_review_shows_the_friendly_message(page: Page, app_server) -> None:
    page.get_by_role("button", name="分析", exact=True).click()
    expect(page.get_by_text(EMPTY_MESSAGE)).to_be_visible()
    expect(page.get_by_role("heading", level=2)).to_have_count(0)
    expect(page.get_by_text("Error", exact=True)).to_have_count(0)

    page.get_by_role("textbox", name="评论").fill("   \n  ")
    page.get_by_role("button", name="分析", exact=True).click()
    expect(page.get_by_text(EMPTY_MESSAGE)).to_be_visible()
    expect(page.get_by_role("heading", level=2)).to_have_count(0)


def test_clicking_an_example_fills_the_box_and_classifies_it(page: Page, app_server) -> None:
    example = SINGLE_EXAMPLES[1]
    page.get_by_role("button", name=example).click()
    expect(page.get_by_role("textbox", name="评论")).to_have_value(example)
    expect_verdict(page, app_server.labels)
    expect(page.locator("#explanation .textfield")).to_have_text(spaced(example))
