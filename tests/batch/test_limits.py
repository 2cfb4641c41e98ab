"""Hostile files are refused quickly with a message naming the limit; budgets stop jobs that run too long.

Every hostile file is built here: zip bombs are written as streams (zeros in chunks through
zipfile), so the test files stay a few hundred KB. Timeouts on the tests are hang guards for the
old behaviour (minutes to hours), not timings.
"""

from __future__ import annotations

import io
import time
import zipfile

import openpyxl
import pandas as pd
import pytest

from sentiment_app.batch import (
    Budget,
    BudgetExceeded,
    JobCancelled,
    LimitExceeded,
    LoadedTable,
    ReadLimits,
    TableError,
    classify_table,
    read_table,
    run_batch,
)
from sentiment_app.batch.columns import header_names
from sentiment_app.batch.limits import (
    MAX_BLANK_RUN,
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_XLSX_UNCOMPRESSED,
)
from tests.batch.helpers import SIMPLIFIED, FakeClassifier, write_bytes

pytestmark = pytest.mark.timeout(60)

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def workbook_bytes() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["评论", "label"])
    for text in SIMPLIFIED[:3]:
        sheet.append([text, 1])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def rewrite(data: bytes, parts: dict[str, object], extra: int = 0) -> bytes:
    """A copy of the workbook zip with some parts replaced: bytes, or a function writing into the open part."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename not in parts:
                dst.writestr(info, src.read(info.filename))
        for name, content in parts.items():
            if callable(content):
                with dst.open(name, "w", force_zip64=True) as handle:
                    content(handle)
            else:
                dst.writestr(name, content)
        for i in range(extra):
            dst.writestr(f"xl/media/pad{i}.bin", b"")
    return out.getvalue()


def sheet_xml(rows: str, dimension: str = "A1:B4") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{NS}">'
        f'<dimension ref="{dimension}"/><sheetData>{rows}</sheetData></worksheet>'
    ).encode()


def cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def zeros_after(prefix: bytes, size: int):
    def write(handle) -> None:
        handle.write(prefix)
        chunk = b" " * (1 << 20)
        for _ in range(size // len(chunk) + 1):
            handle.write(chunk)

    return write


@pytest.mark.parametrize("part", ["xl/worksheets/sheet1.xml", "xl/sharedStrings.xml"])
def test_xlsx_bombs_are_refused_from_the_zip_directory(tmp_path, part):
    data = rewrite(workbook_bytes(), {part: zeros_after(b"<?xml version='1.0'?>", MAX_XLSX_UNCOMPRESSED)})
    assert len(data) < 2 * 2**20  # a small upload...
    path = write_bytes(tmp_path / "bomb.xlsx", data)
    with pytest.raises(LimitExceeded, match=r"would inflate to \d+ MB, over the limit of 200 MB") as info:
        read_table(path)  # ...refused before anything is inflated
    assert "\n" not in str(info.value)


def test_xlsx_with_too_many_parts_is_refused(tmp_path):
    path = write_bytes(tmp_path / "parts.xlsx", rewrite(workbook_bytes(), {}, extra=30))
    with pytest.raises(LimitExceeded, match=r"workbook of \d+ parts, over the limit of 20"):
        read_table(path, limits=ReadLimits(max_xlsx_entries=20))


def test_declared_huge_range_reads_only_the_cells_present(tmp_path):
    rows = "".join(f'<row r="{i}">{cell(f"A{i}", t)}</row>' for i, t in enumerate(["评论"] + SIMPLIFIED[:3], 1))
    data = rewrite(workbook_bytes(), {"xl/worksheets/sheet1.xml": sheet_xml(rows, "A1:XFD1048576")})
    table = read_table(write_bytes(tmp_path / "declared.xlsx", data))
    assert table.columns == ["评论"] and table.frame["评论"].tolist() == SIMPLIFIED[:3]


def test_styled_empty_rows_far_below_the_data_are_dropped(tmp_path):
    rows = "".join(f'<row r="{i}">{cell(f"A{i}", t)}</row>' for i, t in enumerate(["评论"] + SIMPLIFIED[:3], 1))
    rows += '<row r="1048576"><c r="A1048576" s="1"/></row>'
    data = rewrite(workbook_bytes(), {"xl/worksheets/sheet1.xml": sheet_xml(rows, "A1:A1048576")})
    assert read_table(write_bytes(tmp_path / "styled.xlsx", data)).rows == 3


def test_data_after_a_million_blank_rows_is_refused(tmp_path):
    rows = f'<row r="1">{cell("A1", "评论")}</row><row r="2">{cell("A2", "好")}</row>'
    rows += f'<row r="1048576">{cell("A1048576", "差")}</row>'
    data = rewrite(workbook_bytes(), {"xl/worksheets/sheet1.xml": sheet_xml(rows)})
    with pytest.raises(LimitExceeded, match=rf"row 1,048,576 has data after more than {MAX_BLANK_RUN:,} blank rows"):
        read_table(write_bytes(tmp_path / "gap.xlsx", data))


def test_xlsx_cell_beyond_the_column_limit_is_refused(tmp_path):
    rows = f'<row r="1">{cell("A1", "评论")}{cell("XFD1", "x")}</row><row r="2">{cell("A2", "好")}</row>'
    data = rewrite(workbook_bytes(), {"xl/worksheets/sheet1.xml": sheet_xml(rows)})
    with pytest.raises(LimitExceeded, match=rf"row 1 has 16,384 cells, over the limit of {MAX_COLUMNS:,} columns"):
        read_table(write_bytes(tmp_path / "wide.xlsx", data))


def test_csv_row_of_a_million_cells_is_refused(tmp_path):
    path = write_bytes(tmp_path / "wide.csv", ("评论" + ",x" * 1_000_000 + "\n好\n").encode("utf-8"))
    with pytest.raises(LimitExceeded, match=rf"line 1 has 1,000,001 cells, over the limit of {MAX_COLUMNS:,}"):
        read_table(path)


def test_widest_allowed_file_reads_and_names_stay_unique(tmp_path):
    header = ["评论"] * MAX_COLUMNS
    text = ",".join(header) + "\n" + "\n".join(",".join([t] * MAX_COLUMNS) for t in SIMPLIFIED[:5]) + "\n"
    table = read_table(write_bytes(tmp_path / "wide.csv", text.encode("utf-8")))
    assert len(table.columns) == MAX_COLUMNS == len(set(table.columns)) and table.text_column == "评论"
    assert header_names(["a", "a_2", "a", ""], 5) == ["a", "a_2", "a_3", "column_4", "column_5"]


@pytest.mark.parametrize("suffix", [".csv", ".txt"])
def test_cell_over_the_length_limit_is_refused(tmp_path, suffix):
    path = write_bytes(tmp_path / f"long{suffix}", ("评论\n好\n" + "很" * (MAX_CELL_CHARS + 1) + "\n").encode("utf-8"))
    with pytest.raises(LimitExceeded, match=rf"line 3 has a cell of {MAX_CELL_CHARS + 1:,} characters"):
        read_table(path)


def test_xlsx_cell_over_the_length_limit_is_refused(tmp_path):
    rows = f'<row r="1">{cell("A1", "评论")}</row><row r="2">{cell("A2", "好" * 50)}</row>'
    data = rewrite(workbook_bytes(), {"xl/worksheets/sheet1.xml": sheet_xml(rows)})
    with pytest.raises(LimitExceeded, match="row 2 has a cell of 50 characters, over the limit of 10"):
        read_table(write_bytes(tmp_path / "long.xlsx", data), limits=ReadLimits(max_cell_chars=10))


def test_a_file_of_newlines_is_empty_and_data_after_them_is_refused(tmp_path):
    blank = write_bytes(tmp_path / "blank.csv", b"\n" * (5 * 2**20))
    with pytest.raises(TableError, match="no rows, only blank lines"):
        read_table(blank)
    late = write_bytes(tmp_path / "late.csv", b"text\n" + b"\n" * (MAX_BLANK_RUN + 1) + "好\n".encode())
    with pytest.raises(LimitExceeded, match=rf"line 1 is followed by more than {MAX_BLANK_RUN:,} blank rows"):
        read_table(late)
    rows = b"a,b\n1,2\n" + b" , \r\n" * (MAX_BLANK_RUN + 1) + b"3,4\n"  # blank rows that hold delimiters
    with pytest.raises(LimitExceeded, match=rf"line 2 is followed by more than {MAX_BLANK_RUN:,} blank rows"):
        read_table(write_bytes(tmp_path / "commas.csv", rows))
    edges = b",,\n" * 300_000 + b"a,b\n,2\n" + b",,\n" * 300_000
    table = read_table(write_bytes(tmp_path / "edges.csv", edges))
    assert table.columns == ["a", "b"] and table.frame.values.tolist() == [["", "2"]]


# ---- budgets ---------------------------------------------------------------------------------------


def table_of(n: int) -> LoadedTable:
    frame = pd.DataFrame({"text": [f"第{i}条很好" for i in range(n)]}, dtype=str)
    return LoadedTable.in_memory(frame, "text")


class SlowClassifier(FakeClassifier):
    def __init__(self, delay: float, grow_bytes: int = 0) -> None:
        super().__init__()
        self.delay, self.grow_bytes, self.kept = delay, grow_bytes, []

    def predict(self, texts):
        time.sleep(self.delay)
        if self.grow_bytes:
            self.kept.append(bytearray(self.grow_bytes))  # touched pages: resident memory grows
            self.kept[-1][::4096] = b"\x01" * len(self.kept[-1][::4096])
        return super().predict(texts)


def test_reading_past_its_time_is_stopped(tmp_path):
    path = write_bytes(tmp_path / "a.csv", ("text\n" + "好\n" * 5000).encode("utf-8"))
    with pytest.raises(BudgetExceeded, match=r"reading the file ran longer than its time limit of 0 s"):
        read_table(path, budget=Budget(seconds=0.0, what="reading the file", setting=None))


def test_a_job_past_its_time_is_stopped_and_writes_nothing(tmp_path):
    slow = SlowClassifier(0.05)
    with pytest.raises(BudgetExceeded, match=r"time limit of 0 s \(SENTIMENT_JOB_TIMEOUT\)"):
        run_batch(table_of(100), slow, output_dir=tmp_path, chunk_size=10, budget=Budget(seconds=0.3))
    assert 1 <= len(slow.calls) < 10 and list(tmp_path.iterdir()) == []


def test_a_job_over_its_memory_budget_is_stopped(tmp_path):
    hungry = SlowClassifier(0.0, grow_bytes=8 * 2**20)
    with pytest.raises(BudgetExceeded, match=r"memory limit of 20 MB \(SENTIMENT_JOB_MEMORY_MB\)"):
        classify_table(table_of(200), hungry, chunk_size=10, budget=Budget(memory_bytes=20 * 2**20))
    assert len(hungry.calls) < 20


def test_a_cancelled_job_stops_before_its_next_chunk(tmp_path):
    budget = Budget()
    fake = FakeClassifier()

    def cancel_after_two(done: int, total: int) -> None:
        if done >= 20:
            budget.cancel()

    with pytest.raises(JobCancelled):
        classify_table(table_of(100), fake, chunk_size=10, budget=budget, progress=cancel_after_two)
    assert len(fake.calls) == 2
