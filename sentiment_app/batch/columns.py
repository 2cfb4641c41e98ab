"""Which row is a header, which column holds the texts and which the gold labels.

Exports name their columns in Chinese, English or not at all; the heuristics below look at the
names first, then at the cells (Chinese characters, numbers, label-like values). Every function
here is linear in the cells it looks at (sets, not list searches), so a wide file costs what it
holds, and at most the first rows are sampled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

import pandas as pd

from .errors import TableError

# Column names, normalised (lower case, no spaces, "_" or "-"). Exact matches win over partial ones.
TEXT_NAMES = (
    "text",
    "review",
    "comment",
    "content",
    "评论",
    "内容",
    "文本",
    "评价",
    "留言",
    "text_a",
    "sentence",
    "reviews",
    "comments",
    "body",
    "message",
    "feedback",
    "评论内容",
    "评价内容",
    "正文",
    "句子",
    "反馈",
    "意见",
    "心得",
    "回复",
    "描述",
    # traditional characters, as Big5 files from Taiwan and Hong Kong have them
    "評論",
    "內容",
    "評價",
    "評論內容",
    "評價內容",
    "反饋",
    "意見",
    "回覆",
    "描述",
)
LABEL_NAMES = (
    "label",
    "labels",
    "gold",
    "target",
    "class",
    "sentiment",
    "polarity",
    "y",
    "标签",
    "类别",
    "情感",
    "情感倾向",
    "极性",
    "分类",
    "倾向",
    "标注",
    "標籤",
    "類別",
    "情感傾向",
    "極性",
    "分類",
    "傾向",
    "標註",
)
# Other names that only help to recognise a header row.
OTHER_HEADER_NAMES = (
    "id",
    "no",
    "index",
    "序号",
    "编号",
    "时间",
    "日期",
    "date",
    "time",
    "user",
    "用户",
    "用户名",
    "昵称",
    "name",
    "rating",
    "score",
    "评分",
    "星级",
    "商品",
    "product",
    "title",
    "标题",
    "編號",
    "時間",
    "用戶",
    "暱稱",
    "評分",
    "星級",
    "標題",
)
ALL_HEADER_NAMES = TEXT_NAMES + LABEL_NAMES + OTHER_HEADER_NAMES
# Values a gold-label column without a header holds.
LABEL_VALUES = {
    "0",
    "1",
    "-1",
    "正面",
    "负面",
    "中性",
    "positive",
    "negative",
    "neutral",
    "pos",
    "neg",
    "好评",
    "差评",
    "中评",
    "积极",
    "消极",
}
HEADER_SAMPLE_ROWS = 200  # rows below the first one looked at to decide whether it is a header
COLUMN_SAMPLE_ROWS = 2_000  # rows looked at to pick the text and label columns

NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9 _.\-]{0,40}")
_SENTENCE_PUNCT = re.compile(r"[，。！？；、,.!?;]")


def normalize(name: str) -> str:
    """A column name for loose matching: lower case, without spaces, ``_`` or ``-``."""
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


@lru_cache(maxsize=16)
def _normalized(keywords: tuple[str, ...]) -> frozenset[str]:
    return frozenset(normalize(k) for k in keywords)


def name_score(name: str, keywords: Sequence[str], *, head_noun: bool = False) -> int:
    """2: the name is a keyword; 1: it contains one (as a word for English); 0: no match.

    ``head_noun``: a partial match must end the name, as in "用户评价" or "Review Text"; a
    review such as "商品不错" or "内容很好" then does not pass for a column name.
    """
    norm = normalize(name)
    if not norm:
        return 0
    if norm in _normalized(tuple(keywords)):
        return 2
    words = [w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", name.strip()).lower()) if w]
    for keyword in keywords:
        if _CJK.search(keyword):
            if norm.endswith(keyword) if head_noun else keyword in norm:
                return 1
        elif len(keyword) > 1 and (words[-1:] == [keyword] if head_noun else keyword in words):
            return 1
    return 0


def is_number(cell: str) -> bool:
    return bool(NUMBER.fullmatch(cell.strip()))


def looks_like_header(rows: list[list[str]]) -> bool:
    """Guess whether the first row names the columns (known names, or words over numbers / Chinese)."""
    first = rows[0]
    rest = [row for row in rows[1 : HEADER_SAMPLE_ROWS + 1] if any(cell.strip() for cell in row)]
    for cell in first:
        short = len(cell.strip()) <= 12 and not _SENTENCE_PUNCT.search(cell)
        score = name_score(cell, ALL_HEADER_NAMES, head_noun=True)
        if score == 2 or (score == 1 and short and rest):
            return True
    if not rest:
        return False
    votes = 0
    filled = [cell.strip() for cell in first if cell.strip()]
    if len(set(filled)) < len(filled):
        votes -= 1
    for j, cell in enumerate(first):
        cell = cell.strip()
        column = [row[j].strip() for row in rest if j < len(row) and row[j].strip()]
        if not column or not cell:
            continue
        numeric = sum(map(is_number, column)) / len(column)
        if numeric >= 0.9:
            votes += -1 if is_number(cell) else 1
        elif is_number(cell):
            votes -= 1
        elif _IDENTIFIER.fullmatch(cell) and not _CJK.search(cell):
            chinese = sum(1 for value in column if _CJK.search(value)) / len(column)
            if chinese >= 0.5:
                votes += 1
    return votes > 0


def header_names(first: list[str], width: int) -> list[str]:
    """Column names from the header row: blanks become ``column_<n>``, repeats get ``_2``, ``_3``..."""
    names: list[str] = []
    for i in range(width):
        raw = first[i].strip() if i < len(first) else ""
        names.append(raw or f"column_{i + 1}")
    given = set(names)
    seen: dict[str, int] = {}
    unique: list[str] = []
    taken: set[str] = set()
    for name in names:
        if name in seen:
            seen[name] += 1
            candidate = f"{name}_{seen[name]}"
            while candidate in given or candidate in taken:
                seen[name] += 1
                candidate = f"{name}_{seen[name]}"
            name = candidate
        else:
            seen[name] = 1
        unique.append(name)
        taken.add(name)
    return unique


def resolve_column(wanted: str, columns: Sequence[str], role: str) -> str:
    """The column the user meant: exact name, then ignoring case and spaces, then a 1-based number."""
    if wanted in columns:
        return wanted
    loose = [c for c in columns if normalize(c) == normalize(wanted)]
    if len(loose) == 1:
        return loose[0]
    text = str(wanted).strip()
    if text.isdigit() and 1 <= int(text) <= len(columns):
        return columns[int(text) - 1]
    raise TableError(f"there is no {role} column {wanted!r}; the columns are: {', '.join(columns)} (列名不存在)")


def _cjk_count(values: Iterable[str]) -> int:
    return sum(len(_CJK.findall(value)) for value in values)


def detect_text_column(frame: pd.DataFrame, names: list[str], exclude: str | None) -> str:
    """By name (评论, text...), else the column with the most Chinese, else the longest non-numeric text."""
    candidates = [n for n in names if n != exclude] or names
    sample = frame.head(COLUMN_SAMPLE_ROWS)
    cjk = {n: _cjk_count(sample[n]) for n in candidates}
    by_name = [(score, cjk[n], -i, n) for i, n in enumerate(candidates) if (score := name_score(n, TEXT_NAMES))]
    if by_name:
        return max(by_name)[3]
    if max(cjk.values()) > 0:
        return max((cjk[n], -i, n) for i, n in enumerate(candidates))[2]

    def text_length(n: str) -> float:
        values = [v for v in sample[n] if v.strip()]
        if not values or sum(map(is_number, values)) >= 0.9 * len(values):
            return -1.0
        return sum(map(len, values)) / len(values)

    return max((text_length(n), -i, n) for i, n in enumerate(candidates))[2]


def detect_label_column(frame: pd.DataFrame, names: list[str], has_header: bool, exclude: str | None) -> str | None:
    """By name (label, 标签...) with a header; without one, a column whose values are all label-like."""
    candidates = [n for n in names if n != exclude]
    if has_header:
        if "confidence" in names:  # an output of this app: its "sentiment" is a prediction, not gold
            candidates = [n for n in candidates if n != "sentiment"]
        scored = [(score, -i, n) for i, n in enumerate(candidates) if (score := name_score(n, LABEL_NAMES))]
        return max(scored)[2] if scored else None
    for name in candidates:
        values = {v.strip().lower() for v in frame[name].head(COLUMN_SAMPLE_ROWS) if v.strip()}
        if 2 <= len(values) <= 3 and values <= LABEL_VALUES:
            return name
    return None


__all__ = [
    "LABEL_NAMES",
    "NUMBER",
    "OTHER_HEADER_NAMES",
    "TEXT_NAMES",
    "detect_label_column",
    "detect_text_column",
    "header_names",
    "is_number",
    "looks_like_header",
    "name_score",
    "normalize",
    "resolve_column",
]
