"""Bounds on what a batch may read and how long and how much memory it may use.

A public Space gets hostile files: a 1.6 MB workbook that inflates to gigabytes, a sheet that
declares a million rows, one CSV row of a million cells. Every bound here is checked before
the work it bounds (zip directory before inflating, cell counts while parsing), so a refusal
comes within a second or two and names the limit.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

from .errors import BudgetExceeded, JobCancelled

DEFAULT_MAX_BYTES = 50 * 2**20  # 50 MiB: a large shop export; bigger files belong to the CLI in shards
DEFAULT_MAX_ROWS = 100_000  # about 10 minutes of CPU for a bert-base model; more should be split
# Real exports have a few dozen columns; 1,000 leaves room for wide survey dumps and bounds
# header and column detection (a row of a million cells is refused while it is parsed).
MAX_COLUMNS = 1_000
# One cell: a long review is a few thousand characters; a million is ~2,000 model windows.
MAX_CELL_CHARS = 1_000_000
# An .xlsx is a zip: its parts together may inflate to at most this (checked from the zip
# directory, which Python's zipfile enforces while inflating). A 100,000-row workbook of
# reviews is ~60 MB of XML; the decompression bombs of issue 14 were 1.15 GB.
MAX_XLSX_UNCOMPRESSED = 200 * 2**20
# A workbook has ~10-30 parts; thousands would only make the zip directory itself expensive.
MAX_XLSX_ENTRIES = 2_000
# A sheet whose used range runs far below its data (formatting dragged to row 1,048,576):
# reading stops after this many blank rows in a row instead of walking a million empty rows.
MAX_BLANK_RUN = 10_000
# Reading and checking one upload (preview or job) must finish within this; 50 MB of CSV reads
# in ~10 s on a loaded 2-core machine.
READ_TIMEOUT_S = 120.0
# How often (rows) long loops look at the clock and the cancel flag.
CHECK_EVERY_ROWS = 2_048


@dataclass(frozen=True)
class ReadLimits:
    """Bounds for reading one file; the defaults are the app's."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_rows: int = DEFAULT_MAX_ROWS
    max_columns: int = MAX_COLUMNS
    max_cell_chars: int = MAX_CELL_CHARS
    max_xlsx_uncompressed: int = MAX_XLSX_UNCOMPRESSED
    max_xlsx_entries: int = MAX_XLSX_ENTRIES
    max_blank_run: int = MAX_BLANK_RUN


def rss_bytes() -> int | None:
    """This process's resident memory now (Linux /proc), None where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


@dataclass
class Budget:
    """Time and memory a piece of work may use, and the flag that cancels it.

    ``check()`` is called between chunks and every few thousand rows while reading; it raises
    :class:`JobCancelled` once ``cancel()`` was called, and :class:`BudgetExceeded` past the
    deadline or when the process grew by more than ``memory_bytes`` since the budget started.
    ``None`` means no bound (the command line, where Ctrl-C is the bound).
    """

    seconds: float | None = None
    memory_bytes: int | None = None
    what: str = "the batch job"
    setting: str | None = "SENTIMENT_JOB_TIMEOUT"  # named in the message, so an operator knows what to raise
    cancelled: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    rss_at_start: int | None = field(default_factory=rss_bytes)

    def cancel(self) -> None:
        self.cancelled.set()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check(self) -> None:
        if self.cancelled.is_set():
            raise JobCancelled()
        if self.seconds is not None and self.elapsed() > self.seconds:
            setting = f" ({self.setting})" if self.setting else ""
            raise BudgetExceeded(
                f"{self.what} ran longer than its time limit of {self.seconds:,.0f} s{setting} "
                "and was stopped: split the file into smaller ones (超时)"
            )
        if self.memory_bytes is not None and self.rss_at_start is not None:
            now = rss_bytes()
            if now is not None and now - self.rss_at_start > self.memory_bytes:
                raise BudgetExceeded(
                    f"{self.what} needed more than its memory limit of "
                    f"{self.memory_bytes / 2**20:,.0f} MB (SENTIMENT_JOB_MEMORY_MB) and was "
                    "stopped: split the file into smaller ones (内存不足)"
                )

    def sub(self, seconds: float | None, what: str) -> Budget:
        """A budget for one phase (reading) that shares the cancel flag and ends no later than this one."""
        remaining = None if self.seconds is None else max(self.seconds - self.elapsed(), 0.0)
        setting: str | None = None
        if seconds is None or (remaining is not None and remaining < seconds):
            seconds, what, setting = remaining, self.what, self.setting
        return Budget(
            seconds=seconds,
            memory_bytes=self.memory_bytes,
            what=what,
            setting=setting,
            cancelled=self.cancelled,
            rss_at_start=self.rss_at_start,
        )


__all__ = [
    "Budget",
    "CHECK_EVERY_ROWS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ROWS",
    "MAX_BLANK_RUN",
    "MAX_CELL_CHARS",
    "MAX_COLUMNS",
    "MAX_XLSX_ENTRIES",
    "MAX_XLSX_UNCOMPRESSED",
    "READ_TIMEOUT_S",
    "ReadLimits",
    "rss_bytes",
]
