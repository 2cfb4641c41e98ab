"""Planted flags are found, and left out of the figures unless asked for."""

from __future__ import annotations

import pandas as pd

from sentiment_app.insights import build_insights, find_flags
from tests.insights import planted


def test_planted_flags_are_found_and_counted() -> None:
    insights = build_insights(planted.classified(), ["负面", "正面"], "评论")
    assert insights.flag_counts == planted.FLAGS
    assert insights.star_column == "星级"
    flagged = planted.build()[insights.flags != ""]
    assert set(flagged["评论"]) >= {planted.TEMPLATE, *planted.DEFAULTS, *planted.FILLERS, planted.MISMATCH}
    assert insights.rows_used == len(planted.build()) - sum(planted.FLAGS.values())


def test_flagged_rows_count_when_asked() -> None:
    frame = planted.classified()
    left_out = build_insights(frame, ["负面", "正面"], "评论")
    counted = build_insights(frame, ["负面", "正面"], "评论", include_flagged=True)
    assert counted.rows_used == len(frame)
    assert counted.to_json()["flags"]["included"] is True
    quality = {r.reason: r.rows for r in counted.reasons["正面"]}
    assert quality.get("做工", 0) > {r.reason: r.rows for r in left_out.reasons["正面"]}["做工"]


def test_short_repeats_and_real_repeated_opinions_are_not_filler() -> None:
    texts = pd.Series(["很好用", "很好用", "很好用", "好", "不好用，不好用，不好用", "好好好好", "！！！！", "👍👍👍"])
    sentiment = pd.Series(["正面"] * len(texts))
    flags = find_flags(texts, sentiment, pd.Series([0.9] * len(texts)))
    assert flags.tolist() == ["", "", "", "", "", "无意义填充", "无意义填充", "无意义填充"]


def test_rating_mismatch_needs_a_confident_text() -> None:
    texts = pd.Series(["质量很差，退货了", "质量很差，退货了吧", "非常好"])
    flags = find_flags(
        texts,
        pd.Series(["负面", "负面", "正面"]),
        pd.Series([0.95, 0.6, 0.99]),
        stars=pd.Series([5, 5, 1]),
        negative="负面",
        positive="正面",
    )
    assert flags.tolist() == ["评分与文本矛盾", "", "评分与文本矛盾"]
