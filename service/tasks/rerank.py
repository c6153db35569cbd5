"""Reranking: Rerank, texts scored against a query and ranked best first."""

from __future__ import annotations

from ember.engines import scores
from ember.engines.errors import InvalidInputError, ItemError
from ember.engines.types import Encoding, Task
from ember.service import cost, validate
from ember.service.jobs import RerankJob, RerankResult
from ember.service.tasks.base import ModelContext, Ran, TaskSpec
from ember.service.tasks.maxsim import MAXSIM_RERANK


class RerankTask(TaskSpec[RerankJob, RerankResult]):
    """Each text is scored as the pair (query, text); the ranking is cut to ``top_n``. On a
    ColBERT model every step is late interaction's (:data:`MAXSIM_RERANK`)."""

    def check(self, job: RerankJob, ctx: ModelContext) -> None:
        if ctx.info.colbert is not None:
            MAXSIM_RERANK.check(job, ctx)
            return
        validate.require_task(ctx.info, Task.RERANK)
        validate.check_query(job.query)
        validate.check_count(len(job.texts), ctx.limits.max_client_batch_size, "texts")
        validate.check_top_n(job.top_n)

    def cost_us(self, job: RerankJob, ctx: ModelContext) -> float:
        if ctx.info.colbert is not None:
            return MAXSIM_RERANK.cost_us(job, ctx)
        # Every pair tokenizes the query again.
        return cost.text_cost_us(job.texts) + cost.US_PER_CHAR * len(job.query) * len(job.texts)

    def encode(self, job: RerankJob, ctx: ModelContext) -> list[Encoding]:
        if ctx.info.colbert is not None:
            return MAXSIM_RERANK.encode(job, ctx)
        truncate, side = ctx.truncation(job.truncation)
        pairs = [(job.query, text) for text in job.texts]
        try:
            return ctx.tokenizer.encode_pairs(pairs, truncate=truncate, side=side)
        except ItemError as exc:
            raise _in_rerank_terms(exc) from exc

    def head(self, job: RerankJob, ctx: ModelContext, ran: Ran) -> RerankResult:
        if ctx.info.colbert is not None:
            return MAXSIM_RERANK.head(job, ctx, ran)
        rows = ran.rows()
        ranks = scores.rank(rows, raw_scores=job.raw_scores, top_n=job.top_n)
        texts = [job.texts[r.index] for r in ranks] if job.return_text else None
        return RerankResult(ranks, texts, usage=ran.usage, timing=ran.timing)


def _in_rerank_terms(exc: ItemError) -> InvalidInputError:
    """A tokenizer error about pair i, said about the request's query and text i.

    The part of a pair truncation never cuts is the first text (with the special tokens or
    the prompt template): in a rerank request, the query.
    """
    if exc.reason == "untruncatable":
        extra = (
            "the prompt template"
            if "template" in str(exc.facts["protected"])
            else "the special tokens"
        )
        return InvalidInputError(
            f"the query is too long: with {extra} it takes {exc.facts['kept']} tokens, and the "
            f"model's maximum input length is {exc.facts['limit']}, which leaves no room for the "
            f"texts; shorten the query (truncation cuts the texts, never the query)",
            reason=exc.reason,
            field="query",
        )
    if exc.reason == "too_long":
        return exc.renamed(field="text", detail=f"with the query {exc.detail}")
    if exc.reason == "empty":
        return exc.renamed(field="text", detail="is empty")
    return exc.renamed(field="text")


RERANK = RerankTask()
