"""The job table in Redis, for several replicas sharing one queue (``--jobs-store redis://...``).

Each job is a hash ``<prefix>:job:<id>``; ``<prefix>:queue:<model>`` orders the queued jobs of
a model (priority, then age), ``<prefix>:running`` holds each running job's lease expiry and
``<prefix>:jobs`` every job by creation time. Claiming, ending and taking back an expired
lease are Lua scripts, so two replicas never claim the same job and a job is never lost
between two keys. A replica renews the lease of the job it runs (:meth:`heartbeat`); a
replica that dies stops renewing it, and once it expires any replica queues the job again and
resumes it from the parts on disk. The replicas share ``--data-dir`` (a shared filesystem):
that is where the inputs and result parts are.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ember.engines.quantize import Precision
from ember.service.async_jobs.records import JobRecord, JobState, WebhookAttempt
from ember.service.async_jobs.store import ranges_from_json, ranges_json
from ember.service.bulk.settings import BulkTask

_CLAIM = """
local popped = redis.call('ZPOPMIN', KEYS[1])
if #popped == 0 then return false end
local id = popped[1]
redis.call('HSET', ARGV[3] .. ':job:' .. id, 'state', 'running', 'started_at', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], id)
return id
"""

_REQUEUE_EXPIRED = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local requeued = 0
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local key = ARGV[2] .. ':job:' .. id
  if redis.call('HGET', key, 'state') == 'running' then
    redis.call('HSET', key, 'state', 'queued')
    local model = redis.call('HGET', key, 'model')
    redis.call('ZADD', ARGV[2] .. ':queue:' .. model, redis.call('HGET', key, 'queue_score'), id)
    requeued = requeued + 1
  end
end
return requeued
"""

_FINISH = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'queued' and (state ~= 'running' or ARGV[5] == '1') then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'error', ARGV[2], 'finished_at', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[4])
redis.call('ZREM', KEYS[5], ARGV[4])
if redis.call('HGET', KEYS[1], 'webhook_url') ~= '' then redis.call('SADD', KEYS[4], ARGV[4]) end
return 1
"""

# Queued jobs past their queue deadline with no row done; ids that can never expire again
# (ended, or resumed with rows done) leave the deadline set, running ones stay (they may be
# queued again after their replica dies).
_OVERDUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local due = {}
for _, id in ipairs(ids) do
  local key = ARGV[2] .. ':job:' .. id
  local state = redis.call('HGET', key, 'state')
  if state == 'queued' and redis.call('HGET', key, 'rows_done') == '0' then
    table.insert(due, id)
  elseif state ~= 'running' then
    redis.call('ZREM', KEYS[1], id)
  end
end
return due
"""

_FIELDS = (
    "id",
    "model",
    "task",
    "input_path",
    "output",
    "columns",
    "rows_per_part",
    "state",
    "priority",
    "max_time_in_queue_s",
    "webhook_url",
    "rows_total",
    "rows_done",
    "error",
    "created_at",
    "started_at",
    "finished_at",
    "webhook_attempts",
    "precision",
    "ranges",
)


class RedisJobStore:
    """The job table of a shared Redis; same calls as :class:`SqliteJobStore`."""

    def __init__(
        self, url: str, data_dir: Path, lease_s: float = 30.0, prefix: str = "ember"
    ) -> None:
        """Connect to ``url`` (``redis://host:port/db``, ``unix:///path.sock``) and check it
        answers (ConnectionError naming the URL otherwise)."""
        import redis

        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self._lease_s = lease_s
        self.heartbeat_interval_s = lease_s / 3
        self._p = prefix
        self._url = url
        self._redis: Any = redis.Redis.from_url(url, decode_responses=True)
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            raise ConnectionError(f"cannot reach the job store {url}: {exc}") from None
        self._claim = self._redis.register_script(_CLAIM)
        self._requeue = self._redis.register_script(_REQUEUE_EXPIRED)
        self._finish = self._redis.register_script(_FINISH)
        self._overdue = self._redis.register_script(_OVERDUE)

    def close(self) -> None:
        """Close the connections."""
        self._redis.close()

    def _key(self, job_id: str) -> str:
        return f"{self._p}:job:{job_id}"

    def insert(self, job: JobRecord) -> None:
        """Store a new job and queue it."""
        fields = _fields(job)
        fields["queue_score"] = str((2 - job.priority) * 1e11 + job.created_at)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(self._key(job.id), mapping=fields)
        pipe.zadd(f"{self._p}:jobs", {job.id: job.created_at})
        pipe.zadd(f"{self._p}:queue:{job.model}", {job.id: float(fields["queue_score"])})
        if job.max_time_in_queue_s > 0:
            deadline = job.created_at + job.max_time_in_queue_s
            pipe.zadd(f"{self._p}:deadlines", {job.id: deadline})
        pipe.execute()

    def get(self, job_id: str) -> JobRecord | None:
        """The job, or None."""
        fields = self._redis.hgetall(self._key(job_id))
        return _record(fields) if fields else None

    def newest(self, limit: int) -> list[JobRecord]:
        """The newest ``limit`` jobs, newest first."""
        ids = self._redis.zrevrange(f"{self._p}:jobs", 0, limit - 1)
        return [job for job in (self.get(i) for i in ids) if job is not None]

    def requeue_running(self) -> int:
        """Jobs whose lease expired (their replica died) go back to their queue."""
        return int(self._requeue(keys=[f"{self._p}:running"], args=[time.time(), self._p]))

    def requeue_expired(self) -> int:
        """See :meth:`requeue_running` (called on every poll: another replica may have died)."""
        return self.requeue_running()

    def heartbeat(self, job_id: str) -> None:
        """Renew the lease of a job this replica runs."""
        self._redis.zadd(f"{self._p}:running", {job_id: time.time() + self._lease_s}, xx=True)

    def claim(self, models: list[str], now: float) -> JobRecord | None:
        """The next queued job for one of ``models``, marked RUNNING under a lease."""
        for model in models:
            job_id = self._claim(
                keys=[f"{self._p}:queue:{model}", f"{self._p}:running"],
                args=[now, now + self._lease_s, self._p],
            )
            if job_id:
                return self.get(str(job_id))
        return None

    def update(self, job_id: str, **changes: object) -> JobRecord | None:
        """Apply ``changes`` and return the job."""
        fields = {key: _text(key, value) for key, value in changes.items()}
        self._redis.hset(self._key(job_id), mapping=fields)
        return self.get(job_id)

    def add_rows(self, job_id: str, rows: int) -> None:
        """Add ``rows`` to the job's ``rows_done`` (HINCRBY: atomic between replicas)."""
        self._redis.hincrby(self._key(job_id), "rows_done", rows)

    def overdue(self, now: float) -> list[JobRecord]:
        """Queued jobs, none of whose rows are done, past their ``max_time_in_queue_s``."""
        ids = self._overdue(keys=[f"{self._p}:deadlines"], args=[now, self._p])
        return [job for job in (self.get(str(i)) for i in ids) if job is not None]

    def finish_unless_ended(
        self, job_id: str, state: JobState, error: str, now: float, *, if_queued: bool = False
    ) -> tuple[JobRecord | None, bool]:
        """End the job in ``state`` unless it ended already (or, ``if_queued``, unless it is
        not queued); the job and whether this call ended it."""
        job = self.get(job_id)
        if job is None:
            return None, False
        changed = self._finish(
            keys=[
                self._key(job_id),
                f"{self._p}:running",
                f"{self._p}:queue:{job.model}",
                f"{self._p}:webhooks",
                f"{self._p}:deadlines",
            ],
            args=[state.value, error, now, job_id, "1" if if_queued else "0"],
        )
        return self.get(job_id), bool(changed)

    def ended_with_webhook(self) -> list[JobRecord]:
        """Ended jobs that have a webhook."""
        ids = self._redis.smembers(f"{self._p}:webhooks")
        return [job for job in (self.get(i) for i in ids) if job is not None]


def _text(key: str, value: object) -> str:
    if isinstance(value, JobState | BulkTask | Precision):
        return str(value.value)
    if key == "ranges":
        return ranges_json(value)  # type: ignore[arg-type]
    if key == "webhook_attempts":
        return json.dumps([[a.at, a.status, a.error] for a in value])  # type: ignore[attr-defined]
    if key == "columns":
        return json.dumps(list(value))  # type: ignore[call-overload]
    return str(value)


def _fields(job: JobRecord) -> dict[str, str]:
    return {name: _text(name, getattr(job, name)) for name in _FIELDS}


def _record(fields: dict[str, str]) -> JobRecord:
    attempts = json.loads(fields["webhook_attempts"])
    return JobRecord(
        id=fields["id"],
        model=fields["model"],
        task=BulkTask(fields["task"]),
        input_path=fields["input_path"],
        output=fields["output"],
        columns=tuple(json.loads(fields["columns"])),
        rows_per_part=int(fields["rows_per_part"]),
        state=JobState(fields["state"]),
        priority=int(fields["priority"]),
        max_time_in_queue_s=float(fields["max_time_in_queue_s"]),
        webhook_url=fields["webhook_url"],
        rows_total=int(fields["rows_total"]),
        rows_done=int(fields["rows_done"]),
        error=fields["error"],
        created_at=float(fields["created_at"]),
        started_at=float(fields["started_at"]),
        finished_at=float(fields["finished_at"]),
        webhook_attempts=tuple(WebhookAttempt(float(a[0]), int(a[1]), str(a[2])) for a in attempts),
        # Jobs stored by an older server have neither field: float32 jobs.
        precision=Precision(fields.get("precision", "float32")),
        ranges=ranges_from_json(fields.get("ranges", "")),
    )
