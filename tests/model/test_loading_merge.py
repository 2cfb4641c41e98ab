"""LoRA merged straight from the adapter's safetensors, BERT built from its weights: the answers of the
PEFT/transformers path (the reference), and every unusual adapter either merged exactly or sent there.

Exactness only; the start-up time this saves is measured by ``benchmarks/bench_inference.py --whole-job``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sentiment_app.config import AppConfig
from sentiment_app.explain import explain
from sentiment_app.model import merging
from sentiment_app.model.loading import ModelLoadError, load_classifier
from sentiment_app.model.packed_bert import PackedBertClassifier
from tests import tiny

TEXTS = [t for t, _ in tiny.REVIEWS[:8]] + ["好", "房间干净整洁服务态度非常好" * 12]


@pytest.fixture()
def routes(monkeypatch):
    """Counts how models were built: 'peft' merges and 'transformers' loads (the reference paths)."""
    seen = {"peft": 0, "transformers": 0}
    peft_merge = merging.peft_merge

    def counting_peft_merge(*args, **kwargs):
        seen["peft"] += 1
        return peft_merge(*args, **kwargs)

    from transformers import AutoModelForSequenceClassification

    loader = AutoModelForSequenceClassification.from_pretrained.__func__

    def counting_from_pretrained(cls, *args, **kwargs):
        seen["transformers"] += 1
        return loader(cls, *args, **kwargs)

    monkeypatch.setattr(merging, "peft_merge", counting_peft_merge)
    monkeypatch.setattr(AutoModelForSequenceClassification, "from_pretrained", classmethod(counting_from_pretrained))
    return seen


def reference(monkeypatch, folder: Path, **settings):
    """Today's path: transformers builds the model and PEFT merges the adapter, then packing."""
    with monkeypatch.context() as patch:
        patch.setattr(merging, "direct_merge_problem", lambda *a, **k: "forced for the test")
        patch.setattr(merging, "read_bert_weights", lambda *a, **k: (None, "forced for the test"))
        return load_classifier(AppConfig(model=str(folder), **settings))


def unmerged_logits(adapter: Path, base: Path, texts) -> np.ndarray:
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2)
    clf = load_classifier(AppConfig(model=str(adapter)))
    return tiny.one_by_one_logits(PeftModel.from_pretrained(model, adapter).eval(), clf.tokenizer, texts)


def save_adapter(folder: Path, base: Path, seed: int = 3, **lora) -> Path:
    """A LoRA adapter with every trainable part random (B, biases, DoRA magnitudes, the head)."""
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification

    from sentiment_app.model.artifact import write_labels

    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2)
    settings = {"r": 4, "lora_alpha": 8, "target_modules": ["query", "value"], "init_lora_weights": False} | lora
    peft_model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, **settings))
    with torch.no_grad():
        for param in peft_model.parameters():
            if param.requires_grad:
                param.add_(torch.randn_like(param) * 0.2)
    peft_model.save_pretrained(folder)
    path = folder / "adapter_config.json"
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = str(base)
    path.write_text(json.dumps(config))
    tiny.tiny_tokenizer().save_pretrained(folder)
    write_labels(folder, tiny.LABELS)
    return folder


def test_direct_merge_equals_the_peft_path_in_fp32(monkeypatch, routes, adapter_dir):
    ours = load_classifier(AppConfig(model=str(adapter_dir)))
    assert routes == {"peft": 0, "transformers": 0}  # merged here, built from the weights
    assert isinstance(ours.model, PackedBertClassifier)
    today = reference(monkeypatch, adapter_dir)
    assert routes == {"peft": 1, "transformers": 1}
    assert np.abs(ours.logits(TEXTS) - today.logits(TEXTS)).max() <= 1e-6
    assert ours.info.parameters == today.info.parameters
    for a, b in zip(ours.model.transformers_weights().values(), today.model.transformers_weights().values()):
        assert torch.equal(a, b)  # the merged weights are PEFT's, bit for bit


def test_direct_merge_in_int8_gives_todays_int8_answers(monkeypatch, adapter_dir):
    ours = load_classifier(AppConfig(model=str(adapter_dir), quantize="int8"))
    today = reference(monkeypatch, adapter_dir, quantize="int8")
    assert any("quantized" in type(m).__module__ for m in ours.model.modules())
    assert [p.label for p in ours.predict(TEXTS)] == [p.label for p in today.predict(TEXTS)]
    assert np.abs(ours.logits(TEXTS) - today.logits(TEXTS)).max() <= 1e-6
    fp32 = load_classifier(AppConfig(model=str(adapter_dir)))
    assert np.abs(ours.logits(TEXTS) - fp32.logits(TEXTS)).max() < 0.05
    # The explanation model keeps float layers and the fp32 answers.
    assert not any("quantized" in type(m).__module__ for m in ours.explain_model.modules())
    np.testing.assert_allclose(
        tiny.one_by_one_logits(ours.explain_model, ours.tokenizer, TEXTS[:3]), fp32.logits(TEXTS[:3]), atol=1e-5
    )


def test_full_model_built_from_weights_equals_transformers(monkeypatch, routes, full_model_dir):
    ours = load_classifier(AppConfig(model=str(full_model_dir)))
    assert routes["transformers"] == 0
    today = reference(monkeypatch, full_model_dir)
    assert np.abs(ours.logits(TEXTS) - today.logits(TEXTS)).max() <= 1e-6
    assert ours.model.config.id2label == {0: "负面", 1: "正面"}


def test_explanation_model_is_built_only_when_asked_and_shares_the_weights(adapter_dir):
    clf = load_classifier(AppConfig(model=str(adapter_dir)))
    assert clf._explain_model is None  # a batch run never builds it
    text = "房间干净整洁，服务态度非常好"
    explanation = explain(clf, text)
    assert explanation.prediction == clf.predict(text)
    assert type(clf.explain_model).__name__ == "BertForSequenceClassification"
    assert clf.explain_model is clf.explain_model  # built once
    storages = {p.untyped_storage().data_ptr() for p in clf.model.parameters()}
    assert {p.untyped_storage().data_ptr() for p in clf.explain_model.parameters()} <= storages
    np.testing.assert_allclose(
        tiny.one_by_one_logits(clf.explain_model, clf.tokenizer, TEXTS[:4]), clf.logits(TEXTS[:4]), atol=1e-5
    )


def test_base_saved_as_a_pretraining_checkpoint_is_read_as_transformers_reads_it(monkeypatch, routes, tmp_path):
    """bert-base-chinese's shape of file: no classifier, pre-training heads (cls.*), old LayerNorm names."""
    from safetensors.torch import load_file, save_file

    base = tiny.save_base_model(tmp_path / "base", seed=5)
    weights = load_file(base / "model.safetensors")
    renamed = {}
    for key, tensor in weights.items():
        if key.startswith("classifier."):
            continue
        key = key.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        renamed[key] = tensor.contiguous()
    renamed["cls.predictions.bias"] = torch.zeros(weights["bert.embeddings.word_embeddings.weight"].shape[0])
    save_file(renamed, base / "model.safetensors", metadata={"format": "pt"})
    adapter = tiny.save_adapter(tmp_path / "adapter", base)
    routes.update(peft=0, transformers=0)  # building the adapter loaded the base
    ours = load_classifier(AppConfig(model=str(adapter)))
    assert routes == {"peft": 0, "transformers": 0}
    today = reference(monkeypatch, adapter)
    assert np.abs(ours.logits(TEXTS) - today.logits(TEXTS)).max() <= 1e-6


@pytest.mark.parametrize(
    "lora, direct",
    [
        ({"target_modules": ["key", "dense"]}, True),  # every dense: attention output, feed-forward, pooler
        ({"use_rslora": True, "r": 2, "lora_alpha": 6}, True),
        ({"modules_to_save": ["classifier", "pooler"]}, True),
        ({"target_modules": ["attention.self.query"]}, True),  # a dotted suffix
        ({"use_dora": True}, False),
        ({"bias": "lora_only"}, False),
        ({"bias": "all"}, False),
        ({"lora_bias": True}, False),
        ({"rank_pattern": {"query": 2}}, False),
        ({"alpha_pattern": {"value": 3}}, False),
        ({"layers_to_transform": [0]}, False),
        ({"target_modules": "all-linear"}, True),  # PEFT saves the full names of every linear layer
        ({"target_modules": ["word_embeddings", "query"]}, False),  # an embedding layer
    ],
    ids=lambda v: "direct" if v is True else "peft" if v is False else json.dumps(v)[:40],
)
def test_unusual_adapters_merge_exactly_or_go_through_peft(monkeypatch, routes, tmp_path, base_model_dir, lora, direct):
    adapter = save_adapter(tmp_path / "adapter", base_model_dir, **lora)
    ours = load_classifier(AppConfig(model=str(adapter)))
    assert routes["peft"] == (0 if direct else 1)
    np.testing.assert_allclose(
        ours.logits(TEXTS[:6]), unmerged_logits(adapter, base_model_dir, TEXTS[:6]), atol=1e-5, rtol=0
    )
    if direct:
        assert np.abs(ours.logits(TEXTS) - reference(monkeypatch, adapter).logits(TEXTS)).max() <= 1e-6


def test_adapter_weights_for_missing_layers_still_fail_in_one_line(tmp_path, adapter_dir):
    """An adapter whose weights name layers the config does not target: PEFT's check, as before."""
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "edited"
    folder.mkdir()
    for item in adapter_dir.iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    weights = load_file(folder / "adapter_model.safetensors")
    drop = next(k for k in weights if "lora_A" in k)
    save_file({k: v for k, v in weights.items() if k != drop}, folder / "adapter_model.safetensors")
    with pytest.raises(ModelLoadError) as exc:
        load_classifier(AppConfig(model=str(folder)))
    assert "does not fit base model" in str(exc.value) and "\n" not in str(exc.value)


def test_direct_merge_problem_names_what_it_leaves_to_peft(adapter_dir, base_model_dir):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(base_model_dir)
    config.update({"num_labels": 2})
    adapter_config = json.loads((adapter_dir / "adapter_config.json").read_text())
    adapter = merging.read_adapter_weights(adapter_dir)
    weights, why = merging.read_bert_weights(base_model_dir, config, head=False)
    assert why == "" and weights is not None
    assert merging.direct_merge_problem(adapter_config, adapter, weights, config) is None
    cases = {
        "use_dora": ({"use_dora": True}, "use_dora"),
        "peft type": ({"peft_type": "IA3"}, "not LORA"),
        "a new PEFT field": ({"some_future_option": {"on": 1}}, "some_future_option"),
        "rank": ({"r": 3}, "rank 3"),
        "a regex target": ({"target_modules": ".*query"}, "target_modules"),
        "a head target": ({"target_modules": ["query", "classifier"]}, "target_modules"),
    }
    for name, (change, expected) in cases.items():
        problem = merging.direct_merge_problem(adapter_config | change, adapter, weights, config)
        assert problem is not None and expected in problem, name
    stray = dict(adapter) | {"base_model.model.bert.extra.weight": torch.zeros(1)}
    assert "not a weight" in merging.direct_merge_problem(adapter_config, stray, weights, config)


def test_loading_a_bert_adapter_imports_neither_peft_nor_transformers_modeling(adapter_dir):
    """The start-up saving itself: a fresh process loads, merges and answers without those imports."""
    import subprocess
    import sys

    code = (
        "import sys, warnings; warnings.simplefilter('ignore')\n"
        "from sentiment_app.config import AppConfig\n"
        "from sentiment_app.model.loading import load_classifier\n"
        f"clf = load_classifier(AppConfig(model={str(adapter_dir)!r}, quantize='int8'))\n"
        "clf.predict(['房间干净'])\n"
        "print(sorted(m for m in ('peft', 'transformers.modeling_utils', 'sklearn') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
