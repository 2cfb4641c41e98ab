"""scripts/sync_space.py against an injected fake HfApi: what reaches the Space, what is deleted, token safety.

A throwaway git repository stands in for this one; the fake records ``create_commit``'s operations and
reads each added file the way huggingface_hub does (from ``path_or_fileobj``). Nothing touches the network.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete
from huggingface_hub.errors import HfHubHTTPError

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_" + "SYNCtestSECRET" + "0123456789abcd"  # built at runtime: no token-shaped literal in the repo
SPACE = "someone/sentiment-space"
MODEL_BYTES = b"\x00\x01binary safetensors\xff" * 4096  # a binary file the Hub refuses in a plain git push


def load_script():
    spec = importlib.util.spec_from_file_location("sync_space", ROOT / "scripts" / "sync_space.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


sync_space = load_script()


class FakeApi:
    """Records calls like HfApi; ``remote`` is what the Space holds before the sync."""

    def __init__(self, remote: list[str], fail_with: BaseException | None = None) -> None:
        self.remote = list(remote)
        self.fail_with = fail_with
        self.calls: list[str] = []
        self.added: dict[str, bytes] = {}
        self.deleted: list[str] = []
        self.commit_kwargs: dict[str, Any] = {}

    def create_repo(self, repo_id: str, **kwargs: Any) -> str:
        self.calls.append("create_repo")
        assert repo_id == SPACE and kwargs["repo_type"] == "space" and kwargs["exist_ok"] is True
        return f"https://huggingface.co/spaces/{repo_id}"

    def list_repo_files(self, repo_id: str, **kwargs: Any) -> list[str]:
        self.calls.append("list_repo_files")
        assert kwargs["repo_type"] == "space"
        return self.remote

    def create_commit(self, repo_id: str, operations, **kwargs: Any):
        self.calls.append("create_commit")
        if self.fail_with is not None:
            raise self.fail_with
        self.commit_kwargs = kwargs
        for op in operations:
            if isinstance(op, CommitOperationAdd):
                source = op.path_or_fileobj
                self.added[op.path_in_repo] = Path(source).read_bytes() if isinstance(source, str) else source
            else:
                assert isinstance(op, CommitOperationDelete)
                self.deleted.append(op.path_in_repo)
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/spaces/{repo_id}/commit/abc"})()


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo, check=True, capture_output=True
    )


@pytest.fixture()
def repo(tmp_path) -> Path:
    """A git repository with text, a binary model, an ignored file, an untracked file and a removed file."""
    root = tmp_path / "repo"
    (root / "sentiment_app" / "embedded_model").mkdir(parents=True)
    (root / "app.py").write_text("print('app')\n", encoding="utf-8")
    (root / "README.md").write_text("---\nsdk: gradio\n---\n# 中文\n", encoding="utf-8")
    (root / "sentiment_app" / "embedded_model" / "model.safetensors").write_bytes(MODEL_BYTES)
    (root / ".gitignore").write_text(".venv/\n*.log\n", encoding="utf-8")
    (root / "old.py").write_text("gone soon\n", encoding="utf-8")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    git(root, "rm", "-q", "old.py")
    git(root, "commit", "-q", "-m", "remove old.py")
    (root / ".venv").mkdir()
    (root / ".venv" / "secret.txt").write_text(TOKEN, encoding="utf-8")
    (root / "run.log").write_text(TOKEN, encoding="utf-8")
    (root / "scratch.txt").write_text("untracked\n", encoding="utf-8")
    return root


def run(repo: Path, api: FakeApi, capsys, *args: str, **env: str) -> tuple[int, str]:
    environ = {"HF_SPACE_ID": SPACE, "HF_TOKEN": TOKEN, "GITHUB_SHA": "0123456789abcdef", **env}
    code = sync_space.main(list(args), environ=environ, api_factory=lambda token: api, root=repo)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_every_tracked_file_arrives_and_removed_files_are_deleted(repo, capsys):
    api = FakeApi(remote=["app.py", "old.py", "stale/notes.md", ".gitattributes", "README.md"])
    code, output = run(repo, api, capsys)
    assert code == 0, output
    assert api.calls == ["create_repo", "list_repo_files", "create_commit"]
    tracked = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True).stdout.split()
    assert (
        sorted(api.added)
        == sorted(tracked)
        == [".gitignore", "README.md", "app.py", "sentiment_app/embedded_model/model.safetensors"]
    )
    assert api.added["sentiment_app/embedded_model/model.safetensors"] == MODEL_BYTES
    assert api.added["README.md"] == (repo / "README.md").read_bytes()
    assert sorted(api.deleted) == ["old.py", "stale/notes.md"]  # .gitattributes stays: it says what is in Xet/LFS
    assert api.commit_kwargs["repo_type"] == "space" and "0123456789ab" in api.commit_kwargs["commit_message"]


def test_ignored_and_untracked_files_are_never_sent(repo, capsys):
    api = FakeApi(remote=[])
    code, output = run(repo, api, capsys)
    assert code == 0, output
    assert not {".venv/secret.txt", "run.log", "scratch.txt"} & set(api.added)
    assert all(TOKEN.encode() not in content for content in api.added.values())


def test_the_token_never_appears_in_output_on_success_or_failure(repo, capsys):
    code, output = run(repo, FakeApi(remote=["old.py"]), capsys)
    assert code == 0 and "synced spaces/" in output and TOKEN not in output
    request = httpx2.Request("POST", f"https://huggingface.co/api/spaces/{SPACE}/commit/main")
    leaky = HfHubHTTPError(
        f"500 Server Error (token {TOKEN} in an echoed header)", response=httpx2.Response(500, request=request)
    )
    code, output = run(repo, FakeApi(remote=[], fail_with=leaky), capsys)
    assert code == 2 and "error: could not sync" in output and "HTTP 500" in output
    assert TOKEN not in output and "***" in output


def test_a_rejected_token_is_one_line_with_the_fix(repo, capsys):
    request = httpx2.Request("POST", "https://huggingface.co/api/repos/create")
    denied = HfHubHTTPError("401 Client Error", response=httpx2.Response(401, request=request))
    code, output = run(repo, FakeApi(remote=[], fail_with=denied), capsys)
    assert code == 2
    assert output.count("error:") == 1 and output.strip().splitlines()[-1].startswith("error: ")
    assert "HTTP 401" in output and "write token" in output and "Traceback" not in output


@pytest.mark.parametrize("missing", ["HF_SPACE_ID", "HF_TOKEN"])
def test_without_the_settings_it_skips_with_a_notice(repo, capsys, missing):
    api = FakeApi(remote=[])
    code, output = run(repo, api, capsys, **{missing: "", "GITHUB_ACTIONS": "true"})
    assert code == 0 and api.calls == []
    assert output.startswith("::notice title=Space sync skipped::") and missing in output


def test_a_malformed_space_id_is_refused_before_any_call(repo, capsys):
    api = FakeApi(remote=[])
    code, output = run(repo, api, capsys, HF_SPACE_ID="someone/space/extra")
    assert code == 2 and api.calls == [] and "user/space" in output


def test_an_oversized_file_or_an_lfs_pointer_stops_the_sync_before_any_upload(repo, capsys):
    (repo / "pointer.bin").write_bytes(sync_space.LFS_POINTER_PREFIX + b"\noid sha256:abc\nsize 12\n")
    git(repo, "add", "pointer.bin")
    api = FakeApi(remote=[])
    code, output = run(repo, api, capsys)
    assert code == 2 and "create_commit" not in api.calls and "pointer.bin is a Git LFS pointer" in output
    git(repo, "rm", "-q", "--cached", "pointer.bin")
    problems = sync_space.size_problems(repo, sync_space.tracked_files(repo), max_file_mb=0.01)
    assert problems and "model.safetensors" in problems[0]


def test_dry_run_needs_no_token_and_sends_nothing(repo, capsys):
    api = FakeApi(remote=[])
    code, output = run(repo, api, capsys, "--dry-run", HF_TOKEN="")
    assert code == 0 and api.calls == []
    assert "would send 4 tracked files" in output and "model.safetensors" in output and "run.log" not in output


def test_this_repository_passes_the_sync_guards():
    files = sync_space.tracked_files(ROOT)
    assert any(f.startswith("sentiment_app/embedded_model/model") and f.endswith(".safetensors") for f in files)
    assert sync_space.size_problems(ROOT, files) == []
