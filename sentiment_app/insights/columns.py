"""Which columns of a review file say where (a product, shop, platform), when (a date) and how many stars.

Detected by name first (the names Chinese exports use), then checked against the values: a group
column repeats its values, a date column parses as dates, a star column holds small numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from .dates import date_share

GROUP_NAMES = re.compile(
    r"商品|产品|店铺|门店|店名|商家|平台|品类|类目|类别|分类|品牌|型号|酒店|餐厅|sku|product|item|shop|store|brand|"
    r"platform|category|domain|领域|hotel|restaurant|app|应用",
    re.IGNORECASE,
)
DATE_NAMES = re.compile(r"日期|时间|年月|年份|月份|date|time|day|month|year|created|评论于|发布于", re.IGNORECASE)
STAR_NAMES = re.compile(r"星级|星数|评分|打分|分数|评星|star|rating|score|stars", re.IGNORECASE)
# Names that look like one of the above but are not (评分 of a model, the result columns).
NOT_META = re.compile(r"^(sentiment|confidence|prob_.+)(_\d+)?$|^标记$", re.IGNORECASE)
MIN_DATE_SHARE = 0.8  # at least this share of a column's values must parse for it to count as dates


def _candidates(columns: Sequence[str], names: re.Pattern[str], skip: Sequence[str | None]) -> list[str]:
    return [c for c in columns if names.search(str(c)) and c not in skip and not NOT_META.match(str(c))]


def detect_group_column(frame: pd.DataFrame, skip: Sequence[str | None] = ()) -> str | None:
    """The first column named like a product/shop/platform whose values repeat (2 or more groups, and on
    average at least 2 rows per group), else None."""
    for column in _candidates([str(c) for c in frame.columns], GROUP_NAMES, skip):
        values = frame[column].dropna().astype(str).str.strip()
        values = values[values != ""]
        distinct = values.nunique()
        if 2 <= distinct <= max(2, len(values) // 2):
            return column
    return None


def detect_date_column(frame: pd.DataFrame, skip: Sequence[str | None] = ()) -> str | None:
    """A column named like a date whose values parse as dates, else any column that mostly does."""
    columns = [str(c) for c in frame.columns if str(c) not in skip and not NOT_META.match(str(c))]
    named = _candidates(columns, DATE_NAMES, skip)
    for column in named + [c for c in columns if c not in named]:
        series = frame[column]
        if column not in named and pd.api.types.is_numeric_dtype(series.dtype):
            continue  # bare numbers (prices, ids) read as Excel days only in a column named like a date
        if date_share(series) >= MIN_DATE_SHARE:
            return column
    return None


def detect_star_column(frame: pd.DataFrame, skip: Sequence[str | None] = ()) -> str | None:
    """A column named like stars or a score whose values are numbers from 0 to 10, else None."""
    for column in _candidates([str(c) for c in frame.columns], STAR_NAMES, skip):
        numbers = pd.to_numeric(frame[column].astype(str).str.extract(r"^\s*(\d+(?:\.\d+)?)")[0], errors="coerce")
        valid = numbers.dropna()
        if len(valid) and len(valid) >= 0.8 * frame[column].notna().sum() and valid.between(0, 10).all():
            return column
    return None


def star_values(series: pd.Series) -> pd.Series:
    """Stars as numbers (5, "5", "5星", "★★★★★" all read 5); NaN where there is none."""
    text = series.astype("string")
    numbers = pd.to_numeric(text.str.extract(r"^\s*(\d+(?:\.\d+)?)")[0], errors="coerce")
    stars = text.str.count("★").astype("float")
    return numbers.where(numbers.notna(), stars.where(stars > 0))


__all__ = ["detect_date_column", "detect_group_column", "detect_star_column", "star_values"]
