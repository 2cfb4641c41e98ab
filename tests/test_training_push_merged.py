"""``train_and_push.py --push-merged REPO``: after training, the merged plain-transformers export goes to its
own repo, and what arrives answers like the app serving the adapter. Tiny local models, a fake Hub API."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path
from typing import Any

import pytest

from sentiment_app.config import AppConfig
from tests import tiny
from tests.model.test_export import app_answers, assert_same, pipeline_answers
from training.train_and_push import main

pytestmark = pytest.mark.slow

TOKEN = "hf_" + "MERGEDtestSECRET" + "0123456789ab"  # built at runtime: no token-shaped literal in the repo


class SnapshotHub:
    """An HfApi stand-in that keeps a copy of every uploaded folder (the export is a temporary folder)."""

    def __init__(self, keep: Path) -> None:
        self.keep = keep
        self.uploads: list[tuple[str, Path]] = []

    def create_repo(self, repo_id: str, **kwargs: Any) -> str:
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs: Any):
        copy = self.keep / f"upload-{len(self.uploads)}"
        shutil.copytree(kwargs["folder_path"], copy)
        self.uploads.append((kwargs["repo_id"], copy))
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{kwargs['repo_id']}/commit/abc"})()


def test_push_merged_uploads_an_export_that_answers_like_the_app(tmp_path, monkeypatch):
    base = tiny.save_base_model(tmp_path / "base")
    for name, rows in (("train.csv", tiny.REVIEWS), ("dev.csv", tiny.HELD_OUT_REVIEWS)):
        tiny.write_reviews(tmp_path / name, rows)
    out = tmp_path / "out"
    hub = SnapshotHub(tmp_path)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    argv = [
        "--base-model",
        str(base),
        "--train-file",
        str(tmp_path / "train.csv"),
        "--validation-file",
        str(tmp_path / "dev.csv"),
        "--label-names",
        "负面,正面",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--output-dir",
        str(out),
        "--push-to-hub",
        "someone/adapter",
        "--push-merged",
        "someone/merged",
    ]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(argv, api_factory=lambda endpoint, token: hub)
    assert code == 0, stderr.getvalue()[-2000:]
    assert [repo for repo, _ in hub.uploads] == ["someone/adapter", "someone/merged"]
    adapter_upload, merged_upload = (folder for _, folder in hub.uploads)
    assert (adapter_upload / "adapter_config.json").is_file()
    assert not (merged_upload / "adapter_config.json").exists() and (merged_upload / "model.safetensors").is_file()
    assert "--model-id someone/merged" in (merged_upload / "README.md").read_text(encoding="utf-8")
    assert_same(app_answers(AppConfig(model=str(out))), pipeline_answers(merged_upload))
    assert "pushed the merged model" in stdout.getvalue()
    assert TOKEN not in stdout.getvalue() + stderr.getvalue()


def test_push_merged_needs_a_valid_repo_id_before_training(tmp_path, capsys):
    assert main(["--train-file", "x.csv", "--validation-file", "y.csv", "--push-merged", "not valid"]) == 2
    assert "--push-merged 'not valid' is not a valid Hub repo id" in capsys.readouterr().err
