"""Rows to be careful with: default texts, copies of a template, filler, and stars that contradict the text.

Each flagged row gets one reason (the first that applies, in :data:`FLAG_ORDER`); the insight figures
leave flagged rows out by default, since a thousand pasted templates or 默认好评 say nothing about why
customers are happy or not.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .taxonomy import DEFAULT_REVIEWS

DEFAULT = "默认评价"
TEMPLATE = "模板复制"
FILLER = "无意义填充"
MISMATCH = "评分与文本矛盾"
FLAG_ORDER = (DEFAULT, TEMPLATE, FILLER, MISMATCH)

_DEFAULT = re.compile("|".join(map(re.escape, DEFAULT_REVIEWS)))
# Normalised text: letters, digits and CJK only (punctuation, spaces and emoji removed).
_NOISE = re.compile(r"[^0-9A-Za-z\u4e00-\u9fff]+")
_CONTENT = re.compile(r"[0-9A-Za-z\u4e00-\u9fff]")
_REPEAT = re.compile(r"(.{1,2}?)\1{2,}")  # 好好好, 好评好评好评; not 不好用，不好用
TEMPLATE_MIN_CHARS = 15  # shorter texts ("很好用") repeat by themselves; only long ones are templates
TEMPLATE_MIN_COPIES = 3
NEAR_KEY_CHARS = 12  # near-copies share their first or last 12 characters...
NEAR_MIN_SIMILARITY = 0.6  # ...and this share of character bigrams with the bucket's commonest text
MISMATCH_CONFIDENCE = 0.9  # only a confident text contradicts its stars


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


def _templates(norm: pd.Series) -> pd.Series:
    """Rows that are copies or near-copies of a text at least TEMPLATE_MIN_COPIES rows share."""
    long = norm[norm.str.len() >= TEMPLATE_MIN_CHARS]
    flagged = pd.Series(False, index=norm.index)
    if long.empty:
        return flagged
    sizes = long.map(long.value_counts())
    flagged.loc[sizes[sizes >= TEMPLATE_MIN_COPIES].index] = True
    for key in (long.str[:NEAR_KEY_CHARS], long.str[-NEAR_KEY_CHARS:]):
        counts = key.value_counts()
        shared = counts[counts >= TEMPLATE_MIN_COPIES].index[:500]  # bounded: a hostile file stays linear
        candidates = long[key.isin(shared)]
        for _value, members in candidates.groupby(key[candidates.index], sort=False):
            reference = _bigrams(members.value_counts().index[0])
            similar = members.map(lambda t, ref=reference: len(_bigrams(t) & ref) / max(1, len(_bigrams(t) | ref)))
            close = similar[similar >= NEAR_MIN_SIMILARITY]
            if len(close) >= TEMPLATE_MIN_COPIES:
                flagged.loc[close.index] = True
    return flagged


def _filler(text: pd.Series, norm: pd.Series) -> pd.Series:
    """好好好好好, 哈哈哈哈, 好评好评好评, or only emoji and punctuation repeated."""
    stripped = text.str.replace(r"\s+", "", regex=True)
    no_content = (stripped.str.len() >= 2) & ~stripped.str.contains(_CONTENT.pattern, regex=True)
    repeated = (norm.str.len() >= 4) & norm.str.fullmatch(_REPEAT.pattern)
    return (no_content | repeated).fillna(False).astype(bool)


def find_flags(
    texts: pd.Series,
    sentiment: pd.Series,
    confidence: pd.Series,
    *,
    stars: pd.Series | None = None,
    negative: str | None = None,
    positive: str | None = None,
) -> pd.Series:
    """The flag per row ("" when none): one of :data:`FLAG_ORDER`.

    A rating–text mismatch needs ``stars`` (numbers) and the negative and positive labels: the top
    star value with a confidently negative text, or the lowest with a confidently positive one.
    """
    text = texts.fillna("").astype(str)
    norm = text.str.replace(_NOISE.pattern, "", regex=True)
    out = np.full(len(text), "", dtype=object)
    checks = [
        (DEFAULT, text.str.contains(_DEFAULT.pattern, regex=True) & (norm.str.len() <= 40)),
        (TEMPLATE, _templates(norm)),
        (FILLER, _filler(text, norm)),
    ]
    if stars is not None and negative and positive:
        valid = stars.dropna()
        if len(valid) and valid.nunique() > 1:
            top, bottom = valid.max(), valid.min()
            sure = confidence.fillna(0) >= MISMATCH_CONFIDENCE
            mismatch = sure & (
                ((stars == top) & (sentiment == negative)) | ((stars == bottom) & (sentiment == positive))
            )
            checks.append((MISMATCH, mismatch.fillna(False)))
    for name, mask in reversed(checks):  # the first reason in FLAG_ORDER wins
        out[np.asarray(mask, dtype=bool)] = name
    return pd.Series(out, index=texts.index, dtype=object)


__all__ = ["DEFAULT", "FILLER", "FLAG_ORDER", "MISMATCH", "TEMPLATE", "find_flags"]
