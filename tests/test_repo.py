"""Repository facts the Space and CI depend on: versions agree, the Space sync can take every file, no secrets.

The Space reads README.md's front matter (sdk_version, python_version); the Hub refuses a git push that
holds binary files outside Xet/LFS, so the sync commits through huggingface_hub (scripts/sync_space.py);
CI (.ci/run) runs the README's test command; workflows pin actions by commit.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
# git's own test for a binary file: a NUL byte in the first 8,000 bytes.
BINARY_SNIFF_BYTES = 8000
# A Hugging Face token: "hf_" and 34 random letters. Only strings that mix upper and lower case
# count, so an obviously fake test token such as hf_wrongwrong... does not.
TOKEN = re.compile(rb"hf_[A-Za-z0-9]{30,}")


def front_matter() -> dict:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md must start with the Space's YAML front matter between --- lines"
    return yaml.safe_load(match.group(1))


def pinned(requirements: str, package: str) -> str:
    for line in (ROOT / requirements).read_text(encoding="utf-8").splitlines():
        match = re.match(rf"^{re.escape(package)}==([^\s;#]+)", line.strip(), re.I)
        if match:
            return match.group(1)
    raise AssertionError(f"{package} is not pinned with == in {requirements}")


def workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def steps(flow: dict):
    for job in flow["jobs"].values():
        yield from job.get("steps", [])


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in out.decode("utf-8").split("\0") if name]


def test_front_matter_sdk_version_is_the_pinned_gradio() -> None:
    assert front_matter()["sdk"] == "gradio"
    assert str(front_matter()["sdk_version"]) == pinned("requirements.txt", "gradio")


def test_every_spaces_python_version_is_one_ci_tests() -> None:
    sync_space = load_sync_script()
    matrix = {str(v) for v in workflow("ci.yml")["jobs"]["test"]["strategy"]["matrix"]["python"]}
    assert matrix == {"3.11", "3.12"}
    assert str(front_matter()["python_version"]) in matrix  # the card as committed: the CPU Basic Space
    for hardware, keys in sync_space.FRONT_MATTER.items():
        version = keys["python_version"].strip('"')
        assert ".".join(version.split(".")[:2]) in matrix, hardware
    assert sync_space.FRONT_MATTER["zero-gpu"]["python_version"].strip('"') in {"3.10.13", "3.12.12"}


def test_ci_installs_the_lock_and_deselects_gpu_tests() -> None:
    runs = "\n".join(step.get("run", "") for step in steps(workflow("ci.yml")))
    assert "pip install -r requirements-dev.txt -c requirements.lock" in runs
    assert 'pytest -m "not ui and not gpu"' in runs
    script = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    assert "-c requirements.lock" in script


def test_the_lock_pins_every_requirement_and_the_app_pins_its_server() -> None:
    sync_space = load_sync_script()
    lock = sync_space.read_lock((ROOT / "requirements.lock").read_text(encoding="utf-8"))
    for name in ("requirements.txt", "requirements-dev.txt", "requirements-zerogpu.txt", "requirements-train.txt"):
        for line in requirement_lines(name):
            line = line.split("#")[0].strip()
            if not line.startswith("-"):
                package, version = line.split("==")
                assert any(
                    p.startswith(f"{sync_space._normal(package)}=={version}")
                    for p in lock[sync_space._normal(package)][0]
                )
    for package in ("fastapi", "starlette", "httpx2"):
        pinned("requirements.txt", package)  # max_body_size needs a FastAPI that takes it


def test_front_matter_points_at_the_app() -> None:
    assert front_matter()["app_file"] == "app.py"
    assert (ROOT / "app.py").is_file()


def is_binary(path: Path) -> bool:
    with path.open("rb") as handle:
        return b"\0" in handle.read(BINARY_SNIFF_BYTES)


def test_binary_files_reach_the_space_through_huggingface_hub_never_a_git_push() -> None:
    # The Hub rejects a git push holding any binary file outside Xet/LFS, whatever its size; commits made
    # with huggingface_hub store binaries there themselves. So: binaries are tracked, and nothing git-pushes.
    binaries = [path.relative_to(ROOT).as_posix() for path in tracked_files() if path.is_file() and is_binary(path)]
    assert any(b.startswith("sentiment_app/embedded_model/model") and b.endswith(".safetensors") for b in binaries)
    text = (WORKFLOWS / "sync-space.yml").read_text(encoding="utf-8")
    runs = [step.get("run", "") for step in steps(workflow("sync-space.yml"))]
    assert not any(re.search(r"\bgit\b.*\bpush\b", run) for run in runs), "the Space sync must not git-push"
    assert any(line.strip() == "python scripts/sync_space.py" for run in runs for line in run.splitlines())
    assert f"huggingface-hub=={pinned('requirements.txt', 'huggingface-hub')}" in text


def requirement_lines(name: str) -> list[str]:
    return [
        line.strip()
        for line in (ROOT / name).read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def test_the_space_installs_the_cpu_build_of_the_pinned_torch_first() -> None:
    # Spaces install pre-requirements.txt before requirements.txt; 2.13.0+cpu satisfies torch==2.13.0.
    lines = requirement_lines("pre-requirements.txt")
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    assert f"torch=={pinned('requirements.txt', 'torch')}+cpu" in lines
    flow = (WORKFLOWS / "ci.yml").read_text(encoding="utf-8")
    assert "pip install -r pre-requirements.txt" in flow  # CI tests the build the Space gets


def test_no_requirements_file_names_an_index() -> None:
    # An index that cannot be reached costs each of the ~70 packages a round of retries (8 s each measured
    # here), so index options live only in pre-requirements.txt, which holds one package.
    for name in ("requirements.txt", "requirements-train.txt", "requirements-dev.txt"):
        for line in requirement_lines(name):
            assert not re.match(r"--?(extra-)?index-url|-i\b|--find-links|-f\b", line), f"{name}: {line}"


def test_no_token_is_committed() -> None:
    found = []
    for path in tracked_files():
        if not path.is_file():
            continue
        for match in TOKEN.finditer(path.read_bytes()):
            token = match.group(0)[3:]
            if re.search(rb"[a-z]", token) and re.search(rb"[A-Z]", token):
                found.append(f"{path.relative_to(ROOT)}: {match.group(0)[:7].decode()}…")
    assert not found, f"token-like strings are committed (revoke them, then remove them): {found}"


def test_every_action_is_pinned_to_a_full_commit_with_its_version() -> None:
    for name in ("ci.yml", "sync-space.yml"):
        text = (WORKFLOWS / name).read_text(encoding="utf-8")
        uses = re.findall(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", text, re.M)
        assert uses, name
        for ref, comment in uses:
            if ref.startswith("./"):
                continue
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{name}: {ref} is not pinned to a commit"
            assert re.search(r"#\s*v\d+(\.\d+)*", comment), f"{name}: {ref} needs a '# vX.Y.Z' comment"


def test_workflows_have_least_permissions_and_no_persisted_credentials() -> None:
    for name in ("ci.yml", "sync-space.yml"):
        flow = workflow(name)
        assert flow["permissions"] == {"contents": "read"}, name
        for step in steps(flow):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name


def test_sync_workflow_skips_without_settings_and_never_prints_the_token() -> None:
    flow = workflow("sync-space.yml")
    triggers = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads the key `on` as true
    # only after CI passed on main (or by hand from main): never on a bare push
    assert "push" not in triggers and "workflow_dispatch" in triggers
    assert triggers["workflow_run"] == {"workflows": ["CI"], "types": ["completed"], "branches": ["main"]}
    condition = " ".join(flow["jobs"]["sync"]["if"].split())
    for part in (
        "github.event.workflow_run.conclusion == 'success'",
        "github.event.workflow_run.head_branch == 'main'",
        "github.event.workflow_run.event == 'push'",
        "github.event_name == 'workflow_dispatch' && github.ref == 'refs/heads/main'",
    ):
        assert part in condition
    checkout = next(s for s in steps(flow) if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert "github.event.workflow_run.head_sha" in checkout["with"]["ref"]  # the commit CI tested
    job = flow["jobs"]["sync"]
    assert job["env"]["SPACE_ID"] == "${{ vars.HF_SPACE_ID }}"
    text = (WORKFLOWS / "sync-space.yml").read_text(encoding="utf-8")
    assert "::notice" in text
    assert text.count("secrets.HF_TOKEN") == 2  # the "is it set" check and the push step's env
    for step in job["steps"]:
        for line in step.get("run", "").splitlines():  # the script reads the token from its environment
            assert not re.search(r"\$\{?HF_TOKEN\b", line), f"the token is expanded on a command line: {line}"
        if "HF_TOKEN" in step.get("env", {}):
            assert step["run"].strip() == "python scripts/sync_space.py", "only the sync step gets the token"


def load_sync_script():
    spec = importlib.util.spec_from_file_location("sync_space_for_repo_tests", ROOT / "scripts" / "sync_space.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def load_readme_command_module():
    spec = importlib.util.spec_from_file_location("readme_test_command", ROOT / ".ci" / "readme_test_command.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_ci_runs_the_readme_test_command_which_runs_scripts_test_sh() -> None:
    module = load_readme_command_module()
    command = module.test_command((ROOT / "README.md").read_text(encoding="utf-8"))
    assert "scripts/test.sh" in command
    for script in (ROOT / ".ci" / "run", ROOT / "scripts" / "test.sh"):
        assert os.access(script, os.X_OK), f"{script.relative_to(ROOT)} must be executable"
        assert "set -euo pipefail" in script.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "readme",
    [
        "# no marker\n```bash\nbash scripts/test.sh\n```\n",
        "<!-- test-command: x -->\nsome text\n```bash\nbash scripts/test.sh\n```\n",
        "<!-- test-command: x -->\n```bash\n```\n",
        "<!-- test-command: x -->\n```bash\nbash scripts/test.sh\n",
    ],
)
def test_a_missing_or_broken_test_command_block_is_an_error(readme: str) -> None:
    module = load_readme_command_module()
    with pytest.raises(module.NoTestCommand):
        module.test_command(readme)


def test_sentiment_app_never_imports_training() -> None:
    """Serving must run without training/ (the Space ships both, but the app needs none of it)."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "sentiment_app").rglob("*.py")
        if re.search(r"^\s*(from|import)\s+training\b", path.read_text(encoding="utf-8"), re.M)
    ]
    assert not offenders, f"sentiment_app imports training in {offenders}"
