"""``build_insights(result_frame, labels, text_column)``: reasons, groups, periods and flagged rows of one file.

Pure pandas over the classified frame; no gradio, no model. ``check`` (the batch job's budget check)
runs between steps and inside the long loops, so a cancelled or over-time job stops its insights too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..batch.summary import find_result_columns, polarity
from .columns import detect_date_column, detect_group_column, detect_star_column, star_values
from .dates import MAX_PERIODS, SPARSE_ROWS, UNITS, choose_unit, parse_dates, period_labels
from .flags import FLAG_ORDER, find_flags
from .reasons import MIN_ROWS, Reason, find_reasons, top_reason_by_group

AUTO = "auto"  # detect the column; None: none; a name: that column
FLAG_COLUMN = "标记"
MAX_GROUPS = 20  # groups shown (table and chart); the rest are summed into one row
OTHER_GROUPS = "其他 {n} 组"
EARLIER = "更早"


@dataclass
class Insights:
    """What one classified file says beyond counts; :meth:`to_json` is the report's JSON."""

    labels: list[str]
    reasons: dict[str, list[Reason]]
    groups: dict[str, Any] | None
    periods: dict[str, Any] | None
    flags: pd.Series  # per row of the result frame: "" or the flag's name
    flag_counts: dict[str, int]
    include_flagged: bool
    rows_used: int
    negative: str | None
    positive: str | None
    star_column: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The report: reasons per label, groups, periods, flags (each list ordered by rows)."""
        return {
            "labels": self.labels,
            "rows_used": self.rows_used,
            "reasons": {
                label: [
                    {
                        "reason": r.reason,
                        "rows": r.rows,
                        "share": round(r.share, 4),
                        "lift": round(r.lift, 2),
                        "words": r.words,
                        "quotes": r.quotes,
                        "source": r.source,
                        "keywords": list(r.keywords),
                    }
                    for r in found
                ]
                for label, found in self.reasons.items()
            },
            "groups": self.groups,
            "periods": self.periods,
            "flags": {
                "column": FLAG_COLUMN,
                "counts": self.flag_counts,
                "total": int(sum(self.flag_counts.values())),
                "included": self.include_flagged,
                "star_column": self.star_column,
            },
            "notes": self.notes,
        }

    def sheets(self, frame: pd.DataFrame, text_column: str) -> dict[str, pd.DataFrame]:
        """Extra XLSX sheets: 原因 (with quotes and row numbers), 分组, 时间, 标记行."""
        rows = []
        for label, found in self.reasons.items():
            for r in found:
                row = {
                    "情感": label,
                    "原因": r.reason,
                    "来源": "词表" if r.source == "taxonomy" else "文件中发现",
                    "行数": r.rows,
                    "占比": round(r.share, 4),
                    "倍数(lift)": round(r.lift, 2),
                    "常见说法": "、".join(r.words),
                }
                for k in range(3):
                    quote = r.quotes[k] if k < len(r.quotes) else None
                    row[f"例句{k + 1}行号"] = quote["row"] if quote else None
                    row[f"例句{k + 1}"] = quote["text"] if quote else ""
                rows.append(row)
        out = {"原因": pd.DataFrame(rows, columns=list(rows[0]) if rows else ["情感", "原因", "行数"])}
        if self.groups:
            out["分组"] = pd.DataFrame(
                [
                    {self.groups["column"]: g["group"], "行数": g["rows"], "把握不大": g["uncertain"]}
                    | {f"{label}占比": round(g["shares"].get(label, 0.0), 4) for label in self.labels}
                    | {f"{label}主要原因": (g["top_reason"] or {}).get(label) or "" for label in self.labels}
                    for g in self.groups["rows"]
                ]
            )
        if self.periods:
            out["时间"] = pd.DataFrame(
                [
                    {"时间段": p["period"], "行数": p["rows"], "行数太少": "是" if p["sparse"] else ""}
                    | {f"{label}占比": round(p["shares"].get(label, 0.0), 4) for label in self.labels}
                    for p in self.periods["rows"]
                ]
            )
        flagged = self.flags != ""
        marked = frame.loc[flagged, [text_column]].copy()
        marked.insert(0, "行号", np.flatnonzero(flagged.to_numpy()) + 1)
        marked.insert(1, FLAG_COLUMN, self.flags[flagged])
        out["标记行"] = marked
        return out


def _sides(labels: Sequence[str]) -> tuple[str | None, str | None]:
    negative = next((label for label in labels if polarity(label) == "neg"), None)
    positive = next((label for label in labels if polarity(label) == "pos"), None)
    if len(labels) == 2 and negative is None and positive is None:
        negative, positive = labels[0], labels[1]
    return negative, positive


def _choose(frame: pd.DataFrame, wanted: str | None, detect: Callable[..., str | None], skip) -> str | None:
    if wanted is None or wanted == "":
        return None
    if wanted != AUTO:
        return wanted if wanted in frame.columns else None
    return detect(frame, skip)


def _shares(sentiment: pd.Series, labels: Sequence[str]) -> dict[str, float]:
    counts = sentiment.value_counts()
    total = int(counts.reindex(labels).fillna(0).sum())
    return {label: (int(counts.get(label, 0)) / total if total else 0.0) for label in labels}


def _groups(
    frame: pd.DataFrame, column: str, used: pd.Series, sentiment: pd.Series, uncertain: pd.Series, labels, reasons, neg
) -> dict[str, Any]:
    values = frame.loc[used, column].fillna("").astype(str).str.strip().str.slice(0, 60)
    values = values.where(values != "", "（空）")
    key = sentiment[used] == neg if neg else pd.Series(True, index=values.index)
    order = (
        pd.DataFrame({"g": values, "neg": key.astype(int)})
        .groupby("g", sort=False)
        .agg(neg=("neg", "sum"), rows=("neg", "size"))
    )
    order = order.sort_values(["neg", "rows"], ascending=False, kind="stable")
    shown = list(order.index[:MAX_GROUPS])
    codes_of = {g: k for k, g in enumerate(shown)}
    codes = values.map(codes_of).fillna(-1).astype(int).to_numpy()
    tops = top_reason_by_group(reasons, sentiment[used].to_numpy(), codes, len(shown))
    rows = []
    for k, g in enumerate(shown):
        mask = codes == k
        rows.append(
            {
                "group": g,
                "rows": int(mask.sum()),
                "shares": _shares(sentiment[used][mask], labels),
                "uncertain": int(uncertain[used][mask].sum()),
                "top_reason": {label: tops[label][k] for label in labels},
            }
        )
    rest = codes < 0
    other = None
    if rest.any():
        other = {
            "group": OTHER_GROUPS.format(n=len(order) - len(shown)),
            "rows": int(rest.sum()),
            "shares": _shares(sentiment[used][rest], labels),
            "uncertain": int(uncertain[used][rest].sum()),
            "top_reason": None,
        }
        rows.append(other)
    return {"column": column, "groups": int(len(order)), "rows": rows}


def _periods(dates: pd.Series, sentiment: pd.Series, labels, column: str) -> dict[str, Any] | None:
    valid = dates.notna()
    if valid.sum() < 2:
        return None
    unit = choose_unit(dates[valid])
    while True:
        period = period_labels(dates[valid], unit)
        if period.nunique() <= MAX_PERIODS or unit == UNITS[-1]:
            break
        unit = UNITS[UNITS.index(unit) + 1]
    names = sorted(period.unique())
    if len(names) > MAX_PERIODS:  # only the latest periods; everything before is one row
        cut = names[-(MAX_PERIODS - 1)]
        period = period.where(period >= cut, EARLIER)
        names = [EARLIER] + names[-(MAX_PERIODS - 1) :]
    floor = SPARSE_ROWS
    rows = []
    for name in names:
        part = sentiment[valid][period == name]
        rows.append(
            {"period": name, "rows": int(len(part)), "shares": _shares(part, labels), "sparse": len(part) < floor}
        )
    return {"column": column, "unit": unit, "sparse_below": floor, "rows": rows}


def build_insights(
    frame: pd.DataFrame,
    labels: Sequence[str],
    text_column: str,
    *,
    group_column: str | None = AUTO,
    date_column: str | None = AUTO,
    star_column: str | None = AUTO,
    include_flagged: bool = False,
    uncertain_below: float | None = None,
    min_rows: int = MIN_ROWS,
    check: Callable[[], None] = lambda: None,
) -> Insights:
    """Reasons per label, groups, periods and flags of a classified frame (see :class:`Insights`)."""
    labels = [str(label) for label in labels]
    sentiment_col, confidence_col = find_result_columns(frame, labels)[:2]
    sentiment = frame[sentiment_col].fillna("").astype(str)
    confidence = pd.to_numeric(frame[confidence_col], errors="coerce")
    negative, positive = _sides(labels)
    skip = [text_column, sentiment_col, confidence_col]
    stars_col = _choose(frame, star_column, detect_star_column, skip)
    stars = star_values(frame[stars_col]) if stars_col else None
    flags = find_flags(frame[text_column], sentiment, confidence, stars=stars, negative=negative, positive=positive)
    check()
    counts = flags[flags != ""].value_counts()
    flag_counts = {name: int(counts.get(name, 0)) for name in FLAG_ORDER if counts.get(name, 0)}
    used = (sentiment != "") & (include_flagged | (flags == ""))
    texts = frame.loc[used, text_column].fillna("").astype(str).tolist()
    numbers = np.flatnonzero(used.to_numpy()) + 1
    reasons = find_reasons(
        texts,
        sentiment[used].to_numpy(dtype=object),
        confidence[used].to_numpy(dtype=float),
        numbers,
        labels,
        check=check,
        min_rows=min_rows,
    )
    check()
    uncertain = confidence < uncertain_below if uncertain_below is not None else pd.Series(False, index=frame.index)
    group_col = _choose(frame, group_column, detect_group_column, skip + [stars_col])
    groups = _groups(frame, group_col, used, sentiment, uncertain, labels, reasons, negative) if group_col else None
    check()
    date_col = _choose(frame, date_column, detect_date_column, skip + [stars_col, group_col])
    periods = None
    if date_col:
        periods = _periods(parse_dates(frame.loc[used, date_col]), sentiment[used], labels, date_col)
    return Insights(
        labels=labels,
        reasons=reasons,
        groups=groups,
        periods=periods,
        flags=flags,
        flag_counts=flag_counts,
        include_flagged=include_flagged,
        rows_used=int(used.sum()),
        negative=negative,
        positive=positive,
        star_column=stars_col,
    )


__all__ = ["AUTO", "FLAG_COLUMN", "Insights", "build_insights"]
