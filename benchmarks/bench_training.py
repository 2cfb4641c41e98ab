"""Training throughput: the seed's padding to 128 tokens versus dynamic padding with length grouping.

    python benchmarks/bench_training.py [--texts 9600] [--batches 30] [--layers 2] [--hidden 256]

Same texts (ChnSentiCorp train reviews, or generated Chinese text with their length profile
when the file is missing), same small LoRA model (the compact model's shape, same seed), same
batch size and the Trainer's own dataloaders; only the padding and the sampler differ:

* seed:  ``padding="max_length", max_length=128`` and random batches (every batch is 16 x 128);
* ours:  no padding at tokenization, ``DataCollatorWithPadding`` and the training command's
  length-grouped sampler (each batch is as long as its longest review), at our default max_length 256
  and, for the padding effect alone, at 128.

Each way trains the same number of batches drawn from random positions of its epoch; the ways' batches are
interleaved so that every way meets the same load from other processes on a shared CPU. Prints samples/s of
each and the ratio to
the seed from the same run, and writes
``benchmarks/results/training_throughput.json``. Random weights: speed only, no accuracy.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.chnsenticorp import FOLDER, read_reviews  # noqa: E402 - after the path is set
from benchmarks.results_file import write_results  # noqa: E402

DATA = FOLDER / "train.tsv"
RESULTS = ROOT / "benchmarks" / "results" / "training_throughput.json"


def load_texts(count: int, seed: int) -> tuple[list[str], str]:
    """``count`` ChnSentiCorp training reviews, or generated text of the same length profile."""
    rng = random.Random(seed)
    if DATA.is_file():
        texts = [text for text, _ in read_reviews(DATA)]
        rng.shuffle(texts)
        return texts[:count], f"ChnSentiCorp train.tsv ({len(texts)} reviews, {count} sampled)"
    # ChnSentiCorp's lengths: median 76, mean ~109 characters, a long tail (log-normal fits well).
    alphabet = (
        "房间服务很好差酒店干净早餐前台态度电脑屏幕速度快慢书内容不错推荐失望价格便宜贵环境安静吵质量满意的了是我也还就"
    )
    texts = []
    for _ in range(count):
        length = max(4, min(1500, int(rng.lognormvariate(4.35, 0.75))))
        texts.append("".join(rng.choice(alphabet) for _ in range(length)) + "。")
    return texts, f"generated Chinese text, ChnSentiCorp length profile ({DATA} missing)"


WAYS = {  # name: (pad to max_length?, max_length)
    "seed (pad to 128)": (True, 128),
    "ours (dynamic, 128)": (False, 128),
    "ours (dynamic, 256)": (False, 256),
}


def train_loader(
    model: Any,
    texts: list[str],
    labels: list[int],
    tokenizer: Any,
    *,
    padded: bool,
    max_length: int,
    batch_size: int,
    seed: int,
) -> Any:
    """The exact batches the Trainer would feed: its sampler (random or length-grouped) and collator."""
    import datasets
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, default_data_collator

    from training.sampling import length_grouped_trainer_class

    if padded:  # the seed notebook: every review padded (or cut) to max_length at tokenization
        encoded = tokenizer(texts, truncation=True, max_length=max_length, padding="max_length")
    else:  # ours: training/data.py tokenizes without padding
        encoded = tokenizer(texts, truncation=True, max_length=max_length)
    dataset = datasets.Dataset.from_dict({**encoded, "labels": labels})
    args = TrainingArguments(
        output_dir=str(ROOT / "outputs" / "bench_training"),
        per_device_train_batch_size=batch_size,
        report_to="none",
        seed=seed,
        data_seed=seed,
        dataloader_pin_memory=False,
    )
    collator = default_data_collator if padded else DataCollatorWithPadding(tokenizer)
    trainer_class = Trainer if padded else length_grouped_trainer_class()
    trainer = trainer_class(
        model=model, args=args, train_dataset=dataset, data_collator=collator, processing_class=tokenizer
    )
    return trainer.get_train_dataloader()


def lora_model(shape: Any, tokenizer: Any, seed: int) -> Any:
    """The small model every way trains: same seed, same weights, LoRA r=8 on query/value plus the head."""
    import torch

    from training.config import TrainConfig
    from training.modeling import add_lora, scratch_model

    torch.manual_seed(seed)
    base = scratch_model(shape, tokenizer, {"num_labels": 2})
    return add_lora(base, TrainConfig(), tokenizer, "benchmark", "bert").model.train()


def measure(
    texts: list[str], labels: list[int], tokenizer: Any, shape: Any, *, batch_size: int, batches: int, seed: int
) -> list[dict[str, Any]]:
    """Train ``batches`` batches per way on the same texts; return samples/s per way.

    The batches are drawn at random positions of each way's epoch, so that neither way's measured
    batches depend on where its epoch starts. The ways'
    batches are interleaved (seed, ours, ours, seed, ...) so that each meets the same load from other
    processes on a shared CPU."""
    import itertools

    import torch

    ways = []
    for name, (padded, max_length) in WAYS.items():
        model = lora_model(shape, tokenizer, seed)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
        warm = torch.randint(5, len(tokenizer), (batch_size, 128))  # untimed: allocations, thread pools
        model(input_ids=warm, labels=torch.zeros(batch_size, dtype=torch.long)).loss.backward()
        optimizer.zero_grad()
        loader = train_loader(
            model, texts, labels, tokenizer, padded=padded, max_length=max_length, batch_size=batch_size, seed=seed
        )
        chosen = set(random.Random(seed).sample(range(len(loader)), min(batches, len(loader))))
        ways.append(
            {
                "name": name,
                "padded": padded,
                "max_length": max_length,
                "model": model,
                "optimizer": optimizer,
                "batches": (b for i, b in enumerate(loader) if i in chosen),
                "seconds": 0.0,
                "samples": 0,
                "tokens": 0,
                "steps": 0,
            }
        )
    for step in itertools.count():
        active = [w for w in ways if w["batches"] is not None]
        if not active:
            break
        for way in active[step % len(active) :] + active[: step % len(active)]:
            batch = next(way["batches"], None)  # collation of skipped batches stays untimed
            if batch is None:
                way["batches"] = None
                continue
            start = time.perf_counter()
            loss = way["model"](**batch).loss
            loss.backward()
            way["optimizer"].step()
            way["optimizer"].zero_grad()
            way["seconds"] += time.perf_counter() - start
            way["samples"] += int(batch["input_ids"].shape[0])
            way["tokens"] += int(batch["input_ids"].numel())
            way["steps"] += 1
    results = []
    for way in ways:
        result = {
            "name": way["name"],
            "padding": "max_length" if way["padded"] else "dynamic + length grouping",
            "max_length": way["max_length"],
            "steps": way["steps"],
            "samples": way["samples"],
            "batch_size": batch_size,
            "seconds": round(way["seconds"], 2),
            "samples_per_second": round(way["samples"] / way["seconds"], 2),
            "mean_tokens_per_batch": round(way["tokens"] / way["steps"], 1),
        }
        print(
            f"{result['name']:>22}: {result['samples_per_second']:8.2f} samples/s  "
            f"({result['mean_tokens_per_batch']:.0f} tokens per batch of {batch_size}, "
            f"{result['steps']} steps in {result['seconds']:.1f} s)",
            flush=True,
        )
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--texts",
        type=int,
        default=9600,
        help="reviews the batches come from (default 9600: all of train.tsv, so length grouping "
        "works on megabatches of 800 as in a real run)",
    )
    parser.add_argument(
        "--batches", type=int, default=30, help="timed batches per way, at random positions of the epoch (default 30)"
    )
    parser.add_argument("--batch-size", type=int, default=16, help="the seed's batch size (default 16)")
    parser.add_argument("--layers", type=int, default=2, help="encoder layers (default 2, the compact model's)")
    parser.add_argument("--hidden", type=int, default=256, help="hidden size (default 256, the compact model's)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a shared 2-core box two OpenMP threads spin-wait on "
        "each other under load, and the timing measures that contention, not the padding)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON result (default {RESULTS})")
    args = parser.parse_args(argv)

    import torch
    from transformers.utils import logging as hf_logging

    from training.config import ScratchConfig
    from training.modeling import build_char_tokenizer

    hf_logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    texts, source = load_texts(args.texts, args.seed)
    labels = [i % 2 for i in range(len(texts))]
    tokenizer = build_char_tokenizer(texts, min_freq=2)
    shape = ScratchConfig(
        hidden_size=args.hidden,
        num_layers=args.layers,
        num_heads=max(1, args.hidden // 64),
        intermediate_size=4 * args.hidden,
        max_position_embeddings=512,
    )
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    print(
        f"texts: {source}; model: {args.layers} layers x {args.hidden} hidden, LoRA r=8 on query/value; "
        f"torch threads {torch.get_num_threads()}, load average {load} at start",
        flush=True,
    )
    seed_way, ours_128, ours_256 = measure(
        texts, labels, tokenizer, shape, batch_size=args.batch_size, batches=args.batches, seed=args.seed
    )
    base = seed_way["samples_per_second"]
    ratios = {
        "ours_128_vs_seed": round(ours_128["samples_per_second"] / base, 2),
        "ours_256_vs_seed": round(ours_256["samples_per_second"] / base, 2),
    }
    print(
        f"ratio (samples/s, ours / seed): {ratios['ours_128_vs_seed']:.2f}x at max_length 128, "
        f"{ratios['ours_256_vs_seed']:.2f}x at our default 256 (which also keeps 2x longer reviews whole)"
    )
    record = {
        "benchmark": "training throughput, seed padding vs dynamic padding + length grouping",
        "texts": source,
        "model": {"layers": args.layers, "hidden": args.hidden, "lora_r": 8},
        "results": [seed_way, ours_128, ours_256],
        "ratios": ratios,
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_start": load,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "note": "shared CPU: other processes ran at the same time; compare ratios, not absolutes",
        },
        "command": "python benchmarks/bench_training.py " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    write_results(args.output, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
