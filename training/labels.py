"""The order of the classes when the data names them: the base's head first, then a documented rule.

A base that already has a classification head (an exported merged model, the embedded model, a Hub
model with named labels) reads row ``i`` of its head as ``id2label[i]``; if the run numbered the
classes otherwise, every answer would come out swapped. So, in this order of preference:

1. ``--label-names`` (the user's order, checked against the data elsewhere);
2. the base's head, when its ``id2label`` names exactly the data's labels (any order);
3. a rule for the usual label families: sentiment names negative first (负面/正面, 差评/好评,
   negative/positive, neg/pos, 消极/积极, with 中性/neutral in the middle); numbers by value;
   stars (1★…5★, ★★★, 一星…五星, 1星, "3 stars") by count;
4. anything else sorted by code point, as before (and the run says so).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

# Polarity of the usual sentiment label names (lower-cased, stripped): negative < neutral < positive.
POLARITY: dict[str, float] = {
    **dict.fromkeys("very negative|非常负面|极差|很差".split("|"), -2),
    **dict.fromkeys("负面|负向|负|消极|差评|差|贬义|贬|不满意|否定|负面评价|negative|neg|bad".split("|"), -1),
    **dict.fromkeys("中性|中立|中评|一般|中性评价|neutral|neu|mixed".split("|"), 0),
    **dict.fromkeys("正面|正向|正|积极|好评|好|褒义|褒|满意|肯定|正面评价|positive|pos|good".split("|"), 1),
    **dict.fromkeys("very positive|非常正面|极好|很好".split("|"), 2),
}
_CHINESE_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_STARS = re.compile(r"^(\d+|[一二两三四五六七八九十])\s*(?:★|☆|⭐|星|星级|颗星|stars?)$", re.IGNORECASE)
_GENERIC = re.compile(r"^LABEL_\d+$")


def head_label_names(base_config: Any) -> list[str] | None:
    """The class names of the base's classification head (``id2label`` in index order), or None when the
    base has no named head (a bare encoder's config says LABEL_0, LABEL_1...)."""
    id2label = getattr(base_config, "id2label", None) or {}
    try:
        names = [str(id2label[i]) for i in range(len(id2label))]
    except KeyError:
        return None
    if len(names) < 2 or all(_GENERIC.match(n) for n in names):
        return None
    return names


def star_count(label: str) -> int | None:
    """1★ / ★★★ / 一星 / 1星 / "3 stars" -> the number of stars; None for anything else."""
    text = label.strip()
    if text and set(text) <= {"★", "⭐"}:
        return len(text)
    match = _STARS.match(text)
    if not match:
        return None
    count = match.group(1)
    return int(count) if count.isdigit() else _CHINESE_DIGITS[count]


def _number(label: str) -> float | None:
    try:
        value = float(label)
    except ValueError:
        return None
    return value if value == value else None  # NaN is not an order


def rule_order(labels: Iterable[str]) -> tuple[list[str], str]:
    """The documented order of string labels without a base head or ``--label-names``, and why.

    The whole set must belong to one family; a mix (负面, 正面, 其他) falls back to code-point order."""
    values = sorted(set(labels))
    polarity = [POLARITY.get(v.strip().lower()) for v in values]
    if all(p is not None for p in polarity) and len(set(polarity)) == len(values):
        ordered = [v for _, v in sorted(zip(polarity, values))]
        return ordered, "the usual sentiment names, negative first"
    numbers = [_number(v) for v in values]
    if all(n is not None for n in numbers) and len(set(numbers)) == len(values):
        return [v for _, v in sorted(zip(numbers, values))], "numbers, by value"
    stars = [star_count(v) for v in values]
    if all(s is not None for s in stars) and len(set(stars)) == len(values):
        return [v for _, v in sorted(zip(stars, values))], "stars, by count"
    return values, "no known family: code-point order; pass --label-names to choose"


def choose_order(labels: Sequence[str], base_head: Sequence[str] | None) -> tuple[list[str], str]:
    """The class order for the data's string labels: the base head's when it names the same set, else
    :func:`rule_order`. Returns (order, why) for the run's first lines."""
    if base_head is not None and set(base_head) == set(labels) and len(base_head) == len(set(labels)):
        return list(base_head), "the order of the base model's classification head"
    return rule_order(labels)
