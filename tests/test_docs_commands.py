"""Every command in README.md and docs/*.md runs as written, as far as a test can tell without the network.

Each fenced ``bash`` block is split into commands; for each command that runs one of this repository's
programs (``python training/train_and_push.py``, ``python -m sentiment_app predict``, a benchmark, a script)
the program must exist and every ``--flag`` the docs give it must be in its ``--help``. Commands of other
tools (pip, hf, ray, torchrun's own flags) are left alone. A few cheap commands are also run for real.
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```(?:bash|sh|shell)\n(.*?)```", re.S)
# `python -m sentiment_app` subcommands; the entry point's own flags otherwise
SUBCOMMANDS = {"predict", "predict-distributed", "export"}


def commands(text: str) -> list[str]:
    """Shell commands of every bash block: continuation lines joined, comments dropped, split on && ; |."""
    found = []
    for block in BLOCK.findall(text):
        joined = re.sub(r"\s*\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            found += [part.strip() for part in re.split(r"&&|\|\||;|\|", line) if part.strip()]
    return found


def program(command: str) -> tuple[list[str], list[str]] | None:
    """(the argv that runs one of our programs with --help, the flags the docs pass) or None."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    while words and (re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]) or words[0] in {"nice", "-n", "10", "exec"}):
        words = words[1:]
    if not words:
        return None
    if words[0] in {"torchrun", "accelerate"}:  # the launcher's own flags are not ours: from the script on
        script = next((i for i, w in enumerate(words) if w.endswith(".py")), None)
        if script is None:
            return None
        words = ["python", *words[script:]]
    if words[0] not in {"python", "python3"} or len(words) < 2:
        return None
    if words[1] == "-m" and len(words) > 2 and words[2] in {"sentiment_app", "training.train_and_push"}:
        head = [sys.executable, "-m", words[2]]
        rest = words[3:]
        if words[2] == "sentiment_app" and rest and rest[0] in SUBCOMMANDS:
            head.append(rest[0])
        elif words[2] == "sentiment_app":
            return None
    elif words[1].endswith(".py") and (ROOT / words[1]).parent.name in {"training", "benchmarks", "scripts", ""}:
        assert (ROOT / words[1]).is_file(), f"{command}: {words[1]} does not exist"
        head, rest = [sys.executable, words[1]], words[2:]
    else:
        return None
    flags = [w.split("=", 1)[0] for w in rest if w.startswith("--")]
    return head, flags


@functools.cache
def help_text(argv: tuple[str, ...]) -> str:
    done = subprocess.run([*argv, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"{' '.join(argv)} --help: {done.stderr[-500:]}"
    return done.stdout


def documented() -> list[tuple[str, str]]:
    return [(page.name, c) for page in PAGES for c in commands(page.read_text(encoding="utf-8"))]


def test_the_pages_have_commands_to_check():
    runs = [c for _, c in documented() if program(c)]
    assert len(runs) >= 15 and any("train_and_push" in c for c in runs) and any(" predict " in c for c in runs)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_every_documented_command_names_a_program_and_flags_that_exist():
    problems = []
    for page, command in documented():
        found = program(command)
        if found is None:
            continue
        argv, flags = found
        text = help_text(tuple(argv))
        missing = [f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", text)]
        if missing:
            problems.append(f"{page}: {command[:100]}: no {', '.join(missing)} in --help")
    assert problems == []


def test_a_command_with_an_unknown_flag_is_caught():
    argv, flags = program("HF_TOKEN=x python training/train_and_push.py RECIPE.yaml --no-such-flag 3")
    assert argv[1] == "training/train_and_push.py" and flags == ["--no-such-flag"]
    assert program("pip install -r requirements.txt") is None
    assert program("torchrun --standalone --nproc_per_node 4 training/train_and_push.py --epochs 1")[1] == ["--epochs"]
    assert commands("```bash\na \\\n  --b 1 && c # note\n# only a comment\n```") == ["a --b 1", "c"]


def test_cheap_commands_run_as_written(tmp_path):
    """The export of the embedded model and a sync dry run: real runs, seconds each."""
    export = subprocess.run(
        [sys.executable, "-m", "sentiment_app", "export", "embedded", str(tmp_path / "merged")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert export.returncode == 0, export.stderr[-800:]
    assert (tmp_path / "merged" / "config.json").is_file()
