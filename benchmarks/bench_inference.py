"""Inference speed: the seed tutorial's loop against the app's serving path, same texts, same model.

    python benchmarks/bench_inference.py [--limit 480] [--chunk 60] [--latency-texts 24] [--threads N]
                                         [--trained-model DIR] [--output benchmarks/results/inference.json]
    python benchmarks/bench_inference.py --whole-job [--rounds 3] [--job-texts 240] [--before DIR]
                                         [--no-app] [--output benchmarks/results/inference_whole_job.json]

Builds a bert-base-chinese-shaped model (hidden 768, 12 layers, 12 heads, intermediate 3072, a
21,128-entry character vocabulary) with random weights and a LoRA adapter on it (r=8, alpha 16,
query/value, trained head), saved as the artifact folders the app loads, in a temporary folder.
Then it classifies the same ChnSentiCorp dev reviews (``../shared/data/chnsenticorp/dev.tsv``, a
seeded sample of ``--limit``; generated Chinese text with their length profile when the file is
missing) three ways:

* **seed**: the tutorial's loop: ``tokenizer(text, return_tensors="pt", truncation=True,
  max_length=512)`` then the unmerged ``PeftModel`` under ``torch.no_grad()``, one text at a time;
* **ours fp32** and **ours int8**: ``load_classifier(AppConfig(model=<adapter folder>, ...))`` then
  ``classifier.logits(texts)``: the app's serving path (merged, packed, sorted token batches).

The ways take turns on the same chunks of texts (rotating who goes first), so load from other
processes on a shared CPU falls on all of them; the ratio is the median over chunks, in wall time and
in this process's CPU time (which leaves out time other tenants held the cores). It also
reports single-text p50 latency (``predict(text)`` against the seed's one call), cold start and peak
RSS (each way in a fresh process: imports, load, first answer, then the longest texts), the largest
logit difference to the seed on texts that fit one window (longer ones the seed truncates and we
read in windows, reported apart), and with ``--trained-model`` the int8/fp32 label agreement on a
trained artifact. Random weights: speed and exactness only; their labels mean nothing.

``--whole-job`` times what a user runs instead, each run a fresh process (``benchmarks/whole_job.py``):
the tutorial's script (``benchmarks/tutorial_predict.py``: base + unmerged ``PeftModel``, one text at a
time) against ``python -m sentiment_app predict FILE -o OUT`` in fp32 and int8, on the first
``--job-texts`` dev reviews in file order and on one review (start-up), interleaved over ``--rounds``;
it reports the whole-job ratio, start-up and the classifying part's ratio (about the warm ratio) per
way, then the app's time from process start to its first served ``/classify`` with the embedded model
and with the adapter, and peak RSS. ``--before DIR`` (a checkout of another commit, e.g.
``git archive main | tar -x -C DIR``) adds that checkout's app to the same rounds (``--before-jobs``: its
CLI too).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.chnsenticorp import FOLDER, read_reviews  # noqa: E402 - after the path is set
from benchmarks.results_file import write_results  # noqa: E402

DATA = FOLDER / "dev.tsv"
RESULTS = ROOT / "benchmarks" / "results" / "inference.json"
VOCAB_SIZE = 21128  # bert-base-chinese
LABELS = ("负面", "正面")
WAYS = ("seed", "ours fp32", "ours int8")
FLOORS = {"ours fp32": 1.4, "ours int8": 2.5}  # issue 7: texts/s over the seed loop, warm, same run


# ---- texts and models ----------------------------------------------------------------------------


def load_texts(limit: int | None, seed: int) -> tuple[list[str], list[int] | None, str]:
    """All dev reviews (shuffled with ``seed``) up to ``limit``, their labels, and where they came from."""
    rng = random.Random(seed)
    if DATA.is_file():
        rows = read_reviews(DATA)
        total = len(rows)
        rng.shuffle(rows)
        rows = rows[:limit] if limit else rows
        return [t for t, _ in rows], [y for _, y in rows], f"ChnSentiCorp dev.tsv ({total} reviews)"
    # dev.tsv's profile: mean ~108, median 75, 99th percentile ~500, max ~920 characters (log-normal fits).
    alphabet = "房间服务很好差酒店干净早餐前台态度电脑屏幕速度快慢书内容不错推荐失望价格便宜贵环境安静吵质量满意的了是我也还就，。！"  # noqa: E501
    texts = []
    for _ in range(limit or 1200):
        length = max(15, min(924, int(rng.lognormvariate(4.35, 0.72))))
        texts.append("".join(rng.choice(alphabet) for _ in range(length)))
    return texts, None, f"generated Chinese text with dev.tsv's length profile ({DATA} missing)"


def build_artifacts(folder: Path, texts: Sequence[str], seed: int = 0) -> tuple[Path, Path]:
    """Save a bert-base-chinese-shaped base (random weights) and a LoRA adapter on it; return both folders."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer
    from transformers.utils import logging as hf_logging

    from sentiment_app.model.artifact import write_labels
    from training.modeling import build_char_tokenizer

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    vocab = list(build_char_tokenizer(texts, min_freq=1).get_vocab())
    seen, code = set(vocab), 0x4E00
    while len(vocab) < VOCAB_SIZE:  # pad with further CJK characters to bert-base-chinese's size
        if chr(code) not in seen:
            vocab.append(chr(code))
        code += 1
    tokenizer = BertTokenizer(vocab={tok: i for i, tok in enumerate(vocab)}, model_max_length=512)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), num_labels=len(LABELS))  # BertConfig's defaults are bert-base's
    model = BertForSequenceClassification(config).eval()
    base = folder / "base"
    model.save_pretrained(base)
    tokenizer.save_pretrained(base)
    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=8,
        lora_alpha=16,
        lora_dropout=0.05,
        target_modules=["query", "value"],
        modules_to_save=["classifier"],
        init_lora_weights=False,
    )  # non-zero B, so merging changes the weights
    peft_model = get_peft_model(model, lora)
    with torch.no_grad():  # a trained adapter's update is small next to the base weights
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.02)
    adapter = folder / "adapter"
    peft_model.save_pretrained(adapter)
    config_path = adapter / "adapter_config.json"
    adapter_config = json.loads(config_path.read_text())
    adapter_config["base_model_name_or_path"] = str(base)
    config_path.write_text(json.dumps(adapter_config, indent=2))
    tokenizer.save_pretrained(adapter)
    write_labels(adapter, LABELS)
    return base, adapter


def load_way(way: str, base: Path, adapter: Path, threads: int | None) -> tuple[Callable, Callable, Any]:
    """(logits for a list of texts, one-text prediction, the object) for one way."""
    import torch

    if way == "seed":
        from peft import PeftModel
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(adapter)
        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=len(LABELS))
        model = PeftModel.from_pretrained(model, adapter).eval()

        def one(text: str) -> Any:
            with torch.no_grad():
                inputs = tokenizer(text, return_tensors="pt", truncation=True, max_length=512)
                return model(**inputs).logits[0].numpy()

        def many(texts: Sequence[str]) -> Any:
            import numpy as np

            return np.stack([one(text) for text in texts])

        return many, one, model
    from sentiment_app.config import AppConfig
    from sentiment_app.model.loading import load_classifier

    classifier = load_classifier(
        AppConfig(model=str(adapter), quantize="int8" if way == "ours int8" else "none", threads=threads)
    )
    return classifier.logits, classifier.predict, classifier


# ---- cold start (a fresh process per way) ----------------------------------------------------------


def cold_start_child(way: str, base: Path, adapter: Path, probe_file: Path, threads: int | None) -> dict:
    """Run in a fresh process: time imports, load and the first answer, then the probe texts; peak RSS."""
    start = time.perf_counter()
    import torch  # noqa: F401  (imports are part of a cold start)
    import transformers  # noqa: F401

    if way == "seed":
        import peft  # noqa: F401
    else:
        import sentiment_app.model.loading  # noqa: F401
    if threads:
        torch.set_num_threads(threads)
    imported = time.perf_counter()
    many, one, _ = load_way(way, base, adapter, threads)
    loaded = time.perf_counter()
    one("房间干净整洁，服务态度非常好。")
    answered = time.perf_counter()
    many(json.loads(probe_file.read_text(encoding="utf-8")))
    return {
        "import_s": round(imported - start, 2),
        "load_s": round(loaded - imported, 2),
        "first_answer_s": round(answered - loaded, 2),
        "cold_start_s": round(answered - start, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def cold_start(way: str, base: Path, adapter: Path, probe_file: Path, threads: int | None) -> dict:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--cold-start-child",
        way,
        "--base",
        str(base),
        "--adapter",
        str(adapter),
        "--probe",
        str(probe_file),
    ]
    if threads:
        command += ["--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"cold start of {way} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- warm measurements -----------------------------------------------------------------------------


def rotate(items: Sequence[str], turn: int) -> list[str]:
    k = turn % len(items)
    return list(items[k:]) + list(items[:k])


def throughput(ways: dict[str, Callable], texts: list[str], chunk: int) -> tuple[dict, dict, dict]:
    """Each way classifies each chunk in turn; returns per-way wall and CPU seconds per chunk and logits
    in text order. CPU seconds (this process, all threads) leave out the time other tenants of a shared
    CPU held the cores, so their ratio is a second, steadier view of the same work."""
    import numpy as np

    chunks = [texts[i : i + chunk] for i in range(0, len(texts), chunk)]
    seconds: dict[str, list[float]] = {w: [] for w in ways}
    cpu: dict[str, list[float]] = {w: [] for w in ways}
    logits: dict[str, list] = {w: [] for w in ways}
    for turn, part in enumerate(chunks):
        for way in rotate(list(ways), turn):
            start, start_cpu = time.perf_counter(), time.process_time()
            out = ways[way](part)
            seconds[way].append(time.perf_counter() - start)
            cpu[way].append(time.process_time() - start_cpu)
            logits[way].append(np.asarray(out))
        print(
            f"  chunk {turn + 1}/{len(chunks)} ({len(part)} texts): "
            + ", ".join(f"{w} {seconds[w][-1]:.1f} s ({cpu[w][-1]:.1f} s CPU)" for w in ways)
            + f"; load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    return seconds, cpu, {w: np.concatenate(v) for w, v in logits.items()}


def latency(ways: dict[str, Callable], texts: list[str]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {w: [] for w in ways}
    for turn, text in enumerate(texts):
        for way in rotate(list(ways), turn):
            start = time.perf_counter()
            ways[way](text)
            times[way].append(time.perf_counter() - start)
    return times


def agreement(folder: str, texts: list[str], labels: list[int] | None, threads: int | None) -> dict:
    """int8 against fp32 labels (and each against the gold labels) on a trained artifact, our serving path."""
    from sentiment_app.config import AppConfig
    from sentiment_app.model.loading import load_classifier

    fp32 = load_classifier(AppConfig(model=folder, threads=threads))
    int8 = load_classifier(AppConfig(model=folder, quantize="int8", threads=threads))
    a, b = fp32.predict(texts), int8.predict(texts)
    same = sum(x.label == y.label for x, y in zip(a, b))
    result = {
        "model": folder,
        "texts": len(texts),
        "label_agreement": round(same / len(texts), 4),
        "disagreements": len(texts) - same,
        "max_probability_difference": round(max(abs(x.score - (y.probabilities[x.label])) for x, y in zip(a, b)), 4),
    }
    if labels is not None and len(fp32.labels) == len(LABELS):
        gold = [fp32.labels[y] for y in labels]  # dev.tsv labels are class indices (0 负面, 1 正面)
        result["accuracy_fp32"] = round(sum(p.label == g for p, g in zip(a, gold)) / len(texts), 4)
        result["accuracy_int8"] = round(sum(p.label == g for p, g in zip(b, gold)) / len(texts), 4)
    return result


# ---- report ------------------------------------------------------------------------------------------


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def table(record: dict) -> str:
    rows = [
        "| way | texts/s | vs seed (median over chunks) | vs seed in CPU time | single-text p50 | cold start | "
        "peak RSS | max abs logit diff vs seed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for way in WAYS:
        r = record["ways"][way]
        diff = "—" if way == "seed" else f"{r['max_logit_diff_vs_seed']:.1e}"
        rows.append(
            f"| {r['description']} | {r['texts_per_second']:.2f} | {r['ratio_vs_seed']:.2f}x | "
            f"{r['ratio_vs_seed_cpu']:.2f}x | {r['p50_latency_ms']:.0f} ms | {r['cold_start']['cold_start_s']:.1f} s | "
            f"{r['cold_start']['peak_rss_mb']:.0f} MB | {diff} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--limit",
        type=int,
        default=480,
        help="dev reviews to classify, the same for every way "
        "(default 480: 8 chunks for the median, about 10 minutes on a 2-core CPU, the seed loop "
        "takes most)",
    )
    parser.add_argument(
        "--chunk",
        type=int,
        default=60,
        help="texts per turn; the ways alternate chunk by chunk "
        "(default 60; ours sorts and batches within a chunk, as the app does within a CSV chunk)",
    )
    parser.add_argument("--latency-texts", type=int, default=24, help="single-text calls per way for p50 latency")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads for every way (default: torch's default, all cores)"
    )
    parser.add_argument(
        "--trained-model",
        default=None,
        help="a trained artifact folder (adapter or full model) "
        "for int8/fp32 label agreement on all dev reviews; not measured without it",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON result (default {RESULTS})")
    parser.add_argument("--whole-job", action="store_true", help="whole jobs in fresh processes (see above)")
    parser.add_argument("--rounds", type=int, default=3, help="--whole-job: interleaved rounds (default 3)")
    parser.add_argument("--job-texts", type=int, default=240, help="--whole-job: dev reviews per job (default 240)")
    parser.add_argument("--before", type=Path, default=None, help="--whole-job: another checkout, for the app")
    parser.add_argument("--before-jobs", action="store_true", help="--whole-job: the --before CLI in the jobs too")
    parser.add_argument("--no-app", action="store_true", help="--whole-job: skip the app's time to first answer")
    parser.add_argument("--cold-start-child", choices=WAYS, help=argparse.SUPPRESS)
    parser.add_argument("--base", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--adapter", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # no progress bars or length notices between the measurements
    hf_logging.disable_progress_bar()
    if args.cold_start_child:
        print(json.dumps(cold_start_child(args.cold_start_child, args.base, args.adapter, args.probe, args.threads)))
        return 0
    if args.whole_job:
        return whole_job_main(args, argv)

    import numpy as np
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    command = "python benchmarks/bench_inference.py " + " ".join(sys.argv[1:] if argv is None else argv)
    all_texts, all_labels, source = load_texts(None, args.seed)
    texts = all_texts[: args.limit]
    print(
        f"texts: {len(texts)} of {source}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs, load average {load_start:.2f} at start",
        flush=True,
    )

    with tempfile.TemporaryDirectory(prefix="bench-inference-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        base, adapter = build_artifacts(folder, all_texts, seed=args.seed)
        print(f"built the bert-base-shaped base and LoRA adapter in {time.perf_counter() - started:.0f} s", flush=True)
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(adapter)
        lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]  # with [CLS] and [SEP]
        longest = sorted(range(len(texts)), key=lambda i: -lengths[i])[:16]
        probe = folder / "probe.json"
        probe.write_text(json.dumps([texts[i] for i in longest], ensure_ascii=False), encoding="utf-8")

        cold = {}
        for way in WAYS:
            cold[way] = cold_start(way, base, adapter, probe, args.threads)
            print(f"cold start {way}: {cold[way]}", flush=True)

        loaded = {way: load_way(way, base, adapter, args.threads) for way in WAYS}
        warm = texts[:4] + [texts[i] for i in longest[:2]]
        for many, one, _ in loaded.values():  # untimed: thread pools, allocator, first-call paths
            many(warm)
            one(texts[0])
        print("throughput (warm, ways alternate chunk by chunk):", flush=True)
        seconds, cpu, logits = throughput({w: loaded[w][0] for w in WAYS}, texts, args.chunk)
        rng = random.Random(args.seed + 1)
        latency_texts = rng.sample(texts, min(args.latency_texts, len(texts)))
        single = latency({w: loaded[w][1] for w in WAYS}, latency_texts)

        fits = np.array([n <= 512 for n in lengths])
        long_predictions = loaded["ours fp32"][2].predict([t for t, f in zip(texts, fits) if not f])
        full_tokens = [n - 2 for n, f in zip(lengths, fits) if not f]
        record_ways = {}
        for way in WAYS:
            total = sum(seconds[way])
            ratios = [s / o for s, o in zip(seconds["seed"], seconds[way])]
            entry = {
                "description": {
                    "seed": "seed: unmerged PeftModel, one text at a time",
                    "ours fp32": "ours fp32: merged, packed, sorted token batches",
                    "ours int8": "ours int8: the same, dynamic int8 linears (oneDNN)",
                }[way],
                "texts": len(texts),
                "seconds": round(total, 2),
                "texts_per_second": round(len(texts) / total, 3),
                "ratio_vs_seed": round(statistics.median(ratios), 3),
                "ratio_vs_seed_overall": round(sum(seconds["seed"]) / total, 3),
                "ratio_vs_seed_per_chunk": [round(r, 3) for r in ratios],
                "cpu_seconds": round(sum(cpu[way]), 2),
                "ratio_vs_seed_cpu": round(statistics.median([s / o for s, o in zip(cpu["seed"], cpu[way])]), 3),
                "p50_latency_ms": round(1000 * statistics.median(single[way]), 1),
                "cold_start": cold[way],
            }
            if way != "seed":
                diff = np.abs(logits[way] - logits["seed"]).max(axis=1)
                entry["max_logit_diff_vs_seed"] = float(diff[fits].max())
                entry["max_logit_diff_vs_seed_long_texts"] = float(diff[~fits].max()) if (~fits).any() else None
            record_ways[way] = entry
        int8_vs_fp32 = float(np.abs(logits["ours int8"] - logits["ours fp32"]).max())

    trained = None
    if args.trained_model:
        print(f"int8/fp32 agreement on {args.trained_model} ({len(all_texts)} dev reviews)...", flush=True)
        trained = agreement(args.trained_model, all_texts, all_labels, args.threads)
    load_end = os.getloadavg()[0]
    floors = {
        way: {
            "floor": floor,
            "ratio": record_ways[way]["ratio_vs_seed"],
            "met": record_ways[way]["ratio_vs_seed"] >= floor,
        }
        for way, floor in FLOORS.items()
    }
    floors["ours fp32"]["logits_within_1e-4"] = record_ways["ours fp32"]["max_logit_diff_vs_seed"] <= 1e-4
    record = {
        "benchmark": "inference: seed loop (unmerged PeftModel, one text at a time) vs the app's serving path",
        "command": command,
        "texts": {
            "source": source,
            "count": len(texts),
            "mean_tokens": round(float(np.mean(lengths)), 1),
            "max_tokens": max(lengths),
            "longer_than_512_tokens": int((~fits).sum()),
            "chunk": args.chunk,
            "latency_texts": len(latency_texts),
        },
        "model": {
            "shape": "bert-base-chinese (768 hidden, 12 layers, 12 heads, 3072 intermediate)",
            "vocab": VOCAB_SIZE,
            "lora": {"r": 8, "alpha": 16, "targets": ["query", "value"]},
            "weights": "random (speed and exactness only)",
        },
        "ways": record_ways,
        "floors": floors,
        "no_truncation": {
            "texts_over_512_tokens": int((~fits).sum()),
            "ours_reads_every_token": all(p.tokens == n for p, n in zip(long_predictions, full_tokens)),
            "windows": [p.windows for p in long_predictions],
            "note": "the seed truncates these to 512 tokens; ours averages overlapping windows, so their logits "
            "differ by design and are left out of max_logit_diff_vs_seed",
        },
        "int8_max_logit_diff_vs_fp32_random_weights": round(int8_vs_fp32, 4),
        "int8_label_agreement_trained_model": trained
        or "not measured: pass --trained-model DIR (an artifact from training/train_and_push.py)",
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": cpu_name(),
            "torch": torch.__version__,
            "transformers": __import__("transformers").__version__,
            "peft": __import__("peft").__version__,
            "python": platform.python_version(),
            "torch_threads": torch.get_num_threads(),
            "quantized_engine_for_int8": "onednn (AppConfig.int8_engine)",
            "load_average_start": round(load_start, 2),
            "load_average_end": round(load_end, 2),
            "busy": load_start > 0.5 * (os.cpu_count() or 1) or load_end > 0.5 * (os.cpu_count() or 1),
        },
    }
    record["table"] = table(record)
    print()
    print(record["table"])
    print()
    for way, floor in floors.items():
        print(
            f"{way}: {floor['ratio']:.2f}x the seed loop (floor {floor['floor']}x): "
            f"{'met' if floor['met'] else 'NOT met'}; in CPU time {record_ways[way]['ratio_vs_seed_cpu']:.2f}x"
        )
    print(
        f"fp32 logits vs seed on texts within 512 tokens: max diff "
        f"{record_ways['ours fp32']['max_logit_diff_vs_seed']:.1e} (limit 1e-4); "
        f"{record['no_truncation']['texts_over_512_tokens']} longer texts read whole in windows: "
        f"{record['no_truncation']['ours_reads_every_token']}"
    )
    if trained:
        print(
            f"int8 vs fp32 labels on {trained['model']}: {trained['label_agreement']:.2%} agree "
            f"({trained['disagreements']} of {trained['texts']} differ)"
        )
    else:
        print("int8 label agreement: not measured (no --trained-model)")
    if record["machine"]["busy"]:
        print(
            f"note: the CPU was shared (load average {load_start:.1f} at start, {load_end:.1f} at end); "
            "absolute speeds are low, compare the ratios"
        )
    write_results(args.output, record)
    return 0


def whole_job_main(args: argparse.Namespace, argv: list[str] | None) -> int:
    """``--whole-job``: the tutorial's script and our CLI as whole processes, then the app's first answer."""
    from benchmarks import whole_job

    output = args.output if args.output != RESULTS else RESULTS.with_name("inference_whole_job.json")
    command = "python benchmarks/bench_inference.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if DATA.is_file():
        texts, source = (
            [t for t, _ in read_reviews(DATA)][: args.job_texts],
            f"the first {args.job_texts} of {DATA.name}",
        )
    else:
        texts, _, source = load_texts(args.job_texts, args.seed)
    load_start = os.getloadavg()
    print(f"whole jobs: {len(texts)} reviews ({source}); {os.cpu_count()} CPUs, load {load_start[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-whole-job-") as tmp:
        folder = Path(tmp)
        all_texts, _, _ = load_texts(None, args.seed)
        base, adapter = build_artifacts(folder, all_texts, seed=args.seed)
        before_jobs = args.before if args.before_jobs else None
        jobs = whole_job.whole_jobs(base, adapter, texts, folder, args.rounds, before_jobs, args.threads)
        apps = (
            None
            if args.no_app
            else whole_job.app_first_answers(adapter, args.rounds, folder, args.before, args.threads)
        )
    load_end = os.getloadavg()
    floors = {
        way: {"floor": floor, "ratio": jobs[way]["whole_job_ratio"], "met": jobs[way]["whole_job_ratio"] >= floor}
        for way, floor in whole_job.FLOORS.items()
    }
    if apps:
        for model, limit in whole_job.APP_FLOORS_S.items():
            seconds = apps[f"ours {model}"]["first_answer_s"]
            floors[f"app first answer, {model}"] = {"limit_s": limit, "seconds": seconds, "met": seconds <= limit}
    record = {
        "benchmark": "whole jobs in fresh processes: the tutorial's script vs python -m sentiment_app predict; "
        "the app's time to its first served /classify",
        "command": command,
        "texts": {"source": source, "count": len(texts), "column": whole_job.TEXT_COLUMN},
        "model": "bert-base-chinese-shaped, random weights, LoRA r=8 alpha 16 on query/value with the head",
        "rounds": args.rounds,
        "threads": args.threads or "torch's default (all cores)",
        "jobs": jobs,
        "app": apps,
        "floors": floors,
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": cpu_name(),
            "python": platform.python_version(),
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in load_end],
        },
    }
    record["table"] = whole_job.table(jobs)
    print()
    print(record["table"])
    print()
    for name, floor in floors.items():
        got = (
            f"{floor['ratio']:.2f}x (floor {floor['floor']}x)"
            if "ratio" in floor
            else (f"{floor['seconds']:.1f} s (limit {floor['limit_s']:.0f} s)")
        )
        print(f"{name}: {got}: {'met' if floor['met'] else 'NOT met'}")
    if apps:
        for key, r in apps.items():
            print(f"app {key}: first answer {r['first_answer_s']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB")
    print(f"load average {load_start[0]:.1f} at start, {load_end[0]:.1f} at end ({os.cpu_count()} CPUs)")
    write_results(output, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
