"""How the 洞察 section shows a job's insights: Markdown for reasons, frames for the tables and charts.

User text (quotes, group names) is escaped for Markdown and HTML: it is shown as text, never as markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..insights import Insights
from ..insights.dates import UNIT_NAMES
from .formatting import marked, percent

AUTO_CHOICE = "自动识别"
NO_COLUMN = "（不使用）"
CHART_GROUPS = 10  # groups in the chart (the table has up to MAX_GROUPS and the rest summed)
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def md_text(text: Any) -> str:
    """Plain text safe inside Markdown: HTML escaped, Markdown punctuation backslashed, one line."""
    return _MARKDOWN.sub(r"\\\1", html.escape(" ".join(str(text).split())))


def column_choice(value: str | None) -> str | None:
    """A dropdown's value as build_insights wants it: "auto", None (off) or a column name."""
    if value in (None, "", AUTO_CHOICE):
        return "auto"
    return None if value == NO_COLUMN else value


def ordered_labels(insights: Insights) -> list[str]:
    """Negative first (差评原因), then positive, then any others."""
    first = [label for label in (insights.negative, insights.positive) if label]
    return first + [label for label in insights.labels if label not in first]


def _title(label: str, insights: Insights) -> str:
    if label == insights.negative:
        return f"差评原因（{label}）"
    if label == insights.positive:
        return f"好评亮点（{label}）"
    return f"{label} 的原因"


def reasons_markdown(insights: Insights, label: str) -> str:
    """One label's reasons as a numbered list: rows, share, lift, opinion words, three quotes with rows."""
    found = insights.reasons.get(label, [])
    lines = [f"#### {marked(label, insights.labels)} · {_title(label, insights)}"]
    if not found:
        return "\n".join(lines + ["", "没有达到 5 行以上的原因。"])
    others = "其他评论" if len(insights.labels) > 2 else "另一类评论"
    for k, r in enumerate(found, 1):
        tag = "" if r.source == "taxonomy" else " · 文件中发现"
        lift = f"是{others}的 {r.lift:.1f} 倍" if r.lift >= 1 else f"少于{others}（{r.lift:.1f} 倍）"
        lines.append(f"{k}. **{md_text(r.reason)}** · {r.rows:,} 行（{percent(r.share)}）· {lift}{tag}")
        if r.words:
            lines.append(f"   常见说法：{'、'.join(md_text(w) for w in r.words)}")
        for quote in r.quotes:
            lines.append(f"   - 第 {quote['row']:,} 行：「{md_text(quote['text'])}」")
    return "\n".join(lines)


def head_markdown(insights: Insights) -> str:
    """The section's heading and what the figures left out (flagged rows, by reason)."""
    lines = ["### 洞察：评论说了什么", f"以下基于 **{insights.rows_used:,}** 行。"]
    total = sum(insights.flag_counts.values())
    if total:
        parts = "、".join(f"{name} {count:,}" for name, count in insights.flag_counts.items())
        verb = "已计入" if insights.include_flagged else "未计入"
        lines.append(f"⚠️ {total:,} 行被标记（{parts}），{verb}下面的数字；下载文件的“标记”列标出了它们。")
    else:
        lines.append("没有需要标记的行（默认评价、模板复制、无意义填充、评分与文本矛盾）。")
    return "\n\n".join(lines)


def group_frames(insights: Insights) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The groups table (Chinese headers) and the chart's long frame (rows per group and sentiment)."""
    if not insights.groups:
        return None, None
    labels = ordered_labels(insights)
    rows = insights.groups["rows"]
    table = pd.DataFrame(
        [
            {insights.groups["column"]: g["group"], "行数": g["rows"]}
            | {f"{label}占比": percent(g["shares"].get(label, 0.0)) for label in labels}
            | {"把握不大": g["uncertain"]}
            | {f"主要{_short(label, insights)}": (g["top_reason"] or {}).get(label) or "" for label in labels[:2]}
            for g in rows
        ]
    )
    chart = pd.DataFrame(
        [
            {"分组": str(g["group"])[:12], "情感": label, "条数": round(g["rows"] * g["shares"].get(label, 0.0))}
            for g in rows[:CHART_GROUPS]
            for label in labels
        ]
    )
    return table, chart


def _short(label: str, insights: Insights) -> str:
    return {insights.negative: "差评原因", insights.positive: "好评原因"}.get(label, f"{label}原因")


def period_frames(insights: Insights) -> tuple[pd.DataFrame | None, pd.DataFrame | None, str]:
    """The periods table, the chart's long frame and the chart's label (unit and column)."""
    if not insights.periods:
        return None, None, ""
    labels = ordered_labels(insights)
    rows = insights.periods["rows"]
    table = pd.DataFrame(
        [
            {"时间段": p["period"], "行数": p["rows"]}
            | {f"{label}占比": percent(p["shares"].get(label, 0.0)) for label in labels}
            | {"说明": "行数太少，仅供参考" if p["sparse"] else ""}
            for p in rows
        ]
    )
    ticks, year = chart_ticks([p["period"] for p in rows], insights.periods["unit"])
    chart = pd.DataFrame(
        [
            {"时间": tick, "情感": label, "条数": round(p["rows"] * p["shares"].get(label, 0.0))}
            for p, tick in zip(rows, ticks, strict=True)
            for label in labels
        ]
    )
    unit = UNIT_NAMES.get(insights.periods["unit"], "")
    return table, chart, f"{year + ' 年' if year else ''}每{unit}的评论数（按“{insights.periods['column']}”列）"


def chart_ticks(periods: Sequence[str], unit: str) -> tuple[list[str], str]:
    """The chart's short x labels and the year they leave out ("" when none): the chart's title names the
    unit, so weeks drop " 周", and days or weeks of one year drop the year, which the title then names (13
    rotated "2024-01-01 周" labels overlap at a phone's width; "01-01" do not). The table keeps the full
    labels."""
    if unit not in ("day", "week"):
        return list(periods), ""
    dates = [p.split(" ")[0] for p in periods]
    years = {d[:4] for d in dates}
    if len(years) == 1:
        return [d[5:] for d in dates], years.pop()
    return dates, ""


def count_axis(counts: Sequence[int] | pd.Series) -> list[float]:
    """A row-count axis from 0 whose ticks are whole numbers: at least 0..10 (Vega puts ticks at 0.5 below)."""
    top = max([0, *list(counts)])
    if top <= 10:
        return [0, 10]
    # the next round number above the tallest bar (93 -> 100, 1,234 -> 1,500), so no bar touches the frame
    scale = 10 ** (len(str(int(top))) - 1)
    step = next(m for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 15) if m * scale >= top * 1.02)
    return [0, int(step * scale)]


__all__ = [
    "AUTO_CHOICE",
    "chart_ticks",
    "NO_COLUMN",
    "column_choice",
    "count_axis",
    "group_frames",
    "head_markdown",
    "md_text",
    "ordered_labels",
    "period_frames",
    "reasons_markdown",
]
