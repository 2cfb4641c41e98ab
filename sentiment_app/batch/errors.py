"""What can go wrong with a batch, as exceptions whose message is one line for the user.

``TableError`` and its subclasses are the user's to fix (shown as ``gr.Error`` in the app,
``error: ...`` with exit code 2 in the CLI); ``JobCancelled`` is not an error at all: the user
pressed Stop or left the page.
"""

from __future__ import annotations


class TableError(ValueError):
    """A file or table the user gave cannot be used; the message is one line with the fix."""


class UploadRefused(TableError):
    """A request named a file that was not uploaded to this app. The message never says whether it exists."""


class LimitExceeded(TableError):
    """A file or job went over one of the batch limits; the message names the limit."""


class BudgetExceeded(LimitExceeded):
    """A job (or a read) ran past its time or memory budget and was stopped."""


class JobCancelled(Exception):
    """Raised inside a job when the user stopped it or closed the page; nothing is written."""


__all__ = ["BudgetExceeded", "JobCancelled", "LimitExceeded", "TableError", "UploadRefused"]
