"""Full-model weights are split into shards a Space takes without LFS (training/train_and_push.py)."""

from __future__ import annotations

import json

import numpy as np

from sentiment_app.config import AppConfig
from sentiment_app.model.loading import load_classifier
from tests import tiny
from training.train_and_push import shard_weights


def test_big_weights_become_shards_that_load_to_the_same_model(tmp_path):
    folder = tiny.save_full_model(tmp_path / "m", hidden=64)
    (folder / "metrics.json").write_text("{}")
    before = load_classifier(AppConfig(), str(folder)).logits(["房间干净", "质量太差了"])
    size = (folder / "model.safetensors").stat().st_size
    shard_weights(folder, max_bytes=size // 3)
    assert not (folder / "model.safetensors").exists()
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    files = sorted(set(index["weight_map"].values()))
    assert len(files) >= 3 and all(
        (folder / f).stat().st_size <= size // 3 + 64 * 1024
        for f in files
        if len([n for n, v in index["weight_map"].items() if v == f]) > 1
    )
    after = load_classifier(AppConfig(), str(folder)).logits(["房间干净", "质量太差了"])
    assert np.array_equal(before, after)


def test_small_weights_stay_one_file(tmp_path):
    folder = tiny.save_full_model(tmp_path / "m")
    shard_weights(folder, max_bytes=10 << 20)
    assert (folder / "model.safetensors").is_file() and not (folder / "model.safetensors.index.json").exists()
