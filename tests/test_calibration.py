"""Calibration: the fit (training/calibration.py), the stored file (artifact.py) and how the classifier
applies it (classifier.py, loading.py). The classifier tests use a tiny random model: they check plumbing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sentiment_app.classifier import SentimentClassifier
from sentiment_app.config import AppConfig
from sentiment_app.model.artifact import (
    CALIBRATION_FILE,
    ArtifactError,
    Calibration,
    read_calibration,
    validate_artifact,
    write_calibration,
)
from sentiment_app.model.loading import load_classifier
from tests import tiny
from training import calibration as cal


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_ece_of_hand_made_bins():
    # 4 rows at 0.9 confidence, 3 right: |0.75 - 0.9| = 0.15; 4 rows at 0.6, 2 right: |0.5 - 0.6| = 0.1
    probs = np.array([[0.1, 0.9]] * 4 + [[0.6, 0.4]] * 4)
    labels = [1, 1, 1, 0] + [0, 0, 1, 1]
    assert cal.expected_calibration_error(probs, labels) == pytest.approx(0.5 * 0.15 + 0.5 * 0.1)
    assert cal.expected_calibration_error(np.array([[0.0, 1.0]] * 3), [1, 1, 1]) == pytest.approx(0.0)


def test_fitted_temperature_recovers_the_one_that_made_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, size=(20000, 2))
    true_temperature = 2.5
    labels = (rng.random(20000) < _softmax(logits / true_temperature)[:, 1]).astype(int)
    fitted = cal.fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.05)
    report = cal.fit_calibration(logits, labels)
    assert report["ece_after"] < report["ece_before"] and report["nll_after"] < report["nll_before"]
    assert report["temperature"] == pytest.approx(fitted)


def test_uncertain_threshold_is_the_largest_whose_band_is_right_at_most_three_times_in_four():
    # 100 rows at 0.55 (half right), 100 at 0.7 (70 % right), 300 at 0.9 (95 % right)
    probs = np.array([[0.45, 0.55]] * 100 + [[0.3, 0.7]] * 100 + [[0.1, 0.9]] * 300)
    labels = [1] * 50 + [0] * 50 + [1] * 70 + [0] * 30 + [1] * 285 + [0] * 15
    # below 0.90 the band is the 0.55 and 0.7 rows (60 % right); from 0.91 on it takes in the 0.9 rows too
    # and is right 81 % of the time, so 0.90 is the largest threshold that keeps the rule
    assert cal.uncertain_threshold(probs, labels) == 0.90
    band = cal.band_report(probs, labels, 0.90)
    assert band["uncertain_share"] == pytest.approx(0.4) and band["accuracy_uncertain"] == pytest.approx(0.6)
    assert band["accuracy_confident"] == pytest.approx(0.95)
    sure = np.array([[0.02, 0.98]] * 100)
    assert cal.uncertain_threshold(sure, [1] * 100) is None  # no band at all: nothing is ever uncertain


def test_calibration_file_round_trip_and_checks(tmp_path):
    assert read_calibration(tmp_path) is None
    write_calibration(tmp_path, 1.7, 0.8)
    assert read_calibration(tmp_path) == Calibration(1.7, 0.8)
    write_calibration(tmp_path, 0.6, None)
    assert read_calibration(tmp_path) == Calibration(0.6, None)
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps({"temperature": -1}))
    with pytest.raises(ArtifactError, match="temperature must be a positive number"):
        read_calibration(tmp_path)
    with pytest.raises(ArtifactError, match="uncertain_below"):
        write_calibration(tmp_path, 1.0, 1.5)


def test_a_broken_calibration_file_breaks_the_contract(tmp_path):
    tiny.save_full_model(tmp_path)
    (tmp_path / "metrics.json").write_text("{}")
    (tmp_path / "README.md").write_text("---\nlanguage: zh\n---\n")
    assert validate_artifact(tmp_path) == []
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps({"temperature": "hot"}))
    assert any("temperature" in p for p in validate_artifact(tmp_path))


TEXTS = ["房间干净整洁，服务态度非常好。", "质量太差了", "一般般吧"]


def test_loaded_classifier_divides_logits_by_the_stored_temperature(tmp_path):
    folder = tiny.save_full_model(tmp_path / "model", hidden=64, seed=3)
    raw = load_classifier(AppConfig(), str(folder))
    assert raw.calibration == Calibration() and not any(p.uncertain for p in raw.predict(TEXTS))
    logits = raw.logits(TEXTS)
    expected_raw = _softmax(logits.astype(np.float64))
    got_raw = np.array([[p.probabilities[name] for name in raw.labels] for p in raw.predict(TEXTS)])
    assert np.allclose(got_raw, expected_raw, atol=1e-6)

    write_calibration(folder, 0.05, None)  # sharpen: a tiny random model's near-0.5 answers move apart
    calibrated = load_classifier(AppConfig(), str(folder))
    got = np.array([[p.probabilities[name] for name in calibrated.labels] for p in calibrated.predict(TEXTS)])
    assert np.allclose(got, _softmax(logits.astype(np.float64) / 0.05), atol=1e-5)
    assert not np.allclose(got, got_raw, atol=1e-3)
    assert [p.label for p in calibrated.predict(TEXTS)] == [p.label for p in raw.predict(TEXTS)]  # argmax kept
    assert np.array_equal(calibrated.logits(TEXTS), logits)  # logits stay raw


def test_uncertain_band_marks_predictions_below_the_threshold():
    tokenizer = tiny.tiny_tokenizer()
    model = tiny.tiny_bert(len(tokenizer), seed=5)
    plain = SentimentClassifier(model, tokenizer, tiny.LABELS)
    scores = [p.score for p in plain.predict(TEXTS)]
    cut = float(np.median(scores))
    banded = SentimentClassifier(model, tokenizer, tiny.LABELS, calibration=Calibration(1.0, cut))
    predictions = banded.predict(TEXTS)
    assert [p.uncertain for p in predictions] == [s < cut for s in scores]
    assert any(p.uncertain for p in predictions) and not all(p.uncertain for p in predictions)
    empty = banded.predict("   ")
    assert empty.label is None and not empty.uncertain
