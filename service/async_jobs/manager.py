"""Submit, run, cancel and watch jobs; one job runs at a time, next by priority then age.

A job is an ``ember batch`` run inside the server: its input (the caller's server-side path,
or the inline rows written to ``jobs/<id>/input.jsonl`` before the job is stored) goes through
:func:`ember.service.bulk.runner.run` into ``jobs/<id>/output``, Parquet parts written
atomically. So a server killed mid-job (even ``kill -9``) finds the job RUNNING at its next
start, queues it again, and the rerun computes only the parts that are not on disk: every
row is in the output exactly once. The output's manifest is ``ember batch``'s
(:func:`ember.service.bulk.store.run_manifest`: model, backend and dtype, task and output
precision): a rerun on a server whose engine differs from the one that wrote the parts fails
the job naming the difference, as ``ember batch`` refuses such a rerun, never mixing two runs.

Every call to the job store (a disk sync with SQLite, a network round trip with Redis) runs on
a worker thread (:meth:`JobManager._db`), never on the event loop. A queued job that waits
longer than its ``max_time_in_queue_s`` is cancelled by a sweep every ``_POLL_S``, also while
another job runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

import numpy as np

from ember.engines.errors import EmberError, ErrorCode, InvalidInputError
from ember.engines.quantize import Precision
from ember.engines.types import FloatArray
from ember.service.async_jobs import webhooks
from ember.service.async_jobs.records import JobRecord, JobState, Ranges, WebhookAttempt
from ember.service.async_jobs.store import JobStore
from ember.service.async_jobs.webhooks import WebhookPolicy
from ember.service.bulk import runner, source
from ember.service.bulk.settings import BulkTask, OptionNames, TaskOptions, resolve
from ember.service.bulk.store import PartStore, run_manifest
from ember.service.models import ModelSet

log = logging.getLogger(__name__)

#: How errors name a job's output options (its request fields, not ``ember batch``'s flags).
_FIELDS = OptionNames("precision", "ranges", "ranges: the per-dimension [[min, ...], [max, ...]]")

#: How often an idle worker looks at the table even without a submission in this process,
#: and how often queued jobs are checked against their max_time_in_queue_s.
_POLL_S = 1.0

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class InlineRow:
    """One inline input row."""

    text: str
    text_pair: str = ""
    query: str = ""


@dataclass(frozen=True)
class JobSpec:
    """A submission, validated by :meth:`JobManager.submit`."""

    model: str
    task: BulkTask
    inputs: Sequence[InlineRow]
    input_path: str
    webhook_url: str = ""
    priority: int = 0
    max_time_in_queue_s: float = 0.0
    #: Task embed: how the ``embedding`` column is stored (``ember batch --precision``).
    precision: Precision = Precision.FLOAT32
    #: int8/uint8 (required then): the ``(2, dimensions)`` ranges every part is quantized with.
    ranges: FloatArray | None = None


class JobNotFoundError(EmberError):
    """No job has this id."""

    code = ErrorCode.NOT_FOUND


class JobManager:
    """The jobs of one server; see the module docstring."""

    def __init__(
        self,
        store: JobStore,
        models: ModelSet,
        rows_per_part: int,
        webhooks: WebhookPolicy | None = None,
        input_dir: Path | None = None,
    ) -> None:
        """``rows_per_part``: the part size of jobs submitted from now on; ``webhooks``: how
        job webhooks are signed and retried; ``input_dir``: the folder server-side inputs
        must lie in (None: inline inputs only)."""
        self._rows_per_part = rows_per_part
        self._input_dir = input_dir.resolve() if input_dir is not None else None
        self._webhooks = webhooks or WebhookPolicy()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._store = store
        self._models = models
        self._jobs_dir = store.data_dir / "jobs"
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._running: tuple[str, asyncio.Task[None]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def _db(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``call`` (a job store method) on a worker thread: the one way the manager reaches
        the store, so that a disk sync or a network round trip never blocks the event loop."""
        return await asyncio.to_thread(call, *args, **kwargs)

    async def start(self) -> None:
        """Queue again the jobs a dead process left running, then start the worker and the
        queue-time sweep."""
        requeued = await self._db(self._store.requeue_running)
        if requeued:
            log.info("resuming %d job(s) left running by the previous process", requeued)
        self._worker = asyncio.ensure_future(self._work())
        self._sweeper = asyncio.ensure_future(self._sweep())
        owed = await self._db(self._store.ended_with_webhook)
        for job in owed:  # deliveries a dead process owed
            if not webhooks.delivered(job) and len(job.webhook_attempts) < self._webhooks.attempts:
                self._deliver(job)

    async def stop(self) -> None:
        """Stop the worker; a running job stays RUNNING in the table (resumed at next start),
        and webhook deliveries still owed are tried again at the next start."""
        for delivery in list(self._deliveries):
            delivery.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)
        for task in (self._sweeper, self._worker):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._worker = self._sweeper = None

    # -- calls ---------------------------------------------------------------------------

    async def submit(self, spec: JobSpec) -> JobRecord:
        """Validate and store a job; INVALID_ARGUMENT / NOT_FOUND errors name the field."""
        if bool(spec.inputs) == bool(spec.input_path):
            raise InvalidInputError(
                "give the rows either inline (inputs) or as a server-side input_path, not both "
                "and not neither",
                field="inputs",
            )
        if not 0 <= spec.priority <= 2:
            raise InvalidInputError(
                f"priority must be 0, 1 or 2, got {spec.priority}", field="priority"
            )
        if spec.max_time_in_queue_s < 0:
            raise InvalidInputError(
                "max_time_in_queue_seconds must not be negative", field="max_time_in_queue_seconds"
            )
        if spec.webhook_url and not spec.webhook_url.startswith(("http://", "https://")):
            raise InvalidInputError(
                f"webhook_url must be an http:// or https:// URL, got {spec.webhook_url!r}",
                field="webhook_url",
            )
        core = self._models.get(spec.model)
        pairs = any(row.text_pair for row in spec.inputs)
        columns = ("text", "text_pair") if pairs else ("text",)
        options = resolve(
            _options(spec.task, columns, spec.precision, spec.ranges), core.info, _FIELDS
        )
        job_id = uuid.uuid4().hex
        folder = self._jobs_dir / job_id
        loop = asyncio.get_running_loop()
        if spec.inputs:
            input_path = folder / "input.jsonl"
            await loop.run_in_executor(None, _write_rows, input_path, spec.inputs, pairs)
        else:
            input_path = self._allowed(spec.input_path)
        files = await loop.run_in_executor(None, source.list_inputs, input_path)
        total = await loop.run_in_executor(None, source.count_rows, files)
        job = JobRecord(
            id=job_id,
            model=core.info.model_id,
            task=options.resolved or spec.task,
            input_path=str(input_path),
            output=str(folder / "output"),
            columns=columns,
            rows_per_part=self._rows_per_part,
            priority=spec.priority,
            max_time_in_queue_s=spec.max_time_in_queue_s,
            webhook_url=spec.webhook_url,
            rows_total=total or 0,
            created_at=time.time(),
            precision=options.precision,
            ranges=_record_ranges(options.ranges),
        )
        await self._db(self._store.insert, job)
        self._wake.set()
        self._notify()
        return job

    def _allowed(self, input_path: str) -> Path:
        """``input_path`` resolved, if it lies in the server's input folder."""
        if self._input_dir is None:
            raise InvalidInputError(
                "this server takes no server-side input_path (start it with --job-input-dir); "
                "send the rows inline",
                field="input_path",
            )
        path = Path(input_path)
        resolved = (self._input_dir / path).resolve()
        if not resolved.is_relative_to(self._input_dir):
            raise InvalidInputError(
                f"input_path {input_path!r} is outside the server's input folder",
                field="input_path",
            )
        return resolved

    async def get(self, job_id: str) -> JobRecord:
        """The job; JobNotFoundError when there is none."""
        job = await self._db(self._store.get, job_id)
        if job is None:
            raise JobNotFoundError(f"no job {job_id!r}", field="id")
        return job

    async def newest(self, limit: int) -> list[JobRecord]:
        """The newest jobs, newest first."""
        return await self._db(self._store.newest, limit if limit > 0 else 100)

    @property
    def running_job(self) -> str | None:
        """The id of the job this process is running now (None when idle)."""
        return None if self._running is None else self._running[0]

    async def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued or running job (an ended job is returned as it is)."""
        before = await self.get(job_id)
        job = await self._end(before, JobState.CANCELLED, "cancelled by a caller")
        if self._running is not None and self._running[0] == job_id:
            self._running[1].cancel()
        return job

    async def watch(
        self, job_id: str, stop: asyncio.Event | None = None
    ) -> AsyncIterator[JobRecord]:
        """The job now, then each time it changes, until it has ended (or ``stop`` is set)."""
        last: JobRecord | None = None
        while stop is None or not stop.is_set():
            changed = self._changed
            job = await self.get(job_id)
            if job != last:
                yield job
                last = job
            if job.state.ended:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), _POLL_S)

    # -- the worker ----------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _work(self) -> None:
        while True:
            self._wake.clear()
            await self._db(self._store.requeue_expired)
            job = await self._db(self._store.claim, self._models.ids, time.time())
            if job is None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), _POLL_S)
                continue
            self._notify()
            waited = job.started_at - job.created_at
            if job.max_time_in_queue_s and waited > job.max_time_in_queue_s and not job.rows_done:
                await self._end(job, JobState.CANCELLED, _overdue(job, waited))
                continue
            task = asyncio.ensure_future(self._run(job))
            self._running = (job.id, task)
            beats = asyncio.ensure_future(self._heartbeat(job, task))
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.done():  # the worker itself is stopping: leave the job RUNNING
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
                    raise
            finally:
                beats.cancel()
                self._running = None

    async def _heartbeat(self, job: JobRecord, run: asyncio.Future[None]) -> None:
        """Renew the running ``job``'s lease until cancelled (a dead process stops renewing),
        and stop ``run`` once the store says this process no longer owns the job: it ended (a
        caller cancelled it through another replica sharing the store, which cannot reach this
        process's task), or another replica took it over after this one stalled past its lease
        (that replica's claim gave it a new ``started_at``)."""
        while True:
            await asyncio.sleep(self._store.heartbeat_interval_s)
            await self._db(self._store.heartbeat, job.id)
            if await self._lost(job):
                run.cancel()
                return

    async def _lost(self, job: JobRecord) -> bool:
        """Whether the running ``job`` (as this process claimed it) has ended or been taken
        over by another replica since."""
        now = await self._db(self._store.get, job.id)
        return now is None or now.state.ended or now.started_at != job.started_at

    async def _sweep(self) -> None:
        """Every ``_POLL_S``, cancel the queued jobs that have waited longer than their
        ``max_time_in_queue_s`` (as the worker does when it finds one at start), so that they
        end on time while another job runs."""
        while True:
            try:
                now = time.time()
                for job in await self._db(self._store.overdue, now):
                    error = _overdue(job, now - job.created_at)
                    await self._end(job, JobState.CANCELLED, error, if_queued=True)
            except Exception:  # the store is unreachable for now: try again at the next sweep
                log.exception("the queue-time sweep failed")
            await asyncio.sleep(_POLL_S)

    async def _run(self, job: JobRecord) -> None:
        core = self._models.get(job.model)
        try:
            ranges = None if job.ranges is None else np.array(job.ranges, dtype=np.float32)
            options = resolve(
                _options(job.task, job.columns, job.precision, ranges), core.info, _FIELDS
            )
            files = source.list_inputs(Path(job.input_path))
            # ember batch's manifest: a job resumed by a server whose model, backend or dtype
            # differs from the run that wrote its parts is refused (it FAILS naming the
            # difference), never completed with parts of two runs mixed.
            manifest = run_manifest(
                source.describe(files), core.info, options, None, job.rows_per_part
            )
            store = PartStore(Path(job.output), manifest)
            await self._db(self._store.update, job.id, rows_done=0)  # counted anew below
            progress = _JobProgress(self, job.id)
            summary = await runner.run(
                core,
                files,
                store,
                options,
                id_column=None,
                rows_per_part=job.rows_per_part,
                parts_in_flight=2,
                progress=progress,
                background=True,
            )
            await progress.settled()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if await self._lost(job):
                # Another replica owns the job now (this one stalled past its lease): the
                # failure is this run's (e.g. the taker removed a part it was writing), not
                # the job's, which goes on there.
                log.warning("job %s: taken over by another replica; this run stops", job.id)
                return
            if isinstance(exc, EmberError):
                await self._end(job, JobState.FAILED, exc.message)
            else:
                log.exception("job %s failed", job.id)
                await self._end(job, JobState.FAILED, f"internal error: {exc}")
            return
        await self._db(self._store.update, job.id, rows_done=summary.rows, rows_total=summary.rows)
        await self._end(job, JobState.SUCCEEDED, "")

    async def _end(
        self, job: JobRecord, state: JobState, error: str, *, if_queued: bool = False
    ) -> JobRecord:
        """End the job (unless it ended already; ``if_queued``: unless it is not queued) and
        deliver its webhook."""
        ended, changed = await self._db(
            self._store.finish_unless_ended, job.id, state, error, time.time(), if_queued=if_queued
        )
        self._notify()
        if ended is None:  # pragma: no cover - jobs are never deleted
            return job
        if changed and ended.webhook_url:
            self._deliver(ended)
        return ended

    def _deliver(self, job: JobRecord) -> None:
        async def record(attempt: WebhookAttempt) -> JobRecord:
            now = await self.get(job.id)
            attempts = (*now.webhook_attempts, attempt)
            updated = await self._db(self._store.update, job.id, webhook_attempts=attempts)
            self._notify()
            return updated or now

        task = asyncio.ensure_future(webhooks.deliver(job, self._webhooks, record))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def add_rows(self, job_id: str, rows: int) -> None:
        """Add ``rows`` to the job's progress (one atomic increment) and tell watchers."""
        await self._db(self._store.add_rows, job_id, rows)
        self._notify()


class _JobProgress:
    """A job's progress, counted in its table row (parts found done count too).

    The runner reports from the event loop and does not wait: each report becomes a task
    that adds its rows off the loop; increments commute, so their order does not matter.
    """

    def __init__(self, manager: JobManager, job_id: str) -> None:
        self._manager = manager
        self._job_id = job_id
        self._pending: set[asyncio.Task[None]] = set()

    def skip(self, rows: int) -> None:
        self._count(rows)

    def add(self, rows: int, tokens: int) -> None:
        self._count(rows)

    def close(self) -> None:
        pass

    async def settled(self) -> None:
        """Wait until every report is stored (before the job's final count is written)."""
        await asyncio.gather(*self._pending)

    def _count(self, rows: int) -> None:
        task = asyncio.ensure_future(self._manager.add_rows(self._job_id, rows))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)


def _overdue(job: JobRecord, waited: float) -> str:
    """The error of a job cancelled for waiting longer than its max_time_in_queue_s."""
    return (
        f"queued {waited:.1f}s, longer than max_time_in_queue_seconds {job.max_time_in_queue_s:g}"
    )


def _options(
    task: BulkTask, columns: Sequence[str], precision: Precision, ranges: FloatArray | None
) -> TaskOptions:
    return TaskOptions(
        task=task,
        column="text",
        pair_column="text_pair" if "text_pair" in columns else None,
        query_column="query",
        precision=precision,
        ranges=ranges,
    )


def _record_ranges(ranges: FloatArray | None) -> Ranges | None:
    """Checked ranges as the job record keeps them."""
    if ranges is None:
        return None
    return tuple(ranges[0].tolist()), tuple(ranges[1].tolist())


def _write_rows(path: Path, rows: Sequence[InlineRow], pairs: bool) -> None:
    """The inline rows as JSONL, written atomically (the job is stored only after)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            item = {"text": row.text, "query": row.query}
            if pairs:
                item["text_pair"] = row.text_pair
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
