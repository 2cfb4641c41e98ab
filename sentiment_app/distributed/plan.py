"""Checks before Ray starts: which shards, which text column, the output folder, the model, the cluster."""

from __future__ import annotations

import glob
import os
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import AppConfig
from ..errors import first_line
from .workers import (
    DEFAULT_SHARD_MAX_ROWS,
    DistributedError,
    _read_jsonl,
    batch_api,
)

# Shard kinds by file suffix. .txt follows the batch CLI: one text per line unless it has a delimiter.
SUFFIX_KINDS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
CONNECT_TIMEOUT_S = 5.0  # a cluster address that takes longer to accept a TCP connection is unreachable
RAY_CLIENT_PORT = 10001  # Ray's default client server port, for ``ray://host`` without a port
_GLOB_CHARS = re.compile(r"[*?\[]")


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
            raise DistributedError(f"cannot read shard {name}: {first_line(exc)}") from None
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
    from ..model.artifact import ArtifactError, artifact_kind, read_labels

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
