"""Several models in one server: routing by the request's ``model`` field, NOT_FOUND and
FAILED_PRECONDITION, ListModels, per-model health, duplicate ids refused, the --model flag."""

from __future__ import annotations

import argparse
import asyncio
import re
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY

from ember.clients import requests as rq
from ember.engines.base import Engine
from ember.engines.config import EngineConfig, EngineOptions
from ember.engines.errors import ModelLoadError
from ember.engines.preempt import Preempt
from ember.engines.types import Encoding, EngineOutput
from ember.gateway.app import create_app
from ember.gateway.settings import GatewaySettings
from ember.service import options
from ember.service.default_model import DEFAULT_MODEL_NAME
from ember.service.model_entries import engine_configs, model_entries, model_specs
from ember.service.server import EmberServer
from ember.service.settings import ServerSettings
from ember.v1 import embed_pb2_grpc, model_pb2, model_pb2_grpc, rerank_pb2_grpc
from tests.tiny_models import make_tiny_model

from .conftest import SpyEngine
from .support import cpu_engine


@pytest.fixture(scope="module")
def reranker_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("many")
    return make_tiny_model(
        root / "tiny-qwen3-reranker", arch="qwen3", head="causal-lm", tokenizer="wordpiece"
    )


@asynccontextmanager
async def two_models(
    minilm_path: Path, reranker_path: Path, threads: set[int] | None = None
) -> AsyncIterator[tuple[EmberServer, grpc.aio.Channel]]:
    """Serve MiniLM as "mini" and the tiny reranker; ``threads`` collects the ids of the
    threads their forwards ran on."""

    def loader(config: EngineConfig) -> Engine:
        engine = cpu_engine(config.model_path, served_model_name=config.served_model_name)
        return engine if threads is None else _ThreadRecorder(engine, threads)

    settings = ServerSettings(
        model=(f"mini={minilm_path}", str(reranker_path)),
        grpc_host="127.0.0.1",
        grpc_port=0,
    )
    server = EmberServer(settings, loader=loader)
    port = await server.start()
    await server.load()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield server, channel
    finally:
        await channel.close(None)
        await server.stop(grace=1.0)


async def test_requests_are_routed_by_model_and_refused_with_the_right_status(
    minilm_path: Path, reranker_path: Path
) -> None:
    async with two_models(minilm_path, reranker_path) as (server, channel):
        assert server.models.ids == ["mini", "tiny-qwen3-reranker"]
        embed = embed_pb2_grpc.EmbedServiceStub(channel)
        rerank = rerank_pb2_grpc.RerankServiceStub(channel)
        named = await embed.Embed(rq.embed_request(["a cat"], model="mini"))
        unnamed = await embed.Embed(rq.embed_request(["a cat"]))  # the first model
        assert named.model == unnamed.model == "mini"
        np.testing.assert_array_equal(rq.embeddings(named), rq.embeddings(unnamed))
        ranked = await rerank.Rerank(
            rq.rerank_request("q", ["a", "b"], model="tiny-qwen3-reranker")
        )
        assert ranked.model == "tiny-qwen3-reranker"
        assert sorted(r.index for r in ranked.ranks) == [0, 1]

        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await embed.Embed(rq.embed_request(["a cat"], model="nope"))
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        assert "mini, tiny-qwen3-reranker" in (unknown.value.details() or "")

        with pytest.raises(grpc.aio.AioRpcError) as wrong_task:
            await embed.Embed(rq.embed_request(["a cat"], model="tiny-qwen3-reranker"))
        assert wrong_task.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "serves: Rerank" in (wrong_task.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as wrong_model:
            await rerank.Rerank(rq.rerank_request("q", ["a"], model="mini"))
        assert wrong_model.value.code() == grpc.StatusCode.FAILED_PRECONDITION

        models = model_pb2_grpc.ModelServiceStub(channel)
        listed = await models.ListModels(model_pb2.ListModelsRequest())
        assert [m.model_id for m in listed.models] == ["mini", "tiny-qwen3-reranker"]
        assert listed.models[0].embedding_dimensions == 384
        info = await models.GetModelInfo(model_pb2.GetModelInfoRequest(model="tiny-qwen3-reranker"))
        assert info.model_id == "tiny-qwen3-reranker"
        tokens = await models.Tokenize(model_pb2.TokenizeRequest(inputs=["a cat"], model="mini"))
        assert [t.text for t in tokens.results[0].tokens][1:3] == ["a", "cat"]

        health = health_pb2_grpc.HealthStub(channel)
        for name in ("mini", "tiny-qwen3-reranker", "ember.v1.RerankService", ""):
            status = await health.Check(health_pb2.HealthCheckRequest(service=name))
            assert status.status == health_pb2.HealthCheckResponse.SERVING, name


class _ThreadRecorder(SpyEngine):
    def __init__(self, inner: Engine, threads: set[int]) -> None:
        super().__init__(inner)
        self.threads = threads

    def forward(self, batch: Sequence[Encoding], preempt: Preempt | None = None) -> EngineOutput:
        self.threads.add(threading.get_ident())
        return super().forward(batch, preempt)


async def test_models_have_their_own_queues_and_share_one_engine_thread(
    minilm_path: Path, reranker_path: Path
) -> None:
    threads: set[int] = set()
    async with two_models(minilm_path, reranker_path, threads) as (server, channel):
        embed = embed_pb2_grpc.EmbedServiceStub(channel)
        rerank = rerank_pb2_grpc.RerankServiceStub(channel)
        texts = [f"text number {i}" for i in range(64)]
        calls = [embed.Embed(rq.embed_request(texts, model="mini")) for _ in range(4)]
        calls += [
            rerank.Rerank(rq.rerank_request("q", texts[:8], model="tiny-qwen3-reranker"))
            for _ in range(4)
        ]
        answers = await asyncio.gather(*calls)
        mini, reranker = server.models.get("mini"), server.models.get("tiny-qwen3-reranker")
        assert mini._scheduler is not reranker._scheduler
    assert [a.model for a in answers] == ["mini"] * 4 + ["tiny-qwen3-reranker"] * 4
    assert len(threads) == 1, "the models' forwards ran on more than one thread at once"
    for model in ("mini", "tiny-qwen3-reranker"):
        batches = REGISTRY.get_sample_value("ember_batch_size_count", {"model": model})
        assert batches, model
        assert REGISTRY.get_sample_value("ember_queue_depth", {"model": model}) == 0


async def test_rest_routes_by_model_and_lists_every_model(
    minilm_path: Path, reranker_path: Path
) -> None:
    async with two_models(minilm_path, reranker_path) as (server, _):
        app = create_app(GatewaySettings(upstream=f"127.0.0.1:{server.port}"), server.local_calls())
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
                listed = (await http.get("/v1/models")).json()
                embedded = await http.post("/v1/embeddings", json={"input": "a", "model": "mini"})
                unknown = await http.post("/v1/embeddings", json={"input": "a", "model": "nope"})
                wrong = await http.post(
                    "/v1/embeddings", json={"input": "a", "model": "tiny-qwen3-reranker"}
                )
                ranked = await http.post(
                    "/v1/rerank",
                    json={"query": "q", "documents": ["a", "b"], "model": "tiny-qwen3-reranker"},
                )
    assert [m["id"] for m in listed["data"]] == ["mini", "tiny-qwen3-reranker"]
    assert embedded.status_code == 200, embedded.text
    assert embedded.json()["model"] == "mini"
    assert unknown.status_code == 404
    assert "mini, tiny-qwen3-reranker" in unknown.json()["error"]["message"]
    assert wrong.status_code == 424
    assert "serves: Rerank" in wrong.json()["error"]["message"]
    assert ranked.status_code == 200, ranked.text
    assert len(ranked.json()["results"]) == 2


async def test_with_one_model_any_name_is_accepted(minilm_path: Path, spy: SpyEngine) -> None:
    server = EmberServer(
        ServerSettings(model=minilm_path, grpc_host="127.0.0.1", grpc_port=0),
        loader=lambda config: spy,
    )
    port = await server.start()
    await server.load()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            embed = embed_pb2_grpc.EmbedServiceStub(channel)
            answer = await embed.Embed(rq.embed_request(["x"], model="text-embedding-3-small"))
        assert answer.model == spy.info.model_id
        assert rq.embeddings(answer).shape == (1, 384)
    finally:
        await server.stop(grace=1.0)


async def test_two_models_with_the_same_id_are_refused_at_start(
    minilm_path: Path, spy: SpyEngine
) -> None:
    settings = ServerSettings(
        model=(str(minilm_path), str(minilm_path)), grpc_host="127.0.0.1", grpc_port=0
    )
    server = EmberServer(settings, loader=lambda config: spy)
    await server.start()
    try:
        with pytest.raises(ModelLoadError, match="two models have the id"):
            await server.load()
    finally:
        await server.stop(grace=1.0)


def test_model_flag_repeats_names_and_hub_ids(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    options.add_arguments(parser, ServerSettings, "t")
    args = parser.parse_args(["--model", "emb=/m/a", "--model", "BAAI/bge-reranker-base@main"])
    settings = options.build(ServerSettings, args, {})
    assert settings.model == ("emb=/m/a", "BAAI/bge-reranker-base@main")
    assert model_specs(settings) == [("emb", "/m/a"), (None, "BAAI/bge-reranker-base@main")]
    from_env = options.build(ServerSettings, parser.parse_args([]), {"EMBER_MODEL": "/m/a, x=/m/b"})
    assert model_specs(from_env) == [(None, "/m/a"), ("x", "/m/b")]
    configs = engine_configs(
        ServerSettings(
            model=("/m/a", "x=/m/b"),
            served_model_name="first",
            engine=EngineOptions(dtype="float32"),
        )
    )
    assert [(c.model_path, c.served_model_name, c.dtype) for c in configs] == [
        (Path("/m/a"), "first", "float32"),
        (Path("/m/b"), "x", "float32"),
    ]
    assert engine_configs(ServerSettings())[0].served_model_name == DEFAULT_MODEL_NAME


async def test_models_file_gives_each_model_its_options_and_aliases(
    minilm_path: Path, reranker_path: Path, tmp_path: Path
) -> None:
    models_file = tmp_path / "models.yaml"
    models_file.write_text(
        f"models:\n"
        f"  - path: {minilm_path}\n"
        f"    name: mini\n"
        f"    aliases: [text-embedding-3-small]\n"
        f"    max_batch_tokens: 1024\n"
        f"  - path: {reranker_path}\n"
        f"    max_input_length: 64\n"
    )

    def loader(config: EngineConfig) -> Engine:
        return cpu_engine(
            config.model_path,
            served_model_name=config.served_model_name,
            max_input_length=config.max_input_length,
        )

    settings = ServerSettings(models_file=models_file, grpc_host="127.0.0.1", grpc_port=0)
    server = EmberServer(settings, loader=loader)
    port = await server.start()
    await server.load()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            embed = embed_pb2_grpc.EmbedServiceStub(channel)
            answer = await embed.Embed(rq.embed_request(["x"], model="text-embedding-3-small"))
            listed = await model_pb2_grpc.ModelServiceStub(channel).ListModels(
                model_pb2.ListModelsRequest()
            )
    finally:
        await server.stop(grace=1.0)
    assert answer.model == "mini"
    by_id = {m.model_id: m for m in listed.models}
    assert by_id["mini"].max_batch_tokens == 1024
    assert by_id["tiny-qwen3-reranker"].max_input_length == 64
    assert by_id["tiny-qwen3-reranker"].max_batch_tokens == 8192  # the server's default


def test_models_file_toml_and_bad_files(tmp_path: Path) -> None:
    toml = tmp_path / "models.toml"
    toml.write_text(
        '[[models]]\npath = "/m/a"\nname = "a"\ndtype = "float32"\n\n'
        '[[models]]\npath = "org/b@v1"\naliases = ["b"]\n'
    )
    entries = model_entries(ServerSettings(model=("x=/m/x",), models_file=toml))
    assert [(e.name, e.path, e.aliases) for e in entries] == [
        ("x", "/m/x", ()),
        ("a", "/m/a", ()),
        (None, "org/b@v1", ("b",)),
    ]
    assert [e.engine.dtype for e in entries] == ["auto", "float32", "auto"]
    bad = {
        "unknown.yaml": ("models: [{path: /m, colour: red}]", "unknown option 'colour'"),
        "type.yaml": ("models: [{path: /m, max_batch_tokens: many}]", "must be int"),
        "flag.yaml": ("models: [{path: /m, compile: 1}]", "compile must be bool"),
        "range.yaml": (
            "models: [{path: /m}, {path: /n, max_batch_tokens: 0}]",
            "model 1: max_batch_tokens must be at least 1, got 0",
        ),
        "nopath.yaml": ("models: [{name: a}]", "needs a path"),
        "empty.yaml": ("other: 1", "has no models list"),
        "broken.toml": ("[[models]\n", "is not valid"),
        "models.json": ("{}", "must end in .yaml, .yml or .toml"),
    }
    for name, (text, words) in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=re.escape(words)):
            model_entries(ServerSettings(models_file=tmp_path / name))
    with pytest.raises(ValueError, match="cannot read the models file"):
        model_entries(ServerSettings(models_file=tmp_path / "missing.yaml"))
