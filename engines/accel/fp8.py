"""FP8 (E4M3) quantization: the math, the hardware check and the scaled matrix product.

Scheme (the "rowwise" recipe cuBLAS runs on Hopper):

* weights ``W (N, K)``: one scale per output channel, ``s_w[n] = max_k |W[n, k]| / 448``,
  ``Wq = round_e4m3(clamp(W / s_w, -448, 448))``, stored ``(N, K)`` row-major (so ``Wq.t()`` is
  the column-major ``(K, N)`` operand ``torch._scaled_mm`` wants);
* activations ``X (M, K)``: one scale per token, computed on the fly,
  ``s_x[m] = max(max_k |X[m, k]|, EPS) / 448`` (EPS keeps all-zero rows finite: they quantize to
  zeros and dequantize to zeros);
* ``Y = (Xq @ Wq.t()) * s_x * s_w.t() + bias`` with float32 accumulation, output bfloat16 or
  float16: ``torch._scaled_mm(Xq, Wq.t(), scale_a=s_x (M, 1), scale_b=s_w (1, N), bias,
  out_dtype)``. Its requirements: both fp8 operands with ``K`` and ``N`` multiples of 16 (``M``
  is free), ``a`` row-major and ``b`` column-major, float32 scales of exactly those shapes and
  contiguous, bias in the output dtype.

448 is the largest finite E4M3 value; values are clamped before the cast so nothing saturates
to NaN. Per-token scales adapt to every token's range, so one outlier token does not cost the
others their precision. The same math quantizes on CPU (tests) and GPU; only Hopper/Ada GPUs
(compute capability >= 8.9) run fp8 matrix products, and :func:`require_fp8` says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ember.engines.errors import BackendUnavailableError

FP8_DTYPE = torch.float8_e4m3fn
#: Largest finite float8_e4m3fn value.
FP8_MAX = 448.0
#: Floor of a row's max-abs before it becomes a scale (all-zero rows).
SCALE_EPS = 1e-12
#: Compute capability of the first GPUs with fp8 tensor cores (Ada); Hopper is 9.0.
MIN_FP8_CAPABILITY = (8, 9)

FP8_UNAVAILABLE = (
    "fp8 quantization needs an NVIDIA GPU with fp8 tensor cores (Hopper such as H100/H200, or "
    "Ada such as L4/L40S; compute capability >= 8.9)"
)


def fp8_supported(device: torch.device) -> bool:
    """Whether ``device`` runs fp8 matrix products (CUDA with capability >= 8.9)."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    return torch.cuda.get_device_capability(device) >= MIN_FP8_CAPABILITY


def require_fp8(device: torch.device) -> None:
    """Raise :class:`BackendUnavailableError` unless ``device`` supports fp8."""
    if device.type != "cuda":
        raise BackendUnavailableError(
            f"{FP8_UNAVAILABLE}; the model is on {device.type!r}. Use quantization none "
            "(or int8 on the CPU)"
        )
    if not fp8_supported(device):
        major, minor = torch.cuda.get_device_capability(device)
        name = torch.cuda.get_device_name(device)
        raise BackendUnavailableError(
            f"{FP8_UNAVAILABLE}; {name} has compute capability {major}.{minor}. Use dtype "
            "bfloat16 or float16 without quantization"
        )


def row_scales(x: torch.Tensor) -> torch.Tensor:
    """``(rows, 1)`` float32 scales: each row's max-abs (floored at ``SCALE_EPS``) over 448."""
    amax = x.abs().amax(dim=-1, keepdim=True).to(torch.float32)
    return amax.clamp(min=SCALE_EPS) / FP8_MAX


def quantize_with_scales(x: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """``round_e4m3(clamp(x / scales, -448, 448))`` (computed in float32)."""
    scaled = x.to(torch.float32) / scales
    return scaled.clamp(-FP8_MAX, FP8_MAX).to(FP8_DTYPE)


def quantize_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row (per-token, or per-output-channel for weights) quantization of a 2-D tensor.

    Returns ``(q, scales)``: ``q`` float8_e4m3fn of ``x``'s shape, ``scales`` ``(rows, 1)``
    float32 with ``x ≈ q.float() * scales``.
    """
    if x.dim() != 2:
        raise ValueError(f"quantize_rows wants a 2-D tensor, got shape {tuple(x.shape)}")
    scales = row_scales(x)
    return quantize_with_scales(x, scales), scales


def dequantize(q: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """``q.float() * scales`` (float32)."""
    return q.to(torch.float32) * scales


def emulated_scaled_mm(
    a: torch.Tensor,
    b: torch.Tensor,
    scale_a: torch.Tensor,
    scale_b: torch.Tensor,
    bias: torch.Tensor | None = None,
    out_dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """What ``torch._scaled_mm(a, b, scale_a, scale_b, bias, out_dtype=...)`` computes, in
    float32 on any device: ``(a @ b) * scale_a * scale_b + bias``."""
    out = (a.to(torch.float32) @ b.to(torch.float32)) * scale_a * scale_b
    if bias is not None:
        out = out + bias.to(torch.float32)
    return out.to(out_dtype)


def fp8_shape_ok(in_features: int, out_features: int) -> bool:
    """``torch._scaled_mm`` needs both weight dimensions to be multiples of 16."""
    return in_features % 16 == 0 and out_features % 16 == 0


@dataclass(frozen=True)
class Fp8Weight:
    """A weight quantized per output channel: ``(N, K)`` fp8 and ``(1, N)`` float32 scales."""

    q: torch.Tensor
    scale: torch.Tensor

    @classmethod
    def from_weight(cls, weight: torch.Tensor) -> Fp8Weight:
        """Quantize ``weight`` ``(N, K)`` (any float dtype, any device)."""
        q, scales = quantize_rows(weight.detach())
        return cls(q.contiguous(), scales.reshape(1, -1).contiguous())

    @property
    def out_features(self) -> int:
        """``N``."""
        return int(self.q.shape[0])

    @property
    def in_features(self) -> int:
        """``K``."""
        return int(self.q.shape[1])


def scaled_mm(
    xq: torch.Tensor,
    x_scale: torch.Tensor,
    weight: Fp8Weight,
    bias: torch.Tensor | None,
    out_dtype: torch.dtype,
    *,
    fast_accum: bool = False,
) -> torch.Tensor:
    """``Y = (xq @ Wq.t()) * x_scale * w_scale + bias`` via ``torch._scaled_mm`` (rowwise).

    ``xq`` ``(M, K)`` fp8 row-major, ``x_scale`` ``(M, 1)`` float32; the result is
    ``(M, N)`` in ``out_dtype`` (bfloat16 or float16). ``fast_accum`` lets the tensor cores
    accumulate without periodic promotion (faster on Hopper, slightly less precise).
    """
    bias_arg = None if bias is None else bias.to(out_dtype)
    out: torch.Tensor = torch._scaled_mm(
        xq,
        weight.q.t(),
        scale_a=x_scale,
        scale_b=weight.scale,
        bias=bias_arg,
        out_dtype=out_dtype,
        use_fast_accum=fast_accum,
    )
    return out
