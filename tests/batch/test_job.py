"""Classifying in chunks (order, blank cells, cancel, result column names) and the 100,000-row round trip."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from sentiment_app.batch import (
    LoadedTable,
    classify_table,
    read_table,
    result_column_names,
    summarize,
    write_csv,
)
from tests import tiny
from tests.batch.helpers import (
    LABELS,
    SIMPLIFIED,
    FakeClassifier,
    escaped,
    rows_text,
    write_bytes,
)

# ---- classifying --------------------------------------------------------------------------------------


def test_classify_keeps_order_and_skips_blank_cells():
    texts = ["很好", "", "太差了", "   ", "好好好", "差"] * 5
    frame = pd.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts}, dtype=str)
    table = LoadedTable.in_memory(frame, "text")
    fake = FakeClassifier()
    seen: list[tuple[int, int]] = []
    result = classify_table(table, fake, chunk_size=4, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(min(i + 4, 30), 30) for i in range(0, 30, 4)]
    assert all(len(call) <= 4 for call in fake.calls)
    assert "" not in fake.texts_seen and "   " not in fake.texts_seen
    assert list(result.columns) == ["id", "text", "sentiment", "confidence", "prob_负面", "prob_正面"]
    assert result["id"].tolist() == frame["id"].tolist() and result["text"].tolist() == texts
    expected = {t: p for t, p in zip(fake.texts_seen, fake.predict(fake.texts_seen))}
    for _, row in result.iterrows():
        if row["text"].strip():
            prediction = expected[row["text"]]
            assert row["sentiment"] == prediction.label
            assert row["confidence"] == pytest.approx(prediction.score)
            assert row["prob_正面"] == pytest.approx(prediction.probabilities["正面"])
        else:
            assert row["sentiment"] == "" and math.isnan(row["confidence"]) and math.isnan(row["prob_负面"])


def test_cancel_from_progress_leaves_nothing_behind():
    frame = pd.DataFrame({"text": ["好"] * 10}, dtype=str)
    table = LoadedTable.in_memory(frame, "text")

    class Cancelled(Exception):
        pass

    def cancel(done: int, total: int) -> None:
        if done >= 4:
            raise Cancelled

    fake = FakeClassifier()
    with pytest.raises(Cancelled):
        classify_table(table, fake, chunk_size=2, progress=cancel)
    assert len(fake.calls) == 2  # stopped right after the cancel
    assert list(table.frame.columns) == ["text"]  # the input table is untouched


def test_result_columns_get_a_suffix_when_names_are_taken():
    assert result_column_names(LABELS) == ["sentiment", "confidence", "prob_负面", "prob_正面"]
    assert result_column_names(LABELS, ["text", "sentiment"])[:2] == ["sentiment_2", "confidence_2"]
    frame = pd.DataFrame({"text": ["好", "差"], "sentiment": ["正面", "负面"]}, dtype=str)
    table = LoadedTable.in_memory(frame, "text", "sentiment")
    result = classify_table(table, FakeClassifier())
    assert result["sentiment"].tolist() == ["正面", "负面"]  # the input column is kept as it was
    assert result["sentiment_2"].tolist() == ["正面", "负面"]
    summary = summarize(result, LABELS, label_column="sentiment")
    assert summary.accuracy == 1.0


def test_classify_with_the_real_tiny_model(full_model_dir, tmp_path):
    from sentiment_app.config import AppConfig
    from sentiment_app.model.loading import load_classifier

    classifier = load_classifier(AppConfig(model=str(full_model_dir)))
    rows = [["评论", "label"]] + [[t, str(y)] for t, y in tiny.REVIEWS] + [["", "1"]]
    table = read_table(write_bytes(tmp_path / "a.csv", rows_text(rows).encode("gbk")))
    result = classify_table(table, classifier, chunk_size=7)
    direct = classifier.predict([t for t, _ in tiny.REVIEWS])
    assert result["sentiment"].tolist()[:-1] == [p.label for p in direct]
    np.testing.assert_allclose(
        result["prob_正面"].to_numpy()[:-1], [p.probabilities["正面"] for p in direct], rtol=1e-5
    )
    assert result["sentiment"].iloc[-1] == "" and math.isnan(result["confidence"].iloc[-1])


# ---- round trip at scale -------------------------------------------------------------------------------


@pytest.mark.slow
def test_hundred_thousand_rows_round_trip(tmp_path):
    n = 100_000
    cells = SIMPLIFIED + ["", "=1+2", "第一行\n第二行", "-5", "@x"]
    rows = [["序号", "评论", "label"]] + [[str(i), cells[i % len(cells)], str(i % 2)] for i in range(n)]
    path = write_bytes(tmp_path / "big.csv", rows_text(rows).encode("gb18030"))
    started = time.perf_counter()
    table = read_table(path)
    assert table.rows == n and table.encoding == "gb18030"
    fake = FakeClassifier()
    calls: list[int] = []
    result = classify_table(table, fake, chunk_size=1000, progress=lambda done, total: calls.append(done))
    assert calls[-1] == n and len(calls) == n // 1000
    out = write_csv(result, tmp_path / "big_out.csv")
    back = pd.read_csv(out, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    elapsed = time.perf_counter() - started
    assert len(back) == n
    for column, values in zip(rows[0], zip(*rows[1:])):
        assert back[column].tolist() == [escaped(v) for v in values]
    blank = back["评论"] == ""
    assert (back.loc[~blank, "sentiment"] != "").all() and (back.loc[blank, "sentiment"] == "").all()
    assert elapsed < 60, f"100,000 rows took {elapsed:.1f}s"


def test_run_batch_counts_rows_below_the_calibrated_threshold(tmp_path):
    """The summary counts rows under the model's stored threshold; the label columns stay the argmax."""
    from sentiment_app.batch import run_batch
    from sentiment_app.config import AppConfig
    from sentiment_app.model.artifact import write_calibration
    from sentiment_app.model.loading import load_classifier

    folder = tiny.save_full_model(tmp_path / "calibrated")
    rows = [["评论"]] + [[t] for t, _ in tiny.REVIEWS] + [[""]]
    path = write_bytes(tmp_path / "a.csv", rows_text(rows).encode("utf-8"))
    plain = run_batch(path, load_classifier(AppConfig(model=str(folder))), formats=("csv",), output_dir=tmp_path)
    assert plain.summary.uncertain_rows is None  # no threshold stored: nothing is called uncertain
    confidence = plain.frame["confidence"].dropna().to_numpy()
    threshold = float(np.median(confidence))
    write_calibration(folder, 1.0, threshold)
    (tmp_path / "out").mkdir()
    result = run_batch(
        path, load_classifier(AppConfig(model=str(folder))), formats=("csv",), output_dir=tmp_path / "out"
    )
    assert result.summary.uncertain_rows == int((confidence < threshold).sum()) > 0
    assert result.frame["sentiment"].tolist() == plain.frame["sentiment"].tolist()
    assert any("uncertain" in line for line in result.summary.lines())


def test_summary_counts_uncertain_rows_only_among_classified_ones():
    frame = pd.DataFrame(
        {
            "sentiment": ["正面", "负面", "", "正面"],
            "confidence": [0.95, 0.6, np.nan, 0.7],
            "prob_负面": 0,
            "prob_正面": 0,
        }
    )
    assert summarize(frame, LABELS).uncertain_rows is None
    assert summarize(frame, LABELS, uncertain_below=0.8).uncertain_rows == 2
    assert summarize(frame, LABELS, uncertain_below=0.5).uncertain_rows == 0
