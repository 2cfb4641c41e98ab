"""Batch scoring throughput: Ray Data with 1 and 2 model workers against the single-process CLI.

    python benchmarks/bench_distributed.py [--rows 40000] [--shards 8] [--rounds 2] [--model PATH_OR_ID]

Same rows for every way: the first ``--rows`` texts of the multidomain train split (text column only,
no labels), as one CSV for ``python -m sentiment_app predict`` and as ``--shards`` CSV shards for
``python -m sentiment_app predict-distributed``. Each way is one fresh command, timed from start to
exit as a user sees it (interpreter, model loading, Ray start-up, scoring, writing), with the default
model (the embedded compact model) unless ``--model`` is given, and the same rows per model call (the
CLI's ``--chunk-size`` = Ray's ``--rows-per-batch``). The ways take turns, ``--rounds`` times, in
mirrored order (A B C, C B A, ...), so load from other processes on a shared machine falls on all of
them; each way's figure is its best round. The results are checked to agree (same label for every row).
Prints rows/s and the ratio to the CLI from the same run and writes
``benchmarks/results/distributed.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.results_file import write_results  # noqa: E402 - after the path is set

DATA = ROOT.parent / "shared" / "data" / "multidomain" / "train.csv"
RESULTS = ROOT / "benchmarks" / "results" / "distributed.json"
DEFAULT_ROWS = 40_000
DEFAULT_SHARDS = 8  # several shards per worker, so two workers stay busy to the end
DEFAULT_ROUNDS = 2
ROWS_PER_CALL = 1024  # predict-distributed's default --rows-per-batch, given to the CLI as --chunk-size


def load_texts(rows: int) -> Any:
    import pandas as pd

    frame = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    if len(frame) < rows:
        raise SystemExit(f"{DATA} has {len(frame):,} rows, fewer than --rows {rows:,}")
    return frame[["text"]].head(rows).reset_index(drop=True)


def timed(command: list[str]) -> float:
    """Seconds from start to exit of ``command``; its output goes to our stderr's tail on failure."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SENTIMENT_", "RAY_"))}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{' '.join(command)} failed with code {done.returncode}")
    for line in done.stdout.splitlines():
        print(f"    {line}")
    return seconds


def labels_by_row(path: Path, kind: str, texts: Any) -> Any:
    """Sentiment per text (sorted), for checking that the ways agree."""
    import pandas as pd

    if kind == "csv":  # rows in input order; texts from the input, since the CSV escapes formulas
        labels = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)["sentiment"]
        frame = texts.assign(sentiment=labels.to_numpy())
    else:
        frame = pd.concat([pd.read_parquet(p) for p in sorted(path.glob("*.parquet"))], ignore_index=True)
    return frame[["text", "sentiment"]].astype(str).sort_values(["text", "sentiment"]).reset_index(drop=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--shards", type=int, default=DEFAULT_SHARDS)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--model", help="model for every way (default: the embedded compact model)")
    args = parser.parse_args()
    texts = load_texts(args.rows)
    model = ["--model", args.model] if args.model else []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp:
        folder = Path(tmp)
        whole = folder / "whole.csv"
        texts.to_csv(whole, index=False)
        shards = folder / "shards"
        shards.mkdir()
        for i in range(args.shards):
            texts.iloc[i :: args.shards].to_csv(shards / f"part-{i:02d}.csv", index=False)
        python = [sys.executable, "-m", "sentiment_app"]
        ways: dict[str, dict[str, Any]] = {}
        outputs: dict[str, tuple[Path, str]] = {}
        print(f"{args.rows:,} rows of {DATA.name}, {args.shards} shards; load average {load_before[0]:.1f}")
        plan = [
            (
                "single-process CLI (predict)",
                python
                + [
                    "predict",
                    str(whole),
                    "-o",
                    str(folder / "cli.csv"),
                    "-q",
                    "--max-rows",
                    str(args.rows),
                    "--chunk-size",
                    str(ROWS_PER_CALL),
                ]
                + model,
                (folder / "cli.csv", "csv"),
            ),
            (
                "Ray Data, 1 worker",
                python + ["predict-distributed", str(shards), str(folder / "ray1"), "--workers", "1", "-q"] + model,
                (folder / "ray1", "parquet"),
            ),
            (
                "Ray Data, 2 workers",
                python + ["predict-distributed", str(shards), str(folder / "ray2"), "--workers", "2", "-q"] + model,
                (folder / "ray2", "parquet"),
            ),
        ]
        seconds: dict[str, list[float]] = {name: [] for name, _, _ in plan}
        for round_number in range(args.rounds):
            order = plan if round_number % 2 == 0 else plan[::-1]
            for name, command, (output, kind) in order:
                if kind == "parquet":
                    shutil.rmtree(output, ignore_errors=True)  # predict-distributed wants a new folder
                else:
                    output.unlink(missing_ok=True)
                print(f"round {round_number + 1}, {name}: {' '.join(command[2:])}")
                took = timed(command)
                seconds[name].append(took)
                outputs[name] = (output, kind)
                print(f"  {took:.1f} s, {args.rows / took:.1f} rows/s")
        for name, took in seconds.items():
            ways[name] = {
                "seconds": round(min(took), 2),
                "rows_per_s": round(args.rows / min(took), 1),
                "rounds_s": [round(t, 2) for t in took],
            }
        reference = labels_by_row(*outputs[plan[0][0]], texts)
        agree = {name: bool(labels_by_row(*output, texts).equals(reference)) for name, output in outputs.items()}
    baseline = ways[plan[0][0]]["rows_per_s"]
    for way in ways.values():
        way["vs_cli"] = round(way["rows_per_s"] / baseline, 2)
    load_after = os.getloadavg()
    print("\n| way | seconds | rows/s | vs CLI |\n|---|---|---|---|")
    for name, way in ways.items():
        print(f"| {name} | {way['seconds']:.1f} | {way['rows_per_s']:.1f} | {way['vs_cli']:.2f}x |")
    print(f"labels agree with the CLI on every row: {agree}; load average {load_before[0]:.1f} -> {load_after[0]:.1f}")
    write_results(
        RESULTS,
        {
            "rows": args.rows,
            "shards": args.shards,
            "rounds": args.rounds,
            "rows_per_model_call": ROWS_PER_CALL,
            "data": f"{DATA.name} (text column, first {args.rows:,} rows)",
            "model": args.model or "embedded compact model",
            "ways": ways,
            "labels_agree_with_cli": agree,
            "timing": "one fresh command per way and round, start to exit (interpreter, model load, Ray start-up, "
            "scoring, writing); best of the rounds, ways in mirrored turns",
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "load_average_before": round(load_before[0], 2),
                "load_average_after": round(load_after[0], 2),
            },
        },
    )
    return 0 if all(agree.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
