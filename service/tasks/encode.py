"""Encode: the dense, sparse and multi-vector outputs a request asks for, from one forward.

Each input goes to the engine once; on a model with extra heads (BGE-M3) its encoding asks
for every output wanted (:class:`~ember.engines.types.Output` flags), on other models for the
model's own output. Refusals name the outputs the model has.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ember.engines import colbert, vectors
from ember.engines.chunking import split as chunking_split
from ember.engines.errors import EngineError, InvalidInputError, ItemError, UnsupportedTaskError
from ember.engines.types import (
    EmbeddingOutput,
    Encoding,
    FloatArray,
    IntArray,
    ModelInfo,
    Output,
    Outputs,
)
from ember.service import validate
from ember.service.jobs import Chunking, EmbedJob, EncodeJob, EncodeResult
from ember.service.scheduler import ItemValue
from ember.service.tasks.base import ModelContext, Ran, TaskSpec
from ember.service.tasks.embed import encode_inputs, inputs_cost_us

_FLAGS = {
    EmbeddingOutput.DENSE: Output.DENSE,
    EmbeddingOutput.SPARSE: Output.SPARSE,
    EmbeddingOutput.MULTI_VECTOR: Output.MULTI,
}


def require_outputs(info: ModelInfo, wanted: frozenset[EmbeddingOutput]) -> None:
    """FAILED_PRECONDITION unless the model gives every output in ``wanted``, naming those it
    has."""
    missing = wanted - info.outputs
    if not missing:
        return
    has = ", ".join(sorted(o.value for o in info.outputs)) or "none"
    raise UnsupportedTaskError(
        f"the loaded model {info.model_id!r} cannot give "
        f"{', '.join(sorted(o.value for o in missing))} output; the outputs it has: {has}"
    )


def output_flags(info: ModelInfo, wanted: frozenset[EmbeddingOutput]) -> Output:
    """What each encoding asks the engine for: the model's own output (DEFAULT) when that is
    all that is wanted, else one flag per wanted output (served by the model's extra heads)."""
    if not wanted & info.heads:
        return Output.DEFAULT
    flags = Output.DEFAULT
    for output in wanted:
        flags |= _FLAGS[output]
    return flags


class EncodeTask(TaskSpec[EncodeJob, EncodeResult]):
    """See the module docstring."""

    def check(self, job: EncodeJob, ctx: ModelContext) -> None:
        if not job.outputs:
            raise InvalidInputError("outputs is empty; ask for at least one", field="outputs")
        require_outputs(ctx.info, job.outputs)
        validate.check_count(len(job.inputs), ctx.limits.max_client_batch_size)
        validate.resolve_prompt(job.prompt_name, ctx.info)
        if ctx.info.colbert is not None:
            _texts(job)
            if job.chunking is not None:
                raise InvalidInputError(
                    "chunking is not available for ColBERT models (documents are cut to the "
                    "model's document length)",
                    field="chunking",
                )
        if job.chunking is not None:
            _texts(job)
            size = job.chunking.size
            if size is not None and not 1 <= size <= ctx.info.max_input_length:
                raise InvalidInputError(
                    f"chunking size must be between 1 and the model's maximum input length "
                    f"{ctx.info.max_input_length}, got {size}",
                    field="chunking",
                )
        if job.query and ctx.info.colbert is None:
            raise InvalidInputError(
                "query applies to ColBERT models only; this model encodes every input the same way",
                field="query",
            )

    def cost_us(self, job: EncodeJob, ctx: ModelContext) -> float:
        return inputs_cost_us(_as_embed(job), ctx)

    def encode(self, job: EncodeJob, ctx: ModelContext) -> list[Encoding]:
        colbert_settings = ctx.info.colbert
        if colbert_settings is not None:
            return colbert.encode(ctx.tokenizer, colbert_settings, _texts(job), query=job.query)
        flags = output_flags(ctx.info, job.outputs)
        if job.chunking is not None:
            return _chunk_encodings(job, job.chunking, ctx, flags)
        encodings = encode_inputs(_as_embed(job), ctx)
        if flags is Output.DEFAULT:
            return encodings
        return [dataclasses.replace(e, output=flags) for e in encodings]

    def head(self, job: EncodeJob, ctx: ModelContext, ran: Ran) -> EncodeResult:
        values = [r.value for r in ran.results]
        mean = job.chunking is not None and job.chunking.mean
        groups = _groups(ran.encodings, len(job.inputs)) if mean else []
        dense = None
        if EmbeddingOutput.DENSE in job.outputs:
            rows = [_dense(v) for v in values]
            width = ctx.info.embedding_dim
            matrix = np.stack(rows) if rows else np.zeros((0, width), dtype=np.float32)
            dense = vectors.normalize(matrix) if job.normalize else matrix
            if mean:
                dense = np.stack([dense[g].mean(axis=0) for g in groups])
                dense = vectors.normalize(dense) if job.normalize else dense
        sparse = None
        if EmbeddingOutput.SPARSE in job.outputs:
            pairs = [_sparse(v) for v in values]
            if mean:
                pairs = [_mean_sparse([pairs[i] for i in g]) for g in groups]
            sparse = ([p[0] for p in pairs], [p[1] for p in pairs])
        multi = None
        if EmbeddingOutput.MULTI_VECTOR in job.outputs:
            multi = [_multi(v) for v in values]
            settings = ctx.info.colbert
            if settings is not None and not job.query:
                multi = [
                    m[colbert.document_keep(e.ids, settings)]
                    for m, e in zip(multi, ran.encodings, strict=True)
                ]
            if job.normalize:
                multi = [vectors.normalize(m) for m in multi]
            if mean:
                multi = [np.concatenate([multi[i] for i in g]) for g in groups]
        chunks = None
        if job.chunking is not None:
            chunks = [(e.source, *(e.span or (0, 0))) for e in ran.encodings]
        return EncodeResult(dense, sparse, multi, usage=ran.usage, timing=ran.timing, chunks=chunks)


#: The most windows one request may be cut into (an 8k-token text in 256-token windows with
#: no overlap is 33; this bounds a request's work like the client batch size does).
MAX_CHUNKS = 4096


def _chunk_encodings(
    job: EncodeJob, chunking: Chunking, ctx: ModelContext, flags: Output
) -> list[Encoding]:
    """Every text's windows (:func:`ember.engines.chunking.split`), in input order."""
    prompt = validate.resolve_prompt(job.prompt_name, ctx.info)
    window = chunking.size or ctx.info.max_input_length
    try:
        tokens = ctx.tokenizer.tokenize(_texts(job), add_special_tokens=True, prompt=prompt)
    except ItemError as exc:
        raise exc.renamed(field="input") from exc
    out: list[Encoding] = []
    for index, text_tokens in enumerate(tokens):
        for piece in chunking_split(text_tokens, window=window, overlap=chunking.overlap):
            out.append(
                Encoding(ids=piece.ids, output=flags, source=index, span=(piece.start, piece.end))
            )
        if len(out) > MAX_CHUNKS:
            raise InvalidInputError(
                f"the texts make more than {MAX_CHUNKS} chunks of {window} tokens; send fewer "
                "or shorter texts per request, or larger chunks",
                field="chunking",
            )
    return out


def _groups(encodings: list[Encoding], count: int) -> list[list[int]]:
    """Per request input, the positions of its windows."""
    groups: list[list[int]] = [[] for _ in range(count)]
    for position, e in enumerate(encodings):
        groups[e.source].append(position)
    return groups


def _mean_sparse(parts: list[tuple[IntArray, FloatArray]]) -> tuple[IntArray, FloatArray]:
    """The mean weight of each token id over ``parts`` (absent counts as zero)."""
    ids = np.concatenate([p[0] for p in parts])
    weights = np.concatenate([p[1] for p in parts]).astype(np.float64)
    unique, inverse = np.unique(ids, return_inverse=True)
    sums = np.bincount(inverse, weights=weights, minlength=len(unique))
    return unique.astype(np.int64), (sums / len(parts)).astype(np.float32)


def _dense(value: ItemValue) -> FloatArray:
    if isinstance(value, Outputs) and value.dense is not None:
        return value.dense
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return value
    raise EngineError("the engine returned no dense vector for an input that asked for one")


def _sparse(value: ItemValue) -> tuple[IntArray, FloatArray]:
    if isinstance(value, Outputs) and value.sparse is not None:
        return value.sparse
    if isinstance(value, tuple):
        return value
    raise EngineError("the engine returned no sparse vector for an input that asked for one")


def _multi(value: ItemValue) -> FloatArray:
    if isinstance(value, Outputs) and value.multi is not None:
        return value.multi
    raise EngineError("the engine returned no multi-vector for an input that asked for one")


def _texts(job: EncodeJob) -> list[str]:
    """ColBERT inputs are texts (their prefix and expansion are built from the text)."""
    texts = [x for x in job.inputs if isinstance(x, str)]
    if len(texts) != len(job.inputs):
        raise InvalidInputError(
            "a ColBERT model takes texts, not token ids (it adds its query or document prefix)",
            field="inputs",
        )
    return texts


def _as_embed(job: EncodeJob) -> EmbedJob:
    return EmbedJob(inputs=job.inputs, truncation=job.truncation, prompt_name=job.prompt_name)


ENCODE = EncodeTask()
