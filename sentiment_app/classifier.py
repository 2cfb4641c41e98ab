"""Turn Chinese text into sentiment: batching, long-text windows, empty text, duplicates.

``SentimentClassifier.predict`` takes one string or a list and returns one
:class:`Prediction` per text, in order. It never truncates silently: a text longer than
``max_length`` tokens is split into overlapping windows whose logits are averaged
(weighted by tokens), and the prediction says how many windows it used.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import torch

from . import gpu
from .calibration import Calibration


@dataclass(frozen=True)
class Prediction:
    """The answer for one text. An empty text has ``label=None`` and no probabilities."""

    label: str | None
    score: float
    probabilities: dict[str, float]
    windows: int = 0  # 0: empty text, no model call; >1: long text read in overlapping windows
    tokens: int = 0  # tokens in the text, special tokens excluded
    # True when the top probability is below the artifact's calibrated threshold (shown as 把握不大);
    # the label stays the argmax.
    uncertain: bool = False

    @property
    def empty(self) -> bool:
        return self.label is None

    @property
    def long_text(self) -> bool:
        return self.windows > 1


@dataclass(frozen=True)
class ModelInfo:
    """What is serving, for the app's header, logs and the comparison tab's column names."""

    name: str  # repo id, folder, or "embedded compact model"
    source: str  # "hub", "local" or "embedded"
    kind: str  # "adapter" or "full"
    labels: tuple[str, ...]
    base_model: str | None = None
    revision: str | None = None
    quantized: bool = False
    parameters: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    warning: str | None = None  # e.g. why the configured model was replaced by the embedded one
    device: str = "CPU"  # what serves: "CPU", "ZeroGPU (fp16)", "GPU <name> (fp16)"

    @property
    def short_name(self) -> str:
        """A compact column-friendly name."""
        if self.source == "embedded":
            return "embedded"
        return self.name.rstrip("/").split("/")[-1] or self.name


def _frozen(module: torch.nn.Module) -> torch.nn.Module:
    for param in module.parameters():
        param.requires_grad_(False)
    return module


def _is_blank(text: Any) -> bool:
    if text is None:
        return True
    if isinstance(text, float) and math.isnan(text):
        return True
    return not str(text).strip()


EMPTY_PREDICTION_WINDOWS = 0


class SentimentClassifier:
    """A sequence classifier with its tokenizer and label names, ready for CPU inference."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        labels: Sequence[str],
        *,
        max_length: int = 512,
        batch_size: int = 64,
        batch_tokens: int | None = None,
        stride: int | None = None,
        info: ModelInfo | None = None,
        explain_model: torch.nn.Module | Callable[[], torch.nn.Module] | None = None,
        calibration: Calibration | None = None,
        gpu_path: bool = False,
    ) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise TypeError("SentimentClassifier needs a fast (tokenizers-backed) tokenizer for windows and offsets")
        model_max = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        if model_max:
            max_length = min(max_length, int(model_max))
        self.model = model.eval()
        # The model explanations run through (transformers' forward, fp32): given, or built on first use
        # by a zero-argument callable, so a batch run never pays for it.
        self._explain_model: torch.nn.Module | None = None
        self._make_explain_model = (
            explain_model if callable(explain_model) and not isinstance(explain_model, torch.nn.Module) else None
        )
        self._explain_lock = threading.Lock()
        if self._make_explain_model is None:
            self._explain_model = _frozen((explain_model or model).eval())
        _frozen(self.model)
        self.tokenizer = tokenizer
        # Probabilities are softmax(logits / temperature); without a calibration.json, the raw softmax.
        self.calibration = calibration or Calibration()
        self.labels = [str(label) for label in labels]
        self.max_length = int(max_length)
        # The GPU path (sentiment_app.gpu): the model is called through a key in GPU-call-sized groups
        # of larger batches; None = the model is called here, on the CPU.
        self.gpu_key = gpu.register(self.model) if gpu_path else None
        self.batch_size = max(int(batch_size), gpu.GPU_BATCH_SIZE) if gpu_path else int(batch_size)
        # Padded tokens (windows x longest) per forward pass: long windows go in smaller batches.
        if gpu_path:
            batch_tokens = batch_tokens or gpu.GPU_BATCH_TOKENS
        self.batch_tokens = int(batch_tokens) if batch_tokens else auto_batch_tokens(model)
        # Overlap between windows: a quarter of a window keeps each sentence whole in at least one.
        self.stride = int(stride) if stride is not None else self.max_length // 4
        self.info = info or ModelInfo(name="model", source="local", kind="full", labels=tuple(self.labels))
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._special_tokens = tokenizer.num_special_tokens_to_add(pair=False)
        if self.stride >= self.max_length - self._special_tokens:
            raise ValueError("stride must be smaller than the window")

    @property
    def explain_model(self) -> torch.nn.Module:
        """The fp32 transformers model for explanations and export (built the first time it is asked for)."""
        if self._explain_model is None:
            with self._explain_lock:
                if self._explain_model is None:
                    self._explain_model = _frozen(self._make_explain_model().eval())
        return self._explain_model

    # ---- public API -------------------------------------------------------------------
    @overload
    def predict(self, texts: str) -> Prediction: ...

    @overload
    def predict(self, texts: Sequence[str]) -> list[Prediction]: ...

    def predict(self, texts: str | Sequence[str]) -> Prediction | list[Prediction]:
        """Classify one text or a list; returns predictions in input order."""
        if isinstance(texts, str):
            return self._predict_list([texts])[0]
        return self._predict_list(list(texts))

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities for rows of raw logits: softmax(logits / temperature)."""
        return _softmax(np.asarray(logits, dtype=np.float32) / np.float32(self.calibration.temperature))

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw (uncalibrated) window-averaged logits, one row per non-empty text (for benchmarks and tests)."""
        unique = list(dict.fromkeys(texts))
        logits, _, _ = self._score(unique)
        index = {text: i for i, text in enumerate(unique)}
        return logits[[index[text] for text in texts]]

    # ---- internals ---------------------------------------------------------------------
    def _predict_list(self, texts: list[Any]) -> list[Prediction]:
        # Blank texts never reach the model; identical texts are scored once.
        wanted = [str(t) for t in texts if not _is_blank(t)]
        unique = list(dict.fromkeys(wanted))
        results: dict[str, Prediction] = {}
        if unique:
            logits, windows, tokens = self._score(unique)
            probs = self.probabilities(logits)
            threshold = self.calibration.uncertain_below
            for i, text in enumerate(unique):
                row = probs[i]
                best = int(row.argmax())
                results[text] = Prediction(
                    label=self.labels[best],
                    score=float(row[best]),
                    probabilities={label: float(p) for label, p in zip(self.labels, row)},
                    windows=int(windows[i]),
                    tokens=int(tokens[i]),
                    uncertain=threshold is not None and float(row[best]) < threshold,
                )
        empty = Prediction(label=None, score=0.0, probabilities={}, windows=EMPTY_PREDICTION_WINDOWS)
        return [empty if _is_blank(t) else results[str(t)] for t in texts]

    def encode(self, texts: Sequence[str], *, offsets: bool = False) -> dict[str, Any]:
        """Tokenize into windows of at most ``max_length`` tokens, overlapping by ``stride``."""
        return self.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.max_length,
            stride=self.stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=offsets,
            return_attention_mask=False,
            return_token_type_ids=False,
        )

    def _score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Logits per text (token-weighted mean over its windows), window counts, token counts."""
        encoded = self.encode(texts)
        window_ids: list[list[int]] = encoded["input_ids"]
        owner = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64)
        window_logits = self._forward_windows(window_ids)
        weights = np.asarray([len(ids) - self._special_tokens for ids in window_ids], dtype=np.float64)
        weights = np.maximum(weights, 1.0)
        n = len(texts)
        summed = np.zeros((n, window_logits.shape[1]), dtype=np.float64)
        np.add.at(summed, owner, window_logits * weights[:, None])
        total = np.bincount(owner, weights=weights, minlength=n)
        windows = np.bincount(owner, minlength=n)
        tokens = self._token_counts(window_ids, owner, n)
        return (summed / total[:, None]).astype(np.float32), windows, tokens

    def _token_counts(self, window_ids: list[list[int]], owner: np.ndarray, n: int) -> np.ndarray:
        # Windows overlap by `stride` tokens; count each token once.
        counts = np.zeros(n, dtype=np.int64)
        seen = np.zeros(n, dtype=bool)
        for ids, who in zip(window_ids, owner):
            content = len(ids) - self._special_tokens
            counts[who] += content if not seen[who] else max(content - self.stride, 0)
            seen[who] = True
        return counts

    @torch.inference_mode()
    def _forward_windows(self, window_ids: list[list[int]]) -> np.ndarray:
        """Run windows through the model sorted by length, in batches of similar length.

        A model with ``forward_packed`` (:class:`~sentiment_app.model.packed_bert.PackedBertClassifier`) takes
        each batch as unpadded windows; any other model gets it padded to its longest window.
        """
        lengths = np.asarray([len(ids) for ids in window_ids], dtype=np.int64)
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(window_ids), len(self.labels)), dtype=np.float32)
        if self.gpu_key is not None:
            batches = [[window_ids[i] for i in order[start:stop]] for start, stop in self._batches(lengths[order])]
            done = 0
            for call in gpu.group_calls(batches):  # each call bounded in tokens, so in GPU time
                logits = gpu.forward_batches(self.gpu_key, call, self.pad_id)
                out[order[done : done + len(logits)]] = logits
                done += len(logits)
            return out
        packed = getattr(self.model, "forward_packed", None)
        for start, stop in self._batches(lengths[order]):
            chunk = order[start:stop]
            windows = [window_ids[i] for i in chunk]
            if packed is not None:
                logits = packed(windows)
            else:
                input_ids, mask = self._pad(windows)
                logits = self.model(input_ids=input_ids, attention_mask=mask).logits
            out[chunk] = logits.float().numpy()
        return out

    def _batches(self, sorted_lengths: np.ndarray) -> list[tuple[int, int]]:
        """(start, stop) of each batch of ascending lengths: at most ``batch_size`` windows and, past
        the first window, at most ``batch_tokens`` padded tokens (windows x the longest)."""
        batches, start, n = [], 0, len(sorted_lengths)
        while start < n:
            stop = start + 1
            while (
                stop < n
                and stop - start < self.batch_size
                and (stop - start + 1) * int(sorted_lengths[stop]) <= self.batch_tokens
            ):
                stop += 1
            batches.append((start, stop))
            start = stop
        return batches

    def _pad(self, batch: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor | None]:
        longest = max(len(ids) for ids in batch)
        ids = np.full((len(batch), longest), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), longest), dtype=np.int64)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        # A batch without padding needs no mask, which lets attention take its fastest path.
        return torch.from_numpy(ids), (None if mask.all() else torch.from_numpy(mask))


# glibc's malloc serves requests of 32 MiB and more with fresh pages from the kernel every time
# (its ceiling for keeping freed blocks, DEFAULT_MMAP_THRESHOLD_MAX on 64-bit); every page of such
# a block faults on first touch. On a 2-core VM, 300 reviews through bert-base in 4096-token batches
# took 0.4-1.4 million page faults; in 2048-token batches, which stay below the ceiling, a few hundred.
MALLOC_FRESH_PAGES_BYTES = 32 << 20
# Narrower models gain nothing from larger batches (the embedded model: the same CPU time per 5,120
# reviews at 2048 and 4096 tokens, ~90 MB more peak RSS at 4096).
MAX_AUTO_BATCH_TOKENS = 2048


def auto_batch_tokens(model: torch.nn.Module) -> int:
    """Tokens per forward pass so that no activation of a batch reaches glibc's fresh-page size.

    The widest per-token activation is the feed-forward's (``intermediate_size``) or the fused
    query/key/value product (``3 x hidden_size``), in float32. The budget is the largest power of two
    below that bound, at most 2048: 2048 for bert-base (3072 wide) and the embedded compact model,
    1024 for bert-large. Models without these config fields get 2048.
    """
    config = getattr(model, "config", None)
    widest = max(int(getattr(config, "intermediate_size", 0) or 0), 3 * int(getattr(config, "hidden_size", 0) or 0))
    if widest <= 0:
        return MAX_AUTO_BATCH_TOKENS
    limit = MALLOC_FRESH_PAGES_BYTES // (4 * widest)
    if limit < 2:
        return 1
    return min(MAX_AUTO_BATCH_TOKENS, 1 << ((limit - 1).bit_length() - 1))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
