"""Packing helpers (offsets, positions incl. RoBERTa's, staging) and pooling on packed batches."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from ember.engines.accel.packing import (
    DeviceStager,
    PositionRule,
    cu_seqlens_from_lengths,
    pack_encodings,
    position_ids,
    positions_in_segments,
    segment_ids_from_lengths,
)
from ember.engines.accel.pooling import first_tokens, last_tokens, pool_packed
from ember.engines.errors import EngineError
from ember.engines.model_folder import PoolingSpec
from ember.engines.pooling import pool
from ember.engines.types import Encoding, Pooling

LENGTHS = (3, 1, 5, 2)


def test_offsets_segments_and_positions() -> None:
    assert cu_seqlens_from_lengths(LENGTHS).tolist() == [0, 3, 4, 9, 11]
    assert segment_ids_from_lengths(LENGTHS).tolist() == [0, 0, 0, 1, 2, 2, 2, 2, 2, 3, 3]
    assert positions_in_segments(LENGTHS).tolist() == [0, 1, 2, 0, 0, 1, 2, 3, 4, 0, 1]
    ids = np.arange(11, dtype=np.int64) + 10
    assert position_ids(ids, LENGTHS, PositionRule()).tolist() == [0, 1, 2, 0, 0, 1, 2, 3, 4, 0, 1]


def test_roberta_positions_match_transformers() -> None:
    from transformers.models.roberta.modeling_roberta import RobertaEmbeddings

    pad = 1
    seqs = [[0, 5, 6, 2], [0, 1, 7, 2], [0, 8, 2], [1]]  # a pad id inside, a lone pad token
    ids = np.array([t for s in seqs for t in s], dtype=np.int64)
    got = position_ids(ids, [len(s) for s in seqs], PositionRule(padding_idx=pad))
    expected: list[int] = []
    for seq in seqs:
        create: Any = RobertaEmbeddings.create_position_ids_from_input_ids
        ref = create(torch.tensor([seq]), pad)
        expected.extend(ref[0].tolist())
    assert got.tolist() == expected
    assert got[:4].tolist() == [2, 3, 4, 5]  # starts after the padding index


def test_pack_encodings_types_exclusion_and_errors() -> None:
    batch = [
        Encoding(ids=[5, 6, 7], type_ids=[0, 1, 1], prompt_length=1),
        Encoding(ids=[8, 9]),
    ]
    host = pack_encodings(batch, PositionRule(), token_types=True, exclude_leading=1)
    assert host.input_ids.tolist() == [5, 6, 7, 8, 9]
    assert host.token_type_ids is not None
    assert host.token_type_ids.tolist() == [0, 1, 1, 0, 0]
    assert host.excluded is not None
    assert host.excluded.tolist() == [2, 0]
    assert (host.num_tokens, host.num_seqs, host.max_seqlen) == (5, 2, 3)
    plain = pack_encodings(batch, PositionRule(), token_types=False, exclude_leading=None)
    assert plain.token_type_ids is None
    assert plain.excluded is None
    with pytest.raises(EngineError, match="empty batch"):
        pack_encodings([], PositionRule(), token_types=False)
    with pytest.raises(EngineError, match="empty encoding"):
        pack_encodings([Encoding(ids=[])], PositionRule(), token_types=False)


def test_stager_round_trips_every_array() -> None:
    batch = [Encoding(ids=[5, 6, 7], type_ids=[0, 1, 1], prompt_length=1), Encoding(ids=[8])]
    host = pack_encodings(batch, PositionRule(padding_idx=1), token_types=True, exclude_leading=1)
    stager = DeviceStager(torch.device("cpu"))
    for _ in range(2):  # the buffer is reused
        dev = stager.stage(host)
        assert dev.input_ids.tolist() == host.input_ids.tolist()
        assert dev.position_ids.tolist() == host.position_ids.tolist()
        assert dev.segment_ids.tolist() == host.segment_ids.tolist()
        assert dev.cu_seqlens.tolist() == host.cu_seqlens.tolist()
        assert dev.cu_seqlens_i32.dtype == torch.int32
        assert dev.cu_seqlens_i32.tolist() == host.cu_seqlens.tolist()
        assert dev.token_type_ids is not None
        assert dev.excluded is not None
        assert dev.token_type_ids.tolist() == [0, 1, 1, 0]
        assert dev.excluded.tolist() == [2, 0]
        assert dev.lengths == (3, 1)
        assert dev.max_seqlen == 3


def _packed_and_padded(
    lengths: tuple[int, ...], dim: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    padded = torch.randn(len(lengths), max(lengths), dim, generator=gen)
    packed = torch.cat([padded[i, :n] for i, n in enumerate(lengths)])
    # Garbage in the padding must not leak into any pooled value.
    for i, n in enumerate(lengths):
        padded[i, n:] = 1e6
    return packed, padded


@pytest.mark.parametrize(
    "modes",
    [
        (Pooling.CLS,),
        (Pooling.MEAN,),
        (Pooling.MAX,),
        (Pooling.MEAN_SQRT_LEN,),
        (Pooling.WEIGHTED_MEAN,),
        (Pooling.LAST_TOKEN,),
        (Pooling.CLS, Pooling.MAX, Pooling.MEAN),
    ],
)
@pytest.mark.parametrize("with_prompt", [False, True])
def test_pool_packed_equals_padded_pooling(modes: tuple[Pooling, ...], with_prompt: bool) -> None:
    lengths = (3, 1, 6, 2)
    packed, padded = _packed_and_padded(lengths, 8, seed=len(modes))
    batch = [Encoding(ids=list(range(n)), prompt_length=2 if i != 1 else 0) for i, n in
             enumerate(lengths)]  # fmt: skip
    host = pack_encodings(
        batch, PositionRule(), token_types=False, exclude_leading=1 if with_prompt else None
    )
    pack = DeviceStager(torch.device("cpu")).stage(host)
    spec = PoolingSpec(modes)
    got = pool_packed(packed, pack, spec, pack.excluded)
    expected = pool(padded, torch.tensor(lengths), spec, pack.excluded)
    assert got.dtype == torch.float32
    assert got.shape == expected.shape
    finite = torch.isfinite(expected)
    assert torch.equal(finite, torch.isfinite(got))
    assert torch.allclose(got[finite], expected[finite], rtol=1e-5, atol=1e-6)
    if with_prompt:
        assert pack.excluded is not None
        assert pack.excluded.tolist() == [3, 0, 3, 3]


def test_first_and_last_tokens() -> None:
    lengths = (2, 3, 1)
    packed, padded = _packed_and_padded(lengths, 4, seed=9)
    host = pack_encodings(
        [Encoding(ids=[1] * n) for n in lengths], PositionRule(), token_types=False
    )
    pack = DeviceStager(torch.device("cpu")).stage(host)
    assert torch.equal(first_tokens(packed, pack), padded[:, 0])
    assert torch.equal(last_tokens(packed, pack), padded[torch.arange(3), torch.tensor([1, 2, 0])])
