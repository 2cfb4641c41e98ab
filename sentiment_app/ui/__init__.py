"""The Gradio app: single text, CSV batch and example comparison, Chinese first.

Rooms:

- :mod:`.layout`: ``build_demo(classifiers, config)``, the page and its events, and the named API endpoints
- :mod:`.callbacks`: :class:`Callbacks`, what each tab calls; :mod:`.api`: the endpoints' callbacks and types
- :mod:`.formatting`: every wording (header, notes, progress, summary) and the label colours
- :mod:`.tables`: the comparison table in, display copies of result tables out
- :mod:`.guard`: user errors as one line, bugs as a logged traceback and a reference
- :mod:`.serving`: ``launch()``, per-kind queue admission, bounded request bodies, file purging

Callbacks only convert, call the serving core or the batch pipeline (:mod:`sentiment_app.batch`),
format, and raise ``gr.Error``; models are loaded before ``build_demo``, never inside a callback.

Named API endpoints (for ``gradio_client``): ``/classify`` (one text or a list -> label and
probabilities, dynamically batched), ``/classify_file`` (file -> result CSV and summary),
``/compare`` (list of texts -> one row per text with every model's answer).
"""

from ..limits import EMPTY_MESSAGE, MAX_CALL_TEXTS, MAX_TEXT_CHARS
from .callbacks import NO_LABEL, RUN_OUTPUTS, Callbacks, PreviewOutputs, RunOutputs
from .formatting import UNCERTAIN_NOTE, about_markdown, header_markdown, label_colors, positive_label
from .guard import INTERNAL_ERROR, guarded, user_error
from .layout import CSS, THEME, build_demo
from .serving import admission_policy, install_admission, launch, max_body_bytes
from .tables import add_empty_row

# Defaults of the per-text and per-call limits (AppConfig.max_text_chars, max_call_texts), kept here by
# name for the tests and docs that quote them.
MAX_COMPARE_ROWS = MAX_CALL_TEXTS

__all__ = [
    "CSS",
    "EMPTY_MESSAGE",
    "INTERNAL_ERROR",
    "MAX_COMPARE_ROWS",
    "MAX_TEXT_CHARS",
    "NO_LABEL",
    "RUN_OUTPUTS",
    "THEME",
    "UNCERTAIN_NOTE",
    "Callbacks",
    "PreviewOutputs",
    "RunOutputs",
    "about_markdown",
    "add_empty_row",
    "admission_policy",
    "build_demo",
    "guarded",
    "header_markdown",
    "install_admission",
    "label_colors",
    "launch",
    "max_body_bytes",
    "positive_label",
    "user_error",
]
