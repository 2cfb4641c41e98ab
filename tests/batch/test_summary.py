"""Summary: counts, shares, least confident rows, gold label mapping, accuracy and F1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sentiment_app.batch import TableError, map_gold_labels, summarize
from tests.batch.helpers import (
    LABELS,
)

# ---- summary ---------------------------------------------------------------------------------------------


def test_map_gold_labels():
    mapping = map_gold_labels(
        ["0", "1", "1.0", "正面", "negative", "好评", "差评", "POS", "2", "中性", "", "负面"], LABELS
    )
    assert mapping == {
        "0": "负面",
        "1": "正面",
        "1.0": "正面",
        "正面": "正面",
        "negative": "负面",
        "好评": "正面",
        "差评": "负面",
        "POS": "正面",
        "负面": "负面",
    }
    assert map_gold_labels(["positive", "neg"], ["negative", "positive"]) == {"positive": "positive", "neg": "negative"}


def test_summary_counts_metrics_and_unmapped_labels():
    predicted = ["正面", "负面", "正面", "", "负面", "正面", "正面"]
    confidence = [0.9, 0.55, 0.7, np.nan, 0.99, 0.6, 0.8]
    gold = ["1", "0", "负面", "1", "positive", "unknown", ""]
    frame = pd.DataFrame(
        {
            "text": list("abcdefg"),
            "gold": gold,
            "sentiment": predicted,
            "confidence": confidence,
            "prob_负面": [1 - c for c in confidence],
            "prob_正面": confidence,
        }
    )
    summary = summarize(frame, LABELS, label_column="gold", least_confident=3, text_column="text")
    assert summary.total_rows == 7 and summary.classified_rows == 6 and summary.empty_rows == 1
    assert summary.counts == {"负面": 2, "正面": 4}
    assert summary.shares["正面"] == pytest.approx(4 / 6)
    assert summary.mean_confidence == pytest.approx(np.nanmean(confidence))
    assert summary.least_confident["text"].tolist() == ["b", "f", "c"]
    # evaluated: a (正面/正面), b (负面/负面), c (负面/正面), e (正面/负面); d has no prediction
    pairs = [("正面", "正面"), ("负面", "负面"), ("负面", "正面"), ("正面", "负面")]
    assert summary.evaluated_rows == len(pairs)
    assert summary.accuracy == pytest.approx(sum(g == p for g, p in pairs) / len(pairs))
    assert summary.unmapped_rows == 1 and summary.unmapped_values == ("unknown",)
    assert summary.unlabeled_rows == 1
    assert summary.confusion.loc["负面", "正面"] == 1 and summary.confusion.loc["正面", "正面"] == 1
    assert summary.confusion.to_numpy().sum() == len(pairs)
    assert "unknown" in summary.note and any("accuracy" in line for line in summary.lines())
    assert summary.counts_frame()["count"].sum() == 6


def test_summary_without_usable_gold_labels_says_so():
    frame = pd.DataFrame(
        {
            "text": ["a"],
            "gold": ["x"],
            "sentiment": ["正面"],
            "confidence": [0.9],
            "prob_负面": [0.1],
            "prob_正面": [0.9],
        }
    )
    summary = summarize(frame, LABELS, label_column="gold")
    assert summary.accuracy is None and "no row" in summary.note
    with pytest.raises(TableError, match="classify it first"):
        summarize(frame[["text"]], LABELS)


def test_a_one_class_file_says_why_its_macro_f1_is_low():
    """Every gold label 正面, one row predicted 负面: macro F1 averages in 负面's F1 of 0."""
    frame = pd.DataFrame(
        {
            "text": ["a", "b", "c"],
            "gold": ["1", "1", "正面"],
            "sentiment": ["正面", "负面", "正面"],
            "confidence": [0.9, 0.6, 0.95],
            "prob_负面": [0.1, 0.6, 0.05],
            "prob_正面": [0.9, 0.4, 0.95],
        }
    )
    summary = summarize(frame, LABELS, label_column="gold")
    assert summary.accuracy == pytest.approx(2 / 3) and summary.macro_f1 == pytest.approx(0.4)
    assert summary.single_gold_label == "正面"
    note = next(n for n in summary.notes if "macro F1" in n)
    assert note.startswith("标签列只有“正面”一类") and "read the accuracy" in note
    assert summary.notes[0].startswith("标签列的值按 1→正面 读取") and "gold labels read as 1→正面" in summary.note
    both = summarize(frame.assign(gold=["1", "0", "1"]), LABELS, label_column="gold")
    assert both.single_gold_label is None and not any("macro F1" in n for n in both.notes)
    right = summarize(frame.assign(sentiment=["正面"] * 3), LABELS, label_column="gold")
    assert right.macro_f1 == 1.0 and right.single_gold_label is None  # nothing low to explain


def test_polarity_reads_label_names_and_gold_values():
    from sentiment_app.batch.summary import polarity

    assert [polarity(v) for v in ("负面", "Positive", "好评", "中性", "其他")] == ["neg", "pos", "pos", "neu", None]


@pytest.mark.parametrize("seed", range(6))
def test_accuracy_f1_and_confusion_agree_with_scikit_learn(seed):
    """The summary counts its metrics itself (importing scikit-learn costs a CLI run ~2 s); they must be
    sklearn's, also when some labels never occur as gold or as predicted."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    from sentiment_app.batch.summary import confusion_counts, macro_f1

    rng = np.random.default_rng(seed)
    labels = ["负面", "中性", "正面"]
    used = labels[: 1 + seed % 3]  # 1, 2 or 3 labels in play
    y_true = [str(x) for x in rng.choice(used, size=40)]
    y_pred = [str(x) for x in rng.choice(labels if seed % 2 else used, size=40)]
    confusion = confusion_counts(y_true, y_pred, labels)
    assert confusion.tolist() == confusion_matrix(y_true, y_pred, labels=labels).tolist()
    assert np.trace(confusion) / len(y_true) == pytest.approx(accuracy_score(y_true, y_pred))
    assert macro_f1(confusion, labels, present=set(y_true) | set(y_pred)) == pytest.approx(
        f1_score(y_true, y_pred, average="macro", zero_division=0)
    )
