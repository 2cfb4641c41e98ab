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


def packing_problem(model: nn.Module) -> str | None:
    """Why ``model`` cannot be packed exactly, or None when it can."""
    from transformers import BertForSequenceClassification

    if type(model) is not BertForSequenceClassification:
        return f"{type(model).__name__} is not BertForSequenceClassification"
    config = model.config
    if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
        return "decoder BERT configurations are not packed"
    if getattr(config, "position_embedding_type", "absolute") != "absolute":
        return f"position_embedding_type {config.position_embedding_type!r} is not packed"
    if getattr(config, "chunk_size_feed_forward", 0):
        return "chunked feed-forward is not packed"
    if model.bert.pooler is None:
        return "a BERT without pooler is not packed"
    if config.hidden_size % config.num_attention_heads:
        return "hidden size is not a multiple of the attention heads"
    return None


class _PackedLayer(nn.Module):
    """One encoder layer; ``cls_only`` computes query, output and feed-forward for the [CLS] rows only."""

    def __init__(self, layer: nn.Module, heads: int, cls_only: bool) -> None:
        super().__init__()
        attention = layer.attention.self
        hidden = attention.query.in_features
        fused_weight = torch.cat([attention.query.weight, attention.key.weight, attention.value.weight]).detach()
        fused_bias = torch.cat([attention.query.bias, attention.key.bias, attention.value.bias]).detach()
        # The original projections become views of the fused weight: one copy in memory, not two.
        for index, name in enumerate(("query", "key", "value")):
            part = slice(index * hidden, (index + 1) * hidden)
            linear = getattr(attention, name)
            linear.weight = nn.Parameter(fused_weight[part], requires_grad=False)
            linear.bias = nn.Parameter(fused_bias[part], requires_grad=False)
        self.cls_only = cls_only
        if cls_only:
            self.query = _linear(fused_weight[:hidden], fused_bias[:hidden])
            self.key_value = _linear(fused_weight[hidden:], fused_bias[hidden:])
        else:
            self.qkv = _linear(fused_weight, fused_bias)
        self.attention_output = layer.attention.output.dense
        self.attention_norm = layer.attention.output.LayerNorm
        self.intermediate = layer.intermediate.dense
        self.activation = layer.intermediate.intermediate_act_fn
        self.output = layer.output.dense
        self.output_norm = layer.output.LayerNorm
        self.heads = heads
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


def _linear(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    linear = nn.Linear(weight.shape[1], weight.shape[0], device="meta")
    linear.weight = nn.Parameter(weight, requires_grad=False)
    linear.bias = nn.Parameter(bias, requires_grad=False)
    return linear


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
        problem = packing_problem(model)
        if problem:
            raise ValueError(f"cannot pack this model: {problem}")
        super().__init__()
        self.config = model.config
        bert = model.bert
        self.embeddings = bert.embeddings
        count = len(bert.encoder.layer)
        self.layers = nn.ModuleList(
            _PackedLayer(layer, self.config.num_attention_heads, cls_only=i == count - 1)
            for i, layer in enumerate(bert.encoder.layer)
        )
        self.pooler = bert.pooler.dense
        self.pooler_activation = bert.pooler.activation
        self.classifier = model.classifier
        self.eval()

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
