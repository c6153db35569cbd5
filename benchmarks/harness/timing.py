"""Timing loops: synchronize the device, warm up, repeat to a time target, report the median.

Every timing synchronizes the device before the clock starts and after it stops, warms up first,
repeats until ``target_s`` has passed (at least ``min_repeats``), and reports the median, so a
point costs seconds whatever its size.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def sync(device: str) -> None:
    """Wait for the device's queued work (nothing to wait for on the CPU)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def repeat_timed(
    fn: Callable[[], object],
    device: str,
    *,
    target_s: float,
    warmup: int = 2,
    min_repeats: int = 3,
    max_repeats: int = 20,
) -> dict[str, Any]:
    """Run ``fn`` ``warmup`` times, then time it until ``target_s`` has passed (at least
    ``min_repeats``, at most ``max_repeats``); median, min and the spread of the times."""
    for _ in range(warmup):
        fn()
    sync(device)
    times: list[float] = []
    began = time.perf_counter()
    while len(times) < max_repeats:
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
        if len(times) >= min_repeats and time.perf_counter() - began >= target_s:
            break
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "repeats": len(times),
    }
