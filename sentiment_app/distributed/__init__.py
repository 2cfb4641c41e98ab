"""``python -m sentiment_app predict-distributed INPUT OUTPUT_DIR``: batch scoring on Ray Data.

For tables bigger than one process gets through (a shop's whole history): INPUT is a file, a folder
or a glob of CSV/TSV/TXT, JSONL or Parquet shards; OUTPUT_DIR gets Parquet shards (or Excel-safe CSV
shards with ``--format csv``) holding every input column plus ``sentiment``, ``confidence`` and one
``prob_<label>`` per label, every input row exactly once (row order across shards is not kept).

How: Ray Data reads the shards (Parquet with Ray's reader; CSV/TSV/TXT with the batch CLI's own
decoding rules, one Ray task per shard, since Ray's CSV reader knows neither GBK/Big5/UTF-16 nor
header detection; JSONL the same way so that a broken shard is named), then ``map_batches`` hands
batches of rows to a fixed pool of actors, each of which loads the model once with the app's own
loading (:func:`sentiment_app.model.loading.load_classifier`: merging, int8, threads per worker), and a
small datasink writes one file per write task into a staging folder that is moved into OUTPUT_DIR
only when every row is written. ``--address`` joins an existing cluster (``auto`` or ``ray://``);
without it a local Ray instance starts with ``--workers`` model actors.

Ray is imported only inside :func:`run` (and the actor and sink it ships to workers): the app and the
plain ``predict`` command never import it. Like the batch CLI, a user's mistake is one line
``error: ...`` and exit code 2; Ctrl-C is exit 130, no traceback, nothing left in OUTPUT_DIR.
"""

from .command import add_command, main_from_args
from .pipeline import run
from .plan import InputPlan, RunSummary, check_output_dir, check_reachable, plan_input, resolve_shards
from .workers import DistributedError, ModelWorker, ShardError, batch_api, read_shards

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
