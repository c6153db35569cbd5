"""The start-up precision self-check in the server: a reduced CPU mode below its floor never
reports SERVING; one that meets it serves and reports its agreement and the CPU in
GetModelInfo. The degraded engine wraps the real MiniLM engine and only perturbs its output,
as a broken int8 kernel would; the float32 reference the check loads is the real model."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ember.engines.base import Engine
from ember.engines.config import EngineConfig
from ember.engines.cpu_features import cpu_features
from ember.engines.precision import PrecisionUnsupportedError
from ember.engines.preempt import Preempt
from ember.engines.registry import load_engine
from ember.engines.types import Encoding, EngineOutput, ModelInfo, VectorOutput
from ember.service.server import EmberServer
from ember.service.settings import ServerSettings
from tests.service.support import NOT_SERVING, serving


class ReducedEngine:
    """The real engine reporting a reduced dtype, its vectors perturbed by ``noise``."""

    def __init__(self, inner: Engine, dtype: str, noise: float) -> None:
        self.inner = inner
        self._info = dataclasses.replace(inner.info, dtype=dtype)
        self._noise = noise
        self.closed = False

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def tokenizer(self) -> Any:
        return self.inner.tokenizer

    def warmup(self, max_batch_tokens: int, max_batch_requests: int) -> None:
        pass

    def forward(self, batch: Sequence[Encoding], preempt: Preempt | None = None) -> EngineOutput:
        output = self.inner.forward(batch, preempt)
        assert isinstance(output, VectorOutput)
        rng = np.random.default_rng(len(batch))
        scale = self._noise * np.abs(output.rows).mean()
        noise = rng.normal(scale=scale, size=output.rows.shape).astype(np.float32)
        return VectorOutput(output.rows + noise)

    def close(self) -> None:
        self.closed = True


@pytest.fixture(scope="module")
def fp32(minilm_path: Path) -> Engine:
    return load_engine(EngineConfig(model_path=minilm_path, device="cpu", backend="onnx"))


async def test_mode_below_its_floor_never_serves(fp32: Engine, minilm_path: Path) -> None:
    broken = ReducedEngine(fp32, "int8", noise=0.5)
    settings = ServerSettings(model=minilm_path, grpc_host="127.0.0.1", grpc_port=0)
    server = EmberServer(settings, loader=lambda config: broken)
    port = await server.start()
    try:
        with pytest.raises(PrecisionUnsupportedError) as refused:
            await server.load()
        message = refused.value.message
        assert "int8 (onnx backend) fails its accuracy self-check" in message
        assert f"on this CPU ({cpu_features().isa})" in message
        assert "Serve float32" in message
        assert broken.closed
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            health = await stub.Check(health_pb2.HealthCheckRequest(service=""))
        assert health.status == NOT_SERVING
    finally:
        await server.stop(grace=0.5)


async def test_mode_within_its_floor_serves_and_reports(fp32: Engine, minilm_path: Path) -> None:
    fine = ReducedEngine(fp32, "int8", noise=0.002)
    async with serving(fine, minilm_path, backend="onnx") as served:
        info = await served.client.model_info()
    assert info.precision_check.dtype == "int8"
    assert info.precision_check.probes >= 10
    assert 0.99 <= info.precision_check.min_cosine < 1.0
    assert info.cpu.isa == cpu_features().isa
    assert list(info.cpu.flags) == cpu_features().ordered_flags()


async def test_check_can_be_turned_off(fp32: Engine, minilm_path: Path) -> None:
    broken = ReducedEngine(fp32, "int8", noise=0.5)
    async with serving(broken, minilm_path, precision_check=False) as served:
        info = await served.client.model_info()
        assert not info.HasField("precision_check")
        response = await served.client.embed(["still served"])
    assert len(response) == 1


async def test_float32_needs_no_check(fp32: Engine, minilm_path: Path) -> None:
    async with serving(fp32, minilm_path) as served:
        info = await served.client.model_info()
    assert not info.HasField("precision_check")
    assert info.dtype == "float32"
