"""Schemathesis against ``/openapi.json`` of real servers: no 5xx, and every answer (status
code, content type, body) conforms to the schema the gateway publishes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.gateway.support import Served

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)


def run_schemathesis(
    server: Served, max_examples: int, timeout: float, cwd: Path, *, jobs: bool = True
) -> None:
    """``jobs``: fuzz the /v1/jobs routes too (each accepted job then runs on the server)."""
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(max_examples),
        "--seed",
        "1",
        # One worker: with two, Hypothesis' example generation (global state shared between
        # the worker threads) once failed inside schemathesis with a FlakyFailure on a loaded
        # CI machine, which says nothing about the API.
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--no-color",
        # Hypothesis' data-generation health checks (too_slow, ...) fail runs on a busy
        # 2-core machine without saying anything about the API.
        "--suppress-health-check",
        "all",
    ]
    if not jobs:
        command += ["--exclude-path-regex", "^/v1/jobs"]
    # cwd: schemathesis keeps a cache folder (.schemathesis/) in its working directory.
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        errors = output.find("ERRORS")
        failures = output.find("FAILURES")
        start = min(i for i in (errors, failures, len(output) - 6000) if i >= 0)
        pytest.fail(output[start : start + 8000])
    assert " passed" in output


# The quick runs leave the /v1/jobs routes to tests/gateway/test_job_routes.py and the slow
# run: every job schemathesis gets accepted runs the model, which the 150 s budget cannot take.
def test_embedding_server_conforms(minilm: Served, tmp_path: Path) -> None:
    run_schemathesis(minilm, max_examples=8, timeout=150, cwd=tmp_path, jobs=False)


def test_reranker_server_conforms(reranker: Served, tmp_path: Path) -> None:
    # A sequence classifier serves /rerank, /v1/rerank and /predict with 200s.
    run_schemathesis(reranker, max_examples=8, timeout=150, cwd=tmp_path, jobs=False)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["minilm", "reranker", "classifier", "ner", "splade"])
def test_every_server_conforms_long(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    run_schemathesis(request.getfixturevalue(kind), max_examples=100, timeout=1800, cwd=tmp_path)
