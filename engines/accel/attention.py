"""Variable-length ("varlen") attention over a packed batch.

``q`` is ``(M, Hq, D)``, ``k``/``v`` ``(M, Hkv, D)`` with ``Hq % Hkv == 0`` (grouped-query
attention); each token attends only to tokens of its own sequence (bidirectional for encoders,
causal for decoders). Only the last dimension needs to be contiguous (views of a fused QKV
projection are fine).

* CUDA, float16/bfloat16, head dim a multiple of 8 up to 256: the flash-attention varlen kernel
  that ships inside PyTorch (``torch.ops.aten._flash_attention_forward`` with ``cum_seq_q`` /
  ``cum_seq_k``). It handles GQA natively; if a build refuses unequal head counts the key/value
  heads are expanded once and that choice is remembered. The arguments used (positional up to
  ``return_debug_mask``, plus ``scale=``) have the same meaning in torch 2.5 through 2.13. A
  sliding window goes to the kernel's ``window_size_left``/``window_size_right`` keywords when
  the build declares them (torch 2.13 does); a build without them runs windowed layers on the
  reference path below (correct, slower; logged once).
* Otherwise (CPU, float32, odd head sizes): a reference path that runs
  ``scaled_dot_product_attention`` on each sequence in turn (the sequence lengths are host
  facts, so it needs no synchronisation), with a band mask for a window shorter than the
  sequence.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

import torch
from torch.nn import functional

from ember.engines.accel.packing import DevicePack

logger = logging.getLogger(__name__)

_FLASH_DTYPES = (torch.float16, torch.bfloat16)
#: Set when the flash kernel refused unequal query/key head counts (then k/v are expanded).
_flash_needs_equal_heads = False
#: Set when the flash kernel failed otherwise (then the per-sequence reference path runs).
_flash_failure: str | None = None


def flash_failure() -> str | None:
    """Why flash attention was turned off in this process (None: it was not)."""
    return _flash_failure


#: ``(left, right)``: query ``i`` attends keys ``i - left`` to ``i + right`` (inclusive).
Window = tuple[int, int]


@functools.cache
def flash_has_window() -> bool:
    """Whether this torch's flash varlen kernel takes ``window_size_left``/``_right``."""
    op = getattr(torch.ops.aten, "_flash_attention_forward", None)
    if op is None:
        return False
    names = {arg.name for arg in op.default._schema.arguments}
    return {"window_size_left", "window_size_right"} <= names


def flash_supported(q: torch.Tensor) -> bool:
    """Whether :func:`varlen_attention` takes the flash-attention path for ``q``."""
    head_dim = q.shape[-1]
    return (
        q.is_cuda
        and _flash_failure is None
        and q.dtype in _FLASH_DTYPES
        and head_dim % 8 == 0
        and head_dim <= 256
        and hasattr(torch.ops.aten, "_flash_attention_forward")
    )


def expand_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """``(M, Hkv, D)`` -> ``(M, Hkv * groups, D)``, each key/value head repeated ``groups`` times
    next to itself (query head ``h`` reads key/value head ``h // groups``)."""
    if groups == 1:
        return x
    return x.repeat_interleave(groups, dim=1)


def _flash(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu_seqlens: torch.Tensor,
    max_seqlen: int,
    causal: bool,
    scale: float,
    window: Window | None = None,
) -> torch.Tensor:
    extra: dict[str, int] = {}
    if window is not None:
        extra = {"window_size_left": window[0], "window_size_right": window[1]}
    result = torch.ops.aten._flash_attention_forward(
        q,
        k,
        v,
        cu_seqlens,
        cu_seqlens,
        max_seqlen,
        max_seqlen,
        0.0,
        causal,
        False,
        scale=scale,
        **extra,
    )
    out: torch.Tensor = result[0]
    return out


def varlen_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    cu_seqlens_i32: torch.Tensor,
    lengths: Sequence[int],
    max_seqlen: int,
    causal: bool,
    scale: float,
    window: Window | None = None,
) -> torch.Tensor:
    """Attention within each packed sequence; returns ``(M, Hq, D)`` in ``q``'s dtype.

    ``cu_seqlens_i32`` (``B + 1`` int32 offsets on ``q``'s device) is what the flash kernel
    reads; ``lengths`` (host) is what the reference path slices by. Both describe the same
    sequences. ``window`` limits each query to a band of keys (see :data:`Window`; with
    ``causal`` the right side is 0 anyway); a window no sequence reaches past is dropped.
    """
    global _flash_needs_equal_heads, _flash_failure
    if window is not None and not window_binds(window, max_seqlen, causal):
        window = None
    groups = q.shape[1] // k.shape[1]
    if flash_supported(q) and (window is None or flash_has_window()):
        if groups > 1 and _flash_needs_equal_heads:
            k, v = expand_kv(k, groups), expand_kv(v, groups)
        try:
            return _flash(q, k, v, cu_seqlens_i32, max_seqlen, causal, scale, window)
        except (RuntimeError, TypeError) as exc:
            # Argument checks raise before the kernel runs, so falling back is safe.
            if groups > 1 and "head" in str(exc).lower() and not _flash_needs_equal_heads:
                logger.warning("flash attention refused grouped KV heads (%s); expanding", exc)
                _flash_needs_equal_heads = True
                return varlen_attention(
                    q, k, v, cu_seqlens_i32=cu_seqlens_i32, lengths=lengths,
                    max_seqlen=max_seqlen, causal=causal, scale=scale, window=window,
                )  # fmt: skip
            _flash_failure = f"{type(exc).__name__}: {exc}"
            logger.error("flash attention failed; per-sequence SDPA from now on: %s", exc)
    elif window is not None and flash_supported(q):
        _warn_no_flash_window()
    return reference_varlen_attention(
        q, k, v, lengths=lengths, causal=causal, scale=scale, window=window
    )


def pack_attention(
    pack: DevicePack,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool,
    scale: float,
    window: Window | None = None,
) -> torch.Tensor:
    """:func:`varlen_attention` over the sequences of ``pack`` (its offsets, host lengths and
    longest sequence): what every packed model forward calls once per layer."""
    return varlen_attention(
        q,
        k,
        v,
        cu_seqlens_i32=pack.cu_seqlens_i32,
        lengths=pack.lengths,
        max_seqlen=pack.max_seqlen,
        causal=causal,
        scale=scale,
        window=window,
    )


@functools.cache
def _warn_no_flash_window() -> None:
    logger.warning(
        "this torch's flash varlen kernel takes no window arguments: sliding-window layers run "
        "per-sequence SDPA (slower)"
    )


def window_binds(window: Window, length: int, causal: bool) -> bool:
    """Whether ``window`` hides any key from any query of a ``length``-token sequence."""
    return length - 1 > window[0] or (not causal and length - 1 > window[1])


def band_mask(length: int, window: Window, causal: bool, device: torch.device) -> torch.Tensor:
    """``(length, length)`` boolean mask, True where query ``i`` may attend key ``j``."""
    index = torch.arange(length, device=device)
    offset = index[None, :] - index[:, None]  # j - i
    allowed = (offset >= -window[0]) & (offset <= window[1])
    if causal:
        allowed &= offset <= 0
    return allowed


def reference_varlen_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    lengths: Sequence[int],
    causal: bool,
    scale: float,
    window: Window | None = None,
) -> torch.Tensor:
    """Per-sequence ``scaled_dot_product_attention`` (the CPU path and the test reference);
    ``window`` as in :func:`varlen_attention`."""
    groups = q.shape[1] // k.shape[1]
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    start = 0
    for length in lengths:
        stop = start + length
        qs = q[start:stop].transpose(0, 1).unsqueeze(0)
        ks = expand_kv(k[start:stop], groups).transpose(0, 1).unsqueeze(0)
        vs = expand_kv(v[start:stop], groups).transpose(0, 1).unsqueeze(0)
        if window is not None and window_binds(window, length, causal):
            mask = band_mask(length, window, causal, q.device)
            res = functional.scaled_dot_product_attention(qs, ks, vs, attn_mask=mask, scale=scale)
        else:
            res = functional.scaled_dot_product_attention(qs, ks, vs, is_causal=causal, scale=scale)
        out[start:stop] = res.squeeze(0).transpose(0, 1)
        start = stop
    return out
