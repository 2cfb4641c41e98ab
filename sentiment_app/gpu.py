"""The device that serves: CPU threads, the GPU path, ZeroGPU's ``@spaces.GPU``, and GPU calls of bounded size.

On CUDA (a GPU Space, or ZeroGPU, where a GPU is attached only while a ``@spaces.GPU`` function runs)
the model runs through transformers in half precision; the CPU fast paths (packed BERT, int8) stay the
CPU default. ZeroGPU runs a decorated function in a forked worker and pickles its arguments and result,
so :func:`forward_batches` takes a model *key* (the fork inherits :data:`_MODELS`) and token ids, and
returns logits as a NumPy array. Every call holds at most :data:`GPU_CALL_TOKENS` padded tokens and asks
for a duration fitted to them, so no call outlives ZeroGPU's limit and short calls queue first.
Without the ``spaces`` package the decorator is a no-op, as it is off ZeroGPU with the package.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

# ZeroGPU's package, only where it acts: on ZeroGPU (app.py imports it before CUDA starts), or when the
# process imported it already. Elsewhere its decorator is effect-free, and importing it imports Gradio,
# seconds a CLI run should not pay.
spaces: Any = None
if os.environ.get("SPACES_ZERO_GPU", "").lower() in {"1", "t", "true"} or "spaces" in sys.modules:
    try:
        import spaces
    except ImportError:  # not installed: the decorator stays a no-op
        spaces = None

# Padded tokens per GPU call: 512 windows of 512 tokens. bert-base in fp16 reads millions of tokens per
# second on an A100/H200 slice, so a full call is well under a second of compute.
GPU_CALL_TOKENS = 1 << 18
# Per forward pass on a GPU: larger than the CPU's 64 windows / 2,048 tokens (sized there for the CPU's
# caches and malloc), small enough for any 16 GB card with a base-sized model.
GPU_BATCH_SIZE = 256
GPU_BATCH_TOKENS = 1 << 16
# The duration a call asks ZeroGPU for: start-up of the worker (CUDA context, first kernels) plus a
# pessimistic 100,000 tokens/s, never under 5 s nor over ZeroGPU's default of 60 s (shorter requests
# get a GPU sooner and fit the quota of visitors who have little left).
CALL_OVERHEAD_S = 4.0
GPU_TOKENS_PER_S = 100_000
MIN_CALL_S, MAX_CALL_S = 5, 60

_MODELS: dict[int, torch.nn.Module] = {}
_KEYS = itertools.count(1)


def set_threads(threads: int | None) -> int:
    """Use the requested number of torch threads, else every core this process may run on."""
    if threads is None:
        try:
            threads = len(os.sched_getaffinity(0))
        except AttributeError:
            threads = os.cpu_count() or 1
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def on_zerogpu() -> bool:
    """Whether this process runs on ZeroGPU (the Space sets SPACES_ZERO_GPU)."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in {"1", "t", "true"}


def serving_device(requested: str = "auto") -> torch.device:
    """``cuda`` when asked for, or on ``auto`` when a GPU is there (ZeroGPU counts: it attaches one per
    call); else ``cpu``."""
    if requested == "cpu":
        return torch.device("cpu")
    if requested == "cuda" or on_zerogpu() or torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def serving_dtype(device: torch.device) -> torch.dtype:
    """Half precision on a GPU (tensor cores, half the memory); fp32 on the CPU, where fp16 is slow."""
    return torch.float16 if device.type == "cuda" else torch.float32


def gpu_task(duration: int | Callable[..., int]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``@spaces.GPU(duration=...)`` when the package is installed (it is effect-free off ZeroGPU), else
    the function itself."""
    if spaces is None:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


def to_serving_device(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """A copy of ``model`` in the device's dtype on ``device``; ``model`` itself stays as it was (fp32 on
    the CPU) for explanations and export. On ZeroGPU the copy is "moved" at start-up; the ``spaces``
    package places it on the GPU each call gets."""
    serving = copy.deepcopy(model).to(dtype=serving_dtype(device))
    return serving.to(device).eval()


def register(model: torch.nn.Module) -> int:
    """A key for ``model`` that :func:`forward_batches` can be given instead of the model (ZeroGPU pickles
    the arguments; a forked worker inherits this table)."""
    key = next(_KEYS)
    _MODELS[key] = model
    return key


def padded_tokens(batches: Sequence[Sequence[Sequence[int]]]) -> int:
    """Windows x the longest window, added over the batches: what a call computes."""
    return sum(len(batch) * max((len(ids) for ids in batch), default=0) for batch in batches)


def call_seconds(key: int, batches: Sequence[Sequence[Sequence[int]]], pad_id: int = 0) -> int:
    """The GPU time a call of these batches asks for (ZeroGPU's dynamic duration: same arguments)."""
    estimate = CALL_OVERHEAD_S + padded_tokens(batches) / GPU_TOKENS_PER_S
    return int(min(MAX_CALL_S, max(MIN_CALL_S, math.ceil(estimate))))


def group_calls(batches: list[list[list[int]]], budget: int | None = None) -> list[list[list[list[int]]]]:
    """Consecutive batches grouped into calls of at most ``budget`` padded tokens (a batch over it alone)."""
    budget = GPU_CALL_TOKENS if budget is None else budget
    calls: list[list[list[list[int]]]] = []
    used = budget
    for batch in batches:
        cost = padded_tokens([batch])
        if used + cost > budget:
            calls.append([])
            used = 0
        calls[-1].append(batch)
        used += cost
    return calls


@gpu_task(duration=call_seconds)
def forward_batches(key: int, batches: list[list[list[int]]], pad_id: int = 0) -> np.ndarray:
    """Logits (float32, one row per window, in order) of ``batches`` through the registered model."""
    model = _MODELS[key]
    device = next(model.parameters()).device
    rows = []
    with torch.inference_mode():
        for batch in batches:
            longest = max(len(ids) for ids in batch)
            ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), longest), dtype=torch.long)
            for row, seq in enumerate(batch):
                ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
                mask[row, : len(seq)] = 1
            attention = None if bool(mask.all()) else mask.to(device, non_blocking=True)
            logits = model(input_ids=ids.to(device, non_blocking=True), attention_mask=attention).logits
            rows.append(logits.float().cpu().numpy())
    return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)


def describe_device(device: torch.device) -> str:
    """What serves, for the header and the log: "CPU", "ZeroGPU (fp16)" or "GPU <name> (fp16)"."""
    if device.type != "cuda":
        return "CPU"
    if on_zerogpu():
        return "ZeroGPU (fp16)"
    name = torch.cuda.get_device_name(device) if torch.cuda.is_available() else "CUDA"
    return f"GPU {name} (fp16)"
