"""End to end: models loaded and unloaded at run time through the admin API of a real
``ember serve`` process (``--enable-admin``, behind the API key), with REST and gRPC clients.

Loading validates as start-up does (a taken name is 409, a bad path 424 naming where it
looked); health, ListModels, /info and /metrics follow each change; an unload answers the
requests the model already accepted before it frees the model.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ember.v1 import admin_pb2, admin_pb2_grpc, model_pb2, model_pb2_grpc
from tests.server_process import EMBER, run_server
from tests.tiny_models import make_tiny_model

KEY = "admin-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
GRPC_AUTH = (("authorization", f"Bearer {KEY}"),)


@pytest.fixture(scope="module")
def reranker_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("admin")
    return make_tiny_model(
        root / "tiny-bert-reranker", arch="bert", head="sequence-classification", num_labels=1
    )


def _health(target: str, service: str) -> int:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return int(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status)


async def _rerank_while_unloading(
    url: str,
) -> tuple[list[httpx.Response], httpx.Response, bool, bool]:
    """Eight rerank requests to "rr", then, once the server has admitted all of them (its
    in-flight gauge, not a fixed sleep: a fast machine answers them within a fraction of a
    second), the unload of "rr"; returns the rerank answers, the unload's answer, whether a
    rerank was still running when the unload was sent, and whether every rerank was answered
    before the unload."""
    body = {"query": "which one", "texts": [f"document number {i} " * 40 for i in range(96)]}
    done_at: list[float] = []
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=120) as http:

        async def rerank() -> httpx.Response:
            response = await http.post("/rerank", json={**body, "model": "rr"})
            done_at.append(time.monotonic())
            return response

        reranks = [asyncio.ensure_future(rerank()) for _ in range(8)]
        for _ in range(6000):  # up to ~30 s
            if await _inflight(http) >= len(reranks):
                break
            await asyncio.sleep(0.005)
        sent_at = time.monotonic()
        unload = await http.delete("/admin/models/rr")
        unloaded_at = time.monotonic()
        answers = await asyncio.gather(*reranks)
    return answers, unload, max(done_at) > sent_at, max(done_at) <= unloaded_at


async def _inflight(http: httpx.AsyncClient) -> float:
    """The server's ``ember_inflight_requests`` gauge (requests admitted, not yet answered)."""
    text = (await http.get("/metrics")).text
    values = [line.split()[-1] for line in text.splitlines() if line.startswith("ember_inflight_")]
    return sum(float(value) for value in values)


def test_models_are_loaded_and_unloaded_at_run_time(minilm_path: Path, reranker_path: Path) -> None:
    args = ("--model", f"mini={minilm_path}", "--enable-admin", "true", "--api-key", KEY)
    with (
        run_server(None, *args) as server,
        httpx.Client(base_url=server.http_url, timeout=120) as http,
    ):
        # Behind the key.
        refused = http.post("/admin/models", json={"path": str(reranker_path)})
        assert refused.status_code == 401

        # A bad path, then a good one: validated as at start-up.
        missing = http.post("/admin/models", json={"path": "/nowhere/model"}, headers=AUTH)
        assert missing.status_code == 424, missing.text
        assert "/nowhere/model" in missing.json()["error"]
        loaded = http.post(
            "/admin/models",
            json={"path": str(reranker_path), "name": "rr", "aliases": ["ranker"]},
            headers=AUTH,
            timeout=120,
        )
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["model_id"] == "rr"
        assert loaded.json()["tasks"] == ["classify", "rerank"]
        taken = http.post(
            "/admin/models", json={"path": str(minilm_path), "name": "ranker"}, headers=AUTH
        )
        assert taken.status_code == 409, taken.text

        # Served, listed, healthy, measured.
        ranked = http.post(
            "/rerank", json={"query": "q", "texts": ["a", "b"], "model": "ranker"}, headers=AUTH
        )
        assert ranked.status_code == 200, ranked.text
        listed = http.get("/v1/models", headers=AUTH).json()
        assert [m["id"] for m in listed["data"]] == ["mini", "rr"]
        info = http.get("/info", headers=AUTH).json()
        assert info["model_id"] == "mini"  # TEI's shape: the first model at the top level
        assert [(m["model_id"], m["tasks"]) for m in info["models"]] == [
            ("mini", ["embed"]),
            ("rr", ["classify", "rerank"]),
        ]
        assert [m["max_input_length"] for m in info["models"]] == [256, 512]
        assert all(m["dtype"] == "float32" and m["precision_check"] is None for m in info["models"])
        one = http.get("/info", params={"model": "ranker"}, headers=AUTH).json()
        assert one["model_id"] == "rr"
        assert "models" not in one
        assert _health(server.grpc_target, "rr") == health_pb2.HealthCheckResponse.SERVING
        assert _health(server.grpc_target, "ember.v1.RerankService") == (
            health_pb2.HealthCheckResponse.SERVING
        )
        assert 'ember_tokens_total{model="rr"}' in http.get("/metrics", headers=AUTH).text

        # Unload while requests run: each is answered, then the model is gone.
        answers, unload, overlapped, drained = asyncio.run(_rerank_while_unloading(server.http_url))
        assert overlapped, "no rerank was running when the unload was sent: test too short"
        assert unload.status_code == 200, unload.text
        assert unload.json() == {"id": "rr", "object": "model", "deleted": True}
        assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
        assert all(len(a.json()) == 96 for a in answers)
        assert drained, "the unload answered before the requests it had accepted"

        listed = http.get("/v1/models", headers=AUTH).json()
        assert [m["id"] for m in listed["data"]] == ["mini"]
        assert [m["model_id"] for m in http.get("/info", headers=AUTH).json()["models"]] == ["mini"]
        assert _health(server.grpc_target, "rr") == health_pb2.HealthCheckResponse.NOT_SERVING
        assert _health(server.grpc_target, "ember.v1.RerankService") == (
            health_pb2.HealthCheckResponse.NOT_SERVING
        )
        assert 'model="rr"' not in http.get("/metrics", headers=AUTH).text
        gone = http.post(
            "/rerank", json={"query": "q", "texts": ["a"], "model": "rr"}, headers=AUTH
        )
        assert gone.status_code == 424  # one model left: it takes any name, and cannot rerank

        # gRPC: the last model stays; an unknown one is NOT_FOUND.
        with grpc.insecure_channel(server.grpc_target) as channel:
            admin = admin_pb2_grpc.AdminServiceStub(channel)
            models = model_pb2_grpc.ModelServiceStub(channel)
            with pytest.raises(grpc.RpcError) as last:
                admin.UnloadModel(admin_pb2.UnloadModelRequest(model="mini"), metadata=GRPC_AUTH)
            assert last.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            with pytest.raises(grpc.RpcError) as unknown:
                admin.UnloadModel(admin_pb2.UnloadModelRequest(model="rr"), metadata=GRPC_AUTH)
            assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
            again = admin.LoadModel(
                admin_pb2.LoadModelRequest(path=str(reranker_path)), metadata=GRPC_AUTH, timeout=120
            )
            assert again.model.model_id == "tiny-bert-reranker"
            served = models.ListModels(model_pb2.ListModelsRequest(), metadata=GRPC_AUTH)
            assert [m.model_id for m in served.models] == ["mini", "tiny-bert-reranker"]


def test_admin_is_off_by_default_and_needs_a_key(minilm_path: Path) -> None:
    with (
        run_server(minilm_path) as server,
        httpx.Client(base_url=server.http_url, timeout=120) as http,
    ):
        off = http.post("/admin/models", json={"path": str(minilm_path)})
        assert off.status_code == 403
        assert "--enable-admin" in off.json()["error"]
        assert http.delete("/admin/models/x").status_code == 403
    assert EMBER.exists()
    done = subprocess.run(
        [str(EMBER), "serve", "--http", "false", "--enable-admin", "true"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("ember: error: --enable-admin needs an API key")
