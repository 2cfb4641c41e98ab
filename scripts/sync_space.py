#!/usr/bin/env python
"""Push this repository's tracked files to its Hugging Face Space in one commit.

    HF_SPACE_ID=you/your-space HF_TOKEN=... python scripts/sync_space.py [--dry-run]

Why not ``git push``: the Hub refuses a git push that contains binary files outside its Xet/LFS
storage, whatever their size, and the embedded model's ``model-*.safetensors`` shards are plain git
blobs here. ``HfApi.create_commit`` uploads every file through the Hub's own upload protocol, which
stores binaries in that storage itself, so the same tree is accepted without Git LFS.

What it sends: exactly ``git ls-files`` (so ignored and untracked files never leave the machine),
every file added (unchanged ones cost nothing: the Hub deduplicates by content) and every file on
the Space that is no longer tracked deleted, in one commit. The token comes only from ``HF_TOKEN``
in the environment, never from the command line, and never appears in output. Without
``HF_SPACE_ID`` or ``HF_TOKEN`` (a fork) it prints a notice and exits 0.

Exit codes: 0 synced or skipped, 2 a problem the user can fix (one ``error:`` line).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPACE_ID_ENV = "HF_SPACE_ID"
TOKEN_ENV = "HF_TOKEN"
HUB_ENDPOINT = "https://huggingface.co"
SPACE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
# Files the Hub keeps on a Space that a sync must not delete: .gitattributes says which files are
# stored in Xet/LFS, so a `git clone` of the Space reads them correctly.
KEEP_ON_SPACE = frozenset({".gitattributes"})
# Guards against a dataset, checkpoint or virtual environment committed by mistake, not Hub rules (the
# Hub takes files of many GB through this upload): every Space restart downloads the whole repository.
MAX_FILE_MB = 50
MAX_TOTAL_MB = 200
# A Git LFS pointer instead of the file: the checkout ran without `lfs: true`; the Space would get the pointer.
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1"
EXIT_USAGE = 2


class SyncError(Exception):
    """A one-line message for the user; exit code 2."""


@dataclass
class SyncPlan:
    """What one sync sends: every tracked file, and the Space's files that are no longer tracked."""

    upload: list[str]
    delete: list[str]
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())


def tracked_files(root: Path = ROOT) -> list[str]:
    """``git ls-files`` of ``root`` as POSIX paths: what the repository holds, never ignored or untracked files.

    Paths deleted from the working tree but not yet from the index are left out (there is nothing to send).
    """
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached"], cwd=root, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SyncError(
            f"cannot list the tracked files of {root} (is it a git checkout?): {type(exc).__name__}"
        ) from None
    names = [name for name in out.decode("utf-8").split("\0") if name]
    return sorted(name for name in names if (root / name).is_file() and not (root / name).is_symlink())


def size_problems(
    root: Path, files: Sequence[str], *, max_file_mb: float = MAX_FILE_MB, max_total_mb: float = MAX_TOTAL_MB
) -> list[str]:
    """Why ``files`` should not go to the Space: oversized files, an oversized total, LFS pointers."""
    problems = []
    total = 0
    for name in files:
        path = root / name
        size = path.stat().st_size
        total += size
        if size > max_file_mb * 2**20:
            problems.append(
                f"{name} is {size / 2**20:.1f} MB (over {max_file_mb} MB): keep it out of the "
                "repository (a model belongs in a model repo: SENTIMENT_MODEL)"
            )
        if size < 1024:
            with path.open("rb") as handle:
                if handle.read(len(LFS_POINTER_PREFIX)) == LFS_POINTER_PREFIX:
                    problems.append(
                        f"{name} is a Git LFS pointer, not the file: check out with LFS "
                        "(`git lfs pull`, or `lfs: true` in actions/checkout)"
                    )
    if total > max_total_mb * 2**20:
        problems.append(f"the tracked files add up to {total / 2**20:.1f} MB (over {max_total_mb} MB)")
    return problems


def plan_sync(root: Path, tracked: Sequence[str], remote: Sequence[str]) -> SyncPlan:
    """Upload every tracked file; delete what the Space has that is not tracked (except KEEP_ON_SPACE)."""
    keep = set(tracked) | KEEP_ON_SPACE
    delete = sorted(name for name in remote if name not in keep)
    return SyncPlan(upload=list(tracked), delete=delete, sizes={name: (root / name).stat().st_size for name in tracked})


def build_operations(root: Path, plan: SyncPlan) -> list[Any]:
    """The ``create_commit`` operations for ``plan``: files by path (read when uploaded), then deletions."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    operations: list[Any] = [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(root / name)) for name in plan.upload
    ]
    operations += [CommitOperationDelete(path_in_repo=name, is_folder=False) for name in plan.delete]
    return operations


def commit_message(root: Path, environ: Mapping[str, str]) -> str:
    """ "Sync from GitHub <sha>": the commit the Space now runs, findable from the Space's history."""
    sha = environ.get("GITHUB_SHA", "").strip()
    if not sha:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
        sha = result.stdout.strip() if result.returncode == 0 else "working tree"
    repo = environ.get("GITHUB_REPOSITORY", "").strip()
    return f"Sync from GitHub {repo + '@' if repo else ''}{sha[:12]}"


def sync(
    root: Path,
    space_id: str,
    *,
    api: Any,
    token: str,
    environ: Mapping[str, str],
    dry_run: bool = False,
    log: Callable[[str], None] = print,
) -> SyncPlan:
    """Create the Space if missing, then commit the tracked files and deletions in one commit.

    ``api`` is an ``HfApi`` or a stand-in with ``create_repo``, ``list_repo_files`` and ``create_commit``.
    """
    files = tracked_files(root)
    problems = size_problems(root, files)
    if problems:
        raise SyncError(
            f"{problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "") + "; nothing was sent"
        )
    if dry_run:
        remote: list[str] = []
    else:
        api.create_repo(space_id, repo_type="space", space_sdk="gradio", exist_ok=True, token=token)
        remote = list(api.list_repo_files(space_id, repo_type="space", token=token))
    plan = plan_sync(root, files, remote)
    log(
        f"{'dry run: would send' if dry_run else 'sending'} {len(plan.upload)} tracked files "
        f"({plan.total_bytes / 2**20:.1f} MB) to spaces/{space_id}"
        + ("" if dry_run else f", deleting {len(plan.delete)} no longer tracked")
    )
    for name in plan.delete:
        log(f"  delete {name}")
    if dry_run:
        for name in plan.upload:
            log(f"  {name}  ({plan.sizes[name]:,} bytes)")
        return plan
    info = api.create_commit(
        space_id,
        operations=build_operations(root, plan),
        repo_type="space",
        commit_message=commit_message(root, environ),
        token=token,
    )
    url = getattr(info, "commit_url", None)
    log(f"synced spaces/{space_id}" + (f": {url}" if url else ""))
    return plan


def describe_error(exc: BaseException, space_id: str) -> str:
    """One line for a failed sync, with what to do."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status == 401:
        return "the Hub rejected HF_TOKEN (HTTP 401): set the secret to a valid write token"
    if status == 403:
        return f"HF_TOKEN may not write to spaces/{space_id} (HTTP 403): use a write token for that namespace"
    if status == 404:
        return f"spaces/{space_id} was not found and could not be created (HTTP 404): check HF_SPACE_ID"
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    prefix = f"HTTP {status}" if status else type(exc).__name__
    return f"could not sync spaces/{space_id}: {prefix}: {first[:200]}; run the workflow again"


def _default_api(token: str) -> Any:
    from huggingface_hub import HfApi

    return HfApi(endpoint=HUB_ENDPOINT, token=token, library_name="sentiment-lora-space")


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    api_factory: Callable[[str], Any] | None = None,
    root: Path = ROOT,
) -> int:
    """Run the sync; 0 synced or skipped, 2 a user-fixable problem (one ``error:`` line on stderr)."""
    parser = argparse.ArgumentParser(
        description="Push the repository's tracked files to its Hugging Face Space "
        f"(${SPACE_ID_ENV}, token in ${TOKEN_ENV}) in one commit."
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check sizes and list what would be sent; needs neither the token nor the network",
    )
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    space_id = env.get(SPACE_ID_ENV, "").strip()
    token = env.get(TOKEN_ENV, "").strip()
    in_actions = env.get("GITHUB_ACTIONS") == "true"

    def fail(message: str) -> int:
        message = message.replace(token, "***") if token else message
        print(f"{'::error title=Space sync failed::' if in_actions else ''}error: {message}", file=sys.stderr)
        return EXIT_USAGE

    if space_id and not SPACE_ID_PATTERN.fullmatch(space_id):
        return fail(f"{SPACE_ID_ENV} must look like user/space, got {space_id!r}")
    if args.dry_run:
        try:
            sync(root, space_id or "<HF_SPACE_ID>", api=None, token="", environ=env, dry_run=True)
        except SyncError as exc:
            return fail(str(exc))
        return 0
    if not space_id or not token:
        missing = " and ".join(name for name, value in ((SPACE_ID_ENV, space_id), (TOKEN_ENV, token)) if not value)
        notice = (
            f"Space sync skipped: {missing} not set. Set the repository variable {SPACE_ID_ENV} (user/space) "
            f"and the secret {TOKEN_ENV} (a write token) to sync this repository to its Space."
        )
        print(f"::notice title=Space sync skipped::{notice}" if in_actions else f"notice: {notice}")
        return 0
    api = (api_factory or _default_api)(token)
    try:
        sync(root, space_id, api=api, token=token, environ=env, log=lambda line: print(line.replace(token, "***")))
    except SyncError as exc:
        return fail(str(exc))
    except Exception as exc:  # the Hub's answer, turned into one redacted line
        return fail(describe_error(exc, space_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
