"""Dates in every format Chinese exports use; the unit from the span; hostile date columns stay bounded."""

from __future__ import annotations

import pandas as pd
import pytest

from sentiment_app.insights import build_insights
from sentiment_app.insights.dates import MAX_PERIODS, choose_unit, parse_dates, period_labels
from tests.insights import planted

MARCH_5 = pd.Timestamp("2024-03-05")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-05", MARCH_5),
        ("2024/3/5", MARCH_5),
        ("2024.03.05", MARCH_5),
        ("2024年3月5日", MARCH_5),
        ("2024年03月05日", MARCH_5),
        ("20240305", MARCH_5),
        ("2024-03-05 14:30", MARCH_5 + pd.Timedelta("14:30:00")),
        ("2024/3/5 9:05:01", MARCH_5 + pd.Timedelta("09:05:01")),
        ("2024-03-05T14:30:00", MARCH_5 + pd.Timedelta("14:30:00")),
        ("2024年3月5日 14时30分", MARCH_5 + pd.Timedelta("14:30:00")),
        ("2024年3月5日 14:30:15", MARCH_5 + pd.Timedelta("14:30:15")),
        ("45356", MARCH_5),
        (45356, MARCH_5),
        (45356.5, MARCH_5 + pd.Timedelta("12:00:00")),
        ("2023", pd.Timestamp("2023-01-01")),
    ],
)
def test_every_format_parses(value, expected) -> None:
    assert parse_dates(pd.Series([value], dtype=object)).iloc[0] == expected


@pytest.mark.parametrize("value", ["abc", "", None, "12345", "2024-13-45", "1.5", "下周三"])
def test_non_dates_are_nat(value) -> None:
    assert pd.isna(parse_dates(pd.Series([value], dtype=object)).iloc[0])


def test_unit_follows_the_span() -> None:
    def unit(start, days):
        return choose_unit(pd.Series(pd.date_range(start, periods=2, freq=f"{days}D")))

    assert unit("2024-01-01", 30) == "day"
    assert unit("2024-01-01", 200) == "week"
    assert unit("2020-01-01", 1500) == "month"
    assert choose_unit(parse_dates(pd.Series(["2019", "2020", "2021"]))) == "year"


def test_periods_table_with_sparse_periods_marked() -> None:
    insights = build_insights(planted.classified(), ["负面", "正面"], "评论")
    periods = insights.periods
    assert periods["column"] == "评论时间" and periods["unit"] == "week"
    assert sum(p["rows"] for p in periods["rows"]) == insights.rows_used
    assert any(p["sparse"] for p in periods["rows"])


def test_hostile_dates_and_groups_stay_bounded() -> None:
    n = 100_000
    frame = pd.DataFrame(
        {
            "评论": ["物流太慢了" if i % 2 else "外观好看" for i in range(n)],
            "商品": [f"SKU{i}" if i % 3 else "A" for i in range(n)],
            "日期": pd.Series(pd.date_range("1990-01-01", periods=n, freq="13h")).dt.strftime("%Y-%m-%d %H:%M"),
        }
    )
    frame["sentiment"] = ["负面" if i % 2 else "正面" for i in range(n)]
    frame["confidence"], frame["prob_负面"], frame["prob_正面"] = 0.9, 0.5, 0.5
    insights = build_insights(frame, ["负面", "正面"], "评论", group_column="商品")
    assert len(insights.groups["rows"]) <= 21
    assert sum(g["rows"] for g in insights.groups["rows"]) == n
    assert insights.groups["rows"][-1]["group"].startswith("其他")
    assert len(insights.periods["rows"]) <= MAX_PERIODS
    in_range = int((pd.to_datetime(frame["日期"]) < "2100-01-01").sum())  # later years are not read as dates
    assert sum(p["rows"] for p in insights.periods["rows"]) == in_range


def test_periods_beyond_the_cap_are_summed_into_earlier() -> None:
    dates = pd.Series(pd.date_range("1900-01-01", "2099-01-01", freq="365D"))
    assert period_labels(dates, "year").nunique() > MAX_PERIODS
    frame = pd.DataFrame({"评论": ["好"] * len(dates), "日期": dates.dt.strftime("%Y-%m-%d")})
    frame["sentiment"], frame["confidence"], frame["prob_负面"], frame["prob_正面"] = "正面", 0.9, 0.1, 0.9
    periods = build_insights(frame, ["负面", "正面"], "评论").periods
    assert len(periods["rows"]) == MAX_PERIODS and periods["rows"][0]["period"] == "更早"
    assert sum(p["rows"] for p in periods["rows"]) == len(frame)
