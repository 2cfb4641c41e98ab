"""Writing results that open cleanly in Excel and cannot run as formulas there.

OWASP CSV-injection escaping (a leading ``'`` on text starting with ``= + - @ TAB CR LF`` or
full-width ``＝ ＋ － ＠``; plain numbers such as ``-5`` are left alone). CSV is UTF-8 with BOM so
Excel shows Chinese; xlsx keeps numbers as numbers. The classifier's probabilities (``confidence``,
``prob_<label>``) are written to 4 decimals: more digits carry no information. Both write a temporary file in the target
folder and ``os.replace`` it, so the output name never holds a partial file.
"""

from __future__ import annotations

import math
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .columns import NUMBER
from .errors import TableError

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
XLSX_MAX_CELL = 32_767  # Excel's limit on characters in one cell
# Digits kept for probabilities in downloads: 0.9731, not 0.9731234788894653 (a 1e-4 step is below any
# difference a reader acts on, and the calibration itself is coarser).
PROBABILITY_DIGITS = 4
# The result columns classify_table adds (with a suffix when the input already had the name).
_PROBABILITY_COLUMN = re.compile(r"(?:confidence|prob_.+)(?:_\d+)?")

_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _needs_escape(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) and not NUMBER.fullmatch(value)


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
            mask = series.str.startswith(FORMULA_TRIGGERS, na=False) & ~series.str.fullmatch(NUMBER.pattern, na=False)
            if mask.any():
                out[column] = series.mask(mask, "'" + series)
        else:
            out[column] = series.map(lambda v: "'" + v if _needs_escape(v) else v)
    out.columns = ["'" + c if _needs_escape(c) else c for c in map(str, out.columns)]
    return out


def round_probabilities(frame: pd.DataFrame, digits: int = PROBABILITY_DIGITS) -> pd.DataFrame:
    """A copy with the probability columns (``confidence``, ``prob_<label>``, float, all within [0, 1])
    rounded to ``digits``; every other column, an input's own numbers included, is left as it is."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if not (_PROBABILITY_COLUMN.fullmatch(str(column)) and pd.api.types.is_float_dtype(series.dtype)):
            continue
        values = series.dropna()
        if len(values) and ((values < 0) | (values > 1)).any():
            continue
        out[column] = series.round(digits)
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
    """Write UTF-8 with BOM (Excel then shows Chinese), formulas escaped, probabilities rounded, atomically."""
    escaped = escape_formulas(round_probabilities(frame))

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


def write_xlsx(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    sheet_name: str = "sentiment",
    extra_sheets: dict[str, pd.DataFrame] | None = None,
) -> Path:
    """Write an Excel workbook, formulas escaped, numbers as numbers, probabilities rounded, atomically.

    Control characters XML cannot hold become U+FFFD and cells are cut at Excel's 32,767
    characters; the CSV output keeps both exactly. ``extra_sheets`` (the insights) follow the results.
    """
    return write_sheets({sheet_name: frame, **(extra_sheets or {})}, path)


def write_sheets(sheets: dict[str, pd.DataFrame], path: str | os.PathLike[str]) -> Path:
    """Write each frame as a sheet (in order), escaped and cleaned as :func:`write_xlsx` says, atomically."""
    from openpyxl import Workbook

    escaped = {name: escape_formulas(round_probabilities(frame)) for name, frame in sheets.items()}

    def write(temp: Path) -> None:
        workbook = Workbook(write_only=True)
        for name, frame in escaped.items():
            sheet = workbook.create_sheet(name[:31])
            sheet.append([_XLSX_ILLEGAL.sub("\ufffd", str(c)) for c in frame.columns])
            for row in frame.itertuples(index=False, name=None):
                sheet.append([_xlsx_value(v) for v in row])
        with open(temp, "xb") as handle:
            workbook.save(handle)

    return _atomic_write(path, write)


__all__ = [
    "FORMULA_TRIGGERS",
    "PROBABILITY_DIGITS",
    "XLSX_MAX_CELL",
    "escape_formulas",
    "round_probabilities",
    "write_csv",
    "write_sheets",
    "write_xlsx",
]
