"""The training sampler: batches of similar length, served in random order (not longest to shortest)."""
from __future__ import annotations

import random

import torch

from training.sampling import ShuffledLengthGroupedSampler, bucketed_indices


def _lengths(n: int = 4000, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(5, 400) for _ in range(n)]


def test_every_index_once_and_batches_of_similar_length():
    lengths = _lengths()
    order = bucketed_indices(lengths, 32, torch.Generator().manual_seed(1))
    assert sorted(order) == list(range(len(lengths)))
    batches = [order[i:i + 32] for i in range(0, len(order), 32)]
    spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches if len(b) == 32]
    # random batches of this data spread over ~350 tokens; a mega-batch of 1,600 sorted gives a few
    assert sorted(spread)[len(spread) // 2] < 20
    padded = sum(32 * max(lengths[i] for i in b) for b in batches)
    shuffled = random.Random(2).sample(range(len(lengths)), len(lengths))
    randomly = sum(32 * max(lengths[i] for i in shuffled[j:j + 32]) for j in range(0, len(shuffled), 32))
    assert padded < 0.7 * randomly


def test_batch_order_is_shuffled_not_longest_to_shortest():
    """transformers' group_by_length walks each mega-batch from long to short batches; a model trained
    from scratch on ChnSentiCorp then stays at chance. Our batch lengths must not run in order."""
    lengths = _lengths()
    order = bucketed_indices(lengths, 32, torch.Generator().manual_seed(3))
    maxima = [max(lengths[i] for i in order[j:j + 32]) for j in range(0, len(order), 32)]
    first_mega = maxima[:50]
    assert first_mega != sorted(first_mega) and first_mega != sorted(first_mega, reverse=True)
    # the rises and falls of consecutive batch lengths are roughly balanced
    rises = sum(b > a for a, b in zip(maxima, maxima[1:]))
    assert 0.3 < rises / (len(maxima) - 1) < 0.7


def test_sampler_is_deterministic_per_seed_and_changes_per_epoch():
    lengths = _lengths(500)
    a, b = ShuffledLengthGroupedSampler(lengths, 16, seed=7), ShuffledLengthGroupedSampler(lengths, 16, seed=7)
    first_a, first_b = list(a), list(b)
    assert first_a == first_b and len(a) == 500
    assert list(a) != first_a  # the next epoch is a new arrangement
    assert list(ShuffledLengthGroupedSampler(lengths, 16, seed=8)) != first_a
