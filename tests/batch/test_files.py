"""Files: only uploads may be read, results live in a private folder, and old files are purged."""

from __future__ import annotations

import os
import stat
import tempfile
import time
from pathlib import Path

import pytest

from sentiment_app.batch import (
    UPLOAD_REFUSED,
    FileSweeper,
    ResultFiles,
    TableError,
    UploadRefused,
    purge_old_files,
    uploaded_file,
)
from sentiment_app.batch.files import private_folder

TAG = {"_type": "gradio.FileData"}


@pytest.fixture()
def uploads(tmp_path) -> Path:
    folder = tmp_path / "gradio"
    (folder / "0123abcd").mkdir(parents=True)
    (folder / "0123abcd" / "reviews.csv").write_text("评论\n很好\n", encoding="utf-8")
    (tmp_path / "secret.csv").write_text("token,hf_x\n", encoding="utf-8")
    (folder / "link.csv").symlink_to(tmp_path / "secret.csv")
    (folder / "dirlink").symlink_to(tmp_path)
    return folder


def test_a_tagged_upload_inside_the_folder_is_read(uploads):
    path = uploads / "0123abcd" / "reviews.csv"
    assert uploaded_file({"path": str(path), "meta": TAG}, uploads) == path.resolve()
    assert uploaded_file(str(path), uploads, from_component=True) == path.resolve()


@pytest.mark.parametrize(
    "make",
    [
        lambda up: "/etc/passwd",
        lambda up: str(up / "0123abcd" / "reviews.csv"),  # a plain string, even of a real upload
        lambda up: {"path": str(up / "0123abcd" / "reviews.csv")},  # no FileData tag
        lambda up: {"path": str(up / "0123abcd" / "reviews.csv"), "meta": {"_type": "gradio.Other"}},
        lambda up: {"path": "/etc/passwd", "meta": TAG},
        lambda up: {"path": "app.py", "meta": TAG},
        lambda up: {"path": str(up / ".." / "secret.csv"), "meta": TAG},
        lambda up: {"path": str(up / "0123abcd" / ".." / ".." / "secret.csv"), "meta": TAG},
        lambda up: {"path": str(up / "link.csv"), "meta": TAG},  # a symlink out of the upload folder
        lambda up: {"path": str(up / "dirlink" / "secret.csv"), "meta": TAG},
        lambda up: {"path": str(up), "meta": TAG},  # the folder itself
        lambda up: {"path": "/no/such/file.csv", "meta": TAG},
        lambda up: {"path": "", "meta": TAG},
        lambda up: {"path": "x\x00.csv", "meta": TAG},
        lambda up: {"path": 7, "meta": TAG},
        lambda up: None,
        lambda up: ["/etc/passwd"],
    ],
)
def test_everything_else_is_refused_with_the_same_line(uploads, make):
    with pytest.raises(UploadRefused) as info:
        uploaded_file(make(uploads), uploads)
    assert str(info.value) == UPLOAD_REFUSED


@pytest.mark.parametrize("path", ["/etc/passwd", "/no/such/file.csv", "../../etc/passwd"])
def test_plain_paths_are_refused_even_from_a_component_when_outside(uploads, path):
    with pytest.raises(UploadRefused):
        uploaded_file(path, uploads, from_component=True)


def test_a_purged_upload_says_upload_again(uploads):
    with pytest.raises(TableError, match="upload it again") as info:
        uploaded_file({"path": str(uploads / "0123abcd" / "gone.csv"), "meta": TAG}, uploads)
    assert not isinstance(info.value, UploadRefused)


def test_results_folder_is_private_and_not_a_fixed_path(tmp_path, monkeypatch):
    """The symlink pre-creation attack: a fixed /tmp name made first by someone else, pointing elsewhere."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    (tmp_path / "sentiment-app-results").symlink_to(victim)  # where the old code put its results
    first, second = ResultFiles(max_age=0.0), ResultFiles(max_age=0.0)
    job = first.new_job()
    (job / "out.csv").write_text("x")
    assert first.root != second.root and first.root.parent == tmp_path
    assert not first.root.is_symlink() and stat.S_IMODE(first.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(job.stat().st_mode) == 0o700
    time.sleep(0.01)
    first.purge(older_than=0.0)
    assert not job.exists() and first.root.is_dir()
    assert (victim / "precious.txt").read_text() == "keep me" and (tmp_path / "sentiment-app-results").is_symlink()


def test_a_given_results_folder_must_not_be_a_symlink(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(RuntimeError, match="not a private folder"):
        ResultFiles(tmp_path / "link")
    folder = private_folder(tmp_path / "new" / "results")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def test_purge_removes_old_uploads_and_partial_ones_but_not_new_or_linked_files(tmp_path):
    uploads = tmp_path / "gradio"
    (uploads / "sha1").mkdir(parents=True)
    old = uploads / "sha1" / "old.csv"
    old.write_text("x")
    partial = uploads / "tmpab12cd"  # what an aborted multipart upload leaves at the top
    partial.write_bytes(b"\x00" * 10)
    fresh = uploads / "sha1" / "fresh.csv"
    fresh.write_text("y")
    outside = tmp_path / "outside.txt"
    outside.write_text("z")
    (uploads / "out-link").symlink_to(outside)
    for path in (old, partial, uploads / "out-link"):
        age(path, 100)
    age(outside, 100)
    assert purge_old_files(uploads, 50) == 3
    assert not old.exists() and not partial.exists() and not (uploads / "out-link").is_symlink()
    assert fresh.exists() and outside.read_text() == "z"
    fresh.unlink()
    age(uploads / "sha1", 100)
    assert purge_old_files(uploads, 50) == 1 and not (uploads / "sha1").exists() and uploads.is_dir()


def test_sweeper_purges_at_start_and_then_periodically(tmp_path):
    uploads, results = tmp_path / "gradio", ResultFiles(tmp_path / "results")
    uploads.mkdir()
    stale = uploads / "stale.csv"
    stale.write_text("x")
    age(stale, 100)
    job = results.new_job()
    age(job, 100)
    sweeper = FileSweeper([(uploads, 50, False), (results.root, 50, True)], every=1).start()
    try:
        assert not stale.exists() and not job.exists()  # at start-up
        later = uploads / "later.csv"
        later.write_text("y")
        age(later, 100)
        deadline = time.monotonic() + 30
        while later.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not later.exists()
    finally:
        sweeper.stop()
