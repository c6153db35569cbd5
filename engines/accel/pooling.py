"""Pooling token states of a packed batch into one vector per sequence.

The packed counterpart of :func:`ember.engines.pooling.pool` (same semantics, modes and float32
accumulation), working on ``hidden`` of shape ``(M, dim)`` and the sequence offsets of a
:class:`~ember.engines.accel.packing.DevicePack` instead of a padded ``(batch, time, dim)``
tensor. Runs entirely on the device: no host synchronisation.
"""

from __future__ import annotations

import torch

from ember.engines.accel.packing import DevicePack
from ember.engines.model_folder import PoolingSpec
from ember.engines.types import Pooling


def first_tokens(hidden: torch.Tensor, pack: DevicePack) -> torch.Tensor:
    """The state of each sequence's first token: ``(B, dim)`` (CLS-style heads)."""
    return hidden.index_select(0, pack.cu_seqlens[:-1])


def last_tokens(hidden: torch.Tensor, pack: DevicePack) -> torch.Tensor:
    """The state of each sequence's last token: ``(B, dim)`` (decoder heads)."""
    return hidden.index_select(0, pack.cu_seqlens[1:] - 1)


def _pooled_mask(pack: DevicePack, excluded: torch.Tensor | None) -> torch.Tensor | None:
    """Per token: pooled (True) or a left-out prompt token (False); None when all are pooled."""
    if excluded is None:
        return None
    offset = torch.arange(pack.num_tokens, device=pack.cu_seqlens.device)
    offset = offset - pack.cu_seqlens.index_select(0, pack.segment_ids)
    return offset >= excluded.index_select(0, pack.segment_ids)


def pool_packed(
    hidden: torch.Tensor,
    pack: DevicePack,
    spec: PoolingSpec,
    excluded: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pool ``hidden`` (``(M, dim)``) per ``spec`` into ``(B, dim * modes)`` float32.

    ``excluded`` (per sequence, optional) counts leading tokens left out of pooling; ``cls``
    then takes the first pooled token (the first token if none is pooled) and ``lasttoken``
    always the last token, as sentence-transformers does.
    """
    starts = pack.cu_seqlens[:-1]
    lengths = pack.cu_seqlens[1:] - starts
    count = pack.num_seqs
    dim = hidden.shape[1]
    seg = pack.segment_ids
    pooled_mask = _pooled_mask(pack, excluded)
    outputs: list[torch.Tensor] = []
    states: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    sums: torch.Tensor | None = None
    counts: torch.Tensor | None = None

    def as_float() -> torch.Tensor:
        nonlocal states
        if states is None:
            states = hidden.to(torch.float32)
        return states

    def token_weights() -> torch.Tensor:
        nonlocal weights
        if weights is None:
            if pooled_mask is None:
                weights = torch.ones(pack.num_tokens, device=hidden.device, dtype=torch.float32)
            else:
                weights = pooled_mask.to(torch.float32)
        return weights

    for mode in spec.modes:
        if mode is Pooling.CLS:
            if excluded is None:
                index = starts
            else:
                first = torch.where(excluded < lengths, excluded, torch.zeros_like(excluded))
                index = starts + first
            outputs.append(hidden.index_select(0, index).to(torch.float32))
        elif mode is Pooling.LAST_TOKEN:
            outputs.append(hidden.index_select(0, starts + lengths - 1).to(torch.float32))
        elif mode is Pooling.MAX:
            values = as_float()
            if pooled_mask is not None:
                values = values.masked_fill(~pooled_mask.unsqueeze(1), float("-inf"))
            out = torch.full((count, dim), float("-inf"), device=hidden.device)
            out.scatter_reduce_(0, seg.unsqueeze(1).expand(-1, dim), values, "amax")
            outputs.append(out)
        elif mode in (Pooling.MEAN, Pooling.MEAN_SQRT_LEN):
            if sums is None or counts is None:
                w = token_weights()
                sums = torch.zeros((count, dim), device=hidden.device, dtype=torch.float32)
                sums.index_add_(0, seg, as_float() * w.unsqueeze(1))
                counts = torch.zeros(count, device=hidden.device, dtype=torch.float32)
                counts = counts.index_add_(0, seg, w).clamp(min=1e-9).unsqueeze(1)
            outputs.append(sums / (counts if mode is Pooling.MEAN else counts.sqrt()))
        elif mode is Pooling.WEIGHTED_MEAN:
            offset = torch.arange(pack.num_tokens, device=hidden.device)
            offset = offset - starts.index_select(0, seg)
            w = token_weights() * (offset + 1).to(torch.float32)
            total = torch.zeros((count, dim), device=hidden.device, dtype=torch.float32)
            total.index_add_(0, seg, as_float() * w.unsqueeze(1))
            norm = torch.zeros(count, device=hidden.device, dtype=torch.float32)
            norm = norm.index_add_(0, seg, w).clamp(min=1e-9).unsqueeze(1)
            outputs.append(total / norm)
        else:  # pragma: no cover - Pooling is a closed enum
            raise ValueError(f"unknown pooling mode {mode}")
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
