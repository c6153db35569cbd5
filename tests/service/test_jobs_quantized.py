"""Quantized job output (``SubmitJobRequest.precision`` / ``ranges``) on a real in-process
server with the MiniLM engine: the ``embedding`` column equals sentence-transformers'
``quantize_embeddings`` of its own float32 embeddings of the same rows (int8 with the same
ranges, ubinary), in ``ember batch --precision``'s Parquet schema; bad options are
INVALID_ARGUMENT and store nothing; and a job resumes only over parts its own run wrote
(``bulk.store.run_manifest``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import grpc
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from ember.engines.quantize import Precision
from ember.service.async_jobs.records import JobState
from ember.service.async_jobs.settings import JobSettings
from ember.service.async_jobs.store import SqliteJobStore
from ember.service.bulk.ranges import ranges_digest
from ember.service.bulk.store import MANIFEST, SUCCESS, part_name
from ember.service.server import EmberServer
from ember.service.settings import ServerSettings
from ember.v1 import embed_pb2, jobs_pb2, jobs_pb2_grpc
from tests.service.conftest import SpyEngine
from tests.service.quantized_reference import (
    DIM,
    TEXTS,
    assert_quantized_like,
    calibrated_ranges,
    reference_embeddings,
)

Stub = jobs_pb2_grpc.JobServiceStub
Serve = Callable[[Path], AbstractAsyncContextManager[tuple[Stub, EmberServer]]]
ROWS_PER_PART = 4  # 10 rows: parts of 4, 4 and 2


@pytest.fixture(scope="module")
def reference(minilm_path: Path) -> np.ndarray:
    return reference_embeddings(minilm_path)


@pytest.fixture(scope="module")
def ranges(reference: np.ndarray) -> np.ndarray:
    return calibrated_ranges(reference)


@pytest.fixture
def serve(spy: SpyEngine, minilm_path: Path) -> Serve:
    """``async with serve(data_dir) as (stub, server)``: a server keeping jobs in ``data_dir``."""

    @asynccontextmanager
    async def _serve(data_dir: Path) -> AsyncIterator[tuple[Stub, EmberServer]]:
        server = EmberServer(
            ServerSettings(model=(str(minilm_path),), grpc_host="127.0.0.1", grpc_port=0),
            loader=lambda config: spy,
            jobs=JobSettings(data_dir=data_dir, rows_per_part=ROWS_PER_PART),
        )
        port = await server.start()
        await server.load()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        try:
            yield jobs_pb2_grpc.JobServiceStub(channel), server
        finally:
            await channel.close()
            await server.stop(grace=1.0)

    return _serve


def ranges_message(ranges: np.ndarray) -> embed_pb2.QuantizationRanges:
    return embed_pb2.QuantizationRanges(min=ranges[0].tolist(), max=ranges[1].tolist())


def submission(precision: int, ranges: np.ndarray | None = None) -> jobs_pb2.SubmitJobRequest:
    request = jobs_pb2.SubmitJobRequest(
        inputs=[jobs_pb2.JobInput(text=t) for t in TEXTS],
        task=jobs_pb2.JOB_TASK_EMBED,
        precision=precision,  # type: ignore[arg-type]
    )
    if ranges is not None:
        request.ranges.CopyFrom(ranges_message(ranges))
    return request


async def ended(stub: Stub, job_id: str) -> jobs_pb2.Job:
    async for _change in stub.WatchJob(jobs_pb2.WatchJobRequest(id=job_id)):
        pass
    return (await stub.GetJob(jobs_pb2.GetJobRequest(id=job_id))).job


@pytest.mark.parametrize(
    ("precision", "number", "arrow_type", "width"),
    [
        (Precision.INT8, embed_pb2.EMBEDDING_PRECISION_INT8, pa.int8(), DIM),
        (Precision.UBINARY, embed_pb2.EMBEDDING_PRECISION_UBINARY, pa.uint8(), DIM // 8),
    ],
)
async def test_a_quantized_job_equals_quantize_embeddings(
    serve: Serve,
    reference: np.ndarray,
    ranges: np.ndarray,
    tmp_path: Path,
    precision: Precision,
    number: int,
    arrow_type: pa.DataType,
    width: int,
) -> None:
    from sentence_transformers.util.quantization import quantize_embeddings

    used = ranges if precision.scalar else None
    async with serve(tmp_path / "data") as (stub, server):
        job = (await stub.SubmitJob(submission(number, used))).job
        assert job.precision == number
        assert job.HasField("ranges") == precision.scalar
        final = await ended(stub, job.id)
        info = server.core.info
    assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
    assert final.precision == number
    if used is not None:  # the very float32 values given, reported back
        assert np.array_equal(np.array([final.ranges.min, final.ranges.max], np.float32), used)

    table = ds.dataset(final.result_location, format="parquet").to_table()
    # ember batch --precision's schema: the row's position, then the quantized vector.
    assert table.column_names == ["row", "embedding"]
    assert table.schema.field("embedding").type == pa.list_(arrow_type, width)
    assert table.column("row").to_pylist() == list(range(len(TEXTS)))
    got = np.asarray(table.column("embedding").combine_chunks().flatten()).reshape(-1, width)
    expected = quantize_embeddings(reference, precision.value, ranges=used)
    assert_quantized_like(got, expected, precision.scalar)

    # The manifest is ember batch's (bulk.store.run_manifest): backend and dtype included.
    manifest = json.loads((Path(final.result_location) / MANIFEST).read_text())
    assert manifest["precision"] == f"{info.backend} {info.dtype}"
    assert manifest["model"] == info.model_id
    assert manifest["rows_per_part"] == ROWS_PER_PART
    assert manifest["task"]["output_precision"] == precision.value
    assert manifest["task"]["ranges_sha256"] == (None if used is None else ranges_digest(used))


async def test_bad_output_options_are_invalid_argument_and_store_nothing(
    serve: Serve, ranges: np.ndarray, tmp_path: Path
) -> None:
    int8, uint8 = embed_pb2.EMBEDDING_PRECISION_INT8, embed_pb2.EMBEDDING_PRECISION_UINT8
    unpaired = submission(int8)
    unpaired.ranges.CopyFrom(
        embed_pb2.QuantizationRanges(min=ranges[0].tolist(), max=ranges[1, :-1].tolist())
    )
    cases = [
        (submission(int8), "precision int8 needs ranges: the per-dimension [[min, ...], [max"),
        (
            submission(uint8, ranges[:, :128]),
            "ranges must hold 384 minimums and 384 maximums (one per output dimension), got 128",
        ),
        (unpaired, "ranges has 384 minimums and 383 maximums; they must pair up"),
        (submission(int8, ranges[::-1]), "dimension 0 has max"),
        (
            submission(embed_pb2.EMBEDDING_PRECISION_UBINARY, ranges),
            "ranges applies to precision int8 and uint8 only, not ubinary",
        ),
        (
            submission(embed_pb2.EMBEDDING_PRECISION_UNSPECIFIED, ranges),
            "ranges applies to precision int8 and uint8 only, not float32",
        ),
        (submission(42), "unknown embedding precision 42"),
    ]
    async with serve(tmp_path / "data") as (stub, _):
        for request, message in cases:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.SubmitJob(request)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, message
            assert message in (caught.value.details() or ""), caught.value.details()
        assert not (await stub.ListJobs(jobs_pb2.ListJobsRequest())).jobs
    jobs_dir = tmp_path / "data" / "jobs"
    assert not jobs_dir.exists() or not any(jobs_dir.iterdir())  # no input written either


def parts(output: Path) -> list[str]:
    return sorted(p.name for p in output.glob("part-*"))


def requeue_as_crashed(data_dir: Path, job_id: str) -> None:
    """Put the (ended) job back as a server killed mid-job leaves it: RUNNING in the table,
    its last part and _SUCCESS not yet written."""
    store = SqliteJobStore(data_dir)
    try:
        job = store.get(job_id)
        assert job is not None
        store.update(job_id, state=JobState.RUNNING, error="", finished_at=0.0)
    finally:
        store.close()
    output = Path(job.output)
    (output / part_name(2)).unlink()
    (output / SUCCESS).unlink()


async def test_a_resumed_job_refuses_parts_another_run_wrote(
    serve: Serve, ranges: np.ndarray, tmp_path: Path
) -> None:
    """A job is resumed exactly as ``ember batch`` reruns: over parts of the same run it
    computes only the missing ones; over parts another run wrote (here: a server on another
    dtype) it fails naming the difference, and leaves those parts alone."""
    data = tmp_path / "data"
    request = submission(embed_pb2.EMBEDDING_PRECISION_INT8, ranges)
    async with serve(data) as (stub, _):
        job = await ended(stub, (await stub.SubmitJob(request)).job.id)
    assert job.state == jobs_pb2.JOB_STATE_SUCCEEDED, job.error
    output = Path(job.result_location)
    first = ds.dataset(output, format="parquet").to_table()

    requeue_as_crashed(data, job.id)
    async with serve(data) as (stub, _):
        resumed = await ended(stub, job.id)
    assert resumed.state == jobs_pb2.JOB_STATE_SUCCEEDED, resumed.error
    assert ds.dataset(output, format="parquet").to_table().equals(first)

    requeue_as_crashed(data, job.id)
    manifest = json.loads((output / MANIFEST).read_text())
    manifest["precision"] = "torch bfloat16"  # the parts on disk came from a bf16 server
    (output / MANIFEST).write_text(json.dumps(manifest))
    async with serve(data) as (stub, _):
        refused = await ended(stub, job.id)
    assert refused.state == jobs_pb2.JOB_STATE_FAILED
    assert "holds another run's parts (it differs in precision)" in refused.error
    assert parts(output) == [part_name(0), part_name(1)]
