"""``python -m sentiment_app predict``: output columns, summary, and one-line errors with exit code 2."""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from sentiment_app import cli
from tests import tiny
from tests.batch.helpers import FakeClassifier, rows_text
from tests.tiny import run_module

RESULT_COLUMNS = ["sentiment", "confidence", "prob_负面", "prob_正面"]


@pytest.fixture()
def reviews_csv(tmp_path) -> Path:
    rows = [["编号", "评论", "label"]] + [[str(i), t, str(y)] for i, (t, y) in enumerate(tiny.REVIEWS)]
    rows.append([str(len(rows)), "", "1"])
    path = tmp_path / "reviews.csv"
    path.write_bytes(rows_text(rows).encode("gbk"))
    return path


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


# ---- the real command, end to end -------------------------------------------------------------------


@pytest.mark.slow  # a fresh interpreter importing torch: ~10-20 s on a shared 2-core box
def test_module_predicts_a_gbk_csv_into_xlsx(reviews_csv, full_model_dir, tmp_path):
    output = tmp_path / "out.xlsx"
    done = run_module("predict", reviews_csv, "-o", output, "--model", full_model_dir, "--chunk-size", "5")
    assert done.returncode == 0, done.stderr
    assert "GB18030" in done.stderr and "100%" in done.stderr  # what was read, and the progress bar
    assert done.stderr.count("100%") == 1, done.stderr  # the last progress line is printed once
    assert "accuracy" in done.stdout and "25 rows" in done.stdout
    sheet = openpyxl.load_workbook(output).worksheets[0]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == ["编号", "评论", "label"] + RESULT_COLUMNS
    assert [row[1] for row in values[1:-1]] == [t for t, _ in tiny.REVIEWS]
    assert all(row[3] in ("负面", "正面") and 0 <= row[4] <= 1 for row in values[1:-1])
    assert values[-1][3] is None and values[-1][4] is None  # blank text: empty result


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--text-column", "正文"], r"no text column '正文'; the columns are: 编号, 评论, label"),
        (["--max-rows", "10"], "more than 10 rows"),
    ],
)
def test_module_bad_input_exits_2_with_one_line(reviews_csv, tmp_path, args, pattern):
    output = tmp_path / "out.csv"
    done = run_module("predict", reviews_csv, "-o", output, "--model", tmp_path / "never-loaded", *args)
    assert done.returncode == 2
    assert done.stdout == ""
    line = one_error_line(done.stderr)
    assert re.search(pattern, line), line
    assert not output.exists()


def test_module_binary_input_exits_2(tmp_path):
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    done = run_module("predict", binary, "-o", tmp_path / "out.csv")
    assert done.returncode == 2
    assert "PNG image, not a table" in one_error_line(done.stderr)


# ---- in-process: faster checks of the same paths ----------------------------------------------------------


def test_csv_output_with_chosen_columns(reviews_csv, full_model_dir, tmp_path, capsys):
    output = tmp_path / "out.csv"
    code = cli.main(
        [
            "predict",
            str(reviews_csv),
            "-o",
            str(output),
            "--model",
            str(full_model_dir),
            "-q",
            "--text-column",
            "评论",
            "--label-column",
            "label",
            "--chunk-size",
            "7",
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # -q: nothing but errors
    assert "accuracy" in captured.out and "mean confidence" in captured.out
    assert output.read_bytes().startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(output, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(back.columns) == ["编号", "评论", "label"] + RESULT_COLUMNS
    assert back["评论"].tolist()[:-1] == [t for t, _ in tiny.REVIEWS]
    assert set(back["sentiment"][:-1]) <= {"负面", "正面"} and back["sentiment"].iloc[-1] == ""


@pytest.mark.parametrize(
    "make_args, pattern",
    [
        (lambda src, tmp: [src, "-o", tmp / "out.json"], r"must end in \.csv or \.xlsx"),
        (lambda src, tmp: [src, "-o", tmp / "missing" / "out.csv"], "does not exist: create it first"),
        (lambda src, tmp: [src, "-o", src], "is the input file"),
        (lambda src, tmp: [src, "-o", tmp / "out.csv", "--chunk-size", "0"], "--chunk-size must be at least 1"),
        (lambda src, tmp: [src, "-o", tmp / "out.csv", "--max-rows", "0"], "max_rows must be at least 1"),
        (lambda src, tmp: [tmp / "nope.csv", "-o", tmp / "out.csv"], "no such file"),
        (lambda src, tmp: [src, "-o", tmp / "out.csv", "--sheet", "Sheet1"], "not an Excel workbook"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(reviews_csv, tmp_path, capsys, make_args, pattern):
    before = reviews_csv.read_bytes()
    code = cli.main(["predict", *map(str, make_args(reviews_csv, tmp_path))])
    assert code == 2
    line = one_error_line(capsys.readouterr().err)
    assert re.search(pattern, line), line
    assert reviews_csv.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reviews.csv"]


def test_missing_model_exits_2(reviews_csv, tmp_path, capsys):
    output = tmp_path / "out.csv"
    code = cli.main(["predict", str(reviews_csv), "-o", str(output), "--model", str(tmp_path / "no-such-model"), "-q"])
    assert code == 2
    assert "no-such-model does not exist" in one_error_line(capsys.readouterr().err)
    assert not output.exists()


def test_interrupted_run_leaves_the_previous_output(reviews_csv, tmp_path, monkeypatch, capsys):
    class Interrupting(FakeClassifier):
        info = type("Info", (), {"name": "fake", "kind": "full", "quantized": False})()

        def predict(self, texts):
            if self.calls:
                raise KeyboardInterrupt
            return super().predict(texts)

    import sentiment_app.model.loading as loading

    monkeypatch.setattr(loading, "load_classifier", lambda config: Interrupting())
    output = tmp_path / "out.csv"
    output.write_text("yesterday's results")
    code = cli.main(["predict", str(reviews_csv), "-o", str(output), "--chunk-size", "4"])
    assert code == 130
    assert "nothing was written" in capsys.readouterr().err
    assert output.read_text() == "yesterday's results"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "reviews.csv"]


def test_subcommand_is_required(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2


def test_the_last_progress_line_is_printed_once():
    """tqdm's close() draws the bar again: an update to 100 % just before it printed the line twice in a log."""
    import io

    from sentiment_app.batch import Progress
    from sentiment_app.cli import ProgressBar

    out = io.StringIO()
    bar = ProgressBar(out, mininterval=0)  # every update drawn, as when chunks are seconds apart
    for done in (0, 5, 10, 15, 20, 25):  # equal chunks: the last update is drawn like the others
        bar.show(Progress("classifying", done, 25))
    bar.show(Progress("writing", 25, 25))
    bar.close()
    lines = [line for line in out.getvalue().replace("\r", "\n").splitlines() if line.strip()]
    assert sum("25/25" in line for line in lines) == 1, lines
    assert lines[-1].startswith("100%") and any("20/25" in line for line in lines)
