"""The callbacks behind the three tabs: convert, call the serving core or the batch pipeline, format.

They live on :class:`Callbacks` (with the API endpoints of :mod:`.api` mixed in), so tests call them
without a browser; ``gr.Error`` carries a user's mistake to the page.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
import pandas as pd
from gradio.utils import get_upload_folder

from .. import batch
from ..batch import ResultFiles
from ..classifier import Prediction, SentimentClassifier
from ..config import AppConfig
from ..explain import explain, render
from ..limits import TextRefused, check_call, check_text
from .api import ApiCallbacks
from .formatting import (
    UNCERTAIN_MARK,
    describe_prediction,
    failed_html,
    finished_html,
    label_colors,
    marked,
    positive_label,
    progress_html,
    sentiment_spans,
    summary_markdown,
    table_description,
    table_error,
)
from .guard import internal_error, refused, user_error
from .insights_view import (
    AUTO_CHOICE,
    NO_COLUMN,
    column_choice,
    count_axis,
    group_frames,
    head_markdown,
    ordered_labels,
    period_frames,
    reasons_markdown,
)
from .tables import KIND, TEXT, confusion_view, least_view, result_view, short_text, texts_from_frame

PREVIEW_ROWS = 10
RESULT_PREVIEW_ROWS = 50
# Explanation weights below this are left unhighlighted, so the few words that matter stand out.
HIGHLIGHT_FLOOR = 0.15
NO_LABEL = "（无）"
FILE_NOT_USABLE = "文件无法使用"
JOB_STOPPED = "任务已停止"
NO_TEXT = "表格里没有文本，请至少填写一行。/ The table has no text: fill in at least one row."
NO_SUCH_MODEL = "🚫 没有这个模型，请从列表中选择。/ No such model: choose one of the listed models."


class PreviewOutputs(NamedTuple):
    """What the upload preview updates, in the order of its outputs."""

    preview: Any
    info: str
    text_column: Any
    label_column: Any
    run: Any
    results_box: Any
    group_column: Any
    date_column: Any


class RunOutputs(NamedTuple):
    """What a batch run updates, in the order of its outputs (``status``: the progress bar, then the outcome)."""

    results_box: Any
    status: Any
    table: Any
    chart: Any
    summary: Any
    confusion: Any
    least: Any
    download_csv: Any
    download_xlsx: Any
    insights_box: Any
    insights_head: Any
    reasons_first: Any
    reasons_rest: Any
    group_chart: Any
    group_table: Any
    period_chart: Any
    period_table: Any


RUN_OUTPUTS = len(RunOutputs._fields)


class Callbacks(ApiCallbacks):
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
        self.names = unique_names([clf.info.short_name for clf in self.classifiers])
        self.by_name = dict(zip(self.names, self.classifiers))

    @property
    def primary(self) -> SentimentClassifier:
        return self.classifiers[0]

    def model(self, name: str | None) -> SentimentClassifier:
        return self.by_name.get(name or "", self.primary)

    @property
    def all_labels(self) -> list[str]:
        """Every label of every model, in class order (for the charts' colours)."""
        return list(dict.fromkeys(label for clf in self.classifiers for label in clf.labels))

    # ---- tab 1: single text ----
    def text_problem(self, text: Any) -> str | None:
        """A friendly one-line message when ``text`` should not reach the model, else None."""
        try:
            check_text(text, self.limits)
        except TextRefused as exc:
            return str(exc)
        return None

    def classify_batch(self, texts: list[Any], models: list[Any]) -> tuple[list[Any], list[str]]:
        """Batched UI callback: label values for ``gr.Label`` and a note per request.

        Gradio merges up to ``max_batch`` requests into one call and hands them over raw
        (``preprocess=False``): each is checked on its own, so one request holding a number, a
        dict, a lone surrogate or a huge text gets its own message and the others their answers.
        """
        labels: list[Any] = [None] * len(texts)
        notes: list[str] = [""] * len(texts)
        groups: dict[str, list[int]] = {}
        for i, (text, model) in enumerate(zip(texts, models)):
            if model is not None and (not isinstance(model, str) or model not in self.by_name):
                notes[i] = refused("single text", NO_SUCH_MODEL)
            elif (problem := self.text_problem(text)) is not None:
                notes[i] = refused("single text", problem)
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
                    out.append(internal_error("a merged request"))
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
        return describe_prediction(prediction, seconds, batched=batched, max_length=clf.max_length, labels=clf.labels)

    def explain_text(self, text: str | None, model: str | None) -> tuple[Any, str]:
        """Highlighted words (a category per word: the sentiment it pushes toward, strong or not; long texts
        summarised) in the labels' colours, and a caption naming them."""
        if self.text_problem(text) is not None:  # classify_batch already said why, beside the label
            return [], ""
        clf = self.model(model)
        explanation = explain(clf, str(text))
        spans, caption = render(explanation, min_weight=HIGHLIGHT_FLOOR)
        value, colors = sentiment_spans(spans, explanation.prediction.label or "", clf.labels)
        return gr.HighlightedText(value=value, color_map=colors), caption

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
            raise gr.Error("请先上传一个文件。/ Upload a file first.", title="没有文件")
        try:
            return batch.uploaded_file(value, self.upload_root, from_component=from_component)
        except batch.UploadRefused as exc:
            raise gr.Error(str(exc), title=FILE_NOT_USABLE) from None
        except batch.TableError as exc:
            raise gr.Error(table_error(str(exc)), title=FILE_NOT_USABLE) from None

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
            raise gr.Error(table_error(str(exc)), title=FILE_NOT_USABLE) from None

    def preview(self, path: str | None) -> PreviewOutputs:
        """After upload: first rows, how the file was read, and the column choices preselected."""
        if not path:
            return self._no_preview("")
        name = Path(str(path)).name
        try:
            table = self.read_upload(path)
        except gr.Error as exc:
            # Shown beside the upload (and as a toast) rather than as an error on every output:
            # the page stays as it was and the user just picks another file. A refused path is not named.
            refused_path = exc.message == batch.UPLOAD_REFUSED
            message = exc.message if refused_path or name in exc.message else f"{name}：{exc.message}"
            gr.Warning(message, title=FILE_NOT_USABLE)
            return self._no_preview(f"⚠️ **{FILE_NOT_USABLE}**：{message}\n\n请换一个文件再试。")
        info = f"✅ **{name}** · {table_description(table)}\n\n已自动选好文本列和标签列，可在下方修改。"
        if table.warnings:
            info += "\n\n" + "\n".join(f"⚠️ {table_error(w)}" for w in table.warnings)
        label_choices = [NO_LABEL] + table.columns
        from ..insights.columns import detect_date_column, detect_group_column

        skip = [table.text_column, table.label_column]
        group = detect_group_column(table.frame, skip) or NO_COLUMN
        date = detect_date_column(table.frame, skip + [group]) or NO_COLUMN
        meta_choices = [AUTO_CHOICE, NO_COLUMN] + table.columns
        return PreviewOutputs(
            gr.Dataframe(value=table.frame.head(PREVIEW_ROWS), visible=True),
            info,
            gr.Dropdown(choices=table.columns, value=table.text_column, interactive=True),
            gr.Dropdown(choices=label_choices, value=table.label_column or NO_LABEL, interactive=True),
            gr.Button(interactive=True),
            gr.Column(visible=False),
            gr.Dropdown(choices=meta_choices, value=group, interactive=True),
            gr.Dropdown(choices=meta_choices, value=date, interactive=True),
        )

    @staticmethod
    def _no_preview(info: str) -> PreviewOutputs:
        return PreviewOutputs(
            gr.Dataframe(value=None, visible=False),
            info,
            gr.Dropdown(choices=[], value=None),
            gr.Dropdown(choices=[], value=None),
            gr.Button(interactive=False),
            gr.Column(visible=False),
            gr.Dropdown(choices=[AUTO_CHOICE, NO_COLUMN], value=AUTO_CHOICE),
            gr.Dropdown(choices=[AUTO_CHOICE, NO_COLUMN], value=AUTO_CHOICE),
        )

    def _start_job(
        self,
        source: Path,
        clf: SentimentClassifier,
        text_column: str | None,
        label_column: str | None,
        formats: Sequence[str],
        insights: batch.InsightOptions | None = None,
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
            insights=insights or batch.InsightOptions(),
        )

    def _events(self, job: batch.BatchJob) -> Iterator[batch.Progress]:
        """The job's progress; its user errors (bad file, time or memory limit) as ``gr.Error``."""
        try:
            yield from job.events()
        except batch.BudgetExceeded as exc:
            raise gr.Error(table_error(str(exc)), title=JOB_STOPPED) from None
        except batch.TableError as exc:
            raise gr.Error(table_error(str(exc)), title=FILE_NOT_USABLE) from None

    def run_table(
        self,
        path: str | None,
        text_column: str | None,
        label_column: str | None,
        model: str | None = None,
        group_column: str | None = AUTO_CHOICE,
        date_column: str | None = AUTO_CHOICE,
        include_flagged: bool = False,
    ) -> Iterator[RunOutputs]:
        """Classify the uploaded table in a worker; a generator so Stop and closing the tab cancel the job.

        Each progress event updates the progress bar (``status``) only; a user error shows in the bar
        too before it is raised, so the bar never stays on a job that has ended.
        """
        source = self._upload(path, from_component=True)
        clf = self.model(model)
        # "none" drops the gold label column; no choice at all (no text column either) detects both
        no_label = label_column in (None, NO_LABEL)
        label = ("" if text_column else None) if no_label else label_column
        started = time.monotonic()
        classifying_since: float | None = None
        yield _status(progress_html(0, 0, 0.0, stage="reading"))._replace(results_box=gr.Column(visible=False))
        options = batch.InsightOptions(column_choice(group_column), column_choice(date_column), bool(include_flagged))
        try:
            with self._start_job(source, clf, text_column, label, ("csv", "xlsx"), options) as job:
                for event in self._events(job):
                    if event.stage == "classifying" and classifying_since is None:
                        classifying_since = time.monotonic()
                    seconds = time.monotonic() - (classifying_since or started)
                    yield _status(progress_html(event.done, event.total, seconds, stage=event.stage))
        except gr.Error as exc:
            yield _status(failed_html(exc.message))
            raise
        yield self._run_outputs(job.result, clf, time.monotonic() - started)

    def _run_outputs(self, result: batch.BatchResult, clf: SentimentClassifier, seconds: float) -> RunOutputs:
        table, frame, summary = result.table, result.frame, result.summary
        counts = summary.counts_frame()
        chart = gr.BarPlot(
            value=pd.DataFrame({"情感": counts["label"], "条数": counts["count"]}), y_lim=count_axis(counts["count"])
        )
        columns = batch.find_result_columns(frame, clf.labels)
        confusion = confusion_view(summary.confusion)
        return RunOutputs(
            results_box=gr.Column(visible=True),
            status=finished_html(summary.total_rows, seconds, clf.info.short_name, table_description(table)),
            table=result_view(frame.head(RESULT_PREVIEW_ROWS), columns, clf.labels),
            chart=chart,
            summary=summary_markdown(summary, clf.labels),
            confusion=gr.Dataframe(value=confusion, visible=confusion is not None),
            least=least_view(summary.least_confident, columns, clf.labels),
            download_csv=gr.DownloadButton(value=str(result.files["csv"]), visible=True),
            download_xlsx=gr.DownloadButton(value=str(result.files["xlsx"]), visible=True),
            **self._insight_outputs(result),
        )

    @staticmethod
    def _insight_outputs(result: batch.BatchResult) -> dict[str, Any]:
        insights = result.insights
        if insights is None:
            return {"insights_box": gr.Column(visible=False)} | {
                name: gr.skip() for name in RunOutputs._fields[RunOutputs._fields.index("insights_head") :]
            }
        labels = ordered_labels(insights)
        groups, group_chart = group_frames(insights)
        periods, period_chart, period_label = period_frames(insights)
        group_rows = [g["rows"] for g in insights.groups["rows"]] if insights.groups else []
        period_rows = [p["rows"] for p in insights.periods["rows"]] if insights.periods else []
        group_label = f"各{insights.groups['column']}的评论数（前 10 组）" if insights.groups else ""
        return {
            "insights_box": gr.Column(visible=True),
            "insights_head": head_markdown(insights),
            "reasons_first": reasons_markdown(insights, labels[0]),
            "reasons_rest": "\n\n".join(reasons_markdown(insights, label) for label in labels[1:]),
            "group_chart": gr.BarPlot(
                value=group_chart, visible=groups is not None, y_lim=count_axis(group_rows[:10]), label=group_label
            ),
            "group_table": gr.Dataframe(value=groups, visible=groups is not None),
            "period_chart": gr.BarPlot(
                value=period_chart, visible=periods is not None, y_lim=count_axis(period_rows), label=period_label
            ),
            "period_table": gr.Dataframe(value=periods, visible=periods is not None),
        }

    # ---- tab 3: comparison ----
    def compare(self, frame: pd.DataFrame | dict[str, Any] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Every model on every example: a table (verdicts first, then the text) and chart data.

        ``frame`` is a DataFrame or the tab's raw table payload (see :func:`.tables.texts_from_frame`)."""
        try:
            rows = texts_from_frame(frame, self.limits)
            if rows:
                check_call([text for _, text in rows], self.limits)
        except TextRefused as exc:
            raise user_error(refused("comparison", str(exc))) from None
        if not rows:
            raise user_error(refused("comparison", NO_TEXT))
        kinds = [kind for kind, _ in rows]
        texts = [text for _, text in rows]
        results = self._compare_predictions(texts)
        table = pd.DataFrame(index=range(len(texts)))
        chart_rows = []
        many = len(results) > 1
        if many:
            answers = list(zip(*[[p.label for p in preds] for preds in results.values()]))
            table["分歧"] = ["⚠️" if len(set(a)) > 1 else "" for a in answers]
        for name, predictions in results.items():
            clf = self.by_name[name]
            pos = positive_label(clf.labels)
            prefix = f"{name} · " if many else ""
            table[f"{prefix}判断"] = [
                marked(p.label, clf.labels) + (UNCERTAIN_MARK if p.uncertain else "") for p in predictions
            ]
            if pos is not None:
                table[f"{prefix}P({pos})"] = [round(p.probabilities[pos], 3) for p in predictions]
            else:
                table[f"{prefix}置信度"] = [round(p.score, 3) for p in predictions]
            for i, p in enumerate(predictions):
                chart_rows.append(
                    {
                        "评论": short_text(i, texts[i]),
                        "模型": name,
                        "判断": p.label,
                        "正面概率": round(p.probabilities.get(pos, p.score) if pos else p.score, 3),
                    }
                )
        table[TEXT] = texts
        table[KIND] = kinds
        return table, pd.DataFrame(chart_rows)

    def chart_colors(self) -> dict[str, str]:
        return label_colors(self.all_labels)

    def _compare_predictions(self, texts: list[str]) -> dict[str, list[Prediction]]:
        return {name: clf.predict(texts) for name, clf in self.by_name.items()}


def _status(html: str) -> RunOutputs:
    """A progress update: the bar changes, everything else stays as it is."""
    return RunOutputs(*(html if field == "status" else gr.skip() for field in RunOutputs._fields))


def unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out
