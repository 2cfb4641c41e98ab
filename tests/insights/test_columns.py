"""Group, date and star columns are detected by name and checked by value; the user can override or turn off."""

from __future__ import annotations

import pandas as pd

from sentiment_app.insights import build_insights
from sentiment_app.insights.columns import detect_date_column, detect_group_column, detect_star_column
from tests.insights import planted


def test_detected_in_the_planted_file() -> None:
    frame = planted.build()
    assert detect_group_column(frame, ["评论"]) == "店铺"
    assert detect_date_column(frame, ["评论"]) == "评论时间"
    assert detect_star_column(frame, ["评论"]) == "星级"


def test_an_id_column_or_unique_names_are_not_groups() -> None:
    frame = pd.DataFrame({"商品名称": [f"商品{i}" for i in range(50)], "价格": range(50)})
    assert detect_group_column(frame) is None
    assert detect_date_column(frame) is None  # prices are not Excel days


def test_groups_sorted_by_negative_rows_with_top_reason() -> None:
    insights = build_insights(planted.classified(), ["负面", "正面"], "评论")
    rows = insights.groups["rows"]
    negatives = [round(g["rows"] * g["shares"]["负面"]) for g in rows]
    assert negatives == sorted(negatives, reverse=True)
    assert rows[0]["top_reason"]["负面"] == "物流配送"


def test_the_user_turns_groups_and_dates_off_or_picks_another_column() -> None:
    frame = planted.classified()
    off = build_insights(frame, ["负面", "正面"], "评论", group_column=None, date_column=None)
    assert off.groups is None and off.periods is None
    picked = build_insights(frame, ["负面", "正面"], "评论", group_column="星级")
    assert picked.groups["column"] == "星级"


def test_count_axes_end_on_a_round_number_above_the_tallest_bar():
    from sentiment_app.ui.insights_view import count_axis

    assert count_axis([]) == [0, 10] and count_axis([3, 7]) == [0, 10]  # whole-number ticks even for tiny files
    assert count_axis([90, 93]) == [0, 100]
    assert count_axis([1234]) == [0, 1500]
    assert all(count_axis([n])[1] > n for n in (11, 99, 100, 2500, 99_999))
