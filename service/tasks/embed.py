"""Dense embeddings (Embed) and sentence similarity (Similarity), which embeds then compares."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ember.engines import quantize, vectors
from ember.engines.errors import InvalidInputError
from ember.engines.types import Encoding, Task
from ember.service import cost, validate
from ember.service.jobs import EmbedItem, EmbedJob, EmbedResult, SimilarityJob, SimilarityResult
from ember.service.tasks.base import ModelContext, Ran, TaskSpec, encode_parts


def check_inputs(job: EmbedJob, ctx: ModelContext, task: Task, rpc: str | None = None) -> None:
    """The checks every embedding task makes (dense, sparse, token states); ``rpc`` names the
    call in a refusal when it is not ``task``'s own."""
    validate.require_task(ctx.info, task, rpc)
    validate.check_count(len(job.inputs), ctx.limits.max_client_batch_size)


def inputs_cost_us(job: EmbedJob, ctx: ModelContext) -> float:
    """Tokenizing texts and token-id lists, the prompt counted once per input."""
    texts = [x for x in job.inputs if isinstance(x, str)]
    rows = [x for x in job.inputs if isinstance(x, list)]
    prompt = validate.resolve_prompt(job.prompt_name, ctx.info)
    return (
        (cost.text_cost_us(texts) if texts else 0.0)
        + (cost.ids_cost_us(rows) if rows else 0.0)
        + cost.US_PER_CHAR * len(prompt) * len(job.inputs)
    )


def encode_inputs(job: EmbedJob, ctx: ModelContext) -> list[Encoding]:
    """Texts through the tokenizer (with the prompt), token ids used as given."""
    truncate, side = ctx.truncation(job.truncation)
    prompt = validate.resolve_prompt(job.prompt_name, ctx.info)
    tok = ctx.tokenizer
    text_pos = [i for i, x in enumerate(job.inputs) if isinstance(x, str)]
    id_pos = [i for i, x in enumerate(job.inputs) if not isinstance(x, str)]
    texts = _strs([job.inputs[i] for i in text_pos])
    ids = _id_lists([job.inputs[i] for i in id_pos])
    return encode_parts(
        len(job.inputs),
        [
            (text_pos, lambda: tok.encode(texts, truncate=truncate, side=side, prompt=prompt)),
            (id_pos, lambda: tok.encode_ids(ids, truncate=truncate, side=side)),
        ],
    )


class EmbedTask(TaskSpec[EmbedJob, EmbedResult]):
    """Embed: one dense vector per input, normalized and truncated as the job asks."""

    def check(self, job: EmbedJob, ctx: ModelContext) -> None:
        check_inputs(job, ctx, Task.EMBED)
        validate.check_dimensions(job.dimensions, ctx.info)
        validate.resolve_prompt(job.prompt_name, ctx.info)
        if job.ranges is not None:
            if not job.precision.scalar:
                raise InvalidInputError(
                    f"ranges apply to the int8 and uint8 precisions, not {job.precision.value}",
                    field="ranges",
                    reason="bad_ranges",
                )
            quantize.check_ranges(job.ranges, job.dimensions or ctx.info.embedding_dim)
        elif job.precision.scalar:
            quantize.check_batch(len(job.inputs))

    def cost_us(self, job: EmbedJob, ctx: ModelContext) -> float:
        return inputs_cost_us(job, ctx)

    def encode(self, job: EmbedJob, ctx: ModelContext) -> list[Encoding]:
        return encode_inputs(job, ctx)

    def head(self, job: EmbedJob, ctx: ModelContext, ran: Ran) -> EmbedResult:
        rows = ran.rows(ctx.info.embedding_dim)
        out = vectors.postprocess(rows, normalize_rows=job.normalize, dimensions=job.dimensions)
        quantized = None
        if job.precision is not quantize.Precision.FLOAT32:
            quantized = quantize.quantize(out, job.precision, job.ranges)
        return EmbedResult(vectors=out, usage=ran.usage, timing=ran.timing, quantized=quantized)


class SimilarityTask(TaskSpec[SimilarityJob, SimilarityResult]):
    """Similarity: the cosine similarity of each sentence to the source sentence.

    One embedding batch: the sentences first and the source last, so that an error about
    "input i" names sentence i (and input ``len(sentences)`` is the source sentence).
    """

    def check(self, job: SimilarityJob, ctx: ModelContext) -> None:
        if not job.source.strip():
            raise InvalidInputError("source_sentence is empty", field="source_sentence")
        limit = max(1, ctx.limits.max_client_batch_size - 1)
        validate.check_count(len(job.sentences), limit, "sentences")
        EMBED.check(_as_embed(job), ctx)

    def cost_us(self, job: SimilarityJob, ctx: ModelContext) -> float:
        return inputs_cost_us(_as_embed(job), ctx)

    def encode(self, job: SimilarityJob, ctx: ModelContext) -> list[Encoding]:
        return encode_inputs(_as_embed(job), ctx)

    def head(self, job: SimilarityJob, ctx: ModelContext, ran: Ran) -> SimilarityResult:
        rows = vectors.normalize(ran.rows(ctx.info.embedding_dim))
        scores = np.clip(rows[:-1] @ rows[-1], -1.0, 1.0).astype(np.float32)
        return SimilarityResult(scores, usage=ran.usage, timing=ran.timing)


def _as_embed(job: SimilarityJob) -> EmbedJob:
    return EmbedJob(
        inputs=[*job.sentences, job.source],
        truncation=job.truncation,
        prompt_name=job.prompt_name,
    )


def _strs(items: Sequence[EmbedItem]) -> list[str]:
    return [x for x in items if isinstance(x, str)]


def _id_lists(items: Sequence[EmbedItem]) -> list[list[int]]:
    return [x for x in items if isinstance(x, list)]


EMBED = EmbedTask()
SIMILARITY = SimilarityTask()
