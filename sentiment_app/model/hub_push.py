"""Push an artifact folder (trained or exported) to the Hub in one commit, with bounded retries on transient errors.

:func:`push_artifact` takes the ``HfApi``-like object as an argument, so tests pass a local fake
(success, transient failures, 401/403/404, offline) and nothing touches the network. Writes go to
``https://huggingface.co`` unless the user names another endpoint: an ``HF_ENDPOINT`` mirror set
for downloads never receives them. The token is never printed; every message is redacted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError, first_line, redact
from .artifact import validate_artifact
from .sources import DEFAULT_HUB_ENDPOINT

# Never uploaded: checkpoints (large, resumable state) and hidden files (editor and OS litter).
UPLOAD_IGNORE_PATTERNS = ["checkpoints/*", ".*", "*/.*"]
# HTTP statuses worth another try: request timeout, rate limit, server errors.
TRANSIENT_STATUSES = {408, 429, 500, 502, 503, 504}
# 4 attempts with 2, 4, 8 s between them: ~15 s rides out a blip without hiding an outage.
MAX_ATTEMPTS = 4
BACKOFF_SECONDS = 2.0


class PushError(UserError):
    """The push failed; the message is one line and the local artifact is untouched."""


@dataclass
class PushResult:
    repo_id: str
    endpoint: str
    revision: str
    files: list[str]
    commit_url: str | None = None


def hub_token() -> str | None:
    """HF_TOKEN, else the token stored by ``hf auth login``; None when there is neither."""
    token = os.environ.get("HF_TOKEN", "").strip()
    if token:
        return token
    from huggingface_hub import get_token

    try:
        return get_token()
    except Exception:  # a broken token file or OIDC setup is "no token" here; the push says so
        return None


def endpoint_note(hub_endpoint: str | None) -> str:
    """Say where writes go; mention HF_ENDPOINT when it points elsewhere, so a mirror never receives them unasked."""
    target = (hub_endpoint or DEFAULT_HUB_ENDPOINT).rstrip("/")
    mirror = os.environ.get("HF_ENDPOINT", "").rstrip("/")
    if hub_endpoint is None and mirror and mirror != DEFAULT_HUB_ENDPOINT:
        return redact(
            f"pushing to {target} (HF_ENDPOINT={mirror} is used for downloads only; pass --hub-endpoint to push there)"
        )
    return redact(f"pushing to {target}" + (" (--hub-endpoint)" if hub_endpoint else ""))


def upload_files(folder: str | Path) -> list[str]:
    """The files (relative POSIX paths) an upload of ``folder`` sends, in the order the Hub lists them."""
    from huggingface_hub.utils import filter_repo_objects

    root = Path(folder)
    paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return list(filter_repo_objects(paths, ignore_patterns=UPLOAD_IGNORE_PATTERNS))


def describe_upload(folder: str | Path, repo_id: str, endpoint: str, *, private: bool, revision: str | None) -> str:
    """The --dry-run listing: where it would go and every file with its size."""
    root = Path(folder)
    files = upload_files(root)
    total = sum((root / f).stat().st_size for f in files)
    lines = [
        f"dry run: would upload {len(files)} files ({_size(total)}) to {endpoint}/{repo_id} "
        f"(branch {revision or 'main'}, {'private' if private else 'public'} if created):"
    ]
    lines += [f"  {f}  ({_size((root / f).stat().st_size)})" for f in files]
    return redact("\n".join(lines))


def push_artifact(
    folder: str | Path,
    repo_id: str,
    *,
    api: Any,
    token: str | None,
    endpoint: str = DEFAULT_HUB_ENDPOINT,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    backoff: float = BACKOFF_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = print,
) -> PushResult:
    """Create ``repo_id`` if missing and upload ``folder`` to it in one commit.

    ``api`` is an ``HfApi`` (or a stand-in with ``create_repo``, ``create_branch`` and
    ``upload_folder``). Transient failures (connection, timeouts, 408/429/5xx) are retried up to
    ``max_attempts`` times with doubling waits; anything else, or the last failure, raises
    :class:`PushError` with one redacted line.
    """
    root = Path(folder)
    problems = validate_artifact(root)
    if problems:
        raise PushError(f"{root} is not a complete artifact ({problems[0]}); nothing was pushed")
    if not token:
        raise PushError(f"no Hugging Face token: set HF_TOKEN or run `hf auth login`; the artifact stays in {root}")
    files = upload_files(root)

    def attempt(step: str, call: Callable[[], Any]) -> Any:
        for number in range(1, max_attempts + 1):
            try:
                return call()
            except Exception as exc:  # sorted below into transient (retry) and final (one line)
                if not is_transient(exc) or number == max_attempts:
                    raise PushError(
                        redact(push_error_message(exc, repo_id, endpoint, step, number, root), token)
                    ) from None
                wait = backoff * 2 ** (number - 1)
                log(
                    redact(
                        f"{step} failed ({describe_error(exc)}); retry {number}/{max_attempts - 1} in {wait:g}s", token
                    )
                )
                sleep(wait)

    attempt(
        "create the repo",
        lambda: api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model", token=token),
    )
    if revision and revision != "main":
        attempt(
            "create the branch",
            lambda: api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model", token=token),
        )
    info = attempt(
        "upload",
        lambda: api.upload_folder(
            repo_id=repo_id,
            folder_path=str(root),
            repo_type="model",
            revision=revision,
            token=token,
            commit_message=commit_message or "Upload sentiment model",
            ignore_patterns=UPLOAD_IGNORE_PATTERNS,
        ),
    )
    commit_url = getattr(info, "commit_url", None) or (str(info) if isinstance(info, str) else None)
    return PushResult(
        repo_id=repo_id, endpoint=endpoint, revision=revision or "main", files=files, commit_url=commit_url
    )


def is_transient(exc: BaseException) -> bool:
    """Connection trouble, timeouts and 408/429/5xx answers: worth another try."""
    status = _status(exc)
    if status is not None:
        return status in TRANSIENT_STATUSES
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "OfflineModeIsEnabled" in names:  # HF_HUB_OFFLINE=1 will not change between attempts
        return False
    return isinstance(exc, (ConnectionError, TimeoutError)) or bool(names & {"TransportError", "TimeoutException"})


def push_error_message(exc: BaseException, repo_id: str, endpoint: str, step: str, attempts: int, folder: Path) -> str:
    """One line for a failed push: what the Hub said, what to do, and that the artifact is safe."""
    kept = f"; the artifact is kept in {folder}"
    status = _status(exc)
    if status == 401:
        return (
            f"the Hub at {endpoint} rejected the token (HTTP 401): set HF_TOKEN to a valid token with write "
            f"access or run `hf auth login`{kept}"
        )
    if status == 403:
        return (
            f"the token may not write to {repo_id} (HTTP 403): use a write token for its namespace, or a "
            f"repo id under your own account{kept}"
        )
    if status == 404:
        return (
            f"{repo_id} was not found on {endpoint} while trying to {step} (HTTP 404): check the namespace "
            f"exists and the token can create repos in it{kept}"
        )
    if "OfflineModeIsEnabled" in {cls.__name__ for cls in type(exc).__mro__}:
        return f"HF_HUB_OFFLINE is set, so nothing can be pushed: unset it to push{kept}"
    if is_transient(exc):
        return (
            f"could not {step} on {endpoint} after {attempts} attempt(s) ({describe_error(exc)}): "
            f"check the network and push again{kept}"
        )
    return f"could not {step} on {endpoint}: {describe_error(exc)}{kept}"


def describe_error(exc: BaseException) -> str:
    status = _status(exc)
    prefix = f"HTTP {status}" if status is not None else type(exc).__name__
    return f"{prefix}: {first_line(exc)[:160]}"


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return int(status) if isinstance(status, int) else None


def _size(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} B"
    return f"{n / 1024:.1f} KB" if n < 1024**2 else f"{n / 1024**2:.1f} MB"
