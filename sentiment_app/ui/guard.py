"""How a callback fails: a user's mistake is one message and one log line; a bug is a logged traceback.

Every module of the app logs to the one logger ``sentiment_app.ui`` (the package's name), so a
log filter or a test reads the app's refusals and bugs in one place.
"""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import gradio as gr

LOGGER_NAME = "sentiment_app.ui"
logger = logging.getLogger(LOGGER_NAME)

# The title of every error toast the app raises (Gradio's default is the English "Error").
ERROR_TITLE = "出错了"
# What a client sees when a callback fails for a reason that is not the user's: no message, path or
# type from the exception itself (those go to the log, with the traceback and this reference).
INTERNAL_ERROR = (
    "😵 服务器内部出错，已记录（编号 {ref}），请稍后再试。/ Something went wrong on the server; it was "
    "logged (reference {ref}). Please try again later."
)


def user_error(message: str, *, title: str = ERROR_TITLE, **kwargs: Any) -> gr.Error:
    """A ``gr.Error`` for a user's mistake whose one log line :func:`refused` has written: shown to the
    user, without the traceback Gradio 6.31 prints for every ``gr.Error`` unless told not to."""
    error = gr.Error(message, print_exception=False, title=title, **kwargs)
    error.sentiment_logged = True  # type: ignore[attr-defined]
    return error


def refused(where: str, message: str) -> str:
    """Log one line for a request refused for the user's own reason (no traceback), and pass the message on."""
    logger.info("refused %s request: %s", where, message)
    return message


def internal_error(where: str) -> str:
    """Log the current exception with its traceback under a fresh reference; the client's message has only
    the reference."""
    ref = uuid.uuid4().hex[:8]
    logger.exception("internal error in %s (reference %s)", where, ref)
    return INTERNAL_ERROR.format(ref=ref)


def guarded(where: str):
    """Wrap a callback (plain or generator): a ``gr.Error`` is a message for the user, passed on with one
    log line and no traceback; any other exception is a bug, logged with its traceback and answered with
    :data:`INTERNAL_ERROR`, so no path or exception text reaches the client."""

    def passed_on(exc: gr.Error) -> gr.Error:
        if not getattr(exc, "sentiment_logged", False):
            refused(where, " ".join(str(exc.message).split()))
        exc.print_exception = False
        if exc.title == "Error":
            exc.title = ERROR_TITLE
        return exc

    def bug() -> gr.Error:
        return gr.Error(internal_error(where), print_exception=False, title=ERROR_TITLE)

    def wrap(fn):
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
                try:
                    yield from fn(*args, **kwargs)  # Stop / a closed tab close this, and so the inner one
                except gr.Error as exc:
                    raise passed_on(exc) from None
                except Exception:
                    raise bug() from None

            return stream

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except gr.Error as exc:
                raise passed_on(exc) from None
            except Exception:
                raise bug() from None  # traceback logged once

        return call

    return wrap
