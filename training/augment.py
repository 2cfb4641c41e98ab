"""Token dropout (``--token-dropout``): while fine-tuning, each word piece of a training batch is replaced by
``[MASK]`` with a small probability, anew in every step.

A model trained from scratch on reviews leans on whatever word separates the labels in its training rows,
topic words included (客服 and 问题 turn up mostly in complaints, so "客服回复很快，问题马上就解决了" read as
负面). Hiding a random few pieces each step makes it use every cue a review gives, not the single strongest,
which is what carries over to reviews of other products. Special tokens and padding are never hidden;
evaluation and prediction see the texts as they are. Seeded by the Trainer's seed, so a run is repeatable.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def hide_tokens(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    rate: float,
    mask_id: int,
    keep_ids: Iterable[int],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A copy of ``input_ids`` with each ordinary token (not in ``keep_ids``, not padding) replaced by
    ``mask_id`` with probability ``rate``."""
    ordinary = ~torch.isin(input_ids, torch.tensor(sorted(set(keep_ids)), dtype=input_ids.dtype))
    if attention_mask is not None:
        ordinary &= attention_mask.bool()
    draw = torch.rand(input_ids.shape, generator=generator, device=input_ids.device)
    return torch.where(ordinary & (draw < rate), torch.full_like(input_ids, mask_id), input_ids)


def token_dropout_trainer_class(base: type, rate: float, mask_id: int, keep_ids: Iterable[int]) -> type:
    """``base`` (a Trainer class) that hides tokens of training batches (see the module's docstring)."""
    keep = sorted(set(keep_ids))

    class TokenDropoutTrainer(base):  # type: ignore[misc, valid-type]
        token_dropout = rate
        tokens_hidden = 0  # counted over the run, for the log and the tests
        tokens_seen = 0

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if model.training and "input_ids" in inputs:
                inputs = dict(inputs)
                ids, mask = inputs["input_ids"], inputs.get("attention_mask")
                inputs["input_ids"] = hide_tokens(ids, mask, rate, mask_id, keep)
                self.tokens_hidden += int((inputs["input_ids"] != ids).sum())
                self.tokens_seen += int(mask.sum()) if mask is not None else ids.numel()
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    return TokenDropoutTrainer
