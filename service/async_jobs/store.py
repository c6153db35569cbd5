"""The durable job table: SQLite in the server's data folder.

Every change is one committed transaction (WAL journal, synchronous FULL), so after a crash
the table says what was last decided. The rows a job has done are not counted here but in its
output folder (a part is on disk or not, :mod:`ember.service.bulk.store`): ``rows_done`` is
progress for callers, never what resuming trusts.

One server owns a data folder at a time (an exclusive lock on ``jobs.lock``): at start it
takes every job left RUNNING by a crash back to QUEUED.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from ember.engines.quantize import Precision
from ember.service.async_jobs.records import JobRecord, JobState, Ranges, WebhookAttempt
from ember.service.bulk.settings import BulkTask

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    task TEXT NOT NULL,
    input_path TEXT NOT NULL,
    output TEXT NOT NULL,
    columns TEXT NOT NULL,
    rows_per_part INTEGER NOT NULL,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL,
    max_time_in_queue_s REAL NOT NULL,
    webhook_url TEXT NOT NULL,
    rows_total INTEGER NOT NULL,
    rows_done INTEGER NOT NULL,
    error TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    webhook_attempts TEXT NOT NULL,
    precision TEXT NOT NULL DEFAULT 'float32',
    ranges TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (state, priority DESC, created_at);
"""

_COLUMNS = (
    "id, model, task, input_path, output, columns, rows_per_part, state, priority, "
    "max_time_in_queue_s, webhook_url, rows_total, rows_done, error, created_at, started_at, "
    "finished_at, webhook_attempts, precision, ranges"
)
#: Columns added after the first release, with their definitions: a table an older server
#: created gains them when opened (its jobs then read as float32 jobs).
_ADDED = {
    "precision": "TEXT NOT NULL DEFAULT 'float32'",
    "ranges": "TEXT NOT NULL DEFAULT ''",
}


class JobStore(Protocol):
    """The durable job table a :class:`~ember.service.async_jobs.manager.JobManager` uses:
    :class:`SqliteJobStore` (one server) or
    :class:`~ember.service.async_jobs.redis_store.RedisJobStore` (replicas sharing jobs).

    Every call blocks (a disk sync, a network round trip) and is thread-safe: the manager
    makes each one on a worker thread, never on the event loop."""

    data_dir: Path
    #: How often a running job's lease must be renewed (:meth:`heartbeat`).
    heartbeat_interval_s: float

    def close(self) -> None: ...
    def insert(self, job: JobRecord) -> None: ...
    def get(self, job_id: str) -> JobRecord | None: ...
    def newest(self, limit: int) -> list[JobRecord]: ...
    def requeue_running(self) -> int: ...
    def requeue_expired(self) -> int: ...
    def heartbeat(self, job_id: str) -> None: ...
    def claim(self, models: list[str], now: float) -> JobRecord | None: ...
    def update(self, job_id: str, **changes: object) -> JobRecord | None: ...
    def add_rows(self, job_id: str, rows: int) -> None: ...
    def overdue(self, now: float) -> list[JobRecord]: ...
    def finish_unless_ended(
        self, job_id: str, state: JobState, error: str, now: float, *, if_queued: bool = False
    ) -> tuple[JobRecord | None, bool]: ...
    def ended_with_webhook(self) -> list[JobRecord]: ...


class DataDirInUseError(RuntimeError):
    """Another server process holds the data folder."""


class SqliteJobStore:
    """The job table of one data folder; thread-safe (one connection behind a lock)."""

    def __init__(self, data_dir: Path) -> None:
        """Open (creating) ``data_dir/jobs.sqlite`` and lock the folder for this process;
        DataDirInUseError when another process holds it."""
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self._lock_file = (data_dir / "jobs.lock").open("a+")
        try:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise DataDirInUseError(
                f"the data folder {str(data_dir)!r} is in use by another ember server "
                "(jobs.lock); give each server its own --data-dir"
            ) from None
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(data_dir / "jobs.sqlite"), check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        have = {str(row[1]) for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name, definition in _ADDED.items():
            if name not in have:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {definition}")

    def close(self) -> None:
        """Close the table and release the folder."""
        with self._lock:
            self._db.close()
        self._lock_file.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def insert(self, job: JobRecord) -> None:
        """Store a new job."""
        with self._tx() as db:
            db.execute(f"INSERT INTO jobs ({_COLUMNS}) VALUES ({', '.join('?' * 20)})", _row(job))

    def get(self, job_id: str) -> JobRecord | None:
        """The job, or None."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return _record(row) if row is not None else None

    def newest(self, limit: int) -> list[JobRecord]:
        """The newest ``limit`` jobs, newest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_record(r) for r in rows]

    def ended_with_webhook(self) -> list[JobRecord]:
        """Ended jobs that have a webhook (whose delivery may still be owed)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE webhook_url != '' AND state IN (?, ?, ?)",
                (JobState.SUCCEEDED.value, JobState.FAILED.value, JobState.CANCELLED.value),
            ).fetchall()
        return [_record(r) for r in rows]

    #: One process owns the table: no lease to renew.
    heartbeat_interval_s = 3600.0

    def heartbeat(self, job_id: str) -> None:
        """Nothing: the data folder's lock says the owner is alive."""

    def requeue_expired(self) -> int:
        """Nothing to take back while this process owns the folder (see requeue_running)."""
        return 0

    def requeue_running(self) -> int:
        """Jobs left RUNNING by a process that died go back to QUEUED; returns how many."""
        with self._tx() as db:
            return db.execute(
                "UPDATE jobs SET state = ? WHERE state = ?",
                (JobState.QUEUED.value, JobState.RUNNING.value),
            ).rowcount

    def claim(self, models: list[str], now: float) -> JobRecord | None:
        """The next queued job for one of ``models`` (highest priority, then oldest), marked
        RUNNING; None when there is none."""
        if not models:
            return None
        marks = ", ".join("?" * len(models))
        with self._tx() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE state = ? AND model IN ({marks}) "
                "ORDER BY priority DESC, created_at LIMIT 1",
                (JobState.QUEUED.value, *models),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET state = ?, started_at = ? WHERE id = ?",
                (JobState.RUNNING.value, now, row[0]),
            )
        job = _record(row)
        return _replace(job, state=JobState.RUNNING, started_at=now)

    def update(self, job_id: str, **changes: object) -> JobRecord | None:
        """Apply ``changes`` (column = value; enums and attempts converted) and return the job."""
        values: list[object] = []
        for key, value in changes.items():
            if isinstance(value, JobState | Precision):
                value = value.value
            elif key == "webhook_attempts":
                value = _attempts_json(value)  # type: ignore[arg-type]
            values.append(value)
        sets = ", ".join(f"{key} = ?" for key in changes)
        with self._tx() as db:
            db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*values, job_id))
        return self.get(job_id)

    def add_rows(self, job_id: str, rows: int) -> None:
        """Add ``rows`` to the job's ``rows_done`` (one statement: no read-then-write race)."""
        with self._tx() as db:
            db.execute("UPDATE jobs SET rows_done = rows_done + ? WHERE id = ?", (rows, job_id))

    def overdue(self, now: float) -> list[JobRecord]:
        """Queued jobs, none of whose rows are done, that have waited longer than their
        ``max_time_in_queue_s`` by ``now``."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE state = ? AND max_time_in_queue_s > 0 "
                "AND rows_done = 0 AND ? - created_at > max_time_in_queue_s",
                (JobState.QUEUED.value, now),
            ).fetchall()
        return [_record(r) for r in rows]

    def finish_unless_ended(
        self, job_id: str, state: JobState, error: str, now: float, *, if_queued: bool = False
    ) -> tuple[JobRecord | None, bool]:
        """End the job in ``state`` unless it ended already (a cancellation wins), or, with
        ``if_queued``, unless it is not queued; returns the job and whether this call ended
        it."""
        states = (JobState.QUEUED,) if if_queued else (JobState.QUEUED, JobState.RUNNING)
        marks = ", ".join("?" * len(states))
        with self._tx() as db:
            changed = db.execute(
                f"UPDATE jobs SET state = ?, error = ?, finished_at = ? "
                f"WHERE id = ? AND state IN ({marks})",
                (state.value, error, now, job_id, *(s.value for s in states)),
            ).rowcount
        return self.get(job_id), changed > 0


def _row(job: JobRecord) -> tuple[object, ...]:
    return (
        job.id,
        job.model,
        job.task.value,
        job.input_path,
        job.output,
        json.dumps(list(job.columns)),
        job.rows_per_part,
        job.state.value,
        job.priority,
        job.max_time_in_queue_s,
        job.webhook_url,
        job.rows_total,
        job.rows_done,
        job.error,
        job.created_at,
        job.started_at,
        job.finished_at,
        _attempts_json(job.webhook_attempts),
        job.precision.value,
        ranges_json(job.ranges),
    )


def ranges_json(ranges: Ranges | None) -> str:
    """A record's ranges as stored: JSON ``[[min, ...], [max, ...]]``, or empty for none."""
    return "" if ranges is None else json.dumps([list(ranges[0]), list(ranges[1])])


def ranges_from_json(text: str) -> Ranges | None:
    """The ranges :func:`ranges_json` stored."""
    if not text:
        return None
    low, high = json.loads(text)
    return tuple(float(x) for x in low), tuple(float(x) for x in high)


def _attempts_json(attempts: tuple[WebhookAttempt, ...]) -> str:
    return json.dumps([[a.at, a.status, a.error] for a in attempts])


def _record(row: tuple[object, ...]) -> JobRecord:
    attempts = json.loads(str(row[17]))
    return JobRecord(
        id=str(row[0]),
        model=str(row[1]),
        task=BulkTask(row[2]),
        input_path=str(row[3]),
        output=str(row[4]),
        columns=tuple(json.loads(str(row[5]))),
        rows_per_part=int(str(row[6])),
        state=JobState(row[7]),
        priority=int(str(row[8])),
        max_time_in_queue_s=float(str(row[9])),
        webhook_url=str(row[10]),
        rows_total=int(str(row[11])),
        rows_done=int(str(row[12])),
        error=str(row[13]),
        created_at=float(str(row[14])),
        started_at=float(str(row[15])),
        finished_at=float(str(row[16])),
        webhook_attempts=tuple(WebhookAttempt(float(a[0]), int(a[1]), str(a[2])) for a in attempts),
        precision=Precision(row[18]),
        ranges=ranges_from_json(str(row[19])),
    )


def _replace(job: JobRecord, **changes: object) -> JobRecord:
    import dataclasses

    return dataclasses.replace(job, **changes)  # type: ignore[arg-type]


def data_dir_default() -> Path:
    """``$XDG_DATA_HOME/ember`` (default ``~/.local/share/ember``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ember"
