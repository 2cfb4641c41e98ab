"""What runs on the Ray workers: reading one shard with the batch CLI's rules, the model actor, the
shard writer; and the two errors both the driver and the workers raise.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import AppConfig
from ..errors import first_line

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


ROWS_PER_FILE = 100_000  # rows Ray bundles into one write task, i.e. one output shard (fewer, larger files)
DEFAULT_SHARD_MAX_ROWS = 50_000_000  # per shard: far above the app's 100,000 rows, one worker reads one shard
_SHARD_ERROR = "ShardError"  # class name that marks our own message inside Ray's wrapped task errors


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

    from .. import batch
    from ..batch.columns import TEXT_NAMES

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
        raise error(f"cannot read shard {path.name}{where}: {first_line(exc)}") from None
    if not records:
        raise error(f"shard {path.name} has no rows")
    return pd.DataFrame.from_records(records)


class ModelWorker:
    """A Ray actor: loads the model once (the app's loading: merge, int8, threads), then scores batches."""

    def __init__(self, config: AppConfig, text_column: str) -> None:
        from ..model.loading import ModelLoadError, load_classifier

        try:
            self.classifier = load_classifier(config)
        except ModelLoadError as exc:
            raise ShardError(" ".join(str(exc).split())) from None
        self.text_column = text_column

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        """The batch's columns unchanged, then sentiment, confidence, prob_<label> (as ``predict`` writes them)."""
        api = batch_api()
        frame = batch.reset_index(drop=True)
        table = api.LoadedTable.in_memory(frame, self.text_column)
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
