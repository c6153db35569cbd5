"""Host-side batch building shared by the engines: right-padded id arrays for a batch of
encodings, and the warm-up batches every engine runs before it reports SERVING."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import numpy.typing as npt

from ember.engines.base import Tokenizer
from ember.engines.errors import EngineError
from ember.engines.types import (
    Encoding,
    FloatArray,
    IntArray,
    ItemsOutput,
    Output,
    TruncationSide,
    VectorOutput,
)


@dataclass(frozen=True)
class PaddedBatch:
    """A batch as right-padded ``(count, time)`` arrays."""

    ids: IntArray
    #: True at real tokens, False at padding.
    real: npt.NDArray[np.bool_]
    #: Real tokens per row.
    lengths: IntArray
    #: Segment ids (zeros where an encoding has none), or None when not asked for.
    type_ids: IntArray | None


def padding_id(configured: object, tokenizer_pad: int | None, vocab_size: int) -> int:
    """The id a batch is padded with: the model config's ``pad_token_id`` (``configured``) when it
    is an int, else the tokenizer's; 0 when that is missing or outside ``[0, vocab_size)``
    (padding is masked out, so any valid id serves)."""
    pad = configured if isinstance(configured, int) else tokenizer_pad
    return pad if isinstance(pad, int) and 0 <= pad < vocab_size else 0


def pad_batch(batch: Sequence[Encoding], pad_id: int, *, type_ids: bool) -> PaddedBatch:
    """Right-pad ``batch`` with ``pad_id``; with ``type_ids`` also build the segment ids.

    Raises :class:`EngineError` for an empty batch or an empty encoding: the service never
    sends either, so one is a bug upstream, not bad user input.
    """
    if not batch:
        raise EngineError("forward called with an empty batch")
    count = len(batch)
    lengths = np.fromiter((len(e.ids) for e in batch), dtype=np.int64, count=count)
    if lengths.min() < 1:
        raise EngineError("forward got an empty encoding")
    time = int(lengths.max())
    real = np.arange(time)[None, :] < lengths[:, None]
    total = int(lengths.sum())
    ids = np.full((count, time), pad_id, dtype=np.int64)
    ids[real] = np.fromiter(chain.from_iterable(e.ids for e in batch), np.int64, total)
    types = None
    if type_ids:
        types = np.zeros((count, time), dtype=np.int64)
        if any(e.type_ids is not None for e in batch):
            types[real] = np.fromiter(
                chain.from_iterable(
                    e.type_ids if e.type_ids is not None else [0] * len(e.ids) for e in batch
                ),
                np.int64,
                total,
            )
    return PaddedBatch(ids=ids, real=real, lengths=lengths, type_ids=types)


def warmup_batches(
    tokenizer: Tokenizer, max_batch_tokens: int, max_batch_requests: int, *, long_cap: int
) -> list[list[Encoding]]:
    """A short input, a full batch of short inputs, and a batch of inputs of up to 512 tokens
    holding at most ``long_cap`` tokens: enough to prime the kernels of every shape class
    without spending start-up time on long compute."""
    sample = tokenizer.encode(
        ["Ember warms up its model."], truncate=True, side=TruncationSide.RIGHT
    )[0]
    short = Encoding(ids=list(sample.ids)[:8])
    token = int(sample.ids[min(1, len(sample.ids) - 1)])
    rows = max(1, min(max_batch_requests, max_batch_tokens // max(len(short), 1)))
    long_len = max(1, min(tokenizer.max_input_length, max_batch_tokens, 512))
    long_rows = max(1, min(max_batch_requests, min(max_batch_tokens, long_cap) // long_len))
    long = Encoding(ids=[int(short.ids[0])] + [token] * (long_len - 1))
    return [[short], [short] * rows, [long] * long_rows]


def with_token_states(
    batch: Sequence[Encoding], rows: FloatArray, states: Callable[[], Sequence[FloatArray]]
) -> VectorOutput | ItemsOutput:
    """The pooled ``rows`` of a batch, or, when an input asked for :attr:`Output.TOKENS`, each
    input's own value: its row, or its ``(len(encoding), hidden)`` token states from
    ``states()`` (one float32 matrix per input, called only then)."""
    if not any(e.output & Output.TOKENS for e in batch):
        return VectorOutput(rows)
    per_input = states()
    return ItemsOutput(
        [
            np.ascontiguousarray(per_input[i], dtype=np.float32)
            if e.output & Output.TOKENS
            else rows[i]
            for i, e in enumerate(batch)
        ]
    )


def unpad(hidden: npt.NDArray[np.float32], lengths: IntArray) -> list[FloatArray]:
    """Each row's real tokens from right-padded ``(count, time, hidden)`` states."""
    return [hidden[i, :n] for i, n in enumerate(lengths.tolist())]
