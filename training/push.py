"""Training's name for the Hub push, which lives in :mod:`sentiment_app.model.hub_push` so the export
command (``python -m sentiment_app export --push-to-hub``) pushes the same way without importing training."""

from sentiment_app.model.hub_push import (  # noqa: F401
    BACKOFF_SECONDS,
    MAX_ATTEMPTS,
    TRANSIENT_STATUSES,
    UPLOAD_IGNORE_PATTERNS,
    PushError,
    PushResult,
    describe_error,
    describe_upload,
    endpoint_note,
    hub_token,
    is_transient,
    push_artifact,
    push_error_message,
    upload_files,
)
