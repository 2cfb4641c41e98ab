"""Batch tables: read the files Chinese users really export, classify them, write Excel-safe output.

Pure functions shared by the app's batch tab and ``python -m sentiment_app predict``; no gradio.

Public API
----------
``read_table(path, *, text_column=None, label_column=None, sheet=None, header=None,
max_bytes=50 MiB, max_rows=100_000) -> LoadedTable``
    Reads .csv/.tsv/.txt (any delimiter of ``, TAB ; |``; UTF-8 with/without BOM, UTF-16/32 by
    BOM, GB18030/GBK, Big5) or .xlsx (first sheet or ``sheet``). The format is decided by the
    bytes, not the file name (a workbook renamed .csv still reads). ``header=None`` detects a
    header row; True/False forces it. Every cell is kept as the exact string in the file
    (``dtype=str``, no NA parsing); only U+FEFF byte-order marks, which are encoding debris,
    are removed. Blank lines at the start and end are dropped; blank rows between data rows are
    kept as rows of empty cells so output rows line up with input rows. Rows with fewer cells
    are padded with ""; extra cells go to extra columns ``column_<n>`` (with a warning).
``LoadedTable``
    ``frame`` (DataFrame of str), ``encoding`` (Python codec name, None for xlsx),
    ``delimiter`` (None for xlsx or a one-column file), ``has_header``, ``text_column``,
    ``label_column``, ``columns``, ``sheet``, ``warnings``, ``description`` (one line) and
    ``with_columns(text_column=..., label_column=...)`` to change the chosen columns without
    re-reading the file.
``classify_table(table, classifier, *, chunk_size=256, progress=None) -> DataFrame``
    Input columns unchanged, then ``sentiment``, ``confidence``, ``prob_<label>`` per label.
    Blank texts are never sent to the model: their ``sentiment`` is "" and the numbers are NaN
    (an empty cell in CSV and xlsx). ``progress(done, total)`` runs after each chunk and may
    raise to cancel; nothing partial is returned or kept. When an input column already has one
    of those names (re-classifying an output file), the result columns get a suffix ``_2``,
    ``_3``...; see :func:`result_column_names`.
``escape_formulas(frame)``, ``write_csv(frame, path)``, ``write_xlsx(frame, path)``
    OWASP CSV-injection escaping (leading ``'`` on text starting with ``= + - @ TAB CR LF`` or
    full-width ``＝ ＋ － ＠``; plain numbers such as ``-5`` are left alone). CSV is UTF-8 with BOM
    so Excel shows Chinese; xlsx keeps numbers as numbers. Both write a temporary file in the
    target folder and ``os.replace`` it, so the output name never holds a partial file.
``summarize(result_frame, labels, *, label_column=None, least_confident=5, text_column=None)
-> Summary``
    Counts and shares per label, mean confidence, least confident rows and, with a gold label
    column, accuracy, macro F1 and the confusion matrix; see :func:`map_gold_labels` for how
    gold values (0/1, positive/负面/好评...) are matched to the model's labels.
``TableError``
    Every problem a user's file can cause; the message is one line saying what and what to do.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
import re
import secrets
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, Sequence

import numpy as np
import pandas as pd

DEFAULT_MAX_BYTES = 50 * 2**20  # 50 MiB: a large shop export; bigger files belong to the CLI in shards
DEFAULT_MAX_ROWS = 100_000  # about 10 minutes of CPU for a bert-base model; more should be split
DEFAULT_CHUNK_SIZE = 256  # rows per model call: progress every few seconds, memory bounded

DELIMITERS = (",", "\t", ";", "|")
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
# Decoders tried without a BOM, in this order, all strict. GB18030 is a superset of GBK/GB2312;
# CP950 is Big5 with the Microsoft extensions Windows writes.
STRICT_ENCODINGS = ("utf-8", "gb18030", "big5", "cp950")
# What charset-normalizer may propose when none of the above decodes: structured legacy encodings
# only (never latin-1, which "decodes" anything).
GUESSABLE_ENCODINGS = ("big5hkscs", "cp932", "euc_jp", "cp949", "cp1252")
ENCODING_NAMES = {
    "utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "utf-16": "UTF-16", "utf-16-le": "UTF-16 LE",
    "utf-16-be": "UTF-16 BE", "utf-32": "UTF-32", "gb18030": "GB18030", "big5": "Big5", "cp950": "Big5 (CP950)",
}

# Column names, normalised (lower case, no spaces, "_" or "-"). Exact matches win over partial ones.
TEXT_NAMES = ("text", "review", "comment", "content", "评论", "内容", "文本", "评价", "留言", "text_a", "sentence",
              "reviews", "comments", "body", "message", "feedback", "评论内容", "评价内容", "正文", "句子", "反馈",
              "意见", "心得", "回复", "描述",
              # traditional characters, as Big5 files from Taiwan and Hong Kong have them
              "評論", "內容", "評價", "評論內容", "評價內容", "反饋", "意見", "回覆", "描述")
LABEL_NAMES = ("label", "labels", "gold", "target", "class", "sentiment", "polarity", "y", "标签", "类别", "情感",
               "情感倾向", "极性", "分类", "倾向", "标注", "標籤", "類別", "情感傾向", "極性", "分類", "傾向", "標註")
# Other names that only help to recognise a header row.
OTHER_HEADER_NAMES = ("id", "no", "index", "序号", "编号", "时间", "日期", "date", "time", "user", "用户", "用户名",
                      "昵称", "name", "rating", "score", "评分", "星级", "商品", "product", "title", "标题",
                      "編號", "時間", "用戶", "暱稱", "評分", "星級", "標題")

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
XLSX_MAX_CELL = 32_767  # Excel's limit on characters in one cell

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9 _.\-]{0,40}")
_SENTENCE_PUNCT = re.compile(r"[，。！？；、,.!?;]")
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class TableError(ValueError):
    """A file or table the user gave cannot be used; the message is one line with the fix."""


class Classifier(Protocol):
    """What :func:`classify_table` needs: ``SentimentClassifier`` or any object like it."""

    labels: list[str]

    def predict(self, texts: Sequence[str]) -> list[Any]: ...


ProgressCallback = Callable[[int, int], None]

_KEEP: Any = object()


# ==== reading =====================================================================================

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

    def with_columns(self, text_column: str | None = None, label_column: str | None = _KEEP) -> "LoadedTable":
        """The same table with another text and/or label column, without reading the file again.

        ``text_column=None`` keeps the text column; ``label_column`` left out keeps the label column
        (dropped if it becomes the text column), ``None`` or "" removes it. Names are matched exactly,
        then ignoring case and spaces; a 1-based number picks by position. Unknown names raise
        :class:`TableError` listing the columns.
        """
        text = self.text_column if text_column is None else _resolve_column(text_column, self.columns, "text")
        if label_column is _KEEP:
            label = self.label_column if self.label_column != text else None
        elif label_column is None or label_column == "":
            label = None
        else:
            label = _resolve_column(label_column, self.columns, "label")
        if label is not None and label == text:
            raise TableError(f"the text and label columns are both {text!r}: choose two different columns")
        return replace(self, text_column=text, label_column=label)


def read_table(
    path: str | os.PathLike[str],
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    sheet: str | None = None,
    header: bool | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> LoadedTable:
    """Read a CSV/TSV/TXT/XLSX file of texts, whatever its encoding, delimiter and header.

    Raises :class:`TableError` for anything the user must fix (empty, binary, undecodable,
    too big, no rows, unknown column), before any model call.
    """
    file = Path(path)
    name = file.name
    if file.is_dir():
        raise TableError(f"{name} is a folder: choose a .csv, .tsv, .txt or .xlsx file")
    if not file.is_file():
        raise TableError(f"{name}: no such file")
    size = file.stat().st_size
    if size > max_bytes:
        raise TableError(f"{name} is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:g} MB limit: "
                         "split it into smaller files (文件过大)")
    if size == 0:
        raise TableError(f"{name} is empty: export the comments again (文件为空)")
    data = file.read_bytes()
    warnings: list[str] = []
    kind = _content_kind(data)
    if kind == "xlsx":
        rows, sheet_name = _read_xlsx_rows(data, name, sheet, max_rows)
        encoding = delimiter = None
    else:
        if kind != "text":
            raise TableError(f"{name} is {kind}, not a table: save it as .xlsx or as CSV UTF-8 (不支持的文件格式)")
        if sheet is not None:
            raise TableError(f"a sheet ({sheet!r}) was given but {name} is a text file, not an Excel workbook")
        encoding, text = decode_bytes(data, name)
        text = text.replace("\ufeff", "")
        suffix = file.suffix.lower()
        delimiter = sniff_delimiter(text, prefer="," if suffix == ".csv" else "\t")
        rows, note = _parse_text(text, delimiter, literal_lines=suffix == ".txt", name=name, max_rows=max_rows)
        if note:
            warnings.append(note)
        sheet_name = None
    rows = _strip_blank_edges(rows)
    if not rows:
        raise TableError(f"{name} has no rows, only blank lines (没有数据)")
    has_header = _looks_like_header(rows) if header is None else bool(header)
    width = max(len(row) for row in rows)
    if has_header:
        names = _header_names(rows[0], width)
        body = rows[1:]
    else:
        names = [f"column_{i + 1}" for i in range(width)]
        body = rows
    if not body:
        raise TableError(f"{name} has a header ({', '.join(names)}) but no rows below it (只有表头)")
    if len(body) > max_rows:
        raise TableError(_too_many_rows(name, max_rows))
    header_width = len(rows[0]) if has_header else width
    long_rows = [i for i, row in enumerate(body) if len(row) > header_width]
    if has_header and long_rows:
        warnings.append(f"{len(long_rows):,} rows have more cells than the header (first: data row "
                        f"{long_rows[0] + 1}); the extra cells are in {', '.join(names[header_width:])}")
    frame = _frame(body, names)
    text = _resolve_column(text_column, names, "text") if text_column else None
    label = (_resolve_column(label_column, names, "label") if label_column
             else _detect_label_column(frame, names, has_header, exclude=text))
    if text is None:
        text = _detect_text_column(frame, names, exclude=label)
    if label == text:
        if label_column:
            raise TableError(f"the text and label columns are both {text!r}: choose two different columns")
        label = None
    return LoadedTable(frame=frame, encoding=encoding, delimiter=delimiter, has_header=has_header, text_column=text,
                       label_column=label, columns=list(names), source_name=name, sheet=sheet_name,
                       warnings=tuple(warnings))


def _too_many_rows(name: str, max_rows: int) -> str:
    return f"{name} has more than {max_rows:,} rows, the limit: split it into smaller files (行数过多)"


def _frame(body: list[list[str]], names: list[str]) -> pd.DataFrame:
    width = len(names)
    padded = [row + [""] * (width - len(row)) if len(row) < width else row for row in body]
    return pd.DataFrame(padded, columns=names, dtype=str)


def _content_kind(data: bytes) -> str:
    """'xlsx', 'text', or a phrase naming the binary format."""
    head = data[:8]
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "an old .xls or password-protected Excel file"
    for magic, what in ((b"%PDF", "a PDF"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
                        (b"GIF8", "a GIF image"), (b"\x1f\x8b", "a gzip archive"), (b"Rar!", "a RAR archive"),
                        (b"7z\xbc\xaf", "a 7z archive"), (b"SQLite format", "a SQLite database")):
        if head.startswith(magic):
            return what
    if _bom_encoding(data) is None and b"\x00" in data[:8192] and _utf16_without_bom(data) is None:
        return "a binary file"
    return "text"


# ---- encodings --------------------------------------------------------------------------------

def _bom_encoding(data: bytes) -> str | None:
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when NUL bytes sit on one side of each pair, as UTF-16 text has them."""
    sample = data[:8192]
    sample = sample[: len(sample) // 2 * 2]
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    # Every ASCII character (newline, delimiter, digit) puts its NUL on the same side; binary data has both.
    if odd >= 2 and odd >= 20 * even:
        encoding = "utf-16-le"
    elif even >= 2 and even >= 20 * odd:
        encoding = "utf-16-be"
    else:
        return None
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
    except UnicodeDecodeError:
        return None
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n")
    return encoding if controls * 100 <= len(text) else None


def decode_bytes(data: bytes, name: str = "the file") -> tuple[str, str]:
    """Decode ``data`` with the first strict decoder that fits; return (codec name, text).

    Order: BOM (UTF-8/16/32), UTF-16 by NUL pattern, UTF-8, GB18030, Big5/CP950 (Big5 wins over
    GB18030 only when both decode and its characters are clearly more common Chinese), then
    charset-normalizer restricted to a few structured legacy encodings. Never replaces bytes.
    """
    bom = _bom_encoding(data)
    if bom:
        return bom, _strict(data, bom, name)
    utf16 = _utf16_without_bom(data)
    if utf16:
        return utf16, _strict(data, utf16, name)
    failures: dict[str, UnicodeDecodeError] = {}
    decoded: dict[str, str] = {}
    for encoding in STRICT_ENCODINGS:
        if encoding == "cp950" and "big5" in decoded:
            continue
        try:
            decoded[encoding] = data.decode(encoding)
        except UnicodeDecodeError as exc:
            failures[encoding] = exc
            if encoding == "utf-8" and _mostly_utf8(data):
                raise TableError(f"{name}: line {_line_of(data, exc.start)} is not valid UTF-8 although the rest "
                                 f"of the file is (byte 0x{data[exc.start]:02x}): the file is damaged or mixes "
                                 "encodings; fix that line or re-save the file as CSV UTF-8 (编码错误)") from None
            continue
        if encoding == "utf-8":
            return encoding, decoded[encoding]
    big5 = next((e for e in ("big5", "cp950") if e in decoded), None)
    if "gb18030" in decoded and big5:
        if _common_chinese_share(decoded[big5]) > _common_chinese_share(decoded["gb18030"]):
            return big5, decoded[big5]
        return "gb18030", decoded["gb18030"]
    if "gb18030" in decoded:
        return "gb18030", decoded["gb18030"]
    if big5:
        return big5, decoded[big5]
    guessed = _guess_encoding(data)
    if guessed:
        return guessed
    encoding, exc = max(failures.items(), key=lambda item: item[1].start)
    raise TableError(f"{name}: cannot decode line {_line_of(data, exc.start)} (byte 0x{data[exc.start]:02x}) as "
                     "UTF-8, GB18030 or Big5: re-save the file as CSV UTF-8 (Excel: Save As > CSV UTF-8) (无法识别编码)")


def _strict(data: bytes, encoding: str, name: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].decode(encoding, errors="ignore").count("\n") + 1
        pretty = ENCODING_NAMES.get(encoding, encoding)
        raise TableError(f"{name}: line {line} is not valid {pretty} although the file says it is: fix that line "
                         "or re-save the file as CSV UTF-8 (编码错误)") from None


def _line_of(data: bytes, position: int) -> int:
    return data.count(b"\n", 0, position) + 1


def _mostly_utf8(data: bytes) -> bool:
    """True when almost every non-ASCII sequence is valid UTF-8: a damaged UTF-8 file, not GB18030."""
    measured = data[:1 << 20].decode("utf-8", errors="replace")  # measuring only; never returned
    bad = measured.count("\ufffd")
    good = sum(1 for ch in measured if ord(ch) > 127) - bad
    return good >= 8 and good >= 4 * bad


_GB2312_LEVEL1 = (0xB0A1, 0xD7FE)  # the 3,755 most common simplified characters
_BIG5_FREQUENT = (0xA440, 0xC67E)  # the 5,401 common traditional characters
_CJK_PUNCT = set("，。！？、；：“”‘’（）《》【】…—～·「」『』﹐﹑")
_common_cache: dict[str, bool] = {}


def _is_common_chinese(ch: str) -> bool:
    known = _common_cache.get(ch)
    if known is not None:
        return known
    common = ch in _CJK_PUNCT or "\uff01" <= ch <= "\uff5e"
    for encoding, (low, high) in (("gb2312", _GB2312_LEVEL1), ("big5", _BIG5_FREQUENT)):
        if common:
            break
        try:
            encoded = ch.encode(encoding)
        except UnicodeEncodeError:
            continue
        common = len(encoded) == 2 and low <= int.from_bytes(encoded, "big") <= high
    _common_cache[ch] = common
    return common


def _common_chinese_share(text: str) -> float:
    """Share of non-ASCII characters that are common Chinese characters or punctuation.

    Big5 bytes read as GB18030 (or the reverse) give rare characters and symbols, so the right
    reading scores near 1 and the wrong one far lower.
    """
    wide = [ch for ch in text[:200_000] if ord(ch) > 127]
    if not wide:
        return 1.0
    return sum(map(_is_common_chinese, wide)) / len(wide)


def _guess_encoding(data: bytes) -> tuple[str, str] | None:
    """charset-normalizer as a last resort, limited to structured encodings, then decoded strictly."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - it ships with transformers' requests
        return None
    best = from_bytes(data, cp_isolation=list(GUESSABLE_ENCODINGS)).best()
    if best is None or best.encoding not in GUESSABLE_ENCODINGS:
        return None
    try:
        return best.encoding, data.decode(best.encoding)
    except UnicodeDecodeError:
        return None


# ---- delimited text ---------------------------------------------------------------------------

def sniff_delimiter(text: str, *, prefer: str = "\t") -> str | None:
    """The delimiter (comma, tab, semicolon, pipe) that splits the first rows most consistently.

    None when no candidate gives at least two cells on most rows: a one-column file. Ties go to
    ``prefer`` (comma for .csv files; tab otherwise, as Chinese text rarely holds a tab).
    """
    sample = text[:65_536]
    truncated = len(text) > len(sample)
    order = (prefer,) + tuple(d for d in ("\t", ",", ";", "|") if d != prefer)
    best: tuple[float, str | None] = (0.0, None)
    for delimiter in order:
        counts = _field_counts(sample, delimiter, truncated)
        if not counts:
            continue
        mode = max(set(counts), key=lambda n: (counts.count(n), n))
        if mode < 2:
            continue
        consistency = counts.count(mode) / len(counts)
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
            if len(counts) >= 200:
                break
    except csv.Error:
        pass
    if truncated and len(counts) > 1 and len(counts) < 200:
        counts.pop()  # the last record may be cut by the sample
    return counts


def _parse_text(text: str, delimiter: str | None, *, literal_lines: bool, name: str,
                max_rows: int) -> tuple[list[list[str]], str | None]:
    """Rows of cells. Quoted cells may hold delimiters, quotes and newlines (RFC 4180)."""
    if delimiter is None and literal_lines:
        return _literal_lines(text, max_rows, name), None
    sep = delimiter or _unused_char(text)
    _raise_field_limit(len(text))
    try:
        return _csv_rows(text, sep, csv.QUOTE_MINIMAL, name, max_rows), None
    except csv.Error as exc:
        line = exc.args[1] if len(exc.args) > 1 else 0
        if delimiter in (None, "\t"):
            # Tab and one-column files often carry quotes as plain characters: read them as written.
            rows = (_literal_lines(text, max_rows, name) if delimiter is None
                    else _csv_rows(text, sep, csv.QUOTE_NONE, name, max_rows))
            return rows, f"quotes are kept as written (line {line} has a quote that does not close a cell)"
        raise TableError(f"{name}: line {line} has a quoted cell that is not closed properly "
                         f"({exc.args[0]}): fix the quotes near that line (引号不匹配)") from None


def _csv_rows(text: str, sep: str, quoting: int, name: str, max_rows: int) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, quotechar='"', quoting=quoting, strict=True)
    rows: list[list[str]] = []
    non_blank = 0
    last_line = 0
    try:
        for row in reader:
            rows.append(row)
            last_line = reader.line_num
            if row and any(cell.strip() for cell in row):
                non_blank += 1
                if non_blank > max_rows + 1:  # one header at most: already too many data rows
                    raise TableError(_too_many_rows(name, max_rows))
    except csv.Error as exc:
        raise csv.Error(str(exc), last_line + 1) from None
    return rows


def _literal_lines(text: str, max_rows: int, name: str) -> list[list[str]]:
    lines = re.split(r"\r\n|\r|\n", text)
    if len([line for line in lines if line.strip()]) > max_rows + 1:
        raise TableError(_too_many_rows(name, max_rows))
    return [[line] if line else [] for line in lines]


def _unused_char(text: str) -> str:
    for ch in ("\x1f", "\x1e", "\x1d", "\x1c"):
        if ch not in text:
            return ch
    return "\x00"


def _raise_field_limit(size: int) -> None:
    # csv refuses cells over 128 KiB by default; a single huge review must still read.
    if csv.field_size_limit() < size:
        csv.field_size_limit(min(max(size, 1 << 20), sys.maxsize))


def _strip_blank_edges(rows: list[list[str]]) -> list[list[str]]:
    def blank(row: list[str]) -> bool:
        return all(not cell.strip() for cell in row)

    start, end = 0, len(rows)
    while start < end and blank(rows[start]):
        start += 1
    while end > start and blank(rows[end - 1]):
        end -= 1
    return rows[start:end]


# ---- xlsx -------------------------------------------------------------------------------------

def _read_xlsx_rows(data: bytes, name: str, sheet: str | None, max_rows: int) -> tuple[list[list[str]], str]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # a zip that is not a workbook, or a damaged one: one line either way
        raise TableError(f"{name} is a ZIP file but not a readable Excel workbook ({type(exc).__name__}): "
                         "open it in Excel and save it as .xlsx or CSV UTF-8") from None
    try:
        if sheet is not None:
            if sheet not in workbook.sheetnames:
                raise TableError(f"{name} has no sheet {sheet!r}; its sheets are: {', '.join(workbook.sheetnames)}")
            worksheet = workbook[sheet]
        else:
            worksheet = workbook.worksheets[0]
        rows: list[list[str]] = []
        non_blank = 0
        for values in worksheet.iter_rows(values_only=True):
            row = [_cell_text(v) for v in values]
            while row and row[-1] == "":
                row.pop()
            rows.append(row)
            if row:
                non_blank += 1
                if non_blank > max_rows + 1:
                    raise TableError(_too_many_rows(name, max_rows))
        return rows, worksheet.title
    finally:
        workbook.close()


def _cell_text(value: Any) -> str:
    """An Excel value as the text Excel would show for it in a General cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    if hasattr(value, "isoformat"):
        text = value.isoformat(sep=" ") if hasattr(value, "hour") and hasattr(value, "date") else value.isoformat()
        return text[:-9] if text.endswith(" 00:00:00") else text
    return str(value)


# ---- header and columns -----------------------------------------------------------------------

def _normalize(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def _name_score(name: str, keywords: Sequence[str], *, head_noun: bool = False) -> int:
    """2: the name is a keyword; 1: it contains one (as a word for English); 0: no match.

    ``head_noun``: a partial match must end the name, as in "用户评价" or "Review Text"; a
    review such as "商品不错" or "内容很好" then does not pass for a column name.
    """
    norm = _normalize(name)
    if not norm:
        return 0
    if norm in {_normalize(k) for k in keywords}:
        return 2
    words = [w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", name.strip()).lower()) if w]
    for keyword in keywords:
        if _CJK.search(keyword):
            if norm.endswith(keyword) if head_noun else keyword in norm:
                return 1
        elif len(keyword) > 1 and (words[-1:] == [keyword] if head_noun else keyword in words):
            return 1
    return 0


def _is_number(cell: str) -> bool:
    return bool(_NUMBER.fullmatch(cell.strip()))


def _looks_like_header(rows: list[list[str]]) -> bool:
    """Guess whether the first row names the columns (known names, or words over numbers / Chinese)."""
    first = rows[0]
    rest = [row for row in rows[1:201] if any(cell.strip() for cell in row)]
    all_names = TEXT_NAMES + LABEL_NAMES + OTHER_HEADER_NAMES
    for cell in first:
        short = len(cell.strip()) <= 12 and not _SENTENCE_PUNCT.search(cell)
        score = _name_score(cell, all_names, head_noun=True)
        if score == 2 or (score == 1 and short and rest):
            return True
    if not rest:
        return False
    votes = 0
    filled = [cell.strip() for cell in first if cell.strip()]
    if len(set(filled)) < len(filled):
        votes -= 1
    for j, cell in enumerate(first):
        cell = cell.strip()
        column = [row[j].strip() for row in rest if j < len(row) and row[j].strip()]
        if not column or not cell:
            continue
        numeric = sum(map(_is_number, column)) / len(column)
        if numeric >= 0.9:
            votes += -1 if _is_number(cell) else 1
        elif _is_number(cell):
            votes -= 1
        elif _IDENTIFIER.fullmatch(cell) and not _CJK.search(cell):
            chinese = sum(1 for value in column if _CJK.search(value)) / len(column)
            if chinese >= 0.5:
                votes += 1
    return votes > 0


def _header_names(first: list[str], width: int) -> list[str]:
    names: list[str] = []
    for i in range(width):
        raw = first[i].strip() if i < len(first) else ""
        names.append(raw or f"column_{i + 1}")
    seen: dict[str, int] = {}
    unique: list[str] = []
    for name in names:
        if name in seen:
            seen[name] += 1
            candidate = f"{name}_{seen[name]}"
            while candidate in names or candidate in unique:
                seen[name] += 1
                candidate = f"{name}_{seen[name]}"
            name = candidate
        else:
            seen[name] = 1
        unique.append(name)
    return unique


def _resolve_column(wanted: str, columns: Sequence[str], role: str) -> str:
    if wanted in columns:
        return wanted
    loose = [c for c in columns if _normalize(c) == _normalize(wanted)]
    if len(loose) == 1:
        return loose[0]
    text = str(wanted).strip()
    if text.isdigit() and 1 <= int(text) <= len(columns):
        return columns[int(text) - 1]
    raise TableError(f"there is no {role} column {wanted!r}; the columns are: {', '.join(columns)} (列名不存在)")


def _cjk_count(values: Iterable[str]) -> int:
    return sum(len(_CJK.findall(value)) for value in values)


def _detect_text_column(frame: pd.DataFrame, names: list[str], exclude: str | None) -> str:
    candidates = [n for n in names if n != exclude] or names
    sample = frame.head(2000)
    cjk = {n: _cjk_count(sample[n]) for n in candidates}
    by_name = [(score, cjk[n], -i, n) for i, n in enumerate(candidates)
               if (score := _name_score(n, TEXT_NAMES))]
    if by_name:
        return max(by_name)[3]
    if max(cjk.values()) > 0:
        return max(candidates, key=lambda n: (cjk[n], -candidates.index(n)))

    def text_length(n: str) -> float:
        values = [v for v in sample[n] if v.strip()]
        if not values or sum(map(_is_number, values)) >= 0.9 * len(values):
            return -1.0
        return sum(map(len, values)) / len(values)

    return max(candidates, key=lambda n: (text_length(n), -candidates.index(n)))


_LABEL_VALUES = {"0", "1", "-1", "正面", "负面", "中性", "positive", "negative", "neutral", "pos", "neg", "好评",
                 "差评", "中评", "积极", "消极"}


def _detect_label_column(frame: pd.DataFrame, names: list[str], has_header: bool, exclude: str | None) -> str | None:
    candidates = [n for n in names if n != exclude]
    if has_header:
        if "confidence" in names:  # an output of this app: its "sentiment" is a prediction, not gold
            candidates = [n for n in candidates if n != "sentiment"]
        scored = [(score, -i, n) for i, n in enumerate(candidates) if (score := _name_score(n, LABEL_NAMES))]
        return max(scored)[2] if scored else None
    # Without a header: a column whose values are all label-like (0/1, 正面/负面, ...).
    for name in candidates:
        values = {v.strip().lower() for v in frame[name].head(2000) if v.strip()}
        if 2 <= len(values) <= 3 and values <= _LABEL_VALUES:
            return name
    return None


# ==== classifying =================================================================================

def result_column_names(labels: Sequence[str], existing: Iterable[str] = ()) -> list[str]:
    """``sentiment``, ``confidence``, ``prob_<label>``...; with a suffix when an input column has a name."""
    taken = set(existing)
    base = ["sentiment", "confidence"] + [f"prob_{label}" for label in labels]
    suffix_number = 1
    while True:
        suffix = "" if suffix_number == 1 else f"_{suffix_number}"
        names = [name + suffix for name in base]
        if not taken & set(names):
            return names
        suffix_number += 1


def classify_table(
    table: LoadedTable,
    classifier: Classifier,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Classify ``table.text_column`` chunk by chunk, in row order; return input + result columns.

    Blank cells get ``sentiment`` "" and NaN numbers without a model call. If ``progress``
    raises (a cancel), the exception propagates and nothing is returned.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    frame = table.frame
    labels = [str(label) for label in classifier.labels]
    texts = frame[table.text_column].tolist()
    total = len(texts)
    sentiment = np.full(total, "", dtype=object)
    confidence = np.full(total, np.nan, dtype=np.float64)
    probs = np.full((total, len(labels)), np.nan, dtype=np.float64)
    for start in range(0, total, chunk_size):
        stop = min(start + chunk_size, total)
        wanted = [i for i in range(start, stop) if _has_text(texts[i])]
        if wanted:
            predictions = classifier.predict([str(texts[i]) for i in wanted])
            if len(predictions) != len(wanted):
                raise RuntimeError(f"the classifier returned {len(predictions)} predictions for {len(wanted)} texts")
            for i, prediction in zip(wanted, predictions):
                if prediction.label is None:
                    continue
                sentiment[i] = prediction.label
                confidence[i] = prediction.score
                probs[i] = [prediction.probabilities.get(label, np.nan) for label in labels]
        if progress is not None:
            progress(stop, total)
    names = result_column_names(labels, frame.columns)
    result = frame.copy()
    result[names[0]] = pd.Series(sentiment.tolist(), index=frame.index, dtype=str)
    result[names[1]] = confidence
    for j, name in enumerate(names[2:]):
        result[name] = probs[:, j]
    return result


def _has_text(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return bool(str(value).strip())


# ==== writing =====================================================================================

def _needs_escape(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) and not _NUMBER.fullmatch(value)


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy where text cells (and column names) that a spreadsheet would run as a formula start with ``'``.

    OWASP CSV injection: ``= + - @``, tab, CR, LF and full-width ``＝ ＋ － ＠``. Plain numbers such
    as ``-5`` or ``+3.2`` are not formulas and stay as they are; numeric columns are untouched.
    """
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
            continue
        if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
            mask = series.str.startswith(FORMULA_TRIGGERS, na=False) & ~series.str.fullmatch(_NUMBER.pattern, na=False)
            if mask.any():
                out[column] = series.mask(mask, "'" + series)
        else:
            out[column] = series.map(lambda v: "'" + v if _needs_escape(v) else v)
    out.columns = ["'" + c if _needs_escape(c) else c for c in map(str, out.columns)]
    return out


def _atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Write through a temporary file beside ``path``, then rename: never a partial file under its name."""
    target = Path(path)
    if target.is_dir():
        raise TableError(f"{target} is a folder: give a file name for the output")
    folder = target.parent
    if not folder.is_dir():
        raise TableError(f"folder {folder} does not exist: create it or choose another output path")
    temp = folder / f".{target.name}.{secrets.token_hex(4)}.tmp"
    try:
        write(temp)
        os.replace(temp, target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise TableError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write UTF-8 with BOM (Excel then shows Chinese), formulas escaped, atomically."""
    escaped = escape_formulas(frame)

    def write(temp: Path) -> None:
        with open(temp, "x", encoding="utf-8-sig", newline="") as handle:
            escaped.to_csv(handle, index=False, na_rep="", lineterminator="\r\n")

    return _atomic_write(path, write)


_XLSX_INT = re.compile(r"-?(?:0|[1-9]\d{0,14})")
_XLSX_DECIMAL = re.compile(r"-?(?:0|[1-9]\d*)\.\d*[1-9]")


def _xlsx_value(value: Any) -> Any:
    """A cell value for openpyxl: numbers as numbers, text cleaned of what XML cannot hold."""
    if value is None:
        return None
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    text = str(value)
    # Numbers that Excel shows back exactly (no leading zeros, at most 15 digits) become numbers.
    if _XLSX_INT.fullmatch(text):
        return int(text)
    if _XLSX_DECIMAL.fullmatch(text) and sum(ch.isdigit() for ch in text) <= 15:
        return float(text)
    text = _XLSX_ILLEGAL.sub("\ufffd", text)
    return text[:XLSX_MAX_CELL]


def write_xlsx(frame: pd.DataFrame, path: str | os.PathLike[str], *, sheet_name: str = "sentiment") -> Path:
    """Write an Excel workbook, formulas escaped, numbers as numbers, atomically.

    Control characters XML cannot hold become U+FFFD and cells are cut at Excel's 32,767
    characters; the CSV output keeps both exactly.
    """
    from openpyxl import Workbook

    escaped = escape_formulas(frame)

    def write(temp: Path) -> None:
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(sheet_name)
        sheet.append([_XLSX_ILLEGAL.sub("\ufffd", str(c)) for c in escaped.columns])
        for row in escaped.itertuples(index=False, name=None):
            sheet.append([_xlsx_value(v) for v in row])
        with open(temp, "xb") as handle:
            workbook.save(handle)

    return _atomic_write(path, write)


# ==== summary =====================================================================================

@dataclass(frozen=True)
class Summary:
    """What a classified table says, for the UI and the end of a CLI run."""

    total_rows: int
    classified_rows: int
    empty_rows: int
    counts: dict[str, int]
    shares: dict[str, float]  # of the classified (non-empty) rows
    mean_confidence: float | None
    least_confident: pd.DataFrame  # rows of the result frame, index = 0-based row position
    label_column: str | None = None
    evaluated_rows: int = 0
    accuracy: float | None = None
    macro_f1: float | None = None
    confusion: pd.DataFrame | None = None  # rows: gold label, columns: predicted label
    label_mapping: dict[str, str] = field(default_factory=dict)  # gold value -> model label
    unmapped_rows: int = 0
    unmapped_values: tuple[str, ...] = ()
    unlabeled_rows: int = 0
    note: str | None = None

    def counts_frame(self) -> pd.DataFrame:
        """label, count, share: a small table for display."""
        return pd.DataFrame({"label": list(self.counts), "count": list(self.counts.values()),
                             "share": [self.shares[k] for k in self.counts]})

    def lines(self) -> list[str]:
        """A few human-readable lines (the CLI prints these)."""
        parts = [f"{label} {count:,} ({self.shares[label]:.1%})" for label, count in self.counts.items()]
        out = [f"{self.total_rows:,} rows: " + ", ".join(parts) + f", empty {self.empty_rows:,}"]
        if self.mean_confidence is not None:
            out.append(f"mean confidence {self.mean_confidence:.3f}")
        if self.accuracy is not None:
            out.append(f"accuracy {self.accuracy:.4f}, macro F1 {self.macro_f1:.4f} on {self.evaluated_rows:,} "
                       f"labelled rows (column {self.label_column!r})")
        if self.note:
            out.append(self.note)
        return out


_POLARITY_WORDS = {
    "neg": {"negative", "neg", "负面", "负", "负向", "消极", "差评", "差", "bad", "-1", "不满意", "坏"},
    "pos": {"positive", "pos", "正面", "正", "正向", "积极", "好评", "好", "good", "满意"},
    "neu": {"neutral", "neu", "中性", "中立", "中评", "一般"},
}


def _polarity(value: str) -> str | None:
    low = value.strip().lower()
    for polarity, words in _POLARITY_WORDS.items():
        if low in words:
            return polarity
    return None


def map_gold_labels(values: Iterable[str], labels: Sequence[str]) -> dict[str, str]:
    """Map each distinct gold value to a model label name; values that fit none are left out.

    In order: the label name itself; the name ignoring case and spaces; an integer (``"1"``,
    ``"1.0"``) as the class index (ChnSentiCorp: 0 = 负面, 1 = 正面); a polarity word
    (positive/pos/正面/正向/积极/好评/好/good, negative/neg/负面/负向/消极/差评/差/bad/-1,
    neutral/中性/中评/一般) to the one model label with the same polarity.
    """
    by_name = {_normalize(label): label for label in labels}
    by_polarity: dict[str, list[str]] = {}
    for label in labels:
        polarity = _polarity(label)
        if polarity:
            by_polarity.setdefault(polarity, []).append(label)
    mapping: dict[str, str] = {}
    for value in dict.fromkeys(values):
        key = value.strip()
        if not key:
            continue
        if key in labels:
            mapping[value] = key
            continue
        if _normalize(key) in by_name:
            mapping[value] = by_name[_normalize(key)]
            continue
        if _NUMBER.fullmatch(key):
            number = float(key)
            if number.is_integer() and 0 <= number < len(labels):
                mapping[value] = labels[int(number)]
                continue
        polarity = _polarity(key)
        if polarity and len(by_polarity.get(polarity, [])) == 1:
            mapping[value] = by_polarity[polarity][0]
    return mapping


def find_result_columns(frame: pd.DataFrame, labels: Sequence[str]) -> list[str]:
    """The result columns :func:`classify_table` added to ``frame`` (the last set when there are several)."""
    found: list[str] | None = None
    columns = set(map(str, frame.columns))
    suffix_number = 1
    while True:
        suffix = "" if suffix_number == 1 else f"_{suffix_number}"
        names = [f"sentiment{suffix}", f"confidence{suffix}"] + [f"prob_{label}{suffix}" for label in labels]
        if names[0] in columns and names[1] in columns:
            found = names
        elif suffix_number > 1:
            break
        suffix_number += 1
    if found is None:
        raise TableError("the table has no sentiment and confidence columns: classify it first")
    return found


def summarize(
    result_frame: pd.DataFrame,
    labels: Sequence[str],
    *,
    label_column: str | None = None,
    least_confident: int = 5,
    text_column: str | None = None,
) -> Summary:
    """Counts per label, mean confidence, least confident rows; with gold labels, accuracy and F1.

    ``least_confident`` rows keep all columns unless ``text_column`` is given (then: text,
    sentiment, confidence). Gold values are matched with :func:`map_gold_labels`; rows whose
    gold value is blank or unknown, or whose text was blank, are left out of the metrics.
    """
    labels = [str(label) for label in labels]
    sentiment_col, confidence_col = find_result_columns(result_frame, labels)[:2]
    predicted = result_frame[sentiment_col].fillna("").astype(str)
    confidence = pd.to_numeric(result_frame[confidence_col], errors="coerce")
    classified = predicted != ""
    n_classified = int(classified.sum())
    counts = {label: int((predicted == label).sum()) for label in labels}
    shares = {label: (counts[label] / n_classified if n_classified else 0.0) for label in labels}
    mean_conf = float(confidence[classified].mean()) if n_classified else None
    order = confidence[classified].sort_values(kind="stable").index[: max(least_confident, 0)]
    least = result_frame.loc[order]
    if text_column is not None:
        least = least[[text_column, sentiment_col, confidence_col]]
    summary = Summary(total_rows=len(result_frame), classified_rows=n_classified,
                      empty_rows=len(result_frame) - n_classified, counts=counts, shares=shares,
                      mean_confidence=mean_conf, least_confident=least)
    if label_column is None:
        return summary
    if label_column not in result_frame.columns:
        raise TableError(f"there is no label column {label_column!r}; the columns are: "
                         f"{', '.join(map(str, result_frame.columns))}")
    return _with_metrics(summary, result_frame[label_column].fillna("").astype(str), predicted, classified,
                         labels, label_column)


def _with_metrics(summary: Summary, gold_raw: pd.Series, predicted: pd.Series, classified: pd.Series,
                  labels: list[str], label_column: str) -> Summary:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    mapping = map_gold_labels(gold_raw.tolist(), labels)
    gold = gold_raw.map(lambda v: mapping.get(v, ""))
    has_gold = gold_raw.str.strip() != ""
    unmapped = has_gold & (gold == "")
    unmapped_values = tuple(dict.fromkeys(gold_raw[unmapped].str.strip()))[:10]
    usable = classified & (gold != "")
    notes = []
    renamed = {value.strip(): label for value, label in mapping.items() if value.strip() != label}
    if renamed:
        notes.append("gold labels read as " + ", ".join(f"{k}→{v}" for k, v in sorted(renamed.items())))
    if unmapped.any():
        notes.append(f"{int(unmapped.sum()):,} rows with gold labels that match no model label "
                     f"({', '.join(unmapped_values)}) are left out")
    unlabeled = int((~has_gold).sum())
    if unlabeled:
        notes.append(f"{unlabeled:,} rows without a gold label are left out")
    metrics: dict[str, Any] = {}
    if usable.any():
        y_true, y_pred = gold[usable].tolist(), predicted[usable].tolist()
        metrics = {
            "accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
            "confusion": pd.DataFrame(confusion_matrix(y_true, y_pred, labels=labels), index=labels, columns=labels),
        }
    else:
        notes.append(f"no row of column {label_column!r} has a gold label that matches the model's labels "
                     f"({', '.join(labels)}), so there is no accuracy")
    return replace(summary, label_column=label_column, evaluated_rows=int(usable.sum()), label_mapping=mapping,
                   unmapped_rows=int(unmapped.sum()), unmapped_values=unmapped_values, unlabeled_rows=unlabeled,
                   note="; ".join(notes) or None, **metrics)


__all__ = [
    "DEFAULT_CHUNK_SIZE", "DEFAULT_MAX_BYTES", "DEFAULT_MAX_ROWS", "FORMULA_TRIGGERS", "Classifier", "LoadedTable",
    "Summary", "TableError", "classify_table", "decode_bytes", "escape_formulas", "find_result_columns",
    "map_gold_labels", "read_table", "result_column_names", "sniff_delimiter", "summarize", "write_csv", "write_xlsx",
]
