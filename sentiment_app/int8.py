"""Dynamic int8 linear layers for CPU serving: int8 weights, activations quantized per call.

The benchmark (``benchmarks/bench_inference.py``) checks their speed and their agreement with fp32.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

import torch

logger = logging.getLogger(__name__)


def quantize_int8(model: torch.nn.Module, *, inplace: bool = False, engine: str | None = None) -> torch.nn.Module:
    """``model`` (a copy unless ``inplace``) with dynamic int8 linear layers: int8 weights, activations
    quantized per call.

    ``engine`` (a ``torch.backends.quantized`` engine) packs the weights; the packed weights keep its
    kernels whatever the global engine is later, so it is set only while quantizing.
    """
    from torch.ao.quantization import quantize_dynamic

    previous = torch.backends.quantized.engine
    if engine and engine not in torch.backends.quantized.supported_engines:
        logger.info("quantized engine %s is not in this torch build; using %s", engine, previous)
        engine = None
    with warnings.catch_warnings(), _quantized_engine(engine or previous):
        # torch marks its eager quantization API deprecated (torchao is the successor); it still
        # ships and works in the pinned torch, and the benchmark checks its speed and agreement.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*", category=UserWarning)
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=inplace)


@contextlib.contextmanager
def _quantized_engine(engine: str) -> Iterator[None]:
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield
    finally:
        torch.backends.quantized.engine = previous
