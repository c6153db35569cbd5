"""Pooling token states into one vector per input, as sentence-transformers' ``Pooling`` does.

Works on right-padded batches: ``hidden`` is ``(batch, time, dim)``, ``lengths`` the real length
of each row. Accumulates in float32 whatever the model's dtype.
"""

from __future__ import annotations

import torch

from ember.engines.model_folder import PoolingSpec
from ember.engines.types import Pooling


def pooling_mask(
    lengths: torch.Tensor, time: int, excluded: torch.Tensor | None = None
) -> torch.Tensor:
    """``(batch, time)`` float32 mask of the tokens to pool.

    ``excluded`` (optional, per row) is the number of leading positions left out (the leading
    special tokens plus the prompt, when the pooling config says ``include_prompt: false``).
    """
    positions = torch.arange(time, device=lengths.device).unsqueeze(0)
    mask = positions < lengths.unsqueeze(1)
    if excluded is not None:
        mask = mask & (positions >= excluded.unsqueeze(1))
    return mask.to(torch.float32)


def pool(
    hidden: torch.Tensor,
    lengths: torch.Tensor,
    spec: PoolingSpec,
    excluded: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pool ``hidden`` per ``spec`` (modes concatenated in order) into ``(batch, dim * modes)``.

    Semantics follow sentence-transformers: with prompt exclusion, ``cls`` takes the first
    pooled token; ``lasttoken`` always takes the last real token.
    """
    states = hidden.to(torch.float32)
    time = states.shape[1]
    mask = pooling_mask(lengths, time, excluded)
    outputs: list[torch.Tensor] = []
    weights = mask.unsqueeze(-1)
    sums: torch.Tensor | None = None
    counts: torch.Tensor | None = None
    rows = torch.arange(states.shape[0], device=states.device)
    for mode in spec.modes:
        if mode is Pooling.CLS:
            if excluded is None:
                outputs.append(states[:, 0])
            else:
                outputs.append(states[rows, mask.argmax(dim=1)])
        elif mode is Pooling.LAST_TOKEN:
            outputs.append(states[rows, lengths - 1])
        elif mode is Pooling.MAX:
            outputs.append(states.masked_fill(weights == 0, float("-inf")).max(dim=1).values)
        elif mode in (Pooling.MEAN, Pooling.MEAN_SQRT_LEN):
            if sums is None or counts is None:
                sums = (states * weights).sum(dim=1)
                counts = weights.sum(dim=1).clamp(min=1e-9)
            outputs.append(sums / (counts if mode is Pooling.MEAN else counts.sqrt()))
        elif mode is Pooling.WEIGHTED_MEAN:
            position_weights = torch.arange(
                1, time + 1, device=states.device, dtype=torch.float32
            ).view(1, -1, 1)
            weighted = weights * position_weights
            outputs.append((states * weighted).sum(dim=1) / weighted.sum(dim=1).clamp(min=1e-9))
        else:  # pragma: no cover - Pooling is a closed enum
            raise ValueError(f"unknown pooling mode {mode}")
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
