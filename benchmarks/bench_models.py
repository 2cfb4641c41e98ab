"""The shipped embedded model against two anchors, in one run, on the same sets.

    python benchmarks/bench_models.py --data-dir ../shared/data   # needs requirements-bench.txt (snownlp)

Anchors: a character 1-3-gram TF-IDF + logistic regression model (scikit-learn) trained here, in this
run, on exactly the training rows the embedded model's recipe trains on (``--recipe``, default
training/configs/compact-bert.yaml, read through training/data.py: every training file, the same class cuts,
repeats of small domains and clause excerpts), and SnowNLP's sentiment model as the library ships it (nothing
is trained on SnowNLP's corpus, which holds most of ChnSentiCorp's official test split). Sets: every dev file
of the recipe (the multidomain file also per domain), and the handwritten everyday phrases in
``tests/data/sanity_phrases.csv`` (domains no training file covers). Prints accuracy, macro F1 and expected
calibration error (10 bins) per set and model as a table, which sets the embedded model leads on (accuracy
and macro F1 both), its speed through ``python -m sentiment_app predict``, and writes
``benchmarks/results/models.json``."""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.chnsenticorp import FOLDER as CHNSENTICORP  # noqa: E402
from benchmarks.results_file import write_results  # noqa: E402

MULTIDOMAIN = CHNSENTICORP.parent / "multidomain"
PHRASES = ROOT / "tests" / "data" / "sanity_phrases.csv"
RESULTS = ROOT / "benchmarks" / "results" / "models.json"
RECIPE = ROOT / "training" / "configs" / "compact-bert.yaml"
# Report names of the recipe's dev files (by folder); the multidomain file is also reported per domain.
SET_NAMES = {"chnsenticorp": "ChnSentiCorp dev", "multidomain": "multidomain dev"}
PER_DOMAIN = {"multidomain"}
# The anchor as the lead measured it: character 1-3-grams, sublinear TF, C=10 (liblinear would be slower).
TFIDF_NGRAMS = (1, 3)
TFIDF_C = 10.0
TFIDF_MAX_ITER = 2000

Rows = list[tuple[str, int]]


def read_multidomain(path: Path) -> list[tuple[str, int, str]]:
    """(text, label, domain) of every non-empty row of a multidomain CSV (columns label, domain, text)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            (row["text"], int(row["label"]), row["domain"])
            for row in csv.DictReader(handle)
            if (row.get("text") or "").strip()
        ]


def recipe_sets(recipe: Path, data_dir: str | None = None) -> tuple[Rows, dict[str, tuple[list[str], list[int]]]]:
    """The recipe's training rows exactly as the shipped model saw them (class cuts, repeats of small domains and
    clause excerpts included, through training/data.py) and its dev files: one set per file, the multidomain
    file also per domain."""
    import os

    from training.config import parse_config
    from training.data import load_splits

    argv = [str(recipe)] + (["--data-dir", data_dir] if data_dir else [])
    cwd = os.getcwd()
    os.chdir(ROOT)  # recipes name their files relative to the repository root
    try:
        splits = load_splits(parse_config(argv))
    finally:
        os.chdir(cwd)
    train = list(zip(splits.train["text"], splits.train["label"]))
    dev = splits.validation
    sets: dict[str, tuple[list[str], list[int]]] = {}
    by_part: dict[str, list[int]] = {}
    for i, part in enumerate(splits.parts["validation"]):
        by_part.setdefault(part, []).append(i)
    texts, labels = dev["text"], dev["label"]
    for part, rows in by_part.items():
        folder = part.split("/")[0]
        name = SET_NAMES.get(folder, f"{folder} dev")
        sets[name] = ([texts[i] for i in rows], [labels[i] for i in rows])
        if folder in PER_DOMAIN:
            domains = splits.domains["validation"]
            for domain in sorted({domains[i] for i in rows}):
                chosen = [i for i in rows if domains[i] == domain]
                sets[f"{name}: {domain}"] = ([texts[i] for i in chosen], [labels[i] for i in chosen])
    return train, sets


def read_phrases(path: Path = PHRASES) -> list[tuple[str, int, str]]:
    """(text, label, domain) of the sanity phrase set."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [(row["text"], int(row["label"]), row["domain"]) for row in csv.DictReader(handle)]


def scores(probabilities: np.ndarray, labels: Sequence[int]) -> dict[str, float]:
    """Accuracy, macro F1 and ECE (10 bins) of P(negative), P(positive) rows against the labels."""
    from sklearn.metrics import accuracy_score, f1_score

    from training.calibration import expected_calibration_error

    y = np.asarray(labels)
    predicted = probabilities.argmax(axis=1)
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "f1_macro": float(f1_score(y, predicted, average="macro", labels=[0, 1], zero_division=0)),
        "ece": expected_calibration_error(probabilities, y),
        "rows": int(len(y)),
    }


def train_tfidf(train: Rows) -> Callable[[list[str]], np.ndarray]:
    """Fit the TF-IDF + logistic regression anchor; return its P(negative), P(positive) function."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(analyzer="char", ngram_range=TFIDF_NGRAMS, sublinear_tf=True),
        LogisticRegression(C=TFIDF_C, max_iter=TFIDF_MAX_ITER),
    )
    model.fit([t for t, _ in train], [y for _, y in train])
    return lambda texts: model.predict_proba(texts)


def snownlp_model() -> Callable[[list[str]], np.ndarray]:
    """SnowNLP's shipped sentiment model: ``sentiments`` is P(positive)."""
    try:
        from snownlp import SnowNLP
    except ImportError:
        raise SystemExit("error: snownlp is not installed: pip install -r requirements-bench.txt") from None

    def predict(texts: list[str]) -> np.ndarray:
        positive = np.asarray([SnowNLP(t).sentiments for t in texts], dtype=np.float64)
        return np.stack([1 - positive, positive], axis=1)

    return predict


def shipped_model(folder: str | None) -> tuple[Callable[[list[str]], np.ndarray], Any]:
    """The embedded model (or ``folder``) through the app's loading code: calibrated probabilities."""
    from sentiment_app.config import AppConfig
    from sentiment_app.model.loading import load_classifier

    classifier = load_classifier(AppConfig(), folder)
    positive = classifier.labels.index("正面")

    def predict(texts: list[str]) -> np.ndarray:
        rows = [p.probabilities for p in classifier.predict(texts)]
        p = np.asarray([row[classifier.labels[positive]] for row in rows], dtype=np.float64)
        return np.stack([1 - p, p], axis=1)

    return predict, classifier


def evaluate(
    models: dict[str, Callable[[list[str]], np.ndarray]], sets: dict[str, tuple[list[str], list[int]]]
) -> tuple[dict[str, dict[str, dict]], dict[str, float]]:
    """scores[set][model] and seconds per model over all sets."""
    results: dict[str, dict[str, dict]] = {name: {} for name in sets}
    seconds = {name: 0.0 for name in models}
    for model_name, predict in models.items():
        for set_name, (texts, labels) in sets.items():
            start = time.perf_counter()
            probabilities = predict(texts)
            seconds[model_name] += time.perf_counter() - start
            results[set_name][model_name] = scores(probabilities, labels)
    return results, seconds


def speed(folder: str | None, classifier: Any, texts: Sequence[str], singles: Sequence[str]) -> dict[str, Any]:
    """Issue 13's speed floors for the shipped model: texts/s of ``python -m sentiment_app predict`` on a CSV of
    ``texts`` as a whole fresh process (start-up included), and the in-process single-text p50 over ``singles``
    (each text alone, after one warm-up call)."""
    import os
    import statistics
    import tempfile

    from benchmarks.bench_load import percentile
    from benchmarks.whole_job import TEXT_COLUMN, run_process, write_texts

    with tempfile.TemporaryDirectory() as tmp:
        source = write_texts(Path(tmp) / "texts.csv", texts)
        command = [sys.executable, "-m", "sentiment_app", "predict", str(source), "-o", str(Path(tmp) / "out.csv")]
        command += ["-q", "--text-column", TEXT_COLUMN] + (["--model", folder] if folder else [])
        load = os.getloadavg()[0]
        process = run_process(command, ROOT)
    classifier.predict(singles[0])
    latencies = []
    for text in singles:
        begin = time.perf_counter()
        classifier.predict(text)
        latencies.append(time.perf_counter() - begin)
    return {
        "cli_texts": len(texts),
        "cli_wall_s": round(process["wall_s"], 2),
        "cli_texts_per_s": round(len(texts) / process["wall_s"], 1),
        "cli_peak_rss_mb": process["peak_rss_mb"],
        "single_texts": len(singles),
        "single_p50_ms": round(1000 * statistics.median(latencies), 1),
        "single_p95_ms": round(1000 * percentile(latencies, 0.95), 1),
        "load_before": round(load, 2),
        "cpus": os.cpu_count(),
    }


def table(results: dict[str, dict[str, dict]], models: Sequence[str]) -> str:
    """Markdown: one row per set, accuracy / macro F1 / ECE per model; the best accuracy in bold."""
    head = "| set | rows | " + " | ".join(f"{m} acc | {m} F1 | {m} ECE" for m in models) + " |"
    lines = [head, "|" + "---|" * (2 + 3 * len(models))]
    for set_name, by_model in results.items():
        best = max(by_model[m]["accuracy"] for m in models)
        cells = []
        for m in models:
            s = by_model[m]
            acc = f"{100 * s['accuracy']:.1f} %"
            cells += [f"**{acc}**" if s["accuracy"] == best else acc, f"{s['f1_macro']:.3f}", f"{s['ece']:.3f}"]
        lines.append(f"| {set_name} | {by_model[models[0]]['rows']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="artifact folder to evaluate (default: the embedded model)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    parser.add_argument("--recipe", type=Path, default=RECIPE, help="recipe whose training and dev files are used")
    parser.add_argument(
        "--data-dir", default=None, help="folder holding the recipe's data (default: the recipe's own setting)"
    )
    args = parser.parse_args(argv)

    train, sets = recipe_sets(args.recipe, args.data_dir)
    phrases = read_phrases()
    sets["everyday phrases (held out)"] = ([t for t, _, _ in phrases], [y for _, y, _ in phrases])

    start = time.perf_counter()
    tfidf = train_tfidf(train)
    tfidf_train_s = time.perf_counter() - start
    print(f"TF-IDF + LR trained on {len(train):,} rows in {tfidf_train_s:.1f} s")
    embedded, classifier = shipped_model(args.model)
    models = {"embedded": embedded, "TF-IDF+LR": tfidf, "SnowNLP": snownlp_model()}
    results, seconds = evaluate(models, sets)
    names = list(models)
    text = table(results, names)
    print(text)

    phrase_texts = sets["everyday phrases (held out)"][0]
    predictions = classifier.predict(phrase_texts)
    by_domain: dict[str, dict[str, int]] = {}
    misread = []
    for (text_, label, domain), p in zip(phrases, predictions):
        entry = by_domain.setdefault(domain, {"rows": 0, "right": 0})
        entry["rows"] += 1
        right = classifier.labels.index(p.label) == label
        entry["right"] += int(right)
        if not right:
            misread.append(
                {
                    "text": text_,
                    "label": label,
                    "domain": domain,
                    "said": p.label,
                    "confidence": round(p.score, 3),
                    "uncertain": p.uncertain,
                }
            )
    all_dev = [t for name, (texts, _) in sets.items() if name.endswith(" dev") for t in texts]
    timing = speed(args.model, classifier, all_dev, phrase_texts + sets["ChnSentiCorp dev"][0][:100])
    print(
        f"speed: python -m sentiment_app predict on {timing['cli_texts']:,} dev texts, whole process "
        f"{timing['cli_wall_s']:.1f} s = {timing['cli_texts_per_s']:.0f} texts/s (floor 500); single text p50 "
        f"{timing['single_p50_ms']:.1f} ms, p95 {timing['single_p95_ms']:.1f} ms (floor p50 < 50 ms); "
        f"load {timing['load_before']:.1f} at the start, {timing['cpus']} CPUs"
    )
    # ahead = better accuracy AND better macro F1 than every anchor on that set
    ahead = {
        set_name: all(
            by_model["embedded"][metric] > by_model[m][metric] for m in names[1:] for metric in ("accuracy", "f1_macro")
        )
        for set_name, by_model in results.items()
    }
    print("embedded ahead of both anchors (accuracy and macro F1) on: " + ", ".join(k for k, v in ahead.items() if v))
    print("not ahead on: " + (", ".join(k for k, v in ahead.items() if not v) or "none"))
    print(f"phrases misread by the embedded model: {len(misread)}")
    for m in misread:
        print(
            f"  [{m['domain']}] {m['text']} -> {m['said']} {m['confidence']:.2f}{' (uncertain)' if m['uncertain'] else ''}"  # noqa: E501
        )
    write_results(
        args.output,
        {
            "command": "python benchmarks/bench_models.py" + (f" --model {args.model}" if args.model else ""),
            "embedded_model": str(args.model or "sentiment_app/embedded_model"),
            "recipe": str(args.recipe),
            "train_rows": len(train),
            "tfidf_train_seconds": round(tfidf_train_s, 1),
            "predict_seconds": {k: round(v, 1) for k, v in seconds.items()},
            "results": results,
            "embedded_ahead_of_both": ahead,
            "embedded_phrases_by_domain": by_domain,
            "embedded_phrases_misread": misread,
            "speed": timing,
            "table": text,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
