"""Turning weights into a fast model: resolve a Hub id or folder, load an adapter or full model, merge, pack,
quantize, export and push.

The public surface is small; the rest (``artifact``, ``sources``, ``merging``, ``packed_bert``, ``int8``,
``hub_push``) are its rooms. Names load lazily, so ``import sentiment_app.model`` costs nothing until a model
is asked for (the CLI's ``--help`` and the Ray driver never import torch through it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_PUBLIC = {
    "load_classifier": "loading",
    "load_serving_classifiers": "loading",
    "ModelLoadError": "loading",
    "EMBEDDED_MODEL_DIR": "loading",
    "export_model": "export",
    "ExportError": "export",
    "ArtifactError": "artifact",
}
__all__ = [
    "EMBEDDED_MODEL_DIR",
    "ArtifactError",
    "ExportError",
    "ModelLoadError",
    "export_model",
    "load_classifier",
    "load_serving_classifiers",
]

if TYPE_CHECKING:
    from .artifact import ArtifactError
    from .export import ExportError, export_model
    from .loading import EMBEDDED_MODEL_DIR, ModelLoadError, load_classifier, load_serving_classifiers


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
