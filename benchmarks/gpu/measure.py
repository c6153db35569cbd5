"""GPU-specific timed measurements: matrix-rate peaks, engine forwards, launch overhead, and
output agreement (cosines). The timing loop is the harness's (:mod:`benchmarks.harness.timing`;
an engine's ``forward`` returns host numpy arrays, so it has synchronized when it returns)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmarks.harness.timing import repeat_timed, sync

# -- matrix-rate peaks ---------------------------------------------------------------------


def _rate(fn: Callable[[], object], device: str, target_s: float, inner: int) -> dict[str, Any]:
    """Seconds per call of ``fn``, timed in groups of ``inner`` calls after ~0.3 s of warm-up
    (enough for the clocks to ramp up from idle)."""
    began = time.perf_counter()
    while time.perf_counter() - began < min(0.3, target_s):
        fn()
        sync(device)

    def group() -> None:
        for _ in range(inner):
            fn()

    timed = repeat_timed(group, device, target_s=target_s, warmup=1, max_repeats=200)
    return {key: value / inner if key.endswith("_s") else value for key, value in timed.items()}


def matmul_peaks(device: str, size: int, target_s: float) -> dict[str, Any]:
    """bf16 ``torch.matmul`` and fp8 ``torch._scaled_mm`` rates on ``size``-cubed products,
    plus a device-to-device copy rate. Random data (never zeros: they run faster)."""
    import torch

    out: dict[str, Any] = {"size": size}
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16, generator=gen)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16, generator=gen)
    flops = 2.0 * size**3
    timed = _rate(lambda: torch.matmul(a, b), device, target_s, inner=10)
    out["bf16_tflops"] = flops / timed["median_s"] / 1e12
    out["bf16_timing"] = timed
    # fp8 runs on the CPU too (torch's slow reference _scaled_mm): the dry run checks the calls.
    if device.startswith("cuda"):
        out.update(_fp8_peaks(a, b, flops, device, target_s))
        big = torch.empty(1 << 30, dtype=torch.uint8, device=device)
        dst = torch.empty_like(big)
        copy = _rate(lambda: dst.copy_(big), device, target_s / 2, inner=10)
        out["copy_tbps"] = 2 * big.numel() / copy["median_s"] / 1e12  # read + write
    else:
        small = min(size, 64)
        out.update(_fp8_peaks(a[:small, :small], b[:small, :small], 2.0 * small**3, device, 0.0))
    return out


def _fp8_peaks(a: Any, b: Any, flops: float, device: str, target_s: float) -> dict[str, Any]:
    import torch

    out: dict[str, Any] = {}
    inner = 10 if device.startswith("cuda") else 1
    try:
        a8 = a.to(torch.float8_e4m3fn)
        b8 = b.to(torch.float8_e4m3fn).t().contiguous().t()  # column-major, as cuBLASLt wants
        one = torch.ones((), device=device, dtype=torch.float32)
        rows = torch.ones((a8.shape[0], 1), device=device, dtype=torch.float32)
        cols = torch.ones((1, b8.shape[1]), device=device, dtype=torch.float32)
        variants: dict[str, Callable[[], object]] = {
            "fp8_tflops": lambda: torch._scaled_mm(
                a8, b8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16
            ),
            "fp8_fast_accum_tflops": lambda: torch._scaled_mm(
                a8, b8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16, use_fast_accum=True
            ),
            "fp8_rowwise_tflops": lambda: torch._scaled_mm(
                a8, b8, scale_a=rows, scale_b=cols, out_dtype=torch.bfloat16
            ),
        }
        for key, fn in variants.items():
            timed = _rate(fn, device, target_s if key == "fp8_tflops" else target_s / 2, inner)
            out[key] = flops / timed["median_s"] / 1e12
    except Exception as exc:  # an older GPU or build: report, don't fail the section
        out["fp8_error"] = f"{type(exc).__name__}: {exc}"
    return out


# -- engine forwards ------------------------------------------------------------------------


def encodings(ids: Sequence[Sequence[int]]) -> list[Any]:
    """Ember ``Encoding`` objects for lists of token ids."""
    from ember.engines.types import Encoding

    return [Encoding(ids=list(x)) for x in ids]


def time_forward(
    engine: Any,
    batch: Sequence[Any],
    device: str,
    target_s: float,
    min_repeats: int = 3,
    warmup: int = 2,
) -> dict[str, Any]:
    """Median wall time of ``engine.forward(batch)``."""
    return repeat_timed(
        lambda: engine.forward(batch),
        device,
        target_s=target_s,
        min_repeats=min_repeats,
        warmup=warmup,
    )


def launch_profile(engine: Any, batch: Sequence[Any], device: str, runs: int = 5) -> dict[str, Any]:
    """Kernels per forward and the device time they take (CUDA only), from torch.profiler.

    Comparing ``gpu_kernel_ms`` with the wall time says how much of a small batch is host-side
    launch overhead, i.e. what replaying a captured CUDA graph could save at most.
    """
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.startswith("cuda"):
        activities.append(ProfilerActivity.CUDA)
    engine.forward(batch)
    sync(device)
    with profile(activities=activities) as prof:
        for _ in range(runs):
            engine.forward(batch)
        sync(device)
    kernels = 0
    busy_us = 0.0
    for event in prof.events():
        # Kernels (and device copies) are the events whose device type is CUDA.
        if getattr(getattr(event, "device_type", None), "name", "") == "CUDA":
            kernels += 1
            busy_us += float(event.time_range.elapsed_us())
    if kernels == 0:
        return {"gpu_kernel_ms": None, "kernels_per_forward": None}
    return {
        "gpu_kernel_ms": busy_us / runs / 1000.0,
        "kernels_per_forward": kernels / runs,
    }


# -- agreement ------------------------------------------------------------------------------


def cosines(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> dict[str, float]:
    """Row-wise cosine similarity and relative L2 error of ``a`` against reference ``b``."""
    a64 = np.asarray(a, dtype=np.float64)
    b64 = np.asarray(b, dtype=np.float64)
    if a64.shape != b64.shape:
        raise ValueError(f"shape mismatch {a64.shape} vs {b64.shape}")
    if not np.isfinite(a64).all():
        return {"min_cos": float("nan"), "mean_cos": float("nan"), "max_rel_l2": float("nan")}
    dot = (a64 * b64).sum(axis=1)
    norms = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    cos = dot / np.maximum(norms, 1e-30)
    rel = np.linalg.norm(a64 - b64, axis=1) / np.maximum(np.linalg.norm(b64, axis=1), 1e-30)
    return {
        "min_cos": float(cos.min()),
        "mean_cos": float(cos.mean()),
        "max_rel_l2": float(rel.max()),
    }


def reference_embeddings(
    model: Any, ids: Sequence[Sequence[int]], pooling: str, device: str
) -> Any:
    """Pooled fp32 states from the transformers model, one input at a time (no padding)."""
    import torch

    rows = []
    with torch.inference_mode():
        for seq in ids:
            tensor = torch.tensor([list(seq)], dtype=torch.long, device=device)
            hidden = model(input_ids=tensor).last_hidden_state[0].float()
            if pooling == "mean":
                rows.append(hidden.mean(dim=0))
            elif pooling == "cls":
                rows.append(hidden[0])
            else:
                rows.append(hidden[-1])
    return torch.stack(rows).cpu().numpy()


def output_rows(output: Any) -> np.ndarray[Any, Any]:
    """The (inputs, dim) matrix of an engine's VectorOutput."""
    rows = getattr(output, "rows", None)
    if rows is None:
        raise TypeError(f"expected a VectorOutput, got {type(output).__name__}")
    return np.asarray(rows, dtype=np.float32)


def time_tokenizer(tokenizer: Any, texts: Sequence[str], max_length: int) -> float:
    """Seconds the transformers tokenizer takes for ``texts`` as sentence-transformers calls it."""
    start = time.perf_counter()
    tokenizer(
        list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    return time.perf_counter() - start
