"""Training on several processes: ``torchrun --standalone --nproc_per_node 2`` on CPU (gloo).

A tiny LoRA model (tests/tiny.py) trains for a few steps in two processes; one artifact comes out,
written once, that the app's loader serves with its label names; the push (to a recording stand-in
for the Hub, as in tests/test_training_push.py) happens once, from the main process. The same data
in one process with twice the per-device batch (the same global batch, the same batch order, no
dropout) ends at the same weights. Tiny models check plumbing, not accuracy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sentiment_app.config import AppConfig
from sentiment_app.model.artifact import validate_artifact
from sentiment_app.model.loading import load_classifier
from tests import tiny
from tests.test_training_e2e import _data, _run

pytestmark = pytest.mark.slow  # two processes importing torch and training: ~30-60 s on 2 shared cores

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_" + "DDPSECRETtoken1234567890"  # a fake, built so no token-shaped literal is committed
REPO = "someone/tiny-sentiment-ddp"
STEPS = 15
PER_DEVICE = 4
WORLD = 2

# Runs the real entry point under torchrun, with the recording Hub stand-in; each rank writes what it pushed.
LAUNCHER = """
import json, os, sys
sys.path.insert(0, {root!r})
from tests.test_training_push import FakeHub
from training.train_and_push import main

hub = FakeHub()
code = main(sys.argv[1:], api_factory=lambda endpoint, token: hub)
with open(os.path.join({calls!r}, "rank" + os.environ["RANK"] + ".json"), "w") as handle:
    json.dump(hub.names(), handle)
sys.exit(code)
"""


def _argv(root: Path, base: Path, out: Path, batch_size: int, *, push: bool) -> list[str]:
    return [
        "--base-model",
        str(base),
        *_data(root),
        "--max-steps",
        str(STEPS),
        "--batch-size",
        str(batch_size),
        "--learning-rate",
        "2e-2",
        "--lora-dropout",
        "0",
        "--logging-steps",
        "1",
        "--output-dir",
        str(out),
        *(["--push-to-hub", REPO] if push else []),
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("ddp")
    base = tiny.save_base_model(root / "base")
    # no dropout anywhere: the two runs then differ only by the order of float sums
    config_file = base / "config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    config_file.write_text(json.dumps(config), encoding="utf-8")
    calls = root / "calls"
    calls.mkdir()
    launcher = root / "launch.py"
    launcher.write_text(LAUNCHER.format(root=str(ROOT), calls=str(calls)), encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SENTIMENT_", "WORLD_SIZE", "RANK"))}
    environ.update(HF_TOKEN=TOKEN, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    ddp_out = root / "ddp-out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={WORLD}",
            str(launcher),
            *_argv(root, base, ddp_out, PER_DEVICE, push=True),
        ],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=900,
    )
    single_out = root / "single-out"
    code, _, _ = _run(_argv(root, base, single_out, PER_DEVICE * WORLD, push=False))
    return {"ddp": done, "ddp_out": ddp_out, "calls": calls, "single_code": code, "single_out": single_out}


def _metrics(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text(encoding="utf-8"))


def test_two_processes_write_one_artifact_the_app_serves(runs):
    done = runs["ddp"]
    assert done.returncode == 0, done.stderr[-4000:]
    out = runs["ddp_out"]
    assert validate_artifact(out) == []
    assert not (out / "checkpoints").exists() and not (out / "training_args.bin").exists()
    metrics = _metrics(out)
    assert metrics["train"]["steps"] == STEPS
    assert "validation" in metrics and "test" in metrics
    assert done.stdout.count("artifact: ") == 1  # the main process writes and reports it, the other does not
    classifier = load_classifier(AppConfig(model=str(out), threads=1))
    assert classifier.labels == ["负面", "正面"]
    assert classifier.predict("房间干净，服务热情。").label in ("负面", "正面")


def test_the_push_happens_once_from_the_main_process(runs):
    assert runs["ddp"].returncode == 0, runs["ddp"].stderr[-4000:]
    pushed = {name: json.loads((runs["calls"] / name).read_text()) for name in ("rank0.json", "rank1.json")}
    assert pushed["rank0.json"].count("upload_folder") == 1
    assert pushed["rank1.json"] == []
    assert TOKEN not in runs["ddp"].stdout + runs["ddp"].stderr


def test_two_processes_train_what_one_process_trains_with_the_same_global_batch(runs):
    """2 processes x 4 rows against 1 x 8, same seed, no dropout: the sampler gives each step the same 8 rows
    (4 per rank), so the trained weights agree to float rounding. A rank training alone, on the wrong share or
    with the loss scaled by the number of processes would end elsewhere."""
    from safetensors.torch import load_file

    assert runs["ddp"].returncode == 0 and runs["single_code"] == 0
    ddp, single = _metrics(runs["ddp_out"]), _metrics(runs["single_out"])
    assert ddp["train"]["steps"] == single["train"]["steps"] == STEPS
    assert abs(ddp["train"]["loss"] - single["train"]["loss"]) < 1e-4
    # evaluation: every validation row once; the loss averages per-rank batches, one padded with a repeat
    assert ddp["validation"]["samples"] == single["validation"]["samples"]
    assert ddp["validation"]["accuracy"] == single["validation"]["accuracy"]
    assert abs(ddp["validation"]["loss"] - single["validation"]["loss"]) < 0.01
    trained = {
        name: load_file(folder / "adapter_model.safetensors")
        for name, folder in (("ddp", runs["ddp_out"]), ("single", runs["single_out"]))
    }
    assert trained["ddp"].keys() == trained["single"].keys()
    moved = max(float(t.abs().max()) for k, t in trained["single"].items() if "lora_B" in k)  # lora_B starts at 0
    assert moved > 1e-3
    for key, weight in trained["ddp"].items():
        assert (weight - trained["single"][key]).abs().max() < 1e-5, key
