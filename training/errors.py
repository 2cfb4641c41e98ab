"""The one error type a user can cause; the entry script turns it into ``error: ...`` and exit 2.

The helpers for error text and redaction are shared with serving and live in
:mod:`sentiment_app.errors`; they are re-exported here for training's modules.
"""

from __future__ import annotations

from sentiment_app.errors import first_line, redact

__all__ = ["UserError", "first_line", "redact"]


class UserError(Exception):
    """A mistake the user can fix (flags, files, columns, model folder, offline Hub, auth).

    The message is one line that says what is wrong and what to do; no stack trace is shown.
    """
