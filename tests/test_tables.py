"""Batch tables: every real-world file shape reads, classifies and writes back without loss.

Fixture files are made here, in tmp_path, in each encoding and delimiter the issue lists.
"""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from sentiment_app.classifier import Prediction
from sentiment_app.tables import (
    FORMULA_TRIGGERS,
    LoadedTable,
    TableError,
    classify_table,
    decode_bytes,
    escape_formulas,
    map_gold_labels,
    read_table,
    result_column_names,
    summarize,
    write_csv,
    write_xlsx,
)
from tests import tiny

LABELS = ["负面", "正面"]
SIMPLIFIED = [text for text, _ in tiny.REVIEWS]
TRADITIONAL = [
    "房間乾淨整潔，服務態度非常好，下次還會再來。",
    "這本書寫得太好了，一口氣讀完，強烈推薦！",
    "電腦運行速度快，螢幕清晰，性價比很高。",
    "房間又小又髒，隔音很差，再也不來了。",
    "服務態度惡劣，前台愛理不理，非常失望。",
    "物流太慢，包裝破損，東西有劃痕。",
]


class FakeClassifier:
    """Same interface as SentimentClassifier; records every call. Positive iff the text has 好."""

    labels = LABELS

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def predict(self, texts):
        texts = list(texts)
        self.calls.append(texts)
        out = []
        for text in texts:
            if not text.strip():
                out.append(Prediction(label=None, score=0.0, probabilities={}))
                continue
            p = 0.6 + 0.3 * (len(text) % 4) / 3 if "好" in text else 0.15 + 0.2 * (len(text) % 3) / 2
            probs = {"负面": 1 - p, "正面": p}
            best = max(probs, key=probs.get)
            out.append(Prediction(label=best, score=probs[best], probabilities=probs, windows=1))
        return out

    @property
    def texts_seen(self) -> list[str]:
        return [t for call in self.calls for t in call]


def rows_text(rows: list[list[str]], delimiter: str = ",", newline: str = "\r\n",
              quoting: int = csv.QUOTE_MINIMAL) -> str:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator=newline, quoting=quoting).writerows(rows)
    return buffer.getvalue()


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def frame_rows(table: LoadedTable) -> list[list[str]]:
    return table.frame.astype(object).values.tolist()


def escaped(cell: str) -> str:
    if cell.startswith(FORMULA_TRIGGERS):
        try:
            float(cell)
            return cell
        except ValueError:
            return "'" + cell
    return cell


HEADER = ["id", "评论", "label"]
BASIC = [[str(i), text, str(label)] for i, (text, label) in enumerate(tiny.REVIEWS)]


# ---- encodings -----------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding, expected", [
    ("utf-8", "utf-8"),
    ("utf-8-sig", "utf-8-sig"),
    ("utf-16", "utf-16"),  # with BOM, as Excel's "Unicode Text"
    ("utf-16-le", "utf-16-le"),  # without BOM
    ("utf-16-be", "utf-16-be"),
    ("utf-32", "utf-32"),
    ("gbk", "gb18030"),
    ("gb18030", "gb18030"),
])
def test_reads_simplified_chinese_in_each_encoding(tmp_path, encoding, expected):
    rows = [HEADER] + BASIC
    path = write_bytes(tmp_path / "data.csv", rows_text(rows).encode(encoding))
    table = read_table(path)
    assert table.encoding == expected
    assert table.delimiter == ","
    assert table.has_header
    assert table.columns == HEADER
    assert frame_rows(table) == BASIC
    assert table.text_column == "评论" and table.label_column == "label"


@pytest.mark.parametrize("encoding", ["big5", "cp950"])
def test_reads_big5_not_as_gb18030_mojibake(tmp_path, encoding):
    # Big5 bytes also decode as GB18030 (to nonsense); the reader must pick Big5.
    rows = [["評論"]] + [[t] for t in TRADITIONAL]
    data = rows_text(rows).encode(encoding)
    data.decode("gb18030")  # the ambiguity this test is about
    table = read_table(write_bytes(tmp_path / "big5.csv", data))
    assert table.encoding in ("big5", "cp950")
    assert frame_rows(table) == [[t] for t in TRADITIONAL]


def test_short_gbk_text_that_also_decodes_as_big5_is_gb18030(tmp_path):
    text = SIMPLIFIED[0]
    data = f"评论\n{text}\n".encode("gbk")
    data.decode("big5")  # ambiguous the other way
    assert decode_bytes(data)[0] == "gb18030"
    assert frame_rows(read_table(write_bytes(tmp_path / "a.csv", data))) == [[text]]


def test_gb18030_characters_outside_gbk(tmp_path):
    rows = [["text"], ["很好😀𠀀"], ["差评€"]]
    table = read_table(write_bytes(tmp_path / "a.csv", rows_text(rows).encode("gb18030")))
    assert table.encoding == "gb18030"
    assert frame_rows(table) == rows[1:]


def test_stray_boms_are_removed(tmp_path):
    data = b"\xef\xbb\xbf" + "\ufefftext,label\n好,1\n\ufeff差,0\n".encode("utf-8")
    table = read_table(write_bytes(tmp_path / "a.csv", data))
    assert table.columns == ["text", "label"]
    assert frame_rows(table) == [["好", "1"], ["差", "0"]]


def test_damaged_utf8_names_the_line(tmp_path):
    lines = [f"{i},{SIMPLIFIED[i]}".encode("utf-8") for i in range(10)]
    lines[6] = lines[6][:-4] + b"\xff" + lines[6][-3:]
    path = write_bytes(tmp_path / "broken.csv", b"id,text\n" + b"\n".join(lines) + b"\n")
    with pytest.raises(TableError, match=r"line 8 is not valid UTF-8") as info:
        read_table(path)
    assert "\n" not in str(info.value)


def test_undecodable_bytes_name_the_line(tmp_path):
    data = "text\n好\n".encode("utf-8") + b"\x80\x80\x80 \xff\xfe\n"
    with pytest.raises(TableError, match=r"cannot decode line 3"):
        read_table(write_bytes(tmp_path / "a.csv", data))


def test_charset_normalizer_is_only_a_last_resort(tmp_path):
    rows = [["text", "label"], ["Café très bon, déjà vu", "1"], ["Naïve résumé à côté", "0"], ["Été, señor", "1"]]
    data = rows_text(rows).encode("cp1252")
    table = read_table(write_bytes(tmp_path / "west.csv", data))
    assert table.encoding == "cp1252" and "(guessed)" in table.description
    assert frame_rows(table) == rows[1:]
    noise = bytes(b if b else 1 for b in np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8))
    with pytest.raises(TableError, match="cannot decode line"):
        read_table(write_bytes(tmp_path / "noise.csv", noise))


def test_decoding_never_replaces_bytes():
    with pytest.raises(TableError):
        decode_bytes("评论\n好\n".encode("utf-16-le") + b"\x00\xd8", "x.csv")  # lone surrogate


# ---- delimiters, quoting, header, blank rows ------------------------------------------------------

@pytest.mark.parametrize("delimiter, suffix", [(",", ".csv"), ("\t", ".tsv"), ("\t", ".txt"), (";", ".csv"),
                                               ("|", ".txt"), (";", ".txt")])
def test_delimiters(tmp_path, delimiter, suffix):
    rows = [HEADER] + [[i, f"{t}，含,逗号;和|竖线" if delimiter != "," else t, l] for i, t, l in BASIC[:6]]
    text = rows_text(rows, delimiter)
    table = read_table(write_bytes(tmp_path / f"data{suffix}", text.encode("utf-8")))
    assert table.delimiter == delimiter
    assert frame_rows(table) == rows[1:]


def test_quoted_cells_with_newlines_quotes_and_delimiters(tmp_path):
    rows = [["text", "label"],
            ["第一行\n第二行，很好", "1"],
            ['他说"不错"，但是, 价格贵', "0"],
            ["\r\n前后换行\n", "1"],
            ['"整格引号"', "0"]]
    for newline in ("\r\n", "\n", "\r"):
        # csv.writer quotes a cell with "\n" only when "\n" is in its line terminator: quote all for "\r".
        quoting = csv.QUOTE_ALL if newline == "\r" else csv.QUOTE_MINIMAL
        text = rows_text(rows, newline=newline, quoting=quoting)
        table = read_table(write_bytes(tmp_path / "q.csv", text.encode("utf-8")))
        assert frame_rows(table) == rows[1:]


def test_unclosed_quote_is_an_error_with_its_line(tmp_path):
    data = 'id,text\n1,好\n2,"没有结束\n3,差\n4,一般\n'.encode("utf-8")
    with pytest.raises(TableError, match=r"line 3 .*quote"):
        read_table(write_bytes(tmp_path / "a.csv", data))


def test_quotes_in_one_column_text_files_are_kept_as_written(tmp_path):
    lines = ['"好"吃，推荐', "一般", '他说"差"']
    table = read_table(write_bytes(tmp_path / "a.txt", "\n".join(lines).encode("utf-8")))
    assert frame_rows(table) == [[line] for line in lines]
    assert table.delimiter is None and not table.has_header


def test_headerless_two_columns_detects_text_and_label(tmp_path):
    rows = [[str(label), text] for text, label in tiny.REVIEWS]
    table = read_table(write_bytes(tmp_path / "a.tsv", rows_text(rows, "\t").encode("gbk")))
    assert not table.has_header
    assert table.columns == ["column_1", "column_2"]
    assert table.text_column == "column_2" and table.label_column == "column_1"
    assert frame_rows(table) == rows
    assert "no header" in table.description and "24 rows" in table.description


def test_single_column_with_and_without_header(tmp_path):
    plain = read_table(write_bytes(tmp_path / "a.txt", "\n".join(SIMPLIFIED).encode("utf-8")))
    assert not plain.has_header and plain.rows == len(SIMPLIFIED) and plain.text_column == "column_1"
    headed = read_table(write_bytes(tmp_path / "b.csv", ("评论\n" + "\n".join(SIMPLIFIED)).encode("utf-8")))
    assert headed.has_header and headed.columns == ["评论"] and headed.rows == len(SIMPLIFIED)
    forced = read_table(tmp_path / "b.csv", header=False)
    assert not forced.has_header and frame_rows(forced)[0] == ["评论"]
    english = read_table(write_bytes(tmp_path / "c.csv", ("Body\n" + "\n".join(SIMPLIFIED)).encode("utf-8")))
    assert english.has_header and english.text_column == "Body"


@pytest.mark.parametrize("first, is_header", [
    ("用户评价", True), ("买家留言", True), ("评论内容", True), ("Review Text", True), ("评论", True),
    ("商品不错", False), ("内容很好", False), ("很好", False), ("评论区的人说得对，质量很好", False),
])
def test_header_of_a_one_column_file(tmp_path, first, is_header):
    path = write_bytes(tmp_path / "a.csv", "\n".join([first] + SIMPLIFIED[:5]).encode("utf-8"))
    table = read_table(path)
    assert table.has_header is is_header
    assert table.rows == 5 + (not is_header)


def test_header_over_numbers_without_known_names(tmp_path):
    rows = [["编码", "买家说"], ["1", "很好"], ["2", "很差"]]
    table = read_table(write_bytes(tmp_path / "a.csv", rows_text(rows).encode("utf-8")))
    assert table.has_header and table.columns == ["编码", "买家说"] and table.text_column == "买家说"


def test_blank_rows_kept_inside_dropped_at_the_edges(tmp_path):
    text = "\n\ntext,label\n好,1\n\n,\n差,0\n  ,1\n\n\n"
    table = read_table(write_bytes(tmp_path / "a.csv", text.encode("utf-8")))
    assert frame_rows(table) == [["好", "1"], ["", ""], ["", ""], ["差", "0"], ["  ", "1"]]


def test_ragged_rows_padded_and_extra_cells_kept(tmp_path):
    text = "id,text\n1,好\n2\n3,还行,多出来的,两格\n4,差\n"
    table = read_table(write_bytes(tmp_path / "a.csv", text.encode("utf-8")))
    assert table.columns == ["id", "text", "column_3", "column_4"]
    assert frame_rows(table) == [["1", "好", "", ""], ["2", "", "", ""], ["3", "还行", "多出来的", "两格"],
                                 ["4", "差", "", ""]]
    assert any("more cells than the header" in w for w in table.warnings)


def test_duplicate_and_empty_header_names_become_unique(tmp_path):
    table = read_table(write_bytes(tmp_path / "a.csv", "text,,text\n好,x,y\n".encode("utf-8")))
    assert table.columns == ["text", "column_2", "text_2"]


def test_very_long_cell_is_read_whole(tmp_path):
    long_text = "很好" * 150_000  # 300,000 characters: over csv's default 131,072 field limit
    rows = [["id", "text"], ["1", long_text], ["2", "差"]]
    table = read_table(write_bytes(tmp_path / "a.csv", rows_text(rows).encode("utf-8")))
    assert frame_rows(table) == rows[1:]


def test_cells_are_kept_verbatim(tmp_path):
    rows = [["id", "text", "note"], ["007", " 空格 ", "NA"], ["1.50", "null", "N/A"], ["-0", "nan", "TRUE"]]
    table = read_table(write_bytes(tmp_path / "a.csv", rows_text(rows).encode("utf-8")))
    assert frame_rows(table) == rows[1:]
    assert all(str(dtype) == "str" for dtype in table.frame.dtypes)


# ---- columns ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["text", "Review", "comment", "content", "评论", "内容", "文本", "评价", "留言",
                                  "text_a", "评论内容", "Review Text"])
def test_text_column_found_by_name(tmp_path, name):
    rows = [["标题", name, "备注"]] + [["标题很长很长很长很长很长很长", t, "中文备注中文备注中文备注中文备注"] for t in SIMPLIFIED[:3]]
    table = read_table(write_bytes(tmp_path / "a.csv", rows_text(rows).encode("utf-8")))
    assert table.text_column == name


def test_text_column_found_by_chinese_content(tmp_path):
    rows = [["a", "b", "c"]] + [[str(i), t, "ok"] for i, t in enumerate(SIMPLIFIED)]
    table = read_table(write_bytes(tmp_path / "a.csv", rows_text(rows).encode("utf-8")))
    assert table.text_column == "b" and table.label_column is None


def test_chosen_columns_and_unknown_names(tmp_path):
    rows = [["ID", "评论", "备注", "标签"]] + [["1", "很好", "很差", "1"]]
    path = write_bytes(tmp_path / "a.csv", rows_text(rows).encode("utf-8"))
    assert read_table(path, text_column="备注").text_column == "备注"
    assert read_table(path, text_column="id").text_column == "ID"  # case-insensitive
    assert read_table(path, text_column="3").text_column == "备注"  # 1-based position
    assert read_table(path).label_column == "标签"
    with pytest.raises(TableError, match=r"no text column 'body'; the columns are: ID, 评论, 备注, 标签"):
        read_table(path, text_column="body")
    table = read_table(path)
    other = table.with_columns(text_column="备注", label_column=None)
    assert (other.text_column, other.label_column) == ("备注", None)
    assert other.frame is table.frame  # not read again
    assert table.with_columns(label_column="ID").label_column == "ID"
    with pytest.raises(TableError, match="the columns are"):
        table.with_columns(label_column="gold")
    with pytest.raises(TableError, match="two different columns"):
        table.with_columns(text_column="标签", label_column="标签")


# ---- xlsx ------------------------------------------------------------------------------------------

def make_workbook(path: Path) -> Path:
    workbook = openpyxl.Workbook()
    first = workbook.active
    first.title = "评论"
    first.append(["编号", "评论", "评分", "日期", "label"])
    import datetime as dt

    for i, (text, label) in enumerate(tiny.REVIEWS[:5]):
        first.append([i + 1, text, 4.5 if i % 2 else 1, dt.date(2024, 1, i + 1), label])
    first.append([None, None, None, None, None])
    first.append([6, "=HYPERLINK(\"http://x\")", -3, None, 1])
    second = workbook.create_sheet("other")
    second.append(["text"])
    second.append(["第二个表"])
    workbook.save(path)
    return path


def test_xlsx_first_sheet_and_named_sheet(tmp_path):
    path = make_workbook(tmp_path / "book.xlsx")
    table = read_table(path)
    assert table.encoding is None and table.delimiter is None and table.sheet == "评论"
    assert table.columns == ["编号", "评论", "评分", "日期", "label"]
    assert table.text_column == "评论" and table.label_column == "label"
    rows = frame_rows(table)
    assert rows[0] == ["1", tiny.REVIEWS[0][0], "1", "2024-01-01", "1"]
    assert rows[1][2] == "4.5"
    assert rows[5] == ["", "", "", "", ""]  # blank row inside is kept
    assert rows[6][2] == "-3"
    assert "Excel sheet '评论'" in table.description
    other = read_table(path, sheet="other")
    assert frame_rows(other) == [["第二个表"]]
    with pytest.raises(TableError, match=r"no sheet 'missing'; its sheets are: 评论, other"):
        read_table(path, sheet="missing")


def test_workbook_renamed_csv_still_reads(tmp_path):
    path = make_workbook(tmp_path / "book.xlsx")
    renamed = tmp_path / "book.csv"
    path.rename(renamed)
    assert read_table(renamed).sheet == "评论"


# ---- bad input ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, data, pattern", [
    ("empty.csv", b"", "is empty"),
    ("blank.csv", b"\n\n  \n\r\n", "no rows"),
    ("header.csv", "评论,label\n".encode("gbk"), r"header \(评论, label\) but no rows"),
    ("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "PNG image, not a table"),
    ("binary.csv", bytes(range(256)) * 8, "binary file, not a table"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "old .xls"),
    ("fake.xlsx", b"PK\x03\x04" + b"\x00" * 100, "not a readable Excel workbook"),
])
def test_bad_files_get_one_clear_line(tmp_path, name, data, pattern):
    with pytest.raises(TableError, match=pattern) as info:
        read_table(write_bytes(tmp_path / name, data))
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(TableError, match="no such file"):
        read_table(tmp_path / "nope.csv")


def test_limits(tmp_path):
    rows = [["text"]] + [[t] for t in SIMPLIFIED]
    path = write_bytes(tmp_path / "a.csv", rows_text(rows).encode("utf-8"))
    with pytest.raises(TableError, match=r"more than 10 rows, the limit"):
        read_table(path, max_rows=10)
    assert read_table(path, max_rows=24).rows == 24
    with pytest.raises(TableError, match=r"MB, over the .* MB limit"):
        read_table(path, max_bytes=100)
    many = write_bytes(tmp_path / "b.csv", ("text\n" + "好\n" * 5000).encode("utf-8"))
    with pytest.raises(TableError, match="more than 1,000 rows"):
        read_table(many, max_rows=1000)


# ---- classifying --------------------------------------------------------------------------------------

def test_classify_keeps_order_and_skips_blank_cells():
    texts = ["很好", "", "太差了", "   ", "好好好", "差"] * 5
    frame = pd.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts}, dtype=str)
    table = LoadedTable(frame=frame, encoding="utf-8", delimiter=",", has_header=True, text_column="text",
                        label_column=None, columns=["id", "text"])
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
    table = LoadedTable(frame=frame, encoding=None, delimiter=None, has_header=True, text_column="text",
                        label_column=None, columns=["text"])

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
    table = LoadedTable(frame=frame, encoding=None, delimiter=None, has_header=True, text_column="text",
                        label_column="sentiment", columns=["text", "sentiment"])
    result = classify_table(table, FakeClassifier())
    assert result["sentiment"].tolist() == ["正面", "负面"]  # the input column is kept as it was
    assert result["sentiment_2"].tolist() == ["正面", "负面"]
    summary = summarize(result, LABELS, label_column="sentiment")
    assert summary.accuracy == 1.0


def test_classify_with_the_real_tiny_model(full_model_dir, tmp_path):
    from sentiment_app.config import AppConfig
    from sentiment_app.loading import load_classifier

    classifier = load_classifier(AppConfig(model=str(full_model_dir)))
    rows = [["评论", "label"]] + [[t, str(l)] for t, l in tiny.REVIEWS] + [["", "1"]]
    table = read_table(write_bytes(tmp_path / "a.csv", rows_text(rows).encode("gbk")))
    result = classify_table(table, classifier, chunk_size=7)
    direct = classifier.predict([t for t, _ in tiny.REVIEWS])
    assert result["sentiment"].tolist()[:-1] == [p.label for p in direct]
    np.testing.assert_allclose(result["prob_正面"].to_numpy()[:-1], [p.probabilities["正面"] for p in direct],
                               rtol=1e-5)
    assert result["sentiment"].iloc[-1] == "" and math.isnan(result["confidence"].iloc[-1])


# ---- writing ---------------------------------------------------------------------------------------------

def test_escape_formulas():
    cells = ["=1+1", "+86 138", "-x", "@SUM(A1)", "\t=1", "\rx", "\nx", "＝1", "＋1", "－1", "＠a",
             "-5", "+3.2", "-1e5", "普通", "a=b", "", "'=already"]
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
        ["1", "=HYPERLINK(\"http://evil\",\"点我\")", "-5", "1"],
        ["2", "第一行\n第二行，\"引号\"", "+86 138 0000", "0"],
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
    assert raw.startswith(b"\xef\xbb\xbf") and "第一行".encode("utf-8") in raw
    back = pd.read_csv(target, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(back.columns) == rows[0] + ["sentiment", "confidence", "prob_负面", "prob_正面"]
    for original, written in zip(rows[1:], back.astype(object).values.tolist()):
        assert written[:4] == [escaped(c) for c in original]
    assert not back.map(lambda v: v.startswith(FORMULA_TRIGGERS) and escaped(v) != v).any().any()
    assert back.loc[2, "sentiment"] == "" and back.loc[2, "confidence"] == ""
    assert [float(v) for v in back.loc[[0, 1, 3, 4, 5], "confidence"]] == pytest.approx(
        result.loc[[0, 1, 3, 4, 5], "confidence"].tolist())
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
    csv_back = pd.read_csv(write_csv(frame, tmp_path / "out.csv"), encoding="utf-8-sig", dtype=str,
                           keep_default_na=False)
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


# ---- summary ---------------------------------------------------------------------------------------------

def test_map_gold_labels():
    mapping = map_gold_labels(["0", "1", "1.0", "正面", "negative", "好评", "差评", "POS", "2", "中性", "", "负面"],
                              LABELS)
    assert mapping == {"0": "负面", "1": "正面", "1.0": "正面", "正面": "正面", "negative": "负面", "好评": "正面",
                       "差评": "负面", "POS": "正面", "负面": "负面"}
    assert map_gold_labels(["positive", "neg"], ["negative", "positive"]) == {"positive": "positive",
                                                                          "neg": "negative"}


def test_summary_counts_metrics_and_unmapped_labels():
    predicted = ["正面", "负面", "正面", "", "负面", "正面", "正面"]
    confidence = [0.9, 0.55, 0.7, np.nan, 0.99, 0.6, 0.8]
    gold = ["1", "0", "负面", "1", "positive", "unknown", ""]
    frame = pd.DataFrame({"text": list("abcdefg"), "gold": gold, "sentiment": predicted, "confidence": confidence,
                          "prob_负面": [1 - c for c in confidence], "prob_正面": confidence})
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
    frame = pd.DataFrame({"text": ["a"], "gold": ["x"], "sentiment": ["正面"], "confidence": [0.9],
                          "prob_负面": [0.1], "prob_正面": [0.9]})
    summary = summarize(frame, LABELS, label_column="gold")
    assert summary.accuracy is None and "no row" in summary.note
    with pytest.raises(TableError, match="classify it first"):
        summarize(frame[["text"]], LABELS)


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
