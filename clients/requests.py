"""Building request messages and reading responses: shared by the sync and async clients."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ember.v1 import (
    classify_pb2,
    common_pb2,
    embed_pb2,
    jobs_pb2,
    model_pb2,
    rerank_pb2,
    token_classification_pb2,
)

EmbedInput = str | Sequence[int]
#: One inline job row: a text, or ``{"text", "text_pair"}`` (classify) / ``{"text", "query"}``
#: (rerank).
JobRow = str | Mapping[str, str]

#: Truncation directions by name (any case).
DIRECTIONS = {
    "right": common_pb2.TRUNCATION_DIRECTION_RIGHT,
    "left": common_pb2.TRUNCATION_DIRECTION_LEFT,
}
#: Token-classification aggregation strategies by name.
AGGREGATIONS = {
    "none": token_classification_pb2.AGGREGATION_STRATEGY_NONE,
    "simple": token_classification_pb2.AGGREGATION_STRATEGY_SIMPLE,
    "first": token_classification_pb2.AGGREGATION_STRATEGY_FIRST,
    "average": token_classification_pb2.AGGREGATION_STRATEGY_AVERAGE,
    "max": token_classification_pb2.AGGREGATION_STRATEGY_MAX,
}


#: Quantized precisions by name (sentence-transformers' quantize_embeddings names).
PRECISIONS = {
    "float32": embed_pb2.EMBEDDING_PRECISION_FLOAT32,
    "int8": embed_pb2.EMBEDDING_PRECISION_INT8,
    "uint8": embed_pb2.EMBEDDING_PRECISION_UINT8,
    "binary": embed_pb2.EMBEDDING_PRECISION_BINARY,
    "ubinary": embed_pb2.EMBEDDING_PRECISION_UBINARY,
}
#: numpy dtype of each quantized precision's values.
_PRECISION_DTYPES = {
    embed_pb2.EMBEDDING_PRECISION_INT8: np.int8,
    embed_pb2.EMBEDDING_PRECISION_UINT8: np.uint8,
    embed_pb2.EMBEDDING_PRECISION_BINARY: np.int8,
    embed_pb2.EMBEDDING_PRECISION_UBINARY: np.uint8,
}


def precision_number(name: str | None) -> embed_pb2.EmbeddingPrecision.ValueType:
    """The precision called ``name`` (None: float32). ValueError if unknown."""
    key = "float32" if name is None else name.lower()
    if key not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {name!r}")
    return PRECISIONS[key]


#: Job tasks by name (as ``ember batch --task`` and ``POST /v1/jobs`` name them; None: the
#: task the model serves).
JOB_TASKS = {
    "embed": jobs_pb2.JOB_TASK_EMBED,
    "embed-sparse": jobs_pb2.JOB_TASK_EMBED_SPARSE,
    "classify": jobs_pb2.JOB_TASK_CLASSIFY,
    "rerank": jobs_pb2.JOB_TASK_RERANK,
    "ner": jobs_pb2.JOB_TASK_PREDICT_TOKENS,
}


def submit_job_request(
    inputs: Sequence[JobRow] | None = None,
    *,
    input_path: str = "",
    task: str | None = None,
    model: str = "",
    precision: str | None = None,
    ranges: Sequence[Sequence[float]] | npt.NDArray[np.floating] | None = None,
    webhook_url: str = "",
    priority: int = 0,
    max_time_in_queue_s: float = 0.0,
) -> jobs_pb2.SubmitJobRequest:
    """A SubmitJobRequest: rows inline (``inputs``) or a server-side ``input_path``; task
    embed's ``precision`` (float32, int8, uint8, binary, ubinary; as in ``embed_quantized``)
    and int8/uint8 ``ranges`` ``[[min...], [max...]]``, which the server requires with those
    precisions. ValueError for an unknown task or precision."""
    if task is not None and task not in JOB_TASKS:
        raise ValueError(f"task must be one of {sorted(JOB_TASKS)}, got {task!r}")
    rows = [
        jobs_pb2.JobInput(text=row)
        if isinstance(row, str)
        else jobs_pb2.JobInput(
            text=row["text"], text_pair=row.get("text_pair", ""), query=row.get("query", "")
        )
        for row in inputs or ()
    ]
    req = jobs_pb2.SubmitJobRequest(
        model=model,
        task=JOB_TASKS[task] if task is not None else jobs_pb2.JOB_TASK_UNSPECIFIED,
        inputs=rows,
        input_path=input_path,
        webhook_url=webhook_url,
        priority=priority,
        max_time_in_queue_seconds=max_time_in_queue_s,
        precision=precision_number(precision),
    )
    if ranges is not None:
        req.ranges.CopyFrom(quantization_ranges(ranges))
    return req


def quantization_ranges(
    ranges: Sequence[Sequence[float]] | npt.NDArray[np.floating],
) -> embed_pb2.QuantizationRanges:
    """A QuantizationRanges from ``[[min per dimension], [max per dimension]]`` (the ``(2, d)``
    array sentence-transformers' ``quantize_embeddings`` takes). ValueError unless 2 rows."""
    if len(ranges) != 2:
        raise ValueError("ranges must be [[min per dimension], [max per dimension]]")
    return embed_pb2.QuantizationRanges(
        min=[float(x) for x in ranges[0]], max=[float(x) for x in ranges[1]]
    )


@dataclass(frozen=True)
class QuantizedVectors:
    """Quantized vectors: ``data`` is ``(n, cols)`` int8 or uint8 (binary precisions: packed
    bits, ``cols = ceil(dimensions / 8)``); ``ranges`` the ``(2, dimensions)`` [min; max] the
    server used for int8/uint8 (keep them to quantize later queries the same way)."""

    precision: str
    data: npt.NDArray[np.int8] | npt.NDArray[np.uint8]
    dimensions: int
    ranges: npt.NDArray[np.float32] | None


def quantized(resp: embed_pb2.EmbedResponse) -> QuantizedVectors:
    """The quantized vectors of an EmbedResponse. ValueError when it holds none."""
    if not resp.HasField("quantized"):
        raise ValueError("the response holds no quantized vectors")
    q = resp.quantized
    if len(q.data) != q.rows * q.cols or q.precision not in _PRECISION_DTYPES:
        raise ValueError(f"the quantized block is not {q.rows} x {q.cols} bytes of a known type")
    data: npt.NDArray[np.int8] | npt.NDArray[np.uint8]
    if _PRECISION_DTYPES[q.precision] is np.int8:
        data = np.frombuffer(q.data, dtype=np.int8).reshape(q.rows, q.cols)
    else:
        data = np.frombuffer(q.data, dtype=np.uint8).reshape(q.rows, q.cols)
    name = next(k for k, v in PRECISIONS.items() if v == q.precision)
    ranges = None
    if q.HasField("ranges"):
        ranges = np.array([list(q.ranges.min), list(q.ranges.max)], dtype=np.float32)
    return QuantizedVectors(name, data, q.dimensions, ranges)


def truncation(truncate: bool | None, direction: str | None = "right") -> common_pb2.Truncation:
    """A Truncation message; ``truncate=None`` leaves the server default, ``direction`` is
    matched in any case (None: right). ValueError for an unknown direction."""
    key = "right" if direction is None else direction.lower()
    if key not in DIRECTIONS:
        raise ValueError(f"truncation direction must be 'right' or 'left', got {direction!r}")
    msg = common_pb2.Truncation(direction=DIRECTIONS[key])
    if truncate is not None:
        msg.truncate = truncate
    return msg


def aggregation(name: str | None) -> token_classification_pb2.AggregationStrategy.ValueType:
    """The aggregation strategy called ``name`` (any case; None: none). ValueError if unknown."""
    key = "none" if name is None else name.lower()
    if key not in AGGREGATIONS:
        raise ValueError(f"aggregation_strategy must be one of {sorted(AGGREGATIONS)}")
    return AGGREGATIONS[key]


def _embed_inputs(inputs: Sequence[EmbedInput]) -> list[embed_pb2.EmbedInput]:
    return [
        embed_pb2.EmbedInput(text=x)
        if isinstance(x, str)
        else embed_pb2.EmbedInput(token_ids=embed_pb2.TokenIds(ids=list(x)))
        for x in inputs
    ]


def embed_request(
    inputs: Sequence[EmbedInput],
    *,
    model: str = "",
    normalize: bool = True,
    dimensions: int | None = None,
    truncate: bool | None = None,
    truncation_direction: str = "right",
    prompt_name: str | None = None,
    precision: str | None = None,
    ranges: Sequence[Sequence[float]] | npt.NDArray[np.floating] | None = None,
) -> embed_pb2.EmbedRequest:
    """An EmbedRequest asking for the vectors as one float32 matrix block, or quantized to
    ``precision`` (int8, uint8, binary, ubinary) with optional int8/uint8 ``ranges``."""
    req = embed_pb2.EmbedRequest(
        model=model,
        inputs=_embed_inputs(inputs),
        normalize=normalize,
        truncation=truncation(truncate, truncation_direction),
        prompt_name=prompt_name or "",
        format=embed_pb2.EMBEDDING_FORMAT_MATRIX,
    )
    if dimensions is not None:
        req.dimensions = dimensions
    if precision is not None:
        req.precision = precision_number(precision)
    if ranges is not None:
        req.ranges.CopyFrom(quantization_ranges(ranges))
    return req


def embeddings(resp: embed_pb2.EmbedResponse) -> npt.NDArray[np.float32]:
    """The vectors of an EmbedResponse as one (n, dim) float32 array, whichever format the
    server answered in (a matrix block, per-row float32 bytes or repeated floats)."""
    if resp.HasField("matrix"):
        m = resp.matrix
        if len(m.float32_le) != 4 * m.rows * m.cols:
            raise ValueError(
                f"the matrix holds {len(m.float32_le)} bytes, not {m.rows} x {m.cols} float32"
            )
        flat = np.frombuffer(m.float32_le, dtype="<f4")
        return flat.reshape(m.rows, m.cols).astype(np.float32)
    if not resp.embeddings:
        return np.zeros((0, 0), dtype=np.float32)
    first = resp.embeddings[0]
    if first.float32_le:
        blob = b"".join(e.float32_le for e in resp.embeddings)
        return np.frombuffer(blob, dtype="<f4").reshape(len(resp.embeddings), -1).copy()
    return np.array([list(e.values) for e in resp.embeddings], dtype=np.float32)


#: Encode outputs by name.
OUTPUTS = {
    "dense": embed_pb2.EMBEDDING_OUTPUT_DENSE,
    "sparse": embed_pb2.EMBEDDING_OUTPUT_SPARSE,
    "multi_vector": embed_pb2.EMBEDDING_OUTPUT_MULTI_VECTOR,
}


def encode_request(
    inputs: Sequence[EmbedInput],
    outputs: Sequence[str] = ("dense",),
    *,
    model: str = "",
    normalize: bool = True,
    truncate: bool | None = None,
    truncation_direction: str = "right",
    prompt_name: str | None = None,
    query: bool = False,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    chunk_mean: bool = False,
) -> embed_pb2.EncodeRequest:
    """An EncodeRequest for ``outputs`` (dense, sparse, multi_vector); ``query`` encodes as
    ColBERT queries. Any ``chunk_*`` option cuts texts into windows of ``chunk_size`` tokens
    (default: the model's maximum) overlapping by ``chunk_overlap``, answered per window or
    (``chunk_mean``) per input. ValueError for an unknown output."""
    unknown = [o for o in outputs if o not in OUTPUTS]
    if unknown:
        raise ValueError(f"outputs must be among {sorted(OUTPUTS)}, got {unknown}")
    request = embed_pb2.EncodeRequest(
        model=model,
        inputs=_embed_inputs(inputs),
        outputs=[OUTPUTS[o] for o in outputs],
        normalize=normalize,
        truncation=truncation(truncate, truncation_direction),
        prompt_name=prompt_name or "",
        query=query,
    )
    if chunk_size is not None or chunk_overlap is not None or chunk_mean:
        request.chunking.CopyFrom(
            embed_pb2.Chunking(size=chunk_size or 0, overlap=chunk_overlap or 0, mean=chunk_mean)
        )
    return request


@dataclass(frozen=True)
class Encoded:
    """An Encode answer: per output asked for, one result per input (None if not asked).
    ``sparse``: per input a ``{token id: weight}`` dict; ``multi_vector``: per input a
    ``(vectors, dim)`` array."""

    dense: npt.NDArray[np.float32] | None
    sparse: list[dict[int, float]] | None
    multi_vector: list[npt.NDArray[np.float32]] | None
    #: With chunking: per window, (input index, start char, end char).
    chunks: list[tuple[int, int, int]] | None = None


def _float_matrix(m: embed_pb2.FloatMatrix) -> npt.NDArray[np.float32]:
    if len(m.float32_le) != 4 * m.rows * m.cols:
        raise ValueError(f"the matrix holds {len(m.float32_le)} bytes, not {m.rows} x {m.cols}")
    return np.frombuffer(m.float32_le, dtype="<f4").reshape(m.rows, m.cols)


def encoded(resp: embed_pb2.EncodeResponse, outputs: Sequence[str]) -> Encoded:
    """The outputs of an EncodeResponse (those in ``outputs``)."""
    return Encoded(
        dense=_float_matrix(resp.dense) if "dense" in outputs else None,
        sparse=(
            [dict(zip(e.indices, e.values, strict=True)) for e in resp.sparse]
            if "sparse" in outputs
            else None
        ),
        multi_vector=(
            [_float_matrix(m) for m in resp.multi_vectors] if "multi_vector" in outputs else None
        ),
        chunks=[(c.input, c.start, c.end) for c in resp.chunks] if resp.chunks else None,
    )


def embed_tokens_request(
    inputs: Sequence[EmbedInput],
    *,
    model: str = "",
    truncate: bool | None = None,
    truncation_direction: str = "right",
    prompt_name: str | None = None,
) -> embed_pb2.EmbedTokensRequest:
    """An EmbedTokensRequest (every token's last hidden state)."""
    return embed_pb2.EmbedTokensRequest(
        model=model,
        inputs=_embed_inputs(inputs),
        truncation=truncation(truncate, truncation_direction),
        prompt_name=prompt_name or "",
    )


@dataclass(frozen=True)
class TokenStates:
    """One input's token states: ``states`` is ``(tokens, hidden)`` float32; per token its id,
    ``(start, end)`` character offsets in the text ((0, 0) for special tokens and token-id
    inputs) and whether the tokenizer added it."""

    states: npt.NDArray[np.float32]
    token_ids: list[int]
    offsets: list[tuple[int, int]]
    special: list[bool]


def token_states(resp: embed_pb2.EmbedTokensResponse) -> list[TokenStates]:
    """The per-input token states of an EmbedTokensResponse. ValueError on a malformed block."""
    out: list[TokenStates] = []
    for item in resp.results:
        m = item.states
        if len(m.float32_le) != 4 * m.rows * m.cols or len(item.token_ids) != m.rows:
            raise ValueError(f"the token block is not {m.rows} x {m.cols} float32 with its ids")
        states = np.frombuffer(m.float32_le, dtype="<f4").reshape(m.rows, m.cols)
        offsets = list(zip(item.starts, item.ends, strict=True))
        out.append(TokenStates(states, list(item.token_ids), offsets, list(item.special)))
    return out


def classify_request(
    inputs: Sequence[str | Sequence[str]],
    *,
    model: str = "",
    raw_scores: bool = False,
    truncate: bool | None = None,
    truncation_direction: str = "right",
) -> classify_pb2.ClassifyRequest:
    """A ClassifyRequest; each input is a text or a (text, text) pair."""
    items = [
        classify_pb2.ClassifyInput(texts=[x] if isinstance(x, str) else list(x)) for x in inputs
    ]
    return classify_pb2.ClassifyRequest(
        model=model,
        inputs=items,
        raw_scores=raw_scores,
        truncation=truncation(truncate, truncation_direction),
    )


def rerank_request(
    query: str,
    texts: Sequence[str],
    *,
    model: str = "",
    raw_scores: bool = False,
    return_text: bool = False,
    top_n: int | None = None,
    truncate: bool | None = None,
    truncation_direction: str = "right",
) -> rerank_pb2.RerankRequest:
    """A RerankRequest."""
    req = rerank_pb2.RerankRequest(
        model=model,
        query=query,
        texts=list(texts),
        raw_scores=raw_scores,
        return_text=return_text,
        truncation=truncation(truncate, truncation_direction),
    )
    if top_n is not None:
        req.top_n = top_n
    return req


def predict_tokens_request(
    inputs: Sequence[str],
    *,
    model: str = "",
    aggregation_strategy: str = "none",
    raw_scores: bool = False,
    truncate: bool | None = None,
    truncation_direction: str = "right",
) -> token_classification_pb2.PredictTokensRequest:
    """A PredictTokensRequest."""
    return token_classification_pb2.PredictTokensRequest(
        model=model,
        inputs=list(inputs),
        raw_scores=raw_scores,
        aggregation_strategy=aggregation(aggregation_strategy),
        truncation=truncation(truncate, truncation_direction),
    )


@dataclass(frozen=True)
class Ranked:
    """One reranked text."""

    index: int
    score: float
    text: str | None


def similarity_request(
    source: str,
    sentences: Sequence[str],
    *,
    model: str = "",
    truncate: bool | None = None,
    truncation_direction: str = "right",
    prompt_name: str = "",
) -> embed_pb2.SimilarityRequest:
    """A SimilarityRequest."""
    return embed_pb2.SimilarityRequest(
        model=model,
        source_sentence=source,
        sentences=list(sentences),
        truncation=truncation(truncate, truncation_direction),
        prompt_name=prompt_name,
    )


def decode_request(
    inputs: Sequence[Sequence[int]], *, skip_special_tokens: bool = True
) -> model_pb2.DecodeRequest:
    """A DecodeRequest for token-id sequences."""
    return model_pb2.DecodeRequest(
        inputs=[embed_pb2.TokenIds(ids=list(row)) for row in inputs],
        skip_special_tokens=skip_special_tokens,
    )


def ranks(resp: rerank_pb2.RerankResponse) -> list[Ranked]:
    """The ranking of a RerankResponse, best first."""
    return [Ranked(r.index, r.score, r.text if r.HasField("text") else None) for r in resp.ranks]


def label_scores(resp: classify_pb2.ClassifyResponse) -> list[list[tuple[str, float]]]:
    """Per input, (label, score) pairs best first."""
    return [[(x.label, x.score) for x in r.labels] for r in resp.results]


def chunks(items: Sequence[EmbedInput], size: int) -> list[Sequence[EmbedInput]]:
    """``items`` cut into consecutive chunks of at most ``size``."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    return [items[i : i + size] for i in range(0, len(items), size)]
