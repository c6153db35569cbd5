"""FP8 (E4M3) quantization math, the scaled matrix product and the no-fp8-hardware fallback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from ember.engines.accel.fp8 import (
    FP8_DTYPE,
    FP8_MAX,
    SCALE_EPS,
    Fp8Weight,
    dequantize,
    emulated_scaled_mm,
    fp8_supported,
    quantize_rows,
    quantize_with_scales,
    require_fp8,
    scaled_mm,
)
from ember.engines.accel.kernels import Act
from ember.engines.accel.linear import PackedLinear
from ember.engines.errors import BackendUnavailableError, ModelLoadError

#: E4M3 keeps 3 mantissa bits: round-to-nearest is within 2**-4 of a normal value; below the
#: smallest normal (2**-6) the spacing is 2**-9, so the absolute error is at most 2**-10
#: (both in units of the row's scale).
REL_BOUND = 2.0**-4
ABS_BOUND = 2.0**-10


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("spread", [1e-3, 1.0, 1e3])
def test_round_trip_error_is_within_e4m3_rounding(spread: float) -> None:
    x = torch.randn(64, 256, generator=_gen(1)) * spread
    x[3] *= 50.0  # rows of very different ranges in one tensor
    q, scales = quantize_rows(x)
    back = dequantize(q, scales)
    err = (back - x).abs()
    bound = REL_BOUND * x.abs() + ABS_BOUND * scales
    assert torch.all(err <= bound * (1 + 1e-6)), float((err - bound).max())
    # And the error is not trivially zero: quantization did happen.
    assert float(err.max()) > 0


def test_scale_and_dtype_shapes() -> None:
    x = torch.randn(7, 48, generator=_gen(2), dtype=torch.bfloat16)
    q, scales = quantize_rows(x)
    assert q.dtype == FP8_DTYPE
    assert q.shape == (7, 48)
    assert scales.dtype == torch.float32
    assert scales.shape == (7, 1)
    w = Fp8Weight.from_weight(torch.randn(32, 48, generator=_gen(3)))
    assert w.q.shape == (32, 48)
    assert w.q.is_contiguous()
    assert w.scale.shape == (1, 32)
    assert w.scale.dtype == torch.float32
    assert w.scale.is_contiguous()
    assert (w.out_features, w.in_features) == (32, 48)
    with pytest.raises(ValueError, match="2-D"):
        quantize_rows(torch.randn(2, 3, 4))


def test_row_maximum_maps_to_448_and_nothing_saturates_to_nan() -> None:
    x = torch.randn(16, 100, generator=_gen(4)) * 1e4
    q, scales = quantize_rows(x)
    qf = q.float()
    assert torch.equal(qf.abs().amax(dim=1), torch.full((16,), FP8_MAX))
    assert not torch.isnan(qf).any()
    # A scale too small for the data clamps at +-448 instead of overflowing to NaN.
    tiny = quantize_with_scales(x, scales / 100)
    assert not torch.isnan(tiny.float()).any()
    assert float(tiny.float().abs().max()) == FP8_MAX


def test_zero_rows_quantize_to_zeros_with_a_finite_scale() -> None:
    x = torch.randn(4, 32, generator=_gen(5))
    x[1] = 0.0
    q, scales = quantize_rows(x)
    assert float(scales[1, 0]) == pytest.approx(SCALE_EPS / FP8_MAX)
    assert torch.isfinite(scales).all()
    assert torch.equal(q[1].float(), torch.zeros(32))
    assert torch.equal(dequantize(q, scales)[1], torch.zeros(32))


def test_per_channel_and_per_token_scales_are_independent() -> None:
    w = torch.randn(8, 64, generator=_gen(6))
    base = Fp8Weight.from_weight(w)
    boosted = w.clone()
    boosted[2] *= 1000.0  # one outlier output channel
    other = Fp8Weight.from_weight(boosted)
    keep = [i for i in range(8) if i != 2]
    assert torch.equal(base.q[keep].float(), other.q[keep].float())
    assert torch.allclose(other.scale[0, 2], base.scale[0, 2] * 1000.0, rtol=1e-6)
    x = torch.randn(6, 64, generator=_gen(7))
    qx, sx = quantize_rows(x)
    x[0] *= 1e4  # one outlier token leaves the other tokens' codes alone
    qy, sy = quantize_rows(x)
    assert torch.equal(qx[1:].float(), qy[1:].float())
    assert torch.equal(sx[1:], sy[1:])
    # A single per-tensor scale would have flushed the small tokens' codes.
    per_tensor = quantize_with_scales(x, x.abs().max() / FP8_MAX)
    assert not torch.equal(per_tensor[1:].float(), qy[1:].float())


def test_emulated_scaled_mm_equals_dequantized_matmul() -> None:
    a = torch.randn(20, 64, generator=_gen(8))
    b = torch.randn(48, 64, generator=_gen(9))
    bias = torch.randn(48, generator=_gen(10))
    qa, sa = quantize_rows(a)
    qb, sb = quantize_rows(b)
    out = emulated_scaled_mm(qa, qb.t(), sa, sb.t(), bias)
    ref = dequantize(qa, sa) @ dequantize(qb, sb).t() + bias
    assert torch.allclose(out, ref, rtol=1e-5, atol=1e-5)
    # ... and approximates the exact product to fp8 precision.
    exact = a @ b.t() + bias
    assert float((out - exact).norm() / exact.norm()) < 0.08


def _cpu_scaled_mm_available() -> bool:
    try:
        a = torch.zeros(16, 16).to(FP8_DTYPE)
        torch._scaled_mm(a, a.t(), torch.ones(16, 1), torch.ones(1, 16), out_dtype=torch.bfloat16)
    except (RuntimeError, NotImplementedError):
        return False
    return True


@pytest.mark.skipif(not _cpu_scaled_mm_available(), reason="no CPU torch._scaled_mm")
def test_torch_scaled_mm_rowwise_matches_emulation() -> None:
    """The exact call the CUDA path makes (rowwise scales, column-major weight, bias), on CPU."""
    x = torch.randn(33, 64, generator=_gen(11)).to(torch.bfloat16)
    w = Fp8Weight.from_weight(torch.randn(32, 64, generator=_gen(12)))
    bias = torch.randn(32, generator=_gen(13)).to(torch.bfloat16)
    qx, sx = quantize_rows(x)
    out = scaled_mm(qx, sx, w, bias, torch.bfloat16)
    ref = emulated_scaled_mm(qx, w.q.t(), sx, w.scale, bias)
    assert out.dtype == torch.bfloat16
    assert out.shape == (33, 32)
    assert torch.allclose(out.float(), ref, rtol=2**-7, atol=1e-2)


@pytest.mark.skipif(not _cpu_scaled_mm_available(), reason="no CPU torch._scaled_mm")
def test_packed_linear_fp8_quantizes_its_input() -> None:
    weight = torch.randn(32, 64, generator=_gen(14)).to(torch.bfloat16)
    bias = torch.randn(32, generator=_gen(15)).to(torch.bfloat16)
    layer = PackedLinear(weight, bias, fp8=True)
    assert layer.fp8
    assert layer.weight is None
    x = torch.randn(10, 64, generator=_gen(16)).to(torch.bfloat16)
    out = layer(Act(x))
    exact = x.float() @ weight.float().t() + bias.float()
    assert float((out.float() - exact).norm() / exact.norm()) < 0.08
    # Pre-quantized input (what the fused kernels hand over) gives the same result.
    qx, sx = quantize_rows(x)
    assert torch.equal(layer(Act(qx, sx)), out)


def test_packed_linear_keeps_odd_shapes_in_bf16(caplog: pytest.LogCaptureFixture) -> None:
    weight = torch.randn(24, 40, generator=_gen(17)).to(torch.bfloat16)
    with caplog.at_level(logging.WARNING):
        layer = PackedLinear(weight, None, fp8=True)
    assert not layer.fp8
    assert "multiples of 16" in caplog.text
    x = torch.randn(3, 40, generator=_gen(18)).to(torch.bfloat16)
    assert torch.equal(layer(Act(x)), torch.nn.functional.linear(x, weight))
    with pytest.raises(ValueError, match="fp8 input"):
        layer(Act(*quantize_rows(x)))


# -- the fallback: fp8 without fp8 hardware ------------------------------------------------


def test_require_fp8_on_cpu_names_the_hardware() -> None:
    assert not fp8_supported(torch.device("cpu"))
    with pytest.raises(BackendUnavailableError, match=r"Hopper.*compute capability >= 8\.9"):
        require_fp8(torch.device("cpu"))


def test_require_fp8_on_an_older_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA A100")
    device = torch.device("cuda", 0)
    assert not fp8_supported(device)
    with pytest.raises(BackendUnavailableError, match=r"A100 has compute capability 8\.0"):
        require_fp8(device)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    assert fp8_supported(device)
    require_fp8(device)


def test_fp8_engine_on_cpu_fails_before_loading_weights(tmp_path: Path) -> None:
    from ember.engines.config import EngineConfig
    from ember.engines.registry import load_engine
    from tests.tiny_models import make_tiny_model

    path = make_tiny_model(tmp_path / "m", arch="qwen3", head="embedding")
    for weights in path.glob("*.safetensors"):
        weights.unlink()  # proves the check runs before any weight is read
    for device in ("cpu", "auto") if not torch.cuda.is_available() else ("cpu",):
        config = EngineConfig(model_path=path, device=device, quantization="fp8")
        with pytest.raises(BackendUnavailableError) as info:
            load_engine(config)
        assert "fp8" in info.value.message
        assert "Hopper" in info.value.message
        assert isinstance(info.value, ModelLoadError)


@pytest.mark.parametrize("fp8", [False, True])
def test_add_into_adds_the_layer_output_to_the_residual(fp8: bool) -> None:
    if fp8 and not _cpu_scaled_mm_available():
        pytest.skip("no CPU torch._scaled_mm")
    weight = torch.randn(32, 64, generator=_gen(19)).to(torch.bfloat16)
    bias = torch.randn(32, generator=_gen(20)).to(torch.bfloat16)
    layer = PackedLinear(weight, bias, fp8=fp8)
    x = torch.randn(5, 64, generator=_gen(21)).to(torch.bfloat16)
    residual = torch.randn(5, 32, generator=_gen(22)).to(torch.bfloat16)
    expected = residual.float() + layer(Act(x)).float()
    out = residual.clone()
    layer.add_into(out, Act(x))
    assert torch.allclose(out.float(), expected, rtol=2**-7, atol=2e-2)


def test_scaled_mm_call_passes_torch_meta_checks() -> None:
    """torch's meta kernel for ``_scaled_mm`` enforces the CUDA layout rules (column-major
    weight operand, ``(M, 1)``/``(1, N)`` float32 scales): the call PackedLinear makes passes
    them, and a wrong layout would not."""
    weight = torch.empty(6144, 2560, device="meta", dtype=torch.bfloat16)
    bias = torch.empty(6144, device="meta", dtype=torch.bfloat16)
    layer = PackedLinear(weight, bias, fp8=True)
    assert layer.fp8_weight is not None
    out = layer(Act(torch.empty(1000, 2560, device="meta", dtype=torch.bfloat16)))
    assert out.shape == (1000, 6144)
    assert out.dtype == torch.bfloat16
    x = torch.empty(1000, 2560, device="meta", dtype=FP8_DTYPE)
    scales = torch.empty(1000, 1, device="meta")
    with pytest.raises(RuntimeError, match="col_major"):
        torch._scaled_mm(
            x, layer.fp8_weight.q, scales, layer.fp8_weight.scale, out_dtype=torch.bfloat16
        )
