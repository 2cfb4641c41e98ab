"""How faithful and how costly the explanations are: the shipped method against the one it replaced.

    python benchmarks/bench_explain.py                 # embedded model, 200 + 200 dev reviews
    python benchmarks/bench_explain.py --model PATH    # any artifact folder the app can load

Faithfulness (a deletion test): delete the top 20 % of a review's characters by attribution (the
characters that pushed hardest toward the predicted label) and measure how much the predicted label's
probability falls; do the same for a random 20 % (three draws per review). The ratio of the mean falls
must be at least 2. Characters take their word's weight spread over its characters (a word method), or
their token's (the per-character baseline); words that may not be reasons (punctuation, stop words)
count 0, as in the app. Cost: total explanation time over total time of one prediction of the same
texts, timed interleaved (each review: one prediction, then every method, in rotating order) so the
machine's load falls on all alike.

Methods: ``current`` is the per-character midpoint gradient x input that shipped before (kept here,
frozen, as the baseline); ``jieba words`` is what ships (:func:`sentiment_app.explain.explain`:
jieba words, the whole text when it fits one window, else sentence by sentence); the others vary one
choice each: where the gradient is taken (at the input itself), the words (the tokenizer's pieces,
jieba words merged across tokens), the scope (always sentence by sentence) and the attribution
(occlusion: each word deleted in turn, one batched pass over all the variants).
Writes ``benchmarks/results/explain.json``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_models import read_multidomain  # noqa: E402
from benchmarks.chnsenticorp import FOLDER as CHNSENTICORP  # noqa: E402
from benchmarks.chnsenticorp import read_reviews  # noqa: E402
from benchmarks.results_file import write_results  # noqa: E402
from sentiment_app import explain as ex  # noqa: E402
from sentiment_app.classifier import SentimentClassifier  # noqa: E402

MULTIDOMAIN = CHNSENTICORP.parent / "multidomain"
RESULTS = ROOT / "benchmarks" / "results" / "explain.json"
ROWS = 200  # reviews per set, drawn with SEED
SEED = 0
DELETE_SHARE = 0.2
RANDOM_DRAWS = 3
REQUIRED_RATIO = 2.0
MAX_COST_RATIO = 3.0
SHIPPED = "jieba words"

Attribution = Callable[[SentimentClassifier, str, int], np.ndarray]  # per-character scores


def current(classifier: SentimentClassifier, text: str, label: int) -> np.ndarray:
    """The explanation that shipped before (frozen copy): each character gets its token's midpoint
    gradient x input over the whole text's windows, averaged where windows overlap, no stop words."""
    classifier.predict(text)  # the old explain() also made the served prediction first
    model = classifier.explain_model
    encoded = classifier.encode([text], offsets=True)
    windows, offsets = encoded["input_ids"], encoded["offset_mapping"]
    input_ids, mask = classifier._pad(windows)
    embeddings = model.get_input_embeddings()
    with torch.enable_grad():
        full = embeddings(input_ids).detach()
        inputs = (ex.PATH_POINT * full).requires_grad_(True)
        logits = model(inputs_embeds=inputs, attention_mask=mask).logits.float()
        weights = torch.tensor([max(len(w) - classifier._special_tokens, 1) for w in windows], dtype=torch.float32)
        mean_logits = (logits * weights[:, None]).sum(0) / weights.sum()
        torch.log_softmax(mean_logits, dim=-1)[label].backward()
    token_scores = (inputs.grad * full).sum(-1).detach().numpy()
    char_sum, char_hits = np.zeros(len(text)), np.zeros(len(text))
    for w, window_offsets in enumerate(offsets):
        for t, (start, end) in enumerate(window_offsets):
            if end > start:
                char_sum[start:end] += token_scores[w, t]
                char_hits[start:end] += 1
    return np.divide(char_sum, char_hits, out=np.zeros_like(char_sum), where=char_hits > 0)


def shipped(classifier: SentimentClassifier, text: str, label: int) -> np.ndarray:
    """What the app runs: :func:`sentiment_app.explain.explain`, its words' weights spread over their characters."""
    return _density(ex.explain(classifier, text).words, len(text))


def word_method(words: str, *, scope: str = "auto", point: float = ex.PATH_POINT) -> Attribution:
    """A variant of the shipped method, its word weights spread back over their characters."""

    def run(classifier: SentimentClassifier, text: str, label: int) -> np.ndarray:
        classifier.predict(text)  # what explain() does first: the served prediction
        scores = ex.token_scores(classifier, text, label, scope=scope, point=point)
        return _density(ex._words(text, _bounds(classifier, text, words), scores), len(text))

    return run


def occlusion(classifier: SentimentClassifier, text: str, label: int) -> np.ndarray:
    """Each jieba word's weight: how much deleting it lowers the label's log-probability."""
    classifier.predict(text)  # the served prediction, as explain() makes it
    bounds = [(s, e) for s, e in ex.segment(text) if ex.is_reason(text[s:e])]
    variants = [text] + [text[:s] + text[e:] for s, e in bounds]
    logp = np.log(np.maximum(classifier.probabilities(classifier.logits(variants))[:, label], 1e-12))
    scores = np.zeros(len(text))
    for (s, _), value in zip(bounds, logp[0] - logp[1:]):
        scores[s] = value
    return _density(ex._words(text, ex.segment(text), scores), len(text))


def _bounds(classifier: SentimentClassifier, text: str, words: str) -> list[tuple[int, int]]:
    if words == "tokens":
        return ex.token_words(classifier, text)
    if words == "jieba+tokens":
        return ex._merge_across(ex.segment(text), ex.token_words(classifier, text))
    return ex.segment(text)


def _density(words: tuple[ex.Word, ...], length: int) -> np.ndarray:
    out = np.zeros(length)
    for word in words:
        out[word.start : word.end] = word.weight / (word.end - word.start)
    return out


METHODS: dict[str, Attribution] = {
    "current": current,
    SHIPPED: shipped,
    "gradient at the input": word_method("jieba", point=1.0),
    "token pieces as words": word_method("tokens"),
    "jieba merged across tokens": word_method("jieba+tokens"),
    "always per sentence": word_method("jieba", scope="sentence"),
    "word occlusion": occlusion,
}


def delete(text: str, positions: np.ndarray) -> str:
    gone = set(int(p) for p in positions)
    return "".join(ch for i, ch in enumerate(text) if i not in gone)


def sample(rows: int, seed: int) -> dict[str, list[str]]:
    chn = [t for t, _ in read_reviews(CHNSENTICORP / "dev.tsv")]
    multi = [t for t, _, _ in read_multidomain(MULTIDOMAIN / "dev.csv")]
    rng = random.Random(seed)
    return {"chnsenticorp_dev": rng.sample(chn, rows), "multidomain_dev": rng.sample(multi, rows)}


def run(classifier: SentimentClassifier, sets: dict[str, list[str]], seed: int) -> dict[str, Any]:
    ex.segment("预热")  # jieba's dictionary loads once per process, not inside any timing
    classifier.predict("预热")
    rng = np.random.default_rng(seed)
    names = list(METHODS)
    per_set: dict[str, Any] = {}
    totals = {name: {"top": [], "explain_s": 0.0, "explain_cpu": 0.0} for name in names}
    totals["random"] = {"top": []}
    predict_s = predict_cpu = 0.0
    done, total = 0, sum(len(texts) for texts in sets.values())
    for set_name, texts in sets.items():
        deleted: dict[str, list[str]] = {name: [] for name in names + ["random"]}
        base = []
        for i, text in enumerate(texts):
            served = classifier.predict(text)  # untimed: every timed call below finds the same warm state
            label = classifier.labels.index(served.label)
            base.append((served.score, label))
            k = max(1, round(DELETE_SHARE * len(text)))
            rotation = ["predict"] + names
            for j in range(len(rotation)):
                name = rotation[(i + j) % len(rotation)]  # rotate the order: nothing always runs first
                start, cpu = time.perf_counter(), time.process_time()
                if name == "predict":
                    classifier.predict(text)
                    predict_s += time.perf_counter() - start
                    predict_cpu += time.process_time() - cpu
                    continue
                scores = METHODS[name](classifier, text, label)
                totals[name]["explain_s"] += time.perf_counter() - start
                totals[name]["explain_cpu"] += time.process_time() - cpu
                order = np.argsort(-scores, kind="stable")
                deleted[name].append(delete(text, order[:k]))
            done += 1
            if done % 50 == 0:
                print(f"  {done} / {total} reviews", file=sys.stderr, flush=True)
            for _ in range(RANDOM_DRAWS):
                deleted["random"].append(delete(text, rng.choice(len(text), size=k, replace=False)))
        falls: dict[str, list[float]] = {}
        for name, variants in deleted.items():
            probs = classifier.probabilities(classifier.logits(variants))
            repeat = RANDOM_DRAWS if name == "random" else 1
            falls[name] = [base[n // repeat][0] - float(probs[n, base[n // repeat][1]]) for n in range(len(variants))]
            totals[name]["top"].extend(falls[name])
        random_fall = float(np.mean(falls["random"]))
        per_set[set_name] = {
            "rows": len(texts),
            "random_fall": round(random_fall, 4),
            **{name: _faith(falls[name], random_fall) for name in names},
        }
    random_fall = float(np.mean(totals["random"]["top"]))
    overall = {
        name: {
            **_faith(totals[name]["top"], random_fall),
            "cost_ratio": round(totals[name]["explain_s"] / predict_s, 2),
            "cpu_cost_ratio": round(totals[name]["explain_cpu"] / predict_cpu, 2),
        }
        for name in names
    }
    return {
        "overall": overall,
        "random_fall": round(random_fall, 4),
        "per_set": per_set,
        "predict_ms_mean": round(1000 * predict_s / total, 1),
    }


def _faith(falls: list[float], random_fall: float) -> dict[str, float]:
    mean = float(np.mean(falls))
    return {"top_fall": round(mean, 4), "faithfulness": round(mean / random_fall, 2) if random_fall > 0 else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="artifact folder or Hub id (default: the embedded model)")
    parser.add_argument("--rows", type=int, default=ROWS, help="reviews per set")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from sentiment_app.config import AppConfig
    from sentiment_app.model.loading import load_classifier

    load_before = os.getloadavg()
    classifier = load_classifier(AppConfig(model=args.model))
    result = run(classifier, sample(args.rows, args.seed), args.seed)
    load_after = os.getloadavg()

    print(f"model: {classifier.info.name}; {args.rows} + {args.rows} dev reviews, seed {args.seed}")
    print(f"mean fall of P(label) deleting a random {DELETE_SHARE:.0%}: {result['random_fall']:.4f}")
    print(f"one prediction: {result['predict_ms_mean']} ms on average (wall clock)")
    print(f"{'method':<28}{'top-20% fall':>14}{'x random':>10}{'cost x predict':>16}{'CPU x predict':>15}")
    for name, row in result["overall"].items():
        mark = "  <- ships" if name == SHIPPED else ""
        print(
            f"{name:<28}{row['top_fall']:>14.4f}{row['faithfulness']:>10.2f}"
            f"{row['cost_ratio']:>16.2f}{row['cpu_cost_ratio']:>15.2f}{mark}"
        )
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1-minute)")
    shipped = result["overall"][SHIPPED]
    record = {
        "command": "python benchmarks/bench_explain.py" + (f" --model {args.model}" if args.model else ""),
        "model": classifier.info.name,
        "rows_per_set": args.rows,
        "seed": args.seed,
        "delete_share": DELETE_SHARE,
        "random_draws": RANDOM_DRAWS,
        "shipped": SHIPPED,
        "baseline": "current",
        "meets_faithfulness": (shipped["faithfulness"] or 0) >= REQUIRED_RATIO,
        "meets_cost": shipped["cost_ratio"] <= MAX_COST_RATIO,
        "load_average_1min": {"before": round(load_before[0], 2), "after": round(load_after[0], 2)},
        "cpu_threads": torch.get_num_threads(),
        **result,
    }
    write_results(args.out, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
