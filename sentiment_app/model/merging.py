"""BERT weights straight from safetensors, and LoRA adapters merged into them without PEFT.

Serving needs one plain model: the base's weights with each LoRA update ``B @ A * scaling`` added
and the adapter's classifier head in place. Wrapping the base in a ``PeftModel`` and unwrapping it
again gives exactly that, but costs the PEFT and transformers-modeling imports and a pass over
every module; here the same sums are done on the tensors as read (the same float operations as
PEFT's ``merge``, so the merged weights are bit-identical). Only adapters whose meaning is plain
are merged here: LoRA on BERT's linear layers, one rank and alpha, no DoRA, no bias training, no
layer selection, every targeted layer present. :func:`direct_merge_problem` names anything else,
and the loader then takes the PEFT path, which stays the reference.

Nothing here imports transformers or PEFT; the PEFT path itself lives in :func:`peft_merge`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .artifact import ADAPTER_WEIGHTS_FILE, CLASSIFIER_HEAD_MODULES, MODEL_WEIGHTS_FILE, MODEL_WEIGHTS_INDEX_FILE

PEFT_PREFIX = "base_model.model."  # PEFT saves module paths of the wrapped model under this prefix
LORA_KEY = re.compile(r"(?P<module>.+)\.lora_(?P<part>[AB])\.weight")
# Linear layers of one BERT encoder layer, by their path below ``bert.encoder.layer.<i>``.
LAYER_LINEARS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
LAYER_NORMS = ("attention.output.LayerNorm", "output.LayerNorm")
# Last parts of a target name that only ever name linear layers in BERT.
LINEAR_LEAVES = {"query", "key", "value", "dense"}
# adapter_config.json fields that do not change what the merged weights are (bookkeeping, training-only
# settings, or the fields merged here: r, lora_alpha, use_rslora, target_modules, modules_to_save).
NEUTRAL_FIELDS = {
    "auto_mapping",
    "base_model_name_or_path",
    "revision",
    "task_type",
    "peft_type",
    "peft_version",
    "inference_mode",
    "init_lora_weights",
    "lora_dropout",
    "megatron_core",
    "qalora_group_size",  # only read when use_qalora is on
    "r",
    "lora_alpha",
    "use_rslora",
    "target_modules",
    "modules_to_save",
    "bias",
}
# transformers' old LayerNorm names in converted TF checkpoints (bert-base-chinese's among them).
OLD_NORM_NAMES = {"gamma": "weight", "beta": "bias"}


class AdapterMismatch(ValueError):
    """The adapter does not fit its base; the message is one line for the user."""


# ---- reading ------------------------------------------------------------------------------------


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file in memory of its own (``pread``, not a mapping of the file):
    the merge adds to them in place, and weights the packed model replaces are freed, not left mapped."""
    from safetensors.torch import load_file

    return load_file(str(path), backend="pread")


def model_weight_files(folder: Path) -> list[Path] | None:
    """The safetensors files of a model folder (one file or the shards of an index), None when absent."""
    single = folder / MODEL_WEIGHTS_FILE
    if single.is_file():
        return [single]
    index = folder / MODEL_WEIGHTS_INDEX_FILE
    if not index.is_file():
        return None
    try:
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    files = [folder / name for name in shards]
    return files if files and all(f.is_file() and f.parent == folder for f in files) else None


def expected_bert_keys(config: Any) -> list[str]:
    """Parameter names of a ``BertForSequenceClassification`` with ``config``'s shape, in module order."""
    keys = [f"bert.embeddings.{n}.weight" for n in ("word_embeddings", "position_embeddings", "token_type_embeddings")]
    keys += ["bert.embeddings.LayerNorm.weight", "bert.embeddings.LayerNorm.bias"]
    for i in range(config.num_hidden_layers):
        for module in LAYER_LINEARS + LAYER_NORMS:
            keys += [f"bert.encoder.layer.{i}.{module}.weight", f"bert.encoder.layer.{i}.{module}.bias"]
    return keys + ["bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"]


def read_bert_weights(folder: Path, config: Any, *, head: bool) -> tuple[dict[str, torch.Tensor] | None, str]:
    """fp32 weights of ``folder`` under ``BertForSequenceClassification``'s names, or (None, why not).

    Accepts what transformers' own loading maps the same way: a ``BertModel`` checkpoint (no ``bert.``
    prefix), pre-training heads (``cls.*``, dropped), old ``gamma``/``beta`` LayerNorm names. Anything
    else (a missing or unknown weight, another shape) is left to transformers. ``head``: the classifier
    must be there too (a full model); an adapter brings its own.
    """
    files = model_weight_files(folder)
    if files is None:
        return None, "no safetensors weights"
    raw: dict[str, torch.Tensor] = {}
    for path in files:
        raw.update(read_safetensors(path))
    weights: dict[str, torch.Tensor] = {}
    for key, tensor in raw.items():
        if key.startswith("cls.") or key.endswith("position_ids"):
            continue
        parts = key.split(".")
        if "LayerNorm" in parts[-2:-1] and parts[-1] in OLD_NORM_NAMES:
            key = ".".join(parts[:-1] + [OLD_NORM_NAMES[parts[-1]]])
        if not key.startswith(("bert.", "classifier.")):
            key = "bert." + key
        if not tensor.is_floating_point():
            return None, f"weight {key} is not a float tensor"
        weights[key] = tensor if tensor.dtype == torch.float32 else tensor.float()
    expected = expected_bert_keys(config)
    needed = expected if head else [k for k in expected if not k.startswith("classifier.")]
    missing = [k for k in needed if k not in weights]
    unknown = sorted(set(weights) - set(expected))
    if missing or unknown:
        return None, f"weights {', '.join((missing + unknown)[:2])} differ from a BERT classifier's"
    hidden, layers = config.hidden_size, config.num_hidden_layers
    shapes = {
        "bert.embeddings.word_embeddings.weight": (config.vocab_size, hidden),
        "bert.embeddings.position_embeddings.weight": (config.max_position_embeddings, hidden),
        "bert.embeddings.token_type_embeddings.weight": (config.type_vocab_size, hidden),
        "bert.pooler.dense.weight": (hidden, hidden),
        f"bert.encoder.layer.{layers - 1}.intermediate.dense.weight": (config.intermediate_size, hidden),
        "classifier.weight": (config.num_labels, hidden),
    }
    for key, shape in shapes.items():
        if key in weights and tuple(weights[key].shape) != shape:
            return None, f"{key} has shape {tuple(weights[key].shape)}, the config says {shape}"
    return weights, ""


def adapter_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in the adapter's safetensors (read from the header only)."""
    from safetensors import safe_open

    with safe_open(str(folder / ADAPTER_WEIGHTS_FILE), framework="pt") as weights:
        return {key: tuple(weights.get_slice(key).get_shape()) for key in weights.keys()}


def head_shape(shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, ...] | None:
    """(labels, hidden) of the classifier head the adapter saved, or None when it saved none."""
    head = {k: v for k, v in shapes.items() if any(f".{m}." in k for m in CLASSIFIER_HEAD_MODULES)}
    return next((v for k, v in head.items() if k.endswith("weight") and len(v) == 2), None)


def read_adapter_weights(folder: Path) -> dict[str, torch.Tensor]:
    return read_safetensors(folder / ADAPTER_WEIGHTS_FILE)


# ---- merging without PEFT -----------------------------------------------------------------------


def lora_scaling(adapter_config: Mapping[str, Any]) -> float:
    """PEFT's scaling of ``B @ A``: alpha / r, or alpha / sqrt(r) with rank-stabilized LoRA."""
    r, alpha = adapter_config["r"], adapter_config["lora_alpha"]
    return alpha / math.sqrt(r) if adapter_config.get("use_rslora") else alpha / r


def _targeted(targets: list[str], config: Any) -> set[str] | None:
    """The linear layers PEFT wraps for ``target_modules`` (its rule: the name, or ``.name`` at the end);
    None when a target could name something other than a linear layer of the encoder."""
    if any(not isinstance(t, str) or t.split(".")[-1] not in LINEAR_LEAVES for t in targets):
        return None
    linears = [f"bert.encoder.layer.{i}.{m}" for i in range(config.num_hidden_layers) for m in LAYER_LINEARS]
    linears.append("bert.pooler.dense")
    return {m for m in linears if any(m == t or m.endswith("." + t) for t in targets)}


def _owners(name: str) -> list[str]:
    """The modules that hold the weight ``name``: ``a.b.weight`` -> ``a``, ``a.b``."""
    path = name.split(".")
    return [".".join(path[:i]) for i in range(1, len(path))]


def direct_merge_problem(
    adapter_config: Mapping[str, Any], adapter: Mapping[str, torch.Tensor], weights: Mapping[str, torch.Tensor], config
) -> str | None:
    """Why this adapter is not merged here (the PEFT path then merges it), or None when it is."""
    if adapter_config.get("peft_type") != "LORA":
        return f"peft_type {adapter_config.get('peft_type')!r} is not LORA"
    if adapter_config.get("bias", "none") != "none":
        return f"bias={adapter_config.get('bias')!r} trains biases"
    unusual = sorted(
        k for k, v in adapter_config.items() if k not in NEUTRAL_FIELDS and v not in (None, False, {}, [], "")
    )
    if unusual:
        return f"adapter_config.json sets {', '.join(unusual)}"
    r, alpha = adapter_config.get("r"), adapter_config.get("lora_alpha")
    if not isinstance(r, int) or isinstance(r, bool) or r < 1 or not isinstance(alpha, (int, float)):
        return "r or lora_alpha is not a number"
    targets = adapter_config.get("target_modules")
    wanted = _targeted(list(targets), config) if isinstance(targets, (list, tuple)) else None
    if not wanted:
        return f"target_modules {targets!r} are not only BERT's linear layers"
    saved = [m for m in adapter_config.get("modules_to_save") or [] if isinstance(m, str)]
    expected = set(expected_bert_keys(config))
    if any(owner.endswith(s) for m in wanted for owner in _owners(m + ".weight") for s in saved):
        return "a LoRA target is also in modules_to_save"
    parts: dict[str, dict[str, torch.Tensor]] = {}
    replaced = set()
    for key, tensor in adapter.items():
        if not key.startswith(PEFT_PREFIX):
            return f"adapter weight {key} is not under {PEFT_PREFIX}"
        name = key[len(PEFT_PREFIX) :]
        match = LORA_KEY.fullmatch(name)
        if match:
            parts.setdefault(match["module"], {})[match["part"]] = tensor
            continue
        if name not in expected:
            return f"adapter weight {name} is not a weight of the BERT classifier"
        if not any(owner.endswith(s) for owner in _owners(name) for s in saved):  # PEFT's modules_to_save rule
            return f"adapter weight {name} is not in modules_to_save"
        if name in weights and weights[name].shape != tensor.shape:
            return f"adapter weight {name} has another shape than the base's"
        replaced.add(name)
    head = {"classifier.weight", "classifier.bias"}
    if not head <= replaced | set(weights):
        return "neither the adapter nor the base has a classifier head"
    if set(parts) != wanted:
        return "the adapter's LoRA layers are not the ones target_modules names"
    for module, pair in parts.items():
        out_features, in_features = weights[module + ".weight"].shape
        a, b = pair.get("A"), pair.get("B")
        if a is None or b is None or tuple(a.shape) != (r, in_features) or tuple(b.shape) != (out_features, r):
            return f"LoRA weights of {module} do not have rank {r} and the layer's shape"
    return None


def merge_lora(
    weights: dict[str, torch.Tensor], adapter_config: Mapping[str, Any], adapter: Mapping[str, torch.Tensor]
) -> None:
    """Add each LoRA update to its base weight and put the saved modules in place, in ``weights``.

    Call only when :func:`direct_merge_problem` found none. The update is PEFT's float for float:
    ``(B @ A) * scaling`` in float32, added to the float32 weight.
    """
    scaling = lora_scaling(adapter_config)
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in adapter.items():
        name = key[len(PEFT_PREFIX) :]
        match = LORA_KEY.fullmatch(name)
        if match:
            pairs.setdefault(match["module"], {})[match["part"]] = tensor.float()
        else:
            weights[name] = tensor.float()
    for module, pair in pairs.items():
        weights[module + ".weight"] += (pair["B"] @ pair["A"]) * scaling  # in place, as PEFT's merge


def merged_bert_weights(
    folder: Path, config: Any, adapter_folder: Path | None = None, adapter_config: Mapping[str, Any] | None = None
) -> dict[str, torch.Tensor]:
    """Read again what a load has already checked: the weights in ``folder``, with the adapter merged when
    given. An int8 model's explanations are built from these, so it needs no fp32 copy until asked."""
    weights, why = read_bert_weights(folder, config, head=adapter_folder is None)
    if weights is None:
        raise ValueError(f"{folder} changed since it was loaded: {why}")
    if adapter_folder is not None and adapter_config is not None:
        merge_lora(weights, adapter_config, read_adapter_weights(adapter_folder))
    return weights


# ---- merging through PEFT (the reference, and every adapter the direct merge leaves) -----------------


def peft_merge(base: torch.nn.Module, folder: Path, shapes: Mapping[str, tuple]) -> torch.nn.Module:
    """``base`` with the adapter in ``folder`` merged by PEFT; :class:`AdapterMismatch` when it does not fit."""
    from peft import PeftModel, get_peft_model_state_dict

    try:
        peft_model = PeftModel.from_pretrained(base, folder, is_trainable=False)
    except (RuntimeError, ValueError, KeyError) as exc:
        from ..errors import first_line

        raise AdapterMismatch(first_line(exc, 300)) from None
    # PEFT skips adapter weights that find no module (say, a layer the base lacks) without a word.
    placed = set(get_peft_model_state_dict(peft_model, save_embedding_layers=False))
    stray, unfilled = sorted(set(shapes) - placed), sorted(placed - set(shapes))
    if stray or unfilled:
        raise AdapterMismatch(
            f"{len(stray)} adapter weights have no place in the base and {len(unfilled)} "
            f"are missing (e.g. {(stray or unfilled)[0]})"
        )
    return peft_model.merge_and_unload()
