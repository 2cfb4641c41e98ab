"""training/augment.py: token dropout hides ordinary tokens of training batches only, never special
tokens or padding, at about the asked rate, and not at evaluation."""

from __future__ import annotations

import pytest
import torch

from training.augment import hide_tokens, token_dropout_trainer_class

CLS, SEP, PAD, MASK = 101, 102, 0, 103


def _batch(rows: int = 64, length: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 5000, (rows, length), generator=generator)
    mask = torch.ones_like(ids)
    for row in range(rows):
        used = 5 + row % (length - 5)  # ragged rows: padding after `used` tokens
        ids[row, 0], ids[row, used - 1] = CLS, SEP
        ids[row, used:], mask[row, used:] = PAD, 0
    return ids, mask


def test_hides_about_the_rate_of_ordinary_tokens_and_nothing_else():
    ids, mask = _batch()
    hidden = hide_tokens(ids, mask, 0.15, MASK, [CLS, SEP, PAD, MASK], torch.Generator().manual_seed(1))
    changed = hidden != ids
    assert (hidden[changed] == MASK).all()
    assert not changed[(ids == CLS) | (ids == SEP) | (mask == 0)].any()  # special tokens and padding kept
    ordinary = (mask == 1) & (ids != CLS) & (ids != SEP)
    share = changed.sum().item() / ordinary.sum().item()
    assert 0.12 < share < 0.18, share
    assert torch.equal(ids, _batch()[0])  # the input is not changed in place


def test_rate_zero_and_seeded_draws():
    ids, mask = _batch()
    assert torch.equal(hide_tokens(ids, mask, 0.0, MASK, [CLS, SEP, PAD]), ids)
    first = hide_tokens(ids, mask, 0.2, MASK, [CLS, SEP, PAD], torch.Generator().manual_seed(7))
    again = hide_tokens(ids, mask, 0.2, MASK, [CLS, SEP, PAD], torch.Generator().manual_seed(7))
    other = hide_tokens(ids, mask, 0.2, MASK, [CLS, SEP, PAD], torch.Generator().manual_seed(8))
    assert torch.equal(first, again) and not torch.equal(first, other)


class _Recorder:
    """Stands in for transformers' Trainer: records the ids compute_loss was given."""

    def __init__(self) -> None:
        self.seen: list[torch.Tensor] = []

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        self.seen.append(inputs["input_ids"])
        return torch.tensor(0.0)


@pytest.mark.parametrize("training", [True, False])
def test_the_trainer_hides_tokens_only_while_training(training):
    ids, mask = _batch()
    trainer = token_dropout_trainer_class(_Recorder, 0.3, MASK, [CLS, SEP, PAD])()
    model = torch.nn.Linear(1, 1).train(training)
    inputs = {"input_ids": ids, "attention_mask": mask}
    trainer.compute_loss(model, inputs)
    assert inputs["input_ids"] is ids  # the caller's batch is left alone
    if training:
        assert (trainer.seen[0] == MASK).sum() == trainer.tokens_hidden > 0
        assert trainer.tokens_seen == int(mask.sum())
    else:
        assert torch.equal(trainer.seen[0], ids) and trainer.tokens_hidden == 0
