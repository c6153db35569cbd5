"""The service core: the one path every request takes, whatever its transport and task.

check -> admission -> tokenization (inline or thread pool) -> scheduler (engine batches) ->
head. What differs per task lives in one file per task (:mod:`ember.service.tasks`); this
module runs them all the same way. Servicers convert protobuf to the jobs of
:mod:`ember.service.jobs`, call :meth:`Core.run` with the task's spec and convert the result
back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from ember.engines.base import Engine
from ember.engines.selfcheck import SelfCheckResult
from ember.engines.types import Encoding, ModelInfo, TokenInfo
from ember.gateway import tracing
from ember.service import cost, validate
from ember.service.admission import Admission
from ember.service.batching import BatchLimits
from ember.service.jobs import DecodeJob, Timing, TokenizeJob
from ember.service.limits import ServiceLimits
from ember.service.scheduler import Scheduler
from ember.service.tasks.base import ModelContext, Ran, TaskSpec
from ember.service.threads import SharedThreads

J = TypeVar("J")
R = TypeVar("R")


class Core:
    """Owns the engine, the tokenizer pool, the scheduler and admission for one model."""

    def __init__(
        self,
        engine: Engine,
        limits: ServiceLimits,
        threads: SharedThreads,
        precision_check: SelfCheckResult | None = None,
    ) -> None:
        """``threads``: the server's engine thread and tokenizer pool, shared by its models
        (their owner closes them)."""
        self._engine = engine
        self._precision_check = precision_check
        self._context = ModelContext(engine.info, engine.tokenizer, limits)
        self._pool = threads.tokenizer
        self._scheduler = Scheduler(
            engine,
            BatchLimits(
                max_batch_tokens=limits.max_batch_tokens,
                max_batch_requests=limits.max_batch_requests,
                overhead_tokens=limits.batch_overhead_tokens,
            ),
            threads,
        )
        self._admission = Admission(limits.max_concurrent_requests)

    @property
    def info(self) -> ModelInfo:
        """The loaded model's description."""
        return self._engine.info

    @property
    def limits(self) -> ServiceLimits:
        """The limits in force."""
        return self._context.limits

    @property
    def precision_check(self) -> SelfCheckResult | None:
        """The start-up accuracy self-check's result, when one ran."""
        return self._precision_check

    def start(self) -> None:
        """Start the scheduler on the running event loop."""
        self._scheduler.start()

    async def settle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until no request of this model is in progress;
        whether none is."""
        return await self._admission.wait_idle(timeout)

    async def close(self, abandon: bool = False) -> None:
        """Finish running batches (or, ``abandon``, interrupt them where the engine can), then
        release the engine (the shared threads stay with their owner)."""
        await self._scheduler.close(abandon)
        self._engine.close()

    # -- the pipeline --------------------------------------------------------------------

    async def run(self, spec: TaskSpec[J, R], job: J) -> R:
        """Run ``job`` through the model as task ``spec`` defines it."""
        ctx = self._context
        spec.check(job, ctx)
        with self._admission.admit():
            ran = await self._forward(lambda: spec.encode(job, ctx), spec.cost_us(job, ctx))
            if spec.head_on_pool:
                return await self._pool.run(spec.head, job, ctx, ran)
            return spec.head(job, ctx, ran)

    async def _forward(self, encode: Callable[[], list[Encoding]], cost_us: float) -> Ran:
        """Tokenize (inline when the estimate ``cost_us`` is within the inline budget, else on
        the pool), then run every input through the scheduler and wait for all of them."""
        start = time.perf_counter_ns()
        encodings = encode() if cost.runs_inline(cost_us) else await self._pool.run(encode)
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
        return Ran(encodings, results, timing)

    # -- tokenizer only ------------------------------------------------------------------

    async def tokenize(self, job: TokenizeJob) -> list[list[TokenInfo]]:
        """The tokens of each text as the model would see them."""
        validate.check_count(len(job.inputs), self.limits.max_client_batch_size)
        prompt = validate.resolve_prompt(job.prompt_name, self.info)
        with self._admission.admit():
            return await self._pool.run(
                self._context.tokenizer.tokenize,
                job.inputs,
                add_special_tokens=job.add_special_tokens,
                prompt=prompt,
            )

    async def decode(self, job: DecodeJob) -> list[str]:
        """The text of each token-id sequence."""
        validate.check_count(len(job.inputs), self.limits.max_client_batch_size)
        with self._admission.admit():
            return await self._pool.run(
                self._context.tokenizer.decode,
                job.inputs,
                skip_special_tokens=job.skip_special_tokens,
            )
