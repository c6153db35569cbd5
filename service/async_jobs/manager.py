"""Submit, run, cancel and watch jobs; one job runs at a time, next by priority then age.

A job is an ``ember batch`` run inside the server: its input (the caller's server-side path,
or the inline rows written to ``jobs/<id>/input.jsonl`` before the job is stored) goes through
:func:`ember.service.bulk.runner.run` into ``jobs/<id>/output``, Parquet parts written
atomically. So a server killed mid-job (even ``kill -9``) finds the job RUNNING at its next
start, queues it again, and the rerun computes only the parts that are not on disk: every
row is in the output exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ember.engines.errors import EmberError, ErrorCode, InvalidInputError
from ember.service.async_jobs import webhooks
from ember.service.async_jobs.records import JobRecord, JobState, WebhookAttempt
from ember.service.async_jobs.store import JobStore
from ember.service.async_jobs.webhooks import WebhookPolicy
from ember.service.bulk import runner, source
from ember.service.bulk.settings import BulkTask, TaskOptions, resolve
from ember.service.bulk.store import PartStore
from ember.service.models import ModelSet

log = logging.getLogger(__name__)

#: How often an idle worker looks at the table even without a submission in this process.
_POLL_S = 1.0


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

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Queue again the jobs a dead process left running, then start the worker."""
        requeued = self._store.requeue_running()
        if requeued:
            log.info("resuming %d job(s) left running by the previous process", requeued)
        self._worker = asyncio.ensure_future(self._work())
        for job in self._store.ended_with_webhook():  # deliveries a dead process owed
            if not webhooks.delivered(job) and len(job.webhook_attempts) < self._webhooks.attempts:
                self._deliver(job)

    async def stop(self) -> None:
        """Stop the worker; a running job stays RUNNING in the table (resumed at next start),
        and webhook deliveries still owed are tried again at the next start."""
        for delivery in list(self._deliveries):
            delivery.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

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
        options = resolve(_options(spec.task, columns), core.info)
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
        )
        await loop.run_in_executor(None, self._store.insert, job)
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

    def get(self, job_id: str) -> JobRecord:
        """The job; JobNotFoundError when there is none."""
        job = self._store.get(job_id)
        if job is None:
            raise JobNotFoundError(f"no job {job_id!r}", field="id")
        return job

    def newest(self, limit: int) -> list[JobRecord]:
        """The newest jobs, newest first."""
        return self._store.newest(limit if limit > 0 else 100)

    async def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued or running job (an ended job is returned as it is)."""
        before = self.get(job_id)
        job = self._end(before, JobState.CANCELLED, "cancelled by a caller")
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
            job = self.get(job_id)
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
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            await loop.run_in_executor(None, self._store.requeue_expired)
            job = await loop.run_in_executor(None, self._store.claim, self._models.ids, time.time())
            if job is None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), _POLL_S)
                continue
            self._notify()
            waited = job.started_at - job.created_at
            if job.max_time_in_queue_s and waited > job.max_time_in_queue_s and not job.rows_done:
                self._end(job, JobState.CANCELLED, f"queued {waited:.1f}s, longer than "
                          f"max_time_in_queue_seconds {job.max_time_in_queue_s:g}")  # fmt: skip
                continue
            task = asyncio.ensure_future(self._run(job))
            self._running = (job.id, task)
            beats = asyncio.ensure_future(self._heartbeat(job.id))
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

    async def _heartbeat(self, job_id: str) -> None:
        """Renew the running job's lease until cancelled (a dead process stops renewing)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._store.heartbeat_interval_s)
            await loop.run_in_executor(None, self._store.heartbeat, job_id)

    async def _run(self, job: JobRecord) -> None:
        core = self._models.get(job.model)
        try:
            options = resolve(_options(job.task, job.columns), core.info)
            files = source.list_inputs(Path(job.input_path))
            manifest = {
                "input": source.describe(files),
                "model": job.model,
                "task": options.describe(),
                "id_column": None,
                "rows_per_part": job.rows_per_part,
            }
            store = PartStore(Path(job.output), manifest)
            summary = await runner.run(
                core,
                files,
                store,
                options,
                id_column=None,
                rows_per_part=job.rows_per_part,
                parts_in_flight=2,
                progress=_JobProgress(self, job.id),
                background=True,
            )
        except asyncio.CancelledError:
            raise
        except EmberError as exc:
            self._end(job, JobState.FAILED, exc.message)
            return
        except Exception as exc:
            log.exception("job %s failed", job.id)
            self._end(job, JobState.FAILED, f"internal error: {exc}")
            return
        self._store.update(job.id, rows_done=summary.rows, rows_total=summary.rows)
        self._end(job, JobState.SUCCEEDED, "")

    def _end(self, job: JobRecord, state: JobState, error: str) -> JobRecord:
        """End the job (unless it ended already) and deliver its webhook."""
        ended, changed = self._store.finish_unless_ended(job.id, state, error, time.time())
        self._notify()
        if ended is None:  # pragma: no cover - jobs are never deleted
            return job
        if changed and ended.webhook_url:
            self._deliver(ended)
        return ended

    def _deliver(self, job: JobRecord) -> None:
        def record(attempt: WebhookAttempt) -> JobRecord:
            now = self.get(job.id)
            updated = self._store.update(job.id, webhook_attempts=(*now.webhook_attempts, attempt))
            self._notify()
            return updated or now

        task = asyncio.ensure_future(webhooks.deliver(job, self._webhooks, record))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    def count_rows(self, job_id: str, rows: int, *, restart: bool = False) -> None:
        """Add ``rows`` to the job's progress (``restart``: from 0) and tell watchers."""
        job = self._store.get(job_id)
        if job is not None:
            self._store.update(job_id, rows_done=rows if restart else job.rows_done + rows)
        self._notify()


class _JobProgress:
    """A job's progress, counted in its table row (parts found done count too)."""

    def __init__(self, manager: JobManager, job_id: str) -> None:
        self._manager = manager
        self._job_id = job_id
        manager.count_rows(job_id, 0, restart=True)

    def skip(self, rows: int) -> None:
        self._manager.count_rows(self._job_id, rows)

    def add(self, rows: int, tokens: int) -> None:
        self._manager.count_rows(self._job_id, rows)

    def close(self) -> None:
        pass


def _options(task: BulkTask, columns: Sequence[str]) -> TaskOptions:
    return TaskOptions(
        task=task,
        column="text",
        pair_column="text_pair" if "text_pair" in columns else None,
        query_column="query",
    )


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
