"""Varlen attention's reference path against one masked attention over the whole packed row."""

from __future__ import annotations

import math

import pytest
import torch

from ember.engines.accel.attention import (
    expand_kv,
    flash_supported,
    reference_varlen_attention,
    varlen_attention,
)


def _block_mask(lengths: list[int], causal: bool) -> torch.Tensor:
    """(M, M) True where token i may attend to token j (same sequence, and j <= i if causal)."""
    seg = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    mask = seg[:, None] == seg[None, :]
    if causal:
        mask &= torch.ones_like(mask).tril()
    return mask


def _dense(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, scale: float
           ) -> torch.Tensor:  # fmt: skip
    groups = q.shape[1] // k.shape[1]
    k, v = expand_kv(k, groups), expand_kv(v, groups)
    scores = torch.einsum("mhd,nhd->hmn", q.double(), k.double()) * scale
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.einsum("hmn,nhd->mhd", scores.softmax(-1), v.double()).to(q.dtype)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("kv_heads", [4, 2, 1])
def test_reference_matches_block_diagonal_attention(causal: bool, kv_heads: int) -> None:
    gen = torch.Generator().manual_seed(kv_heads + 10 * causal)
    lengths = [3, 1, 7, 4]
    rows, heads, dim = sum(lengths), 4, 16
    q = torch.randn(rows, heads, dim, generator=gen)
    k = torch.randn(rows, kv_heads, dim, generator=gen)
    v = torch.randn(rows, kv_heads, dim, generator=gen)
    scale = 1 / math.sqrt(dim)
    out = reference_varlen_attention(q, k, v, lengths=lengths, causal=causal, scale=scale)
    expected = _dense(q, k, v, _block_mask(lengths, causal), scale)
    assert torch.allclose(out, expected, rtol=1e-5, atol=1e-5)
    # Through the dispatcher on CPU (no flash) the result is the same.
    cu = torch.tensor([0, 3, 4, 11, 15], dtype=torch.int32)
    assert not flash_supported(q)
    routed = varlen_attention(
        q, k, v, cu_seqlens_i32=cu, lengths=lengths, max_seqlen=7, causal=causal, scale=scale
    )
    assert torch.equal(routed, out)


def test_reference_accepts_strided_views_of_a_fused_projection() -> None:
    gen = torch.Generator().manual_seed(3)
    lengths = [2, 5]
    qkv = torch.randn(7, 3, 2, 8, generator=gen)
    q, k, v = qkv.unbind(1)
    assert not q.is_contiguous()
    out = reference_varlen_attention(q, k, v, lengths=lengths, causal=False, scale=0.5)
    ref = reference_varlen_attention(
        q.contiguous(), k.contiguous(), v.contiguous(), lengths=lengths, causal=False, scale=0.5
    )
    assert torch.equal(out, ref)


def test_expand_kv_matches_transformers_repeat_kv() -> None:
    from transformers.models.llama.modeling_llama import repeat_kv

    x = torch.randn(5, 2, 4)  # (M, Hkv, D)
    ours = expand_kv(x, 3)
    theirs = repeat_kv(x.transpose(0, 1).unsqueeze(0), 3)[0].transpose(0, 1)
    assert torch.equal(ours, theirs)
    assert expand_kv(x, 1) is x


@pytest.mark.parametrize("causal", [False, True])
def test_flash_call_binds_on_the_meta_device(causal: bool) -> None:
    """The exact aten call the CUDA path makes, checked against this torch's schema and shape
    rules through its meta kernel (no GPU needed): GQA heads and strided q/k/v views."""
    from ember.engines.accel.attention import _flash

    def meta(*shape: int) -> torch.Tensor:
        return torch.empty(*shape, device="meta", dtype=torch.bfloat16)

    cu = torch.empty(5, device="meta", dtype=torch.int32)
    kv = meta(100, 8, 128)
    out = _flash(meta(100, 32, 128), kv, kv, cu, 40, causal, 0.088)
    assert out.shape == (100, 32, 128)
    assert out.dtype == torch.bfloat16
    q, k, v = meta(100, 3, 12, 64).unbind(1)
    assert _flash(q, k, v, cu, 40, causal, 0.125).shape == (100, 12, 64)
    # ModernBERT's local layers: the window arguments bind too (bidirectional).
    if not causal:
        assert _flash(q, k, v, cu, 40, causal, 0.125, window=64).shape == (100, 12, 64)


def test_flash_failures_fall_back_to_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal of grouped heads expands k/v once; any other flash error turns flash off with
    one error log and the per-sequence path answers."""
    from ember.engines.accel import attention

    gen = torch.Generator().manual_seed(4)
    lengths = [3, 5]
    q = torch.randn(8, 4, 16, generator=gen)
    k = torch.randn(8, 2, 16, generator=gen)
    v = torch.randn(8, 2, 16, generator=gen)
    cu = torch.tensor([0, 3, 8], dtype=torch.int32)
    expected = reference_varlen_attention(q, k, v, lengths=lengths, causal=True, scale=0.25)
    calls: list[int] = []

    def picky(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *rest: object) -> torch.Tensor:
        calls.append(k.shape[1])
        if k.shape[1] != q.shape[1]:
            raise RuntimeError("Number of heads in key/value must divide number of heads")
        return reference_varlen_attention(q, k, v, lengths=lengths, causal=True, scale=0.25)

    monkeypatch.setattr(attention, "flash_supported", lambda q: attention._flash_failure is None)
    monkeypatch.setattr(attention, "_flash", picky)
    monkeypatch.setattr(attention, "_flash_needs_equal_heads", False)
    monkeypatch.setattr(attention, "_flash_failure", None)
    kwargs = {"cu_seqlens_i32": cu, "lengths": lengths, "max_seqlen": 5, "causal": True}
    out = varlen_attention(q, k, v, scale=0.25, **kwargs)  # type: ignore[arg-type]
    assert calls == [2, 4]  # refused, then expanded
    assert torch.allclose(out, expected, atol=1e-6)
    assert attention.flash_failure() is None

    def broken(*args: object) -> torch.Tensor:
        raise RuntimeError("FlashAttention only supports Ampere GPUs or newer.")

    monkeypatch.setattr(attention, "_flash", broken)
    out = varlen_attention(q, k, v, scale=0.25, **kwargs)  # type: ignore[arg-type]
    assert torch.allclose(out, expected, atol=1e-6)
    failure = attention.flash_failure()
    assert failure is not None
    assert "Ampere" in failure
