"""Insights through the batch job, the CLI (--insights REPORT.xlsx|.json), the XLSX sheets, /classify_file
and the batch tab's callback; a cancelled job cancels them."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from sentiment_app import cli
from sentiment_app.batch import Budget, InsightOptions, JobCancelled, ResultFiles, run_batch
from sentiment_app.config import AppConfig
from tests.batch.helpers import FakeClassifier
from tests.insights import planted


class PlantedClassifier(FakeClassifier):
    """Answers with the planted label of each text (the planted file's gold), confidently."""

    def __init__(self, frame: pd.DataFrame) -> None:
        super().__init__()
        self.gold = dict(zip(frame["评论"], frame["planted"]))

    def predict(self, texts):
        from sentiment_app.classifier import Prediction

        out = []
        for text in texts:
            label = self.gold.get(text, "正面")
            probs = {"负面": 0.97 if label == "负面" else 0.03, "正面": 0.97 if label == "正面" else 0.03}
            out.append(Prediction(label=label, score=0.97, probabilities=probs, windows=1))
        return out


@pytest.fixture(scope="module")
def planted_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("planted") / "评论.csv"
    planted.build().drop(columns="planted").to_csv(path, index=False, encoding="utf-8-sig")
    return path


def test_job_adds_the_flag_column_and_the_insight_sheets(planted_csv, tmp_path) -> None:
    frame = planted.build()
    result = run_batch(planted_csv, PlantedClassifier(frame), output_dir=tmp_path, insights=InsightOptions())
    assert result.insights.flag_counts == planted.FLAGS
    csv = pd.read_csv(result.files["csv"], encoding="utf-8-sig", keep_default_na=False)
    assert csv["标记"].ne("").sum() == sum(planted.FLAGS.values())
    book = openpyxl.load_workbook(result.files["xlsx"], read_only=True)
    assert book.sheetnames == ["sentiment", "原因", "分组", "时间", "标记行"]
    reasons = pd.read_excel(result.files["xlsx"], sheet_name="原因")
    logistics = reasons[(reasons["情感"] == "负面") & (reasons["原因"] == "物流配送")].iloc[0]
    assert abs(logistics["行数"] - planted.NEGATIVE_COUNTS["物流配送"]) <= 3
    assert frame.iloc[int(logistics["例句1行号"]) - 1]["评论"].find(logistics["例句1"].strip("…")[:6]) >= 0
    flagged = pd.read_excel(result.files["xlsx"], sheet_name="标记行")
    assert len(flagged) == sum(planted.FLAGS.values()) and {"行号", "标记"} <= set(flagged.columns)


def test_without_insights_nothing_changes(planted_csv, tmp_path) -> None:
    result = run_batch(planted_csv, PlantedClassifier(planted.build()), output_dir=tmp_path)
    assert result.insights is None
    assert "标记" not in pd.read_csv(result.files["csv"], encoding="utf-8-sig").columns


def test_a_cancelled_job_cancels_the_insights(planted_csv, tmp_path, monkeypatch) -> None:
    budget = Budget()
    import sentiment_app.insights.reasons as reasons

    real = reasons.match_aspects

    def cancel_then_match(texts, check):
        budget.cancel()
        return real(texts, check)

    monkeypatch.setattr(reasons, "match_aspects", cancel_then_match)
    with pytest.raises(JobCancelled):
        run_batch(
            planted_csv,
            PlantedClassifier(planted.build()),
            output_dir=tmp_path,
            insights=InsightOptions(),
            budget=budget,
        )
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("suffix", [".json", ".xlsx"])
def test_cli_writes_the_report(planted_csv, full_model_dir, tmp_path, capsys, suffix) -> None:
    report = tmp_path / f"report{suffix}"
    code = cli.main(
        [
            "predict",
            str(planted_csv),
            "-o",
            str(tmp_path / "out.csv"),
            "--model",
            str(full_model_dir),
            "--insights",
            str(report),
            "-q",
        ]
    )
    assert code == 0, capsys.readouterr().err
    if suffix == ".json":
        data = json.loads(report.read_text(encoding="utf-8"))
        assert set(data) >= {"reasons", "groups", "periods", "flags"}
        assert data["groups"]["column"] == "店铺" and data["periods"]["column"] == "评论时间"
        assert data["flags"]["counts"]["默认评价"] == len(planted.DEFAULTS)
    else:
        assert openpyxl.load_workbook(report, read_only=True).sheetnames == ["原因", "分组", "时间", "标记行"]
    assert "标记" in pd.read_csv(tmp_path / "out.csv", encoding="utf-8-sig").columns


def test_cli_refuses_a_bad_report_name(planted_csv, tmp_path, capsys) -> None:
    code = cli.main(["predict", str(planted_csv), "-o", str(tmp_path / "o.csv"), "--insights", str(tmp_path / "r.txt")])
    assert code == 2 and "must end in .xlsx or .json" in capsys.readouterr().err


def test_cli_summary_counts_agree_with_their_number(tmp_path, full_model_dir, capsys) -> None:
    one = tmp_path / "one.csv"
    one.write_text("评论\n物流太慢了\n", encoding="utf-8")
    assert cli.main(["predict", str(one), "-o", str(tmp_path / "o.csv"), "--model", str(full_model_dir)]) == 0
    captured = capsys.readouterr()
    assert "1 row:" in captured.out and "1 rows" not in captured.out + captured.err


def test_classify_file_api_returns_the_insights_beside_its_summary(planted_csv, tmp_path) -> None:
    from sentiment_app.ui.callbacks import Callbacks

    frame = planted.build()
    upload = tmp_path / "uploads" / "p.csv"
    upload.parent.mkdir()
    upload.write_bytes(planted_csv.read_bytes())
    cb = Callbacks([_Served(frame)], AppConfig(), results=ResultFiles(tmp_path / "r"), upload_root=upload.parent)
    *_, (result, summary) = cb.classify_file_api({"path": str(upload), "meta": {"_type": "gradio.FileData"}})
    insights = summary["insights"]
    assert {r["reason"] for r in insights["reasons"]["负面"]} >= set(planted.NEGATIVE_COUNTS)
    assert insights["flags"]["counts"] == planted.FLAGS
    json.dumps(summary, ensure_ascii=False)


class _Served(PlantedClassifier):
    """PlantedClassifier with what the app's callbacks read off a served model."""

    class info:  # noqa: N801
        short_name, name, kind, quantized = "planted", "planted", "full", False

    max_length = 128
    calibration = None
