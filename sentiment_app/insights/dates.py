"""Dates as Chinese exports write them, and the periods a file's span calls for.

2024-03-05, 2024/3/5, 2024.3.5, 2024年3月5日, each with or without a time, 20240305, Excel serial day
numbers (45356 = 2024-03-05) and bare years (2023). Parsing is vectorised (one regular expression over
the column), so 100,000 distinct dates cost well under a second.
"""

from __future__ import annotations

import pandas as pd

# y-m-d with - / . or 年月日, optional time (2024-03-05 14:30[:15]); or 8 digits 20240305.
_DATE = (
    r"^\s*(?P<y>(?:19|20)\d{2})\s*(?:[-/.年]\s*(?P<m>\d{1,2})\s*(?:[-/.月]\s*(?P<d>\d{1,2})\s*[日号]?)?\s*月?)?"
    r"(?:[T\s]*(?P<H>\d{1,2})[:时](?P<M>\d{1,2})分?(?::?(?P<S>\d{1,2}(?:\.\d+)?)秒?)?)?\s*$"
)
_COMPACT = r"^\s*(?P<y>(?:19|20)\d{2})(?P<m>[01]\d)(?P<d>[0-3]\d)\s*$"
EXCEL_EPOCH = pd.Timestamp("1899-12-30")  # Excel's day 0 (its 1900 leap-year bug included)
# Serial numbers read as dates only in this range: 1990-01-01 .. 2100-01-01.
EXCEL_SERIALS = (32874, 73051)
MAX_PERIODS = 120  # rows a periods table or chart may have; earlier periods are summed into one row
UNITS = ("day", "week", "month", "year")
UNIT_NAMES = {"day": "日", "week": "周", "month": "月", "year": "年"}


def parse_dates(values: pd.Series) -> pd.Series:
    """``datetime64`` per value (``NaT`` where it is not a date); the index is kept."""
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if values.empty:
        return out
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return pd.to_datetime(values, errors="coerce").astype("datetime64[ns]")
    text = values.astype("string").str.strip()
    for pattern in (_DATE, _COMPACT):
        parts = text.str.extract(pattern)
        found = parts["y"].notna() & out.isna()
        if not found.any():
            continue
        frame = pd.DataFrame(
            {
                "year": pd.to_numeric(parts["y"], errors="coerce"),
                "month": pd.to_numeric(parts["m"], errors="coerce").fillna(1),
                "day": pd.to_numeric(parts["d"], errors="coerce").fillna(1),
            }
        )
        for unit, name in (("hour", "H"), ("minute", "M"), ("second", "S")):
            frame[unit] = pd.to_numeric(parts[name], errors="coerce").fillna(0) if name in parts else 0
        stamps = pd.to_datetime(frame[found.to_numpy()], errors="coerce")
        out.loc[stamps.index] = stamps
    numbers = pd.to_numeric(text, errors="coerce")
    serial = out.isna() & numbers.between(*EXCEL_SERIALS)
    if serial.any():
        out.loc[serial] = EXCEL_EPOCH + pd.to_timedelta(numbers[serial].astype(float), unit="D")
    return out


def date_share(values: pd.Series, *, sample: int = 2000) -> float:
    """Share of the non-blank values (a sample of them) that parse as dates."""
    text = values.dropna().astype(str).str.strip()
    text = text[text != ""].head(sample)
    if text.empty:
        return 0.0
    return float(parse_dates(text).notna().mean())


def choose_unit(dates: pd.Series) -> str:
    """Day for up to ~2 months, week up to ~1 year, month up to 10 years, else year."""
    valid = dates.dropna()
    if valid.empty:
        return "day"
    if bool(((valid.dt.month == 1) & (valid.dt.day == 1) & (valid.dt.hour == 0)).all()) and valid.dt.year.nunique() > 1:
        return "year"  # a year column (2021, 2022, ...)
    days = (valid.max() - valid.min()).days
    if days <= 62:
        return "day"
    if days <= 370:
        return "week"
    if days <= 3660:
        return "month"
    return "year"


def period_labels(dates: pd.Series, unit: str) -> pd.Series:
    """A sortable label per row: 2024-03-05, 2024-03-04 (the Monday a week starts), 2024-03, 2024."""
    if unit == "day":
        return dates.dt.strftime("%Y-%m-%d")
    if unit == "week":
        monday = dates.dt.normalize() - pd.to_timedelta(dates.dt.day_of_week, unit="D")
        return monday.dt.strftime("%Y-%m-%d") + " 周"
    if unit == "month":
        return dates.dt.strftime("%Y-%m")
    return dates.dt.year.astype("Int64").astype("string")


# Fewer rows than this and a period's share means little (±18 points at 95 % for a share near half).
SPARSE_ROWS = 30


__all__ = ["MAX_PERIODS", "UNITS", "UNIT_NAMES", "choose_unit", "date_share", "parse_dates", "period_labels"]
