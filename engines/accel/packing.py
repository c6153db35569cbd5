"""Packing a batch of encodings into one row of tokens (no padding), and moving it to the device.

A packed batch of ``B`` encodings with lengths ``L_0 .. L_{B-1}`` is ``M = sum(L_i)`` tokens laid
end to end. Sequence ``i`` owns rows ``cu_seqlens[i] .. cu_seqlens[i+1]-1``; attention runs
within each sequence only (see :mod:`ember.engines.accel.attention`), so the result for every
real token is the same as in a padded batch, without computing anything for padding.

Host side (:func:`pack_encodings`) is numpy; :class:`DeviceStager` copies all integer inputs to
the device in one transfer through a reused pinned buffer (``non_blocking``), so building the
inputs never waits for the GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import numpy.typing as npt
import torch

from ember.engines.errors import EngineError
from ember.engines.types import Encoding

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PositionRule:
    """How position ids are numbered inside each sequence.

    ``padding_idx is None``: ``0 .. L-1`` (BERT, decoders). Otherwise RoBERTa's rule, computed
    from the token ids exactly as transformers does: a token equal to ``padding_idx`` gets
    position ``padding_idx``, every other token ``padding_idx + 1 +`` (number of non-padding
    tokens before it in its sequence).
    """

    padding_idx: int | None = None


@dataclass(frozen=True)
class HostPack:
    """A packed batch on the host (numpy, int64)."""

    input_ids: I64
    position_ids: I64
    #: None when the model takes no token types (all zeros).
    token_type_ids: I64 | None
    #: For each token, the index of its sequence.
    segment_ids: I64
    #: ``B + 1`` offsets: sequence ``i`` is ``[cu_seqlens[i], cu_seqlens[i+1])``.
    cu_seqlens: I64
    #: Leading tokens of each sequence left out of pooling (None: none anywhere).
    excluded: I64 | None
    lengths: tuple[int, ...]
    max_seqlen: int
    #: The largest position id (embedding tables and rotary tables must have a row for it).
    max_position: int

    @property
    def num_tokens(self) -> int:
        """``M``, the number of packed tokens."""
        return int(self.input_ids.shape[0])

    @property
    def num_seqs(self) -> int:
        """``B``, the number of sequences."""
        return len(self.lengths)


def cu_seqlens_from_lengths(lengths: Sequence[int]) -> I64:
    """``[0, L0, L0+L1, ...]`` as int64."""
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.asarray(lengths, dtype=np.int64), out=out[1:])
    return out


def segment_ids_from_lengths(lengths: Sequence[int]) -> I64:
    """The sequence index of every packed token."""
    return np.repeat(np.arange(len(lengths), dtype=np.int64), np.asarray(lengths, dtype=np.int64))


def positions_in_segments(lengths: Sequence[int]) -> I64:
    """``0 .. L_i - 1`` for every sequence, concatenated."""
    cu = cu_seqlens_from_lengths(lengths)
    total = int(cu[-1])
    return np.arange(total, dtype=np.int64) - np.repeat(cu[:-1], np.asarray(lengths, np.int64))


def position_ids(input_ids: I64, lengths: Sequence[int], rule: PositionRule) -> I64:
    """Position ids of a packed batch under ``rule`` (see :class:`PositionRule`)."""
    if rule.padding_idx is None:
        return positions_in_segments(lengths)
    pad = rule.padding_idx
    real = (input_ids != pad).astype(np.int64)
    running = np.cumsum(real)
    cu = cu_seqlens_from_lengths(lengths)
    # Non-padding tokens before each sequence start, subtracted to restart the count.
    before = np.concatenate([[0], running])[cu[:-1]]
    within = running - np.repeat(before, np.asarray(lengths, np.int64))
    out: I64 = within * real + pad
    return out


def pack_encodings(
    batch: Sequence[Encoding],
    rule: PositionRule,
    *,
    token_types: bool,
    exclude_leading: int | None = None,
) -> HostPack:
    """Concatenate ``batch`` into a :class:`HostPack`.

    ``token_types``: keep ``type_ids`` (zeros for encodings without them); False drops them.
    ``exclude_leading``: when not None (the pooling config says ``include_prompt: false``), each
    encoding with a prompt leaves ``exclude_leading + prompt_length`` leading tokens out of
    pooling, as :class:`~ember.engines.torch_engine.TorchEngine` does.
    """
    if not batch:
        raise EngineError("forward called with an empty batch")
    lengths = tuple(len(e.ids) for e in batch)
    if min(lengths) < 1:
        raise EngineError("forward got an empty encoding")
    total = sum(lengths)
    ids = np.fromiter(chain.from_iterable(e.ids for e in batch), np.int64, total)
    types: I64 | None = None
    if token_types and any(e.type_ids is not None for e in batch):
        types = np.fromiter(
            chain.from_iterable(
                e.type_ids if e.type_ids is not None else [0] * len(e.ids) for e in batch
            ),
            np.int64,
            total,
        )
    excluded: I64 | None = None
    if exclude_leading is not None and any(e.prompt_length for e in batch):
        excluded = np.fromiter(
            (exclude_leading + e.prompt_length if e.prompt_length else 0 for e in batch),
            np.int64,
            len(batch),
        )
    positions = position_ids(ids, lengths, rule)
    return HostPack(
        input_ids=ids,
        position_ids=positions,
        token_type_ids=types,
        segment_ids=segment_ids_from_lengths(lengths),
        cu_seqlens=cu_seqlens_from_lengths(lengths),
        excluded=excluded,
        lengths=lengths,
        max_seqlen=max(lengths),
        max_position=int(positions.max()),
    )


@dataclass(frozen=True)
class DevicePack:
    """A packed batch on the device; the host facts (lengths, max_seqlen) ride along."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    token_type_ids: torch.Tensor | None
    segment_ids: torch.Tensor
    #: int64 offsets (indexing) and the same as int32 (what flash attention takes).
    cu_seqlens: torch.Tensor
    cu_seqlens_i32: torch.Tensor
    excluded: torch.Tensor | None
    lengths: tuple[int, ...]
    max_seqlen: int
    max_position: int

    @property
    def num_tokens(self) -> int:
        """``M``, the number of packed tokens."""
        return int(self.input_ids.shape[0])

    @property
    def num_seqs(self) -> int:
        """``B``, the number of sequences."""
        return len(self.lengths)


def check_positions(pack: DevicePack, max_positions: int) -> None:
    """Raise :class:`EngineError` when ``pack`` has a position at or past ``max_positions`` (the
    rows of a model's rotary tables): refused on the host, as an out-of-range row would be a
    device-side fault on CUDA."""
    if pack.max_position >= max_positions:
        raise EngineError(
            f"a sequence of {pack.max_seqlen} tokens exceeds the {max_positions} positions "
            "this engine was built for"
        )


class DeviceStager:
    """Copies :class:`HostPack` arrays to ``device`` in one transfer.

    On CUDA the arrays are written into one reused pinned int64 buffer and copied with
    ``non_blocking=True``; an event recorded after the copy is waited on before the buffer is
    written again, so a batch never overwrites inputs still in flight. Not thread-safe: one
    stager per engine thread.
    """

    def __init__(self, device: torch.device) -> None:
        self._device = device
        self._pinned: torch.Tensor | None = None
        self._event: torch.cuda.Event | None = None

    def _buffer(self, size: int) -> torch.Tensor:
        if self._device.type != "cuda":
            return torch.empty(size, dtype=torch.int64)
        if self._event is not None:
            self._event.synchronize()
        if self._pinned is None or self._pinned.numel() < size:
            capacity = max(size, 2 * (self._pinned.numel() if self._pinned is not None else 0))
            self._pinned = torch.empty(capacity, dtype=torch.int64, pin_memory=True)
        return self._pinned[:size]

    def stage(self, pack: HostPack) -> DevicePack:
        """Copy ``pack`` to the device and return views of the copy."""
        parts: list[I64] = [pack.input_ids, pack.position_ids, pack.segment_ids, pack.cu_seqlens]
        if pack.token_type_ids is not None:
            parts.append(pack.token_type_ids)
        if pack.excluded is not None:
            parts.append(pack.excluded)
        sizes = [int(p.shape[0]) for p in parts]
        host = self._buffer(sum(sizes))
        view = host.numpy()
        offset = 0
        for part, size in zip(parts, sizes, strict=True):
            view[offset : offset + size] = part
            offset += size
        if self._device.type == "cuda":
            dev = host.to(self._device, non_blocking=True)
            event = torch.cuda.Event()  # type: ignore[no-untyped-call]
            event.record()
            self._event = event
        else:
            dev = host.to(self._device)
        pieces = list(torch.split(dev, sizes))
        ids, pos, seg, cu = pieces[:4]
        rest = pieces[4:]
        types = rest.pop(0) if pack.token_type_ids is not None else None
        excluded = rest.pop(0) if pack.excluded is not None else None
        return DevicePack(
            input_ids=ids,
            position_ids=pos,
            token_type_ids=types,
            segment_ids=seg,
            cu_seqlens=cu,
            cu_seqlens_i32=cu.to(torch.int32),
            excluded=excluded,
            lengths=pack.lengths,
            max_seqlen=pack.max_seqlen,
            max_position=pack.max_position,
        )
