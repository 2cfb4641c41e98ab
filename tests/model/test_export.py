"""``python -m sentiment_app export``: the exported folder, loaded by ``transformers.pipeline``, answers
as the app does (label names, probabilities within 1e-4), for the embedded model and a merged tiny adapter;
calibration folding; errors; the push through a fake Hub API. Tiny models check plumbing, not accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from sentiment_app import cli
from sentiment_app.config import AppConfig
from sentiment_app.model import export
from sentiment_app.model.artifact import validate_artifact
from sentiment_app.model.loading import load_classifier
from tests import tiny

TEXTS = [
    "房间干净整洁，服务态度非常好，下次还会再来。",
    "电脑用了三天就死机，质量太差了。",
    "还行吧，一般般。",
    "快递第二天就到了，包装完好，好评！",
]
TOKEN = "hf_" + "EXPORTtestSECRET" + "0123456789ab"  # built at runtime: no token-shaped literal in the repo


def app_answers(config: AppConfig) -> list[dict[str, float]]:
    """What the app serves for TEXTS (its default path: packed, batched)."""
    return [p.probabilities for p in load_classifier(config).predict(TEXTS)]


def pipeline_answers(folder: Path) -> list[dict[str, float]]:
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(folder), top_k=None, device="cpu")
    return [{item["label"]: item["score"] for item in result} for result in classify(TEXTS)]


def assert_same(app: list[dict[str, float]], exported: list[dict[str, float]]) -> None:
    for ours, theirs in zip(app, exported, strict=True):
        assert set(ours) == set(theirs)
        for label in ours:
            assert abs(ours[label] - theirs[label]) < 1e-4, (label, ours, theirs)


def test_the_embedded_model_exported_answers_like_the_app(tmp_path, capsys):
    out = tmp_path / "export"
    assert cli.main(["export", "embedded", str(out)]) == 0, capsys.readouterr().err
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["id2label"] == {"0": "负面", "1": "正面"} and config["label2id"] == {"负面": 0, "正面": 1}
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert not list(out.glob("*.bin")) and validate_artifact(out) == []
    with safe_open(str(out / "model.safetensors"), framework="pt") as weights:
        assert weights.get_tensor("classifier.weight").dtype == torch.float32  # plain fp32, not the packed path
        assert not any("qkv" in key or "packed" in key for key in weights.keys())
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "pipeline_tag: text-classification" in card and "transformers.pipeline" in card
    assert "text-embeddings-inference" in card and "/predict" in card and "ray" in card.lower()
    assert_same(app_answers(AppConfig()), pipeline_answers(out))


def test_an_adapter_is_merged_and_its_export_answers_like_the_app(tmp_path, base_model_dir):
    adapter = tiny.save_adapter(tmp_path / "adapter", base_model_dir)
    out = export.export_model(AppConfig(model=str(adapter)), tmp_path / "merged", log=lambda line: None)
    names = {p.name for p in out.iterdir()}
    assert "adapter_config.json" not in names and "model.safetensors" in names
    with safe_open(str(out / "model.safetensors"), framework="pt") as weights:
        assert not any("lora" in key for key in weights.keys())
    assert_same(app_answers(AppConfig(model=str(adapter))), pipeline_answers(out))
    assert load_classifier(AppConfig(model=str(out))).labels == ["负面", "正面"]  # the app serves it too


def test_a_calibration_temperature_is_folded_into_the_classifier(tmp_path):
    source = tiny.save_full_model(tmp_path / "calibrated")
    (source / "calibration.json").write_text(json.dumps({"temperature": 2.5}), encoding="utf-8")
    out = export.export_model(AppConfig(model=str(source)), tmp_path / "out", log=lambda line: None)
    original = load_classifier(AppConfig(model=str(source), packed=False))
    exported = load_classifier(AppConfig(model=str(out), packed=False))
    reference = tiny.one_by_one_logits(original.explain_model, original.tokenizer, TEXTS)
    folded = tiny.one_by_one_logits(exported.explain_model, exported.tokenizer, TEXTS)
    np.testing.assert_allclose(folded, reference / 2.5, atol=1e-5)
    assert "temperature 2.5 is folded" in (out / "README.md").read_text(encoding="utf-8")
    assert json.loads((out / "export.json").read_text())["calibration_temperature"] == 2.5


def test_generic_labels_take_the_labels_flag(tmp_path, base_model_dir, capsys):
    adapter = tiny.save_adapter(tmp_path / "adapter", base_model_dir)
    (adapter / "labels.json").unlink()
    assert cli.main(["export", str(adapter), str(tmp_path / "out"), "--labels", "差评,好评"]) == 0
    assert json.loads((tmp_path / "out" / "config.json").read_text())["id2label"] == {"0": "差评", "1": "好评"}


@pytest.mark.parametrize("case", ["non-empty output", "missing model", "bad calibration"])
def test_mistakes_are_one_line_and_leave_nothing_behind(tmp_path, capsys, case):
    out = tmp_path / "out"
    model = "embedded"
    if case == "non-empty output":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    elif case == "missing model":
        model = str(tmp_path / "nowhere")
    else:
        model = str(tiny.save_full_model(tmp_path / "m"))
        (Path(model) / "calibration.json").write_text(json.dumps({"temperature": -1}))
    capsys.readouterr()
    assert cli.main(["export", model, str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out.partial"))
    assert leftovers == []
    if case == "non-empty output":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
    else:
        assert not out.exists()


class FakeApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def create_repo(self, repo_id: str, **kwargs) -> str:
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs))
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{kwargs['repo_id']}/commit/abc"})()


def test_push_to_hub_uploads_the_export_and_never_prints_the_token(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    out = export.export_model(AppConfig(), tmp_path / "out", log=lambda line: None)
    api = FakeApi()
    url = export.push_export(out, "someone/sentiment-merged", private=True, api=api)
    assert [name for name, _ in api.calls] == ["create_repo", "upload_folder"]
    assert api.calls[0][1]["private"] is True and api.calls[1][1]["folder_path"] == str(out)
    assert api.calls[1][1]["token"] == TOKEN and url.endswith("/commit/abc")
    assert TOKEN not in capsys.readouterr().err


def test_push_without_a_token_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("sentiment_app.model.hub_push.hub_token", lambda: None)
    out = export.export_model(AppConfig(), tmp_path / "out", log=lambda line: None)
    with pytest.raises(export.ExportError, match="HF_TOKEN"):
        export.push_export(out, "someone/sentiment-merged", api=FakeApi())
    with pytest.raises(export.ExportError, match="valid Hub repo id"):
        export.push_export(out, "not a repo", api=FakeApi())
