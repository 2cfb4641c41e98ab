"""Confidence that means something: temperature scaling, the "uncertain" band, calibration error.

After training, :func:`fit_calibration` fits one temperature on the validation logits (the
softmax of ``logits / T`` then says 80 % where the model is right about 80 % of the time) and
chooses the top-probability threshold below which a prediction is shown as uncertain. The
result goes into the artifact's ``calibration.json`` (:mod:`sentiment_app.model.artifact`), and the
app applies it for every caller. Pure numpy; the benchmark uses the same ECE.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# Expected calibration error over 10 equal-width confidence bins: the usual reporting choice.
ECE_BINS = 10
# Temperatures searched (log-spaced grid, then refined around the best): wide enough for a
# from-scratch model trained with label smoothing (T < 1) and an overconfident one (T > 1).
TEMPERATURE_RANGE = (0.05, 20.0)
# A prediction is "uncertain" when its calibrated top probability is below the largest threshold at
# which the validation predictions under it were right at most this often (one in four wrong, or worse).
UNCERTAIN_MAX_ACCURACY = 0.75
# Thresholds tried, and the fewest validation rows the band must hold for its accuracy to mean anything.
UNCERTAIN_GRID = tuple(round(0.5 + 0.01 * i, 2) for i in range(1, 46))  # 0.51 .. 0.95
UNCERTAIN_MIN_ROWS = 20


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature``."""
    scaled = np.asarray(logits, dtype=np.float64) / float(temperature)
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: Sequence[int], temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true labels."""
    probs = softmax(logits, temperature)
    picked = probs[np.arange(len(probs)), np.asarray(labels, dtype=np.int64)]
    return float(-np.log(np.clip(picked, 1e-12, None)).mean())


def expected_calibration_error(probabilities: np.ndarray, labels: Sequence[int], bins: int = ECE_BINS) -> float:
    """ECE: the row-weighted gap between accuracy and mean top probability over equal-width bins."""
    probs = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if len(y) == 0:
        return 0.0
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    # bin i holds confidences in (i/bins, (i+1)/bins]; a confidence of exactly 0 goes to bin 0
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.sum() / len(y) * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)


def fit_temperature(logits: np.ndarray, labels: Sequence[int]) -> float:
    """The temperature that minimises the validation NLL (grid on log T, then golden-section search)."""
    low, high = np.log(TEMPERATURE_RANGE[0]), np.log(TEMPERATURE_RANGE[1])
    grid = np.linspace(low, high, 61)
    losses = [nll(logits, labels, np.exp(t)) for t in grid]
    best = int(np.argmin(losses))
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        if nll(logits, labels, np.exp(c)) < nll(logits, labels, np.exp(d)):
            b = d
        else:
            a = c
    return float(np.exp((a + b) / 2))


def uncertain_threshold(probabilities: np.ndarray, labels: Sequence[int]) -> float | None:
    """The largest grid threshold whose band (top probability below it) holds at least
    ``UNCERTAIN_MIN_ROWS`` validation rows that were right at most ``UNCERTAIN_MAX_ACCURACY`` of the
    time; None when no threshold qualifies (then nothing is ever marked uncertain)."""
    probs = np.asarray(probabilities, dtype=np.float64)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(labels, dtype=np.int64)
    chosen = None
    for threshold in UNCERTAIN_GRID:
        band = confidence < threshold
        if band.sum() >= UNCERTAIN_MIN_ROWS and correct[band].mean() <= UNCERTAIN_MAX_ACCURACY:
            chosen = threshold
    return chosen


def band_report(probabilities: np.ndarray, labels: Sequence[int], threshold: float | None) -> dict[str, Any]:
    """Share of rows in the uncertain band and the accuracy inside and outside it."""
    probs = np.asarray(probabilities, dtype=np.float64)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(labels, dtype=np.int64)
    band = confidence < threshold if threshold is not None else np.zeros(len(correct), dtype=bool)
    return {
        "uncertain_share": float(band.mean()) if len(band) else 0.0,
        "accuracy_uncertain": float(correct[band].mean()) if band.any() else None,
        "accuracy_confident": float(correct[~band].mean()) if (~band).any() else None,
    }


def fit_calibration(logits: np.ndarray, labels: Sequence[int], parts: Sequence[str] | None = None) -> dict[str, Any]:
    """Temperature, uncertain threshold and the before/after figures, ready for ``calibration.json``.

    ``parts`` names each row's validation file: ECE is then also reported per file."""
    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    temperature = fit_temperature(logits, y)
    calibrated = softmax(logits, temperature)
    threshold = uncertain_threshold(calibrated, y)
    report: dict[str, Any] = {
        "temperature": temperature,
        "uncertain_below": threshold,
        "method": "temperature scaling fitted on the validation logits (minimum NLL); uncertain = calibrated "
        f"top probability below the largest threshold whose validation band was right at most "
        f"{UNCERTAIN_MAX_ACCURACY:.0%} of the time",
        "validation_rows": int(len(y)),
        "ece_before": expected_calibration_error(softmax(logits), y),
        "ece_after": expected_calibration_error(calibrated, y),
        "nll_before": nll(logits, y),
        "nll_after": nll(logits, y, temperature),
        **band_report(calibrated, y, threshold),
    }
    if parts is not None and len(set(parts)) > 1:
        names = np.asarray(list(parts))
        report["by_file"] = {}
        for name in dict.fromkeys(parts):
            mask = names == name
            report["by_file"][name] = {
                "rows": int(mask.sum()),
                "ece_before": expected_calibration_error(softmax(logits[mask]), y[mask]),
                "ece_after": expected_calibration_error(calibrated[mask], y[mask]),
                **band_report(calibrated[mask], y[mask], threshold),
            }
    return report
