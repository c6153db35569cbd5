"""Both job stores (SQLite, and Redis through a real ``redis-server``) on the calls the manager
makes from worker threads: concurrent progress increments are all counted, and only queued
jobs past their queue time are found overdue and ended."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ember.service.async_jobs.records import JobRecord, JobState
from ember.service.async_jobs.store import JobStore, SqliteJobStore
from ember.service.bulk.settings import BulkTask


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    opened: JobStore
    if request.param == "sqlite":
        opened = SqliteJobStore(tmp_path / "data")
    else:
        from ember.service.async_jobs.redis_store import RedisJobStore

        url = request.getfixturevalue("redis_url")  # tests/conftest.py: skips without Redis
        opened = RedisJobStore(url, tmp_path / "data")
    try:
        yield opened
    finally:
        opened.close()


def _job(job_id: str, created_at: float, max_time_in_queue_s: float = 0.0) -> JobRecord:
    return JobRecord(
        id=job_id,
        model="m",
        task=BulkTask.EMBED,
        input_path="in.jsonl",
        output="out",
        columns=("text",),
        rows_per_part=5,
        max_time_in_queue_s=max_time_in_queue_s,
        created_at=created_at,
    )


def test_progress_increments_from_many_threads_are_all_counted(store: JobStore) -> None:
    store.insert(_job("a", time.time()))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: store.add_rows("a", 3), range(200)))
    job = store.get("a")
    assert job is not None
    assert job.rows_done == 600


def test_only_queued_jobs_past_their_queue_time_are_overdue(store: JobStore) -> None:
    now = time.time()
    store.insert(_job("late", now - 10, max_time_in_queue_s=5))
    store.insert(_job("in-time", now - 1, max_time_in_queue_s=5))
    store.insert(_job("no-limit", now - 100))
    store.insert(_job("started", now - 20, max_time_in_queue_s=5))
    store.insert(_job("resumed", now - 30, max_time_in_queue_s=5))
    store.add_rows("resumed", 5)  # a job with rows done never expires
    claimed = store.claim(["m"], now)  # oldest first
    assert claimed is not None
    assert claimed.id == "no-limit"
    claimed = store.claim(["m"], now)
    assert claimed is not None
    assert claimed.id == "resumed"
    store.finish_unless_ended("resumed", JobState.CANCELLED, "by a caller", now)
    claimed = store.claim(["m"], now)
    assert claimed is not None
    assert claimed.id == "started"
    assert [job.id for job in store.overdue(now)] == ["late"]
    # Ending an overdue job applies only while it is queued: a running one is left alone.
    job, changed = store.finish_unless_ended(
        "started", JobState.CANCELLED, "late", now, if_queued=True
    )
    assert not changed
    assert job is not None
    assert job.state is JobState.RUNNING
    job, changed = store.finish_unless_ended(
        "late", JobState.CANCELLED, "late", now, if_queued=True
    )
    assert changed
    assert job is not None
    assert job.state is JobState.CANCELLED
    assert store.overdue(now) == []
    assert store.claim(["m"], now) is not None  # "in-time" is still queued
