"""The service core: the one path every request takes, whatever its transport.

admission -> validation -> tokenization (thread pool) -> scheduler (engine batches) -> heads.
Servicers convert protobuf to the jobs of :mod:`ember.service.jobs`, call one method here and
convert the result back; nothing else sits between a request and the model.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ember.engines import ner, scores, vectors
from ember.engines.base import Engine, Tokenizer
from ember.engines.errors import EngineError, InvalidInputError
from ember.engines.selfcheck import SelfCheckResult
from ember.engines.types import (
    Encoding,
    FloatArray,
    IntArray,
    ModelInfo,
    Task,
    TokenInfo,
    TruncationSide,
)
from ember.gateway import tracing
from ember.service import validate
from ember.service.admission import Admission
from ember.service.batching import BatchLimits
from ember.service.jobs import (
    ClassifyJob,
    ClassifyResult,
    DecodeJob,
    EmbedJob,
    EmbedResult,
    RerankJob,
    RerankResult,
    SimilarityJob,
    SimilarityResult,
    SparseResult,
    Timing,
    TokenizeJob,
    TokensJob,
    TokensResult,
    Truncation,
    Usage,
)
from ember.service.scheduler import ItemResult, Scheduler
from ember.service.tokenization import TokenizerPool


@dataclass(frozen=True)
class ServiceLimits:
    """The limits in force, resolved from settings, model and device at start-up."""

    max_input_length: int
    max_batch_tokens: int
    max_batch_requests: int
    max_client_batch_size: int
    max_concurrent_requests: int
    batch_overhead_tokens: int
    auto_truncate: bool


@dataclass(frozen=True)
class _Ran:
    encodings: list[Encoding]
    results: list[ItemResult]
    timing: Timing

    @property
    def usage(self) -> Usage:
        return Usage(prompt_tokens=sum(len(e) for e in self.encodings))


#: Tokenization work small enough to run on the event loop, in estimated microseconds.
#:
#: "Never block the event loop" is about work that takes long, not about every call: handing a
#: job to the tokenizer pool costs the loop ~25-30 us of its own CPU (a future, the executor's
#: queue and lock, a thread wake-up, and the self-pipe write and read that bring the result
#: back), measured on the 2-vCPU CI machine (``benchmarks/overhead.py``). A job estimated below
#: that runs inline, where it costs less than the hop it replaces. The estimate is linear in
#: what the Rust tokenizer and ``encode_ids`` do, from the same measurements: texts ~8 us per
#: call + 2 us per input + 0.35 us per character; token ids ~2 us + 1.5 us per input + 0.1 us
#: per id. At the budget that is e.g. one text of up to ~40 characters or ~180 token ids.
INLINE_TOKENIZE_BUDGET_US = 25.0


def text_cost_us(texts: Sequence[str]) -> float:
    """Estimated tokenizer time (microseconds) for ``texts``; see INLINE_TOKENIZE_BUDGET_US."""
    return 8.0 + 2.0 * len(texts) + 0.35 * sum(len(t) for t in texts)


def ids_cost_us(rows: Sequence[Sequence[int]]) -> float:
    """Estimated ``encode_ids`` time (microseconds) for ``rows``."""
    return 2.0 + 1.5 * len(rows) + 0.1 * sum(len(r) for r in rows)


def _embed_cost_us(inputs: Sequence[object]) -> float:
    texts = [x for x in inputs if isinstance(x, str)]
    rows = [x for x in inputs if isinstance(x, list)]
    return (text_cost_us(texts) if texts else 0.0) + (ids_cost_us(rows) if rows else 0.0)


class Core:
    """Owns the engine, the tokenizer pool, the scheduler and admission for one model."""

    def __init__(
        self,
        engine: Engine,
        limits: ServiceLimits,
        tokenizer_workers: int,
        precision_check: SelfCheckResult | None = None,
    ) -> None:
        self._engine = engine
        self._precision_check = precision_check
        self._tokenizer: Tokenizer = engine.tokenizer
        self._limits = limits
        self._pool = TokenizerPool(tokenizer_workers)
        self._scheduler = Scheduler(
            engine,
            BatchLimits(
                max_batch_tokens=limits.max_batch_tokens,
                max_batch_requests=limits.max_batch_requests,
                overhead_tokens=limits.batch_overhead_tokens,
            ),
        )
        self._admission = Admission(limits.max_concurrent_requests)

    @property
    def info(self) -> ModelInfo:
        """The loaded model's description."""
        return self._engine.info

    @property
    def limits(self) -> ServiceLimits:
        """The limits in force."""
        return self._limits

    @property
    def precision_check(self) -> SelfCheckResult | None:
        """The start-up accuracy self-check's result, when one ran."""
        return self._precision_check

    def start(self) -> None:
        """Start the scheduler on the running event loop."""
        self._scheduler.start()

    async def close(self, abandon: bool = False) -> None:
        """Finish running batches (or, ``abandon``, interrupt them where the engine can), then
        release threads and the engine."""
        await self._scheduler.close(abandon)
        self._pool.close()
        self._engine.close()

    # -- tasks ---------------------------------------------------------------------------

    async def embed(self, job: EmbedJob) -> EmbedResult:
        """Dense embeddings, normalized and truncated as the job asks."""
        info = self.info
        validate.require_task(info, Task.EMBED)
        validate.check_count(len(job.inputs), self._limits.max_client_batch_size)
        validate.check_dimensions(job.dimensions, info)
        prompt = validate.resolve_prompt(job.prompt_name, info)
        with self._admission.admit():
            cost = _embed_cost_us(job.inputs) + (0.35 * len(prompt) * len(job.inputs))
            ran = await self._run(lambda: self._encode_embed_inputs(job, prompt), cost)
            rows = (
                np.stack([self._row(r) for r in ran.results])
                if ran.results
                else np.zeros((0, info.embedding_dim), dtype=np.float32)
            )
            out = vectors.postprocess(rows, normalize_rows=job.normalize, dimensions=job.dimensions)
            return EmbedResult(vectors=out, usage=ran.usage, timing=ran.timing)

    async def similarity(self, job: SimilarityJob) -> SimilarityResult:
        """The cosine similarity of each sentence to the source sentence.

        One embedding batch: the sentences first and the source last, so that an error about
        "input i" names sentence i (and input ``len(sentences)`` is the source sentence).
        """
        if not job.source.strip():
            raise InvalidInputError("source_sentence is empty")
        limit = max(1, self._limits.max_client_batch_size - 1)
        validate.check_count(len(job.sentences), limit, "sentences")
        embedded = await self.embed(
            EmbedJob(
                inputs=[*job.sentences, job.source],
                truncation=job.truncation,
                prompt_name=job.prompt_name,
            )
        )
        rows = embedded.vectors
        scores = np.clip(rows[:-1] @ rows[-1], -1.0, 1.0).astype(np.float32)
        return SimilarityResult(scores, usage=embedded.usage, timing=embedded.timing)

    async def embed_sparse(self, job: EmbedJob) -> SparseResult:
        """Sparse (SPLADE) embeddings."""
        info = self.info
        validate.require_task(info, Task.EMBED_SPARSE)
        validate.check_count(len(job.inputs), self._limits.max_client_batch_size)
        prompt = validate.resolve_prompt(job.prompt_name, info)
        with self._admission.admit():
            cost = _embed_cost_us(job.inputs) + (0.35 * len(prompt) * len(job.inputs))
            ran = await self._run(lambda: self._encode_embed_inputs(job, prompt), cost)
            indices: list[IntArray] = []
            values: list[FloatArray] = []
            for r in ran.results:
                if not isinstance(r.value, tuple):
                    raise EngineError("the engine returned a dense row for a sparse request")
                indices.append(r.value[0])
                values.append(r.value[1])
            return SparseResult(indices, values, usage=ran.usage, timing=ran.timing)

    async def classify(self, job: ClassifyJob) -> ClassifyResult:
        """Every label with its score for each text or text pair."""
        info = self.info
        validate.require_task(info, Task.CLASSIFY)
        validate.check_count(len(job.inputs), self._limits.max_client_batch_size)
        for i, texts in enumerate(job.inputs):
            validate.check_classify_input(i, texts)
        with self._admission.admit():
            cost = text_cost_us([t for texts in job.inputs for t in texts])
            ran = await self._run(lambda: self._encode_classify_inputs(job), cost)
            rows = np.stack([self._row(r) for r in ran.results])
            results = scores.classify(
                rows, info.labels, multi_label=info.multi_label, raw_scores=job.raw_scores
            )
            return ClassifyResult(results, usage=ran.usage, timing=ran.timing)

    async def rerank(self, job: RerankJob) -> RerankResult:
        """The texts ranked by relevance to the query, best first."""
        info = self.info
        validate.require_task(info, Task.RERANK)
        validate.check_query(job.query)
        validate.check_count(len(job.texts), self._limits.max_client_batch_size, "texts")
        validate.check_top_n(job.top_n)
        with self._admission.admit():
            truncate, side = self._truncation(job.truncation)
            pairs = [(job.query, text) for text in job.texts]
            ran = await self._run(
                lambda: _in_rerank_terms(
                    lambda: self._tokenizer.encode_pairs(pairs, truncate=truncate, side=side)
                )
            )
            rows = np.stack([self._row(r) for r in ran.results])
            ranks = scores.rank(rows, raw_scores=job.raw_scores, top_n=job.top_n)
            texts = [job.texts[r.index] for r in ranks] if job.return_text else None
            return RerankResult(ranks, texts, usage=ran.usage, timing=ran.timing)

    async def predict_tokens(self, job: TokensJob) -> TokensResult:
        """Token labels or merged entity spans for each text."""
        info = self.info
        validate.require_task(info, Task.PREDICT_TOKENS)
        validate.check_count(len(job.inputs), self._limits.max_client_batch_size)
        ner.check_aggregation(info.labels, job.aggregation, raw_scores=job.raw_scores)
        with self._admission.admit():
            truncate, side = self._truncation(job.truncation)
            ran = await self._run(
                lambda: self._tokenizer.encode(
                    job.inputs, truncate=truncate, side=side, offsets=True
                ),
                text_cost_us(job.inputs),
            )
            logits: list[FloatArray] = []
            for r in ran.results:
                if isinstance(r.value, tuple):
                    raise EngineError("the engine returned a sparse vector for token logits")
                logits.append(r.value)
            # Aggregation walks tokens in Python: keep it off the event loop.
            results = await self._pool.run(
                ner.predict_tokens_batch,
                ran.encodings,
                logits,
                labels=info.labels,
                strategy=job.aggregation,
                decoder=self._tokenizer,
                raw_scores=job.raw_scores,
            )
            return TokensResult(results, usage=ran.usage, timing=ran.timing)

    async def tokenize(self, job: TokenizeJob) -> list[list[TokenInfo]]:
        """The tokens of each text as the model would see them."""
        validate.check_count(len(job.inputs), self._limits.max_client_batch_size)
        prompt = validate.resolve_prompt(job.prompt_name, self.info)
        with self._admission.admit():
            return await self._pool.run(
                self._tokenizer.tokenize,
                job.inputs,
                add_special_tokens=job.add_special_tokens,
                prompt=prompt,
            )

    async def decode(self, job: DecodeJob) -> list[str]:
        """The text of each token-id sequence."""
        validate.check_count(len(job.inputs), self._limits.max_client_batch_size)
        with self._admission.admit():
            return await self._pool.run(
                self._tokenizer.decode, job.inputs, skip_special_tokens=job.skip_special_tokens
            )

    # -- shared path ---------------------------------------------------------------------

    def _truncation(self, truncation: Truncation) -> tuple[bool, TruncationSide]:
        truncate = (
            self._limits.auto_truncate if truncation.truncate is None else truncation.truncate
        )
        return truncate, truncation.side

    async def _run(
        self, encode: Callable[[], list[Encoding]], cost_us: float | None = None
    ) -> _Ran:
        """Tokenize (inline when the estimate ``cost_us`` is within the inline budget, else on
        the pool), then run every input through the scheduler and wait for all of them."""
        start = time.perf_counter_ns()
        if cost_us is not None and cost_us <= INLINE_TOKENIZE_BUDGET_US:
            encodings = encode()
        else:
            encodings = await self._pool.run(encode)
        tokenized = time.perf_counter_ns()
        # Awaiting the future directly: if this call is cancelled (the caller went away), the
        # future is cancelled with it and the scheduler drops the inputs not yet computed.
        results = await self._scheduler.submit(encodings)
        done = time.perf_counter_ns()
        if tracing.enabled():
            tracing.record_stages(
                start, tokenized, ((r.batch_id, r.batch_start_ns, r.batch_ns) for r in results)
            )
        batches = {r.batch_id: r.batch_ns for r in results}
        timing = Timing(
            queue_ns=max((r.batch_start_ns for r in results), default=tokenized) - tokenized,
            tokenization_ns=tokenized - start,
            inference_ns=sum(batches.values()),
            total_ns=done - start,
        )
        return _Ran(encodings, results, timing)

    @staticmethod
    def _row(result: ItemResult) -> FloatArray:
        if isinstance(result.value, tuple):
            raise EngineError("the engine returned a sparse vector where a row was expected")
        return result.value

    def _encode_embed_inputs(self, job: EmbedJob, prompt: str) -> list[Encoding]:
        truncate, side = self._truncation(job.truncation)
        text_pos = [i for i, x in enumerate(job.inputs) if isinstance(x, str)]
        id_pos = [i for i, x in enumerate(job.inputs) if not isinstance(x, str)]
        out: list[Encoding | None] = [None] * len(job.inputs)
        if text_pos:
            texts = _strs([job.inputs[i] for i in text_pos])
            encoded = _encode_part(
                text_pos,
                len(out),
                lambda: self._tokenizer.encode(texts, truncate=truncate, side=side, prompt=prompt),
            )
            _place(out, text_pos, encoded)
        if id_pos:
            ids = _id_lists([job.inputs[i] for i in id_pos])
            encoded = _encode_part(
                id_pos,
                len(out),
                lambda: self._tokenizer.encode_ids(ids, truncate=truncate, side=side),
            )
            _place(out, id_pos, encoded)
        return _filled(out)

    def _encode_classify_inputs(self, job: ClassifyJob) -> list[Encoding]:
        truncate, side = self._truncation(job.truncation)
        single_pos = [i for i, t in enumerate(job.inputs) if len(t) == 1]
        pair_pos = [i for i, t in enumerate(job.inputs) if len(t) == 2]
        out: list[Encoding | None] = [None] * len(job.inputs)
        if single_pos:
            singles = [job.inputs[i][0] for i in single_pos]
            encoded = _encode_part(
                single_pos,
                len(out),
                lambda: self._tokenizer.encode(singles, truncate=truncate, side=side),
            )
            _place(out, single_pos, encoded)
        if pair_pos:
            pairs = [(job.inputs[i][0], job.inputs[i][1]) for i in pair_pos]
            encoded = _encode_part(
                pair_pos,
                len(out),
                lambda: self._tokenizer.encode_pairs(pairs, truncate=truncate, side=side),
            )
            _place(out, pair_pos, encoded)
        return _filled(out)


def _strs(items: Sequence[object]) -> list[str]:
    return [x for x in items if isinstance(x, str)]


def _id_lists(items: Sequence[object]) -> list[list[int]]:
    return [x for x in items if isinstance(x, list)]


_INPUT_INDEX = re.compile(r"\binput (\d+)\b")


def _encode_part(
    positions: list[int], total: int, encode: Callable[[], list[Encoding]]
) -> list[Encoding]:
    """Encode a subset of a request's inputs; errors name inputs by their request position."""
    try:
        return encode()
    except InvalidInputError as exc:
        if len(positions) == total:
            raise
        message = _INPUT_INDEX.sub(lambda m: f"input {positions[int(m.group(1))]}", exc.message)
        raise InvalidInputError(message) from exc


_PROTECTED_TOO_LONG = re.compile(
    r"maximum input length of (\d+): the (.+) alone takes? (\d+) tokens"
)
_PAIR_LENGTH = re.compile(r"\binput (\d+) has (\d+) tokens")


def _in_rerank_terms(encode: Callable[[], list[Encoding]]) -> list[Encoding]:
    """Encode (query, text) pairs; errors speak of the request's query and texts.

    The tokenizer names pair i "input i" with a first and a second text, and the part it
    cannot cut is the first text (with the special tokens or the prompt template): in a rerank
    request those are text i and the query.
    """
    try:
        return encode()
    except InvalidInputError as exc:
        too_long = _PROTECTED_TOO_LONG.search(exc.message)
        if too_long is not None:
            limit, protected, used = too_long.groups()
            extra = "the prompt template" if "template" in protected else "the special tokens"
            message = (
                f"the query is too long: with {extra} it takes {used} tokens, and the model's "
                f"maximum input length is {limit}, which leaves no room for the texts; shorten "
                f"the query (truncation cuts the texts, never the query)"
            )
        else:
            plain = exc.message.replace(" (its second text)", "")
            plain = _PAIR_LENGTH.sub(r"text \1 with the query has \2 tokens", plain)
            message = _INPUT_INDEX.sub(lambda m: f"text {m.group(1)}", plain)
        raise InvalidInputError(message) from exc


def _place(out: list[Encoding | None], positions: list[int], encoded: list[Encoding]) -> None:
    for pos, enc in zip(positions, encoded, strict=True):
        out[pos] = enc


def _filled(out: list[Encoding | None]) -> list[Encoding]:
    result = [e for e in out if e is not None]
    if len(result) != len(out):  # pragma: no cover - every position is placed above
        raise EngineError("tokenization lost inputs")
    return result
