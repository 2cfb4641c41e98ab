"""Label names for any model: labels.json, else the (base) model's config.json, else SENTIMENT_LABELS.

The slow test trains an adapter exactly as the seed tutorial's code does (get_peft_model with
TaskType.SEQ_CLS, Trainer, PeftModel.save_pretrained, tokenizer.save_pretrained: no labels.json) on a
tiny local base and serves it; tiny models check the plumbing, not accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sentiment_app.config import AppConfig, ConfigError
from sentiment_app.model.artifact import config_labels, generic_labels
from sentiment_app.model.loading import ModelLoadError, load_classifier
from sentiment_app.ui import header_markdown
from tests import tiny

TEXTS = ["房间干净，服务热情。", "质量太差了，再也不买。", "还行吧"]


def tutorial_adapter(base: Path, out: Path) -> Path:
    """The seed tutorial's training code, step by step, on a tiny base (a few steps, not to convergence)."""
    from datasets import Dataset
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2)
    peft_config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=8,
        lora_alpha=16,
        lora_dropout=0.05,
        bias="none",
        target_modules=["query", "value"],
    )
    model = get_peft_model(model, peft_config)
    rows = {"text": [t for t, _ in tiny.REVIEWS], "label": [y for _, y in tiny.REVIEWS]}
    dataset = Dataset.from_dict(rows).map(
        lambda batch: tokenizer(batch["text"], padding="max_length", truncation=True, max_length=128), batched=True
    )
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"),
        eval_strategy="epoch",
        save_strategy="no",
        learning_rate=5e-3,
        per_device_train_batch_size=8,
        num_train_epochs=2,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        logging_strategy="no",
    )
    Trainer(model=model, args=args, train_dataset=dataset, eval_dataset=dataset).train()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def peft_probabilities(base: Path, adapter: Path, texts: list[str]) -> np.ndarray:
    """The reference: the unmerged PeftModel, each text alone."""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = PeftModel.from_pretrained(
        AutoModelForSequenceClassification.from_pretrained(base, num_labels=2), adapter
    ).eval()
    logits = tiny.one_by_one_logits(model, AutoTokenizer.from_pretrained(adapter), texts)
    return torch.softmax(torch.from_numpy(logits), dim=-1).numpy()


@pytest.mark.slow
@pytest.mark.parametrize("base_names", [True, False], ids=["base-names-labels", "generic-base"])
def test_an_adapter_trained_the_tutorials_way_serves_with_label_names(tmp_path, base_names):
    if base_names:  # a base whose config.json names its labels (as fine-tuned Hub classifiers do)
        base = tiny.save_full_model(tmp_path / "base", with_labels_file=False)
    else:
        base = tiny.save_base_model(tmp_path / "base")
    adapter = tutorial_adapter(base, tmp_path / "adapter")
    assert not (adapter / "labels.json").exists() and (adapter / "adapter_config.json").is_file()

    config = AppConfig(model=str(adapter)) if base_names else AppConfig(model=str(adapter), labels="负面,正面")
    clf = load_classifier(config)
    assert clf.labels == ["负面", "正面"] and clf.info.kind == "adapter"
    served = np.array([[p.probabilities[name] for name in clf.labels] for p in clf.predict(TEXTS)])
    np.testing.assert_allclose(served, peft_probabilities(base, adapter, TEXTS), atol=1e-5)
    assert "SENTIMENT_LABELS" not in header_markdown([clf], config)

    if not base_names:  # without the setting: placeholders, and the header says how to name them
        plain = load_classifier(AppConfig(model=str(adapter)))
        assert plain.labels == ["LABEL_0", "LABEL_1"]
        assert "SENTIMENT_LABELS=负面,正面" in header_markdown([plain], AppConfig(model=str(adapter)))


@pytest.fixture()
def adapter_without_labels_file(tmp_path, base_model_dir) -> Path:
    folder = tiny.save_adapter(tmp_path / "adapter", base_model_dir)
    (folder / "labels.json").unlink()
    return folder


def test_labels_json_wins_over_the_setting(tmp_path, base_model_dir):
    folder = tiny.save_adapter(tmp_path / "adapter", base_model_dir, labels=("差", "好"))
    assert load_classifier(AppConfig(model=str(folder), labels="neg,pos")).labels == ["差", "好"]


def test_base_config_names_the_labels_of_an_adapter_without_labels_json(tmp_path, adapter_without_labels_file):
    named_base = tiny.save_full_model(tmp_path / "named-base", labels=("消极", "积极"), with_labels_file=False)
    clf = load_classifier(
        AppConfig(model=str(adapter_without_labels_file), base_model=str(named_base), labels="neg,pos")
    )
    assert clf.labels == ["消极", "积极"]


def test_the_setting_names_a_generic_adapter_and_a_generic_full_model(tmp_path, adapter_without_labels_file):
    assert load_classifier(AppConfig(model=str(adapter_without_labels_file), labels="负面，正面")).labels == [
        "负面",
        "正面",
    ]
    full = tiny.save_full_model(tmp_path / "full", labels=("LABEL_0", "LABEL_1"), with_labels_file=False)
    assert load_classifier(AppConfig(model=str(full), labels="bad,good")).labels == ["bad", "good"]
    assert load_classifier(AppConfig(model=str(full))).labels == ["LABEL_0", "LABEL_1"]


def test_a_setting_with_the_wrong_number_of_labels_is_one_line(adapter_without_labels_file):
    with pytest.raises(ModelLoadError) as info:
        load_classifier(AppConfig(model=str(adapter_without_labels_file), labels="差,中,好"))
    message = str(info.value)
    assert "SENTIMENT_LABELS (--labels) names 3 labels" in message and "2 outputs" in message and "\n" not in message


@pytest.mark.parametrize("raw", ["负面", "a,a", "a,,b", " , "])
def test_bad_label_settings_are_refused(raw):
    with pytest.raises(ConfigError, match="SENTIMENT_LABELS"):
        AppConfig.from_env({"SENTIMENT_LABELS": raw})


def test_label_setting_from_the_environment_and_the_flag():
    import argparse

    from sentiment_app.config import add_serving_arguments, config_from_args

    assert AppConfig.from_env({"SENTIMENT_LABELS": "负面, 正面"}).label_names == ("负面", "正面")
    parser = argparse.ArgumentParser()
    add_serving_arguments(parser)
    args = parser.parse_args(["--labels", "差评,中评,好评"])
    assert config_from_args(args, {"SENTIMENT_LABELS": "a,b"}).label_names == ("差评", "中评", "好评")


def test_generic_and_config_label_helpers():
    assert generic_labels(["LABEL_0", "LABEL_1"]) and not generic_labels(["LABEL_0", "正面"])
    assert config_labels({"id2label": {"1": "正面", "0": "负面"}}) == ["负面", "正面"]
    assert config_labels({"id2label": {"0": "LABEL_0", "1": "LABEL_1"}}) is None
    assert config_labels({"id2label": {"0": "a", "1": "b", "2": "c"}}, num_labels=2) is None
