"""The named API endpoints (``gradio_client``): ``/classify``, ``/classify_file``, ``/compare``.

``gr.api`` builds the generated API page from each function's signature: its parameter types, its
return annotation (one output per element of a returned tuple) and the description given here.
This module therefore has no ``from __future__ import annotations``: Gradio 6.31 reads the return
annotation as written, and a string ("tuple[...]") would count as one untyped output. The answers
are ``TypedDict``s, so the page shows their fields instead of ``Any``.
"""

from collections.abc import Iterator
from typing import Any, TypedDict

import gradio as gr

from ..limits import TextRefused, check_call, check_table_size, check_texts
from .guard import refused, user_error


class Answer(TypedDict, total=False):
    """One text's answer; ``label`` is None and ``error`` says why when the text was refused."""

    label: str | None
    confidence: float | None
    probabilities: dict[str, float]
    windows: int
    uncertain: bool
    model: str
    error: str


class ModelAnswer(TypedDict):
    label: str
    confidence: float
    probabilities: dict[str, float]


class ComparedText(TypedDict):
    text: str
    models: dict[str, ModelAnswer]
    disagree: bool


class Quote(TypedDict):
    row: int
    text: str


class ReasonItem(TypedDict):
    reason: str
    rows: int
    share: float
    lift: float
    words: list[str]
    quotes: list[Quote]
    source: str
    keywords: list[str]


class GroupRow(TypedDict):
    group: str
    rows: int
    shares: dict[str, float]
    uncertain: int
    top_reason: dict[str, str | None] | None


class Groups(TypedDict):
    column: str
    groups: int
    rows: list[GroupRow]


class PeriodRow(TypedDict):
    period: str
    rows: int
    shares: dict[str, float]
    sparse: bool


class Periods(TypedDict):
    column: str
    unit: str
    sparse_below: int
    rows: list[PeriodRow]


class Flags(TypedDict):
    column: str
    counts: dict[str, int]
    total: int
    included: bool
    star_column: str | None


class InsightsReport(TypedDict, total=False):
    """The insights, as ``python -m sentiment_app predict --insights REPORT.json`` writes them."""

    labels: list[str]
    rows_used: int
    reasons: dict[str, list[ReasonItem]]
    groups: Groups | None
    periods: Periods | None
    flags: Flags
    notes: list[str]


class FileSummary(TypedDict, total=False):
    """What ``/classify_file`` says about the file (``progress`` only in the updates before the answer)."""

    rows: int
    classified: int
    empty: int
    counts: dict[str, int]
    shares: dict[str, float]
    mean_confidence: float | None
    uncertain: int | None
    accuracy: float | None
    macro_f1: float | None
    text_column: str
    label_column: str | None
    read_as: str
    model: str
    insights: InsightsReport
    progress: dict[str, int | str]


CLASSIFY_DESCRIPTION = (
    "Classify one review or a list of reviews (Chinese). One string gives one answer; a list of strings "
    "gives a list of answers in the same order. Each answer: label, confidence, probabilities per label, "
    "windows (over 1 for a long text read in overlapping windows), uncertain (below the model's calibrated "
    "threshold) and model; a refused text has label null and error saying why."
)
CLASSIFY_FILE_DESCRIPTION = (
    "Classify every row of an uploaded CSV, TSV, TXT or XLSX file (handle_file(path)). text_column and "
    "label_column name the columns, or leave them empty to detect them. Returns the result CSV (UTF-8 with "
    "BOM, the input's columns plus sentiment, confidence, prob_<label> and 标记, the flag of rows to be careful "
    "with) and a summary (rows, counts, shares, mean confidence, accuracy and macro F1 against the label column "
    "when there is one, and insights: the reasons per label with quotes and row numbers, groups, periods and "
    "flag counts, as python -m sentiment_app predict --insights REPORT.json writes them)."
)
COMPARE_DESCRIPTION = (
    "Classify a list of texts with every loaded model, side by side: one row per text with each model's "
    "label, confidence and probabilities, and whether the models disagree. A single string counts as one text."
)
# Per-request input schema of /classify: the batched function's own annotation is a list of requests.
ONE_OR_MORE = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
PARAMETER_NOTES = {
    "classify": {"text": "a review, or a list of reviews"},
    "classify_file": {
        "file": "the uploaded table: handle_file(path)",
        "text_column": "the column with the reviews; empty: detected",
        "label_column": "a column of gold labels for accuracy; empty: detected when text_column is empty too",
    },
    "compare": {"texts": "the texts to compare (a single string is one text)"},
}
RETURN_NOTES = {
    "classify": {"answer": "one answer for a string, a list of answers (in order) for a list"},
    "classify_file": {"result_csv": "the result CSV", "summary": "what the file holds"},
    "compare": {"rows": "one row per text"},
}


class ApiCallbacks:
    """The endpoints' callbacks; mixed into :class:`~sentiment_app.ui.callbacks.Callbacks`."""

    def classify_api(self, text: list[str | list[str]]) -> tuple[list[Answer | list[Answer]]]:
        """``/classify`` (batched by Gradio): each request is one text (-> one dict: label, confidence,
        probabilities, windows, model) or a list of texts (-> a list of such dicts).

        Every request is checked on its own before the one merged model call: a request of the wrong
        shape, or a list over the per-call limits, gets one dict with ``label: None`` and ``error``; a
        bad text inside a list gets that dict in its place; the other requests are answered as usual.
        """
        payloads: list[Any] = list(text)  # one per merged request, as sent: checked here, not trusted
        answers: list[Any] = [None] * len(payloads)
        wanted: list[tuple[int, list[int], list[Any]]] = []  # request, positions of its valid texts, items
        for i, payload in enumerate(payloads):
            if isinstance(payload, (list, tuple)):
                try:
                    items = check_call(payload, self.limits)
                except TextRefused as exc:
                    answers[i] = self._error_answer(refused("/classify", str(exc)))
                    continue
            else:
                items = [payload]
            problems = [self.text_problem(item) for item in items]
            bad = [p for p in problems if p is not None]
            if bad:
                refused("/classify", bad[0] if len(items) == 1 else f"{len(bad)} of {len(items)} texts: {bad[0]}")
            wanted.append((i, [k for k, p in enumerate(problems) if p is None], items))
            answers[i] = [self._error_answer(p) if p is not None else None for p in problems]
        results = self._predict_isolated(self.primary, [[items[k] for k in ok] for _, ok, items in wanted])
        for (i, ok, _items), result in zip(wanted, results):
            for k, prediction in zip(ok, result if not isinstance(result, str) else []):
                answers[i][k] = Answer(
                    label=prediction.label,
                    confidence=prediction.score,
                    probabilities=prediction.probabilities,
                    windows=prediction.windows,
                    uncertain=prediction.uncertain,
                    model=self.names[0],
                )
            if isinstance(result, str):
                answers[i] = [self._error_answer(result) if a is None else a for a in answers[i]]
            if not isinstance(payloads[i], (list, tuple)):
                answers[i] = answers[i][0]
        return (answers,)

    def _error_answer(self, message: str) -> Answer:
        return Answer(
            label=None,
            confidence=None,
            probabilities={},
            windows=0,
            uncertain=False,
            model=self.names[0],
            error=message,
        )

    def classify_one(self, text: str | list[str]) -> Answer | list[Answer]:
        """``/classify`` without dynamic batching (``SENTIMENT_MAX_BATCH=1``): the same answer, one request per call."""
        return self.classify_api([text])[0][0]

    def classify_file_api(
        self, file: gr.FileData, text_column: str = "", label_column: str = ""
    ) -> tuple[gr.FileData | None, FileSummary]:
        """``/classify_file``: classify an uploaded CSV/TSV/TXT/XLSX file; the result CSV (UTF-8 BOM) and a summary.

        Only a ``gradio.FileData`` of an upload is read (``handle_file(path)`` in gradio_client).
        A generator over the same cancellable job as the batch tab: while it runs it yields
        ``(None, {"progress": {...}})``, and Gradio closing it (a cancel, a client gone) stops the
        job; the last yield is the answer. Annotated with what it yields, since ``gr.api`` reads
        the endpoint's outputs from the return annotation.
        """
        yield from self._classify_file(file, text_column, label_column)

    def _classify_file(self, file: Any, text_column: str, label_column: str) -> Iterator[tuple[Any, Any]]:
        source = self._upload(file, from_component=False)
        # "" for the label column: detect it when the text column is detected too, else none (as before)
        label = label_column or (None if not text_column else "")
        with self._start_job(source, self.primary, text_column, label, ("csv",)) as job:
            for event in self._events(job):
                yield None, FileSummary(progress={"stage": event.stage, "done": event.done, "total": event.total})
        result = job.result
        table, summary = result.table, result.summary
        yield (
            gr.FileData(path=str(result.files["csv"])),
            FileSummary(
                rows=summary.total_rows,
                classified=summary.classified_rows,
                empty=summary.empty_rows,
                counts=summary.counts,
                shares=summary.shares,
                mean_confidence=summary.mean_confidence,
                uncertain=summary.uncertain_rows,
                accuracy=summary.accuracy,
                macro_f1=summary.macro_f1,
                text_column=table.text_column,
                label_column=table.label_column,
                read_as=table.description,
                model=self.names[0],
                insights=result.insights.to_json() if result.insights is not None else {},
            ),
        )

    def compare_api(self, texts: list[str] | str) -> list[ComparedText]:
        """``/compare``: for each text, every loaded model's label and probabilities.

        Takes a list of texts, one text, or a table (``{"headers": [...], "data": [[kind, text], ...]}``,
        the comparison tab's shape, text in the last column); the same limits as everywhere, and the
        first text that breaks one refuses the call with a message naming it.
        """
        try:
            if isinstance(texts, str):
                texts = [texts]
            elif isinstance(texts, dict) and "data" in texts:
                rows = texts["data"]
                if not isinstance(rows, list):
                    raise TextRefused("🚫 表格的 data 必须是行的列表。/ A table's data must be a list of rows.")
                check_table_size(len(rows), self.limits)
                texts = [row[-1] if isinstance(row, list) and row else row for row in rows]
            texts = check_texts(texts, self.limits)
        except TextRefused as exc:
            raise user_error(refused("/compare", str(exc))) from None
        results = self._compare_predictions(texts)
        rows = []
        for i, text in enumerate(texts):
            answers = {
                name: ModelAnswer(label=preds[i].label, confidence=preds[i].score, probabilities=preds[i].probabilities)
                for name, preds in results.items()
            }
            labels = {a["label"] for a in answers.values()}
            rows.append(ComparedText(text=text, models=answers, disagree=len(labels) > 1))
        return rows


def describe_endpoint(demo: gr.Blocks, name: str, *, batched: bool = False) -> None:
    """Give endpoint ``name``'s API page a description per parameter and return value, and, for a batched
    endpoint, the per-request type of its input (its function's annotation is the list of requests)."""
    fn = next(f for f in demo.fns.values() if f.api_name == name)
    for component, (parameter, note) in zip(fn.inputs, PARAMETER_NOTES[name].items()):
        info = dict(ONE_OR_MORE) if batched else dict(component._api_info)
        component._api_info = {**info, "additional_description": note}
        component.label = parameter
    for component, (value, note) in zip(fn.outputs, RETURN_NOTES[name].items()):
        info = dict(component._api_info)
        if batched and info.get("type") == "array":
            info = dict(info["items"])
        component._api_info = {**info, "description": note}
        component.label = value
