"""A job as the service sees it: what to compute, where it is, what it left."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ember.engines.quantize import Precision
from ember.service.bulk.settings import BulkTask

#: int8/uint8 ranges as a record keeps them: ``(minimums, maximums)``, one per dimension
#: (float32 values, exact as Python floats), comparable and hashable unlike an array.
Ranges = tuple[tuple[float, ...], tuple[float, ...]]


class JobState(enum.Enum):
    """Where a job is in its life (the proto's JobState)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        """Whether the job will not change any more."""
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class WebhookAttempt:
    """One delivery of a job's outcome to its webhook."""

    at: float
    status: int
    error: str


@dataclass(frozen=True)
class JobRecord:
    """One stored job. ``input_path`` is the caller's server-side input, or the file the
    inline rows were written to at submission; ``output`` the folder of result parts."""

    id: str
    model: str
    task: BulkTask
    input_path: str
    output: str
    columns: tuple[str, ...]
    #: Rows per output part, fixed when the job is stored (resuming relies on it).
    rows_per_part: int
    state: JobState = JobState.QUEUED
    priority: int = 0
    max_time_in_queue_s: float = 0.0
    webhook_url: str = ""
    rows_total: int = 0
    rows_done: int = 0
    error: str = ""
    created_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    webhook_attempts: tuple[WebhookAttempt, ...] = field(default=())
    #: The precision of the ``embedding`` column (task embed), fixed when the job is stored.
    precision: Precision = Precision.FLOAT32
    #: The int8/uint8 ranges it is quantized with (None for the other precisions).
    ranges: Ranges | None = None
