"""The batch pipeline: read the files Chinese users really export, classify them, write Excel-safe output.

One pipeline for ``python -m sentiment_app predict``, the app's batch tab and ``/classify_file``;
no gradio here. Rooms:

- :mod:`.reading` (with :mod:`.decoding`, :mod:`.xlsx`, :mod:`.rows`): bytes -> :class:`LoadedTable`, bounded
- :mod:`.columns`: header, text and label column detection
- :mod:`.job`: :func:`run_batch` and :class:`BatchJob` (worker thread, progress, cancel, budgets)
- :mod:`.writing`: CSV (UTF-8 BOM) and XLSX, formulas escaped, atomic
- :mod:`.summary`: counts, confidence, accuracy/F1 against gold labels
- :mod:`.limits`: the bounds and the :class:`Budget`; :mod:`.errors`: the one-line exceptions
- :mod:`.files`: upload path checks, the private results folder, purging by age
"""

from .decoding import decode_bytes
from .errors import BudgetExceeded, JobCancelled, LimitExceeded, TableError, UploadRefused
from .files import UPLOAD_REFUSED, FileSweeper, ResultFiles, purge_old_files, uploaded_file
from .job import (
    DEFAULT_CHUNK_SIZE,
    BatchJob,
    BatchResult,
    Classifier,
    InsightOptions,
    Progress,
    classify_table,
    read_batch_table,
    result_column_names,
    run_batch,
    start_batch,
)
from .limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, Budget, ReadLimits
from .reading import LoadedTable, read_table, sniff_delimiter
from .summary import Summary, find_result_columns, map_gold_labels, summarize
from .writing import FORMULA_TRIGGERS, escape_formulas, write_csv, write_sheets, write_xlsx

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ROWS",
    "FORMULA_TRIGGERS",
    "UPLOAD_REFUSED",
    "BatchJob",
    "BatchResult",
    "Budget",
    "BudgetExceeded",
    "Classifier",
    "FileSweeper",
    "InsightOptions",
    "JobCancelled",
    "LimitExceeded",
    "LoadedTable",
    "Progress",
    "ReadLimits",
    "ResultFiles",
    "Summary",
    "TableError",
    "UploadRefused",
    "classify_table",
    "decode_bytes",
    "escape_formulas",
    "find_result_columns",
    "map_gold_labels",
    "purge_old_files",
    "read_batch_table",
    "read_table",
    "result_column_names",
    "run_batch",
    "sniff_delimiter",
    "start_batch",
    "summarize",
    "uploaded_file",
    "write_csv",
    "write_sheets",
    "write_xlsx",
]
