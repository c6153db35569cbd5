"""The fused elementwise steps of the packed forward, each with a Triton kernel and a torch twin.

* :func:`rms_norm` — ``x += delta`` (the residual add, in place) then RMSNorm, writing either the
  model dtype or fp8 + per-token scales (the input of an fp8 GEMM);
* :func:`silu_mul` — ``silu(gate) * up`` from a fused ``[gate | up]`` projection, to the model
  dtype or fp8 + scales; :func:`gelu_tanh_mul` the same with Gemma3's tanh-approximated GELU;
* :func:`quantize_act` — per-token fp8 quantization of a tensor no other kernel produced;
* :func:`qk_norm_rope` — split a fused QKV projection into contiguous q/k/v, applying Qwen3's
  per-head q/k RMSNorm (when present) and the rotary embedding on the way.

Each is one pass over its tensors (one read, one write), computing in float32 registers, so no
``[M, hidden]`` float32 copy ever reaches device memory. The Triton kernels run when the tensor
is on CUDA and ``triton`` imports (``EMBER_ACCEL_TRITON=0`` turns them off); otherwise the torch
versions run (CPU, and the reference the tests compare the kernels with). :func:`kernel_backend`
forces one or the other, e.g. the Triton kernels on CPU tensors under ``TRITON_INTERPRET=1``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import logging
import os
from collections.abc import Iterator
from types import ModuleType
from typing import Literal, NamedTuple

import torch
from torch.nn import functional

from ember.engines.accel.fp8 import FP8_DTYPE, quantize_rows

logger = logging.getLogger(__name__)

Backend = Literal["auto", "triton", "torch"]
_backend: Backend = "auto"


class Act(NamedTuple):
    """An activation on its way into a linear layer: ``x`` in the model dtype (``scale`` None),
    or ``x`` fp8 with ``scale`` its ``(M, 1)`` float32 per-token scales."""

    x: torch.Tensor
    scale: torch.Tensor | None = None


@contextlib.contextmanager
def kernel_backend(backend: Backend) -> Iterator[None]:
    """Within the block, run the Triton kernels (``"triton"``), the torch versions
    (``"torch"``) or choose per tensor (``"auto"``, the default)."""
    global _backend
    previous = _backend
    _backend = backend
    try:
        yield
    finally:
        _backend = previous


@functools.cache
def triton_importable() -> bool:
    """Whether the ``triton`` package is installed."""
    return importlib.util.find_spec("triton") is not None


@functools.cache
def _triton() -> ModuleType:
    return importlib.import_module("ember.engines.accel.triton_kernels")


#: Set when a Triton kernel failed to compile or launch under the "auto" backend.
_failure: str | None = None


def triton_failure() -> str | None:
    """Why the Triton kernels were turned off in this process (None: they were not)."""
    return _failure


def use_triton(x: torch.Tensor) -> bool:
    """Whether the Triton kernel runs for a tensor like ``x`` under the current backend."""
    if _backend == "torch":
        return False
    if _backend == "triton":
        return True
    return (
        x.is_cuda
        and _failure is None
        and triton_importable()
        and os.environ.get("EMBER_ACCEL_TRITON") != "0"
    )


def _launch(name: str, grid: tuple[int, ...], *args: object, **kwargs: object) -> bool:
    """Launch Triton kernel ``name``; False if it failed to compile or launch.

    Under the "auto" backend a failure (a compiler or driver mismatch on some machine) turns the
    Triton kernels off for the process with one error log, and the caller computes the torch
    twin instead: slower, never wrong. Compile and launch errors are raised before the kernel
    runs, so no output (nor the in-place residual) has been touched. Forced "triton" re-raises.
    """
    global _failure
    try:
        _triton().kernel(name)[grid](*args, **kwargs)
    except Exception as exc:
        if _backend == "triton":
            raise
        _failure = f"{name}: {type(exc).__name__}: {exc}"
        logger.error("Triton kernel %s failed; using torch versions from now on: %s", name, exc)
        return False
    return True


def _warps(elements: int) -> int:
    if elements >= 8192:
        return 16
    if elements >= 2048:
        return 8
    return 4


# -- RMSNorm ----------------------------------------------------------------------------------


def rms_norm_reference(
    x: torch.Tensor,
    weight: torch.Tensor,
    eps: float,
    delta: torch.Tensor | None = None,
    quant: bool = False,
) -> Act:
    """Torch version of :func:`rms_norm` (same contract)."""
    if delta is not None:
        x.add_(delta)
    x32 = x.to(torch.float32)
    y = x32 * torch.rsqrt(x32.pow(2).mean(dim=-1, keepdim=True) + eps) * weight.to(torch.float32)
    if quant:
        q, scale = quantize_rows(y)
        return Act(q, scale)
    return Act(y.to(x.dtype))


def rms_norm(
    x: torch.Tensor,
    weight: torch.Tensor,
    eps: float,
    delta: torch.Tensor | None = None,
    quant: bool = False,
) -> Act:
    """RMSNorm of ``x`` ``(M, N)`` (contiguous), after ``x += delta`` in place when given.

    Returns the normalised rows in ``x``'s dtype, or (``quant``) as fp8 with per-token scales.
    """
    if not use_triton(x) or x.shape[-1] > 65536:
        return rms_norm_reference(x, weight, eps, delta, quant)
    if not x.is_contiguous():
        raise ValueError("rms_norm updates x in place: it must be contiguous")
    if delta is not None:
        delta = delta.contiguous()
    rows, n = x.shape
    block = _next_pow2(n)
    out = (
        torch.empty_like(x) if not quant else torch.empty(x.shape, dtype=FP8_DTYPE, device=x.device)
    )
    scale = torch.empty((rows, 1), dtype=torch.float32, device=x.device) if quant else out
    launched = _launch(
        "rmsnorm",
        (rows,),
        x,
        delta if delta is not None else x,
        weight,
        out,
        out,
        scale,
        eps,
        N=n,
        BLOCK=block,
        HAS_DELTA=delta is not None,
        QUANT=quant,
        num_warps=_warps(block),
    )
    if not launched:
        return rms_norm_reference(x, weight, eps, delta, quant)
    return Act(out, scale) if quant else Act(out)


# -- SiLU * mul, GELU-tanh * mul ------------------------------------------------------------


def _gate(gate: torch.Tensor, gelu: bool) -> torch.Tensor:
    if gelu:
        return functional.gelu(gate, approximate="tanh")
    return functional.silu(gate)


def silu_mul_reference(gate_up: torch.Tensor, quant: bool = False, gelu: bool = False) -> Act:
    """Torch version of :func:`silu_mul` (same contract; ``gelu``: :func:`gelu_tanh_mul`)."""
    half = gate_up.shape[-1] // 2
    g = gate_up[:, :half].to(torch.float32)
    y = _gate(g, gelu) * gate_up[:, half:].to(torch.float32)
    if quant:
        q, scale = quantize_rows(y)
        return Act(q, scale)
    return Act(y.to(gate_up.dtype))


def silu_mul(gate_up: torch.Tensor, quant: bool = False) -> Act:
    """``silu(gate_up[:, :I]) * gate_up[:, I:]`` for a contiguous ``(M, 2I)`` tensor.

    Returns ``(M, I)`` in ``gate_up``'s dtype, or (``quant``) fp8 with per-token scales.
    """
    return _gated_mul(gate_up, quant, gelu=False)


def gelu_tanh_mul(gate_up: torch.Tensor, quant: bool = False) -> Act:
    """``gelu_tanh(gate_up[:, :I]) * gate_up[:, I:]`` (Gemma3's MLP), else as :func:`silu_mul`."""
    return _gated_mul(gate_up, quant, gelu=True)


def _gated_mul(gate_up: torch.Tensor, quant: bool, gelu: bool) -> Act:
    if not use_triton(gate_up):
        return silu_mul_reference(gate_up, quant, gelu)
    gate_up = gate_up.contiguous()
    rows, width = gate_up.shape
    inner = width // 2
    if quant:
        q = torch.empty((rows, inner), dtype=FP8_DTYPE, device=gate_up.device)
        scale = torch.empty((rows, 1), dtype=torch.float32, device=gate_up.device)
        block = min(_next_pow2(inner), 4096)
        warps = 8 if block >= 2048 else 4
        if not _launch(
            "silu_mul_quant", (rows,), gate_up, q, scale, INNER=inner, BLOCK=block, GELU=gelu,
            num_warps=warps,
        ):  # fmt: skip
            return silu_mul_reference(gate_up, quant, gelu)
        return Act(q, scale)
    out = torch.empty((rows, inner), dtype=gate_up.dtype, device=gate_up.device)
    block = min(_next_pow2(inner), 1024)
    grid = (rows, (inner + block - 1) // block)
    if not _launch(
        "silu_mul", grid, gate_up, out, INNER=inner, BLOCK=block, GELU=gelu, num_warps=4
    ):
        return silu_mul_reference(gate_up, quant, gelu)
    return Act(out)


# -- per-token quantization -------------------------------------------------------------------


def quantize_act(x: torch.Tensor) -> Act:
    """Per-token fp8 quantization of a contiguous ``(M, K)`` tensor."""
    if not use_triton(x):
        q, scale = quantize_rows(x)
        return Act(q, scale)
    x = x.contiguous()
    rows, n = x.shape
    q = torch.empty((rows, n), dtype=FP8_DTYPE, device=x.device)
    scale = torch.empty((rows, 1), dtype=torch.float32, device=x.device)
    block = min(_next_pow2(n), 4096)
    warps = 8 if block >= 2048 else 4
    if not _launch("quant_rows", (rows,), x, q, scale, N=n, BLOCK=block, num_warps=warps):
        q, scale = quantize_rows(x)
    return Act(q, scale)


# -- q/k norm + rotary ------------------------------------------------------------------------


class QKV(NamedTuple):
    """Contiguous query ``(M, Hq, D)``, key and value ``(M, Hkv, D)``."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def _head_rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight.to(torch.float32)


def qk_norm_rope_reference(
    qkv: torch.Tensor,
    positions: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    q_weight: torch.Tensor | None,
    k_weight: torch.Tensor | None,
    eps: float,
    num_q_heads: int,
    num_kv_heads: int,
) -> QKV:
    """Torch version of :func:`qk_norm_rope` (same contract)."""
    rows = qkv.shape[0]
    heads = qkv.view(rows, num_q_heads + 2 * num_kv_heads, -1)
    q = heads[:, :num_q_heads].to(torch.float32)
    k = heads[:, num_q_heads : num_q_heads + num_kv_heads].to(torch.float32)
    v = heads[:, num_q_heads + num_kv_heads :]
    if q_weight is not None and k_weight is not None:
        q = _head_rms(q, q_weight, eps)
        k = _head_rms(k, k_weight, eps)
    c = cos.index_select(0, positions).unsqueeze(1)
    s = sin.index_select(0, positions).unsqueeze(1)
    return QKV(_rotate(q, c, s).to(qkv.dtype), _rotate(k, c, s).to(qkv.dtype), v.contiguous())


def qk_norm_rope(
    qkv: torch.Tensor,
    positions: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    q_weight: torch.Tensor | None,
    k_weight: torch.Tensor | None,
    eps: float,
    num_q_heads: int,
    num_kv_heads: int,
) -> QKV:
    """Split a contiguous ``(M, (Hq + 2 Hkv) * D)`` fused projection into q, k, v.

    q and k get the per-head RMSNorm with ``q_weight``/``k_weight`` (``(D,)``; both None: no
    norm) and then the rotary embedding at ``positions`` (``(M,)`` int64), reading ``cos`` and
    ``sin`` tables of shape ``(max_position, D / 2)`` float32 (attention scaling folded in).
    """
    rows, width = qkv.shape
    total_heads = num_q_heads + 2 * num_kv_heads
    head_dim = width // total_heads
    half = head_dim // 2
    if not use_triton(qkv) or half & (half - 1) != 0:
        return qk_norm_rope_reference(
            qkv, positions, cos, sin, q_weight, k_weight, eps, num_q_heads, num_kv_heads
        )
    qkv = qkv.contiguous()
    q = torch.empty((rows, num_q_heads, head_dim), dtype=qkv.dtype, device=qkv.device)
    k = torch.empty((rows, num_kv_heads, head_dim), dtype=qkv.dtype, device=qkv.device)
    v = torch.empty((rows, num_kv_heads, head_dim), dtype=qkv.dtype, device=qkv.device)
    has_norm = q_weight is not None and k_weight is not None
    head_block = _next_pow2(total_heads)
    launched = _launch(
        "qk_norm_rope",
        (rows,),
        qkv,
        positions,
        cos,
        sin,
        q_weight if q_weight is not None else cos,
        k_weight if k_weight is not None else cos,
        q,
        k,
        v,
        eps,
        HQ=num_q_heads,
        HK=num_kv_heads,
        D=head_dim,
        HB=head_block,
        HAS_NORM=has_norm,
        num_warps=4 if head_block * half <= 2048 else 8,
    )
    if not launched:
        return qk_norm_rope_reference(
            qkv, positions, cos, sin, q_weight, k_weight, eps, num_q_heads, num_kv_heads
        )
    return QKV(q, k, v)


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())
