"""The /v1/jobs routes over raw HTTP against a real ``ember serve`` with its own data folder:
float32 and quantized jobs (``encoding_format``, ``ranges``) and the errors of bad bodies."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pyarrow.dataset as ds
import pytest

from ember.v1 import embed_pb2, jobs_pb2, jobs_pb2_grpc
from tests.gateway.support import Served, minilm_path, served
from tests.gateway.test_routes import grpc_vectors
from tests.service.quantized_reference import TEXTS as QUANTIZED_TEXTS
from tests.service.quantized_reference import assert_quantized_like, calibrated_ranges

TEXTS = ["first row", "second row, a little longer", "third row 🚀"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("jobs-data")
    with served(minilm_path(), "--data-dir", str(data)) as running:
        yield running


def wait_ended(server: Served, job_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 120
    while True:
        job = server.http.get(f"/v1/jobs/{job_id}").json()
        if job["state"] not in ("queued", "running"):
            return dict(job)
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def test_submit_get_list_and_delete(server: Served) -> None:
    answer = server.http.post("/v1/jobs", json={"inputs": TEXTS, "priority": 2})
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["object"] == "job"
    assert job["state"] == "queued"
    assert job["task"] == "embed"
    assert job["progress"] == {"rows_done": 0, "rows_total": 3}
    ended = wait_ended(server, job["id"])
    assert ended["state"] == "succeeded", ended
    assert ended["progress"] == {"rows_done": 3, "rows_total": 3}
    table = ds.dataset(Path(str(ended["result_location"])), format="parquet").to_table()
    vectors = np.asarray(table.column("embedding").combine_chunks().flatten()).reshape(-1, 384)
    np.testing.assert_allclose(vectors, grpc_vectors(server, TEXTS), atol=1e-5)
    listed = server.http.get("/v1/jobs").json()
    assert listed["object"] == "list"
    assert job["id"] in [j["id"] for j in listed["data"]]
    # Cancelling an ended job changes nothing.
    deleted = server.http.delete(f"/v1/jobs/{job['id']}")
    assert deleted.status_code == 200
    assert deleted.json()["state"] == "succeeded"


def test_bad_requests_answer_4xx_naming_the_field(server: Served) -> None:
    too_high = server.http.post("/v1/jobs", json={"inputs": ["x"], "priority": 5})
    assert too_high.status_code == 422
    assert too_high.json()["error"]["param"] == "priority"
    both = server.http.post("/v1/jobs", json={"inputs": ["x"], "input_path": "/tmp/x.jsonl"})
    assert both.status_code == 422  # INVALID_ARGUMENT, as every route answers it
    assert "either inline" in both.json()["error"]["message"]
    path = server.http.post("/v1/jobs", json={"input_path": "/etc/rows.parquet"})
    assert path.status_code == 422
    assert "--job-input-dir" in path.json()["error"]["message"]
    unknown = server.http.get("/v1/jobs/nope")
    assert unknown.status_code == 404
    assert "no job 'nope'" in unknown.json()["error"]["message"]


@pytest.mark.parametrize("encoding_format", ["int8", "ubinary"])
def test_a_quantized_job_writes_what_quantize_embeddings_computes(
    server: Served, encoding_format: str
) -> None:
    from sentence_transformers.util.quantization import quantize_embeddings

    floats = grpc_vectors(server, QUANTIZED_TEXTS)
    ranges = calibrated_ranges(floats) if encoding_format == "int8" else None
    body: dict[str, object] = {
        "inputs": QUANTIZED_TEXTS,
        "task": "embed",
        "encoding_format": encoding_format,
    }
    if ranges is not None:
        body["ranges"] = ranges.tolist()
    answer = server.http.post("/v1/jobs", json=body)
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["encoding_format"] == encoding_format
    assert job["ranges"] == (None if ranges is None else ranges.tolist())
    ended = wait_ended(server, job["id"])
    assert ended["state"] == "succeeded", ended
    assert ended["encoding_format"] == encoding_format
    table = ds.dataset(Path(str(ended["result_location"])), format="parquet").to_table()
    width = 384 if ranges is not None else 384 // 8
    got = np.asarray(table.column("embedding").combine_chunks().flatten()).reshape(-1, width)
    expected = quantize_embeddings(floats, encoding_format, ranges=ranges)
    assert_quantized_like(got, expected, scalar=ranges is not None)


def test_bad_output_options_answer_422_naming_the_field_and_store_nothing(
    server: Served,
) -> None:
    before = [j["id"] for j in server.http.get("/v1/jobs").json()["data"]]
    wide = [[-1.0] * 384, [1.0] * 384]
    # param: the body field pydantic names; the server's own checks name it in the message.
    cases = [
        ({"encoding_format": "int8"}, None, "precision int8 needs ranges"),
        (
            {"encoding_format": "uint8", "ranges": [[-1.0] * 128, [1.0] * 128]},
            None,
            "ranges must hold 384 minimums and 384 maximums",
        ),
        ({"encoding_format": "int8", "ranges": [*wide, [0.0] * 384]}, "ranges", "at most 2"),
        (
            {"encoding_format": "int8", "ranges": [[-1.0] * 384, [1.0] * 383]},
            None,
            "they must pair up",
        ),
        (
            {"encoding_format": "binary", "ranges": wide},
            None,
            "ranges applies to precision int8 and uint8 only, not binary",
        ),
        ({"encoding_format": "base64"}, "encoding_format", "'float', 'int8', 'uint8'"),
        ({"encoding_format": "int4"}, "encoding_format", "'float', 'int8', 'uint8'"),
    ]
    for options, param, message in cases:
        answer = server.http.post("/v1/jobs", json={"inputs": ["x", "y"], **options})
        assert answer.status_code == 422, (options, answer.text)
        error = answer.json()["error"]
        if param is not None:
            assert error["param"] == param, (options, error)
        assert message in error["message"], (options, error)
    assert [j["id"] for j in server.http.get("/v1/jobs").json()["data"]] == before


def test_a_quantized_precision_on_another_task_is_refused(classifier: Served) -> None:
    """A classifier's job cannot ask for quantized output: 422 over REST, INVALID_ARGUMENT
    over gRPC, and no job stored."""
    answer = classifier.http.post(
        "/v1/jobs", json={"inputs": ["x"], "task": "classify", "encoding_format": "binary"}
    )
    assert answer.status_code == 422, answer.text
    message = "precision binary applies to task embed only, not classify"
    assert message in answer.json()["error"]["message"]
    stub = jobs_pb2_grpc.JobServiceStub(classifier.grpc.channel)
    request = jobs_pb2.SubmitJobRequest(
        inputs=[jobs_pb2.JobInput(text="x")],
        task=jobs_pb2.JOB_TASK_CLASSIFY,
        precision=embed_pb2.EMBEDDING_PRECISION_INT8,
        ranges=embed_pb2.QuantizationRanges(min=[-1.0] * 4, max=[1.0] * 4),
    )
    with pytest.raises(grpc.RpcError) as caught:
        stub.SubmitJob(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "precision int8 applies to task embed only, not classify" in str(caught.value.details())
    assert not classifier.http.get("/v1/jobs").json()["data"]
