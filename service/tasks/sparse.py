"""Sparse (SPLADE) embeddings: EmbedSparse. Inputs and checks are those of dense embedding."""

from __future__ import annotations

from ember.engines.errors import EngineError
from ember.engines.types import Encoding, FloatArray, IntArray, Task
from ember.service import validate
from ember.service.jobs import EmbedJob, SparseResult
from ember.service.tasks.base import ModelContext, Ran, TaskSpec
from ember.service.tasks.embed import check_inputs, encode_inputs, inputs_cost_us


class SparseTask(TaskSpec[EmbedJob, SparseResult]):
    """One sparse vector (increasing indices, their values) per input."""

    def check(self, job: EmbedJob, ctx: ModelContext) -> None:
        check_inputs(job, ctx, Task.EMBED_SPARSE)
        validate.resolve_prompt(job.prompt_name, ctx.info)

    def cost_us(self, job: EmbedJob, ctx: ModelContext) -> float:
        return inputs_cost_us(job, ctx)

    def encode(self, job: EmbedJob, ctx: ModelContext) -> list[Encoding]:
        return encode_inputs(job, ctx)

    def head(self, job: EmbedJob, ctx: ModelContext, ran: Ran) -> SparseResult:
        indices: list[IntArray] = []
        values: list[FloatArray] = []
        for r in ran.results:
            if not isinstance(r.value, tuple):
                raise EngineError("the engine returned a dense row for a sparse request")
            indices.append(r.value[0])
            values.append(r.value[1])
        return SparseResult(indices, values, usage=ran.usage, timing=ran.timing)


SPARSE = SparseTask()
