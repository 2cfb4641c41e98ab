"""Why a sentiment's rows say what they say: taxonomy aspects plus reasons discovered in the file.

For each label, only that label's rows count toward its reasons (the other labels' rows are only the
contrast for lift and for discovery). A taxonomy aspect is found by its words (synonyms merge); a
discovered reason is a jieba word or two-word phrase that is markedly more frequent in the label's rows,
ranked by the log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008), with
evaluation words ("不错", "失望") and the taxonomy's own words left out.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .taxonomy import (
    ASPECTS,
    DEGREE_PREFIXES,
    EVALUATION_WORDS,
    EVALUATIVE,
    LEADING_FILLER,
    OPINION_HEADS,
    TRAILING_FILLER,
)

MIN_ROWS = 5  # a reason with fewer rows of its sentiment is not a finding
MAX_REASONS = 12  # per sentiment, taxonomy and discovered together
MAX_DISCOVERED = 6  # discovered reasons per sentiment
DISCOVERY_ROWS = 8_000  # rows per sentiment jieba reads for discovery (a seeded sample beyond): bounds time
MIN_Z = 2.0  # log-odds z-score a discovered word needs (with MIN_ROWS exact rows beside it)
PRIOR_STRENGTH = 200.0  # alpha_0 of the Dirichlet prior, in documents (at most a tenth of the rows read)
QUOTES = 3
QUOTE_CHARS = 80
OPINION_ROWS = 3000  # rows per reason read for opinion words
_ASPECT_OF = {word: aspect for aspect, words in ASPECTS.items() for word in words}
_ASPECT_PATTERN = re.compile("|".join(map(re.escape, sorted(_ASPECT_OF, key=len, reverse=True))))
_CLAUSE_END = re.compile(r"[，,。.！!？?；;、\s~～…\n（）()【】\[\]“”\"']")
_CJK = re.compile(r"^[\u4e00-\u9fff]+$")

Check = Callable[[], None]


@dataclass
class Reason:
    """One reason of one sentiment: its rows (positions in the used rows), counts and evidence."""

    reason: str
    source: str  # "taxonomy" or "discovered"
    keywords: tuple[str, ...]
    rows: int = 0
    share: float = 0.0
    lift: float = 0.0
    words: list[str] = field(default_factory=list)
    quotes: list[dict[str, object]] = field(default_factory=list)
    mask: np.ndarray | None = field(default=None, repr=False)  # over all used rows


def _opinion(text: str, start: int, end: int, word: str) -> str | None:
    """The opinion phrase beside an aspect word: 太慢 after 物流, 很贵 for 贵, or None."""
    if word in EVALUATIVE:
        before = text[max(0, start - 2) : start]
        for prefix in DEGREE_PREFIXES:
            if before.endswith(prefix):
                return prefix + word
        return word
    after = _CLAUSE_END.split(text[end : end + 10], maxsplit=1)[0]
    changed = True
    while changed and after:
        changed = False
        for filler in LEADING_FILLER:
            if after.startswith(filler) and len(after) > len(filler):
                after, changed = after[len(filler) :], True
    after = after.rstrip(TRAILING_FILLER)[:4].rstrip(TRAILING_FILLER)
    if len(after) < 2 or not _CJK.match(after):
        return None
    if after.startswith(DEGREE_PREFIXES) or (len(after) <= 2 and after[-1] in OPINION_HEADS):
        for cut in range(2, len(after) + 1):  # shortest phrase that ends on an adjective: 很慢, not 很慢到
            if after[cut - 1] in OPINION_HEADS:
                return after[:cut]
        return after if len(after) <= 3 else None
    return None


def match_aspects(texts: list[str], check: Check) -> tuple[dict[str, np.ndarray], list[list[tuple[str, str | None]]]]:
    """Per aspect, which texts mention it; per text, (aspect, opinion phrase) for each mention."""
    n = len(texts)
    masks = {aspect: np.zeros(n, dtype=bool) for aspect in ASPECTS}
    mentions: list[list[tuple[str, str | None]]] = [[] for _ in range(n)]
    for i, text in enumerate(texts):
        if i % 5000 == 0:
            check()
        for match in _ASPECT_PATTERN.finditer(text):
            aspect = _ASPECT_OF[match.group()]
            masks[aspect][i] = True
            mentions[i].append((aspect, _opinion(text, match.start(), match.end(), match.group())))
    return masks, mentions


def _tokens(text: str, cut: Callable[[str], list[str]]) -> set[str]:
    words = [w for w in cut(text) if len(w) >= 2 and _CJK.match(w)]
    found = set(words)
    for a, b in zip(words, words[1:]):  # two-word phrases (隔音效果, 退货流程)
        if len(a) + len(b) <= 6:
            found.add(a + b)
    return found


def _excluded(word: str) -> bool:
    if word in EVALUATION_WORDS or word in _ASPECT_OF:
        return True
    if _ASPECT_PATTERN.search(word):
        return True  # holds a taxonomy word: that aspect already counts it
    return word.startswith(DEGREE_PREFIXES) and (word[1:] in EVALUATION_WORDS or word[2:] in EVALUATION_WORDS)


class Tokens:
    """jieba's words and two-word phrases of a seeded sample of rows (DISCOVERY_ROWS per label), cut once."""

    def __init__(self, texts: list[str], sentiment: np.ndarray, labels: list[str], check: Check, seed: int = 0):
        import jieba

        jieba.setLogLevel(60)
        rng = np.random.default_rng(seed)
        self.by_row: dict[int, set[str]] = {}
        for label in labels:
            rows = np.flatnonzero(sentiment == label)
            if len(rows) > DISCOVERY_ROWS:
                rows = np.sort(rng.choice(rows, DISCOVERY_ROWS, replace=False))
            for k, i in enumerate(rows):
                if k % 2000 == 0:
                    check()
                self.by_row[int(i)] = _tokens(texts[i], lambda t: jieba.lcut(t, HMM=False))

    def counts(self, mask: np.ndarray) -> tuple[Counter[str], int]:
        counter: Counter[str] = Counter()
        n = 0
        for i, words in self.by_row.items():
            if mask[i]:
                counter.update(words)
                n += 1
        return counter, n


def discover(tokens: Tokens, mask: np.ndarray, other: np.ndarray) -> list[tuple[str, float]]:
    """Words and phrases markedly more frequent in ``mask``'s rows than in ``other``'s, best first, with z."""
    (ci, ni), (cj, nj) = tokens.counts(mask), tokens.counts(other)
    if not ni or not nj:
        return []
    found = []
    strength = min(PRIOR_STRENGTH, (ni + nj) / 10)
    for word, yi in ci.items():
        if yi < 3 or _excluded(word):
            continue
        yj = cj.get(word, 0)
        alpha = strength * (yi + yj) / (ni + nj)
        delta = math.log((yi + alpha) / (ni + strength - yi - alpha)) - math.log(
            (yj + alpha) / (nj + strength - yj - alpha)
        )
        z = delta / math.sqrt(1 / (yi + alpha) + 1 / (yj + alpha))
        if z >= MIN_Z:
            found.append((word, z))
    return sorted(found, key=lambda item: -item[1])


def _quotes(texts: list[str], rows: np.ndarray, numbers: np.ndarray, confidence: np.ndarray, keys) -> list[dict]:
    """Up to QUOTES distinct, confident, not too long texts with the reason, cut around its first mention."""
    candidates = rows[np.argsort(-np.nan_to_num(confidence[rows]), kind="stable")]
    quotes, seen = [], set()
    pattern = re.compile("|".join(map(re.escape, sorted(keys, key=len, reverse=True))))
    for prefer_short in (True, False):
        for i in candidates[:2000]:
            text = texts[i].strip()
            if text in seen or (prefer_short and not 6 <= len(text) <= 120):
                continue
            match = pattern.search(text)
            start = max(0, (match.start() if match else 0) - QUOTE_CHARS // 3)
            cut = text[start : start + QUOTE_CHARS]
            quotes.append(
                {
                    "row": int(numbers[i]),
                    "text": ("…" if start else "") + cut + ("…" if len(text) > start + QUOTE_CHARS else ""),
                }
            )
            seen.add(text)
            if len(quotes) == QUOTES:
                return quotes
    return quotes


def _opinion_words(
    texts: list[str], rows: np.ndarray, keys: tuple[str, ...], aspect: str | None, mentions
) -> list[str]:
    counter: Counter[str] = Counter()
    if aspect is not None:
        for i in rows[:OPINION_ROWS]:
            counter.update({o for a, o in mentions[i] if a == aspect and o})
    else:
        pattern = re.compile("|".join(map(re.escape, keys)))
        for i in rows[:OPINION_ROWS]:
            for m in pattern.finditer(texts[i]):
                word = _opinion(texts[i], m.start(), m.end(), m.group())
                if word:
                    counter[word] += 1
    return [word for word, count in counter.most_common(3) if count >= 2]


def find_reasons(
    texts: list[str],
    sentiment: np.ndarray,
    confidence: np.ndarray,
    numbers: np.ndarray,
    labels: list[str],
    *,
    check: Check = lambda: None,
    min_rows: int = MIN_ROWS,
) -> dict[str, list[Reason]]:
    """Reasons per label over the used rows; ``numbers`` are the rows' 1-based numbers in the file."""
    masks, mentions = match_aspects(texts, check)
    tokens: Tokens | None = None
    lower = [t.lower() for t in texts]
    out: dict[str, list[Reason]] = {}
    for label in labels:
        mine = sentiment == label
        other = (sentiment != label) & (sentiment != "")
        n_mine, n_other = int(mine.sum()), int(other.sum())
        reasons = [Reason(a, "taxonomy", ASPECTS[a], mask=m) for a, m in masks.items()]
        if n_mine >= min_rows and n_other >= min_rows:
            picked: list[Reason] = []
            tokens = tokens or Tokens(texts, sentiment, labels, check)
            for word, _z in discover(tokens, mine, other):
                if len(picked) == MAX_DISCOVERED:
                    break
                if any(word in p.reason or p.reason in word for p in picked):
                    continue
                m = np.fromiter((word in t for t in lower), dtype=bool, count=len(texts))
                if int((m & mine).sum()) < min_rows:
                    continue
                if any((m & p.mask).sum() >= 0.7 * min(m.sum(), p.mask.sum()) for p in picked):
                    continue
                picked.append(Reason(word, "discovered", (word,), mask=m))
            reasons += picked
        kept = []
        for reason in reasons:
            check()
            rows_mine = int((reason.mask & mine).sum())
            if rows_mine < min_rows:
                continue
            rows_other = int((reason.mask & other).sum())
            reason.rows, reason.share = rows_mine, rows_mine / max(n_mine, 1)
            reason.lift = ((rows_mine + 0.5) / (n_mine + 1)) / ((rows_other + 0.5) / (n_other + 1))
            kept.append(reason)
        kept.sort(key=lambda r: (-r.rows, r.reason))
        kept = kept[:MAX_REASONS]
        for reason in kept:
            rows = np.flatnonzero(reason.mask & mine)
            aspect = reason.reason if reason.source == "taxonomy" else None
            reason.words = _opinion_words(texts, rows, reason.keywords, aspect, mentions)
            reason.quotes = _quotes(texts, rows, numbers, confidence, reason.keywords)
        out[label] = kept
    return out


def top_reason_by_group(
    reasons: dict[str, list[Reason]], sentiment: np.ndarray, codes: np.ndarray, n_groups: int
) -> dict[str, list[str | None]]:
    """Per label, per group code, the reason with the most rows of that label in that group."""
    out: dict[str, list[str | None]] = {}
    for label, found in reasons.items():
        mine = sentiment == label
        best = np.zeros(n_groups, dtype=np.int64)
        names: list[str | None] = [None] * n_groups
        for reason in found:
            counts = np.bincount(codes[reason.mask & mine & (codes >= 0)], minlength=n_groups)
            for g in np.flatnonzero(counts > best):
                best[g], names[g] = counts[g], reason.reason
        out[label] = names
    return out


__all__ = ["MIN_ROWS", "Reason", "Tokens", "discover", "find_reasons", "match_aspects", "top_reason_by_group"]
