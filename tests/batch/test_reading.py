"""Reading: encodings, delimiters, quoting, blank rows, xlsx, bad files and limits."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from sentiment_app.batch import TableError, decode_bytes, read_table
from tests import tiny
from tests.batch.helpers import (
    BASIC,
    HEADER,
    SIMPLIFIED,
    TRADITIONAL,
    frame_rows,
    rows_text,
    write_bytes,
)

# ---- encodings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encoding, expected",
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("utf-16", "utf-16"),  # with BOM, as Excel's "Unicode Text"
        ("utf-16-le", "utf-16-le"),  # without BOM
        ("utf-16-be", "utf-16-be"),
        ("utf-32", "utf-32"),
        ("gbk", "gb18030"),
        ("gb18030", "gb18030"),
    ],
)
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
    lines = [f"{i},{SIMPLIFIED[i]}".encode() for i in range(10)]
    lines[6] = lines[6][:-4] + b"\xff" + lines[6][-3:]
    path = write_bytes(tmp_path / "broken.csv", b"id,text\n" + b"\n".join(lines) + b"\n")
    with pytest.raises(TableError, match=r"line 8 is not valid UTF-8") as info:
        read_table(path)
    assert "\n" not in str(info.value)


def test_undecodable_bytes_name_the_line(tmp_path):
    data = "text\n好\n".encode() + b"\x80\x80\x80 \xff\xfe\n"
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


@pytest.mark.parametrize(
    "delimiter, suffix", [(",", ".csv"), ("\t", ".tsv"), ("\t", ".txt"), (";", ".csv"), ("|", ".txt"), (";", ".txt")]
)
def test_delimiters(tmp_path, delimiter, suffix):
    rows = [HEADER] + [[i, f"{t}，含,逗号;和|竖线" if delimiter != "," else t, y] for i, t, y in BASIC[:6]]
    text = rows_text(rows, delimiter)
    table = read_table(write_bytes(tmp_path / f"data{suffix}", text.encode("utf-8")))
    assert table.delimiter == delimiter
    assert frame_rows(table) == rows[1:]


def test_quoted_cells_with_newlines_quotes_and_delimiters(tmp_path):
    rows = [
        ["text", "label"],
        ["第一行\n第二行，很好", "1"],
        ['他说"不错"，但是, 价格贵', "0"],
        ["\r\n前后换行\n", "1"],
        ['"整格引号"', "0"],
    ]
    for newline in ("\r\n", "\n", "\r"):
        # csv.writer quotes a cell with "\n" only when "\n" is in its line terminator: quote all for "\r".
        quoting = csv.QUOTE_ALL if newline == "\r" else csv.QUOTE_MINIMAL
        text = rows_text(rows, newline=newline, quoting=quoting)
        table = read_table(write_bytes(tmp_path / "q.csv", text.encode("utf-8")))
        assert frame_rows(table) == rows[1:]


def test_unclosed_quote_is_an_error_with_its_line(tmp_path):
    data = 'id,text\n1,好\n2,"没有结束\n3,差\n4,一般\n'.encode()
    with pytest.raises(TableError, match=r"line 3 .*quote"):
        read_table(write_bytes(tmp_path / "a.csv", data))


def test_quotes_in_one_column_text_files_are_kept_as_written(tmp_path):
    lines = ['"好"吃，推荐', "一般", '他说"差"']
    table = read_table(write_bytes(tmp_path / "a.txt", "\n".join(lines).encode("utf-8")))
    assert frame_rows(table) == [[line] for line in lines]
    assert table.delimiter is None and not table.has_header


def test_blank_rows_kept_inside_dropped_at_the_edges(tmp_path):
    text = "\n\ntext,label\n好,1\n\n,\n差,0\n  ,1\n\n\n"
    table = read_table(write_bytes(tmp_path / "a.csv", text.encode("utf-8")))
    assert frame_rows(table) == [["好", "1"], ["", ""], ["", ""], ["差", "0"], ["  ", "1"]]


def test_ragged_rows_padded_and_extra_cells_kept(tmp_path):
    text = "id,text\n1,好\n2\n3,还行,多出来的,两格\n4,差\n"
    table = read_table(write_bytes(tmp_path / "a.csv", text.encode("utf-8")))
    assert table.columns == ["id", "text", "column_3", "column_4"]
    assert frame_rows(table) == [
        ["1", "好", "", ""],
        ["2", "", "", ""],
        ["3", "还行", "多出来的", "两格"],
        ["4", "差", "", ""],
    ]
    assert any("more cells than the header" in w for w in table.warnings)


def test_duplicate_and_empty_header_names_become_unique(tmp_path):
    table = read_table(write_bytes(tmp_path / "a.csv", "text,,text\n好,x,y\n".encode()))
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
    first.append([6, '=HYPERLINK("http://x")', -3, None, 1])
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


@pytest.mark.parametrize(
    "name, data, pattern",
    [
        ("empty.csv", b"", "is empty"),
        ("blank.csv", b"\n\n  \n\r\n", "no rows"),
        ("header.csv", "评论,label\n".encode("gbk"), r"header \(评论, label\) but no rows"),
        ("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "PNG image, not a table"),
        ("binary.csv", bytes(range(256)) * 8, "binary file, not a table"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "old .xls"),
        ("fake.xlsx", b"PK\x03\x04" + b"\x00" * 100, "not a readable Excel workbook"),
    ],
)
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
