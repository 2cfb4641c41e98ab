"""The push path against a local stand-in for the Hub API: success, retries, 401/403/404, offline, token safety."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError

from sentiment_app.model.artifact import validate_artifact
from tests import tiny
from training import push
from training.push import PushError, describe_upload, endpoint_note, push_artifact, upload_files

TOKEN = "hf_" + "TESTSECRETtoken1234567890"  # a fake, built so no token-shaped literal is committed
REPO = "someone/chinese-sentiment"


def http_error(status: int, message: str = "", cls: type = HfHubHTTPError) -> HfHubHTTPError:
    request = httpx2.Request("POST", "https://huggingface.co/api/repos/create")
    return cls(message or f"{status} Client Error", response=httpx2.Response(status, request=request))


class FakeHub:
    """Records calls like HfApi; ``failures`` maps a method to exceptions raised on its first calls."""

    def __init__(self, **failures: list[BaseException]) -> None:
        self.failures = {name: list(errors) for name, errors in failures.items()}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _call(self, name: str, kwargs: dict[str, Any]) -> Any:
        self.calls.append((name, kwargs))
        pending = self.failures.get(name)
        if pending:
            raise pending.pop(0)

    def create_repo(self, repo_id: str, **kwargs: Any) -> str:
        self._call("create_repo", {"repo_id": repo_id, **kwargs})
        return f"https://huggingface.co/{repo_id}"

    def create_branch(self, repo_id: str, **kwargs: Any) -> None:
        self._call("create_branch", {"repo_id": repo_id, **kwargs})

    def upload_folder(self, **kwargs: Any) -> Any:
        self._call("upload_folder", kwargs)
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{kwargs['repo_id']}/commit/abc"})()

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture()
def artifact(tmp_path) -> Path:
    """A complete (tiny, untrained) full-model artifact with checkpoints and a hidden file beside it."""
    folder = tiny.save_full_model(tmp_path / "artifact")
    (folder / "metrics.json").write_text(json.dumps({"validation": {"accuracy": 0.5}}), encoding="utf-8")
    (folder / "README.md").write_text("---\nlanguage: zh\n---\n# card\n", encoding="utf-8")
    (folder / "checkpoints" / "checkpoint-3").mkdir(parents=True)
    (folder / "checkpoints" / "checkpoint-3" / "model.safetensors").write_bytes(b"x" * 10)
    (folder / ".DS_Store").write_bytes(b"")
    assert validate_artifact(folder) == []
    return folder


def _push(folder: Path, api: FakeHub, sleeps: list[float] | None = None, logs: list[str] | None = None, **kw):
    return push_artifact(
        folder,
        REPO,
        api=api,
        token=TOKEN,
        sleep=(sleeps if sleeps is not None else []).append,
        log=(logs if logs is not None else []).append,
        **kw,
    )


def test_success_creates_the_repo_and_uploads_once(artifact):
    api = FakeHub()
    result = _push(artifact, api, private=True, commit_message="Train it")
    assert api.names() == ["create_repo", "upload_folder"]
    create = api.calls[0][1]
    assert create["repo_id"] == REPO and create["exist_ok"] is True and create["private"] is True
    upload = api.calls[1][1]
    assert upload["folder_path"] == str(artifact) and upload["commit_message"] == "Train it"
    assert upload["revision"] is None and "checkpoints/*" in upload["ignore_patterns"]
    assert result.commit_url.endswith("/commit/abc")
    assert "model.safetensors" in result.files and "labels.json" in result.files
    assert not any(f.startswith(("checkpoints/", ".")) for f in result.files)


def test_revision_creates_the_branch_first(artifact):
    api = FakeHub()
    result = _push(artifact, api, revision="v2")
    assert api.names() == ["create_repo", "create_branch", "upload_folder"]
    assert api.calls[1][1]["branch"] == "v2" and api.calls[2][1]["revision"] == "v2"
    assert result.revision == "v2"


def test_transient_failures_are_retried_with_backoff(artifact):
    api = FakeHub(
        create_repo=[httpx2.ConnectError("connection reset")],
        upload_folder=[http_error(503, "Service Unavailable"), http_error(429, "Too Many Requests")],
    )
    sleeps: list[float] = []
    logs: list[str] = []
    result = _push(artifact, api, sleeps, logs)
    assert api.names() == ["create_repo", "create_repo", "upload_folder", "upload_folder", "upload_folder"]
    assert sleeps == [2.0, 2.0, 4.0]  # each step backs off from 2 s, doubling
    assert len(logs) == 3 and "HTTP 503" in logs[1]
    assert result.repo_id == REPO


def test_retries_are_bounded(artifact):
    api = FakeHub(upload_folder=[http_error(502)] * 10)
    sleeps: list[float] = []
    with pytest.raises(PushError, match="after 4 attempt") as caught:
        _push(artifact, api, sleeps)
    assert api.names().count("upload_folder") == 4 and sleeps == [2.0, 4.0, 8.0]
    assert "kept in" in str(caught.value)


@pytest.mark.parametrize(
    "error, expected",
    [
        (http_error(401, "Invalid credentials"), r"rejected the token \(HTTP 401\)"),
        (http_error(403, "You don't have the rights"), r"may not write to someone/chinese-sentiment \(HTTP 403\)"),
        (http_error(404, "Not Found", RepositoryNotFoundError), "not found on https://huggingface.co.*HTTP 404"),
        (OfflineModeIsEnabled("offline"), "HF_HUB_OFFLINE is set"),
    ],
)
def test_permanent_failures_are_one_line_without_retry(artifact, error, expected):
    api = FakeHub(create_repo=[error])
    sleeps: list[float] = []
    with pytest.raises(PushError, match=expected) as caught:
        _push(artifact, api, sleeps)
    message = str(caught.value)
    assert sleeps == [] and api.names() == ["create_repo"]
    assert "\n" not in message and f"kept in {artifact}" in message
    assert validate_artifact(artifact) == []  # the local artifact is untouched


def test_offline_fails_after_the_bounded_retries(artifact):
    api = FakeHub(create_repo=[httpx2.ConnectError("[Errno -2] Name or service not known")] * 4)
    sleeps: list[float] = []
    with pytest.raises(PushError, match="could not create the repo on https://huggingface.co after 4 attempt"):
        _push(artifact, api, sleeps)
    assert len(sleeps) == 3 and "upload_folder" not in api.names()


def test_token_never_appears_in_messages_or_logs(artifact):
    leaky = http_error(500, f"server echoed Authorization: Bearer {TOKEN}")
    api = FakeHub(upload_folder=[leaky] * 4)
    logs: list[str] = []
    with pytest.raises(PushError) as caught:
        _push(artifact, api, logs=logs)
    assert TOKEN not in str(caught.value) and "***" in str(caught.value)
    assert logs and all(TOKEN not in line for line in logs)


def test_no_token_or_incomplete_artifact_pushes_nothing(artifact, tmp_path):
    api = FakeHub()
    with pytest.raises(PushError, match="no Hugging Face token: set HF_TOKEN"):
        push_artifact(artifact, REPO, api=api, token=None)
    broken = tmp_path / "broken"
    broken.mkdir()
    with pytest.raises(PushError, match="not a complete artifact"):
        push_artifact(broken, REPO, api=api, token=TOKEN)
    assert api.calls == []


def test_writes_go_to_the_hub_not_a_download_mirror(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.example")
    note = endpoint_note(None)
    assert note.startswith("pushing to https://huggingface.co") and "hf-mirror.example is used for downloads" in note
    assert endpoint_note("https://hf-mirror.example") == "pushing to https://hf-mirror.example (--hub-endpoint)"
    monkeypatch.delenv("HF_ENDPOINT")
    assert endpoint_note(None) == "pushing to https://huggingface.co"


def test_dry_run_listing_matches_the_upload(artifact):
    files = upload_files(artifact)
    listing = describe_upload(artifact, REPO, "https://huggingface.co", private=False, revision=None)
    assert listing.splitlines()[0].startswith(f"dry run: would upload {len(files)} files")
    assert "https://huggingface.co/someone/chinese-sentiment" in listing
    for name in files:
        assert f"  {name}  (" in listing
    assert "checkpoint-3" not in listing and ".DS_Store" not in listing


def test_hub_token_prefers_the_environment(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert push.hub_token() == TOKEN
