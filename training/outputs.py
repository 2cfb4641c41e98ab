"""Where a run writes: nothing under the final name until the artifact is whole and has passed the gate.

    DIR.partial/               the run's working folder (the artifact is assembled here)
    DIR.partial/checkpoints/   the Trainer's checkpoints: what --resume continues from
    DIR                        renamed from DIR.partial at the end (an earlier artifact there is replaced)
    DIR.failed                 a model the sanity gate refused, set aside for inspection (never pushed)

A run that fails before its first checkpoint leaves nothing; one that is stopped or crashes later leaves
only DIR.partial/checkpoints, for --resume.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sentiment_app.model.artifact import TRAINING_CONFIG_FILE

from .errors import UserError

CHECKPOINTS_DIR = "checkpoints"
PARTIAL_SUFFIX = ".partial"
FAILED_SUFFIX = ".failed"


def work_dir(out: Path) -> Path:
    return out.with_name(out.name + PARTIAL_SUFFIX)


def failed_dir(out: Path) -> Path:
    return out.with_name(out.name + FAILED_SUFFIX)


def last_checkpoint(out: Path) -> Path | None:
    """The newest Trainer checkpoint an interrupted run of ``out`` left, or None."""
    folder = work_dir(out) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return None
    steps = [
        (int(p.name.split("-")[1]), p)
        for p in folder.glob("checkpoint-*")
        if p.is_dir() and p.name.split("-")[1].isdigit() and (p / "trainer_state.json").is_file()
    ]
    return max(steps)[1] if steps else None


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def check_output_dir(out: Path) -> None:
    """Refuse a file, or a non-empty folder this script did not write (it is replaced at the end)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--output-dir {out} is a file")
    if out.is_dir() and any(out.iterdir()) and not (out / TRAINING_CONFIG_FILE).is_file():
        names = {p.name for p in out.iterdir()}
        if not names <= {CHECKPOINTS_DIR}:  # a folder an older version of this script left mid-run
            raise UserError(
                f"--output-dir {out} is not empty and holds no earlier training output "
                f"({TRAINING_CONFIG_FILE}): choose a new folder or empty it"
            )


def start(out: Path, *, resume: bool) -> Path:
    """Make (or, with ``resume``, reuse) the working folder and return it."""
    check_output_dir(out)
    work = work_dir(out)
    if resume:
        if last_checkpoint(out) is None:
            raise UserError(
                f"--resume: no checkpoint of an interrupted run in {work / CHECKPOINTS_DIR}: "
                "run without --resume to start afresh"
            )
    elif _is_main_process() and work.exists():
        if last_checkpoint(out) is not None:
            print(f"note: removing the checkpoints of an earlier interrupted run in {work} (--resume continues one)")
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    return work


def finish(work: Path, out: Path, *, keep_checkpoints: bool) -> None:
    """Move the finished artifact to its final name, replacing an earlier one only now."""
    if not keep_checkpoints:
        shutil.rmtree(work / CHECKPOINTS_DIR, ignore_errors=True)
    old = out.with_name(out.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    work.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(failed_dir(out), ignore_errors=True)  # an earlier refused model of this folder is stale now


def set_aside(work: Path, out: Path, *, keep_checkpoints: bool) -> Path:
    """Rename a refused artifact to DIR.failed; return that name."""
    if not keep_checkpoints:
        shutil.rmtree(work / CHECKPOINTS_DIR, ignore_errors=True)
    failed = failed_dir(out)
    shutil.rmtree(failed, ignore_errors=True)
    work.rename(failed)
    return failed


def abandon(work: Path, out: Path) -> Path | None:
    """After a failure: keep the working folder only for its last checkpoint (returned), else remove it."""
    checkpoint = last_checkpoint(out)
    if checkpoint is None:
        shutil.rmtree(work, ignore_errors=True)
        return None
    for path in work.iterdir():  # artifact files half-written next to the checkpoints
        if path.is_file():
            path.unlink()
    return checkpoint
