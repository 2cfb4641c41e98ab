"""Training that cannot silently go wrong (issue 28): label order, the sanity gate, offline, leftovers.

The inverted-labels case runs the real script on a tiny base whose classification head was trained to
read 负面, 正面 (as the embedded model's does); the offline case runs it in a subprocess against a Hub
endpoint that refuses connections.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from sentiment_app.model.artifact import read_labels, validate_artifact
from tests import tiny
from tests.test_training_push import FakeHub
from training import gate, hub_access, outputs
from training.config import TrainConfig
from training.errors import UserError
from training.train_and_push import main

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_" + "SAFETYsecret0987654321abc"  # a fake, built so no token-shaped literal is committed


def _run(argv: list[str], api_factory: Any = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv, api_factory=api_factory)
    return code, out.getvalue(), err.getvalue()


def _error_line(stderr: str) -> str:
    """The one ``error:`` line, which ends stderr (progress bars and library warnings come before it)."""
    lines = stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("error:")] == lines[-1:], stderr[-2000:]
    return lines[-1]


def _leftovers(folder: Path, name: str = "out") -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(name))


# ---- the gate's judgement -------------------------------------------------------------------------


def test_the_issue_confusion_matrix_is_swapped_labels():
    """The newcomer's run: 4.5 % accuracy, every review answered with the other class."""
    verdict = gate.check([[6, 118], [73, 3]], ["正面", "负面"], train_rows=400, base_head=["负面", "正面"])
    assert verdict.swap is not None and verdict.problem is not None
    assert "swapped labels" in verdict.problem and "the base's head reads 负面,正面" in verdict.problem
    assert "[[6, 118], [73, 3]]" in verdict.problem


def test_worse_than_the_majority_class_fails():
    """90 % of validation is 正面; a model at 60 % is far below always answering 正面 on 500 rows."""
    verdict = gate.check([[40, 10], [190, 260]], ["负面", "正面"], train_rows=100)
    assert verdict.swap is None and verdict.majority_label == "正面" and verdict.majority_share == 0.9
    assert "worse than always answering 正面" in verdict.problem and "too few training rows" in verdict.problem


@pytest.mark.parametrize(
    "confusion",
    [
        [[48, 2], [3, 47]],  # a good model
        [[50, 0], [50, 0]],  # always one class: exactly the majority baseline
        [[0, 3], [3, 0]],  # 0 of 6 right: too few rows to tell from noise
        [[1, 5], [4, 2]],  # 3 of 12: within the noise of a coin flip on 12 rows
    ],
)
def test_good_trivial_and_tiny_validation_sets_pass(confusion):
    assert gate.check(confusion, ["负面", "正面"], train_rows=1000).problem is None


def test_a_partial_swap_of_three_classes():
    """负面 and 正面 swapped, 中性 right: the majority check alone (中性 50 %) would let it through."""
    confusion = [[2, 0, 48], [0, 100, 0], [47, 0, 3]]
    verdict = gate.check(confusion, ["负面", "中性", "正面"], train_rows=1000)
    assert verdict.accuracy > verdict.majority_share - verdict.margin  # not "weak"...
    assert "负面->正面" in verdict.problem and "正面->负面" in verdict.problem  # ...but swapped


def test_margin_shrinks_with_more_rows():
    assert gate.margin(20, 0.5) > gate.margin(200, 0.5) > gate.margin(2000, 0.5) > 0


# ---- offline -----------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _script(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "SENTIMENT_"))}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "training/train_and_push.py", *args],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done, time.monotonic() - started


def test_offline_fails_fast_with_the_ways_on_and_leaves_nothing(tmp_path):
    """The Hub base of the quick run, a Hub that refuses connections, an empty cache: seconds, one line, no
    output folder. (Before: ~25 s of retries, then a line naming no way on, and an empty output folder.)"""
    tiny.write_reviews(tmp_path / "train.csv", tiny.REVIEWS)
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    args = ["--train-file", str(tmp_path / "train.csv"), "--validation-file", str(tmp_path / "train.csv")]
    done, seconds = _script(
        [*args, "--output-dir", str(tmp_path / "out")], {"HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf")}
    )
    assert done.returncode == 2, done.stderr
    assert seconds < 10
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot reach the Hub at {endpoint}") and "bert-base-chinese" in line
    for way in (
        "hf download google-bert/bert-base-chinese --local-dir",
        "HF_ENDPOINT",
        "HF_HUB_OFFLINE=1",
        "--base-model scratch",
    ):
        assert way in line
    assert _leftovers(tmp_path) == []


def test_hub_offline_mode_names_the_ways_on_too(tmp_path):
    tiny.write_reviews(tmp_path / "train.csv", tiny.REVIEWS)
    args = ["--train-file", str(tmp_path / "train.csv"), "--validation-file", str(tmp_path / "train.csv")]
    done, _ = _script(
        [*args, "--output-dir", str(tmp_path / "out")], {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "cannot load base model google-bert/bert-base-chinese" in line and "--base-model scratch" in line
    assert _leftovers(tmp_path) == []


def test_an_unreachable_hub_with_everything_cached_goes_offline(tmp_path, monkeypatch, capsys):
    import datasets.config
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub_access, "unreachable_reason", lambda endpoint: "refused")
    config = TrainConfig(base_model="someone/base", dataset=None, train_file="a.csv", validation_file="a.csv")
    with pytest.raises(UserError, match="someone/base, which is not cached"):
        hub_access.ensure_hub(config)
    (tmp_path / "models--someone--base" / "snapshots" / "abc").mkdir(parents=True)
    hub_access.ensure_hub(config)
    assert constants.HF_HUB_OFFLINE and datasets.config.HF_HUB_OFFLINE and os.environ["HF_HUB_OFFLINE"] == "1"
    assert "using the cached someone/base" in capsys.readouterr().out


def test_local_base_and_files_need_no_hub(tmp_path):
    config = TrainConfig(base_model=str(tmp_path), dataset=None, train_file="a.csv", validation_file="a.csv")
    assert hub_access.hub_needs(config) == {}
    assert hub_access.hub_needs(TrainConfig()) == {
        "model": "google-bert/bert-base-chinese",
        "dataset": "lansinuote/ChnSentiCorp",
    }


# ---- the inverted-labels case, end to end ------------------------------------------------------


def _trained_named_base(folder: Path) -> Path:
    """A tiny base whose head was trained to read 负面, 正面 on the handwritten reviews (id2label names them)."""
    import torch

    tokenizer = tiny.tiny_tokenizer()
    model = tiny.tiny_bert(len(tokenizer), ("负面", "正面")).train()
    batch = tokenizer([t for t, _ in tiny.REVIEWS], padding=True, return_tensors="pt")
    labels = torch.tensor([y for _, y in tiny.REVIEWS])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(60):
        optimizer.zero_grad()
        model(**batch, labels=labels).loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(**batch).logits.argmax(-1) == labels).float().mean().item()
    assert accuracy == 1.0  # the head reads 负面, 正面 correctly: any inversion is the run's doing
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def named_base(tmp_path_factory) -> Path:
    return _trained_named_base(tmp_path_factory.mktemp("named") / "base")


def _inverted_case(root: Path, base: Path, *extra: str) -> list[str]:
    """The newcomer's command: string labels 负面/正面 in the files, a base with a trained head, no --label-names.
    Validation is the reviews the head learnt (24 rows), so the head's order decides the score."""
    tiny.write_reviews(root / "train.csv", tiny.REVIEWS)
    argv = ["--base-model", str(base), "--train-file", str(root / "train.csv"), "--validation-file"]
    # a learning rate too small to change anything: what is measured is the head as loaded
    return [*argv, str(root / "train.csv"), "--max-steps", "1", "--learning-rate", "1e-9", *extra]


@pytest.mark.slow
def test_labels_follow_the_base_head(tmp_path, named_base):
    """Before the fix: labels ['正面', '负面'] by code point, accuracy 0.0, exit 0. After: the head's order."""
    code, stdout, stderr = _run([*_inverted_case(tmp_path, named_base), "--output-dir", str(tmp_path / "out")])
    assert code == 0, stderr
    assert stdout.startswith("labels: 负面, 正面 (the order of the base model's classification head)")
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["validation"]["accuracy"] == 1.0 and metrics["sanity_gate"]["passed"]
    assert read_labels(tmp_path / "out") == ["负面", "正面"]
    assert _leftovers(tmp_path) == ["out"]


@pytest.mark.slow
def test_the_gate_stops_a_swapped_model_before_the_push(tmp_path, named_base):
    """--label-names in the other order than the head: exit 2, one line, nothing pushed, only DIR.failed."""
    hub = FakeHub()
    argv = [*_inverted_case(tmp_path, named_base, "--label-names", "正面,负面", "--push-to-hub", "someone/model")]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_TOKEN", TOKEN)
        code, stdout, stderr = _run([*argv, "--output-dir", str(tmp_path / "out")], lambda e, t: hub)
    assert code == 2
    line = _error_line(stderr)
    assert line.startswith("error: sanity gate: validation accuracy 0.0000 on 24 rows")
    assert "looks like swapped labels" in line and "the base's head reads 负面,正面" in line
    assert "--allow-weak" in line and TOKEN not in stdout + stderr
    assert hub.calls == []
    assert _leftovers(tmp_path) == ["out.failed"]  # nothing under the final name, no working folder
    failed = tmp_path / "out.failed"
    assert validate_artifact(failed) == [] and not (failed / "checkpoints").exists()
    assert json.loads((failed / "metrics.json").read_text(encoding="utf-8"))["sanity_gate"]["passed"] is False

    with pytest.MonkeyPatch.context() as mp:  # --allow-weak: kept, said, pushed; the stale .failed goes
        mp.setenv("HF_TOKEN", TOKEN)
        code, stdout, stderr = _run([*argv, "--allow-weak", "--output-dir", str(tmp_path / "out")], lambda e, t: hub)
    assert code == 0, stderr
    assert "warning: sanity gate:" in stdout and "upload_folder" in hub.names()
    assert _leftovers(tmp_path) == ["out"]


# ---- leftovers and Ctrl-C -------------------------------------------------------------------------


def test_a_run_that_fails_early_leaves_no_folder(tmp_path):
    tiny.write_reviews(tmp_path / "train.csv", tiny.REVIEWS)
    argv = ["--base-model", "scratch", "--full-finetune", "--train-file", str(tmp_path / "train.csv")]
    out = ["--output-dir", str(tmp_path / "out")]
    code, _, stderr = _run([*argv, "--validation-file", str(tmp_path / "missing.csv"), *out])
    assert code == 2 and "missing.csv does not exist" in stderr
    assert _leftovers(tmp_path) == []


def _scratch_recipe(root: Path) -> Path:
    recipe = root / "scratch.yaml"
    shape = {"tokenizer": "char", "hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 24}
    settings = {"base_model": "scratch", "full_finetune": True, "max_length": 32, "max_steps": 4, "batch_size": 8}
    recipe.write_text(yaml.safe_dump({**settings, "scratch": {**shape, "min_freq": 1}}), encoding="utf-8")
    return recipe


@pytest.mark.slow
def test_ctrl_c_says_so_and_keeps_the_checkpoint_for_resume(tmp_path, monkeypatch):
    from transformers import TrainerCallback

    from training import train_and_push

    class StopAtFirstSave(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            raise KeyboardInterrupt

    real = train_and_push.make_trainer

    def make_trainer(*args, **kwargs):
        trainer = real(*args, **kwargs)
        trainer.add_callback(StopAtFirstSave())
        return trainer

    tiny.write_reviews(tmp_path / "train.csv", tiny.REVIEWS)
    files = ["--train-file", str(tmp_path / "train.csv"), "--validation-file", str(tmp_path / "train.csv")]
    argv = [str(_scratch_recipe(tmp_path)), *files, "--output-dir", str(tmp_path / "out")]
    monkeypatch.setattr(train_and_push, "make_trainer", make_trainer)
    code, _, stderr = _run(argv)
    monkeypatch.undo()
    assert code == 130
    line = _error_line(stderr)
    partial = outputs.work_dir(tmp_path / "out")
    assert line == (
        f"error: interrupted; the last checkpoint is {partial / 'checkpoints' / 'checkpoint-3'}: "
        "rerun the same command with --resume to continue from it"
    )
    assert _leftovers(tmp_path) == ["out.partial"]
    assert [p.name for p in partial.iterdir()] == ["checkpoints"]  # no artifact files beside it

    code, stdout, stderr = _run([*argv, "--resume"])
    assert code == 0, stderr
    assert f"resuming from {partial / 'checkpoints' / 'checkpoint-3'}" in stdout
    assert json.loads((tmp_path / "out" / "metrics.json").read_text(encoding="utf-8"))["train"]["steps"] == 4
    assert _leftovers(tmp_path) == ["out"]


def test_resume_without_a_checkpoint_is_one_line(tmp_path):
    tiny.write_reviews(tmp_path / "train.csv", tiny.REVIEWS)
    files = ["--train-file", str(tmp_path / "train.csv"), "--validation-file", str(tmp_path / "train.csv")]
    code, _, stderr = _run([str(_scratch_recipe(tmp_path)), *files, "--output-dir", str(tmp_path / "out"), "--resume"])
    assert code == 2 and stderr.startswith("error: --resume: no checkpoint") and len(stderr.splitlines()) == 1
    assert _leftovers(tmp_path) == []
