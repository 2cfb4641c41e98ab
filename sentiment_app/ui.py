"""The Gradio Blocks app: single text, CSV batch and example comparison, Chinese first.

Callbacks only convert, call the serving core or the batch pipeline (:mod:`sentiment_app.batch`),
format, and raise ``gr.Error``; they live on :class:`Callbacks` so tests call them without a browser.
``build_demo(classifiers, config)`` wires them to components; models are loaded before,
never inside a callback.

Named API endpoints (for ``gradio_client``): ``/classify`` (text -> label and
probabilities, dynamically batched), ``/classify_file`` (file -> result CSV and summary),
``/compare`` (list of texts -> one row per text with every model's answer).
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
import pandas as pd
from gradio.utils import get_upload_folder

from . import admission, batch
from .artifact import generic_labels
from .batch import FileSweeper, ResultFiles
from .classifier import Prediction, SentimentClassifier
from .config import AppConfig
from .errors import hide_paths, redact
from .examples import COMPARISON_EXAMPLES, SINGLE_EXAMPLES
from .explain import explain, render
from .limits import (
    EMPTY_MESSAGE,  # noqa: F401 - re-exported: tests and the UI tests quote it from here
    MAX_CALL_TEXTS,
    MAX_TEXT_CHARS,  # noqa: F401 - re-exported, as above
    TextRefused,
    check_call,
    check_table_size,
    check_text,
    check_texts,
    is_blank,
)

logger = logging.getLogger(__name__)

APP_TITLE = "中文评论情感分析 · Chinese Review Sentiment"
POSITIVE_NAMES = ("正面", "积极", "正向", "好评", "positive", "pos")
# Defaults of the per-text and per-call limits (AppConfig.max_text_chars, max_call_texts), kept here by
# name for the tests and docs that quote them.
MAX_COMPARE_ROWS = MAX_CALL_TEXTS
# The comparison table's "kind" column is a short tag echoed back: longer ones are cut, not refused.
MAX_KIND_CHARS = 200
PREVIEW_ROWS = 10
RESULT_PREVIEW_ROWS = 50
# Explanation weights below this are left unhighlighted, so the few characters that matter stand out.
HIGHLIGHT_FLOOR = 0.15
# Multipart framing and form fields around an upload at the file limit (see max_body_bytes).
BODY_MARGIN_BYTES = 1 << 20
# What a client sees when a callback fails for a reason that is not the user's: no message, path or
# type from the exception itself (those go to the log, with the traceback and this reference).
INTERNAL_ERROR = (
    "😵 服务器内部出错，已记录（编号 {ref}），请稍后再试。/ Something went wrong on the server; it was "
    "logged (reference {ref}). Please try again later."
)


def positive_label(labels: Sequence[str]) -> str | None:
    """The label that means "positive": a known name, else the second of two labels (index 1)."""
    for label in labels:
        if str(label).strip().lower() in POSITIVE_NAMES:
            return label
    return labels[1] if len(labels) == 2 else None


def _percent(value: float) -> str:
    return f"{value:.1%}"


# ---- callbacks ---------------------------------------------------------------------------------


class Callbacks:
    """Everything the UI and the API call; plain Python, testable without a browser."""

    def __init__(
        self,
        classifiers: Sequence[SentimentClassifier],
        config: AppConfig,
        results: ResultFiles | None = None,
        chunk_size: int = batch.DEFAULT_CHUNK_SIZE,
        upload_root: str | Path | None = None,
    ) -> None:
        if not classifiers:
            raise ValueError("at least one classifier is needed")
        self.classifiers = list(classifiers)
        self.config = config
        self.results = results or ResultFiles(max_age=config.file_ttl)
        self.chunk_size = chunk_size
        self.limits = config.text_limits
        # Where Gradio puts uploads ($GRADIO_TEMP_DIR or <tmp>/gradio); the only folder a request may name.
        self._upload_root = upload_root
        self.names = _unique_names([clf.info.short_name for clf in self.classifiers])
        self.by_name = dict(zip(self.names, self.classifiers))

    @property
    def primary(self) -> SentimentClassifier:
        return self.classifiers[0]

    def model(self, name: str | None) -> SentimentClassifier:
        return self.by_name.get(name or "", self.primary)

    # ---- tab 1: single text ----
    def text_problem(self, text: Any) -> str | None:
        """A friendly one-line message when ``text`` should not reach the model, else None."""
        try:
            check_text(text, self.limits)
        except TextRefused as exc:
            return str(exc)
        return None

    def classify_batch(self, texts: list[Any], models: list[Any]) -> tuple[list[Any], list[str]]:
        """Batched UI callback: label values for ``gr.Label`` and a status line per request.

        Gradio merges up to ``max_batch`` requests into one call and hands them over raw
        (``preprocess=False``): each is checked on its own, so one request holding a number, a
        dict, a lone surrogate or a huge text gets its own message and the others their answers.
        """
        labels: list[Any] = [None] * len(texts)
        notes: list[str] = [""] * len(texts)
        groups: dict[str, list[int]] = {}
        for i, (text, model) in enumerate(zip(texts, models)):
            if model is not None and (not isinstance(model, str) or model not in self.by_name):
                notes[i] = _refused("single text", "🚫 没有这个模型。/ No such model: choose one of the listed models.")
            elif (problem := self.text_problem(text)) is not None:
                notes[i] = _refused("single text", problem)
            else:
                groups.setdefault(model or self.names[0], []).append(i)
        for name, wanted in groups.items():
            clf = self.model(name)
            start = time.perf_counter()
            predictions = self._predict_isolated(clf, [[texts[i]] for i in wanted])
            elapsed = time.perf_counter() - start
            for i, answer in zip(wanted, predictions):
                if isinstance(answer, str):
                    notes[i] = answer
                    continue
                labels[i] = dict(answer[0].probabilities)
                notes[i] = self.describe_prediction(answer[0], elapsed, batched=len(texts), model=clf)
        return labels, notes

    def _predict_isolated(self, clf: SentimentClassifier, requests: list[list[str]]) -> list[list[Prediction] | str]:
        """Predictions for several requests' texts in one model call; should that call fail, each request
        is run alone, so a text that breaks the model fails only its own request (with the internal-error
        message), never the requests it was merged with."""
        flat = [text for texts in requests for text in texts]
        try:
            predictions = clf.predict(flat) if flat else []
        except Exception:
            if len(requests) == 1:
                raise
            out: list[list[Prediction] | str] = []
            for texts in requests:
                try:
                    out.append(clf.predict(texts) if texts else [])
                except Exception:
                    out.append(_internal_error("a merged request"))
            return out
        out, at = [], 0
        for texts in requests:
            out.append(predictions[at : at + len(texts)])
            at += len(texts)
        return out

    def describe_prediction(
        self, prediction: Prediction, seconds: float, *, batched: int = 1, model: SentimentClassifier | None = None
    ) -> str:
        clf = model or self.primary
        parts = [
            f"**{prediction.label}** · 置信度 confidence {_percent(prediction.score)}"
            + (f" · {UNCERTAIN_NOTE}" if prediction.uncertain else ""),
            f"用时 {seconds * 1000:.0f} ms"
            + (
                f"（与其他 {batched - 1} 个请求合批 / batched with {batched - 1} other requests）"
                if batched > 1
                else ""
            ),
            f"{prediction.tokens:,} tokens",
        ]
        line = " · ".join(parts)
        if prediction.long_text:
            line += (
                f"\n\n📄 长文本：按 {prediction.windows} 个重叠窗口（每窗最多 {clf.max_length} tokens）分析后加权平均，"
                f"没有截断。/ Long text: read in {prediction.windows} overlapping windows of up to "
                f"{clf.max_length} tokens and averaged, nothing cut off."
            )
        return line

    def classify_api(self, texts: list[str | list[str]]) -> tuple[list[Any]]:
        """``/classify`` (batched by Gradio): each request is one text (-> one dict: label, confidence,
        probabilities, windows, model) or a list of texts (-> a list of such dicts).

        Every request is checked on its own before the one merged model call: a request of the wrong
        shape, or a list over the per-call limits, gets one dict with ``label: None`` and ``error``; a
        bad text inside a list gets that dict in its place; the other requests are answered as usual.
        """
        payloads: list[Any] = list(texts)  # one per merged request, as sent: checked here, not trusted
        answers: list[Any] = [None] * len(payloads)
        wanted: list[tuple[int, list[int], list[Any]]] = []  # request, positions of its valid texts, items
        for i, payload in enumerate(payloads):
            if isinstance(payload, (list, tuple)):
                try:
                    items = check_call(payload, self.limits)
                except TextRefused as exc:
                    answers[i] = self._error_answer(_refused("/classify", str(exc)))
                    continue
            else:
                items = [payload]
            problems = [self.text_problem(item) for item in items]
            bad = [p for p in problems if p is not None]
            if bad:
                _refused("/classify", bad[0] if len(items) == 1 else f"{len(bad)} of {len(items)} texts: {bad[0]}")
            wanted.append((i, [k for k, p in enumerate(problems) if p is None], items))
            answers[i] = [self._error_answer(p) if p is not None else None for p in problems]
        results = self._predict_isolated(self.primary, [[items[k] for k in ok] for _, ok, items in wanted])
        for (i, ok, _items), result in zip(wanted, results):
            for k, prediction in zip(ok, result if not isinstance(result, str) else []):
                answers[i][k] = {
                    "label": prediction.label,
                    "confidence": prediction.score,
                    "probabilities": prediction.probabilities,
                    "windows": prediction.windows,
                    "uncertain": prediction.uncertain,
                    "model": self.names[0],
                }
            if isinstance(result, str):
                answers[i] = [self._error_answer(result) if a is None else a for a in answers[i]]
            if not isinstance(payloads[i], (list, tuple)):
                answers[i] = answers[i][0]
        return (answers,)

    def _error_answer(self, message: str) -> dict[str, Any]:
        return {
            "label": None,
            "confidence": None,
            "probabilities": {},
            "windows": 0,
            "uncertain": False,
            "model": self.names[0],
            "error": message,
        }

    def classify_one(self, text: str | list[str]) -> Any:
        """``/classify`` without dynamic batching (``SENTIMENT_MAX_BATCH=1``): the same answer, one request per call."""
        return self.classify_api([text])[0][0]

    def explain_text(self, text: str | None, model: str | None) -> tuple[Any, str]:
        """Highlighted words (weights in [-1, 1], long texts summarised) and a caption naming them."""
        if self.text_problem(text) is not None:  # classify_batch already said why, beside the label
            return [], ""
        return render(explain(self.model(model), str(text)), min_weight=HIGHLIGHT_FLOOR)

    # ---- tab 2: batch ----
    @property
    def upload_root(self) -> str:
        return str(self._upload_root or get_upload_folder())

    def _limits(self) -> batch.ReadLimits:
        return batch.ReadLimits(max_bytes=self.config.max_file_bytes, max_rows=self.config.max_rows)

    def _budget(self) -> batch.Budget:
        return batch.Budget(seconds=self.config.job_seconds, memory_bytes=int(self.config.job_memory_mb * 2**20))

    def _upload(self, value: Any, *, from_component: bool) -> Path:
        """The uploaded file a request names, or one ``gr.Error`` line that says nothing about other paths."""
        if not value:
            raise gr.Error("请先上传一个文件。/ Upload a file first.", title="没有文件 No file")
        try:
            return batch.uploaded_file(value, self.upload_root, from_component=from_component)
        except batch.TableError as exc:
            raise gr.Error(str(exc), title="文件无法使用 File not usable") from None

    def read_upload(
        self, path: str | None, text_column: str | None = None, label_column: str | None = None
    ) -> batch.LoadedTable:
        """Read an upload for the preview, bounded like a job (limits, read time, memory)."""
        source = self._upload(path, from_component=True)
        try:
            return batch.read_batch_table(
                source, text_column=text_column, label_column=label_column, limits=self._limits(), budget=self._budget()
            )
        except batch.TableError as exc:
            raise gr.Error(f"{exc}", title="文件无法使用 File not usable") from None

    def preview(self, path: str | None) -> PreviewOutputs:
        """After upload: first rows, how the file was read, and the column choices preselected."""
        if not path:
            return PreviewOutputs(
                gr.Dataframe(value=None, visible=False),
                "",
                gr.Dropdown(choices=[], value=None),
                gr.Dropdown(choices=[], value=None),
                gr.Button(interactive=False),
                gr.Column(visible=False),
            )
        name = Path(str(path)).name
        try:
            table = self.read_upload(path)
        except gr.Error as exc:
            # Shown beside the upload (and as a toast) rather than as an error on every output:
            # the page stays as it was and the user just picks another file. A refused path is not named.
            refused = exc.message == batch.UPLOAD_REFUSED
            message = exc.message if refused or name in exc.message else f"{name}: {exc.message}"
            gr.Warning(f"文件无法使用 File not usable — {message}")
            return PreviewOutputs(
                gr.Dataframe(value=None, visible=False),
                f"⚠️ **文件无法使用 File not usable.** {message}\n\n请换一个文件再试。/ Please choose another file.",
                gr.Dropdown(choices=[], value=None),
                gr.Dropdown(choices=[], value=None),
                gr.Button(interactive=False),
                gr.Column(visible=False),
            )
        info = (
            f"✅ **{name}** · {table.description}\n\n"
            f"已自动选择文本列和标签列，可在下方修改。/ Text and label columns were detected; change them below."
        )
        if table.warnings:
            info += "\n\n" + "\n".join(f"⚠️ {w}" for w in table.warnings)
        label_choices = [NO_LABEL] + table.columns
        return PreviewOutputs(
            gr.Dataframe(value=table.frame.head(PREVIEW_ROWS), visible=True),
            info,
            gr.Dropdown(choices=table.columns, value=table.text_column, interactive=True),
            gr.Dropdown(choices=label_choices, value=table.label_column or NO_LABEL, interactive=True),
            gr.Button(interactive=True),
            gr.Column(visible=False),
        )

    def _start_job(
        self,
        source: Path,
        clf: SentimentClassifier,
        text_column: str | None,
        label_column: str | None,
        formats: Sequence[str],
    ) -> batch.BatchJob:
        return batch.start_batch(
            self._budget(),
            source=source,
            model=clf,
            text_column=text_column or None,
            label_column=label_column,
            formats=formats,
            output_dir=self.results.new_job,
            limits=self._limits(),
            chunk_size=self.chunk_size,
            summary_text_column=True,
        )

    def _events(self, job: batch.BatchJob) -> Iterator[batch.Progress]:
        """The job's progress; its user errors (bad file, time or memory limit) as ``gr.Error``."""
        try:
            yield from job.events()
        except batch.BudgetExceeded as exc:
            raise gr.Error(str(exc), title="任务已停止 Job stopped") from None
        except batch.TableError as exc:
            raise gr.Error(str(exc), title="文件无法使用 File not usable") from None

    def run_table(
        self,
        path: str | None,
        text_column: str | None,
        label_column: str | None,
        model: str | None = None,
        progress: gr.Progress = gr.Progress(),
    ) -> Iterator[RunOutputs]:
        """Classify the uploaded table in a worker; a generator so Stop and closing the tab cancel the job."""
        source = self._upload(path, from_component=True)
        clf = self.model(model)
        # "none" drops the gold label column; no choice at all (no text column either) detects both
        no_label = label_column in (None, NO_LABEL)
        label = ("" if text_column else None) if no_label else label_column
        progress(0.0, desc="读取文件 / reading the file")
        with self._start_job(source, clf, text_column, label, ("csv", "xlsx")) as job:
            for event in self._events(job):
                if event.stage == "classifying":
                    if event.done == 0:
                        desc = f"开始分析 {event.total:,} 行 / starting {event.total:,} rows"
                    else:
                        desc = f"已分析 {event.done:,} / {event.total:,} 行 rows"
                    progress(event.done / max(event.total, 1), desc=desc)
                elif event.stage == "writing":
                    progress(1.0, desc="写出结果文件 / writing result files")
                yield RunOutputs(*(gr.skip() for _ in RunOutputs._fields))
        yield self._run_outputs(job.result, clf)

    def _run_outputs(self, result: batch.BatchResult, clf: SentimentClassifier) -> RunOutputs:
        table, frame, summary = result.table, result.frame, result.summary
        counts = summary.counts_frame()
        chart = counts.rename(columns={"label": "情感 label", "count": "条数 count"})
        lines = [
            "### 结果概要 Summary",
            f"共 **{summary.total_rows:,}** 行 rows · 已分析 classified **{summary.classified_rows:,}** · "
            f"空白 empty {summary.empty_rows:,}"
            + (
                f" · 平均置信度 mean confidence {_percent(summary.mean_confidence)}"
                if summary.mean_confidence is not None
                else ""
            )
            + (f" · 把握不大 uncertain **{summary.uncertain_rows:,}**" if summary.uncertain_rows is not None else ""),
            "",
            "| 情感 label | 条数 count | 占比 share |",
            "|---|---:|---:|",
        ]
        lines += [
            f"| {label} | {count:,} | {_percent(summary.shares[label])} |" for label, count in summary.counts.items()
        ]
        if summary.accuracy is not None:
            lines += [
                "",
                f"**标签列 label column `{summary.label_column}`** · 准确率 accuracy "
                f"**{_percent(summary.accuracy)}** · macro F1 **{summary.macro_f1:.3f}** · "
                f"评估 evaluated {summary.evaluated_rows:,} 行 rows",
            ]
        if summary.note:
            lines += ["", f"ℹ️ {summary.note}"]
        confusion = None
        if summary.confusion is not None:
            confusion = summary.confusion.copy()
            confusion.index = [f"真实 {name}" for name in confusion.index]
            confusion.columns = [f"预测 {name}" for name in confusion.columns]
            confusion = confusion.reset_index(names="真实＼预测 gold＼predicted")
        numeric = batch.find_result_columns(frame, clf.labels)[1:]
        least = _rounded(summary.least_confident, numeric)
        least.insert(0, "行 row", [int(i) + 1 for i in least.index])
        status = (
            f"✅ 完成 done: {summary.total_rows:,} 行 rows · 使用模型 model **{clf.info.short_name}** · "
            f"{table.description}"
        )
        return RunOutputs(
            results_box=gr.Column(visible=True),
            status=status,
            table=_rounded(frame.head(RESULT_PREVIEW_ROWS), numeric),
            chart=chart,
            summary="\n".join(lines),
            confusion=gr.Dataframe(value=confusion, visible=confusion is not None),
            least=least,
            download_csv=gr.DownloadButton(value=str(result.files["csv"]), visible=True),
            download_xlsx=gr.DownloadButton(value=str(result.files["xlsx"]), visible=True),
        )

    def classify_file_api(
        self, file: gr.FileData, text_column: str = "", label_column: str = ""
    ) -> tuple[gr.FileData | None, dict[str, Any]]:
        """``/classify_file``: classify an uploaded CSV/TSV/TXT/XLSX file; the result CSV (UTF-8 BOM) and a summary.

        Only a ``gradio.FileData`` of an upload is read (``handle_file(path)`` in gradio_client).
        A generator over the same cancellable job as the batch tab: while it runs it yields
        ``(None, {"progress": {...}})``, and Gradio closing it (a cancel, a client gone) stops the
        job; the last yield is the answer. Annotated with what it yields, since ``gr.api`` reads
        the endpoint's outputs from the return annotation.
        """
        source = self._upload(file, from_component=False)
        # "" for the label column: detect it when the text column is detected too, else none (as before)
        label = label_column or (None if not text_column else "")
        with self._start_job(source, self.primary, text_column, label, ("csv",)) as job:
            for event in self._events(job):
                yield None, {"progress": {"stage": event.stage, "done": event.done, "total": event.total}}
        result = job.result
        table, summary = result.table, result.summary
        yield (
            gr.FileData(path=str(result.files["csv"])),
            {
                "rows": summary.total_rows,
                "classified": summary.classified_rows,
                "empty": summary.empty_rows,
                "counts": summary.counts,
                "shares": summary.shares,
                "mean_confidence": summary.mean_confidence,
                "uncertain": summary.uncertain_rows,
                "accuracy": summary.accuracy,
                "macro_f1": summary.macro_f1,
                "text_column": table.text_column,
                "label_column": table.label_column,
                "read_as": table.description,
                "model": self.names[0],
            },
        )

    # ---- tab 3: comparison ----
    def compare(self, frame: pd.DataFrame | dict[str, Any] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Every model on every example: a table (label and positive probability per model) and chart data.

        ``frame`` is a DataFrame or the tab's raw table payload (see :func:`_texts_from_frame`)."""
        try:
            rows = _texts_from_frame(frame, self.limits)
            if rows:
                check_call([text for _, text in rows], self.limits)
        except TextRefused as exc:
            raise user_error(_refused("comparison", str(exc))) from None
        if not rows:
            raise user_error(
                _refused(
                    "comparison", "表格里没有文本，请至少填写一行。/ The table has no text: fill in at least one row."
                )
            )
        kinds = [kind for kind, _ in rows]
        texts = [text for _, text in rows]
        results = self._compare_predictions(texts)
        table = pd.DataFrame({"类型 kind": kinds, "评论 text": texts})
        chart_rows = []
        for name, predictions in results.items():
            clf = self.by_name[name]
            pos = positive_label(clf.labels)
            prefix = f"{name} · " if len(results) > 1 else ""
            table[f"{prefix}判断 label"] = [f"{p.label}（把握不大）" if p.uncertain else p.label for p in predictions]
            if pos is not None:
                table[f"{prefix}P({pos})"] = [round(p.probabilities[pos], 3) for p in predictions]
            else:
                table[f"{prefix}置信度 confidence"] = [round(p.score, 3) for p in predictions]
            for i, p in enumerate(predictions):
                chart_rows.append(
                    {
                        "评论 text": _short(i, texts[i]),
                        "模型 model": name,
                        "正面概率 positive": round(p.probabilities.get(pos, p.score) if pos else p.score, 3),
                    }
                )
        if len(results) > 1:
            answers = list(zip(*[[p.label for p in preds] for preds in results.values()]))
            table["分歧 disagree"] = ["⚠️" if len(set(a)) > 1 else "" for a in answers]
        return table, pd.DataFrame(chart_rows)

    def _compare_predictions(self, texts: list[str]) -> dict[str, list[Prediction]]:
        return {name: clf.predict(texts) for name, clf in self.by_name.items()}

    def compare_api(self, texts: list[str]) -> list[dict[str, Any]]:
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
            raise user_error(_refused("/compare", str(exc))) from None
        results = self._compare_predictions(texts)
        rows = []
        for i, text in enumerate(texts):
            answers = {
                name: {"label": preds[i].label, "confidence": preds[i].score, "probabilities": preds[i].probabilities}
                for name, preds in results.items()
            }
            labels = {a["label"] for a in answers.values()}
            rows.append({"text": text, "models": answers, "disagree": len(labels) > 1})
        return rows


def user_error(message: str, **kwargs: Any) -> gr.Error:
    """A ``gr.Error`` for a user's mistake whose one log line :func:`_refused` has written: shown to the
    user, without the traceback Gradio 6.31 prints for every ``gr.Error`` unless told not to."""
    error = gr.Error(message, print_exception=False, **kwargs)
    error.sentiment_logged = True  # type: ignore[attr-defined]
    return error


def _refused(where: str, message: str) -> str:
    """Log one line for a request refused for the user's own reason (no traceback), and pass the message on."""
    logger.info("refused %s request: %s", where, message)
    return message


def _internal_error(where: str) -> str:
    """Log the current exception with its traceback under a fresh reference; the client's message has only
    the reference."""
    ref = uuid.uuid4().hex[:8]
    logger.exception("internal error in %s (reference %s)", where, ref)
    return INTERNAL_ERROR.format(ref=ref)


def guarded(where: str):
    """Wrap a callback (plain or generator): a ``gr.Error`` is a message for the user, passed on with one
    log line and no traceback; any other exception is a bug, logged with its traceback and answered with
    :data:`INTERNAL_ERROR`, so no path or exception text reaches the client."""

    def refused(exc: gr.Error) -> gr.Error:
        if not getattr(exc, "sentiment_logged", False):
            _refused(where, " ".join(str(exc.message).split()))
        exc.print_exception = False
        return exc

    def wrap(fn):
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
                try:
                    yield from fn(*args, **kwargs)  # Stop / a closed tab close this, and so the inner one
                except gr.Error as exc:
                    raise refused(exc) from None
                except Exception:
                    raise gr.Error(_internal_error(where), print_exception=False) from None

            return stream

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except gr.Error as exc:
                raise refused(exc) from None
            except Exception:
                raise gr.Error(_internal_error(where), print_exception=False) from None  # traceback logged once

        return call

    return wrap


NO_LABEL = "（无 none）"


class PreviewOutputs(NamedTuple):
    """What the upload preview updates, in the order of its outputs."""

    preview: Any
    info: str
    text_column: Any
    label_column: Any
    run: Any
    results_box: Any


class RunOutputs(NamedTuple):
    """What a batch run updates, in the order of its outputs."""

    results_box: Any
    status: Any
    table: Any
    chart: Any
    summary: Any
    confusion: Any
    least: Any
    download_csv: Any
    download_xlsx: Any


RUN_OUTPUTS = len(RunOutputs._fields)


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def _rounded(frame: pd.DataFrame, columns: Sequence[str], digits: int = 3) -> pd.DataFrame:
    """A display copy with the probability columns rounded (the downloads keep full precision)."""
    shown = frame.copy()
    for column in columns:
        if column in shown.columns:
            shown[column] = shown[column].round(digits)
    return shown


def _short(i: int, text: str, width: int = 12) -> str:
    body = text if len(text) <= width else text[: width - 1] + "…"
    return f"{i + 1:02d}. {body}"  # zero-padded: the chart orders its axis as text


def add_empty_row(frame: pd.DataFrame | None) -> pd.DataFrame:
    """The comparison table with one blank row at the end, for the user to type into."""
    columns = list(frame.columns) if frame is not None and len(frame.columns) else ["类型 kind", "评论 text"]
    base = frame if frame is not None else pd.DataFrame(columns=columns)
    return pd.concat([base, pd.DataFrame([[""] * len(columns)], columns=columns)], ignore_index=True)


def _texts_from_frame(frame: Any, limits: Any = None) -> list[tuple[str, str]]:
    """(kind, text) for each row with text; a one-column table is all text.

    ``frame`` is a DataFrame or the comparison table's raw payload (``{"headers": [...], "data":
    [[...], ...]}``, what the tab sends with ``preprocess=False``, read here without pandas, which
    cannot even hold a lone surrogate). With ``limits`` (a :class:`~sentiment_app.limits.TextLimits`),
    a table too tall, a text too long or not valid Unicode is refused (:class:`TextRefused`) before
    the rest is read; a number typed in a cell counts as its text.
    """
    if frame is None:
        return []
    if isinstance(frame, pd.DataFrame):
        n_columns, rows = len(frame.columns), frame
    elif isinstance(frame, dict) and isinstance(frame.get("data"), list):
        rows = frame["data"]
        n_columns = max((len(row) for row in rows[:1] if isinstance(row, list)), default=0)
    else:
        raise TextRefused('🚫 需要一个表格。/ Expected a table ({"headers": [...], "data": [[...], ...]}).')
    if len(rows) == 0 or n_columns == 0:
        return []
    if limits is not None:
        check_table_size(len(rows), limits)
    if isinstance(rows, pd.DataFrame):
        rows = rows.values.tolist()
    out = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, list) or not row:
            raise TextRefused(f"🚫 第 {number} 行不是一行表格。/ Row {number} is not a table row.")
        text = row[-1]
        if is_blank(text) or (isinstance(text, str) and not text.strip()):
            continue
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            text = str(text)
        if limits is not None:
            try:
                check_text(text, limits)
            except TextRefused as exc:
                raise TextRefused(f"第 {number} 行 / row {number}: {exc}") from None
        elif not isinstance(text, str):
            text = str(text)
        kind = row[0] if len(row) > 1 else ""
        kind = "" if is_blank(kind) else str(kind)
        out.append((kind if len(kind) <= MAX_KIND_CHARS else kind[: MAX_KIND_CHARS - 1] + "…", text.strip()))
    return out


# ---- page --------------------------------------------------------------------------------------


def header_markdown(classifiers: Sequence[SentimentClassifier], config: AppConfig) -> str:
    """Which model serves, where from, and what to do to change it.

    It is public (the page and ``/config`` carry it), so it is redacted: no token, no credentials in a
    URL, no absolute server path.
    """
    return hide_paths(redact(_header_lines(classifiers, config), config.token))


def _header_lines(classifiers: Sequence[SentimentClassifier], config: AppConfig) -> str:
    info = classifiers[0].info
    quant = "int8 开 on" if info.quantized else "int8 关 off"
    labels = " / ".join(info.labels)
    if info.source == "embedded":
        # No dev accuracy here: it holds for its training domains, not for whatever a user types.
        what = (
            f"**当前模型 Serving:** 内置轻量模型 embedded compact model（{info.parameters / 1e6:.1f}M 参数 params · "
            f"{EMBEDDED_DOMAINS}）"
        )
    else:
        kind = f"LoRA 适配器 adapter on `{info.base_model}`" if info.kind == "adapter" else "完整模型 full model"
        rev = f" @ `{info.revision[:12]}`" if info.revision else ""
        where = "Hub" if info.source == "hub" else "本地 local"
        what = f"**当前模型 Serving:** `{info.name}`{rev}（{where} · {kind}{_accuracy_note(info.metrics)}）"
    lines = [f"# {APP_TITLE}", f"{what} · {quant} · 标签 labels: {labels}"]
    if generic_labels(info.labels):
        example = ",".join(("负面", "正面") if len(info.labels) == 2 else (f"名称{i}" for i in range(len(info.labels))))
        lines.append(
            f"> 🏷️ 模型没有标签名，显示为 {labels}。请设置变量 `SENTIMENT_LABELS={example}`（按类别序号顺序，"
            f"逗号分隔），或在模型文件夹里加 `labels.json`。/ The model names no labels: set "
            f"`SENTIMENT_LABELS={example}` (class-index order, comma-separated; `--labels` locally) "
            "or add `labels.json` to the model."
        )
    if len(classifiers) > 1:
        lines.append("**对比模型 Comparison:** " + "、".join(f"`{c.info.short_name}`" for c in classifiers))
    if info.warning:
        lines.append(
            f"> ⚠️ **配置的模型无法加载，已改用内置轻量模型。/ The configured model could not be loaded; "
            f"serving the embedded compact model.** {info.warning}"
        )
    elif info.source == "embedded":
        lines.append(
            "> 💡 这是离线备用的小模型。要使用 Hub 上的 LoRA 适配器，请设置变量 `SENTIMENT_MODEL=用户名/仓库名`"
            "（私有仓库另设 secret `HF_TOKEN`）。/ A small offline fallback: set `SENTIMENT_MODEL` to an "
            "adapter repo on the Hub (and the `HF_TOKEN` secret for a private one) to serve it."
        )
    return "\n\n".join(lines)


# Shown beside a prediction whose top probability is below the artifact's calibrated threshold.
UNCERTAIN_NOTE = "⚠️ 把握不大 uncertain（低于校准阈值 below the model's calibrated threshold）"
EMBEDDED_DOMAINS = (
    "训练于酒店、电脑、图书和电商评论，其他领域可能不准 / trained on hotel, laptop, book and shopping "
    "reviews; less reliable elsewhere"
)


def _accuracy_note(metrics: dict[str, Any]) -> str:
    """The model's accuracy on its own held-out split, said to be that (not a promise for every text)."""
    for split, name in (("test", "自带测试集 its test split"), ("validation", "自带验证集 its dev split")):
        value = (metrics.get(split) or {}).get("accuracy") if isinstance(metrics.get(split), dict) else None
        if isinstance(value, (int, float)):
            return f" · {name} 准确率 accuracy {_percent(value)}"
    return ""


CSS = """
.app-header h1 {margin-bottom: 0.2em;}
.note {color: var(--body-text-color-subdued); font-size: 0.92em;}
#review-box textarea {min-height: 6.5em;}
"""


def build_demo(
    classifiers: Sequence[SentimentClassifier], config: AppConfig, results: ResultFiles | None = None
) -> gr.Blocks:
    """The whole app for already-loaded ``classifiers`` (the first one serves by default)."""
    cb = Callbacks(classifiers, config, results or ResultFiles(max_age=config.file_ttl))
    many = len(cb.classifiers) > 1
    # Single texts, comparisons and batch jobs each have their own queue (concurrency id), their own
    # concurrency and their own bound on requests waiting or running (see install_admission): a long
    # upload never makes a one-line query wait, and a flood of one kind never fills another's queue.
    single = {"concurrency_id": admission.SINGLE, "concurrency_limit": config.concurrency}
    compare = {"concurrency_id": admission.COMPARE, "concurrency_limit": config.compare_concurrency}
    jobs = {"concurrency_id": admission.BATCH, "concurrency_limit": config.batch_concurrency}

    # Uploads and downloads are deleted `file_ttl` seconds after they were made (checked at a
    # tenth of that), so the temp folder stays bounded however many files people send.
    cleanup = (max(1, config.file_ttl // 10), config.file_ttl)
    with gr.Blocks(
        title="中文评论情感分析 Chinese Review Sentiment", analytics_enabled=False, delete_cache=cleanup
    ) as demo:
        gr.Markdown(header_markdown(cb.classifiers, config), elem_classes="app-header")
        model_choice = gr.Radio(
            cb.names, value=cb.names[0], label="分析所用模型 Model for analysis", visible=many, interactive=True
        )

        with gr.Tab("单条分析 Single text", id="single"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    # lines=1 is what makes Enter submit (Shift+Enter adds a line); CSS keeps it tall.
                    text = gr.Textbox(
                        label="评论 Review",
                        lines=1,
                        max_lines=12,
                        elem_id="review-box",
                        placeholder="输入或粘贴一条中文评论，按 Enter 或点击“分析”。Shift+Enter 换行。\n"
                        "Type or paste a Chinese review, press Enter or click Analyze.",
                    )
                    with gr.Row():
                        analyze = gr.Button("分析 Analyze", variant="primary")
                        clear = gr.Button("清空 Clear")
                    examples = gr.Examples(SINGLE_EXAMPLES, inputs=[text], label="示例（点击试试）Examples: click one")
                with gr.Column(scale=2):
                    label_out = gr.Label(label="判断 Sentiment", num_top_classes=len(cb.primary.labels))
                    note = gr.Markdown(elem_classes="note")
            highlight = gr.HighlightedText(
                label="哪些字影响了判断（红色推向该判断，紫色相反）/ Characters that drove it: "
                "red pushes toward the verdict, purple against",
                show_legend=True,
                combine_adjacent=False,
            )
            top_chars = gr.Markdown(elem_classes="note")

            # preprocess=False: each merged request reaches classify_batch as sent and is checked there on
            # its own; a component's preprocess failing on one (an unknown model name) would fail them all.
            ui_classify = {
                "fn": guarded("single text")(cb.classify_batch),
                "inputs": [text, model_choice],
                "outputs": [label_out, note],
                "batch": True,
                "max_batch_size": config.max_batch,
                "preprocess": False,
                "api_visibility": "private",
                "api_name": "ui_classify",
                **single,
            }
            ui_explain = {
                "fn": guarded("explanation")(cb.explain_text),
                "inputs": [text, model_choice],
                "outputs": [highlight, top_chars],
                "api_visibility": "private",
                "api_name": "ui_explain",
                **single,
            }
            for trigger in (analyze.click, text.submit):
                trigger(**ui_classify).then(**ui_explain)
            examples.load_input_event.then(**ui_classify).then(**ui_explain)
            clear.click(
                lambda: ("", None, "", None, ""),
                None,
                [text, label_out, note, highlight, top_chars],
                queue=False,
                api_visibility="private",
            )

        with gr.Tab("批量分析 CSV batch", id="batch"):
            gr.Markdown(
                f"上传从 Excel、WPS、问卷或电商后台导出的评论表（.csv .tsv .txt .xlsx，GBK/UTF-8/Big5/UTF-16 均可，"
                f"最大 {config.max_file_mb:g} MB、{config.max_rows:,} 行）。/ Upload a comment export "
                f"(.csv .tsv .txt .xlsx in any common Chinese encoding, up to {config.max_file_mb:g} MB and "
                f"{config.max_rows:,} rows).",
                elem_classes="note",
            )
            with gr.Row(equal_height=False):
                with gr.Column(scale=2):
                    upload = gr.File(
                        label="上传文件 Upload file",
                        file_types=[".csv", ".tsv", ".txt", ".xlsx"],
                        file_count="single",
                        type="filepath",
                        elem_id="batch-upload",
                    )
                    # Custom values allowed: the choices are filled per upload, and run_table checks the
                    # names against the file itself (one clear message listing the columns).
                    text_col = gr.Dropdown(
                        label="文本列 Text column", choices=[], interactive=True, allow_custom_value=True
                    )
                    label_col = gr.Dropdown(
                        label="标签列（可选，用于计算准确率）Label column (optional, for accuracy)",
                        choices=[],
                        interactive=True,
                        allow_custom_value=True,
                    )
                    with gr.Row():
                        run = gr.Button("开始分析 Run", variant="primary", interactive=False)
                        stop = gr.Button("停止 Stop", variant="stop")
                with gr.Column(scale=3):
                    file_info = gr.Markdown()
                    preview = gr.Dataframe(
                        label="文件预览（前 10 行）Preview: first 10 rows",
                        interactive=False,
                        max_height=320,
                        wrap=True,
                        visible=False,
                    )
            status = gr.Markdown()
            with gr.Column(visible=False) as results_box:
                with gr.Row():
                    download_csv = gr.DownloadButton(
                        "下载 CSV（Excel 可直接打开）Download CSV", visible=False, variant="primary"
                    )
                    download_xlsx = gr.DownloadButton("下载 Excel (.xlsx) Download XLSX", visible=False)
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2):
                        summary_md = gr.Markdown()
                        confusion = gr.Dataframe(label="混淆矩阵 Confusion matrix", visible=False, interactive=False)
                    with gr.Column(scale=3):
                        # y from 0: Vega's default axis starts near the smallest bar, which made 268
                        # against 332 look like a landslide
                        chart = gr.BarPlot(
                            x="情感 label",
                            y="条数 count",
                            color="情感 label",
                            y_lim=[0, None],
                            label="情感分布 Label distribution",
                            height=300,
                        )
                results_table = gr.Dataframe(
                    label=f"结果预览（前 {RESULT_PREVIEW_ROWS} 行）Results: first {RESULT_PREVIEW_ROWS} rows",
                    interactive=False,
                    max_height=360,
                    wrap=True,
                )
                least = gr.Dataframe(
                    label="最不确定的几行（值得人工复核）Least confident rows: worth a human look",
                    interactive=False,
                    wrap=True,
                )

            upload.upload(
                cb.preview,
                upload,
                [preview, file_info, text_col, label_col, run, results_box],
                api_visibility="private",
                api_name="ui_preview",
                concurrency_limit=2,
            )
            upload.clear(
                lambda: cb.preview(None),
                None,
                [preview, file_info, text_col, label_col, run, results_box],
                queue=False,
                api_visibility="private",
            )
            run_outputs = [
                results_box,
                status,
                results_table,
                chart,
                summary_md,
                confusion,
                least,
                download_csv,
                download_xlsx,
            ]
            assert len(run_outputs) == RUN_OUTPUTS
            job = run.click(
                guarded("batch job")(cb.run_table),
                [upload, text_col, label_col, model_choice],
                run_outputs,
                api_visibility="undocumented",
                api_name="ui_run_table",
                **jobs,
            )
            stop.click(
                lambda: "⏹️ 已停止。/ Stopped.", None, status, cancels=[job], queue=False, api_visibility="private"
            )

        with gr.Tab("示例对比 Example comparison", id="compare"):
            gr.Markdown(
                "编辑或添加例句（反讽、否定、表情、繁体……），一起比较各模型的判断。/ Edit or add examples and "
                "compare how " + ("each model" if many else "the model") + " reads them.",
                elem_classes="note",
            )
            compare_in = gr.Dataframe(
                value=pd.DataFrame(COMPARISON_EXAMPLES, columns=["类型 kind", "评论 text"]),
                label="例句（可编辑，可添加行）Examples: editable, add rows",
                interactive=True,
                wrap=True,
                column_widths=["22%", "78%"],
            )
            with gr.Row():
                add_row = gr.Button("➕ 添加一行 Add a row", size="md")
                compare_btn = gr.Button("对比 Compare", variant="primary")
            compare_out = gr.Dataframe(label="对比结果 Results", interactive=False, wrap=True, visible=False)
            compare_chart = gr.BarPlot(
                x="评论 text",
                y="正面概率 positive",
                color="模型 model" if many else None,
                label="正面概率 Positive probability",
                y_lim=[0, 1],
                height=360,
                x_label_angle=-30,
                sort=None,
                visible=False,
            )

            def compare_ui(frame: dict[str, Any] | None) -> tuple[Any, Any]:
                table, chart_data = cb.compare(frame)
                return gr.Dataframe(value=table, visible=True), gr.BarPlot(value=chart_data, visible=True)

            # preprocess=False: the table arrives as sent and is checked before pandas sees it
            compare_btn.click(
                guarded("comparison")(compare_ui),
                compare_in,
                [compare_out, compare_chart],
                preprocess=False,
                api_visibility="private",
                api_name="ui_compare",
                **compare,
            )
            add_row.click(add_empty_row, compare_in, compare_in, queue=False, api_visibility="private")

        if config.max_batch > 1:
            gr.api(
                guarded("/classify")(cb.classify_api),
                api_name="classify",
                batch=True,
                max_batch_size=config.max_batch,
                **single,
            )
        else:
            gr.api(guarded("/classify")(cb.classify_one), api_name="classify", **single)
        gr.api(guarded("/classify_file")(cb.classify_file_api), api_name="classify_file", **jobs)
        gr.api(guarded("/compare")(cb.compare_api), api_name="compare", **compare)
    return demo


def admission_policy(config: AppConfig) -> admission.Policy:
    """Each kind's bound on requests waiting or running, from the config; a client gets half of each."""
    return admission.policy_from_limits(
        {
            admission.SINGLE: config.max_queue,
            admission.COMPARE: config.compare_queue,
            admission.BATCH: config.batch_queue,
        }
    )


def install_admission(demo: gr.Blocks, policy: admission.Policy) -> None:
    """Check every request against ``policy`` when it asks to join Gradio's queue, before it is queued.

    Gradio 6.31 bounds its queues only together (``max_size``) and offers no per-event queue size, so
    this wraps the queue's ``push``: it counts the requests of the same kind (by concurrency id)
    waiting or running, in all and from the same client, and refuses with Gradio's "queue full"
    answer (HTTP 503: the page says the app is busy, ``gradio_client`` raises ``QueueError``) and our
    one-line reason, logged once. It reads Gradio's queue state (``event_queue_per_concurrency_id``,
    ``active_jobs``); ``tests/test_app_serving.py`` fails if a Gradio upgrade moves them.
    """
    from gradio import route_utils

    queue_ = demo._queue
    original = queue_.push
    known = {admission.SINGLE, admission.COMPARE, admission.BATCH}
    pending: list[tuple[str, str]] = []  # admitted, not yet in Gradio's queue (push awaits before appending)

    def kind_of(concurrency_id: str | None) -> str:
        return concurrency_id if concurrency_id in known else admission.OTHER

    def client_of(request: Any) -> str:
        peer = getattr(getattr(request, "client", None), "host", None)
        headers = getattr(request, "headers", None) or {}
        return admission.client_key(peer, headers.get("x-forwarded-for"))

    def load() -> admission.Load:
        entries = list(pending)
        for event_queue in list(queue_.event_queue_per_concurrency_id.values()):
            entries += [(kind_of(e.concurrency_id), client_of(e.request)) for e in list(event_queue.queue)]
        for job in list(queue_.active_jobs):
            entries += [(kind_of(e.concurrency_id), client_of(e.request)) for e in job or []]
        return admission.count(entries)

    async def push(body: Any, request: Any, username: str | None) -> Any:
        try:
            fn = route_utils.get_fn(demo, None, body)
        except Exception:  # an unknown function: Gradio's own push answers it
            return await original(body=body, request=request, username=username)
        if fn.batch and (not isinstance(body.data, list) or len(body.data) != len(fn.inputs)):
            # A merged batch is zipped from every request's inputs: one of the wrong length would break all.
            return False, _refused(fn.api_name or "batched", f"expected {len(fn.inputs)} inputs"), "error"
        entry = (kind_of(fn.concurrency_id), client_of(request))
        refusal = policy.refusal(*entry, load())
        if refusal is not None:
            logger.info("refused %s request from %s: %s", fn.api_name, entry[1], refusal)
            return False, refusal, "queue_full"
        pending.append(entry)
        try:
            return await original(body=body, request=request, username=username)
        finally:
            pending.remove(entry)

    queue_.push = push


def max_body_bytes(config: AppConfig) -> int:
    """The largest HTTP request body the app reads: an upload at the file limit plus its multipart framing."""
    return config.max_file_bytes + BODY_MARGIN_BYTES


def launch(demo: gr.Blocks, config: AppConfig, *, results: ResultFiles | None = None, **overrides: Any) -> Any:
    """Queue per kind of work (see :func:`install_admission`), then serve.

    ``results``: the folder ``build_demo`` was given for result files; Gradio may serve files from
    it, and it and Gradio's upload folder (partial uploads too) are purged by age from now on.

    ``show_error=False``: only ``gr.Error`` messages (ours, written for users) reach the page; an
    unexpected exception's text, which may hold paths or internals, stays in the log.
    """
    policy = admission_policy(config)
    # Gradio's own bound counts all kinds together; ours count each kind (waiting or running), so this
    # sum is never reached while admission works and stays as a backstop should it not.
    demo.queue(max_size=policy.total, default_concurrency_limit=config.concurrency)
    install_admission(demo, policy)
    kwargs: dict[str, Any] = dict(
        server_name=config.host,
        server_port=config.port,
        share=config.share,
        max_file_size=config.max_file_bytes,
        show_error=False,
        ssr_mode=False,
        footer_links=["api"],
        theme=THEME,
        css=CSS,
        # Every request body, JSON included, is bounded before it is parsed: a 500 MB "review" is cut off
        # with HTTP 413 while it arrives instead of being read into memory; uploads fit under it.
        app_kwargs={"max_body_size": max_body_bytes(config)},
    )
    folders: list[tuple[str | Path, float, bool]] = [(get_upload_folder(), config.file_ttl, False)]
    if results is not None:
        kwargs["allowed_paths"] = [str(results.root)]
        folders.append((results.root, config.file_ttl, True))
    FileSweeper(folders, every=max(1, config.file_ttl // 10)).start()
    kwargs.update(overrides)
    return demo.launch(**kwargs)


# System CJK fonts first: nothing is fetched from a font CDN, which a Space visitor in
# mainland China may not reach and an offline machine cannot.
THEME = gr.themes.Soft(
    primary_hue="rose",
    secondary_hue="slate",
    font=["PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC", "system-ui", "sans-serif"],
    font_mono=["SFMono-Regular", "Menlo", "Consolas", "monospace"],
)
