"""One batch pipeline for the CLI, the batch tab and ``/classify_file``: read, classify in chunks, write, summarize.

``run_batch(source, model, ...)`` does the whole job in the calling thread, reporting
:class:`Progress` and checking its :class:`Budget` (time, memory, cancel flag) between chunks.
:class:`BatchJob` runs it in a worker thread, so every caller gets the same cancellable job:
the app iterates ``job.events()`` (closing the iterator, as Gradio does on Stop or a closed tab,
cancels the job), the CLI calls ``job.wait()`` (Ctrl-C cancels it). A cancelled or failed job
writes nothing.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from .limits import READ_TIMEOUT_S, Budget, ReadLimits
from .reading import LoadedTable, read_table
from .summary import Summary, summarize
from .writing import write_csv, write_xlsx

DEFAULT_CHUNK_SIZE = 256  # rows per model call: progress every few seconds, memory bounded
# A chunk also ends once its texts hold this many characters (~200 windows of 512 tokens), so a
# few huge cells cannot keep one model call, and with it Stop and the time limit, waiting for minutes.
CHUNK_CHARS = 100_000
# The waiting side wakes this often without news from the worker, so Stop and the deadline act
# even while one model call runs.
HEARTBEAT_S = 1.0
WRITERS: dict[str, Callable[[pd.DataFrame, Path], Path]] = {"csv": write_csv, "xlsx": write_xlsx}


class Classifier(Protocol):
    """What the pipeline needs: ``SentimentClassifier`` or any object like it."""

    labels: list[str]

    def predict(self, texts: Sequence[str]) -> list[Any]: ...


ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Progress:
    """Where a job is: ``stage`` is "reading", "classifying", "insights" or "writing"; rows done of total."""

    stage: str
    done: int = 0
    total: int = 0


@dataclass(frozen=True)
class BatchResult:
    """A finished job: the table as read, the result frame, its summary and the files written by format."""

    table: LoadedTable
    frame: pd.DataFrame
    summary: Summary
    files: dict[str, Path]
    labels: list[str]
    insights: Any = None  # sentiment_app.insights.Insights when the job was asked for them


@dataclass(frozen=True)
class InsightOptions:
    """What a job's insights use: ``"auto"`` detects a column, ``None`` turns it off, a name picks it."""

    group_column: str | None = "auto"
    date_column: str | None = "auto"
    include_flagged: bool = False  # flagged rows (templates, default reviews...) count in the figures


# ---- classifying ---------------------------------------------------------------------------------


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


def _chunks(texts: list[Any], chunk_size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of consecutive chunks: at most ``chunk_size`` rows and about CHUNK_CHARS characters."""
    start, total = 0, len(texts)
    while start < total:
        stop, chars = start, 0
        while stop < total and stop - start < chunk_size and (stop == start or chars < CHUNK_CHARS):
            value = texts[stop]
            chars += len(value) if isinstance(value, str) else 0
            stop += 1
        yield start, stop
        start = stop


def classify_table(
    table: LoadedTable,
    classifier: Classifier,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: ProgressCallback | None = None,
    budget: Budget | None = None,
) -> pd.DataFrame:
    """Classify ``table.text_column`` chunk by chunk, in row order; return input + result columns.

    Blank cells get ``sentiment`` "" and NaN numbers without a model call. ``progress(done, total)``
    runs after each chunk and may raise to cancel; ``budget`` is checked before each chunk. If
    either raises, the exception propagates and nothing is returned.
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
    for start, stop in _chunks(texts, chunk_size):
        if budget is not None:
            budget.check()
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


# ---- the whole job -------------------------------------------------------------------------------


def read_batch_table(
    path: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    sheet: str | None = None,
    header: bool | None = None,
    limits: ReadLimits | None = None,
    budget: Budget | None = None,
    name: str | None = None,
) -> LoadedTable:
    """Read and choose columns as a job does. ``None`` detects a column; ``label_column=""`` means none.

    ``name`` replaces the file's name in the table's description. The read gets at most
    :data:`READ_TIMEOUT_S` of ``budget``'s time.
    """
    reading = (budget or Budget()).sub(READ_TIMEOUT_S, "reading the file")
    table = read_table(
        path,
        text_column=text_column or None,
        label_column=label_column or None,
        sheet=sheet,
        header=header,
        limits=limits,
        budget=reading,
    )
    if label_column == "" and table.label_column is not None:
        table = table.with_columns(label_column=None)
    if name:
        table = replace(table, source_name=name)
    return table


def run_batch(
    source: str | Path | LoadedTable,
    model: Classifier | Callable[[], Classifier],
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    sheet: str | None = None,
    header: bool | None = None,
    formats: Sequence[str] = ("csv", "xlsx"),
    output_dir: Path | Callable[[], Path] | None = None,
    outputs: Mapping[str, Path] | None = None,
    stem: str | None = None,
    limits: ReadLimits | None = None,
    budget: Budget | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Callable[[Progress], None] | None = None,
    on_read: Callable[[LoadedTable], None] | None = None,
    name: str | None = None,
    summary_text_column: bool = False,
    insights: InsightOptions | None = None,
) -> BatchResult:
    """Read ``source`` (a path, or a table already read), classify it, write the results, summarize.

    ``model`` may be a loader called once the file has been read, so a bad file is refused
    before a slow model load. Results go to ``outputs`` (format -> path) or, named
    ``<stem>_sentiment.<format>``, to ``output_dir`` (a callable is asked only once the
    classification is done, so a cancelled job creates nothing). ``on_read(table)`` runs after
    reading (the CLI prints what it read). ``summary_text_column`` keeps only text, sentiment and
    confidence in the summary's least confident rows. With ``insights``, the reasons, groups, periods
    and flags are computed after classifying (stage "insights", under the same budget, so Stop and the
    time limit end them too); the outputs gain the 标记 column and the XLSX the insight sheets.
    """
    budget = budget or Budget()
    report = progress or (lambda event: None)
    if isinstance(source, LoadedTable):
        table = source
    else:
        report(Progress("reading"))
        table = read_batch_table(
            source,
            text_column=text_column,
            label_column=label_column,
            sheet=sheet,
            header=header,
            limits=limits,
            budget=budget,
            name=name,
        )
    if on_read is not None:
        on_read(table)
    classifier = model if hasattr(model, "predict") else model()  # type: ignore[operator]
    budget.check()
    report(Progress("classifying", 0, table.rows))
    frame = classify_table(
        table,
        classifier,
        chunk_size=chunk_size,
        budget=budget,
        progress=lambda done, total: report(Progress("classifying", done, total)),
    )
    budget.check()
    found = None
    written, sheets = frame, None
    uncertain_below = getattr(getattr(classifier, "calibration", None), "uncertain_below", None)
    if insights is not None:
        from ..insights import FLAG_COLUMN, build_insights

        report(Progress("insights", table.rows, table.rows))
        found = build_insights(
            frame,
            classifier.labels,
            table.text_column,
            group_column=insights.group_column,
            date_column=insights.date_column,
            include_flagged=insights.include_flagged,
            uncertain_below=uncertain_below,
            check=budget.check,
        )
        written = frame.assign(**{FLAG_COLUMN: found.flags})
        sheets = found.sheets(frame, table.text_column)
        budget.check()
    report(Progress("writing", table.rows, table.rows))
    targets = dict(outputs or {})
    if not targets:
        folder = output_dir() if callable(output_dir) else output_dir
        if folder is None:
            raise ValueError("run_batch needs outputs or output_dir")
        base = stem or Path(table.source_name or "table").stem or "table"
        targets = {fmt: Path(folder) / f"{base}_sentiment.{fmt}" for fmt in formats}
    unknown = set(targets) - set(WRITERS)
    if unknown:
        raise ValueError(f"unknown output formats: {', '.join(sorted(unknown))}")
    files = {
        fmt: write_xlsx(written, path, extra_sheets=sheets) if fmt == "xlsx" else WRITERS[fmt](written, path)
        for fmt, path in targets.items()
    }
    summary = summarize(
        frame,
        classifier.labels,
        label_column=table.label_column,
        text_column=table.text_column if summary_text_column else None,
        uncertain_below=uncertain_below,
    )
    return BatchResult(
        table=table, frame=frame, summary=summary, files=files, labels=list(classifier.labels), insights=found
    )


# ---- in a worker ---------------------------------------------------------------------------------

_DONE = object()


class BatchJob:
    """``run_batch`` (or any function of a budget and a progress callback) in a cancellable worker thread.

    Use as a context manager: leaving the block before the job has finished cancels it, and
    the worker stops before its next chunk. ``events()`` yields :class:`Progress` (repeating the
    last one every :data:`HEARTBEAT_S` while the worker is busy) and raises the job's error at
    the end; ``result`` is the return value after that. ``wait()`` runs the job to its end in the
    foreground. The deadline is enforced from both sides: the worker checks it between chunks,
    and the waiting side gives up once it has passed, even while a model call is still running.
    """

    def __init__(
        self,
        work: Callable[[Budget, Callable[[Progress], None]], Any],
        budget: Budget | None = None,
        *,
        name: str = "sentiment-batch",
    ) -> None:
        self.budget = budget or Budget()
        self._work = work
        self._updates: queue.Queue[Any] = queue.Queue()
        self._box: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._finished = threading.Event()
        self._started = False

    def __enter__(self) -> BatchJob:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self._finished.is_set():
            self.cancel()

    def start(self) -> BatchJob:
        return self.__enter__()

    def cancel(self) -> None:
        """Ask the worker to stop before its next chunk; nothing is written."""
        self.budget.cancel()

    def _run(self) -> None:
        try:
            self._box["result"] = self._work(self.budget, self._updates.put)
        except BaseException as exc:  # handed to the waiting side, which re-raises it
            self._box["error"] = exc
        finally:
            self._finished.set()
            self._updates.put(_DONE)

    def events(self) -> Iterator[Progress]:
        last = Progress("starting")
        try:
            while True:
                try:
                    item = self._updates.get(timeout=HEARTBEAT_S)
                except queue.Empty:
                    self.budget.check()  # past the deadline while a model call runs: stop waiting
                    yield last
                    continue
                if item is _DONE:
                    break
                last = item
                yield item
        finally:
            # Runs on normal exit and when the consumer closes the iterator (Stop, tab closed, Ctrl-C).
            if not self._finished.is_set():
                self.cancel()
        if "error" in self._box:
            raise self._box["error"]

    @property
    def result(self) -> Any:
        if "error" in self._box:
            raise self._box["error"]
        if "result" not in self._box:
            raise RuntimeError("the job has not finished")
        return self._box["result"]

    def wait(self, progress: Callable[[Progress], None] | None = None, *, join_s: float = 30.0) -> Any:
        """Run to the end in the foreground; on any exception (Ctrl-C too) cancel and let the worker stop."""
        try:
            for event in self.events():
                if progress is not None:
                    progress(event)
        except BaseException:
            self.cancel()
            self._thread.join(join_s)  # the chunk in flight ends, then nothing more is written
            raise
        return self.result


def start_batch(budget: Budget | None = None, **kwargs: Any) -> BatchJob:
    """A started :class:`BatchJob` running ``run_batch(**kwargs)`` under ``budget``."""
    job = BatchJob(lambda job_budget, report: run_batch(budget=job_budget, progress=report, **kwargs), budget)
    return job.start()


__all__ = [
    "BatchJob",
    "BatchResult",
    "CHUNK_CHARS",
    "Classifier",
    "DEFAULT_CHUNK_SIZE",
    "InsightOptions",
    "Progress",
    "ProgressCallback",
    "classify_table",
    "read_batch_table",
    "result_column_names",
    "run_batch",
    "start_batch",
]
