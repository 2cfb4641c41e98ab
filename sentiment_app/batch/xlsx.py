"""Reading an .xlsx workbook without trusting what it says about itself.

An .xlsx is a zip of XML parts. Before openpyxl sees it, the zip's end-of-directory record gives
the number of entries and the directory gives every part's uncompressed size; a workbook over
either limit is refused there, before anything is inflated (Python's zipfile stops inflating a
part at its declared size, so the sizes cannot lie). The sheet is then streamed (openpyxl
read-only) with its declared dimensions dropped: openpyxl would otherwise pad every row to the
declared width and fill the declared height with empty rows (15 CPU-minutes for a 1.6 KB file).
Rows are checked one by one as they come (:class:`RowCollector`).
"""

from __future__ import annotations

import io
import struct
import zipfile
from typing import Any

from .errors import JobCancelled, LimitExceeded, TableError
from .limits import Budget, ReadLimits
from .rows import RowCollector

EXCEL_MAX_ROWS = 1_048_576  # a sheet cannot have more rows; an index beyond it is a forged file
_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"
_MAX_COMMENT = 65_535


def zip_entry_count(data: bytes) -> int | None:
    """Entries in the zip's central directory, from its end record (zip64 too); None if there is none."""
    start = data.rfind(_EOCD, max(0, len(data) - _EOCD_SIZE - _MAX_COMMENT))
    if start < 0 or len(data) < start + _EOCD_SIZE:
        return None
    entries = struct.unpack_from("<H", data, start + 10)[0]
    locator = start - 20
    if entries == 0xFFFF and locator >= 0 and data[locator : locator + 4] == _ZIP64_LOCATOR:
        record = struct.unpack_from("<Q", data, locator + 8)[0]
        if record + 56 <= len(data) and data[record : record + 4] == b"PK\x06\x06":
            return struct.unpack_from("<Q", data, record + 32)[0]
    return entries


def check_archive(data: bytes, name: str, limits: ReadLimits) -> None:
    """Refuse a workbook with too many parts or too much to inflate, from the zip directory alone."""
    entries = zip_entry_count(data)
    if entries is not None and entries > limits.max_xlsx_entries:
        raise LimitExceeded(
            f"{name} is a workbook of {entries:,} parts, over the limit of "
            f"{limits.max_xlsx_entries:,}: save it again from Excel or as CSV UTF-8 (文件结构异常)"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, struct.error) as exc:
        raise _unreadable(name, exc) from None
    if len(infos) > limits.max_xlsx_entries:  # no end record count (or a false one): count what was parsed
        raise LimitExceeded(
            f"{name} is a workbook of {len(infos):,} parts, over the limit of "
            f"{limits.max_xlsx_entries:,}: save it again from Excel or as CSV UTF-8 (文件结构异常)"
        )
    total = sum(info.file_size for info in infos)
    if total > limits.max_xlsx_uncompressed:
        raise LimitExceeded(
            f"{name} would inflate to {total / 2**20:,.0f} MB, over the limit of "
            f"{limits.max_xlsx_uncompressed / 2**20:,.0f} MB for a workbook's contents: save it as "
            "CSV UTF-8 or split it (压缩内容过大)"
        )


def _unreadable(name: str, exc: BaseException) -> TableError:
    return TableError(
        f"{name} is a ZIP file but not a readable Excel workbook ({type(exc).__name__}): "
        "open it in Excel and save it as .xlsx or CSV UTF-8"
    )


def read_xlsx_rows(
    data: bytes, name: str, sheet: str | None, limits: ReadLimits, budget: Budget
) -> tuple[list[list[str]], str]:
    """The rows of one sheet (the first, or ``sheet``) as text cells, and the sheet's name."""
    check_archive(data, name, limits)
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # a zip that is not a workbook, or a damaged one: one line either way
        raise _unreadable(name, exc) from None
    try:
        if sheet is not None:
            if sheet not in workbook.sheetnames:
                raise TableError(f"{name} has no sheet {sheet!r}; its sheets are: {', '.join(workbook.sheetnames)}")
            worksheet = workbook[sheet]
        else:
            worksheet = workbook.worksheets[0]
        if hasattr(worksheet, "reset_dimensions"):  # a chart sheet has none
            worksheet.reset_dimensions()  # the cells present, not the range the file declares
        collector = RowCollector(name, limits, budget, where="row")
        try:
            for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
                if number > EXCEL_MAX_ROWS:
                    raise TableError(
                        f"{name} has rows numbered beyond Excel's {EXCEL_MAX_ROWS:,}: the file is "
                        "damaged; open it in Excel and save it again"
                    )
                collector.check_width(len(values), number)  # before any cell is converted
                row = [_cell_text(v) for v in values]
                while row and row[-1] == "":
                    row.pop()
                collector.add(row, number)
        except (TableError, JobCancelled, MemoryError):
            raise
        except Exception as exc:  # damaged XML inside the zip (including a part cut at its declared size)
            raise _unreadable(name, exc) from None
        return collector.rows, worksheet.title
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


__all__ = ["EXCEL_MAX_ROWS", "check_archive", "read_xlsx_rows", "zip_entry_count"]
