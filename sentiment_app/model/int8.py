"""Dynamic int8 linear layers for CPU serving: int8 weights, activations quantized per call.

The benchmark (``benchmarks/bench_inference.py``) checks their speed and their agreement with fp32.
"""

from __future__ import annotations

import contextlib
import copy
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
    previous = torch.backends.quantized.engine
    if engine and engine not in torch.backends.quantized.supported_engines:
        logger.info("quantized engine %s is not in this torch build; using %s", engine, previous)
        engine = None
    with warnings.catch_warnings(), _quantized_engine(engine or previous):
        # torch marks its eager quantization API deprecated (torchao is the successor); it still
        # ships and works in the pinned torch, and the benchmark checks its speed and agreement.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*", category=UserWarning)
        if not inplace:
            model = copy.deepcopy(model)
        if type(model) is torch.nn.Linear:
            return _dynamic_linear(model)
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if type(child) is torch.nn.Linear:
                    setattr(parent, name, _dynamic_linear(child))
        return model


def _dynamic_linear(linear: torch.nn.Linear) -> torch.nn.Module:
    """``torch.ao.quantization.quantize_dynamic``'s int8 layer for ``linear``, packed once.

    torch's ``from_float`` builds the layer with an empty weight of full size, packs it, then packs the
    real one; packing is most of the cost of quantizing (bert-base: 1.5 s of 3 s on 2 cores). Here the
    layer is made 1x1 and only the real weight is packed: the same observer, the same int8 weight, the
    same module (``tests/model/test_loading_merge.py`` compares it with ``quantize_dynamic``).
    """
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
    from torch.ao.nn.quantized.modules.utils import _quantize_weight
    from torch.ao.quantization.qconfig import default_dynamic_qconfig

    observer = default_dynamic_qconfig.weight()
    observer(linear.weight)
    qweight = _quantize_weight(linear.weight.float(), observer)
    layer = DynamicLinear(1, 1, bias_=linear.bias is not None, dtype=torch.qint8)
    layer.in_features, layer.out_features = linear.in_features, linear.out_features
    layer.set_weight_bias(qweight, linear.bias)
    return layer


@contextlib.contextmanager
def _quantized_engine(engine: str) -> Iterator[None]:
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield
    finally:
        torch.backends.quantized.engine = previous
