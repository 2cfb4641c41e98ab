"""Reading the files Chinese users really export: CSV/TSV/TXT in any common encoding and delimiter, or XLSX.

``read_table(path, ...) -> LoadedTable``: the format is decided by the bytes, not the file name
(a workbook renamed .csv still reads). ``header=None`` detects a header row; True/False forces
it. Every cell is kept as the exact string in the file (``dtype=str``, no NA parsing); only
U+FEFF byte-order marks, which are encoding debris, are removed. Blank lines at the start and end
are dropped; blank rows between data rows are kept as rows of empty cells so output rows line
up with input rows. Rows with fewer cells are padded with ""; extra cells go to extra columns
``column_<n>`` (with a warning).

Reading is bounded before it allocates (see :mod:`.limits`): the file size before it is read,
the cells per row, the cell length and the rows while parsing, the zip directory of a workbook
before anything is inflated, and the clock and the cancel flag every few thousand rows.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from . import columns as cols
from .decoding import ENCODING_NAMES, GUESSABLE_ENCODINGS, bom_encoding, decode_bytes, utf16_without_bom
from .errors import LimitExceeded, TableError
from .limits import READ_TIMEOUT_S, Budget, ReadLimits
from .rows import RowCollector, too_many_rows
from .xlsx import read_xlsx_rows

DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
SNIFF_CHARS = 65_536  # the delimiter is chosen from the first 64 K characters...
SNIFF_ROWS = 200  # ...and at most this many rows of them
BINARY_MAGIC = (
    (b"%PDF", "a PDF"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7z archive"),
    (b"SQLite format", "a SQLite database"),
)

_KEEP: Any = object()


@dataclass(frozen=True)
class LoadedTable:
    """A table read from a file: every cell as the exact string in the file, plus how it was read."""

    frame: pd.DataFrame
    encoding: str | None
    delimiter: str | None
    has_header: bool
    text_column: str
    label_column: str | None
    columns: list[str]
    source_name: str = ""
    sheet: str | None = None
    warnings: tuple[str, ...] = field(default=())

    @classmethod
    def in_memory(cls, frame: pd.DataFrame, text_column: str, label_column: str | None = None) -> LoadedTable:
        """A table that is already a frame (a Ray batch, a test's rows): its columns as given, no file."""
        return cls(
            frame=frame,
            encoding=None,
            delimiter=None,
            has_header=True,
            text_column=text_column,
            label_column=label_column,
            columns=list(frame.columns),
        )

    @property
    def rows(self) -> int:
        return len(self.frame)

    @property
    def description(self) -> str:
        """One line for the UI and the CLI, e.g. "GB18030, comma-separated, header, 1,234 rows"."""
        if self.encoding is None:
            parts = [f"Excel sheet {self.sheet!r}" if self.sheet else "Excel workbook"]
        else:
            guessed = " (guessed)" if self.encoding in GUESSABLE_ENCODINGS else ""
            parts = [ENCODING_NAMES.get(self.encoding, self.encoding) + guessed]
            if self.delimiter is None:
                parts.append("one column")
            else:
                parts.append(f"{DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))}-separated")
        parts.append("header" if self.has_header else "no header")
        parts.append(f"{self.rows:,} row" + ("" if self.rows == 1 else "s"))
        line = ", ".join(parts) + f"; text column {self.text_column!r}"
        if self.label_column:
            line += f", label column {self.label_column!r}"
        return line

    def with_columns(self, text_column: str | None = None, label_column: str | None = _KEEP) -> LoadedTable:
        """The same table with another text and/or label column, without reading the file again.

        ``text_column=None`` keeps the text column; ``label_column`` left out keeps the label column
        (dropped if it becomes the text column), ``None`` or "" removes it. Names are matched exactly,
        then ignoring case and spaces; a 1-based number picks by position. Unknown names raise
        :class:`TableError` listing the columns.
        """
        text = self.text_column if text_column is None else cols.resolve_column(text_column, self.columns, "text")
        if label_column is _KEEP:
            label = self.label_column if self.label_column != text else None
        elif label_column is None or label_column == "":
            label = None
        else:
            label = cols.resolve_column(label_column, self.columns, "label")
        if label is not None and label == text:
            raise TableError(f"the text and label columns are both {text!r}: choose two different columns")
        return replace(self, text_column=text, label_column=label)


def read_table(
    path: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    sheet: str | None = None,
    header: bool | None = None,
    max_bytes: int | None = None,
    max_rows: int | None = None,
    limits: ReadLimits | None = None,
    budget: Budget | None = None,
) -> LoadedTable:
    """Read a CSV/TSV/TXT/XLSX file of texts, whatever its encoding, delimiter and header.

    ``max_bytes``/``max_rows`` override those two of ``limits``. ``budget`` bounds the time
    (default :data:`READ_TIMEOUT_S`) and carries the cancel flag. Raises :class:`TableError` for
    anything the user must fix (empty, binary, undecodable, too big, no rows, unknown column),
    before any model call.
    """
    limits = limits or ReadLimits()
    if max_bytes is not None or max_rows is not None:
        limits = replace(
            limits,
            max_bytes=limits.max_bytes if max_bytes is None else max_bytes,
            max_rows=limits.max_rows if max_rows is None else max_rows,
        )
    budget = budget or Budget(seconds=READ_TIMEOUT_S, what="reading the file", setting=None)
    file = Path(path)
    name = file.name
    data = _read_bytes(file, name, limits.max_bytes)
    warnings: list[str] = []
    kind = content_kind(data)
    if kind == "xlsx":
        rows, sheet_name = read_xlsx_rows(data, name, sheet, limits, budget)
        encoding = delimiter = None
    else:
        if kind != "text":
            raise TableError(f"{name} is {kind}, not a table: save it as .xlsx or as CSV UTF-8 (不支持的文件格式)")
        if sheet is not None:
            raise TableError(f"a sheet ({sheet!r}) was given but {name} is a text file, not an Excel workbook")
        encoding, text = decode_bytes(data, name)
        del data
        text = text.replace("\ufeff", "")
        suffix = file.suffix.lower()
        delimiter = sniff_delimiter(text, prefer="," if suffix == ".csv" else "\t")
        rows, note = _parse_text(
            text, delimiter, literal_lines=suffix == ".txt", name=name, limits=limits, budget=budget
        )
        if note:
            warnings.append(note)
        sheet_name = None
    budget.check()
    if not rows:
        raise TableError(f"{name} has no rows, only blank lines (没有数据)")
    has_header = cols.looks_like_header(rows) if header is None else bool(header)
    width = max(len(row) for row in rows)
    if has_header:
        names = cols.header_names(rows[0], width)
        body = rows[1:]
    else:
        names = [f"column_{i + 1}" for i in range(width)]
        body = rows
    if not body:
        raise TableError(f"{name} has a header ({', '.join(names)}) but no rows below it (只有表头)")
    if len(body) > limits.max_rows:
        raise LimitExceeded(too_many_rows(name, limits.max_rows))
    header_width = len(rows[0]) if has_header else width
    long_rows = [i for i, row in enumerate(body) if len(row) > header_width]
    if has_header and long_rows:
        warnings.append(
            f"{len(long_rows):,} rows have more cells than the header (first: data row "
            f"{long_rows[0] + 1}); the extra cells are in {', '.join(names[header_width:])}"
        )
    frame = _frame(body, names)
    budget.check()
    text_name = cols.resolve_column(text_column, names, "text") if text_column else None
    label = (
        cols.resolve_column(label_column, names, "label")
        if label_column
        else cols.detect_label_column(frame, names, has_header, exclude=text_name)
    )
    if text_name is None:
        text_name = cols.detect_text_column(frame, names, exclude=label)
    if label == text_name:
        if label_column:
            raise TableError(f"the text and label columns are both {text_name!r}: choose two different columns")
        label = None
    return LoadedTable(
        frame=frame,
        encoding=encoding,
        delimiter=delimiter,
        has_header=has_header,
        text_column=text_name,
        label_column=label,
        columns=list(names),
        source_name=name,
        sheet=sheet_name,
        warnings=tuple(warnings),
    )


def _read_bytes(file: Path, name: str, max_bytes: int) -> bytes:
    """The whole file, refused before reading when it is over ``max_bytes`` (and never more than that read)."""
    if file.is_dir():
        raise TableError(f"{name} is a folder: choose a .csv, .tsv, .txt or .xlsx file")
    if not file.is_file():
        raise TableError(f"{name}: no such file")
    size = file.stat().st_size
    if size > max_bytes:
        raise LimitExceeded(_too_big(name, size, max_bytes))
    if size == 0:
        raise TableError(f"{name} is empty: export the comments again (文件为空)")
    with open(file, "rb") as handle:
        data = handle.read(max_bytes + 1)  # a file that grew since stat() is still bounded
    if len(data) > max_bytes:
        raise LimitExceeded(_too_big(name, len(data), max_bytes))
    return data


def _too_big(name: str, size: int, max_bytes: int) -> str:
    return (
        f"{name} is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:g} MB limit: "
        "split it into smaller files (文件过大)"
    )


def _frame(body: list[list[str]], names: list[str]) -> pd.DataFrame:
    width = len(names)
    padded = [row + [""] * (width - len(row)) if len(row) < width else row for row in body]
    return pd.DataFrame(padded, columns=names, dtype=str)


def content_kind(data: bytes) -> str:
    """'xlsx', 'text', or a phrase naming the binary format."""
    head = data[:8]
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "an old .xls or password-protected Excel file"
    for magic, what in BINARY_MAGIC:
        if head.startswith(magic):
            return what
    if bom_encoding(data) is None and b"\x00" in data[:8192] and utf16_without_bom(data) is None:
        return "a binary file"
    return "text"


# ---- delimited text ---------------------------------------------------------------------------


def sniff_delimiter(text: str, *, prefer: str = "\t") -> str | None:
    """The delimiter (comma, tab, semicolon, pipe) that splits the first rows most consistently.

    None when no candidate gives at least two cells on most rows: a one-column file. Ties go to
    ``prefer`` (comma for .csv files; tab otherwise, as Chinese text rarely holds a tab).
    """
    skipped = len(text) - len(text.lstrip(" \t\r\n" + "".join(DELIMITER_NAMES)))  # blank lines and empty rows
    start = max(text.rfind("\n", 0, skipped), text.rfind("\r", 0, skipped)) + 1
    sample = text[start : start + SNIFF_CHARS]
    truncated = len(text) - start > len(sample)
    order = (prefer,) + tuple(d for d in DELIMITER_NAMES if d != prefer)
    best: tuple[float, str | None] = (0.0, None)
    for delimiter in order:
        counts = _field_counts(sample, delimiter, truncated)
        if not counts:
            continue
        tally: dict[int, int] = {}
        for n in counts:
            tally[n] = tally.get(n, 0) + 1
        mode = max(tally, key=lambda n: (tally[n], n))
        if mode < 2:
            continue
        consistency = tally[mode] / len(counts)
        if consistency >= 0.5 and consistency > best[0]:
            best = (consistency, delimiter)
    return best[1]


def _field_counts(sample: str, delimiter: str, truncated: bool) -> list[int]:
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
    counts: list[int] = []
    try:
        for row in reader:
            if row and any(cell.strip() for cell in row):
                counts.append(len(row))
            if len(counts) >= SNIFF_ROWS:
                break
    except csv.Error:
        pass
    if truncated and len(counts) > 1 and len(counts) < SNIFF_ROWS:
        counts.pop()  # the last record may be cut by the sample
    return counts


def _parse_text(
    text: str, delimiter: str | None, *, literal_lines: bool, name: str, limits: ReadLimits, budget: Budget
) -> tuple[list[list[str]], str | None]:
    """Rows of cells. Quoted cells may hold delimiters, quotes and newlines (RFC 4180)."""
    blank_sep = "" if delimiter is None else delimiter
    text, offset = _trim_blank_edges(text, blank_sep)
    _refuse_long_blank_runs(text, blank_sep, offset, name, limits)
    if delimiter is None and literal_lines:
        return _literal_lines(text, name, limits, budget, offset), None
    sep = delimiter or _unused_char(text)
    _raise_field_limit(len(text))
    try:
        return _csv_rows(text, sep, csv.QUOTE_MINIMAL, name, limits, budget, offset), None
    except csv.Error as exc:
        line = exc.args[1] if len(exc.args) > 1 else 0
        if delimiter in (None, "\t"):
            # Tab and one-column files often carry quotes as plain characters: read them as written.
            rows = (
                _literal_lines(text, name, limits, budget, offset)
                if delimiter is None
                else _csv_rows(text, sep, csv.QUOTE_NONE, name, limits, budget, offset)
            )
            return rows, f"quotes are kept as written (line {line} has a quote that does not close a cell)"
        raise TableError(
            f"{name}: line {line} has a quoted cell that is not closed properly "
            f"({exc.args[0]}): fix the quotes near that line (引号不匹配)"
        ) from None


def _trim_blank_edges(text: str, sep: str) -> tuple[str, int]:
    """``text`` without the blank lines (only spaces, tabs, delimiters) at its start and end, which are
    dropped anyway, and how many lines were cut at the start. At C speed (``str.strip``), so a file of
    50 MB of newlines or empty rows costs nothing to refuse; the lines kept keep every character."""
    blank = " \t\r\n" + sep
    body = text.lstrip(blank)
    start = len(text) - len(body)
    cut = max(text.rfind("\n", 0, start), text.rfind("\r", 0, start)) + 1  # the first line stays whole
    body_end = len(text.rstrip(blank))
    ends = [i for i in (text.find("\n", body_end), text.find("\r", body_end)) if i >= 0]
    end = min(ends) if ends else len(text)
    return text[cut:end], text.count("\n", 0, cut) or text.count("\r", 0, cut)


def _refuse_long_blank_runs(text: str, sep: str, offset: int, name: str, limits: ReadLimits) -> None:
    """Data after more than ``max_blank_run`` blank lines, found by one substring search before parsing.

    Blank lines may hold spaces and delimiters (``,,,``), so the search runs over a copy without
    those (and without ``\r``); the text was trimmed, so whatever follows a run is data.
    """
    squeezed = text
    for char in " \t\r" + sep:  # str.replace: C speed for any text (translate is slow on non-ASCII)
        squeezed = squeezed.replace(char, "")
    found = squeezed.find("\n" * (limits.max_blank_run + 1))
    if found >= 0:
        line = offset + squeezed.count("\n", 0, found) + 1
        raise LimitExceeded(
            f"{name}: line {line:,} is followed by more than {limits.max_blank_run:,} blank rows "
            "in a row and then more data, over the limit: delete the blank rows or split the file "
            "(空行过多)"
        )


def _csv_rows(
    text: str, sep: str, quoting: int, name: str, limits: ReadLimits, budget: Budget, offset: int = 0
) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, quotechar='"', quoting=quoting, strict=True)
    collector = RowCollector(name, limits, budget)
    last_line = offset
    try:
        for row in reader:
            collector.add(row, last_line + 1)
            last_line = offset + reader.line_num
    except csv.Error as exc:
        raise csv.Error(str(exc), last_line + 1) from None
    return collector.rows


def _literal_lines(text: str, name: str, limits: ReadLimits, budget: Budget, offset: int = 0) -> list[list[str]]:
    collector = RowCollector(name, limits, budget)
    for number, match in enumerate(re.finditer(r"([^\r\n]*)(?:\r\n|\r|\n|$)", text), start=offset + 1):
        if match.start() == len(text) and number > offset + 1:
            break
        line = match.group(1)
        collector.add([line] if line else [], number)
    return collector.rows


def _unused_char(text: str) -> str:
    for ch in ("\x1f", "\x1e", "\x1d", "\x1c"):
        if ch not in text:
            return ch
    return "\x00"


def _raise_field_limit(size: int) -> None:
    # csv refuses cells over 128 KiB by default; a single huge review must still read (the
    # collector then holds every cell to the cell limit with a message that names it).
    if csv.field_size_limit() < size:
        csv.field_size_limit(min(max(size, 1 << 20), sys.maxsize))


__all__ = ["DELIMITER_NAMES", "LoadedTable", "content_kind", "read_table", "sniff_delimiter"]
