"""Header, text column and label column detection, and choosing columns by hand."""

from __future__ import annotations

import pytest

from sentiment_app.batch import TableError, read_table
from tests import tiny
from tests.batch.helpers import (
    SIMPLIFIED,
    frame_rows,
    rows_text,
    write_bytes,
)


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


@pytest.mark.parametrize(
    "first, is_header",
    [
        ("用户评价", True),
        ("买家留言", True),
        ("评论内容", True),
        ("Review Text", True),
        ("评论", True),
        ("商品不错", False),
        ("内容很好", False),
        ("很好", False),
        ("评论区的人说得对，质量很好", False),
    ],
)
def test_header_of_a_one_column_file(tmp_path, first, is_header):
    path = write_bytes(tmp_path / "a.csv", "\n".join([first] + SIMPLIFIED[:5]).encode("utf-8"))
    table = read_table(path)
    assert table.has_header is is_header
    assert table.rows == 5 + (not is_header)


def test_header_over_numbers_without_known_names(tmp_path):
    rows = [["编码", "买家说"], ["1", "很好"], ["2", "很差"]]
    table = read_table(write_bytes(tmp_path / "a.csv", rows_text(rows).encode("utf-8")))
    assert table.has_header and table.columns == ["编码", "买家说"] and table.text_column == "买家说"


# ---- columns ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "text",
        "Review",
        "comment",
        "content",
        "评论",
        "内容",
        "文本",
        "评价",
        "留言",
        "text_a",
        "评论内容",
        "Review Text",
    ],
)
def test_text_column_found_by_name(tmp_path, name):
    rows = [["标题", name, "备注"]] + [
        ["标题很长很长很长很长很长很长", t, "中文备注中文备注中文备注中文备注"] for t in SIMPLIFIED[:3]
    ]
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


# (rows as written, has header, text column, label column): one line per shape exports come in
COLUMN_CASES = [
    ([["评论", "标签"], ["很好", "1"], ["很差", "0"]], True, "评论", "标签"),
    ([["id", "review", "label"], ["1", "很好", "正面"], ["2", "很差", "负面"]], True, "review", "label"),
    ([["用户", "评价内容", "情感倾向"], ["a", "很好", "正面"]], True, "评价内容", "情感倾向"),
    ([["編號", "評論", "標籤"], ["1", "很好", "1"], ["2", "很差", "0"]], True, "評論", "標籤"),
    ([["1", "很好"], ["0", "很差"], ["1", "不错"]], False, "column_2", "column_1"),
    ([["很好", "正面"], ["很差", "负面"], ["不错", "正面"]], False, "column_1", "column_2"),
    ([["a", "b"], ["x1", "房间干净"], ["x2", "服务很差"]], True, "b", None),
    # unknown English names over English text: no evidence of a header, so the first row is data
    ([["sku", "note"], ["A1", "fast delivery, good"], ["B2", "broken on arrival"]], False, "column_2", None),
    ([["评论", "sentiment", "confidence"], ["很好", "正面", "0.9"]], True, "评论", None),  # this app's output
    ([["text", "sentiment"], ["很好", "正面"], ["很差", "负面"]], True, "text", "sentiment"),  # gold, not output
]


@pytest.mark.parametrize("rows, has_header, text, label", COLUMN_CASES)
def test_column_heuristics(tmp_path, rows, has_header, text, label):
    table = read_table(write_bytes(tmp_path / "a.csv", rows_text(rows).encode("utf-8")))
    assert (table.has_header, table.text_column, table.label_column) == (has_header, text, label)
