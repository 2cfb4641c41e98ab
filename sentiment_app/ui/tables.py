"""Tables in and out of the page: the comparison table a user edits, and display copies of result tables.

The display copies put the verdict first (情感, 置信度), then the text, so the answer is on screen on a
phone without scrolling sideways; the downloads keep the pipeline's own column order and names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..limits import TextRefused, check_table_size, check_text, is_blank
from .formatting import marked

# The comparison table's "kind" column is a short tag echoed back: longer ones are cut, not refused.
MAX_KIND_CHARS = 200
KIND, TEXT = "类型", "评论"
COMPARE_COLUMNS = [KIND, TEXT]
VERDICT, CONFIDENCE, ROW = "情感", "置信度", "行"
DISPLAY_DIGITS = 3  # probabilities on screen; the downloads keep 4 (batch.writing.PROBABILITY_DIGITS)


def result_view(frame: pd.DataFrame, result_columns: Sequence[str], labels: Sequence[str]) -> pd.DataFrame:
    """A display copy of a classified table: 情感 and 置信度 first, then the input's columns, then P(label)."""
    sentiment, confidence, *probabilities = result_columns
    inputs = [c for c in frame.columns if c not in set(result_columns)]
    view = pd.DataFrame(index=frame.index)
    view[VERDICT] = [marked(str(v), labels) if isinstance(v, str) and v else "" for v in frame[sentiment]]
    view[CONFIDENCE] = pd.to_numeric(frame[confidence], errors="coerce").round(DISPLAY_DIGITS)
    for column in inputs:
        view[column] = frame[column]
    for column, label in zip(probabilities, labels):
        view[f"P({label})"] = pd.to_numeric(frame[column], errors="coerce").round(DISPLAY_DIGITS)
    return view


def least_view(least: pd.DataFrame, result_columns: Sequence[str], labels: Sequence[str]) -> pd.DataFrame:
    """The least confident rows: 情感, 置信度, the row's number in the file, its text."""
    view = result_view(least, result_columns[:2], labels)
    view.insert(2, ROW, [int(i) + 1 for i in least.index])
    return view


def confusion_view(confusion: pd.DataFrame | None) -> pd.DataFrame | None:
    """Gold labels down, predicted across, with short headers that fit a phone."""
    if confusion is None:
        return None
    out = confusion.copy()
    out.index = [f"真实 {name}" for name in out.index]
    out.columns = [f"预测 {name}" for name in out.columns]
    return out.reset_index(names="真实＼预测")


def short_text(i: int, text: str, width: int = 8) -> str:
    body = text if len(text) <= width else text[: width - 1] + "…"
    return f"{i + 1:02d}. {body}"  # zero-padded: the chart orders its axis as text


def add_empty_row(frame: pd.DataFrame | None) -> pd.DataFrame:
    """The comparison table with one blank row at the end, for the user to type into."""
    columns = list(frame.columns) if frame is not None and len(frame.columns) else COMPARE_COLUMNS
    base = frame if frame is not None else pd.DataFrame(columns=columns)
    return pd.concat([base, pd.DataFrame([[""] * len(columns)], columns=columns)], ignore_index=True)


def texts_from_frame(frame: Any, limits: Any = None) -> list[tuple[str, str]]:
    """(kind, text) for each row with text; a one-column table is all text.

    ``frame`` is a DataFrame or the comparison table's raw payload (``{"headers": [...], "data":
    [[...], ...]}``, what the tab sends with ``preprocess=False``, read here without pandas, which
    cannot even hold a lone surrogate). With ``limits`` (a :class:`~sentiment_app.limits.TextLimits`),
    a table too tall, a text too long or not valid Unicode is refused (:class:`TextRefused`) before
    the rest is read; a number typed in a cell counts as its text.
    """
    if frame is None:
        return []
    if isinstance(frame, pd.DataFrame):
        n_columns, rows = len(frame.columns), frame
    elif isinstance(frame, dict) and isinstance(frame.get("data"), list):
        rows = frame["data"]
        n_columns = max((len(row) for row in rows[:1] if isinstance(row, list)), default=0)
    else:
        raise TextRefused('🚫 需要一个表格。/ Expected a table ({"headers": [...], "data": [[...], ...]}).')
    if len(rows) == 0 or n_columns == 0:
        return []
    if limits is not None:
        check_table_size(len(rows), limits)
    if isinstance(rows, pd.DataFrame):
        rows = rows.values.tolist()
    out = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, list) or not row:
            raise TextRefused(f"🚫 第 {number} 行不是一行表格。/ Row {number} is not a table row.")
        text = row[-1]
        if is_blank(text) or (isinstance(text, str) and not text.strip()):
            continue
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            text = str(text)
        if limits is not None:
            try:
                check_text(text, limits)
            except TextRefused as exc:
                raise TextRefused(f"第 {number} 行 / row {number}: {exc}") from None
        elif not isinstance(text, str):
            text = str(text)
        kind = row[0] if len(row) > 1 else ""
        kind = "" if is_blank(kind) else str(kind)
        out.append((kind if len(kind) <= MAX_KIND_CHARS else kind[: MAX_KIND_CHARS - 1] + "…", text.strip()))
    return out
