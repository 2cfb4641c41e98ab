"""The limits every text-taking endpoint enforces, whatever shape its payload arrives in.

A public Space gets any JSON an attacker cares to send: numbers, ``null``, dicts, lone
surrogates, a 6.6 MB "review", a list of ten thousand texts. Each request is checked here on
its own, before any model call, by pure functions: a request that breaks a limit gets one
clear line (:class:`TextRefused`), and the requests merged with it by dynamic batching are
unaffected. The same :class:`TextLimits` holds for ``/classify`` (string or list), ``/compare``
(list), the comparison tab (table) and the single-text tab.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# About 50 windows of 512 tokens: a pasted book would tie up the CPU for everyone; the batch tab takes long cells.
MAX_TEXT_CHARS = 20_000
# Texts in one call of /classify (list), /compare or the comparison tab; more belong in the batch tab.
MAX_CALL_TEXTS = 50
# Characters in one call, all texts together: five texts at the per-text limit, a few seconds of CPU.
MAX_CALL_CHARS = 100_000
# A comparison table may hold blank rows (the "add a row" button), but not without bound: rows beyond
# this many are refused before they are read one by one.
MAX_TABLE_ROWS_FACTOR = 4

EMPTY_MESSAGE = "✍️ 请先输入一条评论。/ Please type a review first."


class TextRefused(ValueError):
    """A request (or one text in it) breaks a limit; the message is one line, Chinese and English."""


@dataclass(frozen=True)
class TextLimits:
    """Per-text and per-call bounds, from :class:`sentiment_app.config.AppConfig`."""

    max_text_chars: int = MAX_TEXT_CHARS
    max_call_texts: int = MAX_CALL_TEXTS
    max_call_chars: int = MAX_CALL_CHARS

    def __post_init__(self) -> None:
        for name in ("max_text_chars", "max_call_texts", "max_call_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


def is_blank(value: Any) -> bool:
    """None, NaN (an empty table cell) or only whitespace."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def check_text(value: Any, limits: TextLimits, *, allow_blank: bool = False) -> str:
    """``value`` as a text the model may read, or :class:`TextRefused` saying why not.

    Only a real string passes: ``123``, ``null``, a dict or a list is refused rather than turned
    into its ``str()``, and so is a string that is not valid Unicode (a lone surrogate from a JSON
    ``"\\ud800"`` escape), which the tokenizer would fail on.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if allow_blank:
            return ""
        raise TextRefused(EMPTY_MESSAGE)
    if not isinstance(value, str):
        raise TextRefused(
            f"🚫 评论必须是文本，收到的是 {_kind(value)}。/ A review must be a string, got {_kind(value)}."
        )
    if len(value) > limits.max_text_chars:
        raise TextRefused(
            f"📏 文本过长（{len(value):,} 字），单条分析最多 {limits.max_text_chars:,} 字；更长的内容请分段或用“批量分析”。"  # noqa: E501
            f" / Text too long ({len(value):,} characters, limit {limits.max_text_chars:,}): split it or use the batch tab."  # noqa: E501
        )
    if not value.strip():
        if allow_blank:
            return value
        raise TextRefused(EMPTY_MESSAGE)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TextRefused(
            f"🚫 文本含有无效字符（第 {exc.start + 1:,} 个字符是孤立的代理码位）。/ The text is not "
            f"valid Unicode (character {exc.start + 1:,} is a lone surrogate)."
        ) from None
    return value


def check_call(values: Any, limits: TextLimits, *, what: str = "texts") -> list[Any]:
    """A list payload checked as one call: a list, at most ``max_call_texts`` items, at most
    ``max_call_chars`` characters in its strings together. Items are returned unchecked (each
    gets its own :func:`check_text`, so one bad item need not sink the others)."""
    if isinstance(values, tuple):
        values = list(values)
    if not isinstance(values, list):
        raise TextRefused(
            f"🚫 需要一个文本列表，收到的是 {_kind(values)}。/ Expected a list of {what}, got {_kind(values)}."
        )
    if len(values) > limits.max_call_texts:
        raise TextRefused(
            f"🔢 一次最多 {limits.max_call_texts:,} 条，收到 {len(values):,} 条；更多请用“批量分析”。"
            f" / At most {limits.max_call_texts:,} {what} per call, got {len(values):,}: use the batch "
            f"tab or /classify_file for more."
        )
    total = sum(len(v) for v in values if isinstance(v, str))
    if total > limits.max_call_chars:
        raise TextRefused(
            f"📏 这次请求共 {total:,} 字，单次最多 {limits.max_call_chars:,} 字。/ This call holds {total:,} "
            f"characters, limit {limits.max_call_chars:,} per call: send fewer or shorter {what}."
        )
    return values


def check_table_size(rows: int, limits: TextLimits) -> None:
    """Refuse a comparison table too tall to hold at most ``max_call_texts`` texts plus some blank rows."""
    most = limits.max_call_texts * MAX_TABLE_ROWS_FACTOR
    if rows > most:
        raise TextRefused(
            f"🔢 表格有 {rows:,} 行，最多 {most:,} 行（其中有文本的最多 {limits.max_call_texts:,} 行）。"
            f" / The table has {rows:,} rows; at most {most:,} rows ({limits.max_call_texts:,} with "
            f"text) are compared: use the batch tab for more."
        )


def check_texts(values: Sequence[Any], limits: TextLimits) -> list[str]:
    """A whole call where every item must pass (``/compare``): the first problem refuses the call."""
    texts = []
    for i, value in enumerate(check_call(values, limits)):
        try:
            texts.append(check_text(value, limits))
        except TextRefused as exc:
            raise TextRefused(f"第 {i + 1} 条 / text {i + 1}: {exc}") from None
    return texts


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        dict: "an object",
        list: "a list",
        tuple: "a list",
    }.get(type(value), type(value).__name__)


__all__ = [
    "EMPTY_MESSAGE",
    "MAX_CALL_CHARS",
    "MAX_CALL_TEXTS",
    "MAX_TEXT_CHARS",
    "TextLimits",
    "TextRefused",
    "check_call",
    "check_table_size",
    "check_text",
    "check_texts",
    "is_blank",
]
