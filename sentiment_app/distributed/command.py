"""``predict-distributed`` on the CLI's subparsers: flags, exit codes, the one-line errors."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..config import ConfigError, add_serving_arguments
from .pipeline import run
from .workers import (
    DistributedError,
)

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
FORMATS = ("parquet", "csv")
DEFAULT_ROWS_PER_BATCH = 1024  # rows per actor call: enough texts to sort by length, small enough to stream
# Per-shard limits: far above the upload limits of the app (50 MB / 100,000 rows), since one shard is
# read by one worker; a shard still has to fit in that worker's memory as text.
DEFAULT_SHARD_MAX_MB = 2048.0


def add_command(commands: Any) -> None:
    """Register ``predict-distributed`` on the CLI's subparsers (no Ray import)."""
    parser = commands.add_parser(
        "predict-distributed",
        help="classify CSV/TSV/JSONL/Parquet shards on Ray (local or a cluster)",
        description="Classify every row of a file, folder or glob of CSV/TSV/TXT/JSONL/Parquet shards on Ray "
        "Data, one model per worker, and write Parquet (or Excel-safe CSV) shards with the input "
        "columns plus sentiment, confidence and prob_<label>.",
    )
    parser.add_argument(
        "input",
        metavar="INPUT",
        help="a file, a folder or a quoted glob ('data/*.parquet') "
        "of .csv/.tsv/.txt, .jsonl or .parquet shards (one kind per run)",
    )
    parser.add_argument(
        "output_dir",
        metavar="OUTPUT_DIR",
        help="folder for the result shards; must be new "
        "or empty (on a cluster: a path every node can write, e.g. a shared filesystem)",
    )
    ray_group = parser.add_argument_group("ray")
    ray_group.add_argument(
        "--address",
        help="join a running Ray cluster: 'auto' (on a cluster node or under "
        "`ray job submit`), 'ray://HEAD:10001' (Ray Client) or HEAD:6379 "
        "(default: start a local Ray)",
    )
    ray_group.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="model actors, each loading the model once (default: local: one per 2 cores, at least 1; cluster: 2)",
    )
    ray_group.add_argument(
        "--cpus-per-worker",
        type=int,
        default=None,
        metavar="C",
        help="CPUs (and torch threads) per model actor (default: local: cores / N; cluster: 1)",
    )
    ray_group.add_argument(
        "--rows-per-batch",
        type=int,
        default=DEFAULT_ROWS_PER_BATCH,
        metavar="ROWS",
        help=f"rows per model-actor call (default {DEFAULT_ROWS_PER_BATCH})",
    )
    table = parser.add_argument_group("table")
    table.add_argument(
        "--text-column",
        metavar="NAME",
        help="column with the texts (default: detected as by "
        "`predict` for CSV/TSV; by name such as text/评论 for JSONL/Parquet)",
    )
    table.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="CSV/TSV shards have (or have not) a header row (default: detected on the first shard)",
    )
    table.add_argument(
        "--format",
        choices=FORMATS,
        default="parquet",
        help="output shards: parquet (default) or csv (UTF-8 with BOM, formulas escaped, for Excel)",
    )
    table.add_argument(
        "--shard-max-mb",
        type=float,
        default=DEFAULT_SHARD_MAX_MB,
        metavar="MB",
        help=f"refuse CSV/JSONL shards larger than this (default {DEFAULT_SHARD_MAX_MB:g})",
    )
    table.add_argument("-q", "--quiet", action="store_true", help="no Ray progress; only errors and the summary")
    add_serving_arguments(parser, fallback_flag=False)  # a batch run never swaps models silently
    parser.set_defaults(handler=main_from_args)


def main_from_args(args: argparse.Namespace) -> int:
    """Run the command; a user's mistake is one ``error:`` line and exit 2, Ctrl-C exit 130."""
    try:
        summary = run(args)
    except (DistributedError, ConfigError) as exc:
        return _fail(exc)
    except KeyboardInterrupt:
        print(f"error: interrupted; nothing was written to {args.output_dir}", file=sys.stderr)
        return EXIT_INTERRUPTED
    for line in summary.lines():
        print(line)
    return 0


def _fail(exc: BaseException) -> int:
    message = " ".join(str(exc).split()) or type(exc).__name__
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


# ---- plan: what to read, where to write, with what --------------------------------------------------
