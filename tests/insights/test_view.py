"""The period chart's x labels stay short enough for a phone: the table keeps the full period names."""

from __future__ import annotations

from types import SimpleNamespace

from sentiment_app.ui.insights_view import chart_ticks, period_frames


def _insights(periods: list[str], unit: str) -> SimpleNamespace:
    rows = [{"period": p, "rows": 40, "shares": {"负面": 0.25, "正面": 0.75}, "sparse": False} for p in periods]
    return SimpleNamespace(
        periods={"rows": rows, "unit": unit, "column": "评论时间"},
        negative="负面",
        positive="正面",
        labels=["负面", "正面"],
    )


def test_weeks_of_one_year_drop_the_year_and_the_unit_and_the_title_names_the_year() -> None:
    weeks = ["2024-01-01 周", "2024-01-08 周", "2024-03-25 周"]
    table, chart, label = period_frames(_insights(weeks, "week"))
    assert list(table["时间段"]) == weeks  # the table keeps what the downloads say
    assert list(dict.fromkeys(chart["时间"])) == ["01-01", "01-08", "03-25"]
    assert label == "2024 年每周的评论数（按“评论时间”列）"
    assert chart["条数"].tolist() == [10, 30] * 3


def test_periods_across_years_keep_the_year_and_months_stay_as_they_are() -> None:
    assert chart_ticks(["2023-12-25 周", "2024-01-01 周"], "week") == (["2023-12-25", "2024-01-01"], "")
    assert chart_ticks(["2024-12-31", "2025-01-01"], "day") == (["2024-12-31", "2025-01-01"], "")
    assert chart_ticks(["2024-01", "2024-02"], "month") == (["2024-01", "2024-02"], "")
    assert chart_ticks(["2023", "2024"], "year") == (["2023", "2024"], "")
    _, _, label = period_frames(_insights(["2024-01", "2024-02"], "month"))
    assert label == "每月的评论数（按“评论时间”列）"
