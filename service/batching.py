"""The batch-forming policy: a pure function from the pending inputs to the next batch.

The scheduler owns the queue and calls :func:`plan_batch` each time the engine can take a
batch. The policy has three rules:

1. The oldest live input is always in the batch, so nothing starves.
2. The batch respects the limits: at most ``max_batch_requests`` inputs, and at most
   ``max_batch_tokens`` tokens *with padding counted* (inputs x the longest input), because
   a padded batch costs what its padded shape costs.
3. Among the batches allowed by (1) and (2) that are contiguous in length order, the one with
   the best useful-work rate wins: real tokens / (padded tokens + a fixed per-batch overhead).
   The overhead term makes many short inputs batch together, while the padding term keeps a
   500-token input from dragging thirty 5-token inputs into a 16,000-token padded batch.

Cancelled inputs are dropped from the queue without being run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BatchLimits:
    """The shape limits of one engine batch and the policy's cost model."""

    #: Most tokens in a batch, counted as inputs x longest input (padding included).
    max_batch_tokens: int
    #: Most inputs in a batch.
    max_batch_requests: int
    #: Fixed cost of running one batch, in token-equivalents.
    overhead_tokens: int = 64

    def __post_init__(self) -> None:
        if self.max_batch_tokens < 1 or self.max_batch_requests < 1 or self.overhead_tokens < 0:
            raise ValueError(f"invalid batch limits: {self}")


@dataclass(frozen=True)
class Pending:
    """One queued input as the policy sees it: its token count and whether its caller waits."""

    length: int
    alive: bool = True


@dataclass(frozen=True)
class BatchPlan:
    """The policy's answer: queue positions to run now and positions to drop (cancelled)."""

    take: list[int]
    drop: list[int]


def plan_batch(pending: Sequence[Pending], limits: BatchLimits) -> BatchPlan:
    """Choose the next batch from ``pending`` (in arrival order, index 0 oldest).

    Returns the positions to run, ordered by increasing length, and the positions of cancelled
    inputs to drop. ``take`` is empty only when no input is alive. An input longer than the
    token budget on its own is run alone (the service caps input length below the budget, so
    this is a safety net, not a normal case).
    """
    drop = [i for i, p in enumerate(pending) if not p.alive]
    live = [i for i, p in enumerate(pending) if p.alive]
    if not live:
        return BatchPlan(take=[], drop=drop)

    lengths = np.fromiter((pending[i].length for i in live), dtype=np.int64, count=len(live))
    # Stable sort by length: equal lengths keep arrival order, so older inputs go first.
    order = np.argsort(lengths, kind="stable")
    sorted_len = lengths[order]
    # Position of the oldest live input (live[0]) in length order.
    oldest = int(np.flatnonzero(order == 0)[0])

    cap = limits.max_batch_requests
    lo_bound = max(0, oldest - cap + 1)
    hi_bound = min(len(live) - 1, oldest + cap - 1)
    prefix = np.concatenate(([0], np.cumsum(sorted_len)))

    best_rate = -1.0
    best = (oldest, oldest)
    # Candidate right ends: the last position of each distinct length at or after `oldest`
    # (a window ending mid-run of equal lengths is never better than one ending at its end,
    # unless the caps cut it, which the lo/hi arithmetic below handles).
    window = sorted_len[oldest : hi_bound + 1]
    run_ends = np.flatnonzero(np.append(window[1:] != window[:-1], True)) + oldest
    for hi_end in run_ends.tolist():
        longest = int(sorted_len[hi_end])
        n_max = max(1, min(cap, limits.max_batch_tokens // longest))
        # If the run is longer than the caps allow, end the window earlier within the run.
        hi = min(hi_end, oldest + n_max - 1)
        lo_min = max(lo_bound, hi - n_max + 1)
        if lo_min > oldest:
            continue
        los = np.arange(lo_min, oldest + 1)
        counts = hi - los + 1
        real = prefix[hi + 1] - prefix[los]
        rates = real / (counts * longest + limits.overhead_tokens)
        # Best rate; among equal rates the largest batch (smallest lo, first in `los`).
        k = int(np.argmax(rates))
        rate = float(rates[k])
        if rate > best_rate + 1e-12:
            best_rate = rate
            best = (int(los[k]), hi)
        if hi < hi_end:
            break  # longer windows are over the caps from here on
    lo, hi = best
    take = [live[int(j)] for j in order[lo : hi + 1]]
    return BatchPlan(take=take, drop=drop)
