"""BGE-M3's heads: dense, sparse (lexical weights) and ColBERT multi-vectors from ONE forward.

The folder layout is FlagEmbedding's ``BGEM3FlagModel``: an XLM-R encoder with
``colbert_linear.pt`` (a ``Linear(hidden, dim)``) and ``sparse_linear.pt`` (a
``Linear(hidden, 1)``) beside it. Per input, from the encoder's last hidden states ``h``:

- dense: ``h[CLS]`` (the engine's CLS pooling; the service normalizes);
- sparse: ``relu(sparse_linear(h))`` per token, the max per token id, leaving out the CLS, EOS,
  PAD and UNK ids and zero weights;
- multi-vector: ``colbert_linear(h)`` of every real token but the first (CLS), EOS included
  (the service normalizes each vector).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ember.engines.errors import ModelLoadError
from ember.engines.types import Encoding, FloatArray, IntArray, Output, Outputs


def _linear(path: Path, hidden: int) -> torch.nn.Linear:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        weight = state["weight"]
        layer = torch.nn.Linear(hidden, int(weight.shape[0]), bias="bias" in state)
        layer.load_state_dict({k: v.to(torch.float32) for k, v in state.items()})
    except (OSError, KeyError, RuntimeError, AttributeError) as exc:
        raise ModelLoadError(f"cannot load the BGE-M3 head {str(path)!r}: {exc}") from exc
    layer.requires_grad_(False)
    return layer


class M3Heads:
    """The two loaded heads and the token ids the sparse output leaves out."""

    def __init__(
        self, colbert: Path, sparse: Path, hidden: int, unused_ids: Sequence[int | None]
    ) -> None:
        self.colbert = _linear(colbert, hidden)
        self.sparse = _linear(sparse, hidden)
        if self.sparse.out_features != 1:
            raise ModelLoadError(f"{str(sparse)!r} must map to one weight per token")
        self._unused = torch.tensor(sorted({i for i in unused_ids if i is not None}))

    @property
    def multi_dim(self) -> int:
        """The width of each multi-vector."""
        return int(self.colbert.out_features)

    def to(self, device: torch.device) -> M3Heads:
        """Move the heads to ``device``."""
        self.colbert.to(device)
        self.sparse.to(device)
        self._unused = self._unused.to(device)
        return self

    def outputs(
        self,
        batch: Sequence[Encoding],
        hidden: torch.Tensor,
        ids: torch.Tensor,
        lengths: torch.Tensor,
        dense: FloatArray,
    ) -> list[Outputs]:
        """Per input, the outputs its encoding asked for (``Output.DENSE`` / ``SPARSE`` /
        ``MULTI``), from the right-padded ``hidden`` states of the batch and its pooled rows."""
        wants = [e.output for e in batch]
        states = hidden.to(self.colbert.weight.dtype)
        sizes = lengths.tolist()
        weights = None
        if any(w & Output.SPARSE for w in wants):
            token_weights = torch.relu(self.sparse(states)).squeeze(-1)
            keep = ~torch.isin(ids, self._unused) & (token_weights > 0)
            weights = (token_weights * keep).float().cpu().numpy()
        multi = None
        if any(w & Output.MULTI for w in wants):
            multi = self.colbert(states[:, 1:]).float().cpu().numpy()
        host_ids = ids.cpu().numpy() if weights is not None else None
        out: list[Outputs] = []
        for i, want in enumerate(wants):
            n = sizes[i]
            sparse = None
            if want & Output.SPARSE:
                assert weights is not None
                assert host_ids is not None
                sparse = _max_per_id(host_ids[i, :n], weights[i, :n])
            out.append(
                Outputs(
                    dense=dense[i] if want & Output.DENSE else None,
                    sparse=sparse,
                    multi=multi[i, : n - 1] if multi is not None and want & Output.MULTI else None,
                )
            )
        return out


def _max_per_id(ids: IntArray, weights: FloatArray) -> tuple[IntArray, FloatArray]:
    """The largest weight of each token id with a weight above zero, by increasing id."""
    nonzero = weights > 0
    ids, weights = ids[nonzero], weights[nonzero]
    if not ids.size:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    order = np.lexsort((-weights, ids))  # by id, then the largest weight first
    ids, weights = ids[order], weights[order]
    first = np.concatenate(([True], ids[1:] != ids[:-1]))
    return ids[first].astype(np.int64), weights[first].astype(np.float32)
