"""What each task reads from a chunk, which core call it makes, and the columns it writes.

Every chunk goes through :class:`ember.service.core.Core` exactly as a served request does
(same checks, tokenization, scheduler batches and heads); only the columns are bulk's own:

- ``embed``: ``embedding``, fixed-size list of float32 (normalized unless asked otherwise),
  or with ``--precision`` of int8 (int8, binary) or uint8 (uint8, ubinary): one number per
  dimension, or per 8 dimensions for the binary precisions;
- ``embed-sparse``: ``sparse_indices`` (list of int32, increasing) and ``sparse_values``
  (list of float32);
- ``classify``: ``label`` (the best), ``score`` (its score) and ``scores`` (fixed-size list of
  float32, one per label in the model's label order); pairs with ``--pair-column``;
- ``rerank``: ``score`` of each (query, text) row; consecutive rows with the same query are
  scored in one call;
- ``ner``: ``entities``, a list of {text, label, score, start, end} (character offsets).

An error about one input names the input row (counted from 0 over all input files) and column.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pyarrow as pa

from ember.engines.errors import InvalidInputError, ItemError
from ember.service.bulk.errors import BatchError
from ember.service.bulk.settings import BulkTask, TaskOptions
from ember.service.core import Core
from ember.service.jobs import ClassifyJob, EmbedJob, RerankJob, TokensJob, Truncation
from ember.service.tasks.base import TaskSpec
from ember.service.tasks.classify import CLASSIFY
from ember.service.tasks.embed import EMBED
from ember.service.tasks.rerank import RERANK
from ember.service.tasks.sparse import SPARSE
from ember.service.tasks.tokens import TOKENS

J = TypeVar("J")
R = TypeVar("R")


@dataclass(frozen=True)
class Computed:
    """A chunk's output columns (in row order) and the tokens its rows fed the model."""

    columns: dict[str, pa.Array]
    tokens: int


async def compute(
    core: Core, options: TaskOptions, table: pa.Table, first_row: int, *, background: bool = False
) -> Computed:
    """Run one chunk (rows ``first_row ..``, text columns first) through the core
    (``background``: as job work, after interactive requests)."""
    task = options.resolved
    if task is None:
        raise RuntimeError("resolve() the options first")
    texts = [table.column(name).to_pylist() for name in options.text_columns]
    runner = _RUNNERS[task]
    try:
        return await runner(_Calls(core, background), options, texts)
    except ItemError as exc:
        # A pair's second text ("text" in rerank terms) is the last text column.
        column = options.text_columns[-1] if exc.field == "text" else options.text_columns[0]
        raise BatchError(
            f"row {first_row + exc.position} (column {column!r}) {exc.detail}",
            reason=exc.reason,
            field=column,
            index=first_row + exc.position,
        ) from None


class _Calls:
    """A core's task calls, all interactive or all background."""

    def __init__(self, core: Core, background: bool) -> None:
        self.info = core.info
        self._core = core
        self._background = background

    async def run(self, spec: TaskSpec[J, R], job: J) -> R:
        return await self._core.run(spec, job, background=self._background)


def _truncation(options: TaskOptions) -> Truncation:
    return Truncation(truncate=options.truncate)


async def _embed(core: _Calls, options: TaskOptions, texts: list[list[str]]) -> Computed:
    job = EmbedJob(
        inputs=list(texts[0]),
        normalize=options.normalize,
        dimensions=options.dimensions,
        truncation=_truncation(options),
        prompt_name=options.prompt_name,
        precision=options.precision,
        ranges=options.ranges,
    )
    result = await core.run(EMBED, job)
    vectors: np.ndarray[tuple[int, ...], np.dtype[np.float32 | np.int8 | np.uint8]]
    if result.quantized is None:
        vectors = np.ascontiguousarray(result.vectors, dtype=np.float32)
    else:
        vectors = np.ascontiguousarray(result.quantized.data)
    width = vectors.shape[1] if vectors.ndim == 2 else 0
    # The numpy dtype (float32, int8 or uint8) is the Arrow element type.
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), width)
    return Computed({"embedding": column}, result.usage.prompt_tokens)


async def _sparse(core: _Calls, options: TaskOptions, texts: list[list[str]]) -> Computed:
    job = EmbedJob(
        inputs=list(texts[0]), truncation=_truncation(options), prompt_name=options.prompt_name
    )
    result = await core.run(SPARSE, job)
    indices = pa.array([i.astype(np.int32) for i in result.indices], pa.list_(pa.int32()))
    values = pa.array([v.astype(np.float32) for v in result.values], pa.list_(pa.float32()))
    return Computed(
        {"sparse_indices": indices, "sparse_values": values}, result.usage.prompt_tokens
    )


async def _classify(core: _Calls, options: TaskOptions, texts: list[list[str]]) -> Computed:
    inputs = [list(row) for row in zip(*texts, strict=True)]
    job = ClassifyJob(inputs=inputs, raw_scores=options.raw_scores, truncation=_truncation(options))
    result = await core.run(CLASSIFY, job)
    labels = core.info.labels
    position = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(inputs), len(labels)), dtype=np.float32)
    best_label: list[str] = []
    best_score: list[float] = []
    for row, scored in enumerate(result.results):
        for item in scored:
            matrix[row, position[item.label]] = item.score
        best_label.append(scored[0].label)
        best_score.append(scored[0].score)
    return Computed(
        {
            "label": pa.array(best_label, pa.string()),
            "score": pa.array(best_score, pa.float32()),
            "scores": pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), len(labels)),
        },
        result.usage.prompt_tokens,
    )


async def _rerank(core: _Calls, options: TaskOptions, texts: list[list[str]]) -> Computed:
    queries, docs = texts
    scores = np.zeros(len(docs), dtype=np.float32)
    groups = _runs(queries)
    # Rows with different queries are separate calls: bound how many wait at once, well within
    # the core's admission limit.
    slots = asyncio.Semaphore(_RERANK_CALLS_IN_FLIGHT)

    async def one(start: int, end: int) -> int:
        async with slots:
            return await scored(start, end)

    async def scored(start: int, end: int) -> int:
        job = RerankJob(
            query=queries[start],
            texts=docs[start:end],
            raw_scores=options.raw_scores,
            truncation=_truncation(options),
        )
        try:
            result = await core.run(RERANK, job)
        except ItemError as exc:
            raise exc.renamed(start + exc.position) from None
        except InvalidInputError as exc:
            if exc.field != "query":
                raise
            # About the query of rows start..end: said about the first of them.
            raise ItemError(start, exc.message, reason=exc.reason, field="query") from None
        for ranked in result.ranks:
            scores[start + ranked.index] = ranked.score
        return result.usage.prompt_tokens

    tokens = await asyncio.gather(*(one(s, e) for s, e in groups))
    return Computed({"score": pa.array(scores, pa.float32())}, sum(tokens))


_RERANK_CALLS_IN_FLIGHT = 64


def _runs(values: Sequence[str]) -> list[tuple[int, int]]:
    """The ``[start, end)`` ranges of consecutive equal values."""
    out: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            out.append((start, i))
            start = i
    return out


_ENTITY = pa.struct(
    [
        ("text", pa.string()),
        ("label", pa.string()),
        ("score", pa.float32()),
        ("start", pa.int32()),
        ("end", pa.int32()),
    ]
)


async def _ner(core: _Calls, options: TaskOptions, texts: list[list[str]]) -> Computed:
    job = TokensJob(
        inputs=list(texts[0]), aggregation=options.aggregation, truncation=_truncation(options)
    )
    result = await core.run(TOKENS, job)
    rows = [
        [
            {
                "text": p.token,
                "label": p.labels[0],
                "score": p.scores[0],
                "start": p.start,
                "end": p.end,
            }
            for p in predictions
        ]
        for predictions in result.results
    ]
    return Computed({"entities": pa.array(rows, pa.list_(_ENTITY))}, result.usage.prompt_tokens)


_RUNNERS: dict[BulkTask, Callable[[_Calls, TaskOptions, list[list[str]]], Awaitable[Computed]]] = {
    BulkTask.EMBED: _embed,
    BulkTask.EMBED_SPARSE: _sparse,
    BulkTask.CLASSIFY: _classify,
    BulkTask.RERANK: _rerank,
    BulkTask.NER: _ner,
}
