"""scripts/test.sh's set-up decisions, run for real in bash against fake id/sudo/apt-get/dpkg-query/python.

The fakes sit first on PATH and record what they were asked; the system Chromium path is pointed at a
file the fake apt-get creates, so each case starts on a "fresh machine" whatever this one has installed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "test.sh"

FAKES = {
    "id": 'echo "$FAKE_UID"',
    "sudo": 'if [[ "$FAKE_SUDO" != ok ]]; then exit 1; fi\n[[ "$1" == -n ]] && shift\n'
    'echo "sudo $*" >> "$FAKE_LOG"\nexec "$@"',
    "apt-get": 'echo "apt-get $*" >> "$FAKE_LOG"\n[[ "$FAKE_APT" == fail ]] && exit 100\n'
    'if [[ "$1" == install ]]; then for p in "$@"; do\n'
    '  [[ "$p" == -* || "$p" == install ]] && continue\n'
    '  if [[ "$p" == chromium ]]; then printf "#!/bin/sh\\n" > "$FAKE_CHROMIUM"; chmod +x "$FAKE_CHROMIUM";'
    ' else touch "$FAKE_STATE/$p"; fi\ndone; fi',
    "dpkg-query": 'pkg="${@: -1}"\n[[ -e "$FAKE_STATE/$pkg" ]] && echo "install ok installed" || exit 1',
    "python": 'echo "python $*" >> "$FAKE_LOG"\n'
    'if [[ "$1 $2 $3" == "-m playwright install" ]]; then\n'
    '  [[ "$FAKE_PLAYWRIGHT" == ok ]] && exit 0\n'
    '  [[ "$FAKE_PLAYWRIGHT" == nodeps && "$4" != --with-deps ]] && exit 0\n'
    '  echo "Host system is missing dependencies" >&2; exit 1\nfi\n'
    'if [[ "$1" == -c ]]; then echo "$FAKE_PW_CHROMIUM"; exit 0; fi\nexit 3',
}


@pytest.fixture()
def machine(tmp_path):
    """A fresh machine: nothing installed, every fake on PATH; returns (run, log file, chromium path)."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, body in FAKES.items():
        path = bin_dir / name
        path.write_text("#!/usr/bin/env bash\n" + body + "\n", encoding="utf-8")
        path.chmod(0o755)
    chromium, log = tmp_path / "chromium", tmp_path / "calls.log"
    log.touch()

    def run(**env: str) -> subprocess.CompletedProcess:
        environ = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "FAKE_LOG": str(log),
            "FAKE_STATE": str(state),
            "FAKE_CHROMIUM": str(chromium),
            "FAKE_UID": "1000",
            "FAKE_SUDO": "no",
            "FAKE_APT": "ok",
            "FAKE_PLAYWRIGHT": "fail",
            "FAKE_PW_CHROMIUM": str(tmp_path / "ms-playwright" / "chrome"),
            **env,
        }
        code = (
            f'source "{SCRIPT}"; SYSTEM_CHROMIUM=("{chromium}"); setup_browser; '
            'echo "RESULT $CHROMIUM_ORIGIN $CHROMIUM"'
        )
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", code], env=environ, capture_output=True, text=True, timeout=60
        )

    return run, log, chromium


def test_as_root_it_installs_chromium_and_the_fonts_with_apt(machine):
    run, log, chromium = machine
    result = run(FAKE_UID="0")
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "apt-get update -qq"
    assert calls[1] == ("apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk fonts-noto-color-emoji")
    assert f"RESULT system {chromium}" in result.stdout and "warning" not in result.stdout


def test_with_passwordless_sudo_it_installs_through_sudo(machine):
    run, log, chromium = machine
    result = run(FAKE_SUDO="ok")
    assert result.returncode == 0, result.stderr
    assert any(
        line.startswith("sudo env DEBIAN_FRONTEND=noninteractive apt-get install")
        for line in log.read_text().splitlines()
    )
    assert f"RESULT system {chromium}" in result.stdout


def test_without_root_or_sudo_it_uses_playwrights_own_browser_without_asking_for_a_password(machine, tmp_path):
    run, log, _ = machine
    result = run(FAKE_PLAYWRIGHT="ok")
    assert result.returncode == 0, result.stderr
    calls = log.read_text()
    assert "apt-get" not in calls and "--with-deps" not in calls  # --with-deps would run sudo apt-get
    assert "python -m playwright install chromium" in calls
    assert f"RESULT playwright {tmp_path / 'ms-playwright' / 'chrome'}" in result.stdout


def test_when_apt_fails_as_root_it_falls_back_to_playwright_with_deps(machine):
    run, log, _ = machine
    result = run(FAKE_UID="0", FAKE_APT="fail", FAKE_PLAYWRIGHT="ok")
    assert result.returncode == 0, result.stderr
    calls = log.read_text()
    assert "apt-get update" in calls and "python -m playwright install --with-deps chromium" in calls
    assert "RESULT playwright" in result.stdout


def test_when_playwright_cannot_install_system_deps_it_takes_the_browser_alone(machine):
    run, log, _ = machine
    result = run(FAKE_UID="0", FAKE_APT="fail", FAKE_PLAYWRIGHT="nodeps")
    assert result.returncode == 0, result.stderr
    calls = [line for line in log.read_text().splitlines() if "playwright install" in line]
    assert calls == ["python -m playwright install --with-deps chromium", "python -m playwright install chromium"]
    assert "RESULT playwright" in result.stdout


def test_when_nothing_works_it_says_what_to_install_in_one_line(machine):
    run, _, _ = machine
    result = run()
    assert result.returncode != 0 and "RESULT" not in result.stdout
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: no Chromium for the UI tests")
    assert "apt-get install chromium fonts-noto-cjk fonts-noto-color-emoji" in errors[0]
    assert "python -m playwright install --with-deps chromium" in errors[0]
    assert "Host system is missing dependencies" not in result.stderr  # Playwright's output went to the log


def test_when_everything_is_installed_nothing_is_installed(machine, tmp_path):
    run, log, chromium = machine
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o755)
    for package in ("fonts-noto-cjk", "fonts-noto-color-emoji"):
        (tmp_path / "state" / package).touch()
    result = run(FAKE_UID="0")
    assert result.returncode == 0, result.stderr
    assert log.read_text() == "" and f"RESULT system {chromium}" in result.stdout


def test_an_explicit_browser_wins_and_only_missing_fonts_are_installed(machine, tmp_path):
    run, log, _ = machine
    browser = tmp_path / "my-chrome"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    result = run(FAKE_UID="0", PLAYWRIGHT_CHROMIUM_EXECUTABLE=str(browser))
    assert result.returncode == 0, result.stderr
    assert "apt-get install -y -qq --no-install-recommends fonts-noto-cjk fonts-noto-color-emoji" in log.read_text()
    assert f"RESULT PLAYWRIGHT_CHROMIUM_EXECUTABLE {browser}" in result.stdout
