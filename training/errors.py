"""The one error type a user can cause; the entry script turns it into ``error: ...`` and exit 2."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix (flags, files, columns, model folder, offline Hub, auth).

    The message is one line that says what is wrong and what to do; no stack trace is shown.
    """


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, or its type name when it has none."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def redact(text: str, secret: str | None) -> str:
    """Replace every occurrence of ``secret`` (the HF token) in ``text``."""
    return text.replace(secret, "***") if secret else text
