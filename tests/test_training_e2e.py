"""End to end: train a tiny model on handwritten reviews with the real script, then serve it with the app's loader.

Tiny base (2-layer BERT, character vocabulary) and a few dozen reviews: the runs check plumbing
(files, card metadata, label names, loading, pushing), not accuracy.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from safetensors import safe_open

from sentiment_app.config import AppConfig
from sentiment_app.model.artifact import artifact_kind, read_labels, validate_artifact
from sentiment_app.model.loading import load_classifier
from tests import tiny
from tests.test_training_push import FakeHub, http_error
from training.train_and_push import main

# Several training runs of the script; the module's first test also pays for the shared LoRA run.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TOKEN = "hf_" + "E2ESECRETtoken0987654321"  # a fake, built so no token-shaped literal is committed
REPO = "someone/tiny-sentiment"
ADAPTER_FILES = {
    "adapter_config.json",
    "adapter_model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "labels.json",
    "metrics.json",
    "training_config.json",
    "README.md",
    "calibration.json",
}


def _data(folder: Path) -> list[str]:
    """Train (csv), validation (jsonl), test (parquet) files with string labels 负面/正面 and custom columns."""
    return tiny.split_files_flags(folder, ("负面", "正面"))


def _run(argv: list[str], api_factory: Any = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv, api_factory=api_factory)
    return code, out.getvalue(), err.getvalue()


def _front_matter(card: Path) -> tuple[dict, str]:
    text = card.read_text(encoding="utf-8")
    front, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(front), body


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory) -> dict[str, Any]:
    """One LoRA run on the tiny base with a push to a fake Hub, HF_TOKEN and an HF_ENDPOINT mirror set."""
    root = tmp_path_factory.mktemp("lora")
    base = tiny.save_base_model(root / "base")
    out = root / "out"
    hub = FakeHub()
    factory_calls: list[tuple[str, str]] = []

    def factory(endpoint: str, token: str) -> FakeHub:
        factory_calls.append((endpoint, token))
        return hub

    argv = [
        "--base-model",
        str(base),
        *_data(root),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--learning-rate",
        "5e-3",
        "--logging-steps",
        "1",
        "--output-dir",
        str(out),
        "--push-to-hub",
        REPO,
        "--private",
    ]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_TOKEN", TOKEN)
        mp.setenv("HF_ENDPOINT", "https://hf-mirror.example")
        code, stdout, stderr = _run(argv, factory)
    return {
        "code": code,
        "stdout": stdout,
        "stderr": stderr,
        "out": out,
        "base": base,
        "hub": hub,
        "factory_calls": factory_calls,
    }


def test_lora_artifact_follows_the_contract(lora_run):
    out = lora_run["out"]
    assert lora_run["code"] == 0, lora_run["stderr"][-2000:]
    assert validate_artifact(out) == []
    assert artifact_kind(out) == "adapter"
    assert {p.name for p in out.iterdir()} == ADAPTER_FILES  # no checkpoints, no pickles, nothing else
    assert read_labels(out) == ["负面", "正面"]
    adapter_config = json.loads((out / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(lora_run["base"].resolve())
    assert "classifier" in adapter_config["modules_to_save"]
    assert set(adapter_config["target_modules"]) == {"query", "value"}
    assert (adapter_config["r"], adapter_config["lora_alpha"]) == (8, 16)


def test_the_classifier_head_was_trained_and_saved(lora_run):
    with safe_open(str(lora_run["out"] / "adapter_model.safetensors"), "pt") as adapter:
        keys = list(adapter.keys())
        head_key = next(k for k in keys if ".classifier." in k and k.endswith("weight"))
        head = adapter.get_tensor(head_key)
    with safe_open(str(lora_run["base"] / "model.safetensors"), "pt") as base:
        base_head = base.get_tensor("classifier.weight")
    assert head.shape == base_head.shape == (2, 32)
    assert not head.equal(base_head)  # trained, not the base's head
    assert any("lora_A" in k for k in keys) and any("lora_B" in k for k in keys)


def test_metrics_and_training_config(lora_run):
    out = lora_run["out"]
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    for split, rows in (("validation", 6), ("test", 6)):
        report = metrics[split]
        assert report["samples"] == rows and report["labels"] == ["负面", "正面"]
        assert sum(map(sum, report["confusion_matrix"])) == rows
        assert 0 <= report["accuracy"] <= 1 and 0 <= report["f1_macro"] <= 1
    assert metrics["train"]["steps"] == 6  # 24 rows / batch 8 x 2 epochs
    assert metrics["best_checkpoint"]["metric"] == "f1_macro" and metrics["best_checkpoint"]["value"] is not None
    assert 0 < metrics["parameters"]["trainable"] < metrics["parameters"]["total"]
    record = json.loads((out / "training_config.json").read_text(encoding="utf-8"))
    assert record["config"]["lora_r"] == 8 and record["config"]["text_column"] == "review"
    assert record["resolved"]["labels"] == ["负面", "正面"] and record["resolved"]["kind"] == "adapter"
    assert record["command"].startswith("python training/train_and_push.py --base-model")


def test_model_card(lora_run):
    meta, body = _front_matter(lora_run["out"] / "README.md")
    assert meta["library_name"] == "peft" and meta["language"] == "zh"
    assert meta["pipeline_tag"] == "text-classification"
    assert meta["model-index"][0]["name"] == "tiny-sentiment"
    metrics = json.loads((lora_run["out"] / "metrics.json").read_text(encoding="utf-8"))
    test_accuracy = next(
        m["value"]
        for r in meta["model-index"][0]["results"]
        if r["dataset"]["split"] == "test"
        for m in r["metrics"]
        if m["type"] == "accuracy"
    )
    assert test_accuracy == pytest.approx(round(metrics["test"]["accuracy"], 4))
    assert "base_model" not in meta  # a local base folder is no Hub id; the body names it
    assert str(lora_run["base"].resolve()) in body
    assert f"--push-to-hub {REPO} --private" in body and "| test | 6 |" in body


def test_the_app_loader_serves_it_with_label_names(lora_run):
    classifier = load_classifier(AppConfig(model=str(lora_run["out"])))
    predictions = classifier.predict(["房间干净，服务很好。", "质量太差了，不推荐。"])
    assert [p.label in ("负面", "正面") for p in predictions] == [True, True]
    assert set(predictions[0].probabilities) == {"负面", "正面"}
    assert classifier.info.kind == "adapter" and classifier.info.labels == ("负面", "正面")
    assert classifier.info.metrics["test"]["samples"] == 6


def test_the_batch_cli_serves_it_with_label_names(lora_run, tmp_path):
    import pandas as pd

    from sentiment_app.cli import main as cli_main

    source = tiny.write_reviews(tmp_path / "reviews.csv", tiny.HELD_OUT_REVIEWS, text_column="评论")
    result = tmp_path / "result.csv"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = cli_main(["predict", str(source), "-o", str(result), "--model", str(lora_run["out"]), "-q"])
    assert code == 0
    table = pd.read_csv(result, encoding="utf-8-sig")
    assert len(table) == len(tiny.HELD_OUT_REVIEWS)
    assert set(table["sentiment"]) <= {"负面", "正面"}
    assert {"prob_负面", "prob_正面"} <= set(table.columns)


def test_push_went_to_the_hub_not_the_mirror(lora_run):
    assert lora_run["factory_calls"] == [("https://huggingface.co", TOKEN)]
    hub = lora_run["hub"]
    assert hub.names() == ["create_repo", "upload_folder"]
    assert hub.calls[0][1]["private"] is True and hub.calls[0][1]["exist_ok"] is True
    assert hub.calls[1][1]["folder_path"] == str(lora_run["out"])
    assert "macro F1" in hub.calls[1][1]["commit_message"]
    assert "HF_ENDPOINT=https://hf-mirror.example is used for downloads only" in lora_run["stdout"]
    assert f"pushed {len(ADAPTER_FILES)} files to https://huggingface.co/{REPO}" in lora_run["stdout"]


def test_the_token_appears_nowhere(lora_run):
    assert TOKEN not in lora_run["stdout"] and TOKEN not in lora_run["stderr"]
    for path in lora_run["out"].rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path.name


def _scratch_recipe(tmp_path: Path, settings: dict, scratch: dict) -> Path:
    """compact.yaml for a tiny scratch model (1 layer, 32 wide, 2 epochs): ``settings`` and the
    ``scratch:`` section's ``scratch`` on top of what both scratch tests share."""
    recipe = tmp_path / "compact.yaml"
    shape = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64}
    base = {
        "base_model": "scratch",
        "full_finetune": True,
        "max_length": 64,
        "epochs": 2,
        "batch_size": 8,
        "learning_rate": 5e-3,
        "logging_steps": 1,
    }
    recipe.write_text(yaml.safe_dump(base | settings | {"scratch": scratch | shape}), encoding="utf-8")
    return recipe


def test_scratch_full_model_and_dry_run(tmp_path):
    """The compact-model mode: a character vocabulary from the training texts, a fresh BERT, a full artifact."""
    recipe = _scratch_recipe(
        tmp_path, {"dataset_name": "lansinuote/ChnSentiCorp"}, {"tokenizer": "char", "min_freq": 1}
    )
    out = tmp_path / "compact"

    def no_upload(endpoint: str, token: str):
        raise AssertionError("--dry-run must not contact the Hub")

    code, stdout, stderr = _run(
        [str(recipe), *_data(tmp_path), "--output-dir", str(out), "--push-to-hub", REPO, "--dry-run"], no_upload
    )
    assert code == 0, stderr[-2000:]
    assert validate_artifact(out) == [] and artifact_kind(out) == "full"
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["id2label"] == {"0": "负面", "1": "正面"}
    assert (config["hidden_size"], config["num_hidden_layers"], config["max_position_embeddings"]) == (32, 1, 64)
    vocab = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    assert set(vocab) - set(tiny.SPECIALS) == {ch for text, _ in tiny.REVIEWS for ch in text}  # train texts only
    assert config["vocab_size"] == len(vocab)
    with safe_open(str(out / "model.safetensors"), "pt") as weights:
        assert {str(weights.get_tensor(k).dtype) for k in weights.keys()} == {"torch.float32"}
    meta, body = _front_matter(out / "README.md")
    assert meta["library_name"] == "transformers" and meta["datasets"] == ["lansinuote/ChnSentiCorp"]
    assert "trained from scratch" in body
    assert f"dry run: would upload {len(list(out.iterdir()))} files" in stdout
    assert "  model.safetensors  (" in stdout and "(branch main, public if created)" in stdout
    classifier = load_classifier(AppConfig(model=str(out)))
    assert classifier.predict("服务很好").label in ("负面", "正面")
    assert classifier.info.kind == "full" and classifier.info.labels == ("负面", "正面")


def test_push_failure_keeps_the_artifact_and_a_rerun_replaces_it(tmp_path, base_model_dir, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    out = tmp_path / "out"
    common = [
        "--base-model",
        str(base_model_dir),
        *_data(tmp_path),
        "--max-steps",
        "2",
        "--batch-size",
        "8",
        "--output-dir",
        str(out),
    ]
    hub = FakeHub(create_repo=[http_error(403, f"forbidden for {TOKEN}")])
    code, stdout, stderr = _run(common + ["--push-to-hub", REPO], lambda endpoint, token: hub)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert lines[-1].startswith("error: the token may not write to someone/tiny-sentiment (HTTP 403)")
    assert f"kept in {out}" in lines[-1] and "Traceback" not in stderr and TOKEN not in stderr + stdout
    assert validate_artifact(out) == [] and artifact_kind(out) == "adapter"
    assert not (out / "checkpoints").exists()

    code, _, stderr = _run(common + ["--full-finetune"])
    assert code == 0, stderr[-2000:]
    assert artifact_kind(out) == "full" and validate_artifact(out) == []
    assert not (out / "adapter_config.json").exists()  # the earlier adapter is gone, not left beside the model
    assert json.loads((out / "metrics.json").read_text())["train"]["steps"] == 2


def test_scratch_bpe_model_stored_in_float16(tmp_path):
    """The embedded model's recipe shape: BPE pieces from the training texts, float16 on disk, float32 served."""
    recipe = _scratch_recipe(
        tmp_path,
        {
            "adam_beta2": 0.98,
            "adam_epsilon": 1e-6,
            "save_dtype": "float16",
            "card_notes": "A test model: its notes reach the card.",
        },
        {"tokenizer": "bpe", "vocab_size": 300, "max_piece_length": 3, "min_freq": 1},
    )
    out = tmp_path / "compact"
    code, stdout, stderr = _run([str(recipe), *_data(tmp_path), "--output-dir", str(out)])
    assert code == 0, stderr[-2000:]
    assert validate_artifact(out) == []
    vocab = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    pieces = [p for p in vocab if p not in tiny.SPECIALS]
    assert any(len(p) > 1 for p in pieces) and max(len(p) for p in pieces) <= 3
    with safe_open(str(out / "model.safetensors"), "pt") as weights:
        assert {str(weights.get_tensor(k).dtype) for k in weights.keys()} <= {"torch.float16", "torch.int64"}
    record = json.loads((out / "training_config.json").read_text(encoding="utf-8"))
    assert record["config"]["adam_beta2"] == 0.98 and record["config"]["save_dtype"] == "float16"
    _, body = _front_matter(out / "README.md")
    assert "BPE vocabulary" in body and "A test model: its notes reach the card." in body
    classifier = load_classifier(AppConfig(model=str(out)))
    assert {p.dtype for p in classifier.model.parameters()} == {__import__("torch").float32}
    text = "服务很好，ＯＫ！房间干净"
    from sentiment_app.explain import explain

    result = explain(classifier, text)  # multi-character pieces and NFKC still map back to every character
    assert len(result.weights) == len(text) and any(w != 0 for w in result.weights)
    assert classifier.predict(text * 30).windows > 1
