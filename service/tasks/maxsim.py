"""Late-interaction reranking (Rerank on a ColBERT model): MaxSim between multi-vectors.

The query is encoded as a query and every text as a document, all in one trip through the
scheduler. A text's MaxSim is the sum, over the query's vectors, of the best dot product with
any of the text's vectors (all vectors normalized), as PyLate computes it; ``raw_scores``
answers that sum, otherwise it is divided by the number of query vectors (a mean best cosine,
in [-1, 1]).
"""

from __future__ import annotations

import numpy as np

from ember.engines import colbert, scores, vectors
from ember.engines.errors import EngineError, ItemError
from ember.engines.types import ColbertSettings, Encoding, FloatArray, Outputs, Task
from ember.service import cost, validate
from ember.service.jobs import RerankJob, RerankResult
from ember.service.tasks.base import ModelContext, Ran, TaskSpec


def maxsim(query: FloatArray, document: FloatArray) -> float:
    """The sum over ``query``'s rows of their best dot product with a row of ``document``."""
    if not len(document):
        return 0.0
    return float((query @ document.T).max(axis=1).sum())


class MaxSimRerankTask(TaskSpec[RerankJob, RerankResult]):
    """See the module docstring."""

    def check(self, job: RerankJob, ctx: ModelContext) -> None:
        validate.require_task(ctx.info, Task.RERANK)
        validate.check_query(job.query)
        validate.check_count(len(job.texts), ctx.limits.max_client_batch_size, "texts")
        validate.check_top_n(job.top_n)

    def cost_us(self, job: RerankJob, ctx: ModelContext) -> float:
        return cost.text_cost_us([job.query, *job.texts])

    def encode(self, job: RerankJob, ctx: ModelContext) -> list[Encoding]:
        settings = _settings(ctx)
        query = colbert.encode(ctx.tokenizer, settings, [job.query], query=True)
        try:
            documents = colbert.encode(ctx.tokenizer, settings, job.texts, query=False)
        except ItemError as exc:
            raise exc.renamed(field="text") from exc
        return query + documents

    def head(self, job: RerankJob, ctx: ModelContext, ran: Ran) -> RerankResult:
        settings = _settings(ctx)
        multi = [_multi(r.value) for r in ran.results]
        query = vectors.normalize(multi[0])
        values = np.array(
            [
                maxsim(query, vectors.normalize(m[colbert.document_keep(e.ids, settings)]))
                for m, e in zip(multi[1:], ran.encodings[1:], strict=True)
            ],
            dtype=np.float32,
        )
        if not job.raw_scores:
            values /= np.float32(len(query))
        ranks = scores.rank(values, raw_scores=True, top_n=job.top_n)
        texts = [job.texts[r.index] for r in ranks] if job.return_text else None
        return RerankResult(ranks, texts, usage=ran.usage, timing=ran.timing)


def _settings(ctx: ModelContext) -> ColbertSettings:
    if ctx.info.colbert is None:  # pragma: no cover - RERANK routes only ColBERT models here
        raise EngineError("MaxSim reranking needs a ColBERT model")
    return ctx.info.colbert


def _multi(value: object) -> FloatArray:
    if isinstance(value, Outputs) and value.multi is not None:
        return value.multi
    raise EngineError("the engine returned no multi-vector for a ColBERT input")


MAXSIM_RERANK = MaxSimRerankTask()
