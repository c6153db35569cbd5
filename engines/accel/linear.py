"""``PackedLinear``: one (possibly fused) linear layer of the packed forward, bf16/fp16 or fp8.

Fusing: the query/key/value projections (and a decoder's gate/up projections) read the same
input, so they become one GEMM over the concatenated weights (``[Wq; Wk; Wv]``), which is one
launch instead of three and a wider, more efficient matrix product.

Memory: the transformers model keeps working in the bf16 case: its ``nn.Linear`` weights are
re-pointed at slices of the fused tensor (no second copy). In the fp8 case the quantized
layers' original weights are released (the model's own forward can no longer run; the packed
engine never calls it for the layers it quantized).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional

from ember.engines.accel.fp8 import Fp8Weight, fp8_shape_ok, scaled_mm
from ember.engines.accel.kernels import Act, quantize_act

logger = logging.getLogger(__name__)


class PackedLinear:
    """``y = x @ W.T + b`` for ``x`` ``(M, K)``; fp8 when built with ``fp8=True`` and the shape
    allows (``K`` and ``N`` multiples of 16), else in the weight's dtype."""

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        *,
        fp8: bool = False,
        fast_accum: bool = False,
        out_dtype: torch.dtype | None = None,
    ) -> None:
        self.out_features = int(weight.shape[0])
        self.in_features = int(weight.shape[1])
        self.out_dtype = out_dtype or weight.dtype
        self.bias = bias
        self.fast_accum = fast_accum
        self.weight: torch.Tensor | None = weight
        self.fp8_weight: Fp8Weight | None = None
        if fp8:
            if fp8_shape_ok(self.in_features, self.out_features):
                self.fp8_weight = Fp8Weight.from_weight(weight)
                self.weight = None
            else:
                logger.warning(
                    "a %dx%d linear layer stays in %s: fp8 GEMMs need both sizes to be "
                    "multiples of 16", self.out_features, self.in_features, self.out_dtype,
                )  # fmt: skip

    @property
    def fp8(self) -> bool:
        """Whether this layer runs an fp8 GEMM (and so wants fp8 inputs)."""
        return self.fp8_weight is not None

    def __call__(self, act: Act) -> torch.Tensor:
        """Apply the layer to ``act`` (quantizing it first if this layer is fp8 and it is not)."""
        if self.fp8_weight is not None:
            if act.scale is None:
                act = quantize_act(act.x)
            assert act.scale is not None
            return scaled_mm(
                act.x,
                act.scale,
                self.fp8_weight,
                self.bias,
                self.out_dtype,
                fast_accum=self.fast_accum,
            )
        if act.scale is not None:
            raise ValueError("a bf16/fp16 linear layer got an fp8 input")
        assert self.weight is not None
        return functional.linear(act.x, self.weight, self.bias)

    def add_into(self, out: torch.Tensor, act: Act) -> None:
        """``out += layer(act)`` (the residual add). In bf16/fp16 the add happens in the GEMM's
        epilogue (``addmm_``: cuBLAS reads ``out`` as C with beta = 1), which saves a separate
        read and write of the residual stream; fp8 GEMMs have no C input, so they add after."""
        if self.fp8_weight is not None or act.scale is not None:
            out.add_(self(act))
            return
        assert self.weight is not None
        out.addmm_(act.x, self.weight.t())
        if self.bias is not None:
            out.add_(self.bias)

    @classmethod
    def fuse(
        cls,
        layers: Sequence[nn.Linear],
        *,
        fp8: bool = False,
        fast_accum: bool = False,
    ) -> PackedLinear:
        """One layer computing ``layers`` side by side (outputs concatenated in order).

        Missing biases count as zeros when any layer has one. In bf16 the given layers'
        parameters are re-pointed at the fused tensors; with fp8 their weights are released.
        """
        with torch.no_grad():
            weights = [layer.weight.detach() for layer in layers]
            weight = weights[0] if len(layers) == 1 else torch.cat(weights, dim=0)
            biases = [layer.bias for layer in layers]
            bias: torch.Tensor | None = None
            if any(b is not None for b in biases):
                parts = [
                    b.detach() if b is not None else weight.new_zeros(w.shape[0])
                    for b, w in zip(biases, weights, strict=True)
                ]
                bias = parts[0] if len(parts) == 1 else torch.cat(parts)
            fused = cls(weight, bias, fp8=fp8, fast_accum=fast_accum)
            if fused.fp8:
                for layer in layers:
                    layer.weight = nn.Parameter(weight.new_empty(0), requires_grad=False)
            elif len(layers) > 1:
                start = 0
                for layer, part in zip(layers, weights, strict=True):
                    stop = start + part.shape[0]
                    layer.weight = nn.Parameter(weight[start:stop], requires_grad=False)
                    if bias is not None and layer.bias is not None:
                        layer.bias = nn.Parameter(bias[start:stop], requires_grad=False)
                    start = stop
        return fused

    @classmethod
    def fuser(cls, *, fp8: bool, fast_accum: bool) -> Callable[..., PackedLinear]:
        """:meth:`fuse` with the options bound: ``fuser(fp8=f, fast_accum=a)(q, k, v)`` is
        ``fuse([q, k, v], fp8=f, fast_accum=a)`` (what each packed model's loader builds its
        layers with)."""

        def fuse(*layers: nn.Linear) -> PackedLinear:
            return cls.fuse(layers, fp8=fp8, fast_accum=fast_accum)

        return fuse
