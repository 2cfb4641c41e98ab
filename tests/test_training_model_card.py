"""training/model_card.py: the model card's Hub metadata and body."""

from __future__ import annotations

import pytest
import yaml

from training.config import TrainConfig
from training.metrics import classification_report
from training.model_card import CardFacts, render_model_card

LABELS = ["负面", "正面"]


def _metrics() -> dict:
    validation = classification_report([0, 1, 1, 0], [0, 1, 0, 0], LABELS)
    test = classification_report([0, 1, 1, 0, 1], [0, 1, 1, 0, 0], LABELS)
    return {"validation": validation, "test": test, "best_checkpoint": {"metric": "f1_macro", "value": 0.7333}}


def _card(**overrides) -> tuple[dict, str]:
    facts = dict(
        model_name="chinese-sentiment",
        kind="adapter",
        base_model="bert-base-chinese",
        base_is_hub=True,
        labels=LABELS,
        data_source="lansinuote/ChnSentiCorp",
        dataset_id="lansinuote/ChnSentiCorp",
        metrics=_metrics(),
        command="python training/train_and_push.py training/configs/x.yaml",
        config=TrainConfig(),
        trainable_parameters=296_450,
        total_parameters=102_565_636,
        target_modules=["query", "value"],
        repo_id="someone/chinese-sentiment",
    )
    facts.update(overrides)
    text = render_model_card(CardFacts(**facts))
    assert text.startswith("---\n")
    front, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(front), body


def test_card_metadata_for_an_adapter():
    meta, _ = _card()
    assert meta["base_model"] == "bert-base-chinese"
    assert meta["library_name"] == "peft"
    assert meta["datasets"] == ["lansinuote/ChnSentiCorp"]
    assert meta["language"] == "zh" and meta["pipeline_tag"] == "text-classification"
    assert set(meta["metrics"]) == {"accuracy", "f1", "precision", "recall"}
    results = meta["model-index"][0]["results"]
    assert meta["model-index"][0]["name"] == "chinese-sentiment"
    by_split = {(r["dataset"]["split"], m["type"]): m["value"] for r in results for m in r["metrics"]}
    assert by_split[("test", "accuracy")] == pytest.approx(0.8)
    assert by_split[("test", "f1")] == pytest.approx(round(_metrics()["test"]["f1_macro"], 4))
    assert by_split[("validation", "accuracy")] == pytest.approx(0.75)
    assert all(r["task"]["type"] == "text-classification" for r in results)
    assert results[0]["dataset"]["type"] == "lansinuote/ChnSentiCorp"


def test_card_body_has_results_usage_and_command():
    _, body = _card()
    assert "| test | 5 | 0.8000 |" in body
    assert "| 负面 | 2 | 0 |" in body  # confusion matrix row with the label name
    assert 'PeftModel.from_pretrained(base, "someone/chinese-sentiment")' in body
    assert "SENTIMENT_MODEL=someone/chinese-sentiment python app.py" in body
    assert "python training/train_and_push.py training/configs/x.yaml" in body
    assert '["负面", "正面"]' in body and "modules_to_save" in body


def test_card_for_a_full_model_from_scratch():
    meta, body = _card(
        kind="full",
        base_model=None,
        base_is_hub=False,
        dataset_id=None,
        data_source="train.tsv for training, dev.tsv for validation and model selection",
        target_modules=None,
    )
    assert meta["library_name"] == "transformers"
    assert "base_model" not in meta and "datasets" not in meta
    assert "from-scratch" in meta["tags"]
    assert "trained from scratch" in body and "AutoModelForSequenceClassification.from_pretrained" in body


def test_local_base_is_named_in_the_body_not_the_metadata():
    meta, body = _card(base_model="/models/bert-base-chinese", base_is_hub=False)
    assert "base_model" not in meta
    assert "/models/bert-base-chinese" in body


@pytest.mark.parametrize(
    ("setting", "absent_without", "said"),
    [
        (
            {"mlm_epochs": 1.5},
            "masked language model",
            "pre-trained as a masked language model for 1.5 epoch(s) on the training texts alone",
        ),
        (
            {"mlm_epochs": 1, "mlm_file": "unlabelled/texts.txt"},
            "masked language model",
            "on the training texts and the unlabelled texts of unlabelled/texts.txt (no labels)",
        ),
        ({"token_dropout": 0.1}, "token dropout", "10% of the word pieces were hidden as [MASK] (token dropout)"),
        (
            {"distill_teacher": "tfidf", "distill_folds": 3},
            "teacher",
            "TF-IDF + logistic regression teacher fitted on the same rows: out-of-fold soft targets (3 folds",
        ),
    ],
)
def test_card_says_what_a_scratch_model_was_trained_with(setting, absent_without, said):
    scratch = dict(kind="full", base_model=None, base_is_hub=False, target_modules=None)
    _, without = _card(**scratch, config=TrainConfig(base_model="scratch", full_finetune=True))
    _, body = _card(**scratch, config=TrainConfig(base_model="scratch", full_finetune=True, **setting))
    assert absent_without not in without
    assert said in body
