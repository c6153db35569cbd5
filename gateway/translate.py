"""Pure translation between the gateway's JSON models and the ``ember.v1`` protobuf messages.

Requests: a validated pydantic model in, a proto request out. Responses: a proto response in,
a JSON-ready value out (dicts, lists and numpy arrays that orjson serializes natively).
Nothing here does I/O; every function is a plain function of its arguments.

Dense vectors travel as ``EMBEDDING_FORMAT_FLOAT32_LE`` bytes: one ``np.frombuffer`` gives
the matrix, which orjson writes directly (float) or which is base64-encoded as it is (base64),
so no Python float objects are created for them.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ember.clients import requests
from ember.gateway import errors
from ember.gateway.models import (
    CohereRerankRequest,
    CohereV2RerankRequest,
    EncodeRequest,
    HFClassifyParameters,
    HFClassifyRequest,
    HFTokensParameters,
    HFTokensRequest,
    OpenAIEmbeddingsRequest,
    PredictRequest,
    PredictTokensRequest,
    TEIDecodeRequest,
    TEIEmbedAllRequest,
    TEIEmbedRequest,
    TEIEmbedSparseRequest,
    TEIRerankRequest,
    TEISimilarityRequest,
    TEITokenizeRequest,
)
from ember.v1 import (
    classify_pb2,
    common_pb2,
    embed_pb2,
    model_pb2,
    rerank_pb2,
    token_classification_pb2,
)

JsonObject = dict[str, object]
FloatMatrix = npt.NDArray[np.float32]

# ---------------------------------------------------------------- shared


def _f32(value: float) -> np.float32:
    """A proto float kept as float32, so orjson writes its shortest float32 form ("0.9", not
    "0.8999999761581421"): the same number, as TEI writes it."""
    return np.float32(value)


def truncation(truncate: bool | None, direction: str | None) -> common_pb2.Truncation:
    """The proto truncation options (the clients' codec); an unknown direction is a 422."""
    try:
        return requests.truncation(truncate, direction)
    except ValueError:
        raise errors.ApiError(
            errors.VALIDATION,
            f"truncation_direction must be 'Right' or 'Left', got {direction!r}",
            param="truncation_direction",
        ) from None


def usage(message: common_pb2.Usage) -> JsonObject:
    """OpenAI-style usage counts."""
    return {"prompt_tokens": message.prompt_tokens, "total_tokens": message.total_tokens}


def embed_inputs(
    inputs: str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]],
) -> list[embed_pb2.EmbedInput]:
    """Proto inputs for a text, texts, one token-id input, or several token-id inputs."""
    if isinstance(inputs, str):
        return [embed_pb2.EmbedInput(text=inputs)]
    if not inputs:
        raise errors.ApiError(errors.VALIDATION, "input must not be empty", param="input")
    first = inputs[0]
    if isinstance(first, str):
        return [embed_pb2.EmbedInput(text=t) for t in inputs]  # type: ignore[arg-type]
    if isinstance(first, int):
        return [embed_pb2.EmbedInput(token_ids=embed_pb2.TokenIds(ids=inputs))]  # type: ignore[arg-type]
    return [embed_pb2.EmbedInput(token_ids=embed_pb2.TokenIds(ids=ids)) for ids in inputs]  # type: ignore[arg-type]


# ---------------------------------------------------------------- dense embeddings


def embedding_matrix(response: embed_pb2.EmbedResponse) -> FloatMatrix:
    """The response's vectors as one ``(n, dim)`` float32 matrix, in any format the upstream
    answered (the clients' codec)."""
    try:
        return requests.embeddings(response)
    except ValueError:
        raise errors.ApiError(
            errors.INTERNAL, "upstream returned vectors of different lengths"
        ) from None


def _embed_format_request(
    inputs: list[embed_pb2.EmbedInput],
    *,
    model: str = "",
    normalize: bool | None,
    dimensions: int | None,
    trunc: common_pb2.Truncation | None,
    prompt_name: str | None,
    encoding_format: str | None = None,
    ranges: list[list[float]] | None = None,
) -> embed_pb2.EmbedRequest:
    request = embed_pb2.EmbedRequest(
        model=model,
        inputs=inputs,
        format=embed_pb2.EMBEDDING_FORMAT_FLOAT32_LE,
        prompt_name=prompt_name or "",
    )
    if normalize is not None:
        request.normalize = normalize
    if dimensions is not None:
        request.dimensions = dimensions
    if trunc is not None:
        request.truncation.CopyFrom(trunc)
    if encoding_format in requests.PRECISIONS:
        request.precision = requests.PRECISIONS[encoding_format]
    if ranges is not None:
        if encoding_format not in ("int8", "uint8"):
            raise errors.ApiError(
                errors.VALIDATION,
                f"ranges apply to encoding_format int8 and uint8, not {encoding_format!r}",
                param="ranges",
            )
        request.ranges.CopyFrom(requests.quantization_ranges(ranges))
    return request


def quantized_rows(response: embed_pb2.EmbedResponse) -> list[list[int]]:
    """The quantized vectors as lists of integers (packed bits for binary/ubinary)."""
    try:
        return requests.quantized(response).data.tolist()  # type: ignore[no-any-return]
    except ValueError:
        raise errors.ApiError(
            errors.INTERNAL, "upstream returned no quantized vectors or a malformed block"
        ) from None


def openai_embed_request(body: OpenAIEmbeddingsRequest) -> embed_pb2.EmbedRequest:
    """The Embed call for an OpenAI embeddings request (vectors normalized, as OpenAI's are;
    ``truncate`` / ``truncation_direction`` as OpenAI SDKs send them in ``extra_body``)."""
    return _embed_format_request(
        embed_inputs(body.input),
        model=body.model or "",
        normalize=None,
        dimensions=body.dimensions,
        trunc=truncation(body.truncate, body.truncation_direction),
        prompt_name=None,
        encoding_format=body.encoding_format,
        ranges=body.ranges,
    )


def _vectors(response: embed_pb2.EmbedResponse, encoding_format: str) -> Sequence[object]:
    """Each vector as ``encoding_format`` writes it: numbers, base64 float32 bytes or integers."""
    if encoding_format in requests.PRECISIONS:
        return quantized_rows(response)
    if encoding_format == "base64":
        return [base64.b64encode(_le_bytes(e)).decode("ascii") for e in response.embeddings]
    return list(embedding_matrix(response))


def openai_embed_response(response: embed_pb2.EmbedResponse, encoding_format: str) -> JsonObject:
    """The OpenAI embeddings answer in ``encoding_format`` (see ``EncodingFormat``)."""
    vectors = _vectors(response, encoding_format)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
        ],
        "model": response.model,
        "usage": usage(response.usage),
    }


def _le_bytes(embedding: embed_pb2.Embedding) -> bytes:
    if embedding.float32_le:
        return embedding.float32_le
    return np.asarray(embedding.values, dtype="<f4").tobytes()


def tei_embed_request(body: TEIEmbedRequest) -> embed_pb2.EmbedRequest:
    """The Embed call for a TEI ``/embed`` request."""
    return _embed_format_request(
        embed_inputs(body.inputs),
        normalize=body.normalize,
        dimensions=body.dimensions,
        trunc=truncation(body.truncate, body.truncation_direction),
        prompt_name=body.prompt_name,
        encoding_format=body.encoding_format,
        ranges=body.ranges,
    )


def similarity_request(body: TEISimilarityRequest) -> embed_pb2.SimilarityRequest:
    """The Similarity call for TEI ``/similarity``."""
    params = body.parameters
    return embed_pb2.SimilarityRequest(
        source_sentence=body.inputs.source_sentence,
        sentences=body.inputs.sentences,
        truncation=truncation(
            params.truncate if params else None, params.truncation_direction if params else None
        ),
        prompt_name=(params.prompt_name if params else None) or "",
    )


def tei_embed_response(
    response: embed_pb2.EmbedResponse, encoding_format: str | None = "float"
) -> FloatMatrix | Sequence[object]:
    """TEI's ``[[float]]`` (the matrix itself, which orjson writes as nested lists), or each
    vector as another ``encoding_format`` writes it."""
    if encoding_format in (None, "float"):
        return embedding_matrix(response)
    return _vectors(response, encoding_format)


def encode_request(body: EncodeRequest) -> embed_pb2.EncodeRequest:
    """The Encode call for ``/encode``."""
    request = requests.encode_request(
        [],
        body.outputs,
        model=body.model or "",
        normalize=body.normalize,
        prompt_name=body.prompt_name,
        query=body.query,
    )
    request.inputs.extend(embed_inputs(body.inputs))
    request.truncation.CopyFrom(truncation(body.truncate, body.truncation_direction))
    if body.chunking is not None:
        request.chunking.CopyFrom(
            embed_pb2.Chunking(
                size=body.chunking.size or 0,
                overlap=body.chunking.overlap,
                mean=body.chunking.mean,
            )
        )
    return request


def _sparse_json(entry: embed_pb2.SparseEmbedding) -> list[JsonObject]:
    return [
        {"index": i, "value": _f32(v)} for i, v in zip(entry.indices, entry.values, strict=True)
    ]


def encode_response(response: embed_pb2.EncodeResponse, outputs: Sequence[str]) -> JsonObject:
    """``/encode``'s answer: each output asked for, one result per input."""
    try:
        got = requests.encoded(response, outputs)
    except ValueError:
        raise errors.ApiError(errors.INTERNAL, "upstream sent a malformed block") from None
    out: JsonObject = {}
    if got.dense is not None:
        out["dense"] = got.dense
    if got.sparse is not None:
        out["sparse"] = [_sparse_json(e) for e in response.sparse]
    if got.multi_vector is not None:
        out["multi_vector"] = got.multi_vector
    if got.chunks is not None:
        out["chunks"] = [{"input": i, "start": s, "end": e} for i, s, e in got.chunks]
    out["model"] = response.model
    out["usage"] = usage(response.usage)
    return out


def tei_embed_all_request(body: TEIEmbedAllRequest) -> embed_pb2.EmbedTokensRequest:
    """The EmbedTokens call for TEI ``/embed_all``."""
    return embed_pb2.EmbedTokensRequest(
        inputs=embed_inputs(body.inputs),
        truncation=truncation(body.truncate, body.truncation_direction),
        prompt_name=body.prompt_name or "",
    )


def tei_embed_all_response(response: embed_pb2.EmbedTokensResponse) -> list[FloatMatrix]:
    """TEI's ``[[[float]]]``: per input, one vector per token (orjson writes the matrices)."""
    try:
        return [t.states for t in requests.token_states(response)]
    except ValueError:
        raise errors.ApiError(
            errors.INTERNAL, "upstream returned a malformed token block"
        ) from None


# ---------------------------------------------------------------- sparse embeddings


def tei_embed_sparse_request(body: TEIEmbedSparseRequest) -> embed_pb2.EmbedSparseRequest:
    """The EmbedSparse call for a TEI ``/embed_sparse`` request."""
    return embed_pb2.EmbedSparseRequest(
        inputs=embed_inputs(body.inputs),
        truncation=truncation(body.truncate, body.truncation_direction),
        prompt_name=body.prompt_name or "",
    )


def tei_embed_sparse_response(response: embed_pb2.EmbedSparseResponse) -> list[list[JsonObject]]:
    """TEI's ``[[{"index", "value"}]]``, entries by increasing index."""
    return [_sparse_json(e) for e in response.embeddings]


# ---------------------------------------------------------------- rerank


def tei_rerank_request(body: TEIRerankRequest) -> rerank_pb2.RerankRequest:
    """The Rerank call for a TEI ``/rerank`` request."""
    return rerank_pb2.RerankRequest(
        model=body.model or "",
        query=body.query,
        texts=body.texts,
        raw_scores=body.raw_scores,
        return_text=body.return_text,
        truncation=truncation(body.truncate, body.truncation_direction),
    )


def tei_rerank_response(response: rerank_pb2.RerankResponse) -> list[JsonObject]:
    """TEI's bare array, best first; ``text`` only where the upstream echoed it."""
    out: list[JsonObject] = []
    for rank in response.ranks:
        item: JsonObject = {"index": rank.index, "score": _f32(rank.score)}
        if rank.HasField("text"):
            item["text"] = rank.text
        out.append(item)
    return out


def cohere_rerank_request(
    body: CohereRerankRequest | CohereV2RerankRequest,
) -> rerank_pb2.RerankRequest:
    """The Rerank call for a Cohere/Jina ``/v1/rerank`` request (documents as text or {text})
    or a Cohere ``/v2/rerank`` one (texts; documents are never echoed in v2)."""
    texts = [d if isinstance(d, str) else d.text for d in body.documents]
    request = rerank_pb2.RerankRequest(
        model=body.model or "",
        query=body.query,
        texts=texts,
        return_text=isinstance(body, CohereRerankRequest) and body.return_documents,
        truncation=truncation(body.truncate, body.truncation_direction),
    )
    if body.top_n is not None:
        request.top_n = body.top_n
    return request


def cohere_rerank_response(response: rerank_pb2.RerankResponse, request_id: str) -> JsonObject:
    """The Cohere/Jina answer: ``results`` best first, with ``relevance_score``."""
    results: list[JsonObject] = []
    for rank in response.ranks:
        item: JsonObject = {"index": rank.index, "relevance_score": _f32(rank.score)}
        if rank.HasField("text"):
            item["document"] = {"text": rank.text}
        results.append(item)
    return {
        "id": request_id,
        "results": results,
        "model": response.model,
        "usage": usage(response.usage),
    }


def cohere_v2_rerank_response(response: rerank_pb2.RerankResponse, request_id: str) -> JsonObject:
    """The Cohere v2 answer: ``results`` best first, with ``meta`` as Cohere sends it."""
    return {
        "id": request_id,
        "results": [
            {"index": rank.index, "relevance_score": _f32(rank.score)} for rank in response.ranks
        ],
        "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
    }


# ---------------------------------------------------------------- classification


def predict_request(body: PredictRequest) -> tuple[classify_pb2.ClassifyRequest, bool]:
    """The Classify call for ``/predict``, and whether the answer is for ONE input.

    ``inputs`` is one text (``"t"``), ONE pair (``["a", "b"]``, a flat list of strings: the
    model has already refused any other length) or a batch (``[["t"], ["a", "b"], ...]``).
    """
    inputs = body.inputs
    single = isinstance(inputs, str) or (bool(inputs) and isinstance(inputs[0], str))
    if isinstance(inputs, str):
        items = [classify_pb2.ClassifyInput(texts=[inputs])]
    elif single:
        items = [classify_pb2.ClassifyInput(texts=inputs)]  # type: ignore[arg-type]
    else:
        items = [classify_pb2.ClassifyInput(texts=texts) for texts in inputs]
    request = classify_pb2.ClassifyRequest(
        model=body.model or "",
        inputs=items,
        raw_scores=body.raw_scores,
        truncation=truncation(body.truncate, body.truncation_direction),
    )
    return request, single


def predict_response(
    response: classify_pb2.ClassifyResponse, single: bool
) -> list[JsonObject] | list[list[JsonObject]]:
    """``[{"label", "score"}]`` best first for one input; a list of those for a batch."""
    batch = [
        [{"label": ls.label, "score": _f32(ls.score)} for ls in result.labels]
        for result in response.results
    ]
    if single:
        if len(batch) != 1:
            raise errors.ApiError(errors.INTERNAL, "upstream answered a single input with a batch")
        return batch[0]
    return batch


# ---------------------------------------------------------------- token classification


@dataclass(frozen=True)
class TokensLayout:
    """How ``/predict_tokens`` inputs were nested, to nest the answer the same way.

    ``group_sizes`` None: a flat list (one answer per text); ``single``: one bare text.
    """

    group_sizes: tuple[int, ...] | None = None
    single: bool = False


def predict_tokens_request(
    body: PredictTokensRequest,
) -> tuple[token_classification_pb2.PredictTokensRequest, TokensLayout]:
    """The PredictTokens call for ``/predict_tokens``, and the layout to answer in."""
    inputs = body.inputs
    texts: list[str]
    if isinstance(inputs, str):
        texts, layout = [inputs], TokensLayout(single=True)
    elif inputs and isinstance(inputs[0], list):
        groups: list[list[str]] = inputs
        texts = [t for group in groups for t in group]
        layout = TokensLayout(group_sizes=tuple(len(g) for g in groups))
    else:
        texts, layout = list(inputs), TokensLayout()  # type: ignore[arg-type]
    request = token_classification_pb2.PredictTokensRequest(
        model=body.model or "",
        inputs=texts,
        raw_scores=body.raw_scores,
        truncation=truncation(body.truncate, body.truncation_direction),
        aggregation_strategy=requests.aggregation(body.aggregation_strategy),
    )
    return request, layout


def _token(t: token_classification_pb2.TokenPrediction) -> JsonObject:
    return {
        "token": t.token,
        "token_id": t.token_id,
        "start": t.start,
        "end": t.end,
        "results": {ls.label: _f32(ls.score) for ls in t.results},
    }


def predict_tokens_response(
    response: token_classification_pb2.PredictTokensResponse, layout: TokensLayout
) -> list[object]:
    """Per input a list of ``{"token", "token_id", "start", "end", "results"}``, nested as the
    request was."""
    per_text = [[_token(t) for t in result.tokens] for result in response.results]
    if layout.single:
        return list(per_text[0]) if per_text else []
    if layout.group_sizes is None:
        return list(per_text)
    nested: list[object] = []
    start = 0
    for size in layout.group_sizes:
        nested.append(per_text[start : start + size])
        start += size
    return nested


# ---------------------------------------------------------------- Hugging Face pipeline shapes


def hf_classify_request(body: HFClassifyRequest) -> tuple[classify_pb2.ClassifyRequest, bool]:
    """The Classify call for a Hugging Face text-classification request, and whether ``inputs``
    was one text. ``function_to_apply`` asks for the raw logits, to apply it here."""
    single = isinstance(body.inputs, str)
    texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    request = classify_pb2.ClassifyRequest(
        inputs=[classify_pb2.ClassifyInput(texts=[t]) for t in texts],
        raw_scores=body.parameters.function_to_apply is not None,
        truncation=truncation(body.truncate, body.truncation_direction),
    )
    return request, single


def hf_classify_response(
    response: classify_pb2.ClassifyResponse, parameters: HFClassifyParameters
) -> list[list[JsonObject]]:
    """``[[{"label", "score"}]]`` best first, one list per input (the pipeline's shape, also for
    one text), cut to ``top_k``, with ``function_to_apply`` applied to the raw logits."""
    function = parameters.function_to_apply
    out: list[list[JsonObject]] = []
    for result in response.results:
        labels = [ls.label for ls in result.labels]
        values = np.array([ls.score for ls in result.labels], dtype=np.float64)
        if function == "softmax":
            exp = np.exp(values - values.max(initial=0.0))
            values = exp / exp.sum()
        elif function == "sigmoid":
            values = 1.0 / (1.0 + np.exp(-values))
        order = np.argsort(-values, kind="stable")[: parameters.top_k]
        out.append([{"label": labels[i], "score": _f32(float(values[i]))} for i in order])
    return out


def hf_tokens_request(
    body: HFTokensRequest,
) -> tuple[token_classification_pb2.PredictTokensRequest, bool]:
    """The PredictTokens call for a Hugging Face token-classification request (aggregation
    ``simple`` unless asked otherwise), and whether ``inputs`` was one text."""
    single = isinstance(body.inputs, str)
    texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    strategy = body.parameters.aggregation_strategy or "simple"
    request = token_classification_pb2.PredictTokensRequest(
        inputs=texts,
        truncation=truncation(body.truncate, body.truncation_direction),
        aggregation_strategy=requests.aggregation(strategy),
    )
    return request, single


def hf_tokens_response(
    response: token_classification_pb2.PredictTokensResponse,
    parameters: HFTokensParameters,
    single: bool,
) -> list[object]:
    """The pipeline's ``[{"entity_group" | "entity", "score", "word", "start", "end"}]`` per
    input (a bare list for one text), without the labels in ``ignore_labels``."""
    key = "entity" if parameters.aggregation_strategy == "none" else "entity_group"
    ignore = set(parameters.ignore_labels or ())
    per_text: list[list[JsonObject]] = []
    for result in response.results:
        items: list[JsonObject] = []
        for token in result.tokens:
            best = token.results[0] if token.results else None
            if best is None or best.label in ignore:
                continue
            items.append(
                {
                    key: best.label,
                    "score": _f32(best.score),
                    "word": token.token,
                    "start": token.start,
                    "end": token.end,
                }
            )
        per_text.append(items)
    if single:
        return list(per_text[0]) if per_text else []
    return list(per_text)


# ---------------------------------------------------------------- tokenize, info, models


def tokenize_request(body: TEITokenizeRequest) -> model_pb2.TokenizeRequest:
    """The Tokenize call for TEI ``/tokenize``."""
    texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    return model_pb2.TokenizeRequest(
        inputs=texts,
        add_special_tokens=body.add_special_tokens,
        prompt_name=body.prompt_name or "",
    )


def tokenize_response(response: model_pb2.TokenizeResponse) -> list[list[JsonObject]]:
    """TEI's ``[[{"id", "text", "special", "start", "stop"}]]``; offsets null for specials."""
    return [
        [
            {
                "id": t.id,
                "text": t.text,
                "special": t.special,
                "start": None if t.special else t.start,
                "stop": None if t.special else t.stop,
            }
            for t in result.tokens
        ]
        for result in response.results
    ]


def decode_request(body: TEIDecodeRequest) -> model_pb2.DecodeRequest:
    """The Decode call for TEI ``/decode`` (one sequence or a list of them)."""
    rows = [body.ids] if isinstance(body.ids[0], int) else body.ids
    return model_pb2.DecodeRequest(
        inputs=[embed_pb2.TokenIds(ids=row) for row in rows],
        skip_special_tokens=body.skip_special_tokens,
    )


def _enum_name(prefix: str, full_name: str) -> str:
    return full_name.removeprefix(prefix).lower()


def info_response(info: model_pb2.GetModelInfoResponse) -> JsonObject:
    """TEI-like ``/info`` built from ``GetModelInfo``."""
    kind = _enum_name("MODEL_KIND_", model_pb2.ModelKind.Name(info.kind))
    labels = list(info.labels)
    id2label = {str(i): label for i, label in enumerate(labels)}
    label2id = {label: i for i, label in enumerate(labels)}
    model_type: JsonObject
    if info.kind == model_pb2.MODEL_KIND_EMBEDDING:
        model_type = {"embedding": {"pooling": info.pooling or None}}
    elif info.kind == model_pb2.MODEL_KIND_SPARSE_EMBEDDING:
        model_type = {"embedding": {"pooling": "splade"}}
    elif info.kind in (
        model_pb2.MODEL_KIND_RERANKER,
        model_pb2.MODEL_KIND_LLM_RERANKER,
        model_pb2.MODEL_KIND_COLBERT,
    ):
        model_type = {"reranker": {"id2label": id2label, "label2id": label2id}}
    elif info.kind == model_pb2.MODEL_KIND_CLASSIFIER:
        model_type = {"classifier": {"id2label": id2label, "label2id": label2id}}
    elif info.kind == model_pb2.MODEL_KIND_TOKEN_CLASSIFIER:
        model_type = {"token_classifier": {"id2label": id2label, "label2id": label2id}}
    else:
        model_type = {}
    return {
        "model_id": info.model_id,
        "model_sha": None,
        "model_dtype": info.dtype,
        "model_type": model_type,
        "kind": kind,
        "tasks": [_enum_name("TASK_", model_pb2.Task.Name(t)) for t in info.tasks],
        "labels": labels,
        "dtype": info.dtype,
        "device": info.device,
        "backend": info.backend,
        "architecture": info.architecture,
        "pooling": info.pooling or None,
        "embedding_dimensions": info.embedding_dimensions or None,
        "outputs": [
            _enum_name("EMBEDDING_OUTPUT_", embed_pb2.EmbeddingOutput.Name(o)) for o in info.outputs
        ],
        "prompt_names": list(info.prompt_names),
        "max_input_length": info.max_input_length,
        "max_batch_tokens": info.max_batch_tokens,
        "max_batch_requests": info.max_batch_requests,
        "max_client_batch_size": info.max_client_batch_size,
        "version": info.server_version,
        "cpu": {
            "isa": info.cpu.isa,
            "model_name": info.cpu.model_name,
            "flags": list(info.cpu.flags),
        },
        "precision_check": (
            {
                "dtype": info.precision_check.dtype,
                "min_cosine": round(info.precision_check.min_cosine, 6),
                "mean_cosine": round(info.precision_check.mean_cosine, 6),
                "probes": info.precision_check.probes,
            }
            if info.HasField("precision_check")
            else None
        ),
    }


def models_response(
    models: model_pb2.ListModelsResponse | model_pb2.GetModelInfoResponse, created: int
) -> JsonObject:
    """OpenAI's model list: every served model (a ListModels answer) or the one described."""
    infos = models.models if isinstance(models, model_pb2.ListModelsResponse) else [models]
    return {
        "object": "list",
        "data": [
            {"id": info.model_id, "object": "model", "created": created, "owned_by": "ember"}
            for info in infos
        ],
    }


# ---------------------------------------------------------------- deadlines


def grpc_timeout(
    timeout_ms: str | None, deadline_ms: str | None, default_s: float, now_s: float
) -> float | None:
    """The gRPC timeout in seconds for one request: the tightest of the server's default
    (``default_s``, 0 = none), ``Request-Timeout-Ms`` (relative) and ``Request-Deadline-Ms``
    (epoch milliseconds, compared with ``now_s``). None when there is no limit at all.

    An unreadable header is a 400; a deadline already past is a 504 without calling upstream.
    """
    limits = [default_s] if default_s > 0 else []
    for name, value in (("Request-Timeout-Ms", timeout_ms), ("Request-Deadline-Ms", deadline_ms)):
        if value is None:
            continue
        try:
            ms = float(value)
        except ValueError:
            raise errors.ApiError(
                errors.BAD_HEADER, f"{name} must be a number of milliseconds, got {value!r}"
            ) from None
        if ms != ms or ms in (float("inf"), float("-inf")):
            raise errors.ApiError(errors.BAD_HEADER, f"{name} must be finite, got {value!r}")
        seconds = ms / 1000.0 if name == "Request-Timeout-Ms" else ms / 1000.0 - now_s
        if seconds <= 0:
            raise errors.ApiError(errors.DEADLINE_EXCEEDED, f"{name} has already passed")
        limits.append(seconds)
    return min(limits) if limits else None
