"""Sequence classification: Classify, of single texts or text pairs."""

from __future__ import annotations

from ember.engines import scores
from ember.engines.types import Encoding, Task
from ember.service import cost, validate
from ember.service.jobs import ClassifyJob, ClassifyResult
from ember.service.tasks.base import ModelContext, Ran, TaskSpec, encode_parts


class ClassifyTask(TaskSpec[ClassifyJob, ClassifyResult]):
    """Every label with its score for each text or (text, text) pair."""

    def check(self, job: ClassifyJob, ctx: ModelContext) -> None:
        validate.require_task(ctx.info, Task.CLASSIFY)
        validate.check_count(len(job.inputs), ctx.limits.max_client_batch_size)
        for i, texts in enumerate(job.inputs):
            validate.check_classify_input(i, texts)

    def cost_us(self, job: ClassifyJob, ctx: ModelContext) -> float:
        return cost.text_cost_us([t for texts in job.inputs for t in texts])

    def encode(self, job: ClassifyJob, ctx: ModelContext) -> list[Encoding]:
        truncate, side = ctx.truncation(job.truncation)
        tok = ctx.tokenizer
        single_pos = [i for i, t in enumerate(job.inputs) if len(t) == 1]
        pair_pos = [i for i, t in enumerate(job.inputs) if len(t) == 2]
        singles = [job.inputs[i][0] for i in single_pos]
        pairs = [(job.inputs[i][0], job.inputs[i][1]) for i in pair_pos]
        return encode_parts(
            len(job.inputs),
            [
                (single_pos, lambda: tok.encode(singles, truncate=truncate, side=side)),
                (pair_pos, lambda: tok.encode_pairs(pairs, truncate=truncate, side=side)),
            ],
        )

    def head(self, job: ClassifyJob, ctx: ModelContext, ran: Ran) -> ClassifyResult:
        info = ctx.info
        rows = ran.rows()
        results = scores.classify(
            rows, info.labels, multi_label=info.multi_label, raw_scores=job.raw_scores
        )
        return ClassifyResult(results, usage=ran.usage, timing=ran.timing)


CLASSIFY = ClassifyTask()
