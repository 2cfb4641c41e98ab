"""Loading artifacts from folders and from a local stand-in for the Hub; every error is one clear line."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import torch

from sentiment_app.config import AppConfig
from sentiment_app.model import loading
from sentiment_app.model.artifact import read_labels
from sentiment_app.model.loading import ModelLoadError, load_classifier, load_serving_classifiers
from tests import tiny
from tests.fake_hub import FakeHub, refused_endpoint, serve, silent_endpoint

SECRET = "hf_" + "S3cr3tT0ken" * 3


@pytest.fixture()
def hub(tmp_path, monkeypatch):
    """A fake Hub on localhost, with HF_ENDPOINT pointing at it and a private cache."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with serve(FakeHub()) as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        yield fake


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# ---- folders ------------------------------------------------------------------------------


def test_full_model_round_trip_keeps_label_names(full_model_dir):
    clf = load_classifier(AppConfig(model=str(full_model_dir)))
    assert clf.labels == ["负面", "正面"]
    assert clf.info.kind == "full" and clf.info.source == "local"
    assert clf.model.config.id2label == {0: "负面", 1: "正面"}
    assert clf.predict("房间干净").label in {"负面", "正面"}


def test_weights_stored_in_fp16_serve_in_fp32(tmp_path, full_model_dir):
    from transformers import AutoModelForSequenceClassification

    folder = shutil.copytree(full_model_dir, tmp_path / "half")
    AutoModelForSequenceClassification.from_pretrained(full_model_dir).half().save_pretrained(folder)
    clf = load_classifier(AppConfig(model=str(folder)))
    assert {p.dtype for p in clf.model.parameters()} == {torch.float32}
    reference = load_classifier(AppConfig(model=str(full_model_dir)))
    assert clf.logits(["房间干净"]) == pytest.approx(reference.logits(["房间干净"]), abs=1e-2)


def test_labels_come_from_config_when_labels_json_is_absent(tmp_path):
    folder = tiny.save_full_model(tmp_path / "m", labels=("差评", "中评", "好评"), with_labels_file=False)
    assert read_labels(folder) == ["差评", "中评", "好评"]
    clf = load_classifier(AppConfig(model=str(folder)))
    assert set(clf.predict("不错").probabilities) == {"差评", "中评", "好评"}


def test_adapter_is_merged_and_matches_the_unmerged_peft_model(adapter_dir, base_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    clf = load_classifier(AppConfig(model=str(adapter_dir)))
    assert clf.info.kind == "adapter" and clf.info.base_model == str(base_model_dir)
    assert clf.labels == ["负面", "正面"]
    assert not any("lora" in name for name, _ in clf.model.named_modules())  # merged: plain BERT

    base = AutoModelForSequenceClassification.from_pretrained(base_model_dir, num_labels=2)
    reference = PeftModel.from_pretrained(base, adapter_dir).eval()
    texts = ["房间干净整洁", "服务态度恶劣，非常失望。", "电池不耐用"]
    ours = clf.logits(texts)
    for row, ref in zip(ours, tiny.one_by_one_logits(reference, clf.tokenizer, texts)):
        assert row == pytest.approx(ref, abs=1e-5)
    # The adapter's trained head is used, not the base's freshly initialised one.
    assert not torch.allclose(clf.model.classifier.weight, reference.base_model.model.classifier.original_module.weight)


def test_base_model_override(adapter_dir, base_model_dir, tmp_path):
    copy = shutil.copytree(base_model_dir, tmp_path / "mirror-of-base")
    clf = load_classifier(AppConfig(model=str(adapter_dir), base_model=str(copy)))
    assert clf.info.base_model == str(copy)


def test_int8_quantization_agrees_with_fp32(full_model_dir):
    fp32 = load_classifier(AppConfig(model=str(full_model_dir)))
    int8 = load_classifier(AppConfig(model=str(full_model_dir), quantize="int8"))
    assert int8.info.quantized
    texts = [t for t, _ in tiny.REVIEWS]
    for a, b in zip(fp32.predict(texts), int8.predict(texts)):
        assert a.probabilities["正面"] == pytest.approx(b.probabilities["正面"], abs=0.02)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda d: d.mkdir(), "neither a PEFT adapter"),
        (
            lambda d: (d.mkdir(), (d / "config.json").write_text("{}"), (d / "pytorch_model.bin").write_bytes(b"x")),
            "pickle weights",
        ),
        (
            lambda d: (
                d.mkdir(),
                (d / "adapter_config.json").write_text("{}"),
                (d / "adapter_model.bin").write_bytes(b"x"),
            ),
            "pickle weights",
        ),
    ],
)
def test_folder_errors(tmp_path, make, expected):
    folder = tmp_path / "bad"
    make(folder)
    with pytest.raises(ModelLoadError) as exc:
        load_classifier(AppConfig(model=str(folder)))
    assert expected in one_line(exc)


def test_missing_folder_is_not_mistaken_for_a_hub_id(tmp_path):
    with pytest.raises(ModelLoadError) as exc:
        load_classifier(AppConfig(model=str(tmp_path / "nope" / "model")))
    assert "does not exist" in one_line(exc)
    with pytest.raises(ModelLoadError) as exc:
        load_classifier(AppConfig(model="not a repo id!"))
    assert "neither an existing folder nor a valid Hub repo id" in one_line(exc)


def test_adapter_without_classifier_head(tmp_path, base_model_dir):
    folder = tiny.save_adapter(tmp_path / "headless", base_model_dir, with_head=False)
    with pytest.raises(ModelLoadError) as exc:
        load_classifier(AppConfig(model=str(folder)))
    assert "no classifier head" in one_line(exc)


def test_adapter_on_the_wrong_base(tmp_path, adapter_dir):
    other = tiny.save_base_model(tmp_path / "wider-base", hidden=48)
    with pytest.raises(ModelLoadError) as exc:
        load_classifier(AppConfig(model=str(adapter_dir), base_model=str(other)))
    message = one_line(exc)
    assert "does not match base model" in message and "SENTIMENT_BASE_MODEL" in message


def test_adapter_whose_lora_layers_do_not_fit_the_base(tmp_path, adapter_dir):
    # Same hidden size (the head fits) but a different layer count: PEFT's error becomes one line.
    deeper = tiny.save_base_model(tmp_path / "one-layer", layers=1)
    with pytest.raises(ModelLoadError) as exc:
        load_classifier(AppConfig(model=str(adapter_dir), base_model=str(deeper)))
    assert "does not fit base model" in one_line(exc)


def test_base_with_pickle_weights_only(tmp_path, adapter_dir, base_model_dir):
    pickled = tmp_path / "pickled-base"
    shutil.copytree(base_model_dir, pickled)
    (pickled / "model.safetensors").unlink()
    torch.save({}, pickled / "pytorch_model.bin")
    with pytest.raises(ModelLoadError) as exc:
        load_classifier(AppConfig(model=str(adapter_dir), base_model=str(pickled)))
    assert "safetensors" in one_line(exc)


def test_label_count_must_match_the_head(tmp_path, full_model_dir):
    folder = shutil.copytree(full_model_dir, tmp_path / "m")
    (folder / "labels.json").write_text(json.dumps({"labels": ["a", "b", "c"]}))
    with pytest.raises(ModelLoadError) as exc:
        load_classifier(AppConfig(model=str(folder)))
    assert "3 labels" in one_line(exc)


def test_tokenizer_from_another_model(tmp_path, full_model_dir):
    from transformers import BertTokenizer

    folder = shutil.copytree(full_model_dir, tmp_path / "m")
    big_vocab = tiny.SPECIALS + [chr(0x4E00 + i) for i in range(2000)]
    BertTokenizer(vocab={t: i for i, t in enumerate(big_vocab)}).save_pretrained(folder)
    with pytest.raises(ModelLoadError) as exc:
        load_classifier(AppConfig(model=str(folder)))
    assert "tokenizer" in one_line(exc)


# ---- the Hub (a local stand-in running the real huggingface_hub download code) -----------------


def test_adapter_and_its_base_from_the_hub(hub, tmp_path, adapter_dir, base_model_dir):
    repo_adapter = shutil.copytree(adapter_dir, tmp_path / "repo-adapter")
    config = json.loads((repo_adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "tiny/base"
    (repo_adapter / "adapter_config.json").write_text(json.dumps(config))
    (base_model_dir / "pytorch_model.bin").write_bytes(b"never downloaded")  # pickles are not fetched
    hub.add_repo("tiny/base", base_model_dir)
    hub.add_repo("team/sentiment-lora", repo_adapter)
    try:
        clf = load_classifier(AppConfig(model="team/sentiment-lora"))
    finally:
        (base_model_dir / "pytorch_model.bin").unlink()
    assert clf.info.source == "hub" and clf.info.base_model == "tiny/base"
    assert clf.labels == ["负面", "正面"]
    fetched = [path for method, path, _ in hub.requests if method == "GET" and "/resolve/" in path]
    assert any(p.endswith("adapter_model.safetensors") for p in fetched)
    assert not any(p.endswith(".bin") for p in fetched)
    local = load_classifier(AppConfig(model=str(adapter_dir)))
    assert clf.logits(["房间干净"]) == pytest.approx(local.logits(["房间干净"]), abs=1e-6)


def test_adapter_naming_the_legacy_base_id_finds_the_canonical_cache_offline(
    hub, tmp_path, monkeypatch, adapter_dir, base_model_dir
):
    """bert-base-chinese is google-bert/bert-base-chinese on today's Hub: a cache filled under the canonical id
    (preload_from_hub, an earlier download) serves an adapter whose config names the old id, offline."""
    from huggingface_hub import constants, snapshot_download

    hub.add_repo("google-bert/bert-base-chinese", base_model_dir)
    snapshot_download("google-bert/bert-base-chinese", endpoint=hub.url)  # the Space's preload, say
    legacy = shutil.copytree(adapter_dir, tmp_path / "legacy-adapter")
    config = json.loads((legacy / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "bert-base-chinese"
    (legacy / "adapter_config.json").write_text(json.dumps(config))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clf = load_classifier(AppConfig(model=str(legacy)))
    local = load_classifier(AppConfig(model=str(adapter_dir)))
    assert clf.logits(["房间干净"]) == pytest.approx(local.logits(["房间干净"]), abs=1e-6)


def test_revision_is_passed_through(hub, full_model_dir):
    hub.add_repo("team/full", full_model_dir)
    commit = hub.commit("team/full")
    clf = load_classifier(AppConfig(model="team/full", revision=commit))
    assert clf.info.revision == commit
    with pytest.raises(ModelLoadError) as exc:
        load_classifier(AppConfig(model="team/full", revision="no-such-branch"))
    assert "has no revision 'no-such-branch'" in one_line(exc)


def test_repo_not_found(hub):
    with pytest.raises(ModelLoadError) as exc:
        load_classifier(AppConfig(model="team/does-not-exist"))
    message = one_line(exc)
    assert "team/does-not-exist was not found" in message and "HF_TOKEN" in message


def test_private_repo_needs_the_token_and_never_shows_it(hub, full_model_dir):
    hub.add_repo("team/private", full_model_dir, token=SECRET)
    with pytest.raises(ModelLoadError) as exc:
        load_classifier(AppConfig(model="team/private"))
    assert "private" in one_line(exc) and "set HF_TOKEN" in one_line(exc)
    with pytest.raises(ModelLoadError) as exc:
        load_classifier(
            AppConfig(model="team/private", token="hf_" + "wrong" * 6)
        )  # built here: no token-shaped literal in the repository
    assert "token is valid" in one_line(exc) and "hf_wrong" not in one_line(exc)
    config = AppConfig(model="team/private", token=SECRET)
    assert SECRET not in repr(config)
    clf = load_classifier(config)
    assert clf.labels == ["负面", "正面"] and SECRET not in repr(clf.info)
    assert ("GET", "/api/models/team/private/revision/main", f"Bearer {SECRET}") in hub.requests


def test_unreachable_hub_is_one_line_and_fast(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_ENDPOINT", refused_endpoint())
    start = time.monotonic()
    with pytest.raises(ModelLoadError) as exc:
        load_classifier(AppConfig(model="team/sentiment-lora"))
    assert time.monotonic() - start < 15
    message = one_line(exc)
    assert "cannot reach the Hub" in message and "HF_ENDPOINT" in message and "local folder" in message


def test_silent_network_gives_up_after_the_timeout(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    with silent_endpoint() as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        start = time.monotonic()
        with pytest.raises(ModelLoadError) as exc:
            load_classifier(AppConfig(model="team/sentiment-lora", hub_timeout=1.0))
        elapsed = time.monotonic() - start
    assert "cannot reach the Hub" in one_line(exc)
    assert elapsed < 30


def test_offline_mode_names_the_variable(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as exc:
        load_classifier(AppConfig(model="team/sentiment-lora"))
    assert "HF_HUB_OFFLINE" in one_line(exc)


# ---- what the app serves ------------------------------------------------------------------


@pytest.fixture()
def embedded(monkeypatch, full_model_dir):
    monkeypatch.setattr(loading, "EMBEDDED_MODEL_DIR", Path(full_model_dir))
    return full_model_dir


def test_nothing_configured_serves_the_embedded_model(embedded):
    [clf] = load_serving_classifiers(AppConfig())
    assert clf.info.source == "embedded" and clf.info.warning is None


def test_configured_model_first_then_embedded_for_comparison(embedded, adapter_dir):
    primary, second = load_serving_classifiers(AppConfig(model=str(adapter_dir)))
    assert primary.info.kind == "adapter" and second.info.source == "embedded"


def test_fallback_when_the_configured_model_fails(embedded, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_ENDPOINT", refused_endpoint())
    [clf] = load_serving_classifiers(AppConfig(model="team/sentiment-lora"))
    assert clf.info.source == "embedded"
    assert "team/sentiment-lora could not be loaded" in clf.info.warning
    assert "cannot reach the Hub" in clf.info.warning
    with pytest.raises(ModelLoadError):
        load_serving_classifiers(AppConfig(model="team/sentiment-lora", fallback=False))
