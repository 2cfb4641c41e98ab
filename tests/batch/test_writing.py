"""Writing: formula escaping, UTF-8 BOM CSV, XLSX numbers and limits, atomic writes."""

from __future__ import annotations

import csv
import io

import numpy as np
import openpyxl
import pandas as pd
import pytest

from sentiment_app.batch import (
    FORMULA_TRIGGERS,
    TableError,
    classify_table,
    escape_formulas,
    read_table,
    write_csv,
    write_xlsx,
)
from tests.batch.helpers import (
    FakeClassifier,
    escaped,
    rows_text,
    write_bytes,
)

# ---- writing ---------------------------------------------------------------------------------------------


def test_escape_formulas():
    cells = [
        "=1+1",
        "+86 138",
        "-x",
        "@SUM(A1)",
        "\t=1",
        "\rx",
        "\nx",
        "＝1",
        "＋1",
        "－1",
        "＠a",
        "-5",
        "+3.2",
        "-1e5",
        "普通",
        "a=b",
        "",
        "'=already",
    ]
    frame = pd.DataFrame({"text": cells, "n": np.arange(len(cells)) - 5.0})
    frame["=evil"] = "x"
    out = escape_formulas(frame)
    assert out["text"].tolist()[:11] == ["'" + c for c in cells[:11]]
    assert out["text"].tolist()[11:] == cells[11:]
    assert out["n"].tolist() == frame["n"].tolist()  # numbers stay numbers
    assert list(out.columns) == ["text", "n", "'=evil"]
    assert frame["text"].tolist() == cells  # input untouched


def messy_rows() -> list[list[str]]:
    return [
        ["id", "评论", "备注", "label"],
        ["1", '=HYPERLINK("http://evil","点我")', "-5", "1"],
        ["2", '第一行\n第二行，"引号"', "+86 138 0000", "0"],
        ["3", "", "@user", ""],
        ["4", "－全角减号开头", "007", "正面"],
        ["5", "很好很好", "\t制表符", "negative"],
        ["6", "房间干净", "1.50", "1"],
    ]


def test_write_csv_is_utf8_bom_escaped_and_round_trips(tmp_path):
    rows = messy_rows()
    table = read_table(write_bytes(tmp_path / "in.csv", rows_text(rows).encode("gb18030")))
    result = classify_table(table, FakeClassifier())
    target = write_csv(result, tmp_path / "out.csv")
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "第一行".encode() in raw
    back = pd.read_csv(target, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(back.columns) == rows[0] + ["sentiment", "confidence", "prob_负面", "prob_正面"]
    for original, written in zip(rows[1:], back.astype(object).values.tolist()):
        assert written[:4] == [escaped(c) for c in original]
    assert not back.map(lambda v: v.startswith(FORMULA_TRIGGERS) and escaped(v) != v).any().any()
    assert back.loc[2, "sentiment"] == "" and back.loc[2, "confidence"] == ""
    assert [float(v) for v in back.loc[[0, 1, 3, 4, 5], "confidence"]] == pytest.approx(
        result.loc[[0, 1, 3, 4, 5], "confidence"].tolist()
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]  # no temp file left


def test_write_xlsx_keeps_numbers_and_has_no_formulas(tmp_path):
    rows = messy_rows()
    table = read_table(write_bytes(tmp_path / "in.csv", rows_text(rows).encode("utf-8")))
    result = classify_table(table, FakeClassifier())
    target = write_xlsx(result, tmp_path / "out.xlsx")
    sheet = openpyxl.load_workbook(target).worksheets[0]
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0] == rows[0] + ["sentiment", "confidence", "prob_负面", "prob_正面"]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert values[1][1] == "'" + rows[1][1] and values[1][2] == -5
    assert values[4][2] == "007" and values[6][0] == 6  # leading zeros are text, plain integers numbers
    assert values[6][2] == "1.50"  # Excel would show 1.5: kept as the text it was
    assert values[2][1] == rows[2][1]
    assert values[3][4] is None and values[3][5] is None  # blank text: empty cells
    assert isinstance(values[1][5], float) and 0 <= values[1][5] <= 1


def test_xlsx_cells_excel_cannot_hold(tmp_path):
    frame = pd.DataFrame({"text": ["控制\x0b字符\x01", "长" * 40_000, "00123456789012345678"]})
    sheet = openpyxl.load_workbook(write_xlsx(frame, tmp_path / "out.xlsx")).worksheets[0]
    values = [cell.value for cell in sheet["A"]][1:]
    assert values[0] == "控制\ufffd字符\ufffd"
    assert values[1] == "长" * 32_767  # Excel's cell limit; the CSV keeps it whole
    assert values[2] == "00123456789012345678"  # a long order number stays text, every digit kept
    csv_back = pd.read_csv(
        write_csv(frame, tmp_path / "out.csv"), encoding="utf-8-sig", dtype=str, keep_default_na=False
    )
    assert csv_back["text"].tolist() == frame["text"].tolist()


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    frame = pd.DataFrame({"text": ["好"] * 100})
    target = tmp_path / "out.csv"
    target.write_text("previous result")

    def broken_to_csv(self, handle, **kwargs):
        handle.write("partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken_to_csv)
    with pytest.raises(TableError, match="cannot write .*No space left"):
        write_csv(frame, target)
    assert target.read_text() == "previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    with pytest.raises(TableError, match="does not exist"):
        write_xlsx(frame, tmp_path / "missing" / "out.xlsx")


def test_downloads_keep_probabilities_to_4_decimals_and_the_inputs_own_numbers(tmp_path):
    frame = pd.DataFrame(
        {
            "评论": ["好", "差"],
            "price": [12.345678, 0.123456],  # the input's own numbers: never rounded
            "sentiment": ["正面", "负面"],
            "confidence": [0.9731234788894653, 0.5000000001],
            "prob_负面": [0.0268765211105347, 0.5000000001],
            "prob_正面": [0.9731234788894653, 0.4999999999],
        }
    )
    rows = list(csv.reader(io.StringIO(write_csv(frame, tmp_path / "r.csv").read_text(encoding="utf-8-sig"))))
    assert rows[1] == ["好", "12.345678", "正面", "0.9731", "0.0269", "0.9731"]
    assert rows[2][3:] == ["0.5", "0.5", "0.5"]
    sheet = openpyxl.load_workbook(write_xlsx(frame, tmp_path / "r.xlsx")).active
    assert [c.value for c in sheet[2]] == ["好", 12.345678, "正面", 0.9731, 0.0269, 0.9731]
    assert frame["confidence"][0] == 0.9731234788894653  # the caller's frame is untouched
