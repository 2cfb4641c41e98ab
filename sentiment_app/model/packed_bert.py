"""BERT sequence classification on packed (unpadded) tokens: the same answer with less work on CPU.

:class:`PackedBertClassifier` runs the weights of a transformers ``BertForSequenceClassification``
(eval mode) through the same arithmetic, with three changes that skip work the answer never uses:

* **Packed tokens.** A batch of windows is one ``[tokens, hidden]`` matrix, so every linear layer
  (90% of the time) sees real tokens only, whatever the spread of lengths in the batch; only
  attention lays the batch out padded to its longest window (with a key mask, as transformers does).
* **One query/key/value product.** The three 768x768 projections become one 768x2304 product: one pass
  over the activations and, with ``int8``, one activation quantization instead of three.
* **[CLS] only in the last layer.** The classifier reads the last layer's [CLS] row and nothing else,
  so that layer computes keys and values for every token but the query, attention output and
  feed-forward for the [CLS] row only (about 7% of a 12-layer model).

Logits equal the transformers model's to float rounding (about 1e-6), tested on tiny models and
checked on a bert-base-shaped one by ``benchmarks/bench_inference.py``. The module shares its
weights with the model it was built from (the query/key/value weights of that model become views of
the fused one), so keeping both costs no memory; explanations keep using the transformers model,
which supports ``inputs_embeds`` and backward. Other architectures, and BERT configurations this
does not reproduce, are refused by :func:`packing_problem` and served unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# Activations built here from a config's ``hidden_act`` (transformers' "gelu" is the exact erf GELU).
ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu}


def config_packing_problem(config: Any, *, own_activation: bool = False) -> str | None:
    """Why a BERT with ``config`` cannot be packed exactly, or None when it can.

    ``own_activation``: the packed model is built from weights (:meth:`PackedBertClassifier.from_weights`),
    so only the activations in :data:`ACTIVATIONS` are reproduced.
    """
    if getattr(config, "model_type", None) != "bert":
        return f"model type {getattr(config, 'model_type', None)!r} is not bert"
    if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
        return "decoder BERT configurations are not packed"
    if getattr(config, "position_embedding_type", "absolute") != "absolute":
        return f"position_embedding_type {config.position_embedding_type!r} is not packed"
    if getattr(config, "chunk_size_feed_forward", 0):
        return "chunked feed-forward is not packed"
    if config.hidden_size % config.num_attention_heads:
        return "hidden size is not a multiple of the attention heads"
    if own_activation and getattr(config, "hidden_act", None) not in ACTIVATIONS:
        return f"hidden_act {getattr(config, 'hidden_act', None)!r} is not built here"
    return None


def packing_problem(model: nn.Module) -> str | None:
    """Why ``model`` cannot be packed exactly, or None when it can."""
    from transformers import BertForSequenceClassification

    if type(model) is not BertForSequenceClassification:
        return f"{type(model).__name__} is not BertForSequenceClassification"
    if model.bert.pooler is None:
        return "a BERT without pooler is not packed"
    return config_packing_problem(model.config)


def _frozen(tensor: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(tensor.detach(), requires_grad=False)


def _linear(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    linear = nn.Linear(weight.shape[1], weight.shape[0], device="meta")
    linear.weight, linear.bias = _frozen(weight), _frozen(bias)
    return linear


def _layer_norm(weights: dict[str, torch.Tensor], prefix: str, eps: float) -> nn.LayerNorm:
    norm = nn.LayerNorm(weights[prefix + ".weight"].shape[0], eps=eps, device="meta")
    norm.weight, norm.bias = _frozen(weights[prefix + ".weight"]), _frozen(weights[prefix + ".bias"])
    return norm


def _embedding(weight: torch.Tensor) -> nn.Embedding:
    return nn.Embedding.from_pretrained(weight.detach(), freeze=True)


class _PackedLayer(nn.Module):
    """One encoder layer; ``cls_only`` computes query, output and feed-forward for the [CLS] rows only."""

    def __init__(
        self, weights: dict[str, torch.Tensor], prefix: str, config: Any, activation: Any, cls_only: bool
    ) -> None:
        super().__init__()
        attention = prefix + "attention.self."
        parts = ("query", "key", "value")
        # Popped: once fused, the separate tensors are free to go (the caller keeps what it still needs).
        fused_weight = torch.cat([weights.pop(f"{attention}{p}.weight") for p in parts]).detach()
        fused_bias = torch.cat([weights.pop(f"{attention}{p}.bias") for p in parts]).detach()
        hidden = fused_weight.shape[1]
        self.fused = (fused_weight, fused_bias)  # for transformers_weights(); plain tensors, not state
        self.cls_only = cls_only
        if cls_only:
            self.query = _linear(fused_weight[:hidden], fused_bias[:hidden])
            self.key_value = _linear(fused_weight[hidden:], fused_bias[hidden:])
        else:
            self.qkv = _linear(fused_weight, fused_bias)
        eps = config.layer_norm_eps
        self.attention_output = _linear(
            weights[prefix + "attention.output.dense.weight"], weights[prefix + "attention.output.dense.bias"]
        )
        self.attention_norm = _layer_norm(weights, prefix + "attention.output.LayerNorm", eps)
        self.intermediate = _linear(
            weights[prefix + "intermediate.dense.weight"], weights[prefix + "intermediate.dense.bias"]
        )
        self.activation = activation
        self.output = _linear(weights[prefix + "output.dense.weight"], weights[prefix + "output.dense.bias"])
        self.output_norm = _layer_norm(weights, prefix + "output.LayerNorm", eps)
        self.heads = config.num_attention_heads
        self.hidden = hidden

    def forward(self, x: torch.Tensor, layout: _Layout) -> torch.Tensor:
        heads, head_size = self.heads, self.hidden // self.heads
        batch, longest = layout.batch, layout.longest
        if self.cls_only:
            residual = x[layout.starts]
            query = self.query(residual).view(batch, 1, heads, head_size).transpose(1, 2)
            key, value = (
                layout.pad(self.key_value(x)).view(batch, longest, 2, heads, head_size).permute(2, 0, 3, 1, 4).unbind(0)
            )
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=layout.mask)
            context = context.transpose(1, 2).reshape(batch, self.hidden)
        else:
            residual = x
            query, key, value = (
                layout.pad(self.qkv(x)).view(batch, longest, 3, heads, head_size).permute(2, 0, 3, 1, 4).unbind(0)
            )
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=layout.mask)
            context = layout.unpad(context.transpose(1, 2).reshape(batch * longest, self.hidden))
        x = self.attention_norm(self.attention_output(context) + residual)
        return self.output_norm(self.output(self.activation(self.intermediate(x))) + x)


class _Layout:
    """Where each packed token sits in the padded ``[batch, longest]`` layout attention needs."""

    def __init__(self, lengths: np.ndarray) -> None:
        self.batch = len(lengths)
        self.longest = int(lengths.max())
        self.tokens = int(lengths.sum())
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.starts = torch.from_numpy(starts)
        self.positions = torch.from_numpy(np.arange(self.tokens) - np.repeat(starts, lengths))
        self.padded = self.tokens != self.batch * self.longest
        if self.padded:
            rows = np.repeat(np.arange(self.batch), lengths)
            self.index = torch.from_numpy(rows * self.longest + self.positions.numpy())
            keep = np.arange(self.longest)[None, :] < lengths[:, None]
            self.gaps = torch.from_numpy(np.flatnonzero(~keep.reshape(-1)))
            self.mask: torch.Tensor | None = torch.from_numpy(keep)[:, None, None, :]
        else:  # every window has the same length: packed rows already are the padded layout
            self.mask = None

    def pad(self, packed: torch.Tensor) -> torch.Tensor:
        if not self.padded:
            return packed
        # Zero only the padding rows (masked keys still meet values: 0 x NaN would be NaN).
        out = packed.new_empty(self.batch * self.longest, packed.shape[1])
        out.index_fill_(0, self.gaps, 0.0)
        return out.index_copy_(0, self.index, packed)

    def unpad(self, padded: torch.Tensor) -> torch.Tensor:
        return padded.index_select(0, self.index) if self.padded else padded


class PackedBertClassifier(nn.Module):
    """``BertForSequenceClassification`` inference on packed windows; see the module docstring."""

    def __init__(self, model: nn.Module) -> None:
        """Pack a transformers ``BertForSequenceClassification``; its query/key/value weights become views
        of the fused ones (one copy in memory)."""
        problem = packing_problem(model)
        if problem:
            raise ValueError(f"cannot pack this model: {problem}")
        super().__init__()
        weights = {name: param.detach() for name, param in model.named_parameters()}
        activations = [layer.intermediate.intermediate_act_fn for layer in model.bert.encoder.layer]
        self._build(model.config, weights, activations)
        for layer, source in zip(self.layers, model.bert.encoder.layer):
            fused_weight, fused_bias = layer.fused
            hidden = layer.hidden
            for index, name in enumerate(("query", "key", "value")):
                part = slice(index * hidden, (index + 1) * hidden)
                linear = getattr(source.attention.self, name)
                linear.weight, linear.bias = _frozen(fused_weight[part]), _frozen(fused_bias[part])

    @classmethod
    def from_weights(cls, config: Any, weights: dict[str, torch.Tensor]) -> PackedBertClassifier:
        """Build from ``BertForSequenceClassification``-named fp32 tensors (no transformers model, no
        transformers modeling import). ``config`` must pass ``config_packing_problem(own_activation=True)``."""
        problem = config_packing_problem(config, own_activation=True)
        if problem:
            raise ValueError(f"cannot pack this model: {problem}")
        model = cls.__new__(cls)
        nn.Module.__init__(model)
        model._build(config, weights, [ACTIVATIONS[config.hidden_act]] * config.num_hidden_layers)
        return model

    def _build(self, config: Any, weights: dict[str, torch.Tensor], activations: Sequence[Any]) -> None:
        self.config = config
        embeddings = nn.Module()
        for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
            setattr(embeddings, name, _embedding(weights[f"bert.embeddings.{name}.weight"]))
        embeddings.LayerNorm = _layer_norm(weights, "bert.embeddings.LayerNorm", config.layer_norm_eps)
        self.embeddings = embeddings
        count = config.num_hidden_layers
        self.layers = nn.ModuleList(
            _PackedLayer(weights, f"bert.encoder.layer.{i}.", config, activations[i], cls_only=i == count - 1)
            for i in range(count)
        )
        self.pooler = _linear(weights["bert.pooler.dense.weight"], weights["bert.pooler.dense.bias"])
        self.pooler_activation = torch.tanh
        self.classifier = _linear(weights["classifier.weight"], weights["classifier.bias"])
        self.eval()

    def transformers_weights(self) -> dict[str, torch.Tensor]:
        """The fp32 weights under ``BertForSequenceClassification``'s names, sharing this module's memory
        (query/key/value as views of the fused weights). Take them before int8 swaps the linear layers."""
        out = {
            f"bert.embeddings.{n}.weight": getattr(self.embeddings, n).weight
            for n in ("word_embeddings", "position_embeddings", "token_type_embeddings")
        }
        out["bert.embeddings.LayerNorm.weight"] = self.embeddings.LayerNorm.weight
        out["bert.embeddings.LayerNorm.bias"] = self.embeddings.LayerNorm.bias
        for i, layer in enumerate(self.layers):
            prefix, hidden = f"bert.encoder.layer.{i}.", layer.hidden
            fused_weight, fused_bias = layer.fused
            for index, name in enumerate(("query", "key", "value")):
                part = slice(index * hidden, (index + 1) * hidden)
                out[f"{prefix}attention.self.{name}.weight"] = fused_weight[part]
                out[f"{prefix}attention.self.{name}.bias"] = fused_bias[part]
            for name, module in (
                ("attention.output.dense", layer.attention_output),
                ("attention.output.LayerNorm", layer.attention_norm),
                ("intermediate.dense", layer.intermediate),
                ("output.dense", layer.output),
                ("output.LayerNorm", layer.output_norm),
            ):
                out[f"{prefix}{name}.weight"], out[f"{prefix}{name}.bias"] = module.weight, module.bias
        out["bert.pooler.dense.weight"], out["bert.pooler.dense.bias"] = self.pooler.weight, self.pooler.bias
        out["classifier.weight"], out["classifier.bias"] = self.classifier.weight, self.classifier.bias
        return {name: tensor.detach() for name, tensor in out.items()}

    def get_input_embeddings(self) -> nn.Module:
        return self.embeddings.word_embeddings

    def forward_packed(
        self,
        windows: Sequence[Sequence[int]],
        token_types: Sequence[Sequence[int]] | None = None,
        *,
        word_embeddings: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``[windows, labels]`` for windows of token ids (special tokens included), in order.

        ``word_embeddings`` (``[tokens, hidden]``, the windows' tokens in order) replaces the lookup of
        the ids: explanations pass scaled embeddings that require grad and differentiate through.
        """
        lengths = np.fromiter((len(w) for w in windows), dtype=np.int64, count=len(windows))
        if not len(lengths) or lengths.min() < 1:
            raise ValueError("forward_packed needs at least one window and no empty window")
        layout = _Layout(lengths)
        ids = torch.from_numpy(np.fromiter((t for w in windows for t in w), dtype=np.int64, count=layout.tokens))
        embeddings = self.embeddings
        if token_types is None:
            types = embeddings.token_type_embeddings.weight[0]
        else:
            flat_types = np.fromiter((t for w in token_types for t in w), dtype=np.int64, count=layout.tokens)
            types = embeddings.token_type_embeddings(torch.from_numpy(flat_types))
        # The order of the sums is transformers' own: (words + types) + positions.
        words = embeddings.word_embeddings(ids) if word_embeddings is None else word_embeddings
        x = words + types
        x = embeddings.LayerNorm(x + embeddings.position_embeddings(layout.positions))
        for layer in self.layers:
            x = layer(x, layout)
        return self.classifier(self.pooler_activation(self.pooler(x)))

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Any:
        """The transformers call (right-padded ``input_ids`` and mask); returns an object with ``.logits``."""
        from transformers.modeling_outputs import SequenceClassifierOutput

        unsupported = sorted(
            k for k, v in kwargs.items() if v is not None and v is not False and k not in ("return_dict",)
        )
        if input_ids is None or unsupported:
            raise TypeError(
                f"the packed model takes input_ids, attention_mask and token_type_ids only "
                f"(got {', '.join(unsupported) or 'no input_ids'}); use the transformers model "
                "(SentimentClassifier.explain_model) for anything else"
            )
        rows, width = input_ids.shape
        if attention_mask is None:
            lengths = [width] * rows
        else:
            lengths = attention_mask.sum(1).tolist()
            prefix = torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]
            if not torch.equal(attention_mask.bool(), prefix):
                raise ValueError("the packed model needs right padding (each mask row ones, then zeros)")
        windows = [input_ids[i, :n].tolist() for i, n in enumerate(lengths)]
        types = None
        if token_type_ids is not None and bool(token_type_ids.any()):
            types = [token_type_ids[i, :n].tolist() for i, n in enumerate(lengths)]
        return SequenceClassifierOutput(logits=self.forward_packed(windows, types))


def packed_with_explainer(
    config: Any, weights: dict[str, torch.Tensor], reread: Any = None
) -> tuple[nn.Module, Any, int]:
    """(the packed model, how to build the transformers model for explanations, parameter count) from
    fp32 ``weights``, which are used up. The explainer is built on first use from the same tensors, or,
    given ``reread`` (a model about to be quantized), from the fp32 weights ``reread()`` reads again:
    an int8 model then holds no fp32 copy of its linear layers until an explanation is asked for."""
    import functools

    parameters = sum(t.numel() for t in weights.values())
    packed = PackedBertClassifier.from_weights(config, weights)
    weights.clear()  # the query/key/value originals: the packed model holds fused copies
    if reread is not None:
        for layer in packed.layers:  # int8 replaces the linears; nothing else needs the fp32 fused weights
            layer.fused = None
        return packed, lambda: transformers_bert(config, reread()), parameters
    shared = packed.transformers_weights()  # fp32, shared with the packed model
    return packed, functools.partial(transformers_bert, config, shared), parameters


def transformers_bert(config: Any, weights: dict[str, torch.Tensor]) -> nn.Module:
    """A transformers ``BertForSequenceClassification`` on ``weights`` (shared, not copied): built on the
    meta device, then the tensors assigned; for explanations and export of a model loaded from weights."""
    from transformers import BertForSequenceClassification

    with torch.device("meta"):
        model = BertForSequenceClassification(config)
    result = model.load_state_dict(weights, strict=False, assign=True)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"weights do not fit the BERT classifier: {(result.missing_keys + result.unexpected_keys)[:3]}"
        )
    embeddings = model.bert.embeddings  # its non-persistent buffers, as BertEmbeddings makes them
    embeddings.position_ids = torch.arange(config.max_position_embeddings).expand((1, -1))
    embeddings.token_type_ids = torch.zeros(embeddings.position_ids.size(), dtype=torch.long)
    left = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise ValueError(f"the BERT classifier has tensors without data: {left[:3]}")
    return model.eval().requires_grad_(False)
