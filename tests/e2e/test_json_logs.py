"""``--log-format json`` on a real server with gateway workers: every line the server and its
workers log is one JSON object, and the access lines carry their fields."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx

from ember.clients import EmberClient
from tests.server_process import run_server


def test_every_log_line_is_json_with_access_fields(minilm_path: Path) -> None:
    args = ("--log-format", "json", "--access-log", "true", "--http-access-log", "true")
    with run_server(minilm_path, *args, "--http-workers", "2") as endpoints:
        with EmberClient(endpoints.grpc_target) as client:
            client.embed(["a gRPC call"])
        with httpx.Client(base_url=endpoints.http_url, timeout=60) as http:
            assert http.post("/v1/embeddings", json={"input": []}).status_code == 422
        endpoints.process.send_signal(signal.SIGTERM)
        assert endpoints.process.wait(timeout=60) == 0
        lines = endpoints.log().splitlines()
    # stdout's readiness line is for scripts, not a log record
    records = [json.loads(line) for line in lines if not line.startswith("ember: ready")]
    assert {r["logger"] for r in records} >= {"ember.service.server", "ember.gateway"}
    grpc_access = [r for r in records if r["logger"] == "ember.access"]
    assert any(
        r["rpc"] == "/ember.v1.EmbedService/Embed" and r["code"] == "OK" for r in grpc_access
    )
    assert all(r["duration_ms"] >= 0 and r["request_id"] for r in grpc_access)
    http_access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert [(r["method"], r["path"], r["status"]) for r in http_access] == [
        ("POST", "/v1/embeddings", 422)
    ]
    assert http_access[0]["worker"] in ("w0", "w1")
    assert any(r["message"].startswith("shutting down") for r in records)
