#!/usr/bin/env python
"""Push what the Space runs to its Hugging Face Space, built for the Space's hardware.

    HF_SPACE_ID=you/your-space HF_TOKEN=... python scripts/sync_space.py [--hardware zero-gpu|cpu-basic|gpu] [--dry-run]

Why not ``git push``: the Hub refuses a git push that contains binary files outside its Xet/LFS
storage, whatever their size, and the embedded model's ``model-*.safetensors`` shards are plain git
blobs here. ``HfApi.create_commit`` uploads every file through the Hub's own upload protocol, which
stores binaries in that storage itself, so the same tree is accepted without Git LFS.

What it sends: only what the Space runs, from ``git ls-files`` (ignored and untracked files never leave
the machine): ``app.py``, the ``sentiment_app/`` package with the embedded model, and, written for the
target hardware (``--hardware``, default the ``HF_SPACE_HARDWARE`` variable, else ``cpu-basic``):

* ``README.md`` with the front matter that hardware needs (``python_version``, ``suggested_hardware``);
* ``requirements.txt``: every package the app needs at ``requirements.lock``'s versions, so the Space
  installs what CI tested; ZeroGPU adds ``spaces``; CPU Basic leaves out torch's CUDA packages and gets
  ``pre-requirements.txt`` (the CPU build of torch, installed first). ZeroGPU and GPU Spaces get no
  ``pre-requirements.txt``: on ZeroGPU a CPU-only torch would take the GPU away.

Tests, benchmarks, training, CI files and docs stay home. Files on the Space that this sync would not
send are deleted (``.gitattributes`` stays). Commits hold at most ``MAX_FILES_PER_COMMIT`` files (the
Hub advises under 100); the entry files (``app.py``, requirements, README) and the deletions go in the
last one. The token comes only from ``HF_TOKEN`` in the environment, never from the command line, and
never appears in output. Without ``HF_SPACE_ID`` or ``HF_TOKEN`` (a fork) it prints a notice and exits 0.

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
HARDWARE_ENV = "HF_SPACE_HARDWARE"
CPU_BASIC, ZERO_GPU, GPU = "cpu-basic", "zero-gpu", "gpu"
HARDWARE = (CPU_BASIC, ZERO_GPU, GPU)
# What the Space runs; everything else tracked (tests, benchmarks, training, CI, docs) stays home.
SPACE_FILES = ("app.py", "LICENSE")
SPACE_FOLDERS = ("sentiment_app/",)
# Written for the target, not copied: the card's front matter and the locked requirements.
README, REQUIREMENTS, PRE_REQUIREMENTS = "README.md", "requirements.txt", "pre-requirements.txt"
LOCK = "requirements.lock"
ZEROGPU_REQUIREMENTS = "requirements-zerogpu.txt"
# Sent in the last commit, so the Space rebuilds against a complete package when they change.
ENTRY_FILES = frozenset({"app.py", README, REQUIREMENTS, PRE_REQUIREMENTS})
# The Hub's storage docs advise fewer than 100 files per commit: one commit (one rebuild) as a rule.
MAX_FILES_PER_COMMIT = 90
# Front matter per target. ZeroGPU runs Python 3.10.13 or 3.12.12 (hub docs, "Spaces ZeroGPU"); the other
# Spaces run what CI tests first. suggested_hardware is what a duplicate of the Space is offered.
FRONT_MATTER = {
    CPU_BASIC: {"python_version": '"3.11"', "suggested_hardware": "cpu-basic"},
    ZERO_GPU: {"python_version": '"3.12.12"', "suggested_hardware": "zero-a10g"},
    GPU: {"python_version": '"3.11"', "suggested_hardware": "t4-small"},
}
# The hardware asked for when the sync has to create the Space (huggingface_hub's SpaceHardware values).
CREATE_HARDWARE = {CPU_BASIC: "cpu-basic", ZERO_GPU: "zero-a10g", GPU: "t4-small"}
# torch's CUDA packages: what PyPI's Linux torch pulls in. A CPU Space installs the CPU build first
# (pre-requirements.txt) and must not get several GB of these from requirements.txt.
CUDA_PACKAGE = re.compile(r"^(nvidia-.*|triton|cuda-.*)$")
# ZeroGPU supports "almost all" torch versions from 2.1.0 on; 2.3.x is the documented exception
# (hub docs, "Spaces ZeroGPU").
ZEROGPU_MIN_TORCH = (2, 1)
ZEROGPU_BAD_TORCH = ((2, 3),)


class SyncError(Exception):
    """A one-line message for the user; exit code 2."""


@dataclass
class SyncPlan:
    """What one sync sends: files from the checkout, files written for the target, and deletions."""

    upload: list[str]
    delete: list[str]
    sizes: dict[str, int] = field(default_factory=dict)
    generated: dict[str, bytes] = field(default_factory=dict)  # path -> content written for the hardware
    hardware: str = CPU_BASIC

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())

    @property
    def files(self) -> list[str]:
        """Every path the Space gets, sorted."""
        return sorted(set(self.upload) | set(self.generated))


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


def space_files(tracked: Sequence[str]) -> list[str]:
    """The tracked files the Space runs: the entry point and the package (embedded model included)."""
    return sorted(name for name in tracked if name in SPACE_FILES or name.startswith(SPACE_FOLDERS))


def front_matter_for(readme: str, hardware: str) -> str:
    """``readme`` with its YAML front matter's keys set for ``hardware`` (other lines untouched)."""
    lines = readme.split("\n")
    if not lines or lines[0].strip() != "---" or "---" not in (line.strip() for line in lines[1:]):
        raise SyncError(f"{README} has no YAML front matter (--- ... ---): the Space needs it")
    end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "---")
    wanted = dict(FRONT_MATTER[hardware])
    for i in range(1, end):
        key = lines[i].split(":", 1)[0].strip()
        if key in wanted and not lines[i].startswith((" ", "-")):
            lines[i] = f"{key}: {wanted.pop(key)}"
    lines[end:end] = [f"{key}: {value}" for key, value in wanted.items()]
    return "\n".join(lines)


def _requirement_names(text: str) -> list[str]:
    names = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(_normal(re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0]))
    return names


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(text: str) -> dict[str, tuple[list[str], set[str]]]:
    """``uv pip compile`` output -> {package: (its pinned lines, with markers; what it is there for)}.

    "What it is there for" is the ``# via`` annotation: the packages that need it and ``-r FILE`` for
    files that name it. A package pinned for two Python versions has two lines.
    """
    lock: dict[str, tuple[list[str], set[str]]] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not raw.startswith((" ", "#")):
            current = _normal(line.split("==", 1)[0].strip())
            lock.setdefault(current, ([], set()))[0].append(line)
        elif current is not None and line.startswith("#") and line != "# via":
            via = line.lstrip("#").strip()
            via = via[len("via ") :] if via.startswith("via ") else via
            lock[current][1].add(via if via.startswith("-r ") else _normal(via))
    return lock


def locked_requirements(root: Path, hardware: str) -> str:
    """The Space's requirements.txt: every package the app needs (``spaces`` too on ZeroGPU), at the
    lock's versions; torch's CUDA packages left out on CPU Basic."""
    lock_path = root / LOCK
    if not lock_path.is_file():
        raise SyncError(f"{LOCK} is missing: generate it (README, Dependencies) and commit it")
    lock = read_lock(lock_path.read_text(encoding="utf-8"))
    roots = [REQUIREMENTS] + ([ZEROGPU_REQUIREMENTS] if hardware == ZERO_GPU else [])
    direct: set[str] = set()
    for name in roots:
        direct |= set(_requirement_names((root / name).read_text(encoding="utf-8")))
    missing = sorted(name for name in direct if name not in lock)
    if missing:
        raise SyncError(f"{LOCK} does not pin {', '.join(missing)}: regenerate it (README, Dependencies)")
    needed = set(direct)
    changed = True
    while changed:  # every package some needed package (or a root file) is there for
        changed = False
        for name, (_, via) in lock.items():
            if name not in needed and via & needed:
                needed.add(name)
                changed = True
    if hardware == CPU_BASIC:
        needed = {name for name in needed if not CUDA_PACKAGE.match(name)}
    if hardware == ZERO_GPU:
        _check_zerogpu_torch(lock)
    header = (
        f"# Written by scripts/sync_space.py for a {hardware} Space from {', '.join(roots)} at {LOCK}'s versions:\n"
        "# the packages CI tested, transitive ones included.\n"
    )
    return header + "".join(line + "\n" for name in sorted(needed) for line in lock[name][0])


def _check_zerogpu_torch(lock: dict[str, tuple[list[str], set[str]]]) -> None:
    version = lock.get("torch", ([""], set()))[0][0].split("==", 1)[-1].split(";")[0].strip()
    try:
        major_minor = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        raise SyncError(f"{LOCK} pins torch as {version!r}: ZeroGPU needs a plain release (2.1.0 or later)") from None
    if major_minor < ZEROGPU_MIN_TORCH or major_minor in ZEROGPU_BAD_TORCH:
        raise SyncError(f"torch {version} is not one ZeroGPU supports (2.1.0 or later, not 2.3.x): change the pin")


def generated_files(root: Path, hardware: str) -> dict[str, bytes]:
    """The files written for ``hardware``: the card's front matter, the locked requirements, pre-requirements."""
    readme = (root / README).read_text(encoding="utf-8")
    files = {
        README: front_matter_for(readme, hardware).encode("utf-8"),
        REQUIREMENTS: locked_requirements(root, hardware).encode("utf-8"),
    }
    if hardware == CPU_BASIC:
        files[PRE_REQUIREMENTS] = (root / PRE_REQUIREMENTS).read_bytes()
    return files


def plan_sync(root: Path, tracked: Sequence[str], remote: Sequence[str], hardware: str = CPU_BASIC) -> SyncPlan:
    """Upload what the Space runs for ``hardware``; delete what else the Space has (except KEEP_ON_SPACE)."""
    generated = generated_files(root, hardware)
    upload = [name for name in space_files(tracked) if name not in generated]
    keep = set(upload) | set(generated) | KEEP_ON_SPACE
    delete = sorted(name for name in remote if name not in keep)
    sizes = {name: (root / name).stat().st_size for name in upload}
    sizes.update({name: len(content) for name, content in generated.items()})
    return SyncPlan(upload=upload, delete=delete, sizes=sizes, generated=generated, hardware=hardware)


def build_commits(root: Path, plan: SyncPlan, max_files: int = MAX_FILES_PER_COMMIT) -> list[list[Any]]:
    """The ``create_commit`` operation lists for ``plan``, each at most ``max_files`` long: the package
    first, then the entry files and the deletions last, so the Space's last rebuild sees everything."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    def add(name: str) -> Any:
        if name in plan.generated:
            return CommitOperationAdd(path_in_repo=name, path_or_fileobj=plan.generated[name])
        return CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(root / name))

    last = [add(name) for name in plan.files if name in ENTRY_FILES]
    last += [CommitOperationDelete(path_in_repo=name, is_folder=False) for name in plan.delete]
    first = [add(name) for name in plan.files if name not in ENTRY_FILES]
    operations = first + last
    commits = [operations[i : i + max_files] for i in range(0, len(operations), max_files)]
    return commits or [[]]


def build_operations(root: Path, plan: SyncPlan) -> list[Any]:
    """Every operation of ``plan`` in one list (the commits of :func:`build_commits`, joined)."""
    return [op for commit in build_commits(root, plan) for op in commit]


def commit_message(root: Path, environ: Mapping[str, str]) -> str:
    """ "Sync from GitHub <sha>": the commit the Space now runs, findable from the Space's history."""
    sha = environ.get("GITHUB_SHA", "").strip()
    if not sha:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
        sha = result.stdout.strip() if result.returncode == 0 else "working tree"
    repo = environ.get("GITHUB_REPOSITORY", "").strip()
    return f"Sync from GitHub {repo + '@' if repo else ''}{sha[:12]}"


class CreateError(Exception):
    """The Hub refused to create the Space; ``cause`` is its answer."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def sync(
    root: Path,
    space_id: str,
    *,
    api: Any,
    token: str,
    environ: Mapping[str, str],
    hardware: str = CPU_BASIC,
    dry_run: bool = False,
    log: Callable[[str], None] = print,
) -> SyncPlan:
    """Create the Space if missing (on ``hardware``), then commit what it runs and the deletions.

    ``api`` is an ``HfApi`` or a stand-in with ``create_repo``, ``list_repo_files`` and ``create_commit``.
    """
    tracked = tracked_files(root)
    problems = size_problems(root, space_files(tracked))
    if problems:
        raise SyncError(
            f"{problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "") + "; nothing was sent"
        )
    if dry_run:
        remote: list[str] = []
    else:
        try:
            api.create_repo(
                space_id,
                repo_type="space",
                space_sdk="gradio",
                space_hardware=CREATE_HARDWARE[hardware],
                exist_ok=True,
                token=token,
            )
        except Exception as exc:  # worded by describe_error, which knows the plan rules
            raise CreateError(exc) from None
        remote = list(api.list_repo_files(space_id, repo_type="space", token=token))
    plan = plan_sync(root, tracked, remote, hardware)
    commits = build_commits(root, plan)
    log(
        f"{'dry run: would send' if dry_run else 'sending'} {len(plan.files)} files for a {hardware} Space "
        f"({plan.total_bytes / 2**20:.1f} MB) to spaces/{space_id} in {len(commits)} commit(s)"
        + ("" if dry_run else f", deleting {len(plan.delete)} it no longer needs")
    )
    for name in plan.delete:
        log(f"  delete {name}")
    if dry_run:
        for name in plan.files:
            note = "  (written for this hardware)" if name in plan.generated else ""
            log(f"  {name}  ({plan.sizes[name]:,} bytes){note}")
        return plan
    message = commit_message(root, environ)
    for number, operations in enumerate(commits, 1):
        info = api.create_commit(
            space_id,
            operations=operations,
            repo_type="space",
            commit_message=message + (f" ({number}/{len(commits)})" if len(commits) > 1 else ""),
            token=token,
        )
    url = getattr(info, "commit_url", None)
    log(f"synced spaces/{space_id} ({hardware})" + (f": {url}" if url else ""))
    return plan


def describe_error(exc: BaseException, space_id: str, hardware: str = CPU_BASIC) -> str:
    """One line for a failed sync, with what to do."""
    created = isinstance(exc, CreateError)
    exc = exc.cause if isinstance(exc, CreateError) else exc
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status == 401:
        return "the Hub rejected HF_TOKEN (HTTP 401): set the secret to a valid write token"
    if created and status in (400, 402, 403, 409, 422):
        if hardware == ZERO_GPU:
            return (
                f"the Hub refused to create spaces/{space_id} on ZeroGPU (HTTP {status}): a free account hosts at "
                "most two ZeroGPU Spaces, and the token must be a write token for that namespace; free one or "
                "create the Space by hand, then rerun"
            )
        return (
            f"the Hub refused to create spaces/{space_id} on {hardware} (HTTP {status}): CPU Gradio Spaces need a "
            f"PRO or Team plan (and a GPU Space a paid one); ZeroGPU is the free choice: set {HARDWARE_ENV}=zero-gpu "
            "(a repository variable) and rerun, or create the Space by hand; also check HF_TOKEN is a write token"
        )
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
        description="Push what the Space runs, built for its hardware, to the Hugging Face Space "
        f"${SPACE_ID_ENV} (token in ${TOKEN_ENV})."
    )
    env = os.environ if environ is None else environ
    parser.add_argument(
        "--hardware",
        default=None,
        help=f"the Space's hardware: {', '.join(HARDWARE)} (default: ${HARDWARE_ENV}, else {CPU_BASIC}); "
        "decides its requirements, pre-requirements and front matter",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check sizes and list what would be sent for that hardware; needs neither the token nor the network",
    )
    args = parser.parse_args(argv)
    hardware = (args.hardware or env.get(HARDWARE_ENV, "").strip() or CPU_BASIC).lower()
    space_id = env.get(SPACE_ID_ENV, "").strip()
    token = env.get(TOKEN_ENV, "").strip()
    in_actions = env.get("GITHUB_ACTIONS") == "true"

    def fail(message: str) -> int:
        message = message.replace(token, "***") if token else message
        print(f"{'::error title=Space sync failed::' if in_actions else ''}error: {message}", file=sys.stderr)
        return EXIT_USAGE

    if hardware not in HARDWARE:
        source = "--hardware" if args.hardware else HARDWARE_ENV
        return fail(f"{source} must be one of {', '.join(HARDWARE)}, got {hardware!r}")
    if space_id and not SPACE_ID_PATTERN.fullmatch(space_id):
        return fail(f"{SPACE_ID_ENV} must look like user/space, got {space_id!r}")
    if args.dry_run:
        try:
            sync(root, space_id or "<HF_SPACE_ID>", api=None, token="", environ=env, hardware=hardware, dry_run=True)
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
        redacted = lambda line: print(line.replace(token, "***"))  # noqa: E731
        sync(root, space_id, api=api, token=token, environ=env, hardware=hardware, log=redacted)
    except SyncError as exc:
        return fail(str(exc))
    except Exception as exc:  # the Hub's answer, turned into one redacted line
        return fail(describe_error(exc, space_id, hardware))
    return 0


if __name__ == "__main__":
    sys.exit(main())
