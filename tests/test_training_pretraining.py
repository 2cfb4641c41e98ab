"""training/pretraining.py: masked-LM pre-training updates the classifier's own encoder, predicts masked tokens only."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from tests import tiny
from training.pretraining import MaskedLM, pretrain_mlm


def _config(tmp_path, **kw):
    values = dict(
        mlm_epochs=1.0,
        max_steps=3,
        max_length=32,
        weight_decay=0.0,
        adam_beta2=0.98,
        adam_epsilon=1e-6,
        logging_steps=1,
        seed=0,
        output_dir=str(tmp_path / "out"),
    )
    values.update(kw)
    return SimpleNamespace(**values)


def test_the_head_shares_the_classifier_encoder_and_ties_its_output_to_the_embeddings():
    tokenizer = tiny.tiny_tokenizer()
    classifier = tiny.tiny_bert(len(tokenizer))
    mlm = MaskedLM(classifier)
    assert mlm.bert is classifier.bert
    assert mlm.head.predictions.decoder.weight is classifier.bert.embeddings.word_embeddings.weight


def test_the_loss_counts_only_the_chosen_positions():
    tokenizer = tiny.tiny_tokenizer()
    mlm = MaskedLM(tiny.tiny_bert(len(tokenizer)))
    batch = tokenizer(["这家酒店很好", "质量很差"], padding=True, return_tensors="pt")
    labels = torch.full_like(batch["input_ids"], -100)
    labels[0, 1] = batch["input_ids"][0, 1]
    one = mlm(**batch, labels=labels)["loss"]
    labels[1, 2] = batch["input_ids"][1, 2]
    two = mlm(**batch, labels=labels)["loss"]
    assert torch.isfinite(one) and torch.isfinite(two) and not torch.isclose(one, two)


def test_pretraining_changes_the_classifier_weights_in_place(tmp_path):
    tokenizer = tiny.tiny_tokenizer()
    classifier = tiny.tiny_bert(len(tokenizer)).train()
    before = {k: v.clone() for k, v in classifier.state_dict().items()}
    texts = [t for t, _ in tiny.REVIEWS]
    result = pretrain_mlm(classifier, tokenizer, texts, _config(tmp_path), tmp_path / "mlm")
    after = classifier.state_dict()
    assert result["steps"] == 3
    for name in ("bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.attention.self.query.weight"):
        assert not torch.equal(before[name], after[name]), name
    # the classifier head and the pooler take no part in pre-training
    assert torch.equal(before["classifier.weight"], after["classifier.weight"])
    assert torch.equal(before["bert.pooler.dense.weight"], after["bert.pooler.dense.weight"])
    assert classifier.training
