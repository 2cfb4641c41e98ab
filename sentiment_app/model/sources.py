"""Where a model comes from: a local folder or a Hugging Face Hub repo id.

Serving (``SENTIMENT_MODEL``, ``SENTIMENT_BASE_MODEL``) and training (``--base-model``,
``--push-to-hub``) accept the same two kinds of names and tell them apart the same way; each
caller words its own error, since the flag or variable to fix differs.
"""

from __future__ import annotations

# Where pushes go unless the user names another endpoint: an HF_ENDPOINT download mirror never receives them.
DEFAULT_HUB_ENDPOINT = "https://huggingface.co"
# Hub ids that only resolve through a redirect since the Hub moved the original checkpoints under their
# organisations. Asking for the canonical id finds a cache filled under it (preload_from_hub, an earlier
# snapshot_download) offline, and keeps new adapter configs and model cards right.
LEGACY_REPO_IDS = {
    "bert-base-chinese": "google-bert/bert-base-chinese",
    "bert-base-multilingual-cased": "google-bert/bert-base-multilingual-cased",
    "bert-base-multilingual-uncased": "google-bert/bert-base-multilingual-uncased",
}


def looks_like_path(spec: str) -> bool:
    """True when ``spec`` can only be a path (``./x``, ``/x``, ``~/x``, ``a/b/c``, back-slashes).

    ``owner/name`` is a Hub repo id unless such a folder exists, so a missing folder written
    that way is not reported as a missing folder but looked up on the Hub.
    """
    return spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec


def canonical_repo_id(spec: str) -> str:
    """``spec`` with a legacy Hub id replaced by its canonical one (``bert-base-chinese`` ->
    ``google-bert/bert-base-chinese``); anything else unchanged. Call it once ``spec`` is known not to be a folder."""
    return LEGACY_REPO_IDS.get(spec.strip(), spec)


def is_repo_id(spec: str) -> bool:
    """Whether the Hub accepts ``spec`` as a repo id (``name`` or ``owner/name``, no spaces or ``..``)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(spec)
    except HFValidationError:
        return False
    return True
