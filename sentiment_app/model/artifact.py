"""The artifact folder: the one contract between training and serving.

Training writes it, the app and the batch CLI read it, and tests check it with
:func:`validate_artifact`. A folder is either

* a PEFT adapter: ``adapter_config.json`` + ``adapter_model.safetensors`` (with the
  classifier head, saved through ``modules_to_save``), the base named in the config; or
* a full model: ``config.json`` + ``model.safetensors`` (or a sharded safetensors index),

plus tokenizer files, ``labels.json`` (label names in class-index order),
``metrics.json``, a ``README.md`` model card with Hub metadata and, optionally,
``calibration.json`` (a temperature fitted on validation and the "uncertain" threshold).

Nothing here imports torch, so the training side and light tools can use it cheaply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from ..calibration import Calibration

ADAPTER_CONFIG_FILE = "adapter_config.json"
ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors"
MODEL_CONFIG_FILE = "config.json"
MODEL_WEIGHTS_FILE = "model.safetensors"
MODEL_WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
LABELS_FILE = "labels.json"
# Optional: {"temperature": T, "uncertain_below": p or null}. The app divides logits by T before the
# softmax and marks predictions whose top probability is below p as uncertain.
CALIBRATION_FILE = "calibration.json"
METRICS_FILE = "metrics.json"
TRAINING_CONFIG_FILE = "training_config.json"
MODEL_CARD_FILE = "README.md"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
# Either of these holds the vocabulary; tokenizer_config.json says which class reads it.
TOKENIZER_VOCAB_FILES = ("tokenizer.json", "vocab.txt", "sentencepiece.bpe.model", "spiece.model")

# Weight formats we refuse to load: unpickling runs arbitrary code.
PICKLE_WEIGHT_FILES = (
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "adapter_model.bin",
    "model.pt",
    "model.pth",
    "model.ckpt",
    "tf_model.h5",
    "flax_model.msgpack",
)

# What the app downloads from a Hub repo: configs, safetensors, tokenizer, card. Never pickles.
HUB_ALLOW_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "README.md"]

# Heads a sequence classifier keeps outside LoRA (BERT family: "classifier"; others: "score").
CLASSIFIER_HEAD_MODULES = ("classifier", "score")

ArtifactKind = Literal["adapter", "full"]
# transformers' placeholder names when a config names no labels: LABEL_0, LABEL_1, ...
GENERIC_LABEL = re.compile(r"LABEL_\d+")


class ArtifactError(ValueError):
    """A folder that does not follow the contract; the message is one line for the user."""


def artifact_kind(folder: str | Path) -> ArtifactKind:
    """Say whether ``folder`` holds an adapter or a full model, or explain why it is neither."""
    path = Path(folder)
    if not path.is_dir():
        raise ArtifactError(f"model folder {path} does not exist")
    names = {p.name for p in path.iterdir()}
    if ADAPTER_CONFIG_FILE in names:
        if ADAPTER_WEIGHTS_FILE in names:
            return "adapter"
        if "adapter_model.bin" in names:
            raise ArtifactError(
                f"{path} holds only pickle weights (adapter_model.bin), which can run code when loaded; "
                "re-save the adapter with safetensors (PeftModel.save_pretrained does by default)"
            )
        raise ArtifactError(f"{path} has adapter_config.json but no {ADAPTER_WEIGHTS_FILE}")
    if MODEL_CONFIG_FILE in names:
        if MODEL_WEIGHTS_FILE in names or MODEL_WEIGHTS_INDEX_FILE in names:
            return "full"
        pickles = sorted(names & set(PICKLE_WEIGHT_FILES))
        if pickles:
            raise ArtifactError(
                f"{path} holds only pickle weights ({', '.join(pickles)}), which can run code when loaded; "
                "convert them to safetensors (model.save_pretrained(..., safe_serialization=True))"
            )
        raise ArtifactError(f"{path} has config.json but no {MODEL_WEIGHTS_FILE}")
    raise ArtifactError(
        f"{path} is neither a PEFT adapter (adapter_config.json + {ADAPTER_WEIGHTS_FILE}) "
        f"nor a model folder (config.json + {MODEL_WEIGHTS_FILE})"
    )


def write_labels(folder: str | Path, labels: Sequence[str]) -> Path:
    """Write the label names in class-index order to ``labels.json``."""
    names = [str(label) for label in labels]
    if len(names) < 2 or len(set(names)) != len(names):
        raise ArtifactError(f"labels must be at least two distinct names, got {names}")
    target = Path(folder) / LABELS_FILE
    target.write_text(json.dumps({"labels": names}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return target


def label_maps(labels: Sequence[str]) -> dict[str, Any]:
    """``num_labels``, ``id2label`` and ``label2id`` for a transformers config, from label names in
    class-index order: what training builds the head with and serving loads it with."""
    names = [str(label) for label in labels]
    return {
        "num_labels": len(names),
        "id2label": dict(enumerate(names)),
        "label2id": {name: i for i, name in enumerate(names)},
    }


def read_labels(folder: str | Path) -> list[str] | None:
    """Label names from ``labels.json``, else from a full model's ``config.json``; None if neither says."""
    path = Path(folder)
    labels_file = path / LABELS_FILE
    if labels_file.is_file():
        try:
            data = json.loads(labels_file.read_text(encoding="utf-8"))
            names = [str(x) for x in data["labels"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ArtifactError(f'{labels_file} is not valid: expected {{"labels": [...]}} ({exc})') from None
        if len(names) < 2:
            raise ArtifactError(f"{labels_file} names fewer than two labels")
        return names
    config_file = path / MODEL_CONFIG_FILE
    if config_file.is_file():
        return config_labels(read_json(config_file))
    return None


def write_calibration(folder: str | Path, temperature: float, uncertain_below: float | None) -> Path:
    """Write ``calibration.json`` (checked the way :func:`read_calibration` checks it)."""
    calibration = _checked_calibration({"temperature": temperature, "uncertain_below": uncertain_below}, "calibration")
    target = Path(folder) / CALIBRATION_FILE
    target.write_text(
        json.dumps({"temperature": calibration.temperature, "uncertain_below": calibration.uncertain_below}, indent=2)
        + "\n",
        encoding="utf-8",
    )
    return target


def read_calibration(folder: str | Path) -> Calibration | None:
    """The folder's calibration, or None when it has no ``calibration.json`` (raw softmax, never uncertain)."""
    path = Path(folder) / CALIBRATION_FILE
    if not path.is_file():
        return None
    return _checked_calibration(read_json(path), str(path))


def _checked_calibration(data: dict, where: str) -> Calibration:
    temperature = data.get("temperature", 1.0)
    threshold = data.get("uncertain_below")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 < temperature < 1000:
        raise ArtifactError(f"{where}: temperature must be a positive number, got {temperature!r}")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1
    ):
        raise ArtifactError(f"{where}: uncertain_below must be a probability or null, got {threshold!r}")
    return Calibration(float(temperature), None if threshold is None else float(threshold))


def generic_labels(names: Sequence[str]) -> bool:
    """True when ``names`` are transformers' placeholders (LABEL_0, LABEL_1, ...), which say nothing."""
    return all(GENERIC_LABEL.fullmatch(str(name)) for name in names)


def config_labels(config: dict | object, num_labels: int | None = None) -> list[str] | None:
    """Label names a model config (``config.json`` dict or a ``PretrainedConfig``) gives, in class-index
    order; None when it gives only placeholders or a count other than ``num_labels``."""
    id2label = (config.get("id2label") if isinstance(config, dict) else getattr(config, "id2label", None)) or {}
    try:
        names = [str(id2label[k]) for k in sorted(id2label, key=int)]
    except (TypeError, ValueError):
        return None
    if not names or generic_labels(names) or (num_labels is not None and len(names) != num_labels):
        return None
    return names


def read_json(path: str | Path) -> dict:
    """Read a JSON object, with a one-line error when the file is broken."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path} does not hold a JSON object")
    return data


def validate_artifact(folder: str | Path) -> list[str]:
    """List every way ``folder`` breaks the artifact contract; an empty list means it is complete."""
    path = Path(folder)
    problems: list[str] = []
    try:
        kind = artifact_kind(path)
    except ArtifactError as exc:
        return [str(exc)]
    names = {p.name for p in path.iterdir()}
    for pickle_name in sorted(names & set(PICKLE_WEIGHT_FILES)):
        problems.append(f"pickle weights present: {pickle_name}")
    if kind == "adapter":
        config = read_json(path / ADAPTER_CONFIG_FILE)
        if not config.get("base_model_name_or_path"):
            problems.append("adapter_config.json does not name base_model_name_or_path")
        saved = set(config.get("modules_to_save") or [])
        if not saved & set(CLASSIFIER_HEAD_MODULES):
            problems.append("adapter_config.json does not keep the classifier head in modules_to_save")
    if TOKENIZER_CONFIG_FILE not in names or not names & set(TOKENIZER_VOCAB_FILES):
        problems.append("tokenizer files missing (tokenizer_config.json and tokenizer.json or vocab.txt)")
    try:
        if read_labels(path) is None:
            problems.append("label names missing (labels.json)")
    except ArtifactError as exc:
        problems.append(str(exc))
    if METRICS_FILE not in names:
        problems.append("metrics.json missing")
    else:
        try:
            read_json(path / METRICS_FILE)
        except ArtifactError as exc:
            problems.append(str(exc))
    try:
        read_calibration(path)
    except ArtifactError as exc:
        problems.append(str(exc))
    card = path / MODEL_CARD_FILE
    if not card.is_file():
        problems.append("model card README.md missing")
    else:
        text = card.read_text(encoding="utf-8")
        if not text.startswith("---\n") or "\n---" not in text[4:]:
            problems.append("model card README.md has no YAML metadata block")
    return problems
