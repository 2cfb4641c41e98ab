"""``python -m sentiment_app predict-distributed INPUT OUTPUT_DIR``: batch scoring on Ray Data.

For tables bigger than one process gets through (a shop's whole history): INPUT is a file, a folder
or a glob of CSV/TSV/TXT, JSONL or Parquet shards; OUTPUT_DIR gets Parquet shards (or Excel-safe CSV
shards with ``--format csv``) holding every input column plus ``sentiment``, ``confidence`` and one
``prob_<label>`` per label, every input row exactly once (row order across shards is not kept).

How: Ray Data reads the shards (Parquet with Ray's reader; CSV/TSV/TXT with the batch CLI's own
decoding rules, one Ray task per shard, since Ray's CSV reader knows neither GBK/Big5/UTF-16 nor
header detection; JSONL the same way so that a broken shard is named), then ``map_batches`` hands
batches of rows to a fixed pool of actors, each of which loads the model once with the app's own
loading (:func:`sentiment_app.loading.load_classifier`: merging, int8, threads per worker), and a
small datasink writes one file per write task into a staging folder that is moved into OUTPUT_DIR
only when every row is written. ``--address`` joins an existing cluster (``auto`` or ``ray://``);
without it a local Ray instance starts with ``--workers`` model actors.

Ray is imported only inside :func:`run` (and the actor and sink it ships to workers): the app and the
plain ``predict`` command never import it. Like the batch CLI, a user's mistake is one line
``error: ...`` and exit code 2; Ctrl-C is exit 130, no traceback, nothing left in OUTPUT_DIR.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import logging
import os
import re
import secrets
import shutil
import socket
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import AppConfig, ConfigError, add_serving_arguments, config_from_args

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
FORMATS = ("parquet", "csv")
# Shard kinds by file suffix. .txt follows the batch CLI: one text per line unless it has a delimiter.
SUFFIX_KINDS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
DEFAULT_ROWS_PER_BATCH = 1024  # rows per actor call: enough texts to sort by length, small enough to stream
ROWS_PER_FILE = 100_000  # rows Ray bundles into one write task, i.e. one output shard (fewer, larger files)
# Per-shard limits: far above the upload limits of the app (50 MB / 100,000 rows), since one shard is
# read by one worker; a shard still has to fit in that worker's memory as text.
DEFAULT_SHARD_MAX_MB = 2048.0
DEFAULT_SHARD_MAX_ROWS = 50_000_000
CONNECT_TIMEOUT_S = 5.0  # a cluster address that takes longer to accept a TCP connection is unreachable
RAY_CLIENT_PORT = 10001  # Ray's default client server port, for ``ray://host`` without a port
STAGING_PREFIX = ".incomplete-"
SHUTDOWN_WAIT_S = 15.0  # for Ray Data's threads to stop after an error or Ctrl-C, before Ray shuts down
_SHARD_ERROR = "ShardError"  # class name that marks our own message inside Ray's wrapped task errors
_GLOB_CHARS = re.compile(r"[*?\[]")


class DistributedError(Exception):
    """A one-line message for the user; exit code 2."""


class ShardError(Exception):
    """A shard that cannot be read; raised inside a Ray task, the message names the shard."""


# ---- the batch pipeline's public functions, in one place --------------------------------------------


def batch_api() -> Any:
    """The project's batch functions this command uses (reading with its decoding rules, ``classify_table``,
    formula escaping), from ``sentiment_app.batch``: the one place to repoint if they move again.

    ``read_table`` here has no time budget (the app bounds a read to 2 minutes; a shard of a
    distributed run may take longer, and Ctrl-C is the bound, as for ``predict``).
    """
    from types import SimpleNamespace

    from . import batch
    from .batch.columns import TEXT_NAMES

    def read_table(path: Path, **kwargs: Any) -> Any:
        return batch.read_table(path, budget=batch.Budget(what=f"reading {Path(path).name}", setting=None), **kwargs)

    return SimpleNamespace(
        read_table=read_table,
        TableError=batch.TableError,
        LoadedTable=batch.LoadedTable,
        classify_table=batch.classify_table,
        escape_formulas=batch.escape_formulas,
        TEXT_NAMES=TEXT_NAMES,
    )


# ---- command line -------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class InputPlan:
    """The shards of one kind, and how to read them."""

    kind: str  # "csv", "jsonl" or "parquet"
    shards: tuple[str, ...]
    text_column: str
    columns: tuple[str, ...]
    header: bool | None = None  # CSV only: decided on the first shard, then forced on all


@dataclass(frozen=True)
class RunSummary:
    """What the end of a run prints."""

    rows: int
    counts: dict[str, int]
    empty: int
    files: int
    seconds: float
    workers: int
    output_dir: str

    def lines(self) -> list[str]:
        rate = self.rows / self.seconds if self.seconds > 0 else float("nan")
        parts = [
            f"{label} {count:,} ({count / max(self.rows - self.empty, 1):.1%})" for label, count in self.counts.items()
        ]
        return [
            f"{self.rows:,} rows: " + ", ".join(parts) + f", empty {self.empty:,}",
            f"{rate:,.1f} rows/s with {self.workers} worker(s) ({self.seconds:.1f} s from start to last shard "
            f"written, model loading included)",
            f"wrote {self.files} {'file' if self.files == 1 else 'files'} to {self.output_dir}",
        ]


def resolve_shards(spec: str) -> tuple[str, list[str]]:
    """(kind, sorted shard paths) for a file, a folder (searched recursively) or a glob.

    Files whose name starts with ``.`` or ``_`` (``_SUCCESS``, staging files) are skipped in folders.
    One kind per run: CSV/TSV/TXT, JSONL or Parquet.
    """
    path = Path(spec)
    if path.is_file():
        candidates = [path]
    elif path.is_dir():
        candidates = [
            p
            for p in sorted(path.rglob("*"))
            if p.is_file()
            and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
            and p.suffix.lower() in SUFFIX_KINDS
        ]
        if not candidates:
            raise DistributedError(f"folder {spec} holds no .csv/.tsv/.txt/.jsonl/.parquet files")
    elif _GLOB_CHARS.search(spec):
        candidates = [Path(p) for p in sorted(glob.glob(spec, recursive=True)) if Path(p).is_file()]
        if not candidates:
            raise DistributedError(f"no files match {spec}")
    else:
        raise DistributedError(f"{spec}: no such file or folder")
    kinds: dict[str, list[str]] = {}
    for candidate in candidates:
        kind = SUFFIX_KINDS.get(candidate.suffix.lower())
        if kind is None:
            raise DistributedError(f"{candidate.name} is not a .csv/.tsv/.txt/.jsonl/.parquet file")
        kinds.setdefault(kind, []).append(str(candidate.resolve()))
    if len(kinds) > 1:
        summary = ", ".join(f"{len(v)} {k}" for k, v in sorted(kinds.items()))
        raise DistributedError(f"{spec} mixes kinds of shards ({summary}): give one kind per run")
    kind, shards = next(iter(kinds.items()))
    return kind, shards


def plan_input(spec: str, *, text_column: str | None, header: bool | None, max_bytes: int) -> InputPlan:
    """Find the shards and settle the text column before any cluster or model work.

    CSV/TSV: the first shard is read on the driver with the batch CLI's rules (encoding, delimiter,
    header, text column), and its header decision and text column are then used for every shard.
    Parquet: every shard's footer is read here (cheap), so a broken file is named before the run.
    """
    kind, shards = resolve_shards(spec)
    if kind == "csv":
        api = batch_api()
        first = Path(shards[0])
        try:
            table = api.read_table(
                first, text_column=text_column, header=header, max_bytes=max_bytes, max_rows=DEFAULT_SHARD_MAX_ROWS
            )
        except api.TableError as exc:
            raise DistributedError(_named(first.name, str(exc))) from None
        return InputPlan(kind, tuple(shards), table.text_column, tuple(table.columns), header=table.has_header)
    if kind == "parquet":
        columns = _parquet_columns(shards)
    else:
        columns = _jsonl_columns(Path(shards[0]))
    return InputPlan(
        kind, tuple(shards), _choose_text_column(columns, text_column, Path(shards[0]).name), tuple(columns)
    )


def _named(name: str, message: str) -> str:
    return message if message.startswith(name) else f"{name}: {message}"


def _parquet_columns(shards: Sequence[str]) -> list[str]:
    import pyarrow.parquet as pq

    columns: list[str] | None = None
    for shard in shards:
        name = Path(shard).name
        try:
            names = list(pq.read_schema(shard).names)
        except Exception as exc:  # pyarrow raises ArrowInvalid/OSError subclasses for broken files
            raise DistributedError(f"cannot read shard {name}: {_first_line(exc)}") from None
        if columns is None:
            columns = names
        elif set(names) != set(columns):
            raise DistributedError(
                f"shard {name} has columns {', '.join(names)}, the first shard "
                f"{', '.join(columns)}: give shards of one table"
            )
    return columns or []


def _jsonl_columns(first: Path) -> list[str]:
    frame = _read_jsonl(first, max_bytes=None, head=1000)
    return [str(c) for c in frame.columns]


def _choose_text_column(columns: Sequence[str], wanted: str | None, shard: str) -> str:
    """``wanted`` if the shards have it; else the first column named like a text column (text, 评论...)."""
    listed = ", ".join(columns)
    if wanted:
        if wanted in columns:
            return wanted
        folded = [c for c in columns if c.strip().lower() == wanted.strip().lower()]
        if len(folded) == 1:
            return folded[0]
        raise DistributedError(f"there is no text column {wanted!r} in {shard}; the columns are: {listed}")
    names = [name.lower().replace(" ", "").replace("_", "").replace("-", "") for name in batch_api().TEXT_NAMES]
    for keyword in names:
        for column in columns:
            if column.lower().replace(" ", "").replace("_", "").replace("-", "") == keyword:
                return column
    raise DistributedError(f"no column of {shard} is named like a text column ({listed}): give --text-column")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def check_output_dir(output_dir: str, shards: Sequence[str]) -> Path:
    """The output folder, created if needed; refused if it holds files (old shards would mix with new)."""
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise DistributedError(f"OUTPUT_DIR {output_dir} is a file: give a folder")
    if out.is_dir() and any(out.iterdir()):
        raise DistributedError(
            f"OUTPUT_DIR {output_dir} is not empty: choose a new folder or empty it, so "
            "old shards do not mix with new ones"
        )
    resolved = out.resolve()
    for shard in shards:
        if Path(shard).is_relative_to(resolved):
            raise DistributedError(f"OUTPUT_DIR {output_dir} holds the input shards: choose another folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DistributedError(f"cannot create OUTPUT_DIR {output_dir}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK):
        raise DistributedError(f"cannot write to OUTPUT_DIR {output_dir}")
    return out


def check_model(config: AppConfig) -> None:
    """A local model folder is checked here, before Ray starts (a worker failing to load it would bury
    the reason in Ray's retries). Hub ids are resolved by the workers; the embedded model ships with them."""
    from .artifact import ArtifactError, artifact_kind, read_labels

    spec = config.model
    if spec is None:
        return
    folder = Path(spec).expanduser()
    if not folder.is_dir():
        if spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec:
            raise DistributedError(f"model folder {spec} does not exist")
        return  # a Hub repo id
    try:
        artifact_kind(folder)
        read_labels(folder)
    except ArtifactError as exc:
        raise DistributedError(str(exc)) from None


def check_reachable(address: str) -> None:
    """Fail in seconds, with one line, when a cluster address accepts no connection (Ray waits ~30-60 s)."""
    if address == "auto" or address.startswith("local"):
        return
    target = address[len("ray://") :] if address.startswith("ray://") else address
    host, _, port_text = target.rpartition(":")
    if not host:
        host, port_text = target, str(RAY_CLIENT_PORT) if address.startswith("ray://") else "6379"
    try:
        port = int(port_text)
    except ValueError:
        raise DistributedError(f"--address {address}: expected auto, ray://HOST:PORT or HOST:PORT") from None
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DistributedError(
            f"cannot reach the Ray cluster at {address}: {reason}; is it running (`ray status` on the head node)?"
        ) from None


# ---- the run ----------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> RunSummary:
    """Plan (no Ray yet), then start or join Ray, score, write, and return the summary."""
    if args.rows_per_batch < 1:
        raise DistributedError(f"--rows-per-batch must be at least 1, got {args.rows_per_batch}")
    for flag in ("workers", "cpus_per_worker"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise DistributedError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    if args.shard_max_mb <= 0:
        raise DistributedError("--shard-max-mb must be positive")
    config = config_from_args(args)
    check_model(config)
    max_bytes = int(args.shard_max_mb * 2**20)
    plan = plan_input(args.input, text_column=args.text_column, header=args.header, max_bytes=max_bytes)
    created = not Path(args.output_dir).exists()
    out = check_output_dir(args.output_dir, plan.shards)
    if args.address:
        check_reachable(args.address)
    workers, cpus = _worker_shape(args)
    config = replace(config, threads=config.threads or cpus)
    staging = out / f"{STAGING_PREFIX}{secrets.token_hex(4)}"
    started = time.perf_counter()
    ray = _start_ray(args.address, workers * cpus, quiet=args.quiet)
    try:
        sink = _pipeline(
            plan,
            config,
            staging,
            workers=workers,
            cpus=cpus,
            rows_per_batch=args.rows_per_batch,
            output_format=args.format,
            max_bytes=max_bytes,
        )
        files = _commit(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if still empty
        raise
    finally:
        if not args.address:
            _shutdown(ray)
    seconds = time.perf_counter() - started
    counts, empty, rows = sink.tally()
    return RunSummary(
        rows=rows, counts=counts, empty=empty, files=files, seconds=seconds, workers=workers, output_dir=str(out)
    )


def _worker_shape(args: argparse.Namespace) -> tuple[int, int]:
    """(model actors, CPUs each): locally the cores are shared out; on a cluster Ray places them."""
    if args.address:
        return args.workers or 2, args.cpus_per_worker or 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    workers = args.workers or max(1, cores // 2)
    return workers, args.cpus_per_worker or max(1, cores // workers)


def _start_ray(address: str | None, cpus: int, *, quiet: bool) -> Any:
    """Join ``address`` or start a local instance with ``cpus`` + 1 logical CPUs (the extra one runs the
    read/write tasks beside the model actors, which hold the others); Ray's own logs stay quiet."""
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    import ray

    options: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": logging.WARNING,
        "log_to_driver": False,
        "ignore_reinit_error": True,
    }
    try:
        if address:
            if address.startswith("ray://"):
                # Ray Client from another machine: ship this package so the workers can import it.
                options["runtime_env"] = {"py_modules": [str(Path(__file__).resolve().parent)]}
            ray.init(address=address, **options)
        else:
            # Workers start in other folders; they import sentiment_app from where this one was imported.
            root = str(Path(__file__).resolve().parent.parent)
            path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
            ray.init(num_cpus=cpus + 1, runtime_env={"env_vars": {"PYTHONPATH": path}}, **options)
    except ConnectionError as exc:
        raise DistributedError(f"cannot reach the Ray cluster at {address}: {_first_line(exc)}") from None
    except ValueError as exc:  # ray:// without ray[client], a malformed address
        raise DistributedError(f"cannot start Ray ({address or 'local'}): {_first_line(exc)}") from None
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = not quiet
    context.print_on_execution_start = not quiet
    _silence_user_code_errors()
    return ray


def _shutdown(ray: Any) -> None:
    """Stop the local Ray once Ray Data's executor threads are done: after Ctrl-C they may still be
    winding down, and one that touches Ray after ``shutdown`` makes Ray end the process with code 1."""
    import threading

    deadline = time.monotonic() + SHUTDOWN_WAIT_S
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and type(thread).__module__.startswith("ray.data"):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
    ray.shutdown()


class _DropUserErrors(logging.Filter):
    """Ray Data logs a failed task's error before raising it; the CLI prints that error as one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


def _silence_user_code_errors() -> None:
    for name in ("ray.data", "ray.data._internal.execution.streaming_executor_state", "ray.data.exceptions"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropUserErrors) for f in logger.filters):
            logger.addFilter(_DropUserErrors())
        for handler in logger.handlers:
            if not any(isinstance(f, _DropUserErrors) for f in handler.filters):
                handler.addFilter(_DropUserErrors())


def _pipeline(
    plan: InputPlan,
    config: AppConfig,
    staging: Path,
    *,
    workers: int,
    cpus: int,
    rows_per_batch: int,
    output_format: str,
    max_bytes: int,
) -> Any:
    import ray
    from ray.data import ActorPoolStrategy

    if plan.kind == "parquet":
        dataset = ray.data.read_parquet(list(plan.shards), file_extensions=None)
    else:
        # One task per shard, reading with the project's rules; ``override_num_blocks`` keeps them apart.
        dataset = ray.data.from_items([{"path": shard} for shard in plan.shards], override_num_blocks=len(plan.shards))
        dataset = dataset.map_batches(
            read_shards,
            batch_size=1,
            batch_format="pandas",
            zero_copy_batch=False,
            fn_kwargs={
                "kind": plan.kind,
                "header": plan.header,
                "text_column": plan.text_column,
                "columns": list(plan.columns),
                "max_bytes": max_bytes,
            },
        )
    scored = dataset.map_batches(
        ModelWorker,
        batch_size=rows_per_batch,
        batch_format="pandas",
        fn_constructor_kwargs={"config": config, "text_column": plan.text_column},
        compute=ActorPoolStrategy(size=workers),  # 2.60: `concurrency=` is deprecated in favour of this
        num_cpus=cpus,
    )
    staging.mkdir()
    sink = _new_sink(str(staging), output_format, input_columns=list(plan.columns))
    try:
        scored.write_datasink(sink)
    except ray.exceptions.RayError as exc:
        raise DistributedError(_task_error_message(exc)) from None
    return sink


def _task_error_message(exc: BaseException) -> str:
    """Our own message out of Ray's wrapped task error (the exception object itself does not survive)."""
    text = str(exc)
    for marker in (_SHARD_ERROR, "ModelLoadError", "ConfigError", "TableError"):
        found = re.findall(rf"{marker}: (.+)", text)
        if found:
            return found[-1].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "the Ray job failed: " + (lines[-1] if lines else type(exc).__name__)


def _commit(staging: Path, out: Path) -> int:
    """Move the finished shards from the staging folder into OUTPUT_DIR; return how many."""
    files = sorted(p for p in staging.iterdir() if p.is_file())
    for path in files:
        os.replace(path, out / path.name)
    staging.rmdir()
    return len(files)


# ---- what runs on the workers -------------------------------------------------------------------------


def read_shards(
    batch: pd.DataFrame, *, kind: str, header: bool | None, text_column: str, columns: list[str], max_bytes: int
) -> pd.DataFrame:
    """A Ray task: read the shard(s) named in ``batch['path']``; every cell as the string in the file."""
    import pandas as pd

    frames = []
    for shard in batch["path"]:
        path = Path(shard)
        if kind == "csv":
            api = batch_api()
            try:
                table = api.read_table(
                    path, text_column=text_column, header=header, max_bytes=max_bytes, max_rows=DEFAULT_SHARD_MAX_ROWS
                )
            except api.TableError as exc:
                raise ShardError(f"cannot read shard {path.name}: {' '.join(str(exc).split())}") from None
            frame = table.frame
        else:
            frame = _read_jsonl(path, max_bytes=max_bytes)
        if list(frame.columns) != columns:
            raise ShardError(
                f"shard {path.name} has columns {', '.join(map(str, frame.columns))}, the first "
                f"shard {', '.join(columns)}: give shards of one table"
            )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _read_jsonl(path: Path, *, max_bytes: int | None, head: int | None = None) -> pd.DataFrame:
    """One JSON object per line, values kept as JSON gave them; a broken shard raises a named error."""
    import json

    import pandas as pd

    error = DistributedError if head is not None else ShardError
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise error(f"shard {path.name} is {size / 2**20:.1f} MB, over --shard-max-mb {max_bytes / 2**20:g}")
        records = []
        with open(path, encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError(f"line {number} is not a JSON object")
                records.append(record)
                if head is not None and len(records) >= head:
                    break
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        where = f" (line {number})" if isinstance(exc, json.JSONDecodeError) else ""
        raise error(f"cannot read shard {path.name}{where}: {_first_line(exc)}") from None
    if not records:
        raise error(f"shard {path.name} has no rows")
    return pd.DataFrame.from_records(records)


class ModelWorker:
    """A Ray actor: loads the model once (the app's loading: merge, int8, threads), then scores batches."""

    def __init__(self, config: AppConfig, text_column: str) -> None:
        from .loading import ModelLoadError, load_classifier

        try:
            self.classifier = load_classifier(config)
        except ModelLoadError as exc:
            raise ShardError(" ".join(str(exc).split())) from None
        self.text_column = text_column

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        """The batch's columns unchanged, then sentiment, confidence, prob_<label> (as ``predict`` writes them)."""
        api = batch_api()
        frame = batch.reset_index(drop=True)
        table = api.LoadedTable(
            frame=frame,
            encoding=None,
            delimiter=None,
            has_header=True,
            text_column=self.text_column,
            label_column=None,
            columns=list(frame.columns),
        )
        return api.classify_table(table, self.classifier, chunk_size=max(len(frame), 1))


_SINK_CLASS: type | None = None


def _new_sink(folder: str, output_format: str, *, input_columns: list[str]) -> Any:
    """A ``ray.data.Datasink`` writing shards into ``folder``; the class is built on first use so this
    module imports without Ray."""
    global _SINK_CLASS
    if _SINK_CLASS is None:
        from ray.data import Datasink

        _SINK_CLASS = type("ShardDatasink", (ShardSinkMixin, Datasink), {"__module__": __name__})
    return _SINK_CLASS(folder, output_format, input_columns=input_columns)


class ShardSinkMixin:
    """Writes each write task's rows into one shard of the staging folder and counts its labels."""

    def __init__(self, folder: str, output_format: str, *, input_columns: list[str]) -> None:
        self.folder = folder
        self.output_format = output_format
        self.sentiment_index = len(input_columns)  # the first column the model added
        self.results: list[dict[str, Any]] = []

    @property
    def min_rows_per_write(self) -> int:
        return ROWS_PER_FILE

    def write(self, blocks: Iterable[Any], ctx: Any) -> dict[str, Any]:
        """One file per write task; returns its row count and label counts."""
        from ray.data.block import BlockAccessor

        name = f"part-{ctx.task_idx:05d}-{secrets.token_hex(3)}.{self.output_format}"
        path = Path(self.folder) / name
        counts: dict[str, int] = {}
        rows = 0
        writer = handle = None
        try:
            for block in blocks:
                frame = BlockAccessor.for_block(block).to_pandas()
                if frame.empty:
                    continue
                sentiment = frame.iloc[:, self.sentiment_index].fillna("").astype(str)
                for label, count in sentiment.value_counts().items():
                    counts[label] = counts.get(label, 0) + int(count)
                if self.output_format == "csv":
                    escaped = batch_api().escape_formulas(frame)
                    if handle is None:
                        handle = open(path, "x", encoding="utf-8-sig", newline="")
                    escaped.to_csv(handle, index=False, header=rows == 0, na_rep="", lineterminator="\r\n")
                else:
                    import pyarrow as pa
                    import pyarrow.parquet as pq

                    table = pa.Table.from_pandas(frame, preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(path, table.schema)
                    writer.write_table(table.cast(writer.schema) if table.schema != writer.schema else table)
                rows += len(frame)
        finally:
            if writer is not None:
                writer.close()
            if handle is not None:
                handle.close()
        return {"file": name if rows else None, "rows": rows, "counts": counts}

    def on_write_complete(self, write_result: Any) -> None:
        self.results = [r for r in write_result.write_returns if r]

    def tally(self) -> tuple[dict[str, int], int, int]:
        """(count per label, empty-text rows, total rows) of what was written."""
        counts: dict[str, int] = {}
        for result in self.results:
            for label, count in result["counts"].items():
                counts[label] = counts.get(label, 0) + count
        empty = counts.pop("", 0)
        return dict(sorted(counts.items())), empty, sum(r["rows"] for r in self.results)


__all__ = [
    "DistributedError",
    "InputPlan",
    "ModelWorker",
    "RunSummary",
    "ShardError",
    "add_command",
    "batch_api",
    "check_output_dir",
    "check_reachable",
    "main_from_args",
    "plan_input",
    "read_shards",
    "resolve_shards",
    "run",
]
