"""The /v1/jobs routes over raw HTTP against a real ``ember serve`` with its own data folder."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import pytest

from tests.gateway.support import Served, minilm_path, served
from tests.gateway.test_routes import grpc_vectors

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
