"""The fused kernels: torch twins against transformers' modules, Triton kernels (interpreter)
against the torch twins, and a compile of every kernel for sm_90 (Hopper) without a GPU."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from typing import Any

import pytest
import torch

from ember.engines.accel import kernels as kn
from ember.engines.accel.decoder import rope_tables
from ember.engines.accel.fp8 import quantize_rows

HAS_TRITON = importlib.util.find_spec("triton") is not None
needs_triton = pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _qwen3_config() -> Any:
    from transformers import Qwen3Config

    return Qwen3Config(
        hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
        intermediate_size=96, num_hidden_layers=1, vocab_size=100, rms_norm_eps=1e-6,
        max_position_embeddings=64,
    )  # fmt: skip


# -- torch twins against transformers -------------------------------------------------------


def test_rms_norm_twin_matches_transformers_and_adds_the_residual() -> None:
    from transformers.models.qwen3.modeling_qwen3 import Qwen3RMSNorm

    norm = Qwen3RMSNorm(64, eps=1e-6)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(64, generator=_gen(1)))
    x = torch.randn(9, 64, generator=_gen(2))
    delta = torch.randn(9, 64, generator=_gen(3))
    expected = norm(x + delta)
    residual = x.clone()
    out = kn.rms_norm_reference(residual, norm.weight, 1e-6, delta)
    assert torch.allclose(residual, x + delta)  # the residual stream was updated in place
    assert torch.allclose(out.x, expected, atol=1e-6)
    assert out.scale is None
    q = kn.rms_norm_reference(x.clone(), norm.weight, 1e-6, quant=True)
    assert q.scale is not None
    assert q.x.dtype == torch.float8_e4m3fn
    assert torch.allclose(q.x.float() * q.scale, norm(x), rtol=2**-4, atol=1e-3)


def test_silu_mul_twin() -> None:
    gu = torch.randn(5, 24, generator=_gen(4))
    out = kn.silu_mul_reference(gu).x
    assert torch.allclose(out, torch.nn.functional.silu(gu[:, :12]) * gu[:, 12:])


def test_gelu_tanh_mul_twin_matches_transformers_gemma3_mlp() -> None:
    from transformers import Gemma3TextConfig
    from transformers.models.gemma3.modeling_gemma3 import Gemma3MLP

    config = Gemma3TextConfig(hidden_size=16, intermediate_size=24, vocab_size=10)
    mlp = Gemma3MLP(config)
    x = torch.randn(7, 16, generator=_gen(40))
    gate_up = torch.cat([mlp.gate_proj(x), mlp.up_proj(x)], dim=-1).detach()
    got = kn.gelu_tanh_mul(gate_up).x
    assert torch.allclose(mlp.down_proj(got), mlp(x), atol=1e-6)
    # Not SiLU (so the comparison can fail).
    assert not torch.allclose(got, kn.silu_mul(gate_up).x, atol=1e-3)


def test_qk_norm_rope_twin_matches_transformers_qwen3_attention_math() -> None:
    from transformers.models.qwen3.modeling_qwen3 import (
        Qwen3RMSNorm,
        Qwen3RotaryEmbedding,
        apply_rotary_pos_emb,
    )

    config = _qwen3_config()
    rotary = Qwen3RotaryEmbedding(config)
    hq, hk, d = 4, 2, 16
    positions = torch.tensor([0, 1, 2, 3, 4, 0, 1, 0])
    qkv = torch.randn(8, (hq + 2 * hk) * d, generator=_gen(5))
    q_norm, k_norm = Qwen3RMSNorm(d, eps=1e-6), Qwen3RMSNorm(d, eps=1e-6)
    with torch.no_grad():
        q_norm.weight.copy_(torch.randn(d, generator=_gen(6)))
        k_norm.weight.copy_(torch.randn(d, generator=_gen(7)))
    cos, sin = rope_tables(rotary, 64, torch.device("cpu"))
    got = kn.qk_norm_rope_reference(
        qkv, positions, cos, sin, q_norm.weight, k_norm.weight, 1e-6, hq, hk
    )
    heads = qkv.view(8, hq + 2 * hk, d)
    q = q_norm(heads[:, :hq]).transpose(0, 1).unsqueeze(0)  # (1, H, M, D)
    k = k_norm(heads[:, hq : hq + hk]).transpose(0, 1).unsqueeze(0)
    hf_cos, hf_sin = rotary(qkv, positions.unsqueeze(0))
    q_ref, k_ref = apply_rotary_pos_emb(q, k, hf_cos, hf_sin)
    assert torch.allclose(got.q, q_ref[0].transpose(0, 1), atol=1e-5)
    assert torch.allclose(got.k, k_ref[0].transpose(0, 1), atol=1e-5)
    assert torch.equal(got.v, heads[:, hq + hk :])
    assert got.v.is_contiguous()


# -- Triton kernels in the interpreter against the twins ------------------------------------


def _interpreter_ready() -> bool:
    """Whether this process imported Triton in interpreter mode (``TRITON_INTERPRET=1`` must be
    set before the first ``import triton``: the language's own jitted helpers are built then)."""
    if not HAS_TRITON or os.environ.get("TRITON_INTERPRET") != "1":
        return False
    from triton.language import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
        standard,
    )
    from triton.runtime.interpreter import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
        InterpretedFunction,
    )

    return isinstance(standard.sum, InterpretedFunction)


interpreted = pytest.mark.skipif(
    not _interpreter_ready(), reason="runs in a TRITON_INTERPRET=1 child process"
)


@needs_triton
def test_triton_kernels_match_torch_in_the_interpreter() -> None:
    """Runs this file's ``test_interp_*`` tests in a child process with ``TRITON_INTERPRET=1``
    (this process may already have imported Triton in compiled mode)."""
    if _interpreter_ready():
        pytest.skip("already in the interpreter child")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-m", "", "-k", "interp_",
         "-p", "no:cacheprovider"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    assert "skipped" not in result.stdout.splitlines()[-1]


def _assert_fp8_equal(got: torch.Tensor, expected: torch.Tensor) -> None:
    """Codes equal up to the interpreter's own float32 -> e4m3 rounding, which differs from the
    GPU's ``cvt.rn.satfinite`` (round to nearest even) in two ways: it breaks ties away from
    even, and when rounding carries into the next binade it drops the carry (returning half the
    power of two, or the largest subnormal). Both give a neighbouring code; more than a few
    percent of mismatches, or any farther one, is a kernel bug."""
    g, e = got.float(), expected.float()
    bad = g != e
    power_of_two = torch.frexp(e).mantissa.abs() == 0.5
    carry = power_of_two & (g * e > 0) & (g.abs() < e.abs()) & (2 * g.abs() >= e.abs())
    neighbour = (g - e).abs() <= 2**-3 * e.abs() + 2**-9
    far = bad & ~(carry | neighbour)
    assert not far.any(), (g[far], e[far])
    assert float(bad.float().mean()) < 0.05


def _close(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype) -> bool:
    # The interpreter truncates float32 -> bfloat16 (the GPU rounds to nearest), and a residual
    # add rounds twice: allow two bf16 steps.
    tol = 0.0 if dtype == torch.float32 else 2**-6
    return torch.allclose(a.float(), b.float(), rtol=tol, atol=1e-5)


@interpreted
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("quant", [False, True])
@pytest.mark.parametrize("with_delta", [False, True])
def test_interp_rms_norm(dtype: torch.dtype, quant: bool, with_delta: bool) -> None:
    x = torch.randn(7, 96, generator=_gen(8)).to(dtype)
    delta = torch.randn(7, 96, generator=_gen(9)).to(dtype) if with_delta else None
    w = torch.randn(96, generator=_gen(10)).to(dtype)
    x_triton, x_torch = x.clone(), x.clone()
    with kn.kernel_backend("triton"):
        got = kn.rms_norm(x_triton, w, 1e-6, delta, quant)
    expected = kn.rms_norm_reference(x_torch, w, 1e-6, delta, quant)
    assert _close(x_triton, x_torch, dtype)
    if quant:
        assert got.scale is not None
        assert expected.scale is not None
        assert torch.allclose(got.scale, expected.scale, rtol=1e-2 if with_delta else 1e-6)
        if dtype == torch.float32:
            _assert_fp8_equal(got.x, expected.x)
    else:
        assert got.x.dtype == dtype
        assert _close(got.x, expected.x, dtype)


@interpreted
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_interp_silu_mul_and_quantization(dtype: torch.dtype) -> None:
    gu = torch.randn(5, 2 * 80, generator=_gen(11)).to(dtype)
    with kn.kernel_backend("triton"):
        plain = kn.silu_mul(gu)
        quant = kn.silu_mul(gu, quant=True)
    assert _close(plain.x, kn.silu_mul_reference(gu).x, dtype)
    ref = kn.silu_mul_reference(gu, quant=True)
    assert quant.scale is not None
    assert ref.scale is not None
    assert torch.allclose(quant.scale, ref.scale, rtol=1e-6)
    _assert_fp8_equal(quant.x, ref.x)
    # Gemma3's GELU-tanh variant (the same kernels with GELU set).
    with kn.kernel_backend("triton"):
        plain = kn.gelu_tanh_mul(gu)
        quant = kn.gelu_tanh_mul(gu, quant=True)
    assert _close(plain.x, kn.silu_mul_reference(gu, gelu=True).x, dtype)
    ref = kn.silu_mul_reference(gu, quant=True, gelu=True)
    assert quant.scale is not None
    assert ref.scale is not None
    assert torch.allclose(quant.scale, ref.scale, rtol=1e-5)
    _assert_fp8_equal(quant.x, ref.x)
    x = torch.randn(6, 200, generator=_gen(12)).to(dtype)
    x[2] = 0
    with kn.kernel_backend("triton"):
        q = kn.quantize_act(x)
    qr, sr = quantize_rows(x)
    assert q.scale is not None
    assert torch.equal(q.scale, sr)
    _assert_fp8_equal(q.x, qr)


@interpreted
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("norm", [True, False])
def test_interp_qk_norm_rope(dtype: torch.dtype, norm: bool) -> None:
    hq, hk, d = 4, 2, 16
    qkv = torch.randn(9, (hq + 2 * hk) * d, generator=_gen(13)).to(dtype)
    positions = torch.tensor([0, 1, 2, 3, 0, 1, 0, 1, 2])
    cos = torch.randn(10, d // 2, generator=_gen(14))
    sin = torch.randn(10, d // 2, generator=_gen(15))
    qw = torch.randn(d, generator=_gen(16)).to(dtype) if norm else None
    kw = torch.randn(d, generator=_gen(17)).to(dtype) if norm else None
    with kn.kernel_backend("triton"):
        got = kn.qk_norm_rope(qkv, positions, cos, sin, qw, kw, 1e-6, hq, hk)
    expected = kn.qk_norm_rope_reference(qkv, positions, cos, sin, qw, kw, 1e-6, hq, hk)
    for a, b in zip(got, expected, strict=True):
        assert a.shape == b.shape
        assert a.is_contiguous()
        assert _close(a, b, dtype)


def test_auto_backend_uses_torch_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(2, 8)
    assert not kn.use_triton(x)
    with kn.kernel_backend("triton"):
        assert kn.use_triton(x)
    with kn.kernel_backend("torch"):
        assert not kn.use_triton(x)


# -- the compiled kernels -------------------------------------------------------------------


@needs_triton
def test_every_kernel_compiles_for_hopper_without_spills() -> None:
    from ember.engines.accel.triton_kernels import compile_report

    report = compile_report(capability=90)
    assert compile_report(capability=90, dtype="fp16").keys() == report.keys()
    assert set(report) == {
        "rmsnorm", "rmsnorm_quant", "silu_mul", "silu_mul_quant", "quant_rows", "qk_norm_rope",
        "gelu_mul", "gelu_mul_quant",
    }  # fmt: skip
    for name, facts in report.items():
        assert facts.get("local", 0) == 0, (name, facts)
        assert facts.get("stack", 0) == 0, (name, facts)
        assert 0 < facts.get("registers", 1) <= 255, (name, facts)
        # bf16 rows are read 8 elements (16 bytes) per load; only rope's position is scalar.
        assert facts["vector_loads"] > 0, (name, facts)
        assert facts["scalar_loads"] == (1 if name == "qk_norm_rope" else 0), (name, facts)


@interpreted
@pytest.mark.parametrize("fp8", [False, True])
def test_interp_whole_decoder_forward(fp8: bool) -> None:
    """Every kernel in place inside the Qwen3 packed forward (fp8: the quantizing variants)."""
    import copy

    from transformers import AutoModel

    from ember.engines.accel.decoder import PackedDecoder
    from ember.engines.accel.packing import DeviceStager, PositionRule, pack_encodings
    from ember.engines.types import Encoding

    torch.manual_seed(0)
    auto: Any = AutoModel
    model = auto.from_config(_qwen3_config()).eval()
    if fp8:
        model = model.to(torch.bfloat16)
    gen = _gen(20)
    batch = [Encoding(ids=torch.randint(3, 100, (n,), generator=gen).tolist()) for n in (4, 9, 1)]
    pack = DeviceStager(torch.device("cpu")).stage(
        pack_encodings(batch, PositionRule(), token_types=False)
    )
    outputs = []
    backends: tuple[kn.Backend, ...] = ("triton", "torch")
    for backend in backends:
        decoder = PackedDecoder(copy.deepcopy(model), max_positions=64, fp8=fp8)
        with torch.no_grad(), kn.kernel_backend(backend):
            outputs.append(decoder(pack).float())
    cos = torch.nn.functional.cosine_similarity(outputs[0], outputs[1], dim=-1).min()
    assert float(cos) >= (0.99 if fp8 else 0.99999)


@interpreted
@pytest.mark.parametrize("fp8", [False, True])
def test_interp_whole_gemma3_forward(fp8: bool) -> None:
    """The kernels inside the Gemma3 packed forward: float32 ``1 + w`` norm weights next to
    bf16 activations, the GELU-tanh variants, two rotary tables."""
    import copy

    from transformers import Gemma3TextConfig, Gemma3TextModel

    from ember.engines.accel.gemma3 import PackedGemma3
    from ember.engines.accel.packing import DeviceStager, PositionRule, pack_encodings
    from ember.engines.types import Encoding

    config = Gemma3TextConfig(
        hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, vocab_size=100, sliding_window=6,
        layer_types=["sliding_attention", "full_attention"], use_bidirectional_attention=True,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Gemma3TextModel(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.copy_(torch.randn_like(param) * 0.3)
    if fp8:
        model = model.to(torch.bfloat16)
    gen = _gen(21)
    batch = [Encoding(ids=torch.randint(3, 100, (n,), generator=gen).tolist()) for n in (4, 9, 1)]
    pack = DeviceStager(torch.device("cpu")).stage(
        pack_encodings(batch, PositionRule(), token_types=False)
    )
    outputs = []
    backends: tuple[kn.Backend, ...] = ("triton", "torch")
    for backend in backends:
        forward = PackedGemma3(copy.deepcopy(model), max_positions=64, fp8=fp8)
        with torch.no_grad(), kn.kernel_backend(backend):
            outputs.append(forward(pack).float())
    cos = torch.nn.functional.cosine_similarity(outputs[0], outputs[1], dim=-1).min()
    # fp8: at hidden 64 each path is only ~0.97-0.99 from float32 (the post-attention and
    # post-MLP norms rescale each branch's quantization noise to the residual's size), and the
    # interpreter rounds bf16/e4m3 differently from torch, so the two paths' noise differs; the
    # quantizing kernels' codes are checked one by one above.
    assert float(cos) >= (0.97 if fp8 else 0.99999)


def test_a_failing_triton_kernel_falls_back_to_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under "auto", a kernel that does not compile (say, a toolchain mismatch on some machine)
    turns Triton off with one error and the torch twin answers; forced "triton" re-raises."""

    class Broken:
        def kernel(self, name: str) -> Any:
            raise RuntimeError(f"no compiler for {name}")

    monkeypatch.setattr(kn, "_triton", lambda: Broken())
    monkeypatch.setattr(kn, "_failure", None)
    monkeypatch.setattr(kn, "triton_importable", lambda: True)
    x = torch.randn(4, 16, generator=_gen(30))
    w = torch.randn(16, generator=_gen(31))
    monkeypatch.setattr(torch.Tensor, "is_cuda", property(lambda self: True))
    assert kn.use_triton(x)
    x_ref = x.clone()
    delta = torch.randn(4, 16, generator=_gen(32))
    out = kn.rms_norm(x, w, 1e-6, delta)
    expected = kn.rms_norm_reference(x_ref, w, 1e-6, delta)
    assert torch.equal(out.x, expected.x)
    assert torch.equal(x, x_ref)  # the residual was added exactly once
    failure = kn.triton_failure()
    assert failure is not None
    assert "no compiler for rmsnorm" in failure
    assert not kn.use_triton(x)
    with kn.kernel_backend("triton"), pytest.raises(RuntimeError, match="no compiler"):
        kn.silu_mul(torch.randn(2, 8))
