"""The gRPC server: wiring, health, reflection and lifecycle.

Lifecycle: bind and start serving at once (health NOT_SERVING, model RPCs answer
UNAVAILABLE), load the model on a worker thread, warm it up, check a reduced CPU precision
against float32 (:mod:`ember.engines.selfcheck`; a mode below its floor fails the load), then
flip health to SERVING for exactly the services the model can answer. On
:meth:`EmberServer.stop`: health goes NOT_SERVING, new calls are refused, in-flight calls get
``shutdown_grace_s`` to finish.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from ember.engines.base import Engine
from ember.engines.config import EngineConfig
from ember.engines.cpu_features import cpu_features
from ember.engines.errors import ModelLoadError
from ember.engines.selfcheck import self_check
from ember.engines.types import Task
from ember.gateway import tracing
from ember.service import reflection, servicers
from ember.service.core import Core
from ember.service.interceptors import ServiceInterceptor
from ember.service.limits import resolve_limits
from ember.service.local import LocalCalls
from ember.service.models import ModelSet, ModelsHandle
from ember.service.settings import ServerSettings, engine_configs
from ember.v1 import (
    classify_pb2,
    classify_pb2_grpc,
    embed_pb2,
    embed_pb2_grpc,
    model_pb2,
    model_pb2_grpc,
    rerank_pb2,
    rerank_pb2_grpc,
    token_classification_pb2,
    token_classification_pb2_grpc,
)

log = logging.getLogger(__name__)

EMBED_SERVICE = embed_pb2.DESCRIPTOR.services_by_name["EmbedService"].full_name
CLASSIFY_SERVICE = classify_pb2.DESCRIPTOR.services_by_name["ClassifyService"].full_name
RERANK_SERVICE = rerank_pb2.DESCRIPTOR.services_by_name["RerankService"].full_name
TOKENS_SERVICE = token_classification_pb2.DESCRIPTOR.services_by_name[
    "TokenClassificationService"
].full_name
MODEL_SERVICE = model_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name

#: Which health service names go SERVING for each task the model serves.
_TASK_SERVICES = {
    Task.EMBED: EMBED_SERVICE,
    Task.EMBED_SPARSE: EMBED_SERVICE,
    Task.CLASSIFY: CLASSIFY_SERVICE,
    Task.RERANK: RERANK_SERVICE,
    Task.PREDICT_TOKENS: TOKENS_SERVICE,
}
ALL_SERVICES = (EMBED_SERVICE, CLASSIFY_SERVICE, RERANK_SERVICE, TOKENS_SERVICE, MODEL_SERVICE)


def server_version() -> str:
    """Ember's installed version."""
    try:
        return metadata.version("ember-serve")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


#: The interpreter's switch interval with an engine on CUDA (see ServerSettings'
#: gil_switch_interval_ms). With Python's 5 ms, a forward of a few hundred kernel launches,
#: each giving the interpreter lock up and taking it back, waits up to 5 ms per launch behind a
#: busy event loop: the H100 run saw 5-token batches take ~150 ms in the server against ~18 ms
#: alone. benchmarks/OVERHEAD.md has the measurements behind 1 ms.
CUDA_SWITCH_INTERVAL_MS = 1.0


def _set_switch_interval(setting_ms: float | None, device: str) -> float | None:
    """Apply the interpreter switch interval the settings ask for (process-wide); returns the
    previous interval in seconds when it was changed, for :meth:`EmberServer.stop` to restore."""
    interval = setting_ms
    if interval is None and device.startswith("cuda"):
        interval = CUDA_SWITCH_INTERVAL_MS
    if interval is None:
        return None
    if interval <= 0:
        raise ValueError(f"--gil-switch-interval must be positive, got {interval}")
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval / 1000.0)
    log.info("interpreter switch interval %.3g ms", interval)
    return previous


@dataclass
class _Started:
    server: grpc.aio.Server
    port: int


EngineLoader = Callable[[EngineConfig], Engine]


def _default_loader(config: EngineConfig) -> Engine:
    from ember.engines.registry import load_engine  # heavy imports happen off the event loop

    return load_engine(config)


_SERVICE_DESCRIPTORS = {
    EMBED_SERVICE: embed_pb2.DESCRIPTOR.services_by_name["EmbedService"],
    CLASSIFY_SERVICE: classify_pb2.DESCRIPTOR.services_by_name["ClassifyService"],
    RERANK_SERVICE: rerank_pb2.DESCRIPTOR.services_by_name["RerankService"],
    TOKENS_SERVICE: token_classification_pb2.DESCRIPTOR.services_by_name[
        "TokenClassificationService"
    ],
    MODEL_SERVICE: model_pb2.DESCRIPTOR.services_by_name["ModelService"],
}


def _local_calls(interceptor: ServiceInterceptor, served: list[tuple[str, object]]) -> LocalCalls:
    """Every unary RPC of the served servicers, wrapped by ``interceptor``, by method path."""
    behaviors = {}
    for name, servicer in served:
        for method in _SERVICE_DESCRIPTORS[name].methods:
            if method.client_streaming or method.server_streaming:
                continue
            path = f"/{name}/{method.name}"
            behaviors[path] = interceptor.wrap_unary(path, getattr(servicer, method.name))
    return LocalCalls(behaviors)


class EmberServer:
    """One gRPC server serving one or several models."""

    def __init__(self, settings: ServerSettings, loader: EngineLoader = _default_loader) -> None:
        self._settings = settings
        self._loader = loader
        self._handle = ModelsHandle()
        self._health = HealthServicer()
        self._started: _Started | None = None
        self._local: LocalCalls | None = None
        self._saved_switch_interval: float | None = None
        self._ready = asyncio.Event()
        self.started_at = time.monotonic()

    @property
    def port(self) -> int:
        """The bound gRPC port (after :meth:`start`)."""
        if self._started is None:
            raise RuntimeError("server not started")
        return self._started.port

    @property
    def core(self) -> Core:
        """The first model's service core (after the models loaded)."""
        return self._handle()

    @property
    def models(self) -> ModelSet:
        """Every served model (after they loaded)."""
        return self._handle.loaded()

    async def start(self) -> int:
        """Bind and start answering (health NOT_SERVING until :meth:`load` finishes)."""
        s = self._settings
        log.info("CPU: %s", cpu_features().describe())
        options = [
            ("grpc.max_receive_message_length", s.max_message_bytes),
            ("grpc.max_send_message_length", s.max_message_bytes),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.so_reuseport", 0),
        ]
        interceptor = ServiceInterceptor(s.access_log, traced=tracing.enabled())
        server = grpc.aio.server(
            interceptors=interceptor.chain(),
            options=options,
            maximum_concurrent_rpcs=None,
        )
        handle = self._handle
        served: list[tuple[str, object]] = [
            (EMBED_SERVICE, servicers.EmbedServicer(handle)),
            (CLASSIFY_SERVICE, servicers.ClassifyServicer(handle)),
            (RERANK_SERVICE, servicers.RerankServicer(handle)),
            (TOKENS_SERVICE, servicers.TokenClassificationServicer(handle)),
            (MODEL_SERVICE, servicers.ModelServicer(handle, server_version())),
        ]
        registrations = {
            EMBED_SERVICE: embed_pb2_grpc.add_EmbedServiceServicer_to_server,
            CLASSIFY_SERVICE: classify_pb2_grpc.add_ClassifyServiceServicer_to_server,
            RERANK_SERVICE: rerank_pb2_grpc.add_RerankServiceServicer_to_server,
            TOKENS_SERVICE: (
                token_classification_pb2_grpc.add_TokenClassificationServiceServicer_to_server
            ),
            MODEL_SERVICE: model_pb2_grpc.add_ModelServiceServicer_to_server,
        }
        for name, servicer in served:
            registrations[name](servicer, server)  # type: ignore[operator]
        self._local = _local_calls(interceptor, served)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable(
            server, (*ALL_SERVICES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
        )
        for name in ("", *ALL_SERVICES):
            await self._health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        port = server.add_insecure_port(f"{s.grpc_host}:{s.grpc_port}")
        if port == 0:
            raise OSError(f"cannot bind gRPC to {s.grpc_host}:{s.grpc_port}")
        await server.start()
        self._started = _Started(server, port)
        log.info("gRPC listening on %s:%d", s.grpc_host, port)
        return port

    def local_calls(self) -> LocalCalls:
        """The unary RPCs of this server for callers in this process (the in-process REST
        gateway): the same servicers and interceptor, without the transport (after start)."""
        if self._local is None:
            raise RuntimeError("server not started")
        return self._local

    async def load(self) -> Core:
        """Load and warm every model off the event loop, then report SERVING; returns the
        first model's core. Two models with the same id are refused (ModelLoadError)."""
        s = self._settings
        cores: list[Core] = []
        try:
            for config in engine_configs(s):
                cores.append(await self._load_one(config))
            models = ModelSet(cores)
        except BaseException as exc:
            for core in cores:
                await core.close()
            if isinstance(exc, ValueError):
                raise ModelLoadError(str(exc)) from exc
            raise
        first = models.first.info
        self._saved_switch_interval = _set_switch_interval(s.gil_switch_interval_ms, first.device)
        for core in models:
            core.start()
        self._handle.models = models
        tasks = {t for core in models for t in core.info.tasks}
        serving = {_TASK_SERVICES[t] for t in tasks} | {MODEL_SERVICE}
        for name in ALL_SERVICES:
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if name in serving
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            await self._health.set(name, status)
        for model_id in models.ids:
            await self._health.set(model_id, health_pb2.HealthCheckResponse.SERVING)
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        self._ready.set()
        for core in models:
            info = core.info
            log.info(
                "serving %s (%s, %s on %s) after %.2fs: %s",
                info.model_id,
                info.kind.value,
                info.dtype,
                info.device,
                time.monotonic() - self.started_at,
                ", ".join(sorted(t.value for t in info.tasks)),
            )
        return models.first

    async def _load_one(self, config: EngineConfig) -> Core:
        """Load, warm up and (for a reduced CPU precision) self-check one model."""
        s = self._settings
        loop = asyncio.get_running_loop()
        engine = await loop.run_in_executor(None, self._loader, config)
        info = engine.info
        # Engines that know their device's free memory (CUDA) size the token budget.
        suggest = getattr(engine, "suggested_batch_tokens", None)
        suggested = suggest() if callable(suggest) else None
        limits = resolve_limits(
            s, info, suggested_batch_tokens=suggested if isinstance(suggested, int) else None
        )
        await loop.run_in_executor(
            None, engine.warmup, limits.max_batch_tokens, limits.max_batch_requests
        )
        check = None
        if s.precision_check:
            # The float32 reference is always a real engine (never the injected loader's).
            from ember.engines.registry import load_engine

            try:
                check = await loop.run_in_executor(None, self_check, engine, config, load_engine)
            except BaseException:
                engine.close()
                raise
        return Core(engine, limits, s.tokenizer_workers, check)

    async def wait_ready(self) -> None:
        """Wait until the model serves."""
        await self._ready.wait()

    async def stop(self, grace: float | None = None) -> None:
        """Go NOT_SERVING, refuse new calls, let in-flight ones finish, release the model."""
        await self._health.enter_graceful_shutdown()
        if self._started is not None:
            await self._started.server.stop(
                self._settings.shutdown_grace_s if grace is None else grace
            )
        if self._handle.models is not None:
            for core in self._handle.models:
                await core.close()
            self._handle.models = None
        if self._saved_switch_interval is not None:
            sys.setswitchinterval(self._saved_switch_interval)
            self._saved_switch_interval = None

    async def wait_closed(self) -> None:
        """Block until the server terminates."""
        if self._started is not None:
            await self._started.server.wait_for_termination()
