"""Which words drove a prediction, and how to show them: word-level attribution for one text.

Words come from jieba (Chinese word segmentation; Latin words and numbers stay whole), imported on
the first explanation so app start-up does not pay for its dictionary. A word's weight is the sum of
its tokens' midpoint gradient x input (a token's share where a word cuts it): the token's embedding
times the gradient of the label's log-odds taken at half that embedding (integrated gradients with
one step; taken at the full embedding, where a confident model is saturated, the gradient marked
非常好 as evidence *against* 正面 in "服务态度非常好").

A text that fits one window is attributed whole, as the classifier sees it; a longer one sentence by
sentence, toward the label predicted for the whole text, so a sentence is not judged by whatever
else shares its window. Either way a repeated sentence gets the same weights wherever it stands.
``benchmarks/bench_explain.py`` measures this against the per-character attribution it replaced,
word occlusion, other scopes and the tokenizer's pieces as words (README, Benchmarks).

Cost: the served prediction plus one forward and one backward pass, through the packed serving
model when it is fp32 (:func:`_gradient_x_input`). Weights are scaled to [-1, 1] by the strongest
word that may be a reason (punctuation, spaces, numbers and stop words never are); positive means
"pushed toward the predicted label". :func:`render` turns an explanation into the value of
``gr.HighlightedText`` (long texts summarised) and a Chinese caption naming only what it highlights.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .classifier import Prediction, SentimentClassifier, _is_blank

PATH_POINT = 0.5  # where on the path from a zero embedding the gradient is taken
# A sentence ends after a run of these (commas do not end one: "不错，但是太贵了" needs its 但是).
SENTENCE_ENDS = frozenset("。！？!?；;…\n\r")
# Function words that carry no sentiment of their own. Negations and intensifiers (不 没 很 太 非常
# 都 还 又) are *not* here: they flip or scale a verdict and a reader should see them.
STOP_WORDS = frozenset(
    "的 地 得 了 着 过 是 在 和 与 及 或 而 且 并 把 被 给 对 从 向 往 于 以 之 其 个 些 这 那 这个 那个 这些 那些 "
    "这家 那家 这里 那里 这样 那样 这种 那种 这次 那次 我 你 您 他 她 它 我们 你们 他们 她们 它们 咱们 自己 "
    "吗 呢 吧 啊 呀 哦 嗯 啦 哈 嘛 哇 呗 么 所以 因为 如果 就是 还是 然后 一个 一下 一些 一次 等 等等 "
    "a an the is are was were be been am to of and or in on at by for with as it its this that these those "
    "i me my we our you your he him his she her they them their".split()
)
HIGHLIGHT_FLOOR = 0.15  # words weaker than this (|weight|, strongest = 1) are shown unhighlighted
CAPTION_WORDS = 6  # words named in the caption, strongest first
SUMMARY_ABOVE_CHARS = 300  # longer texts are shown as their strongest passages, not whole
SUMMARY_PASSAGES = 5  # passages in a summary, each around one of the strongest words
CONTEXT_CHARS = 12  # characters of context kept on each side of a summarised word (within its sentence)
ELLIPSIS = "…"
JIEBA_CACHE_NAME = "jieba.cache"

_segmenter: Any = None
_segmenter_lock = threading.Lock()


@dataclass(frozen=True)
class Word:
    start: int  # character offsets into the explained text
    end: int
    text: str
    weight: float  # in [-1, 1]; 0.0 for words that may not be reasons
    reason: bool  # False for punctuation, spaces, symbols, numbers and stop words


@dataclass(frozen=True)
class Explanation:
    prediction: Prediction
    text: str
    words: tuple[Word, ...]  # cover ``text`` in order, end to end

    @property
    def weights(self) -> tuple[float, ...]:
        """One weight per character of ``text``: the weight of the word it belongs to."""
        out = [0.0] * len(self.text)
        for word in self.words:
            out[word.start : word.end] = [word.weight] * (word.end - word.start)
        return tuple(out)

    def spans(self, min_weight: float = HIGHLIGHT_FLOOR) -> list[tuple[str, float | None]]:
        """(word, weight) pairs covering the whole text; None where a word is not highlighted."""
        return [(w.text, w.weight if _shown(w, min_weight) else None) for w in self.words]

    def top(self, k: int = CAPTION_WORDS, min_weight: float = HIGHLIGHT_FLOOR) -> list[tuple[str, float]]:
        """The ``k`` highlighted words that pushed hardest toward the label, strongest first (repeats merged)."""
        return _strongest(self.words, k, min_weight)


def explain(classifier: SentimentClassifier, text: str, *, words: str = "jieba") -> Explanation:
    """Predict ``text`` and attribute the predicted label's log-odds to its words.

    ``words="tokens"`` uses the tokenizer's pieces (Latin pieces merged into whole words) instead of
    jieba words; ``"jieba+tokens"`` merges jieba words that a token crosses. The benchmark compares them.
    """
    if _is_blank(text):
        text = text or ""
        blank = tuple(Word(i, i + 1, ch, 0.0, False) for i, ch in enumerate(text))
        return Explanation(prediction=classifier.predict(""), text=text, words=blank)
    # The label shown is the served answer (a quantized classifier explains with its fp32 twin
    # but keeps its own label, the one the batch tab would give).
    served = classifier.predict(text)
    label = classifier.labels.index(served.label)
    scores = token_scores(classifier, text, label)
    if words == "tokens":
        bounds = token_words(classifier, text)
    elif words == "jieba+tokens":
        bounds = _merge_across(segment(text), token_words(classifier, text))
    else:
        bounds = segment(text)
    return Explanation(prediction=served, text=text, words=_words(text, bounds, scores))


def render(
    explanation: Explanation,
    *,
    min_weight: float = HIGHLIGHT_FLOOR,
    summary_above: int = SUMMARY_ABOVE_CHARS,
    passages: int = SUMMARY_PASSAGES,
    context: int = CONTEXT_CHARS,
) -> tuple[list[tuple[str, float | None]], str]:
    """The ``gr.HighlightedText`` value (word spans, None where not highlighted) and a caption.

    A text longer than ``summary_above`` characters is shown as its ``passages`` strongest words with
    up to ``context`` characters of their sentence on each side, "…" between passages. The caption
    names only words that the spans highlight.
    """
    words = explanation.words
    label = explanation.prediction.label
    if not words or label is None:
        return [], ""
    if len(explanation.text) > summary_above:
        keep = _passages(explanation, min_weight, passages, context)
    else:
        keep = [(0, len(words))]
    spans: list[tuple[str, float | None]] = []
    shown: list[Word] = []
    for first, stop in keep:
        if first > 0:  # ranges never touch, so each after the first starts past a gap
            _add(spans, ELLIPSIS, None)
        for word in words[first:stop]:
            on = _shown(word, min_weight)
            _add(spans, word.text, word.weight if on else None)
            if on:
                shown.append(word)
    if keep and keep[-1][1] < len(words):
        _add(spans, ELLIPSIS, None)
    toward = [w for w, _ in _strongest(shown, CAPTION_WORDS, min_weight)]
    against = [w for w, _ in _strongest(shown, CAPTION_WORDS, min_weight, sign=-1)]
    parts = []
    if toward:
        parts.append(f"推动判断为 **{label}** 的词：{'、'.join(toward)}")
    if against:
        parts.append(f"与之相反的词：{'、'.join(against)}")
    caption = "；".join(parts) if parts else "没有哪个词明显左右这次判断。"
    if len(keep) != 1 or keep[0] != (0, len(words)):
        caption += f"\n\n（长文本 {len(explanation.text):,} 字：只显示影响最大的几处，“{ELLIPSIS}”为省略）"
    return spans, caption


# ---- words -------------------------------------------------------------------------------------


def segment(text: str) -> list[tuple[int, int]]:
    """(start, end) of each jieba word of ``text``, in order, covering it end to end."""
    return [(start, end) for _, start, end in _jieba().tokenize(text)]


def token_words(classifier: SentimentClassifier, text: str) -> list[tuple[int, int]]:
    """(start, end) of the tokenizer's pieces, Latin word pieces merged whole; characters no token
    covers (spaces) are words of their own."""
    encoded = classifier.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets = encoded["offset_mapping"]
    bounds: list[tuple[int, int]] = []
    for start, end in offsets:
        if end <= start:
            continue
        if bounds and bounds[-1][1] == start and _latin(text[start - 1]) and _latin(text[start]):
            bounds[-1] = (bounds[-1][0], end)
        elif not bounds or start >= bounds[-1][1]:
            bounds.append((start, end))
    out, pos = [], 0
    for start, end in bounds:
        out.extend((i, i + 1) for i in range(pos, start))
        out.append((start, end))
        pos = end
    out.extend((i, i + 1) for i in range(pos, len(text)))
    return out


def _merge_across(words: list[tuple[int, int]], pieces: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``words`` with neighbours joined wherever one of ``pieces`` crosses the boundary between them."""
    inside = set()  # boundaries that fall strictly inside a piece
    for start, end in pieces:
        inside.update(range(start + 1, end))
    out: list[tuple[int, int]] = []
    for start, end in words:
        if out and start in inside:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def is_reason(word: str) -> bool:
    """Whether ``word`` may be listed as a reason: not punctuation, space, a number or a stop word."""
    stripped = word.strip()
    if not stripped or stripped.lower() in STOP_WORDS or stripped.isdigit():
        return False
    # Letters, CJK and other-symbols (emoji) may be reasons; punctuation, math/currency signs may not.
    return any(unicodedata.category(ch)[0] in "LN" or unicodedata.category(ch) == "So" for ch in stripped)


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _jieba() -> Any:
    """jieba's tokenizer, loaded once, with its dictionary cache in a folder this process can write."""
    global _segmenter
    with _segmenter_lock:
        if _segmenter is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict..." lines in the app's log
            folder = cache_folder()
            tokenizer = jieba.Tokenizer()
            if folder is not None:
                tokenizer.tmp_dir = str(folder)
                tokenizer.cache_file = JIEBA_CACHE_NAME
                tokenizer.initialize()
            else:  # nowhere to write: build the dictionary in memory each start, without a traceback
                quiet = logging.getLogger("jieba")
                level = quiet.level
                quiet.setLevel(logging.CRITICAL)
                try:
                    tokenizer.tmp_dir = os.devnull
                    tokenizer.initialize()
                finally:
                    quiet.setLevel(level)
            _segmenter = tokenizer
    return _segmenter


def cache_folder(candidates: Sequence[Path] | None = None) -> Path | None:
    """The first writable folder for jieba's dictionary cache: the user cache (a Space's home is
    writable), then the temp folder; None when neither is."""
    if candidates is None:
        candidates = [Path(tempfile.gettempdir())]
        try:
            home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
            candidates.insert(0, home / "sentiment_app")
        except (RuntimeError, KeyError):  # no home folder for this user: the temp folder alone
            pass
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
    return None


def _words(text: str, bounds: list[tuple[int, int]], char_scores: np.ndarray) -> tuple[Word, ...]:
    raw = [(s, e, text[s:e], float(char_scores[s:e].sum()), is_reason(text[s:e])) for s, e in bounds]
    peak = max((abs(score) for _, _, _, score, reason in raw if reason), default=0.0)
    scale = 1.0 / peak if peak > 0 else 0.0
    return tuple(
        Word(s, e, w, round(max(-1.0, min(1.0, score * scale)), 4) if reason else 0.0, reason)
        for s, e, w, score, reason in raw
    )


# ---- attribution -------------------------------------------------------------------------------


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence: a run of text up to and including a run of sentence ends."""
    out, start, i, n = [], 0, 0, len(text)
    while i < n:
        if text[i] in SENTENCE_ENDS:
            while i < n and text[i] in SENTENCE_ENDS:
                i += 1
            out.append((start, i))
            start = i
        else:
            i += 1
    if start < n:
        out.append((start, n))
    return out


def token_scores(
    classifier: SentimentClassifier, text: str, label: int, *, scope: str = "auto", point: float = PATH_POINT
) -> np.ndarray:
    """Midpoint gradient x input of each token, shared out over the characters it covers (one per char).

    ``scope="text"``: the text as the classifier sees it (one window: the cheapest pass, with every
    sentence in its context); sentences that occur more than once then get their mean, so they are
    shaded alike. ``"sentence"``: each sentence on its own (identical ones computed once), so a
    sentence is not judged by whatever else shares its window. ``"auto"``: text when it fits one
    window, else sentences.
    """
    if scope == "auto":
        scope = "text" if len(classifier.encode([text])["input_ids"]) == 1 else "sentence"
    pieces = sentences(text) if scope == "sentence" else [(0, len(text))]
    unique = list(dict.fromkeys(text[s:e] for s, e in pieces if not _is_blank(text[s:e])))
    per_piece = dict(zip(unique, _piece_scores(classifier, unique, label, point)))
    out = np.zeros(len(text), dtype=np.float64)
    for s, e in pieces:
        scores = per_piece.get(text[s:e])
        if scores is not None:
            out[s:e] = scores
    if scope == "text":
        _share_between_copies(text, out)
    return out


def _share_between_copies(text: str, scores: np.ndarray) -> None:
    """Give every copy of a repeated sentence the copies' mean scores (in place)."""
    copies: dict[str, list[int]] = {}
    for s, e in sentences(text):
        copies.setdefault(text[s:e], []).append(s)
    for sentence, starts in copies.items():
        if len(starts) > 1:
            mean = np.mean([scores[s : s + len(sentence)] for s in starts], axis=0)
            for s in starts:
                scores[s : s + len(sentence)] = mean


def _piece_scores(classifier: SentimentClassifier, pieces: list[str], label: int, point: float) -> list[np.ndarray]:
    """Per-character scores of each piece: windows in length-sorted batches, one backward per batch.

    The objective is each window's log-odds of ``label``, weighted by its share of its piece's tokens.
    """
    if not pieces:
        return []
    encoded = classifier.encode(pieces, offsets=True)
    windows: list[list[int]] = encoded["input_ids"]
    offsets: list[list[tuple[int, int]]] = encoded["offset_mapping"]
    owner = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64)
    content = np.maximum(np.asarray([len(w) - classifier._special_tokens for w in windows], dtype=np.float64), 1.0)
    share = content / np.bincount(owner, weights=content, minlength=len(pieces))[owner]
    char_sum = [np.zeros(len(p), dtype=np.float64) for p in pieces]
    char_hits = [np.zeros(len(p), dtype=np.float64) for p in pieces]
    lengths = np.asarray([len(w) for w in windows], dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    for start, stop in classifier._batches(lengths[order]):
        chunk = order[start:stop]
        batch = [windows[i] for i in chunk]
        with torch.enable_grad():
            rows = _gradient_x_input(classifier, batch, label, torch.tensor(share[chunk], dtype=torch.float32), point)
        for w, scores in zip(chunk, rows):
            # A token's score is shared by its characters, so a word that cuts a token
            # ("太难|吃了" against the words 太|难吃|了) gets its part.
            bounds = np.asarray(offsets[w], dtype=np.int64).reshape(-1, 2)
            sizes = bounds[:, 1] - bounds[:, 0]
            real = sizes > 0
            sizes, firsts = sizes[real], bounds[real, 0]
            chars = np.repeat(firsts - np.cumsum(sizes) + sizes, sizes) + np.arange(sizes.sum())
            np.add.at(char_sum[owner[w]], chars, np.repeat(scores[real] / sizes, sizes))
            np.add.at(char_hits[owner[w]], chars, 1.0)
    # Overlapping windows see some tokens twice: average them.
    return [np.divide(a, h, out=np.zeros_like(a), where=h > 0) for a, h in zip(char_sum, char_hits)]


def _gradient_x_input(
    classifier: SentimentClassifier, batch: list[list[int]], label: int, weight: torch.Tensor, point: float
) -> list[np.ndarray]:
    """Midpoint gradient x input of each token of each window in ``batch`` (one array per window).

    An fp32 packed serving model (:mod:`sentiment_app.model.packed_bert`) takes the gradient itself: the
    same arithmetic as the transformers model, on real tokens only, and its last layer for [CLS]
    only, which makes the backward pass about a third cheaper. Otherwise the transformers model.
    """
    packed = classifier.model if differentiable_packed(classifier.model) else None
    model = packed or classifier.explain_model
    embeddings = model.get_input_embeddings()
    if packed is not None:
        ids = torch.from_numpy(np.fromiter((t for w in batch for t in w), dtype=np.int64))
        full = embeddings(ids).detach()
        inputs = (point * full).requires_grad_(True)
        logits = packed.forward_packed(batch, word_embeddings=inputs).float()
    else:
        input_ids, mask = classifier._pad(batch)
        full = embeddings(input_ids).detach()
        inputs = (point * full).requires_grad_(True)
        logits = model(inputs_embeds=inputs, attention_mask=mask).logits.float()
    (_log_odds(logits, label) * weight).sum().backward()
    scores = (inputs.grad * full).sum(-1).detach().numpy()
    if packed is not None:
        cuts = np.cumsum([len(w) for w in batch])[:-1]
        return list(np.split(scores, cuts))
    return [scores[row, : len(w)] for row, w in enumerate(batch)]


def _log_odds(logits: torch.Tensor, label: int) -> torch.Tensor:
    """log p / (1 - p) of ``label`` per row. Unlike log p its gradient does not vanish where the model
    is sure: a sentence that agrees with the verdict keeps its weight beside one that disagrees (with
    log p, a long complaint's clearly negative sentences weighed next to nothing against its praise).
    For one window it only rescales log p's gradient, which the normalisation to [-1, 1] removes."""
    others = torch.cat([logits[:, :label], logits[:, label + 1 :]], dim=1)
    return logits[:, label] - torch.logsumexp(others, dim=1)


def differentiable_packed(model: torch.nn.Module) -> bool:
    """Whether ``model`` is a packed BERT that gradients can pass through (not int8-quantized)."""
    return hasattr(model, "forward_packed") and not any("quantized" in type(m).__module__ for m in model.modules())


# ---- rendering ---------------------------------------------------------------------------------


def _shown(word: Word, min_weight: float) -> bool:
    return word.reason and word.weight != 0.0 and abs(word.weight) >= min_weight


def _strongest(words: Sequence[Word], k: int, min_weight: float, sign: int = 1) -> list[tuple[str, float]]:
    best: dict[str, float] = {}
    for word in words:
        w = sign * word.weight
        if _shown(word, min_weight) and w > 0 and w > best.get(word.text.strip(), 0.0):
            best[word.text.strip()] = w
    return [(w, sign * v) for w, v in sorted(best.items(), key=lambda kv: -kv[1])[:k]]


def _add(spans: list[tuple[str, float | None]], text: str, weight: float | None) -> None:
    """Append a span, merging runs of unhighlighted text into one (fewer DOM nodes, same text)."""
    if weight is None and spans and spans[-1][1] is None and spans[-1][0] != ELLIPSIS and text != ELLIPSIS:
        spans[-1] = (spans[-1][0] + text, None)
    else:
        spans.append((text, weight))


def _passages(explanation: Explanation, min_weight: float, passages: int, context: int) -> list[tuple[int, int]]:
    """Word index ranges [first, stop) around the strongest shown words (all but one toward the
    verdict, when there are enough), merged where they touch."""
    words = explanation.words
    shown = [i for i, w in enumerate(words) if _shown(w, min_weight)]
    toward = sorted((i for i in shown if words[i].weight > 0), key=lambda i: (-words[i].weight, i))
    against = sorted((i for i in shown if words[i].weight < 0), key=lambda i: (words[i].weight, i))
    # The passages that carry the verdict first, then the strongest one against it.
    ranked = toward[: passages - 1] + against[:1] + toward[passages - 1 :] + against[1:]
    if not ranked:
        return [(0, 0)]
    sentence_of = np.zeros(len(explanation.text) + 1, dtype=np.int64)
    for n, (s, e) in enumerate(sentences(explanation.text)):
        sentence_of[s:e] = n
    ranges: list[tuple[int, int]] = []
    seen: set[str] = set()
    for i in ranked:
        # One passage per distinct word: a repeated sentence shows once, not five times.
        if words[i].text in seen:
            continue
        seen.add(words[i].text)
        home, start, end = sentence_of[words[i].start], words[i].start, words[i].end
        first, stop = i, i + 1
        while first > 0 and sentence_of[words[first - 1].start] == home and start - words[first - 1].start <= context:
            first -= 1
        while stop < len(words) and sentence_of[words[stop].start] == home and words[stop].end - end <= context:
            stop += 1
        ranges.append((first, stop))
        if len(ranges) == passages:
            break
    ranges.sort()
    merged = [ranges[0]]
    for first, stop in ranges[1:]:
        if first <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(stop, merged[-1][1]))
        else:
            merged.append((first, stop))
    return merged
