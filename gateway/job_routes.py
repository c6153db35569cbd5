"""The async job routes: ``POST /v1/jobs``, ``GET /v1/jobs``, ``GET /v1/jobs/{id}`` and
``DELETE /v1/jobs/{id}``, each one call of ``ember.v1.JobService``.

A job's JSON: ``{"id", "object": "job", "state", "model", "task", "priority", "progress":
{"rows_done", "rows_total"}, "error", "result_location", "created_at", "started_at",
"finished_at", "webhook_attempts": [{"at", "status", "error"}], "encoding_format", "ranges"}``;
errors in the OpenAI shape (the routes are under ``/v1``). ``encoding_format`` and ``ranges``
are named as on ``/v1/embeddings`` and checked by the server (gRPC ``precision``, ``ranges``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ember.clients import requests
from ember.gateway.models import QuantizationRanges, _Request
from ember.gateway.upstream import Upstream
from ember.v1 import jobs_pb2

#: How a job's ``embedding`` column is stored: the quantized encodings of ``/v1/embeddings``
#: (``float`` is float32; ``base64`` is a response encoding, meaningless in Parquet).
JobEncodingFormat = Literal["float", "int8", "uint8", "binary", "ubinary"]
#: The REST name of each precision (``float32`` is ``float``, as on ``/v1/embeddings``).
_FORMATS = {**requests.PRECISIONS, "float": requests.PRECISIONS["float32"]}
_FORMAT_NAMES = {number: name for name, number in requests.PRECISIONS.items()} | {
    requests.PRECISIONS["float32"]: "float"
}

Call = Callable[[Request, Any, Any], Awaitable[Any]]
Respond = Callable[[object, int], Response]

_TASKS = {
    "embed": jobs_pb2.JOB_TASK_EMBED,
    "embed-sparse": jobs_pb2.JOB_TASK_EMBED_SPARSE,
    "classify": jobs_pb2.JOB_TASK_CLASSIFY,
    "rerank": jobs_pb2.JOB_TASK_RERANK,
    "ner": jobs_pb2.JOB_TASK_PREDICT_TOKENS,
}
_TASK_NAMES = {number: name for name, number in _TASKS.items()}
_STATES = {
    jobs_pb2.JOB_STATE_QUEUED: "queued",
    jobs_pb2.JOB_STATE_RUNNING: "running",
    jobs_pb2.JOB_STATE_SUCCEEDED: "succeeded",
    jobs_pb2.JOB_STATE_FAILED: "failed",
    jobs_pb2.JOB_STATE_CANCELLED: "cancelled",
}


class JobRow(_Request):
    """One inline row: a text, with a second text (classify pairs) or a query (rerank)."""

    text: str
    text_pair: str = ""
    query: str = ""


class JobSubmitRequest(_Request):
    """A background job: rows inline (``inputs``) or a file or folder on the server
    (``input_path``, read as ``ember batch`` reads it)."""

    model: str = ""
    task: Literal["embed", "embed-sparse", "classify", "rerank", "ner"] | None = Field(
        default=None, description="Unset: the task the model serves."
    )
    inputs: Annotated[list[str | JobRow], Field(min_length=1)] | None = None
    input_path: str = ""
    webhook_url: str = ""
    priority: int = Field(default=0, ge=0, le=2, description="0 (lowest) to 2 (highest).")
    max_time_in_queue_seconds: float = Field(default=0.0, ge=0.0)
    encoding_format: JobEncodingFormat = Field(
        default="float",
        description="Task embed: how the `embedding` column's numbers are stored, quantized "
        "as sentence-transformers' quantize_embeddings does (as `ember batch --precision`): "
        "'float' (float32), 'int8' / 'uint8' (one integer per dimension, scaled over ranges; "
        "ranges required), 'binary' / 'ubinary' (x > 0 as bits, packed 8 to a byte).",
    )
    ranges: QuantizationRanges | None = Field(
        default=None,
        description="int8/uint8 (required then): [[min per dimension], [max per dimension]] "
        "calibrated on your corpus; every part of the job is quantized with them.",
    )


class JobProgress(BaseModel):
    """Rows done out of the input's rows."""

    rows_done: int
    rows_total: int


class JobAttempt(BaseModel):
    """One webhook delivery."""

    at: float
    status: int
    error: str


class Job(BaseModel):
    """A job as stored."""

    id: str
    object: Literal["job"] = "job"
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    model: str
    task: str
    priority: int
    progress: JobProgress
    error: str
    result_location: str
    created_at: float
    started_at: float
    finished_at: float
    webhook_attempts: list[JobAttempt]
    encoding_format: str
    ranges: list[list[float]] | None


class JobList(BaseModel):
    """Jobs, newest first."""

    object: Literal["list"] = "list"
    data: list[Job]


def submit_request(body: JobSubmitRequest) -> jobs_pb2.SubmitJobRequest:
    """The REST body as the gRPC request."""
    rows = [
        jobs_pb2.JobInput(text=r)
        if isinstance(r, str)
        else jobs_pb2.JobInput(text=r.text, text_pair=r.text_pair, query=r.query)
        for r in body.inputs or []
    ]
    request = jobs_pb2.SubmitJobRequest(
        model=body.model,
        task=_TASKS[body.task] if body.task else jobs_pb2.JOB_TASK_UNSPECIFIED,
        inputs=rows,
        input_path=body.input_path,
        webhook_url=body.webhook_url,
        priority=body.priority,
        max_time_in_queue_seconds=body.max_time_in_queue_seconds,
        precision=_FORMATS[body.encoding_format],
    )
    if body.ranges is not None:
        request.ranges.CopyFrom(requests.quantization_ranges(body.ranges))
    return request


def job_json(job: jobs_pb2.Job) -> dict[str, object]:
    """A Job message as the REST answer."""
    return {
        "id": job.id,
        "object": "job",
        "state": _STATES.get(job.state, "queued"),
        "model": job.model,
        "task": _TASK_NAMES.get(job.task, ""),
        "priority": job.priority,
        "progress": {"rows_done": job.rows_done, "rows_total": job.rows_total},
        "error": job.error,
        "result_location": job.result_location,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "webhook_attempts": [
            {"at": a.at, "status": a.status, "error": a.error} for a in job.webhook_attempts
        ],
        "encoding_format": _FORMAT_NAMES.get(job.precision, "float"),
        "ranges": [list(job.ranges.min), list(job.ranges.max)] if job.HasField("ranges") else None,
    }


def install(
    app: FastAPI,
    call: Call,
    upstream: Upstream,
    respond: Respond,
    *,
    errors: dict[int | str, dict[str, Any]],
) -> None:
    """Add the job routes to ``app``; ``call`` runs one upstream RPC for a request,
    ``respond`` renders JSON with a status."""
    tags: list[Any] = ["Jobs"]

    @app.post("/v1/jobs", tags=tags, response_model=Job, status_code=202, responses=errors)
    async def submit_job(body: JobSubmitRequest, request: Request) -> Response:
        """Store a background job and queue it; answers 202 with the job at once."""
        answer = await call(request, upstream.submit_job, submit_request(body))
        return respond(job_json(answer.job), 202)

    @app.get("/v1/jobs", tags=tags, response_model=JobList, responses=errors)
    async def list_jobs(
        request: Request, limit: Annotated[int, Query(ge=0, le=10_000)] = 100
    ) -> Response:
        """The server's jobs, newest first."""
        answer = await call(request, upstream.list_jobs, jobs_pb2.ListJobsRequest(limit=limit))
        return respond({"object": "list", "data": [job_json(j) for j in answer.jobs]}, 200)

    @app.get("/v1/jobs/{job_id}", tags=tags, response_model=Job, responses=errors)
    async def get_job(job_id: str, request: Request) -> Response:
        """One job: state, progress, where its results are, its webhook deliveries."""
        answer = await call(request, upstream.get_job, jobs_pb2.GetJobRequest(id=job_id))
        return respond(job_json(answer.job), 200)

    @app.delete("/v1/jobs/{job_id}", tags=tags, response_model=Job, responses=errors)
    async def cancel_job(job_id: str, request: Request) -> Response:
        """Cancel a queued or running job (the parts already written stay)."""
        answer = await call(request, upstream.cancel_job, jobs_pb2.CancelJobRequest(id=job_id))
        return respond(job_json(answer.job), 200)
