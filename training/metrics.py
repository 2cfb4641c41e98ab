"""Classification metrics with scikit-learn (``evaluate`` would download metric code from the Hub).

Two views of one computation: :func:`classification_report` (everything, confusion matrix and
per-class scores included) for ``metrics.json`` and the model card, and
:func:`make_compute_metrics` (scalars only) for the Trainer's per-epoch evaluation and the choice
of the best checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

# Scalar metrics the Trainer logs each evaluation (prefixed eval_); one of them picks the best checkpoint.
SCALAR_METRICS = ("accuracy", "f1_macro", "precision_macro", "recall_macro")


def classification_report(label_ids: Sequence[int], pred_ids: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro F1/precision/recall, per-class scores and the confusion matrix (rows: true)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    y_true = np.asarray(label_ids)
    y_pred = np.asarray(pred_ids)
    classes = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, average=None, zero_division=0
    )
    macro = precision_recall_fscore_support(y_true, y_pred, labels=classes, average="macro", zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": float(macro[2]),
        "precision_macro": float(macro[0]),
        "recall_macro": float(macro[1]),
        "samples": int(y_true.size),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(labels)
        },
        "labels": list(labels),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
    }


def make_compute_metrics(labels: Sequence[str]) -> Callable[[Any], dict[str, float]]:
    """The Trainer's ``compute_metrics``: the scalar part of :func:`classification_report`."""

    def compute_metrics(eval_prediction: Any) -> dict[str, float]:
        logits = eval_prediction.predictions
        if isinstance(logits, tuple):
            logits = logits[0]
        report = classification_report(eval_prediction.label_ids, np.argmax(logits, axis=-1), labels)
        return {name: report[name] for name in SCALAR_METRICS}

    return compute_metrics
