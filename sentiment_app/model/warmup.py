"""After loading, before the first explanation: build the explanation models in the background.

An int8 or unpacked model explains through a float32 packed copy of itself, built from the served weights;
building it at start-up would delay the first answer, building it on the first explanation would make that
visitor wait. The app builds it a few seconds after the server answers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from ..classifier import SentimentClassifier
from ..explain import differentiable_packed


def build_explain_models_later(
    classifiers: Sequence[SentimentClassifier],
    delay_s: float,
    ready: Callable[[], bool] | None = None,
    ready_within_s: float = 300.0,
) -> threading.Thread:
    """Build the explanation model of each classifier that needs one (int8, or not packed) in a background
    thread, ``delay_s`` seconds after ``ready()`` first says True (polled twice a second, given up on after
    ``ready_within_s``).

    The app passes "the server answers": its first answers do not share the CPU with the build, and
    the first explanation usually finds the model ready (one asked for earlier waits for the same build).
    """

    def build() -> None:
        deadline = time.monotonic() + ready_within_s
        while ready is not None and not ready() and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(delay_s)
        for classifier in classifiers:
            if not differentiable_packed(classifier.model):  # an fp32 packed model explains itself
                classifier.explain_model  # noqa: B018 - the property builds it

    thread = threading.Thread(target=build, name="build-explain-models", daemon=True)
    thread.start()
    return thread
