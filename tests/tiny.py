"""Tiny local models for tests: a 2-layer BERT with a character vocabulary, built in seconds.

They check plumbing (loading, windows, labels, merging), not accuracy: their weights are
random unless a test trains them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

# Handwritten reviews (hotel, laptop, book, shop), 1 = 正面 (positive), 0 = 负面 (negative).
REVIEWS: list[tuple[str, int]] = [
    ("房间干净整洁，服务态度非常好，下次还会再来。", 1),
    ("酒店位置很方便，早餐丰富，前台热情。", 1),
    ("这本书写得太好了，一口气读完，强烈推荐！", 1),
    ("电脑运行速度快，屏幕清晰，性价比很高。", 1),
    ("物流很快，包装完好，质量不错，满意。", 1),
    ("环境优雅安静，床很舒服，睡得很好。", 1),
    ("客服耐心解答问题，体验非常愉快。", 1),
    ("键盘手感好，电池续航长，值得购买。", 1),
    ("故事情节感人，文笔细腻，值得一读。", 1),
    ("价格实惠，味道正宗，服务周到。", 1),
    ("设施齐全，交通便利，员工很友善。", 1),
    ("外观漂亮，做工精细，朋友都说好看。", 1),
    ("房间又小又脏，隔音很差，再也不来了。", 0),
    ("服务态度恶劣，前台爱理不理，非常失望。", 0),
    ("这本书内容空洞，浪费时间，不推荐。", 0),
    ("电脑用了三天就死机，质量太差了。", 0),
    ("物流太慢，包装破损，东西有划痕。", 0),
    ("空调坏了没人修，热得一晚上睡不着。", 0),
    ("客服推来推去，问题一直没解决，差评。", 0),
    ("电池不耐用，发热严重，后悔买了。", 0),
    ("翻译生硬，错别字很多，看不下去。", 0),
    ("价格贵得离谱，味道一般，不值这个钱。", 0),
    ("卫生间有异味，毛巾发黄，很不卫生。", 0),
    ("屏幕有坏点，售后拒绝换货，太坑了。", 0),
]
LABELS = ("负面", "正面")
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def one_by_one_logits(model: torch.nn.Module, tokenizer, texts: Sequence[str]):
    """The reference answer: each text alone through ``model`` (no batching, no padding), as a
    ``[texts, labels]`` numpy array."""
    import numpy as np

    with torch.no_grad():
        return np.stack([model(**tokenizer(t, return_tensors="pt")).logits[0].numpy() for t in texts])


def char_vocab(texts: Sequence[str], extra: str = "") -> list[str]:
    chars = dict.fromkeys(ch for text in list(texts) + [extra] for ch in text if not ch.isspace())
    return SPECIALS + [c for c in chars if c not in SPECIALS]


def tiny_tokenizer(texts: Sequence[str] | None = None):
    from transformers import BertTokenizer

    texts = [t for t, _ in REVIEWS] if texts is None else texts
    vocab = char_vocab(texts, extra="的了是我不很好差😀abcdefghijklmnopqrstuvwxyz0123456789")
    return BertTokenizer(vocab={tok: i for i, tok in enumerate(vocab)})


def tiny_bert(
    vocab_size: int,
    labels: Sequence[str] = LABELS,
    *,
    hidden: int = 32,
    layers: int = 2,
    max_positions: int = 512,
    seed: int = 0,
):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=max_positions,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)},
    )
    return BertForSequenceClassification(config).eval()


def save_full_model(folder: Path, labels: Sequence[str] = LABELS, *, with_labels_file: bool = True, **kw) -> Path:
    """A full-model artifact folder (config.json + model.safetensors + tokenizer [+ labels.json])."""
    from sentiment_app.model.artifact import write_labels

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = tiny_tokenizer()
    model = tiny_bert(len(tokenizer), labels, **kw)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if with_labels_file:
        write_labels(folder, labels)
    return folder


def save_base_model(folder: Path, **kw) -> Path:
    """A plain base model folder (what an adapter names as its base), generic labels."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = tiny_tokenizer()
    model = tiny_bert(len(tokenizer), ("LABEL_0", "LABEL_1"), **kw)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_adapter(
    folder: Path, base_folder: Path, labels: Sequence[str] = LABELS, *, seed: int = 1, with_head: bool = True
) -> Path:
    """A LoRA adapter with random (non-zero) weights and a classifier head, on ``base_folder``."""
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification

    from sentiment_app.model.artifact import write_labels

    torch.manual_seed(seed)
    base = AutoModelForSequenceClassification.from_pretrained(base_folder, num_labels=len(labels))
    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS, r=4, lora_alpha=8, target_modules=["query", "value"], init_lora_weights=False
    )
    model = get_peft_model(base, lora)
    with torch.no_grad():  # make the head differ from the base's random one, so the test sees it load
        head = model.base_model.model.classifier.modules_to_save["default"]
        head.weight.normal_(0, 0.5)
    model.save_pretrained(folder)
    config_path = folder / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = str(base_folder)
    if not with_head:
        from safetensors.torch import load_file, save_file

        config["modules_to_save"] = None
        weights = load_file(folder / "adapter_model.safetensors")
        save_file({k: v for k, v in weights.items() if ".classifier." not in k}, folder / "adapter_model.safetensors")
    config_path.write_text(json.dumps(config, indent=2))
    tiny_tokenizer().save_pretrained(folder)
    write_labels(folder, labels)
    return folder


# Held-out reviews for validation/test splits of training tests (same domains, other wording).
HELD_OUT_REVIEWS: list[tuple[str, int]] = [
    ("前台服务热情周到，房间宽敞明亮。", 1),
    ("这台笔记本轻薄好用，开机很快。", 1),
    ("书的印刷清晰，内容很有启发。", 1),
    ("早餐品种多，味道也不错，推荐入住。", 1),
    ("发货及时，客服回复也很耐心。", 1),
    ("性价比高，用起来很顺手，好评。", 1),
    ("房间有霉味，被子潮湿，体验很差。", 0),
    ("电脑风扇噪音太大，用一会儿就发烫。", 0),
    ("书中错误太多，装订也松散。", 0),
    ("前台态度冷淡，办理入住等了一小时。", 0),
    ("快递送错地址，客服也不处理。", 0),
    ("说明书和实物不符，感觉被骗了。", 0),
]


def write_reviews(
    path: Path,
    rows: Sequence[tuple[str, int]],
    *,
    text_column: str = "text",
    label_column: str = "label",
    label_names: Sequence[str] | None = LABELS,
) -> Path:
    """Write (text, label) rows to csv/tsv/jsonl/parquet by suffix; labels as names unless label_names is None."""
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    labels = [label_names[y] if label_names is not None else y for _, y in rows]
    frame = pd.DataFrame({text_column: [t for t, _ in rows], label_column: labels})
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        raise ValueError(f"unknown suffix {suffix}")
    return path


def split_files_flags(folder: Path, names: Sequence[str], *, integer_labels: bool = False) -> list[str]:
    """Write train (csv), validation (jsonl) and test (parquet) files with columns review/sentiment and
    return the training flags that read them. Labels are ``names`` in the files, or class indices that
    only ``--label-names`` can name (``integer_labels``)."""
    columns = {"text_column": "review", "label_column": "sentiment", "label_names": None if integer_labels else names}
    write_reviews(folder / "train.csv", REVIEWS, **columns)
    write_reviews(folder / "dev.jsonl", HELD_OUT_REVIEWS[0::2], **columns)
    write_reviews(folder / "test.parquet", HELD_OUT_REVIEWS[1::2], **columns)
    return [
        "--train-file",
        str(folder / "train.csv"),
        "--validation-file",
        str(folder / "dev.jsonl"),
        "--test-file",
        str(folder / "test.parquet"),
        "--text-column",
        "review",
        "--label-column",
        "sentiment",
        "--label-names",
        ",".join(names),
    ]


def run_module(
    *args: object, drop: tuple[str, ...] = ("SENTIMENT_",), timeout: float = 300
) -> subprocess.CompletedProcess:
    """``python -m sentiment_app ARGS`` from the repository root, with the environment's settings that
    start with ``drop`` removed (so a developer's SENTIMENT_* cannot change what a test sees)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return subprocess.run(
        [sys.executable, "-m", "sentiment_app", *map(str, args)],
        cwd=Path(__file__).resolve().parents[1],
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
