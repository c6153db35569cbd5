"""ember.v1.JobService: each RPC converts its request, calls the job manager, converts back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import numpy as np

from ember.service import convert
from ember.service.async_jobs.manager import InlineRow, JobManager, JobSpec
from ember.service.async_jobs.records import JobRecord, JobState
from ember.service.bulk.settings import BulkTask
from ember.v1 import jobs_pb2, jobs_pb2_grpc

Ctx = grpc.aio.ServicerContext[Any, Any]

_TASKS = {
    jobs_pb2.JOB_TASK_UNSPECIFIED: BulkTask.AUTO,
    jobs_pb2.JOB_TASK_EMBED: BulkTask.EMBED,
    jobs_pb2.JOB_TASK_EMBED_SPARSE: BulkTask.EMBED_SPARSE,
    jobs_pb2.JOB_TASK_CLASSIFY: BulkTask.CLASSIFY,
    jobs_pb2.JOB_TASK_RERANK: BulkTask.RERANK,
    jobs_pb2.JOB_TASK_PREDICT_TOKENS: BulkTask.NER,
}
_TASK_PROTO = {task: number for number, task in _TASKS.items()}
_STATES = {
    JobState.QUEUED: jobs_pb2.JOB_STATE_QUEUED,
    JobState.RUNNING: jobs_pb2.JOB_STATE_RUNNING,
    JobState.SUCCEEDED: jobs_pb2.JOB_STATE_SUCCEEDED,
    JobState.FAILED: jobs_pb2.JOB_STATE_FAILED,
    JobState.CANCELLED: jobs_pb2.JOB_STATE_CANCELLED,
}


def job_message(job: JobRecord) -> jobs_pb2.Job:
    """A stored job as the proto's Job."""
    message = jobs_pb2.Job(
        id=job.id,
        state=_STATES[job.state],
        model=job.model,
        task=_TASK_PROTO[job.task],
        priority=job.priority,
        rows_total=job.rows_total,
        rows_done=job.rows_done,
        error=job.error,
        result_location=job.output,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        webhook_attempts=[
            jobs_pb2.WebhookAttempt(at=a.at, status=a.status, error=a.error)
            for a in job.webhook_attempts
        ],
        precision=convert.precision_number(job.precision),
    )
    if job.ranges is not None:
        message.ranges.CopyFrom(convert.ranges_message(np.array(job.ranges, dtype=np.float32)))
    return message


def job_spec(request: jobs_pb2.SubmitJobRequest) -> JobSpec:
    """A SubmitJobRequest as the manager's submission (an unknown precision number, or ranges
    whose minimums and maximums differ in count, are INVALID_ARGUMENT)."""
    return JobSpec(
        model=request.model,
        task=_TASKS.get(request.task, BulkTask.AUTO),
        inputs=[InlineRow(r.text, r.text_pair, r.query) for r in request.inputs],
        input_path=request.input_path,
        webhook_url=request.webhook_url,
        priority=request.priority,
        max_time_in_queue_s=request.max_time_in_queue_seconds,
        precision=convert.precision(request.precision),
        ranges=convert.ranges_array(request.ranges) if request.HasField("ranges") else None,
    )


class JobServicer(jobs_pb2_grpc.JobServiceServicer):
    """ember.v1.JobService."""

    def __init__(
        self, manager: Callable[[], JobManager], stop: asyncio.Event | None = None
    ) -> None:
        """``manager``: the server's job manager (raises NotReadyError until it has one);
        ``stop``: set when the server shuts down (watch streams end then)."""
        self._manager = manager
        self._stop = stop

    async def SubmitJob(
        self, request: jobs_pb2.SubmitJobRequest, context: Ctx
    ) -> jobs_pb2.SubmitJobResponse:
        job = await self._manager().submit(job_spec(request))
        return jobs_pb2.SubmitJobResponse(job=job_message(job))

    async def GetJob(
        self, request: jobs_pb2.GetJobRequest, context: Ctx
    ) -> jobs_pb2.GetJobResponse:
        return jobs_pb2.GetJobResponse(job=job_message(await self._manager().get(request.id)))

    async def WatchJob(
        self, request: jobs_pb2.WatchJobRequest, context: Ctx
    ) -> AsyncIterator[jobs_pb2.WatchJobResponse]:
        async for job in self._manager().watch(request.id, self._stop):
            yield jobs_pb2.WatchJobResponse(job=job_message(job))

    async def CancelJob(
        self, request: jobs_pb2.CancelJobRequest, context: Ctx
    ) -> jobs_pb2.CancelJobResponse:
        job = await self._manager().cancel(request.id)
        return jobs_pb2.CancelJobResponse(job=job_message(job))

    async def ListJobs(
        self, request: jobs_pb2.ListJobsRequest, context: Ctx
    ) -> jobs_pb2.ListJobsResponse:
        jobs = await self._manager().newest(request.limit)
        return jobs_pb2.ListJobsResponse(jobs=[job_message(j) for j in jobs])
