"""End to end: a job on ``ember serve`` survives ``kill -9`` of the server mid-job; the
restarted server resumes it and the output has every input row exactly once, correct."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import numpy as np
import pyarrow.dataset as ds

from ember.v1 import jobs_pb2, jobs_pb2_grpc
from tests.e2e.test_cli_batch import corpus, write_jsonl
from tests.server_process import run_server

ROWS, PART = 500, 25


def get(target: str, job_id: str) -> jobs_pb2.Job:
    with grpc.insecure_channel(target) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        return stub.GetJob(jobs_pb2.GetJobRequest(id=job_id), timeout=30).job


def test_kill_9_mid_job_then_restart_resumes_it_exactly_once(
    tmp_path: Path, minilm_path: Path
) -> None:
    rows = corpus(ROWS, seed=3, longest=16)
    source = write_jsonl(tmp_path / "corpus.jsonl", rows)
    args = (
        "--http",
        "false",
        "--data-dir",
        str(tmp_path / "data"),
        "--job-input-dir",
        str(tmp_path),
    )
    with run_server(None, *args, "--job-rows-per-part", str(PART)) as first:
        with grpc.insecure_channel(first.grpc_target) as channel:
            stub = jobs_pb2_grpc.JobServiceStub(channel)
            job = stub.SubmitJob(jobs_pb2.SubmitJobRequest(input_path=source.name), timeout=60).job
        deadline = time.monotonic() + 240
        while (now := get(first.grpc_target, job.id)).rows_done < 3 * PART:
            assert now.state in (jobs_pb2.JOB_STATE_QUEUED, jobs_pb2.JOB_STATE_RUNNING), now
            assert time.monotonic() < deadline, "the job made no progress in time"
            time.sleep(0.05)
        first.process.kill()  # SIGKILL: no shutdown, no chance to tidy up
        first.process.wait(timeout=30)
    parts_before = len(list(Path(now.result_location).glob("part-*.parquet")))
    assert 3 <= parts_before < ROWS // PART, "the kill must land mid-job"

    # A different --job-rows-per-part now: the job keeps the part size it was stored with.
    with (
        run_server(None, *args, "--job-rows-per-part", "7") as second,
        grpc.insecure_channel(second.grpc_target) as channel,
    ):
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        for change in stub.WatchJob(jobs_pb2.WatchJobRequest(id=job.id), timeout=300):
            final = change.job
    assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
    assert final.rows_done == ROWS
    table = ds.dataset(final.result_location, format="parquet").to_table()
    assert table.column("row").to_pylist() == list(range(ROWS))  # every row once, in order
    assert len(list(Path(final.result_location).glob("part-*.parquet"))) == ROWS // PART

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_path), device="cpu")
    sample = list(range(0, ROWS, 11))
    want = model.encode([rows[i]["text"] for i in sample], normalize_embeddings=True)
    got = np.asarray(table.column("embedding").combine_chunks().flatten()).reshape(-1, 384)
    assert (got[sample] * want).sum(axis=1).min() >= 0.9999
