"""The calibration an artifact carries (``calibration.json``) and the classifier applies to every answer.

Kept apart from both, and free of torch, so the artifact contract (``sentiment_app.model.artifact``) and the
classifier share one definition without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Calibration:
    """How to turn logits into probabilities that mean what they say, fitted on validation data."""

    temperature: float = 1.0  # probabilities = softmax(logits / temperature)
    uncertain_below: float | None = None  # top probability below this: shown as uncertain; None: never
