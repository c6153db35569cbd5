"""Both job stores (SQLite, and Redis through a real ``redis-server``) on the calls the manager
makes from worker threads: concurrent progress increments are all counted, only queued jobs
past their queue time are found overdue and ended, a job's output precision and float32
ranges come back exactly, and a table or hash an older server wrote reads as float32 jobs."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from ember.engines.quantize import Precision
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


def test_precision_and_ranges_come_back_exactly(store: JobStore) -> None:
    rng = np.random.default_rng(0)
    low = rng.standard_normal(384).astype(np.float32)
    ranges = (tuple(low.tolist()), tuple((low + np.float32(0.3)).tolist()))
    job = dataclasses.replace(_job("q", time.time()), precision=Precision.UINT8, ranges=ranges)
    store.insert(job)
    store.insert(dataclasses.replace(_job("b", time.time()), precision=Precision.BINARY))
    assert store.get("q") == job
    claimed = store.claim(["m"], time.time())
    assert claimed is not None
    assert (claimed.precision, claimed.ranges) == (Precision.UINT8, ranges)
    binary = store.get("b")
    assert binary is not None
    assert (binary.precision, binary.ranges) == (Precision.BINARY, None)


def test_a_table_an_older_server_wrote_gains_the_new_columns(tmp_path: Path) -> None:
    data = tmp_path / "data"
    SqliteJobStore(data).close()
    db = sqlite3.connect(data / "jobs.sqlite")  # as the release before precision wrote it
    db.execute("ALTER TABLE jobs DROP COLUMN precision")
    db.execute("ALTER TABLE jobs DROP COLUMN ranges")
    db.execute(
        "INSERT INTO jobs VALUES ('old', 'm', 'embed', 'in', 'out', '[\"text\"]', 5, "
        "'queued', 0, 0, '', 3, 0, '', 1.0, 0, 0, '[]')"
    )
    db.commit()
    db.close()
    store = SqliteJobStore(data)
    try:
        old = store.get("old")
        assert old is not None
        assert (old.precision, old.ranges, old.rows_total) == (Precision.FLOAT32, None, 3)
        store.insert(dataclasses.replace(_job("new", 2.0), precision=Precision.INT8))
        new = store.get("new")
        assert new is not None
        assert new.precision is Precision.INT8
    finally:
        store.close()


def test_a_hash_an_older_server_wrote_reads_as_a_float32_job(
    redis_url: str, tmp_path: Path
) -> None:
    from ember.service.async_jobs.redis_store import RedisJobStore

    store = RedisJobStore(redis_url, tmp_path / "data", prefix="ember-old")
    try:
        store.insert(dataclasses.replace(_job("old", 1.0), precision=Precision.INT8))
        store._redis.hdel("ember-old:job:old", "precision", "ranges")  # the older fields only
        old = store.get("old")
        assert old is not None
        assert (old.precision, old.ranges) == (Precision.FLOAT32, None)
    finally:
        store.close()
