"""Token classification (NER): PredictTokens, token labels or merged entity spans."""

from __future__ import annotations

from ember.engines import ner
from ember.engines.types import Encoding, FloatArray, Task
from ember.service import cost, validate
from ember.service.jobs import TokensJob, TokensResult
from ember.service.tasks.base import ModelContext, Ran, TaskSpec, dense


class TokensTask(TaskSpec[TokensJob, TokensResult]):
    """Per text, each token's labels, or the entity spans the aggregation merges them into."""

    #: Aggregation walks tokens in Python: keep it off the event loop.
    head_on_pool = True

    def check(self, job: TokensJob, ctx: ModelContext) -> None:
        validate.require_task(ctx.info, Task.PREDICT_TOKENS)
        validate.check_count(len(job.inputs), ctx.limits.max_client_batch_size)
        ner.check_aggregation(ctx.info.labels, job.aggregation, raw_scores=job.raw_scores)

    def cost_us(self, job: TokensJob, ctx: ModelContext) -> float:
        return cost.text_cost_us(job.inputs)

    def encode(self, job: TokensJob, ctx: ModelContext) -> list[Encoding]:
        truncate, side = ctx.truncation(job.truncation)
        return ctx.tokenizer.encode(job.inputs, truncate=truncate, side=side, offsets=True)

    def head(self, job: TokensJob, ctx: ModelContext, ran: Ran) -> TokensResult:
        logits: list[FloatArray] = [dense(r) for r in ran.results]
        results = ner.predict_tokens_batch(
            ran.encodings,
            logits,
            labels=ctx.info.labels,
            strategy=job.aggregation,
            decoder=ctx.tokenizer,
            raw_scores=job.raw_scores,
        )
        return TokensResult(results, usage=ran.usage, timing=ran.timing)


TOKENS = TokensTask()
