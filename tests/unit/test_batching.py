"""Unit tests of the batch-forming policy (ember.service.batching.plan_batch)."""

from __future__ import annotations

import random

import pytest

from ember.service.batching import BatchLimits, Pending, plan_batch


def lengths_of(pending: list[Pending], take: list[int]) -> list[int]:
    return [pending[i].length for i in take]


def test_empty_queue_takes_nothing() -> None:
    plan = plan_batch([], BatchLimits(1024, 8))
    assert plan.take == []
    assert plan.drop == []


def test_all_cancelled_are_dropped() -> None:
    pending = [Pending(5, alive=False), Pending(7, alive=False)]
    plan = plan_batch(pending, BatchLimits(1024, 8))
    assert plan.take == []
    assert plan.drop == [0, 1]


def test_cancelled_entries_are_dropped_and_never_taken() -> None:
    pending = [Pending(5), Pending(5, alive=False), Pending(5), Pending(6, alive=False)]
    plan = plan_batch(pending, BatchLimits(1024, 8))
    assert sorted(plan.take) == [0, 2]
    assert plan.drop == [1, 3]


def test_request_cap_is_respected_and_oldest_first_among_equal_lengths() -> None:
    pending = [Pending(5) for _ in range(20)]
    plan = plan_batch(pending, BatchLimits(10_000, 8))
    assert plan.take == list(range(8))


def test_token_budget_counts_padding() -> None:
    # 4 inputs of 100 tokens fit 400 tokens exactly; a 5th would need 500.
    pending = [Pending(100) for _ in range(6)]
    plan = plan_batch(pending, BatchLimits(400, 64))
    assert len(plan.take) == 4
    # With one long input in the batch, the padded cost is count x longest.
    pending = [Pending(300), Pending(10), Pending(10), Pending(10)]
    plan = plan_batch(pending, BatchLimits(600, 64, overhead_tokens=0))
    taken = lengths_of(pending, plan.take)
    assert len(taken) * max(taken) <= 600


def test_oldest_is_always_included() -> None:
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(1, 80)
        pending = [Pending(rng.randint(1, 512), alive=rng.random() > 0.2) for _ in range(n)]
        limits = BatchLimits(rng.choice([512, 2048, 16384]), rng.choice([1, 4, 32, 64]))
        plan = plan_batch(pending, limits)
        live = [i for i, p in enumerate(pending) if p.alive]
        if not live:
            assert plan.take == []
            continue
        assert live[0] in plan.take
        taken = lengths_of(pending, plan.take)
        assert len(taken) <= limits.max_batch_requests
        assert len(taken) == 1 or len(taken) * max(taken) <= limits.max_batch_tokens
        assert all(pending[i].alive for i in plan.take)
        assert set(plan.take).isdisjoint(plan.drop)
        assert taken == sorted(taken), "batch is ordered by length"


def test_long_oldest_does_not_drag_short_inputs_into_a_padded_batch() -> None:
    pending = [Pending(500)] + [Pending(5) for _ in range(40)]
    plan = plan_batch(pending, BatchLimits(16384, 64, overhead_tokens=64))
    assert plan.take == [0], "padding 5-token inputs to 500 wastes ~99% of the batch"
    # Next round the short ones go together.
    rest = pending[1:]
    plan2 = plan_batch(rest, BatchLimits(16384, 64, overhead_tokens=64))
    assert len(plan2.take) == 40


def test_similar_lengths_batch_together_around_the_oldest() -> None:
    pending = [Pending(50)] + [Pending(5)] * 10 + [Pending(48)] * 10 + [Pending(52)] * 10
    plan = plan_batch(pending, BatchLimits(16384, 16, overhead_tokens=64))
    taken = lengths_of(pending, plan.take)
    assert 0 in plan.take
    assert min(taken) >= 48, f"short inputs should wait for their own batch, got {taken}"
    assert len(taken) == 16


def test_overhead_makes_short_inputs_share_a_batch_despite_some_padding() -> None:
    # Mixed short lengths: one batch with a little padding beats many tiny batches.
    pending = [Pending(5 + (i % 6)) for i in range(30)]
    plan = plan_batch(pending, BatchLimits(16384, 64, overhead_tokens=64))
    assert len(plan.take) == 30


def test_input_over_the_budget_runs_alone() -> None:
    pending = [Pending(900), Pending(10)]
    plan = plan_batch(pending, BatchLimits(512, 8))
    assert plan.take == [0]


@pytest.mark.parametrize("bad", [(0, 1, 0), (1, 0, 0), (1, 1, -1)])
def test_invalid_limits_are_rejected(bad: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError, match="invalid batch limits"):
        BatchLimits(*bad)
