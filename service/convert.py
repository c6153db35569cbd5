"""Conversion between the protobuf contract (ember.v1) and the core's jobs and results.

Pure functions, one per message direction. Conversion checks only what the wire format
allows but the contract forbids (an input with no content, an enum number the server does
not know); everything else is validated by the core.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ember.engines.cpu_features import CpuFeatures
from ember.engines.errors import InvalidInputError
from ember.engines.ner import AggregationStrategy
from ember.engines.quantize import Precision, Quantized
from ember.engines.scores import LabelScore
from ember.engines.selfcheck import SelfCheckResult
from ember.engines.types import (
    EmbeddingOutput,
    FloatArray,
    IntArray,
    ModelInfo,
    ModelKind,
    Task,
    TokenInfo,
    TruncationSide,
)
from ember.service.jobs import (
    Chunking,
    ClassifyJob,
    ClassifyResult,
    DecodeJob,
    EmbedItem,
    EmbedJob,
    EmbedResult,
    EncodeJob,
    EncodeResult,
    Measured,
    RerankJob,
    RerankResult,
    SimilarityJob,
    SimilarityResult,
    SparseResult,
    TokenizeJob,
    TokensJob,
    TokensResult,
    TokenStatesResult,
    Truncation,
)
from ember.service.limits import ServiceLimits
from ember.v1 import (
    classify_pb2,
    common_pb2,
    embed_pb2,
    model_pb2,
    rerank_pb2,
    token_classification_pb2,
)

_SIDES = {
    common_pb2.TRUNCATION_DIRECTION_UNSPECIFIED: TruncationSide.RIGHT,
    common_pb2.TRUNCATION_DIRECTION_RIGHT: TruncationSide.RIGHT,
    common_pb2.TRUNCATION_DIRECTION_LEFT: TruncationSide.LEFT,
}

_AGGREGATIONS = {
    token_classification_pb2.AGGREGATION_STRATEGY_UNSPECIFIED: AggregationStrategy.NONE,
    token_classification_pb2.AGGREGATION_STRATEGY_NONE: AggregationStrategy.NONE,
    token_classification_pb2.AGGREGATION_STRATEGY_SIMPLE: AggregationStrategy.SIMPLE,
    token_classification_pb2.AGGREGATION_STRATEGY_FIRST: AggregationStrategy.FIRST,
    token_classification_pb2.AGGREGATION_STRATEGY_AVERAGE: AggregationStrategy.AVERAGE,
    token_classification_pb2.AGGREGATION_STRATEGY_MAX: AggregationStrategy.MAX,
}

_TASKS = {
    Task.EMBED: model_pb2.TASK_EMBED,
    Task.EMBED_SPARSE: model_pb2.TASK_EMBED_SPARSE,
    Task.CLASSIFY: model_pb2.TASK_CLASSIFY,
    Task.RERANK: model_pb2.TASK_RERANK,
    Task.PREDICT_TOKENS: model_pb2.TASK_PREDICT_TOKENS,
}

_KINDS = {
    ModelKind.EMBEDDING: model_pb2.MODEL_KIND_EMBEDDING,
    ModelKind.SPARSE_EMBEDDING: model_pb2.MODEL_KIND_SPARSE_EMBEDDING,
    ModelKind.RERANKER: model_pb2.MODEL_KIND_RERANKER,
    ModelKind.CLASSIFIER: model_pb2.MODEL_KIND_CLASSIFIER,
    ModelKind.TOKEN_CLASSIFIER: model_pb2.MODEL_KIND_TOKEN_CLASSIFIER,
    ModelKind.LLM_RERANKER: model_pb2.MODEL_KIND_LLM_RERANKER,
    ModelKind.COLBERT: model_pb2.MODEL_KIND_COLBERT,
}

_PRECISIONS = {
    embed_pb2.EMBEDDING_PRECISION_UNSPECIFIED: Precision.FLOAT32,
    embed_pb2.EMBEDDING_PRECISION_FLOAT32: Precision.FLOAT32,
    embed_pb2.EMBEDDING_PRECISION_INT8: Precision.INT8,
    embed_pb2.EMBEDDING_PRECISION_UINT8: Precision.UINT8,
    embed_pb2.EMBEDDING_PRECISION_BINARY: Precision.BINARY,
    embed_pb2.EMBEDDING_PRECISION_UBINARY: Precision.UBINARY,
}
_PRECISION_NUMBERS = {
    v: k for k, v in _PRECISIONS.items() if k != embed_pb2.EMBEDDING_PRECISION_UNSPECIFIED
}

_OUTPUTS = {
    embed_pb2.EMBEDDING_OUTPUT_DENSE: EmbeddingOutput.DENSE,
    embed_pb2.EMBEDDING_OUTPUT_SPARSE: EmbeddingOutput.SPARSE,
    embed_pb2.EMBEDDING_OUTPUT_MULTI_VECTOR: EmbeddingOutput.MULTI_VECTOR,
}
_OUTPUT_NUMBERS = {v: k for k, v in _OUTPUTS.items()}

_FORMATS = {
    embed_pb2.EMBEDDING_FORMAT_UNSPECIFIED,
    embed_pb2.EMBEDDING_FORMAT_FLOAT,
    embed_pb2.EMBEDDING_FORMAT_FLOAT32_LE,
    embed_pb2.EMBEDDING_FORMAT_MATRIX,
}


# -- requests ---------------------------------------------------------------------------


def truncation(msg: common_pb2.Truncation) -> Truncation:
    """The truncation options; an unknown direction number is INVALID_ARGUMENT."""
    side = _SIDES.get(msg.direction)
    if side is None:
        raise InvalidInputError(f"unknown truncation direction {msg.direction}")
    return Truncation(truncate=msg.truncate if msg.HasField("truncate") else None, side=side)


def _embed_inputs(inputs: list[embed_pb2.EmbedInput]) -> list[EmbedItem]:
    items: list[EmbedItem] = []
    for i, item in enumerate(inputs):
        kind = item.WhichOneof("content")
        if kind == "text":
            items.append(item.text)
        elif kind == "token_ids":
            items.append(list(item.token_ids.ids))
        else:
            raise InvalidInputError(f"input {i} has neither text nor token_ids")
    return items


def embed_job(req: embed_pb2.EmbedRequest) -> EmbedJob:
    """An Embed request as a job; an unknown format or precision number, or ranges whose
    minimums and maximums differ in count, are INVALID_ARGUMENT."""
    if req.format not in _FORMATS:
        raise InvalidInputError(f"unknown embedding format {req.format}")
    return EmbedJob(
        inputs=_embed_inputs(list(req.inputs)),
        normalize=req.normalize if req.HasField("normalize") else True,
        dimensions=req.dimensions if req.HasField("dimensions") else None,
        truncation=truncation(req.truncation),
        prompt_name=req.prompt_name or None,
        precision=precision(req.precision),
        ranges=ranges_array(req.ranges) if req.HasField("ranges") else None,
    )


def precision(number: embed_pb2.EmbeddingPrecision.ValueType) -> Precision:
    """An EmbeddingPrecision number as a Precision (unspecified: float32); an unknown number is
    INVALID_ARGUMENT."""
    found = _PRECISIONS.get(number)
    if found is None:
        raise InvalidInputError(f"unknown embedding precision {number}", field="precision")
    return found


def precision_number(value: Precision) -> embed_pb2.EmbeddingPrecision.ValueType:
    """A Precision as its EmbeddingPrecision number."""
    return _PRECISION_NUMBERS[value]


def ranges_message(ranges: FloatArray) -> embed_pb2.QuantizationRanges:
    """``(2, d)`` ranges as a QuantizationRanges."""
    return embed_pb2.QuantizationRanges(min=ranges[0].tolist(), max=ranges[1].tolist())


def ranges_array(msg: embed_pb2.QuantizationRanges) -> FloatArray:
    """A QuantizationRanges as the ``(2, d)`` float32 array; minimums and maximums that differ
    in count are INVALID_ARGUMENT."""
    if len(msg.min) != len(msg.max):
        raise InvalidInputError(
            f"ranges has {len(msg.min)} minimums and {len(msg.max)} maximums; they must pair up",
            field="ranges",
            reason="bad_ranges",
        )
    return np.array([list(msg.min), list(msg.max)], dtype=np.float32)


def inputs_job(req: embed_pb2.EmbedSparseRequest | embed_pb2.EmbedTokensRequest) -> EmbedJob:
    """An EmbedSparse or EmbedTokens request (inputs, truncation, prompt) as a job."""
    return EmbedJob(
        inputs=_embed_inputs(list(req.inputs)),
        truncation=truncation(req.truncation),
        prompt_name=req.prompt_name or None,
    )


def encode_job(req: embed_pb2.EncodeRequest) -> EncodeJob:
    """An Encode request as a job; an unknown output number is INVALID_ARGUMENT."""
    outputs = set()
    for number in req.outputs:
        output = _OUTPUTS.get(number)
        if output is None:
            valid = ", ".join(embed_pb2.EmbeddingOutput.Name(k) for k in sorted(_OUTPUTS))
            raise InvalidInputError(
                f"unknown output {number}; expected one of {valid}", field="outputs"
            )
        outputs.add(output)
    return EncodeJob(
        inputs=_embed_inputs(list(req.inputs)),
        outputs=frozenset(outputs),
        query=req.query,
        chunking=(
            Chunking(
                size=req.chunking.size or None,
                overlap=req.chunking.overlap,
                mean=req.chunking.mean,
            )
            if req.HasField("chunking")
            else None
        ),
        normalize=req.normalize if req.HasField("normalize") else True,
        truncation=truncation(req.truncation),
        prompt_name=req.prompt_name or None,
    )


def similarity_job(req: embed_pb2.SimilarityRequest) -> SimilarityJob:
    """A Similarity request as a job."""
    return SimilarityJob(
        source=req.source_sentence,
        sentences=list(req.sentences),
        truncation=truncation(req.truncation),
        prompt_name=req.prompt_name or None,
    )


def classify_job(req: classify_pb2.ClassifyRequest) -> ClassifyJob:
    """A Classify request as a job."""
    return ClassifyJob(
        inputs=[list(item.texts) for item in req.inputs],
        raw_scores=req.raw_scores,
        truncation=truncation(req.truncation),
    )


def rerank_job(req: rerank_pb2.RerankRequest) -> RerankJob:
    """A Rerank request as a job."""
    return RerankJob(
        query=req.query,
        texts=list(req.texts),
        raw_scores=req.raw_scores,
        return_text=req.return_text,
        top_n=req.top_n if req.HasField("top_n") else None,
        truncation=truncation(req.truncation),
    )


def tokens_job(req: token_classification_pb2.PredictTokensRequest) -> TokensJob:
    """A PredictTokens request as a job; an unknown strategy number is INVALID_ARGUMENT."""
    strategy = _AGGREGATIONS.get(req.aggregation_strategy)
    if strategy is None:
        valid = ", ".join(str(k) for k in sorted(_AGGREGATIONS))
        raise InvalidInputError(
            f"unknown aggregation_strategy {req.aggregation_strategy}; expected one of {valid}"
        )
    return TokensJob(
        inputs=list(req.inputs),
        raw_scores=req.raw_scores,
        aggregation=strategy,
        truncation=truncation(req.truncation),
    )


def tokenize_job(req: model_pb2.TokenizeRequest) -> TokenizeJob:
    """A Tokenize request as a job."""
    return TokenizeJob(
        inputs=list(req.inputs),
        add_special_tokens=req.add_special_tokens if req.HasField("add_special_tokens") else True,
        prompt_name=req.prompt_name or None,
    )


def decode_job(req: model_pb2.DecodeRequest) -> DecodeJob:
    """A Decode request as a job."""
    return DecodeJob(
        inputs=[list(row.ids) for row in req.inputs],
        skip_special_tokens=(
            req.skip_special_tokens if req.HasField("skip_special_tokens") else True
        ),
    )


# -- responses --------------------------------------------------------------------------


def _meta(result: Measured, model: str) -> dict[str, Any]:
    """The usage, timing and model fields every task answer has."""
    usage, timing = result.usage, result.timing
    return {
        "usage": common_pb2.Usage(
            prompt_tokens=usage.prompt_tokens, total_tokens=usage.prompt_tokens
        ),
        "timing": common_pb2.Timing(
            queue_ns=timing.queue_ns,
            tokenization_ns=timing.tokenization_ns,
            inference_ns=timing.inference_ns,
            total_ns=timing.total_ns,
        ),
        "model": model,
    }


def _sparse(indices: Iterable[IntArray], values: Iterable[FloatArray]) -> list[Any]:
    return [
        embed_pb2.SparseEmbedding(indices=idx.tolist(), values=val.tolist())
        for idx, val in zip(indices, values, strict=True)
    ]


def _labels(items: list[LabelScore] | tuple[LabelScore, ...]) -> list[common_pb2.LabelScore]:
    return [common_pb2.LabelScore(label=x.label, score=x.score) for x in items]


def embed_response(
    result: EmbedResult, fmt: embed_pb2.EmbeddingFormat.ValueType, model: str
) -> embed_pb2.EmbedResponse:
    """The Embed answer, vectors encoded as the request asked (MATRIX: the result array is
    sent as it is, one block)."""
    response = embed_pb2.EmbedResponse(**_meta(result, model))
    vectors = result.vectors
    if result.quantized is not None:
        response.quantized.CopyFrom(quantized_matrix(result.quantized))
    elif fmt == embed_pb2.EMBEDDING_FORMAT_MATRIX:
        response.matrix.CopyFrom(_matrix(vectors))
    elif fmt == embed_pb2.EMBEDDING_FORMAT_FLOAT32_LE:
        le = vectors.astype("<f4", copy=False)
        response.embeddings.extend(embed_pb2.Embedding(float32_le=row.tobytes()) for row in le)
    else:
        response.embeddings.extend(embed_pb2.Embedding(values=row) for row in vectors.tolist())
    return response


def quantized_matrix(quantized: Quantized) -> embed_pb2.QuantizedMatrix:
    """Quantized vectors as one block (int8 as two's complement bytes)."""
    rows, cols = quantized.data.shape
    msg = embed_pb2.QuantizedMatrix(
        precision=precision_number(quantized.precision),
        rows=rows,
        cols=cols,
        data=quantized.data.tobytes(),
        dimensions=quantized.dimensions,
    )
    if quantized.ranges is not None:
        msg.ranges.CopyFrom(ranges_message(quantized.ranges))
    return msg


def similarity_response(result: SimilarityResult, model: str) -> embed_pb2.SimilarityResponse:
    """The Similarity answer."""
    return embed_pb2.SimilarityResponse(
        scores=result.scores.tolist(),
        **_meta(result, model),
    )


def embed_sparse_response(result: SparseResult, model: str) -> embed_pb2.EmbedSparseResponse:
    """The EmbedSparse answer."""
    return embed_pb2.EmbedSparseResponse(
        embeddings=_sparse(result.indices, result.values),
        **_meta(result, model),
    )


def _matrix(values: FloatArray) -> embed_pb2.FloatMatrix:
    rows, cols = values.shape
    return embed_pb2.FloatMatrix(
        rows=rows, cols=cols, float32_le=values.astype("<f4", copy=False).tobytes()
    )


def encode_response(result: EncodeResult, model: str) -> embed_pb2.EncodeResponse:
    """The Encode answer: each output asked for, as one block (dense) or one block per input."""
    response = embed_pb2.EncodeResponse(**_meta(result, model))
    if result.dense is not None:
        response.dense.CopyFrom(_matrix(result.dense))
    if result.sparse is not None:
        response.sparse.extend(_sparse(*result.sparse))
    if result.multi is not None:
        response.multi_vectors.extend(_matrix(m) for m in result.multi)
    if result.chunks is not None:
        response.chunks.extend(
            embed_pb2.ChunkSpan(input=i, start=s, end=e) for i, s, e in result.chunks
        )
    return response


def embed_tokens_response(result: TokenStatesResult, model: str) -> embed_pb2.EmbedTokensResponse:
    """The EmbedTokens answer: per input one float32 block and its tokens' ids and offsets."""
    response = embed_pb2.EmbedTokensResponse(**_meta(result, model))
    for states, enc in zip(result.states, result.encodings, strict=True):
        rows = states.shape[0]
        item = response.results.add()
        item.states.CopyFrom(_matrix(states))
        item.token_ids.extend(enc.ids)
        if enc.offsets is not None:
            item.starts.extend(start for start, _ in enc.offsets)
            item.ends.extend(end for _, end in enc.offsets)
        else:
            item.starts.extend([0] * rows)
            item.ends.extend([0] * rows)
        item.special.extend(enc.special if enc.special is not None else [False] * rows)
    return response


def classify_response(result: ClassifyResult, model: str) -> classify_pb2.ClassifyResponse:
    """The Classify answer."""
    return classify_pb2.ClassifyResponse(
        results=[classify_pb2.Classification(labels=_labels(r)) for r in result.results],
        **_meta(result, model),
    )


def rerank_response(result: RerankResult, model: str) -> rerank_pb2.RerankResponse:
    """The Rerank answer."""
    ranks = []
    for i, r in enumerate(result.ranks):
        ranked = rerank_pb2.RankedText(index=r.index, score=r.score)
        if result.texts is not None:
            ranked.text = result.texts[i]
        ranks.append(ranked)
    return rerank_pb2.RerankResponse(ranks=ranks, **_meta(result, model))


def tokens_response(
    result: TokensResult, model: str
) -> token_classification_pb2.PredictTokensResponse:
    """The PredictTokens answer."""
    pb = token_classification_pb2
    return pb.PredictTokensResponse(
        results=[
            pb.TokenPredictions(
                tokens=[
                    pb.TokenPrediction(
                        token=t.token,
                        token_id=t.token_id,
                        start=t.start,
                        end=t.end,
                        results=_labels(t.results),
                    )
                    for t in predictions
                ]
            )
            for predictions in result.results
        ],
        **_meta(result, model),
    )


def decode_response(texts: list[str]) -> model_pb2.DecodeResponse:
    """The Decode answer."""
    return model_pb2.DecodeResponse(texts=texts)


def tokenize_response(tokens: list[list[TokenInfo]]) -> model_pb2.TokenizeResponse:
    """The Tokenize answer."""
    return model_pb2.TokenizeResponse(
        results=[
            model_pb2.TokenizedText(
                tokens=[
                    model_pb2.Token(
                        id=t.id, text=t.text, special=t.special, start=t.start, stop=t.stop
                    )
                    for t in text_tokens
                ]
            )
            for text_tokens in tokens
        ]
    )


def model_info_response(
    info: ModelInfo,
    limits: ServiceLimits,
    version: str,
    cpu: CpuFeatures,
    check: SelfCheckResult | None,
) -> model_pb2.GetModelInfoResponse:
    """The GetModelInfo answer."""
    precision_check = (
        model_pb2.PrecisionCheck(
            dtype=check.dtype,
            min_cosine=check.min_cosine,
            mean_cosine=check.mean_cosine,
            probes=check.probes,
        )
        if check is not None
        else None
    )
    return model_pb2.GetModelInfoResponse(
        model_id=info.model_id,
        kind=_KINDS[info.kind],
        tasks=sorted(_TASKS[t] for t in info.tasks),
        labels=list(info.labels),
        dtype=info.dtype,
        device=info.device,
        max_input_length=info.max_input_length,
        max_batch_tokens=limits.max_batch_tokens,
        max_batch_requests=limits.max_batch_requests,
        max_client_batch_size=limits.max_client_batch_size,
        embedding_dimensions=info.embedding_dim,
        prompt_names=sorted(info.prompts),
        pooling=info.pooling.value if info.pooling is not None else "",
        backend=info.backend,
        architecture=info.architecture,
        server_version=version,
        cpu=model_pb2.CpuInfo(isa=cpu.isa, model_name=cpu.model_name, flags=cpu.ordered_flags()),
        precision_check=precision_check,
        outputs=sorted(_OUTPUT_NUMBERS[o] for o in info.outputs),
    )
