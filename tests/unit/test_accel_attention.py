"""Varlen attention's reference path against one masked attention over the whole packed row."""

from __future__ import annotations

import math

import pytest
import torch

from ember.engines.accel.attention import (
    Window,
    expand_kv,
    flash_has_window,
    flash_supported,
    reference_varlen_attention,
    varlen_attention,
    window_binds,
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


@pytest.mark.parametrize(("causal", "window"), [(False, (2, 2)), (False, (4, 1)), (True, (3, 0))])
def test_sliding_window_matches_band_masked_attention(causal: bool, window: Window) -> None:
    """Query i sees keys i - left .. i + right of its own sequence (Gemma3's local layers)."""
    gen = torch.Generator().manual_seed(7)
    lengths = [3, 1, 12, 7]
    rows, heads, dim = sum(lengths), 4, 8
    q = torch.randn(rows, heads, dim, generator=gen)
    k = torch.randn(rows, 2, dim, generator=gen)
    v = torch.randn(rows, 2, dim, generator=gen)
    index = torch.cat([torch.arange(n) for n in lengths])
    offset = index[None, :] - index[:, None]
    mask = _block_mask(lengths, causal) & (offset >= -window[0]) & (offset <= window[1])
    expected = _dense(q, k, v, mask, 0.3)
    out = reference_varlen_attention(q, k, v, lengths=lengths, causal=causal, scale=0.3,
                                     window=window)  # fmt: skip
    assert torch.allclose(out, expected, rtol=1e-5, atol=1e-5)
    cu = torch.tensor([0, 3, 4, 16, 23], dtype=torch.int32)
    kwargs = {"cu_seqlens_i32": cu, "lengths": lengths, "max_seqlen": 12, "causal": causal}
    routed = varlen_attention(q, k, v, scale=0.3, window=window, **kwargs)  # type: ignore[arg-type]
    assert torch.equal(routed, out)
    # The window matters here (the check can fail), and one wider than every sequence is none.
    plain = varlen_attention(q, k, v, scale=0.3, **kwargs)  # type: ignore[arg-type]
    assert not torch.allclose(plain, out, atol=1e-3)
    wide = varlen_attention(q, k, v, scale=0.3, window=(11, 11), **kwargs)  # type: ignore[arg-type]
    assert torch.equal(wide, plain)


def test_window_binds() -> None:
    assert not window_binds((4, 4), 5, causal=False)
    assert window_binds((4, 4), 6, causal=False)
    assert window_binds((9, 2), 4, causal=False)
    assert not window_binds((9, 0), 10, causal=True)  # the right side is causal anyway
    assert window_binds((9, 0), 11, causal=True)


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
    # Gemma3's sliding window (torch 2.13 declares the window arguments).
    assert flash_has_window()
    window = (255, 0 if causal else 255)
    assert _flash(q, k, v, cu, 40, causal, 0.125, window).shape == (100, 12, 64)


def test_windowed_attention_without_flash_window_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A torch whose flash kernel takes no window runs windowed layers per sequence."""
    from ember.engines.accel import attention

    gen = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(9, 2, 8, generator=gen) for _ in range(3))
    calls: list[object] = []

    def flash(*args: object) -> torch.Tensor:
        calls.append(args[-1])
        return q

    monkeypatch.setattr(attention, "flash_supported", lambda q: True)
    monkeypatch.setattr(attention, "flash_has_window", lambda: False)
    monkeypatch.setattr(attention, "_flash", flash)
    kwargs = {"cu_seqlens_i32": torch.tensor([0, 9], dtype=torch.int32), "lengths": [9],
              "max_seqlen": 9, "causal": False, "scale": 0.3}  # fmt: skip
    out = varlen_attention(q, k, v, window=(2, 2), **kwargs)  # type: ignore[arg-type]
    expected = reference_varlen_attention(q, k, v, lengths=[9], causal=False, scale=0.3,
                                          window=(2, 2))  # fmt: skip
    assert torch.equal(out, expected)
    assert calls == []
    varlen_attention(q, k, v, **kwargs)  # type: ignore[arg-type]
    assert calls == [None]  # no window: the flash kernel runs


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
