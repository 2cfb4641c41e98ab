"""Collecting the rows of a file under the limits, as they are parsed.

Shared by the CSV and the Excel readers, so both refuse the same things the same way: too many
cells in a row, a cell too long, too many data rows, data after a long run of blank rows. Blank
rows at the start and end are never kept (a file of 50 MB of newlines costs nothing); blank rows
between data rows are kept so output rows line up with input rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import LimitExceeded
from .limits import CHECK_EVERY_ROWS, Budget, ReadLimits


def too_many_rows(name: str, max_rows: int) -> str:
    return f"{name} has more than {max_rows:,} rows, the limit: split it into smaller files (行数过多)"


class RowCollector:
    """Rows of cells, checked one by one against :class:`ReadLimits` and the :class:`Budget`."""

    def __init__(self, name: str, limits: ReadLimits, budget: Budget, *, where: str = "line") -> None:
        self.name, self.limits, self.budget, self.where = name, limits, budget, where
        self.rows: list[list[str]] = []
        self._blank: list[list[str]] = []  # blank rows since the last data row, kept while the run is short
        self._blank_run = 0
        self._data_rows = 0
        self._seen = 0

    def add(self, row: list[str], position: int) -> None:
        """One parsed row; ``position`` (1-based line or sheet row) goes into the messages."""
        self._seen += 1
        if self._seen % CHECK_EVERY_ROWS == 0:
            self.budget.check()
        if row:  # an empty line has nothing to check (the fast path for files of blank lines)
            self.check_width(len(row), position)
            self.check_cells(row, position)
        if not row or not any(cell.strip() for cell in row):
            if self.rows:  # blank rows before the first data row are dropped
                self._blank_run += 1
                if self._blank_run <= self.limits.max_blank_run:
                    self._blank.append(row)
            return
        if self._blank_run > self.limits.max_blank_run:
            raise LimitExceeded(
                f"{self.name}: {self.where} {position:,} has data after more than "
                f"{self.limits.max_blank_run:,} blank rows in a row, the limit: delete the blank "
                "rows or split the file (空行过多)"
            )
        self.rows.extend(self._blank)
        self._blank.clear()
        self._blank_run = 0
        self._data_rows += 1
        if self._data_rows > self.limits.max_rows + 1:  # one header at most: already too many data rows
            raise LimitExceeded(too_many_rows(self.name, self.limits.max_rows))
        self.rows.append(row)

    def check_width(self, width: int, position: int) -> None:
        if width > self.limits.max_columns:
            raise LimitExceeded(
                f"{self.name}: {self.where} {position:,} has {width:,} cells, over the limit of "
                f"{self.limits.max_columns:,} columns: keep only the columns you need (列数过多)"
            )

    def check_cells(self, row: Sequence[str], position: int) -> None:
        longest = max(map(len, row), default=0)
        if longest > self.limits.max_cell_chars:
            raise LimitExceeded(
                f"{self.name}: {self.where} {position:,} has a cell of {longest:,} characters, over "
                f"the limit of {self.limits.max_cell_chars:,}: split that text (单元格过长)"
            )


__all__ = ["RowCollector", "too_many_rows"]
