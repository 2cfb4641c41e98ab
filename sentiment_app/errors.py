"""One home for error text and secret redaction, shared by serving (``sentiment_app``) and training.

Everything the project shows or logs about a failure goes through here: :func:`first_line`
turns any exception into one line (its type name when it has no message, never an
``IndexError``), and :func:`redact` removes secrets from any text: the HF token and other
known secrets, credentials inside URLs (``https://user:password@host``), token-like values in
query strings (``?token=...``) and anything shaped like a Hugging Face token. The app installs
:class:`RedactingFilter` on its log handlers so library log lines get the same treatment.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import Any

MASK = "***"
# scheme://userinfo@host: the userinfo (user, user:password, or a bare token) is a credential.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^/\s@?#]+)@")
# Query or fragment parameters whose value is a secret (?token=..., &api_key=..., ;sig=...).
_SECRET_PARAM = re.compile(
    r"(?P<key>[?&;#](?:[\w.\-]*(?:token|key|secret|password|passwd|pwd|auth|signature|sig|credential)[\w.\-]*))"
    r"=(?P<value>[^&;#\s\"'<>]+)",
    re.IGNORECASE,
)
# User access tokens of the Hugging Face Hub (hf_ + 30 or more letters and digits), wherever they appear.
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")
# An absolute POSIX path of two or more parts, not part of a URL (no word character, ':' or '/' before it).
_ABS_PATH = re.compile(r"(?<![\w:/.~\-])/(?:[^\s/'\"`()<>|]+/)+(?P<last>[^\s/'\"`()<>|,;:]+)")
# Secrets shorter than this are not searched for literally: masking every "a" would ruin the text.
MIN_SECRET_CHARS = 6


class UserError(Exception):
    """A mistake the user can fix (flags, files, columns, model folder, offline Hub, auth).

    The message is one line that says what is wrong and what to do; no stack trace is shown.
    """


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first non-empty line of an exception's message, or its type name when it has none."""
    line = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "") or type(exc).__name__
    return line if limit is None or len(line) <= limit else line[: limit - 1] + "…"


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every given secret, URL credential, secret query value and HF token masked."""
    out = str(text)
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True):
        out = out.replace(secret, MASK)
    out = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", out)
    out = _SECRET_PARAM.sub(lambda m: f"{m['key']}={MASK}", out)
    return _HF_TOKEN.sub(MASK, out)


def hide_paths(text: str) -> str:
    """``text`` with absolute filesystem paths cut to their last part (``/srv/app/models/x`` -> ``…/x``):
    what a public page may say about a server-side file. URLs and repo ids (``owner/name``) are kept."""
    return _ABS_PATH.sub(lambda m: f"…/{m['last']}", str(text))


def redacted_error(exc: BaseException, *secrets: str | None, limit: int | None = None) -> str:
    """One redacted line for ``exc``: what a log line or a user message may say about it."""
    return redact(first_line(exc, limit), *secrets)


class RedactingFilter(logging.Filter):
    """A log filter that redacts every record's final message (and its traceback text).

    Attached to handlers, it covers records from every library (Gradio, httpx, huggingface_hub),
    not only the app's own, so a URL with ``user:password@`` never reaches the log.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, *self.secrets)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, *self.secrets)
        return True


def install_log_redaction(*secrets: str | None, logger: logging.Logger | None = None) -> RedactingFilter:
    """Put one :class:`RedactingFilter` on every handler of ``logger`` (default: the root logger)."""
    target = logger or logging.getLogger()
    filt = RedactingFilter(secrets)
    for handler in target.handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(filt)
    return filt


class RedactingStream:
    """A text stream (``sys.stdout``/``sys.stderr``) that redacts what is written to it.

    Gradio prints its start-up lines and the tracebacks of failed callbacks with ``print`` and
    ``traceback.print_exc``, not through logging; wrapping the process's streams covers them too.
    """

    def __init__(self, stream: Any, secrets: Iterable[str | None] = ()) -> None:
        self._stream = stream
        self._secrets = tuple(s for s in secrets if s)

    def write(self, text: str) -> int:
        self._stream.write(redact(text, *self._secrets))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def redact_process_output(*secrets: str | None) -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` in :class:`RedactingStream` (once) and redact every log handler."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, RedactingStream):
            stream = stream._stream
        setattr(sys, name, RedactingStream(stream, secrets))
    install_log_redaction(*secrets)


__all__ = [
    "MASK",
    "RedactingFilter",
    "RedactingStream",
    "first_line",
    "hide_paths",
    "install_log_redaction",
    "redact",
    "redact_process_output",
    "redacted_error",
]
