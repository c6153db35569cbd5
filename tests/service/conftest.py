"""In-process gRPC servers (port 0) around the real engine, for service tests.

The real MiniLM engine is loaded once per session. Tests that need to observe or perturb the
engine wrap it in :class:`SpyEngine` (counts batches, can hold the engine thread or raise):
the model still runs for real; only the test controls when.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ember.clients import AsyncEmberClient
from ember.engines.base import Engine
from ember.engines.config import EngineConfig
from ember.engines.preempt import Preempt
from ember.engines.registry import load_engine
from ember.engines.types import Encoding, EngineOutput
from ember.service.server import EmberServer
from ember.service.settings import ServerSettings


class SpyEngine:
    """Delegates to a real engine; records batches, can block or fail on demand."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.batches: list[list[Encoding]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail_when: Callable[[Sequence[Encoding]], bool] = lambda batch: False

    @property
    def info(self) -> Any:
        return self.inner.info

    @property
    def tokenizer(self) -> Any:
        return self.inner.tokenizer

    def warmup(self, max_batch_tokens: int, max_batch_requests: int) -> None:
        pass  # the shared inner engine is warm already

    def forward(self, batch: Sequence[Encoding], preempt: Preempt | None = None) -> EngineOutput:
        self.entered.set()
        self.gate.wait(timeout=30)
        self.batches.append(list(batch))
        if self.fail_when(batch):
            raise RuntimeError("injected engine failure")
        return self.inner.forward(batch, preempt)

    def close(self) -> None:
        pass  # shared across tests


@pytest.fixture(scope="session")
def minilm_engine(minilm_path: Path) -> Engine:
    """The real MiniLM engine (fp32, CPU), loaded once."""
    engine = load_engine(EngineConfig(model_path=minilm_path, device="cpu"))
    engine.warmup(2048, 16)
    return engine


@pytest.fixture
def spy(minilm_engine: Engine) -> SpyEngine:
    """A fresh spy around the shared real engine."""
    return SpyEngine(minilm_engine)


ServeFn = Callable[..., Any]


@pytest.fixture
def serve(minilm_path: Path) -> ServeFn:
    """``async with serve(engine, **settings) as (client, server)`` runs a real gRPC server."""

    @asynccontextmanager
    async def _serve(
        engine: Engine, **overrides: Any
    ) -> AsyncIterator[tuple[AsyncEmberClient, EmberServer]]:
        settings = replace(
            ServerSettings(model=minilm_path, grpc_host="127.0.0.1", grpc_port=0),
            **overrides,
        )
        server = EmberServer(settings, loader=lambda config: engine)
        port = await server.start()
        await server.load()
        client = AsyncEmberClient(f"127.0.0.1:{port}")
        try:
            yield client, server
        finally:
            await client.close()
            await server.stop(grace=1.0)

    return _serve
