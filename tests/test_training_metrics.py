"""training/metrics.py: classification reports (scikit-learn) and the Trainer's compute_metrics."""

from __future__ import annotations

import types

import pytest

from training.metrics import classification_report, make_compute_metrics

LABELS = ["负面", "正面"]


def test_classification_report_by_hand():
    truth = [0, 0, 0, 1, 1, 1, 1, 1]
    preds = [0, 0, 1, 1, 1, 1, 0, 0]
    report = classification_report(truth, preds, LABELS)
    assert report["accuracy"] == pytest.approx(5 / 8)
    # 负面: precision 2/4, recall 2/3; 正面: precision 3/4, recall 3/5.
    f1_neg = 2 * (2 / 4) * (2 / 3) / (2 / 4 + 2 / 3)
    f1_pos = 2 * (3 / 4) * (3 / 5) / (3 / 4 + 3 / 5)
    assert report["f1_macro"] == pytest.approx((f1_neg + f1_pos) / 2)
    assert report["precision_macro"] == pytest.approx((2 / 4 + 3 / 4) / 2)
    assert report["recall_macro"] == pytest.approx((2 / 3 + 3 / 5) / 2)
    assert report["confusion_matrix"] == [[2, 1], [2, 3]]
    assert report["per_class"]["正面"]["support"] == 5 and report["samples"] == 8


def test_absent_class_counts_as_zero_not_an_error():
    report = classification_report([0, 0, 1], [0, 0, 0], ["a", "b", "c"])
    assert report["confusion_matrix"] == [[2, 0, 0], [1, 0, 0], [0, 0, 0]]
    assert report["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_compute_metrics_gives_the_trainer_scalars():
    import numpy as np

    prediction = types.SimpleNamespace(
        predictions=np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]]), label_ids=np.array([0, 1, 1])
    )
    metrics = make_compute_metrics(LABELS)(prediction)
    assert set(metrics) == {"accuracy", "f1_macro", "precision_macro", "recall_macro"}
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert all(isinstance(v, float) for v in metrics.values())
