"""Planted reasons come out as one named reason each, with their counts; synonyms merge; per-label rows only."""

from __future__ import annotations

import pandas as pd
import pytest

from sentiment_app.insights import build_insights
from tests.insights import planted

LABELS = ["负面", "正面"]


@pytest.fixture(scope="module")
def insights():
    return build_insights(planted.classified(), LABELS, "评论")


def by_name(insights, label):
    return {r.reason: r for r in insights.reasons[label]}


@pytest.mark.parametrize(
    ("label", "counts"), [("负面", planted.NEGATIVE_COUNTS), ("正面", planted.POSITIVE_COUNTS)], ids=["neg", "pos"]
)
def test_each_planted_reason_is_one_named_reason_with_its_count(insights, label, counts) -> None:
    found = by_name(insights, label)
    for reason, n in counts.items():
        assert reason in found, f"{reason} missing from {list(found)}"
        assert abs(found[reason].rows - n) <= max(1, n // 10), (reason, found[reason].rows, n)
    # ordered by rows
    rows = [r.rows for r in insights.reasons[label]]
    assert rows == sorted(rows, reverse=True)


def test_synonyms_merge_into_one_reason(insights) -> None:
    names = [r.reason for r in insights.reasons["负面"]]
    for word in ("物流", "快递", "发货", "送货", "配送", "价钱", "性价比"):
        assert word not in names, f"{word} should be merged into its aspect, got {names}"
    assert names.count("物流配送") == 1


def test_a_word_the_taxonomy_lacks_is_discovered(insights) -> None:
    discovered = [r for r in insights.reasons["负面"] if r.source == "discovered"]
    match = [r for r in discovered if planted.DISCOVERED[:2] in r.reason]
    assert match, [r.reason for r in discovered]
    assert abs(match[0].rows - planted.DISCOVERED_ROWS) <= 1
    assert not any(r.reason in ("失望", "差评", "不推荐") for r in insights.reasons["负面"])


def test_reasons_carry_share_lift_words_and_quotes_with_row_numbers(insights) -> None:
    frame = planted.build()
    logistics = by_name(insights, "负面")["物流配送"]
    assert logistics.share == pytest.approx(logistics.rows / sum(1 for r in frame["planted"] if r == "负面"), abs=0.05)
    assert logistics.lift > 5  # positive rows never mention it
    assert any("慢" in w for w in logistics.words), logistics.words
    assert len(logistics.quotes) == 3
    for quote in logistics.quotes:
        row = frame.iloc[quote["row"] - 1]
        assert row["planted"] == "负面"
        assert quote["text"].strip("…") in row["评论"]


def test_each_sentiment_uses_only_its_own_rows() -> None:
    frame = planted.classified()
    full = build_insights(frame, LABELS, "评论")
    # change every positive row's text: the negative reasons must not move
    changed = frame.copy()
    changed.loc[changed["sentiment"] == "正面", "评论"] = "物流太慢，价格太贵，房间很脏，" + changed["评论"]
    other = build_insights(changed, LABELS, "评论")
    for a, b in zip(full.reasons["负面"], other.reasons["负面"]):
        assert (a.reason, a.rows, a.quotes) == (b.reason, b.rows, b.quotes)
    quoted_rows = {q["row"] for r in full.reasons["正面"] for q in r.quotes}
    assert all(frame.iloc[row - 1]["sentiment"] == "正面" for row in quoted_rows)


def test_too_few_rows_is_not_a_finding() -> None:
    frame = planted.classified().head(3)
    insights = build_insights(frame, LABELS, "评论")
    assert all(not found for found in insights.reasons.values())


def test_json_has_the_issue_schema(insights) -> None:
    report = insights.to_json()
    reason = report["reasons"]["负面"][0]
    assert {"reason", "rows", "share", "lift", "words", "quotes"} <= set(reason)
    assert {"row", "text"} == set(reason["quotes"][0])
    assert {"column", "rows"} <= set(report["groups"])
    assert {"group", "rows", "shares", "top_reason"} <= set(report["groups"]["rows"][0])
    assert {"column", "unit", "rows"} <= set(report["periods"])
    assert {"period", "rows", "shares"} <= set(report["periods"]["rows"][0])
    assert "counts" in report["flags"]
    pd.io.json.ujson_dumps(report)  # plain JSON types only
