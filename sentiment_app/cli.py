"""Command line: ``python -m sentiment_app predict INPUT -o OUTPUT`` classifies a file of texts.

Output columns: every input column in order, then ``sentiment``, ``confidence`` and one
``prob_<label>`` per label; ``.csv`` (UTF-8 with BOM) or ``.xlsx`` by the output's extension.
A user's mistake (bad file, unknown column, model that cannot load) prints one line
``error: ...`` to stderr and exits 2; the output name never holds a partial file. Unlike the app,
the CLI never falls back to the embedded model when ``--model`` fails: a batch run answers with
the model it was asked for or not at all. Subcommands keep room for more commands later.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .batch import DEFAULT_CHUNK_SIZE, TableError
from .config import LIMIT_FLAGS, ConfigError, add_serving_arguments, add_setting_arguments, config_from_args
from .distributed import add_command as add_distributed_command  # imports no Ray

EXIT_USAGE = 2
OUTPUT_FORMATS = (".csv", ".xlsx")
REPORT_FORMATS = (".xlsx", ".json")


class ProgressBar:
    """The classifying stage as a tqdm bar on stderr, its last line drawn once.

    tqdm's ``close()`` draws the bar a last time; an ``update`` to 100 % right before it drew the same
    line twice wherever stderr is a log rather than a terminal. The last step is left to ``close()``.
    """

    def __init__(self, file: TextIO, *, disable: bool = False, mininterval: float = 0.1) -> None:
        self.file, self.disable, self.mininterval = file, disable, mininterval
        self.bar: Any = None

    def show(self, event: Any) -> None:
        if event.stage != "classifying":
            return
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=event.total,
                unit="rows",
                file=self.file,
                disable=self.disable,
                dynamic_ncols=True,
                mininterval=self.mininterval,
            )
        if event.done >= event.total:
            self.bar.n = event.total  # drawn by close()
        else:
            self.bar.update(event.done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class CliError(Exception):
    """A one-line message for the user; exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sentiment_app", description="Chinese review sentiment from the command line."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    predict = commands.add_parser(
        "predict",
        help="classify every row of a CSV/TSV/TXT/XLSX file",
        description="Classify every row of a CSV/TSV/TXT/XLSX file (any common Chinese encoding and delimiter) "
        "and write the input columns plus sentiment, confidence and prob_<label>.",
    )
    predict.add_argument("input", metavar="INPUT", help="file of texts: .csv, .tsv, .txt or .xlsx")
    predict.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUTPUT",
        help="result file; .csv (UTF-8 with BOM, opens in Excel) or .xlsx",
    )
    table = predict.add_argument_group("table")
    table.add_argument(
        "--text-column",
        metavar="NAME",
        help="column with the texts (name or 1-based number; "
        "default: detected by name such as 评论/text, else the most Chinese column)",
    )
    table.add_argument(
        "--label-column",
        metavar="NAME",
        help="column with gold labels, to report accuracy (default: detected by name such as label/标签)",
    )
    table.add_argument("--sheet", metavar="NAME", help="sheet of an .xlsx file (default: the first)")
    table.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the first row is (or is not) a header (default: detected)",
    )
    table.add_argument(
        "--chunk-size",
        type=int,
        default=DEFAULT_CHUNK_SIZE,
        metavar="N",
        help=f"rows per model call and progress step (default {DEFAULT_CHUNK_SIZE})",
    )
    add_setting_arguments(table, LIMIT_FLAGS)  # --max-rows, --max-file-mb
    insights = predict.add_argument_group("insights")
    insights.add_argument(
        "--insights",
        metavar="REPORT",
        help="also write the insights (reasons with quotes, groups, periods, flagged rows): .xlsx sheets or "
        ".json; the output gains the 标记 column",
    )
    insights.add_argument(
        "--group-column", metavar="NAME", help="column to group by (default: detected, e.g. 商品/店铺); '' for none"
    )
    insights.add_argument("--date-column", metavar="NAME", help="date column (default: detected); '' for none")
    insights.add_argument(
        "--include-flagged", action="store_true", help="count flagged rows (templates, default reviews...) too"
    )
    table.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar or notes; only errors and the summary"
    )
    add_serving_arguments(predict, fallback_flag=False)  # a batch run never swaps models silently
    predict.set_defaults(handler=run_predict)
    add_distributed_command(commands)  # predict-distributed: Ray Data; sentiment_app/distributed.py
    from .model.export import add_export_parser

    add_export_parser(commands)  # python -m sentiment_app export MODEL OUTPUT_DIR (sentiment_app/model/export.py)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .model.export import ExportError

    try:
        return args.handler(args)
    except (CliError, ConfigError, TableError, ExportError) as exc:
        return _fail(exc)
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130


def _fail(exc: BaseException) -> int:
    message = " ".join(str(exc).split()) or type(exc).__name__
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _check_output(input_path: Path, output: Path) -> str:
    suffix = output.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise CliError(f"output {output} must end in .csv or .xlsx")
    if output.is_dir():
        raise CliError(f"output {output} is a folder: give a file name ending in {suffix or '.csv'}")
    folder = output.parent
    if not folder.is_dir():
        raise CliError(f"output folder {folder} does not exist: create it first")
    if not os.access(folder, os.W_OK):
        raise CliError(f"cannot write to folder {folder}: choose another output path")
    if output.exists() and input_path.exists() and os.path.samefile(input_path, output):
        raise CliError(f"output {output} is the input file: choose another name so the input is kept")
    return suffix


def run_predict(args: argparse.Namespace) -> int:
    """Read, classify, write and summarize through the batch pipeline (:class:`sentiment_app.batch.BatchJob`).

    The file is read and checked before the slow model load; the job runs in a worker thread
    like the app's, and Ctrl-C cancels it with nothing written. No time or memory budget: on
    the command line the user is the bound.
    """
    from .batch import BatchJob, ReadLimits, run_batch

    if args.chunk_size < 1:
        raise CliError(f"--chunk-size must be at least 1, got {args.chunk_size}")
    config = config_from_args(args)
    input_path, output = Path(args.input), Path(args.output)
    suffix = _check_output(input_path, output)
    report_path = Path(args.insights) if args.insights else None
    if report_path is not None:
        if report_path.suffix.lower() not in REPORT_FORMATS:
            raise CliError(f"--insights {report_path} must end in .xlsx or .json")
        if not report_path.parent.is_dir():
            raise CliError(f"folder {report_path.parent} of --insights does not exist: create it first")
        if report_path.resolve() in (output.resolve(), input_path.resolve()):
            raise CliError(f"--insights {report_path} must differ from the input and the output")
    options = None
    if report_path is not None:
        from .batch import InsightOptions

        def column(value: str | None) -> str | None:
            return "auto" if value is None else (value or None)

        options = InsightOptions(column(args.group_column), column(args.date_column), args.include_flagged)
    note = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr))

    def on_read(table) -> None:
        note(f"{input_path.name}: {table.description}")
        for warning in table.warnings:
            note(f"warning: {warning}")

    def load_model():
        from .model.loading import ModelLoadError, load_classifier  # torch: imported only once the input is known good

        if args.quiet:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        try:
            classifier = load_classifier(config)
        except ModelLoadError as exc:
            raise CliError(str(exc)) from None
        note(
            f"model: {classifier.info.name} ({classifier.info.kind}, labels {', '.join(classifier.labels)}"
            f"{', int8' if classifier.info.quantized else ''})"
        )
        return classifier

    bar = ProgressBar(sys.stderr, disable=args.quiet)

    limits = ReadLimits(max_bytes=config.max_file_bytes, max_rows=config.max_rows)
    job = BatchJob(
        lambda budget, report: run_batch(
            input_path,
            load_model,
            text_column=args.text_column,
            label_column=args.label_column,
            sheet=args.sheet,
            header=args.header,
            outputs={suffix.lstrip("."): output},
            limits=limits,
            budget=budget,
            chunk_size=args.chunk_size,
            progress=report,
            on_read=on_read,
            insights=options,
        )
    )
    try:
        with job:
            result = job.wait(bar.show)
    finally:
        bar.close()
    from .batch.summary import rows

    note(f"wrote {output} ({rows(len(result.frame))})")
    if report_path is not None and result.insights is not None:
        write_report(result, report_path)
        note(f"wrote {report_path} (insights from {rows(result.insights.rows_used)})")
    for line in result.summary.lines():
        print(line)
    return 0


def write_report(result: Any, path: Path) -> Path:
    """The insights report: the sheets as .xlsx, or the JSON (UTF-8, Chinese as is), written atomically."""
    import json

    from .batch.writing import _atomic_write, write_sheets

    insights = result.insights
    if path.suffix.lower() == ".xlsx":
        return write_sheets(insights.sheets(result.frame, result.table.text_column), path)
    text = json.dumps(insights.to_json(), ensure_ascii=False, indent=1, default=str)
    return _atomic_write(path, lambda temp: temp.write_text(text, encoding="utf-8"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
