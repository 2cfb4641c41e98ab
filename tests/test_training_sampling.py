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
    batches = [order[i : i + 32] for i in range(0, len(order), 32)]
    spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches if len(b) == 32]
    # random batches of this data spread over ~350 tokens; a mega-batch of 1,600 sorted gives a few
    assert sorted(spread)[len(spread) // 2] < 20
    padded = sum(32 * max(lengths[i] for i in b) for b in batches)
    shuffled = random.Random(2).sample(range(len(lengths)), len(lengths))
    randomly = sum(32 * max(lengths[i] for i in shuffled[j : j + 32]) for j in range(0, len(shuffled), 32))
    assert padded < 0.7 * randomly


def test_batch_order_is_shuffled_not_longest_to_shortest():
    """transformers' group_by_length walks each mega-batch from long to short batches; a model trained
    from scratch on ChnSentiCorp then stays at chance. Our batch lengths must not run in order."""
    lengths = _lengths()
    order = bucketed_indices(lengths, 32, torch.Generator().manual_seed(3))
    maxima = [max(lengths[i] for i in order[j : j + 32]) for j in range(0, len(order), 32)]
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


def test_two_ranks_share_one_shuffled_order_disjointly():
    """Under torchrun, accelerate's BatchSamplerShard (which the Trainer's dataloader goes through) gives rank r
    batches r, r+2, ... of the order every rank builds from the same seed and epoch: together they are the
    single-process order, nothing twice, and one step's two batches come from the same length bucket."""
    from accelerate.data_loader import BatchSamplerShard
    from torch.utils.data import BatchSampler

    lengths = _lengths(2000)
    per_device, world = 8, 2
    single = ShuffledLengthGroupedSampler(lengths, per_device * world, seed=5)
    single.set_epoch(3)
    reference = [list(b) for b in BatchSampler(single, per_device, drop_last=False)]
    ranks = []
    for rank in range(world):
        sampler = ShuffledLengthGroupedSampler(lengths, per_device * world, seed=5)
        sampler.set_epoch(3)
        ranks.append(
            list(
                BatchSamplerShard(
                    BatchSampler(sampler, per_device, drop_last=False),
                    num_processes=world,
                    process_index=rank,
                    even_batches=False,
                )
            )
        )
    assert [b for step in zip(*ranks) for b in step] == reference[: len(ranks[0]) * world]
    seen = [i for batches in ranks for b in batches for i in b]
    assert len(seen) == len(set(seen)) == len(lengths)  # disjoint, and every example once (2000 = 125 steps)
    # one step's batches (one per rank) span few tokens: they were cut from one sorted bucket of 16
    spreads = [max(lengths[i] for i in a + b) - min(lengths[i] for i in a + b) for a, b in zip(*ranks)]
    assert sorted(spreads)[len(spreads) // 2] < 20


def test_the_order_depends_on_seed_and_epoch_only():
    lengths = _lengths(300)
    a, b = ShuffledLengthGroupedSampler(lengths, 16, seed=7), ShuffledLengthGroupedSampler(lengths, 16, seed=7)
    list(a)  # a has run one epoch already; set_epoch brings both to the same place
    a.set_epoch(4)
    b.set_epoch(4)
    assert list(a) == list(b)
    b.set_epoch(5)
    assert list(b) != list(ShuffledLengthGroupedSampler(lengths, 16, seed=7))  # epoch 5 is not epoch 0
