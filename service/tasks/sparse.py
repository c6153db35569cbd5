"""Sparse embeddings: EmbedSparse, on SPLADE models and on BGE-M3's sparse head (lexical
weights). Inputs and checks are those of dense embedding."""

from __future__ import annotations

import dataclasses

from ember.engines.errors import EngineError
from ember.engines.types import (
    EmbeddingOutput,
    Encoding,
    FloatArray,
    IntArray,
    Output,
    Outputs,
    Task,
)
from ember.service import validate
from ember.service.jobs import EmbedJob, SparseResult
from ember.service.tasks.base import ModelContext, Ran, TaskSpec
from ember.service.tasks.embed import check_inputs, encode_inputs, inputs_cost_us
from ember.service.tasks.encode import output_flags


class SparseTask(TaskSpec[EmbedJob, SparseResult]):
    """One sparse vector (increasing indices, their values) per input."""

    def check(self, job: EmbedJob, ctx: ModelContext) -> None:
        check_inputs(job, ctx, Task.EMBED_SPARSE)
        validate.resolve_prompt(job.prompt_name, ctx.info)

    def cost_us(self, job: EmbedJob, ctx: ModelContext) -> float:
        return inputs_cost_us(job, ctx)

    def encode(self, job: EmbedJob, ctx: ModelContext) -> list[Encoding]:
        encodings = encode_inputs(job, ctx)
        flags = output_flags(ctx.info, frozenset({EmbeddingOutput.SPARSE}))
        if flags is Output.DEFAULT:
            return encodings
        return [dataclasses.replace(e, output=flags) for e in encodings]

    def head(self, job: EmbedJob, ctx: ModelContext, ran: Ran) -> SparseResult:
        indices: list[IntArray] = []
        values: list[FloatArray] = []
        for r in ran.results:
            value = r.value.sparse if isinstance(r.value, Outputs) else r.value
            if not isinstance(value, tuple):
                raise EngineError("the engine returned a dense row for a sparse request")
            indices.append(value[0])
            values.append(value[1])
        return SparseResult(indices, values, usage=ran.usage, timing=ran.timing)


SPARSE = SparseTask()
