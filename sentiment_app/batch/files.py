"""Files on disk: which uploads a request may name, the private results folder, and purging by age.

A request (UI or API) may only name a file that Gradio moved into its upload folder: a
``gradio.FileData`` dict (``{"path": ..., "meta": {"_type": "gradio.FileData"}}``, the form
``gradio_client.handle_file`` sends and for which Gradio checks and copies the upload) whose
path, symlinks resolved, lies inside that folder. Anything else (a plain string path, a dict
without the tag, a path outside, ``..``, a symlink out) gets one and the same line, which never
says whether the path exists. The upload folder is passed in by the caller (the app asks Gradio
for it), so this module needs no Gradio.

Results go to one folder per process made by ``tempfile.mkdtemp`` (mode 0700, a fresh random
name): never a fixed path under /tmp that another local user could create first as a symlink.
Uploads (partial ones included) and results older than their lifetime are removed at start-up
and then periodically by :class:`FileSweeper`.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import TableError, UploadRefused

LOG = logging.getLogger(__name__)
FILE_DATA_TYPE = "gradio.FileData"
UPLOAD_REFUSED = (
    "只能分析上传到本应用的文件，请先上传。/ Only files uploaded to this app can be read: upload the "
    "file first (with gradio_client: handle_file(path))."
)
RESULTS_PREFIX = "sentiment-results-"
DEFAULT_TTL_S = 1800.0


def uploaded_file(value: Any, upload_root: str | os.PathLike[str], *, from_component: bool = False) -> Path:
    """The real path of an upload named by a request, or :class:`UploadRefused`.

    ``value`` must be a ``gradio.FileData`` dict (or model). ``from_component=True`` also takes a
    plain string: what a ``gr.File(type="filepath")`` hands its callback after Gradio validated
    the FileData itself; it must still lie inside ``upload_root``.
    """
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, Mapping):
        meta = value.get("meta")
        if not (isinstance(meta, Mapping) and meta.get("_type") == FILE_DATA_TYPE):
            raise UploadRefused(UPLOAD_REFUSED)
        path = value.get("path")
    elif from_component and isinstance(value, str):
        path = value
    else:
        raise UploadRefused(UPLOAD_REFUSED)
    if not isinstance(path, str) or not path or "\x00" in path:
        raise UploadRefused(UPLOAD_REFUSED)
    root = os.path.realpath(upload_root)
    real = os.path.realpath(path)
    if real == root or os.path.commonpath([real, root]) != root:
        raise UploadRefused(UPLOAD_REFUSED)
    if not os.path.isfile(real):  # inside the upload folder: saying so leaks nothing
        raise TableError(
            "上传的文件已过期或不存在，请重新上传。/ The uploaded file is gone (uploads are removed "
            "after a while): upload it again."
        )
    return Path(real)


def private_folder(path: str | os.PathLike[str]) -> Path:
    """``path`` as a folder only this user can enter: created 0700, refused if it is a symlink or someone else's."""
    folder = Path(path)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(folder)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise RuntimeError(
            f"{folder} is not a private folder of this user (a symlink or someone else's): "
            "choose another results folder"
        )
    os.chmod(folder, 0o700)
    return folder


class ResultFiles:
    """Per-job folders for result downloads inside one private folder, removed once older than ``max_age`` s.

    Gradio copies returned files into its own cache; the originals here only have to outlive
    the response, so old job folders are purged whenever a new job starts and by the sweeper.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, max_age: float = DEFAULT_TTL_S) -> None:
        self._root = None if root is None else private_folder(root)
        self.max_age = max_age
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        """The folder, made on first use (``tempfile.mkdtemp``: 0700, a random name) unless one was given."""
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix=RESULTS_PREFIX))
            return self._root

    def new_job(self) -> Path:
        """A fresh folder (0700, random name) for one job's files."""
        self.purge()
        return Path(tempfile.mkdtemp(prefix="job-", dir=self.root))

    def purge(self, older_than: float | None = None) -> int:
        """Remove job folders older than ``older_than`` (default ``max_age``) seconds; how many went."""
        return purge_old_files(self.root, self.max_age if older_than is None else older_than, top_level=True)


def purge_old_files(
    folder: str | os.PathLike[str], max_age: float, *, top_level: bool = False, now: float | None = None
) -> int:
    """Delete what under ``folder`` was last modified more than ``max_age`` seconds ago; never follows symlinks.

    ``top_level=True`` removes whole entries of ``folder`` by their own age (job folders);
    otherwise files one by one (an upload folder with partial uploads), then folders left empty.
    Returns the number of entries removed. ``folder`` itself stays.
    """
    root = Path(folder)
    if not root.is_dir() or root.is_symlink():
        return 0
    now = time.time() if now is None else now
    removed = 0
    if top_level:
        for entry in list(os.scandir(root)):
            try:
                info = entry.stat(follow_symlinks=False)
                if now - info.st_mtime <= max_age:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:
                continue
        return removed
    for current, dirs, names in os.walk(root, topdown=False, followlinks=False):
        for name in names:
            path = os.path.join(current, name)
            try:
                if now - os.lstat(path).st_mtime > max_age:
                    os.unlink(path)
                    removed += 1
            except OSError:
                continue
        for name in dirs:
            path = os.path.join(current, name)
            try:
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode):
                    if now - info.st_mtime > max_age:
                        os.unlink(path)
                        removed += 1
                elif now - info.st_mtime > max_age and not os.listdir(path):
                    os.rmdir(path)
                    removed += 1
            except OSError:
                continue
    return removed


class FileSweeper:
    """Purges folders by age at start and then every ``every`` seconds, in a daemon thread.

    ``folders``: (folder, max_age, top_level) for each place to keep small: Gradio's upload
    folder (files, partial uploads included) and the results folder (whole job folders).
    """

    def __init__(self, folders: Iterable[tuple[str | os.PathLike[str], float, bool]], every: float) -> None:
        self.folders = [(Path(f), float(age), bool(top)) for f, age, top in folders]
        self.every = max(float(every), 1.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> int:
        removed = 0
        for folder, age, top in self.folders:
            try:
                removed += purge_old_files(folder, age, top_level=top)
            except OSError as exc:  # a sweep must never take the app down
                LOG.warning("could not purge %s: %s", folder, exc)
        return removed

    def start(self) -> FileSweeper:
        removed = self.sweep()
        if removed:
            LOG.info("removed %d old upload and result files at start-up", removed)
        self._thread = threading.Thread(target=self._loop, name="sentiment-file-sweeper", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.sweep()

    def stop(self) -> None:
        self._stop.set()


__all__ = [
    "FILE_DATA_TYPE",
    "FileSweeper",
    "ResultFiles",
    "UPLOAD_REFUSED",
    "private_folder",
    "purge_old_files",
    "uploaded_file",
]
