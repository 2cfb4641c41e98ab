"""What the insights cost beside the classification they follow, in one batch job.

    python benchmarks/bench_insights.py                  # 100,000 jd-health reviews, embedded model
    python benchmarks/bench_insights.py --rows 20000 --model PATH

One ``run_batch`` with insights over a CSV of real reviews (the first ROWS of jd-health train.csv,
with its product, year and stars columns: groups, periods and rating mismatches all run); the job's
own progress events split the time into classification (first chunk to the insights stage) and
insights (insights stage to writing). Issue 26's bound: insights add at most 30 s for 100,000 rows
on 2 cores. Writes ``benchmarks/results/insights.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.results_file import write_results  # noqa: E402
from sentiment_app.batch import InsightOptions, ReadLimits, run_batch  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "jd-health" / "train.csv"
if not DATA.exists():
    DATA = Path("/work/shared/data/jd-health/train.csv")
RESULTS = ROOT / "benchmarks" / "results" / "insights.json"
ROWS = 100_000
BOUND_S = 30.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--model", default=None, help="artifact folder (default: the embedded model)")
    args = parser.parse_args(argv)
    from sentiment_app.config import AppConfig
    from sentiment_app.model.loading import load_classifier

    config = AppConfig() if args.model is None else AppConfig(model=args.model)
    classifier = load_classifier(config)
    frame = pd.read_csv(DATA, dtype=str, nrows=args.rows).drop(columns=["label"])
    marks: dict[str, float] = {}

    def progress(event) -> None:
        marks.setdefault(event.stage, time.perf_counter())

    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "reviews.csv"
        frame.to_csv(source, index=False)
        result = run_batch(
            source,
            classifier,
            output_dir=Path(folder),
            formats=("csv",),
            limits=ReadLimits(max_rows=max(args.rows, 1), max_bytes=1 << 30),
            insights=InsightOptions(),
            progress=progress,
        )
    classify_s = marks["insights"] - marks["classifying"]
    insights_s = marks["writing"] - marks["insights"]
    report = result.insights.to_json()
    record = {
        "rows": len(frame),
        "data": "jd-health train.csv (first rows; product, year, stars columns)",
        "model": classifier.info.name,
        "cpu_count": os.cpu_count(),
        "classification_s": round(classify_s, 2),
        "insights_s": round(insights_s, 2),
        "insights_over_classification": round(insights_s / classify_s, 3),
        "bound_s": BOUND_S,
        "within_bound": insights_s <= BOUND_S * len(frame) / ROWS,
        "groups": report["groups"]["groups"] if report["groups"] else 0,
        "periods": len(report["periods"]["rows"]) if report["periods"] else 0,
        "flags": report["flags"]["counts"],
        "negative_reasons": [r["reason"] for r in report["reasons"].get("负面", [])],
    }
    print(
        f"{len(frame):,} rows: classification {classify_s:.1f} s (baseline), insights {insights_s:.1f} s, "
        f"ratio {insights_s / classify_s:.3f}; bound {BOUND_S:.0f} s per 100,000 rows: "
        f"{'ok' if record['within_bound'] else 'EXCEEDED'}"
    )
    write_results(RESULTS, record)
    return 0 if record["within_bound"] else 1


if __name__ == "__main__":
    sys.exit(main())
