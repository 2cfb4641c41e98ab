"""What a classified table says: counts and shares per label, confidence, and accuracy against gold labels.

Gold values are matched to the model's labels loosely (``0/1`` as class indices, ``positive``,
``负面``, ``好评``...; see :func:`map_gold_labels`), since exports label their rows every way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from .columns import NUMBER, normalize
from .errors import TableError


@dataclass(frozen=True)
class Summary:
    """What a classified table says, for the UI and the end of a CLI run."""

    total_rows: int
    classified_rows: int
    empty_rows: int
    counts: dict[str, int]
    shares: dict[str, float]  # of the classified (non-empty) rows
    mean_confidence: float | None
    least_confident: pd.DataFrame  # rows of the result frame, index = 0-based row position
    label_column: str | None = None
    evaluated_rows: int = 0
    accuracy: float | None = None
    macro_f1: float | None = None
    confusion: pd.DataFrame | None = None  # rows: gold label, columns: predicted label
    label_mapping: dict[str, str] = field(default_factory=dict)  # gold value -> model label
    unmapped_rows: int = 0
    unmapped_values: tuple[str, ...] = ()
    unlabeled_rows: int = 0
    note: str | None = None  # the notes below joined by "; " (one line for the CLI)
    notes: tuple[str, ...] = ()  # each "中文 / English": how gold labels were read, what was left out, and why
    # Rows whose confidence is below the model's calibrated threshold (shown as 把握不大); None = no threshold.
    uncertain_rows: int | None = None
    # The one gold label every evaluated row has, when there is only one and some rows were predicted
    # otherwise: macro F1 is then low by construction (the other labels score 0).
    single_gold_label: str | None = None

    def counts_frame(self) -> pd.DataFrame:
        """label, count, share: a small table for display."""
        return pd.DataFrame(
            {
                "label": list(self.counts),
                "count": list(self.counts.values()),
                "share": [self.shares[k] for k in self.counts],
            }
        )

    def lines(self) -> list[str]:
        """A few human-readable lines (the CLI prints these)."""
        parts = [f"{label} {count:,} ({self.shares[label]:.1%})" for label, count in self.counts.items()]
        out = [f"{rows(self.total_rows)}: " + ", ".join(parts) + f", empty {self.empty_rows:,}"]
        if self.mean_confidence is not None:
            out.append(f"mean confidence {self.mean_confidence:.3f}")
        if self.uncertain_rows is not None:
            out.append(f"uncertain (below the model's calibrated threshold) {rows(self.uncertain_rows)}")
        if self.accuracy is not None:
            out.append(
                f"accuracy {self.accuracy:.4f}, macro F1 {self.macro_f1:.4f} on {self.evaluated_rows:,} "
                f"labelled {'row' if self.evaluated_rows == 1 else 'rows'} (column {self.label_column!r})"
            )
        if self.note:
            out.append(self.note)
        return out


def rows(count: int) -> str:
    """``1 row``, ``2 rows``, ``1,000 rows``: an English count that agrees with its number."""
    return f"{count:,} {'row' if count == 1 else 'rows'}"


_POLARITY_WORDS = {
    "neg": {"negative", "neg", "负面", "负", "负向", "消极", "差评", "差", "bad", "-1", "不满意", "坏"},
    "pos": {"positive", "pos", "正面", "正", "正向", "积极", "好评", "好", "good", "满意"},
    "neu": {"neutral", "neu", "中性", "中立", "中评", "一般"},
}


def polarity(value: str) -> str | None:
    """``"neg"``, ``"pos"`` or ``"neu"`` for a label name or gold value that says one (负面, positive, 好评...)."""
    low = value.strip().lower()
    for side, words in _POLARITY_WORDS.items():
        if low in words:
            return side
    return None


def map_gold_labels(values: Iterable[str], labels: Sequence[str]) -> dict[str, str]:
    """Map each distinct gold value to a model label name; values that fit none are left out.

    In order: the label name itself; the name ignoring case and spaces; an integer (``"1"``,
    ``"1.0"``) as the class index (ChnSentiCorp: 0 = 负面, 1 = 正面); a polarity word
    (positive/pos/正面/正向/积极/好评/好/good, negative/neg/负面/负向/消极/差评/差/bad/-1,
    neutral/中性/中评/一般) to the one model label with the same polarity.
    """
    by_name = {normalize(label): label for label in labels}
    by_polarity: dict[str, list[str]] = {}
    for label in labels:
        side = polarity(label)
        if side:
            by_polarity.setdefault(side, []).append(label)
    mapping: dict[str, str] = {}
    for value in dict.fromkeys(values):
        key = value.strip()
        if not key:
            continue
        if key in labels:
            mapping[value] = key
            continue
        if normalize(key) in by_name:
            mapping[value] = by_name[normalize(key)]
            continue
        if NUMBER.fullmatch(key):
            number = float(key)
            if number.is_integer() and 0 <= number < len(labels):
                mapping[value] = labels[int(number)]
                continue
        side = polarity(key)
        if side and len(by_polarity.get(side, [])) == 1:
            mapping[value] = by_polarity[side][0]
    return mapping


def find_result_columns(frame: pd.DataFrame, labels: Sequence[str]) -> list[str]:
    """The result columns :func:`classify_table` added to ``frame`` (the last set when there are several)."""
    found: list[str] | None = None
    columns = set(map(str, frame.columns))
    suffix_number = 1
    while True:
        suffix = "" if suffix_number == 1 else f"_{suffix_number}"
        names = [f"sentiment{suffix}", f"confidence{suffix}"] + [f"prob_{label}{suffix}" for label in labels]
        if names[0] in columns and names[1] in columns:
            found = names
        elif suffix_number > 1:
            break
        suffix_number += 1
    if found is None:
        raise TableError("the table has no sentiment and confidence columns: classify it first")
    return found


def summarize(
    result_frame: pd.DataFrame,
    labels: Sequence[str],
    *,
    label_column: str | None = None,
    least_confident: int = 5,
    text_column: str | None = None,
    uncertain_below: float | None = None,
) -> Summary:
    """Counts per label, mean confidence, least confident rows; with gold labels, accuracy and F1.

    ``least_confident`` rows keep all columns unless ``text_column`` is given (then: text,
    sentiment, confidence). Gold values are matched with :func:`map_gold_labels`; rows whose
    gold value is blank or unknown, or whose text was blank, are left out of the metrics.
    ``uncertain_below`` (the model's calibrated threshold) counts the classified rows under it.
    """
    labels = [str(label) for label in labels]
    sentiment_col, confidence_col = find_result_columns(result_frame, labels)[:2]
    predicted = result_frame[sentiment_col].fillna("").astype(str)
    confidence = pd.to_numeric(result_frame[confidence_col], errors="coerce")
    classified = predicted != ""
    n_classified = int(classified.sum())
    counts = {label: int((predicted == label).sum()) for label in labels}
    shares = {label: (counts[label] / n_classified if n_classified else 0.0) for label in labels}
    mean_conf = float(confidence[classified].mean()) if n_classified else None
    order = confidence[classified].sort_values(kind="stable").index[: max(least_confident, 0)]
    least = result_frame.loc[order]
    if text_column is not None:
        least = least[[text_column, sentiment_col, confidence_col]]
    summary = Summary(
        total_rows=len(result_frame),
        classified_rows=n_classified,
        empty_rows=len(result_frame) - n_classified,
        counts=counts,
        shares=shares,
        mean_confidence=mean_conf,
        least_confident=least,
        uncertain_rows=None if uncertain_below is None else int((classified & (confidence < uncertain_below)).sum()),
    )
    if label_column is None:
        return summary
    if label_column not in result_frame.columns:
        raise TableError(
            f"there is no label column {label_column!r}; the columns are: {', '.join(map(str, result_frame.columns))}"
        )
    return _with_metrics(
        summary, result_frame[label_column].fillna("").astype(str), predicted, classified, labels, label_column
    )


def confusion_counts(y_true: list[str], y_pred: list[str], labels: list[str]) -> np.ndarray:
    """Counts with rows the gold label and columns the predicted one, in ``labels``' order (sklearn's
    ``confusion_matrix``, without importing scikit-learn: that import alone costs ~2 s of a CLI run)."""
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(counts, ([index[v] for v in y_true], [index[v] for v in y_pred]), 1)
    return counts


def macro_f1(confusion: np.ndarray, labels: list[str], *, present: set[str]) -> float:
    """sklearn's ``f1_score(average="macro", zero_division=0)``: the mean F1 over the labels that occur as
    gold or predicted (``present``), each 2·TP / (2·TP + FP + FN)."""
    scores = []
    for i, label in enumerate(labels):
        if label in present:
            tp = confusion[i, i]
            denominator = confusion[i, :].sum() + confusion[:, i].sum()
            scores.append(2 * tp / denominator if denominator else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def _with_metrics(
    summary: Summary,
    gold_raw: pd.Series,
    predicted: pd.Series,
    classified: pd.Series,
    labels: list[str],
    label_column: str,
) -> Summary:
    mapping = map_gold_labels(gold_raw.tolist(), labels)
    gold = gold_raw.map(lambda v: mapping.get(v, ""))
    has_gold = gold_raw.str.strip() != ""
    unmapped = has_gold & (gold == "")
    unmapped_values = tuple(dict.fromkeys(gold_raw[unmapped].str.strip()))[:10]
    usable = classified & (gold != "")
    notes = []
    renamed = {value.strip(): label for value, label in mapping.items() if value.strip() != label}
    if renamed:
        pairs = ", ".join(f"{k}→{v}" for k, v in sorted(renamed.items()))
        notes.append(f"标签列的值按 {pairs} 读取 / gold labels read as {pairs}")
    if unmapped.any():
        values = ", ".join(unmapped_values)
        notes.append(
            f"{int(unmapped.sum()):,} 行的标签（{values}）对不上模型的标签，未计入 / {int(unmapped.sum()):,} rows "
            f"with gold labels that match no model label ({values}) are left out"
        )
    unlabeled = int((~has_gold).sum())
    if unlabeled:
        notes.append(f"{unlabeled:,} 行没有标签，未计入 / {unlabeled:,} rows without a gold label are left out")
    metrics: dict[str, Any] = {}
    if usable.any():
        y_true, y_pred = gold[usable].tolist(), predicted[usable].tolist()
        present = sorted(set(y_true))
        if len(present) == 1 and set(y_pred) - set(present):
            # sklearn's macro F1 averages over the labels in y_true or y_pred: a label predicted for some
            # rows that no row truly has scores 0 and halves the average, however good the rest is.
            only = present[0]
            metrics["single_gold_label"] = only
            notes.append(
                f"标签列只有“{only}”一类：判成其他类别的行让那些类别的 F1 只能是 0，macro F1 把它们平均进去，所以偏低，"
                f"请以准确率为准 / every gold label is {only}: the labels predicted for some rows but true for "
                "none score F1 0 and macro F1 averages them in, so it is low however good the rest is; read the "
                "accuracy"
            )
        confusion = confusion_counts(y_true, y_pred, labels)
        metrics |= {
            "accuracy": float(np.trace(confusion) / len(y_true)),
            "macro_f1": macro_f1(confusion, labels, present=set(y_true) | set(y_pred)),
            "confusion": pd.DataFrame(confusion, index=labels, columns=labels),
        }
    else:
        names = ", ".join(labels)
        notes.append(
            f"标签列 {label_column!r} 没有一行的标签对得上模型的标签（{names}），无法计算准确率 / no row of "
            f"column {label_column!r} has a gold label that matches the model's labels ({names}), so there is no "
            "accuracy"
        )
    return replace(
        summary,
        label_column=label_column,
        evaluated_rows=int(usable.sum()),
        label_mapping=mapping,
        unmapped_rows=int(unmapped.sum()),
        unmapped_values=unmapped_values,
        unlabeled_rows=unlabeled,
        note="; ".join(notes) or None,
        notes=tuple(notes),
        **metrics,
    )


__all__ = ["Summary", "find_result_columns", "map_gold_labels", "polarity", "rows", "summarize"]
