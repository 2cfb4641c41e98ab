"""Start or join Ray, read, score on a pool of model actors, write into a staging folder, commit."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import secrets
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config import AppConfig, config_from_args
from ..errors import first_line
from .plan import InputPlan, RunSummary, check_model, check_output_dir, check_reachable, plan_input
from .workers import (
    _SHARD_ERROR,
    DistributedError,
    ModelWorker,
    _new_sink,
    read_shards,
)

STAGING_PREFIX = ".incomplete-"
SHUTDOWN_WAIT_S = 15.0  # for Ray Data's threads to stop after an error or Ctrl-C, before Ray shuts down


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
                options["runtime_env"] = {"py_modules": [str(Path(__file__).resolve().parents[1])]}
            ray.init(address=address, **options)
        else:
            # Workers start in other folders; they import sentiment_app from where this one was imported.
            root = str(Path(__file__).resolve().parents[2])
            path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
            ray.init(num_cpus=cpus + 1, runtime_env={"env_vars": {"PYTHONPATH": path}}, **options)
    except ConnectionError as exc:
        raise DistributedError(f"cannot reach the Ray cluster at {address}: {first_line(exc)}") from None
    except ValueError as exc:  # ray:// without ray[client], a malformed address
        raise DistributedError(f"cannot start Ray ({address or 'local'}): {first_line(exc)}") from None
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
