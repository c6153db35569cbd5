"""The gRPC server: wiring, health, reflection and lifecycle.

Lifecycle: bind and start serving at once (health NOT_SERVING, model RPCs answer
UNAVAILABLE), load the model on a worker thread, warm it up, check a reduced CPU precision
against float32 (:mod:`ember.engines.selfcheck`; a mode below its floor fails the load), then
flip health to SERVING for exactly the services the model can answer. On
:meth:`EmberServer.stop`: health goes NOT_SERVING at once, new calls are refused UNAVAILABLE,
batch streams answer what they read and end, in-flight calls get what is left of
``shutdown_grace_s`` (:mod:`ember.service.drain`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from ember.engines.config import EngineConfig
from ember.engines.cpu_features import cpu_features
from ember.engines.errors import AdminDisabledError, ModelLoadError, NotReadyError
from ember.engines.types import Task
from ember.gateway import tracing
from ember.gateway.security import TlsFiles, Transport
from ember.service import metrics, reflection, servicers
from ember.service.async_jobs.manager import JobManager
from ember.service.async_jobs.servicer import JobServicer
from ember.service.async_jobs.settings import JobSettings
from ember.service.async_jobs.store import (
    DataDirInUseError,
    JobStore,
    SqliteJobStore,
    data_dir_default,
)
from ember.service.async_jobs.webhooks import WebhookPolicy
from ember.service.auth import AuthInterceptor
from ember.service.core import Core
from ember.service.drain import Drain
from ember.service.interceptors import ServiceInterceptor
from ember.service.loading import EngineLoader, default_loader, load_core
from ember.service.local import LocalCalls
from ember.service.model_entries import ModelEntry, model_entries
from ember.service.models import ModelSet, ModelsHandle
from ember.service.settings import ServerSettings
from ember.service.threads import SharedThreads
from ember.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    classify_pb2,
    classify_pb2_grpc,
    embed_pb2,
    embed_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    model_pb2,
    model_pb2_grpc,
    rerank_pb2,
    rerank_pb2_grpc,
    token_classification_pb2,
    token_classification_pb2_grpc,
)

log = logging.getLogger(__name__)

#: Each Ember service by full name: its descriptor and generated gRPC module.
_SERVICES = {
    descriptor.full_name: (descriptor, module)
    for descriptor, module in (
        (embed_pb2.DESCRIPTOR.services_by_name["EmbedService"], embed_pb2_grpc),
        (classify_pb2.DESCRIPTOR.services_by_name["ClassifyService"], classify_pb2_grpc),
        (rerank_pb2.DESCRIPTOR.services_by_name["RerankService"], rerank_pb2_grpc),
        (
            token_classification_pb2.DESCRIPTOR.services_by_name["TokenClassificationService"],
            token_classification_pb2_grpc,
        ),
        (model_pb2.DESCRIPTOR.services_by_name["ModelService"], model_pb2_grpc),
        (admin_pb2.DESCRIPTOR.services_by_name["AdminService"], admin_pb2_grpc),
        (jobs_pb2.DESCRIPTOR.services_by_name["JobService"], jobs_pb2_grpc),
    )
}
(
    EMBED_SERVICE,
    CLASSIFY_SERVICE,
    RERANK_SERVICE,
    TOKENS_SERVICE,
    MODEL_SERVICE,
    ADMIN_SERVICE,
    JOB_SERVICE,
) = _SERVICES

#: Which health service names go SERVING for each task the model serves.
_TASK_SERVICES = {
    Task.EMBED: EMBED_SERVICE,
    Task.EMBED_SPARSE: EMBED_SERVICE,
    Task.CLASSIFY: CLASSIFY_SERVICE,
    Task.RERANK: RERANK_SERVICE,
    Task.PREDICT_TOKENS: TOKENS_SERVICE,
}
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
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


#: Calls grpc-core may hold for the application beyond those it serves: the aio server takes
#: calls one at a time, so under a burst they queue in grpc-core, which past its default
#: backlog (1,000 soft, 3,000 hard) refuses new ones at random with CANCELLED, a status that
#: tells a client nothing. Ember's own admission answers RESOURCE_EXHAUSTED instead, so the
#: backlog is sized never to be the limit that speaks first.
_PENDING_CALLS_PER_ADMITTED = 64
_MIN_PENDING_CALLS = 65_536
#: Streams one connection may have open, in multiples of --max-concurrent-requests (at least
#: _MIN_STREAMS). Above admission's limit, so that a burst on one connection is answered by
#: admission (RESOURCE_EXHAUSTED, retry pushback): streams past this bound are refused by the
#: transport (REFUSED_STREAM, which clients see as UNAVAILABLE) when they arrive before the
#: client learnt the bound, and wait in the client after.
_STREAMS_PER_ADMITTED = 4
_MIN_STREAMS = 4096


def grpc_options(s: ServerSettings, transport: Transport | None) -> list[tuple[str, int]]:
    """The grpc-core options of the server: message, metadata, stream and backlog limits
    aligned with Ember's admission, keepalive and connection timeouts."""
    pending = max(_MIN_PENDING_CALLS, _PENDING_CALLS_PER_ADMITTED * s.max_concurrent_requests)
    limits: list[tuple[str, int]] = []
    if transport is not None:
        limits = [
            # Metadata past this ends the call RESOURCE_EXHAUSTED, before the server holds
            # it all (grpc-core's default hard limit is 16 kB; ours follows --max-header-bytes).
            ("grpc.max_metadata_size", transport.max_header_bytes),
            ("grpc.absolute_max_metadata_size", transport.max_header_bytes),
            ("grpc.server_handshake_timeout_ms", round(transport.header_timeout_s * 1000)),
        ]
    return [
        *limits,
        ("grpc.max_receive_message_length", s.max_message_bytes),
        ("grpc.max_send_message_length", s.max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        # Clients may ping every 10 s, idle or not (the balancing clients' keep-alive finds a
        # vanished replica that way); grpc-core's default (5 min) answers them GOAWAY.
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
        ("grpc.so_reuseport", 0),
        ("grpc.server.max_pending_requests", pending),
        ("grpc.server.max_pending_requests_hard_limit", pending),
        # Per connection: more concurrent calls than this wait in the client (HTTP/2
        # SETTINGS_MAX_CONCURRENT_STREAMS) instead of reaching the server.
        (
            "grpc.max_concurrent_streams",
            max(_MIN_STREAMS, _STREAMS_PER_ADMITTED * s.max_concurrent_requests),
        ),
    ]


def _server_credentials(tls: TlsFiles) -> grpc.ServerCredentials:
    ca = tls.client_ca.read_bytes() if tls.client_ca is not None else None
    return grpc.ssl_server_credentials(
        [(tls.key.read_bytes(), tls.cert.read_bytes())],
        root_certificates=ca,
        require_client_auth=ca is not None,
    )


#: How long no call must have arrived before the gRPC transport closes (see Drain.wait_quiet).
_QUIET_S = 0.25

#: The end of the shutdown grace kept for answering the calls still running UNAVAILABLE and
#: closing connections (at most a quarter of the grace).
_ANSWER_MARGIN_S = 1.0


@dataclass
class _Started:
    server: grpc.aio.Server
    port: int


def _local_calls(interceptor: ServiceInterceptor, served: dict[str, object]) -> LocalCalls:
    """Every unary RPC of the served servicers, wrapped by ``interceptor``, by method path."""
    behaviors = {}
    for name, servicer in served.items():
        for method in _SERVICES[name][0].methods:
            if method.client_streaming or method.server_streaming:
                continue
            path = f"/{name}/{method.name}"
            behaviors[path] = interceptor.wrap_unary(path, getattr(servicer, method.name))
    return LocalCalls(behaviors)


class EmberServer:
    """One gRPC server serving one or several models."""

    def __init__(
        self,
        settings: ServerSettings,
        loader: EngineLoader = default_loader,
        *,
        transport: Transport | None = None,
        jobs: JobSettings | None = None,
    ) -> None:
        """``transport``: API keys, TLS and header limits (shared with the REST gateway);
        None: no key, no TLS, default limits. ``jobs``: where the async jobs are kept (None:
        no JobService)."""
        self._settings = settings
        self._job_settings = jobs
        self._jobs: JobManager | None = None
        self._job_store: JobStore | None = None
        self._jobs_unavailable = ""
        self._transport = transport
        self._loader = loader
        self._handle = ModelsHandle()
        self._threads: SharedThreads | None = None
        self._health = HealthServicer()
        self._started: _Started | None = None
        self._local: LocalCalls | None = None
        self._local_port: int | None = None
        self._saved_switch_interval: float | None = None
        self._drain = Drain()
        self._drained = False  # drain() ran to its end: a second call (stop's) returns at once
        self._admin_lock = asyncio.Lock()
        self.started_at = time.monotonic()

    @property
    def port(self) -> int:
        """The bound gRPC port (after :meth:`start`)."""
        if self._started is None:
            raise RuntimeError("server not started")
        return self._started.port

    @property
    def local_target(self) -> str:
        """Where this process's REST gateway calls the service over gRPC: plaintext on
        loopback (a port of its own when the public one is TLS), after :meth:`start`."""
        if self._local_port is None:
            raise RuntimeError("server not started")
        host = self._settings.grpc_host
        tls = self._transport is not None and self._transport.tls is not None
        if tls or host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"{host}:{self._local_port}"

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
        transport = self._transport
        options = grpc_options(s, transport)
        interceptor = ServiceInterceptor(s.access_log, self._drain, traced=tracing.enabled())
        chain: list[Any] = list(interceptor.chain())
        if transport is not None and transport.keys is not None:
            chain.insert(0, AuthInterceptor(transport.keys, transport.open_grpc_services))
        server = grpc.aio.server(interceptors=chain, options=options, maximum_concurrent_rpcs=None)
        handle = self._handle
        served: dict[str, object] = {
            EMBED_SERVICE: servicers.EmbedServicer(handle, self._drain),
            CLASSIFY_SERVICE: servicers.ClassifyServicer(handle, self._drain),
            RERANK_SERVICE: servicers.RerankServicer(handle, self._drain),
            TOKENS_SERVICE: servicers.TokenClassificationServicer(handle, self._drain),
            MODEL_SERVICE: servicers.ModelServicer(handle, server_version()),
            ADMIN_SERVICE: servicers.AdminServicer(self, server_version()),
        }
        if self._job_settings is not None and self._job_settings.jobs:
            served[JOB_SERVICE] = JobServicer(self.job_manager, self._drain.started)
        for name, servicer in served.items():
            descriptor, module = _SERVICES[name]
            getattr(module, f"add_{descriptor.name}Servicer_to_server")(servicer, server)
        self._local = _local_calls(interceptor, served)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable(
            server,
            (*served, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name),
        )
        for name in ("", *ALL_SERVICES):
            await self._health.set(name, _NOT_SERVING)
        address = f"{s.grpc_host}:{s.grpc_port}"
        tls = transport.tls if transport is not None else None
        try:
            if tls is None:
                port = server.add_insecure_port(address)
                self._local_port = port
            else:
                port = server.add_secure_port(address, _server_credentials(tls))
                # The REST gateway of this process (or its workers) reaches the service on a
                # loopback-only plaintext port: API keys still apply there.
                self._local_port = server.add_insecure_port("127.0.0.1:0")
        except RuntimeError:  # grpcio raises where older releases returned port 0
            port = 0
        if port == 0:
            raise OSError(
                f"cannot bind gRPC to {address}: the port is in use or the address is not "
                "this machine's (--grpc-host, --grpc-port)"
            )
        await server.start()
        self._started = _Started(server, port)
        log.info("gRPC listening on %s:%d", s.grpc_host, port)
        return port

    def job_manager(self) -> JobManager:
        """The async job manager (NotReadyError until the models loaded; UNAVAILABLE with the
        reason when the job store could not be opened)."""
        if self._jobs is None:
            raise NotReadyError(self._jobs_unavailable or "the server is still loading")
        return self._jobs

    async def _start_jobs(self, models: ModelSet) -> None:
        """Open the job store and start the worker (resuming jobs a dead process left)."""
        settings = self._job_settings
        if settings is None or not settings.jobs:
            return
        data_dir = settings.data_dir or data_dir_default()
        loop = asyncio.get_running_loop()
        store: JobStore
        try:
            if settings.jobs_store == "sqlite":
                store = await loop.run_in_executor(None, SqliteJobStore, data_dir)
            else:
                from ember.service.async_jobs.redis_store import RedisJobStore

                store = await loop.run_in_executor(
                    None, RedisJobStore, settings.jobs_store, data_dir, settings.job_lease_s
                )
        except (DataDirInUseError, OSError) as exc:
            self._jobs_unavailable = f"async jobs are unavailable: {exc}"
            log.warning("%s", self._jobs_unavailable)
            return
        self._job_store = store
        self._jobs = JobManager(
            store,
            models,
            max(1, settings.rows_per_part),
            WebhookPolicy(
                settings.webhook_secret, settings.webhook_attempts, settings.webhook_backoff_s
            ),
            settings.input_dir,
        )
        await self._jobs.start()
        log.info("jobs in %s", data_dir)

    async def _stop_jobs(self) -> None:
        if self._jobs is not None:
            await self._jobs.stop()
            self._jobs = None
        if self._job_store is not None:
            await asyncio.to_thread(self._job_store.close)
            self._job_store = None

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
        threads = self._threads = SharedThreads(s.tokenizer_workers)
        try:
            entries = model_entries(s)
            for entry in entries:
                cores.append(await self._load_one(entry.engine, entry.settings, threads))
            aliases = {
                alias: core.info.model_id
                for entry, core in zip(entries, cores, strict=True)
                for alias in entry.aliases
            }
            models = ModelSet(cores, aliases)
        except BaseException as exc:
            for core in cores:
                await core.close()
            threads.close()
            self._threads = None
            if isinstance(exc, ValueError):
                raise ModelLoadError(str(exc)) from exc
            raise
        first = models.first.info
        self._saved_switch_interval = _set_switch_interval(s.gil_switch_interval_ms, first.device)
        for core in models:
            core.start()
        self._handle.models = models
        await self._start_jobs(models)
        await self._publish_health()
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

    async def _load_one(
        self, config: EngineConfig, s: ServerSettings, threads: SharedThreads
    ) -> Core:
        """Load, warm up and (for a reduced CPU precision) self-check one model; ``s``: the
        settings with that model's own options."""
        return await load_core(config, s, threads, self._loader)

    async def _publish_health(self, unloaded: str | None = None) -> None:
        """Health SERVING for each served model's id, the services their tasks need, and
        overall; NOT_SERVING for the other services and the ``unloaded`` model's id."""
        models = self._handle.loaded()
        tasks = {t for core in models for t in core.info.tasks}
        serving = {_TASK_SERVICES[t] for t in tasks} | {MODEL_SERVICE, *models.ids, ""}
        names = [*ALL_SERVICES, *models.ids, ""] + ([unloaded] if unloaded else [])
        for name in names:
            ok = name in serving
            await self._health.set(name, _SERVING if ok else _NOT_SERVING)

    # -- run-time load and unload (AdminService) -----------------------------------------

    def _admin(self) -> ModelSet:
        if not self._settings.enable_admin:
            raise AdminDisabledError(
                "loading and unloading models is off; start the server with --enable-admin",
                reason="admin_disabled",
            )
        self._drain.refuse_if_draining()
        return self._handle.loaded()

    async def load_model(self, path: str, name: str | None, aliases: Sequence[str]) -> Core:
        """Load, warm up and self-check the model at ``path`` (a folder or hub id) with the
        server's options, as start-up does, then serve it as ``name`` (None: its folder's name)
        and ``aliases``. A name already served is ModelExistsError; a bad path ModelLoadError.
        One load or unload at a time; a load whose caller went away still finishes."""
        async with self._admin_lock:
            models = self._admin()
            models.check_free([n for n in (name, *aliases) if n])
            return await asyncio.shield(self._add_model(models, path, name, aliases))

    async def _add_model(
        self, models: ModelSet, path: str, name: str | None, aliases: Sequence[str]
    ) -> Core:
        entry = ModelEntry(path, name, tuple(aliases), self._settings)
        assert self._threads is not None  # models are loaded
        try:
            core = await self._load_one(entry.engine, entry.settings, self._threads)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load {path!r}: {exc}") from exc
        try:
            models.add(core, aliases)
        except BaseException:
            await core.close()
            raise
        core.start()
        await self._publish_health()
        info = core.info
        log.info(
            "loaded %s (%s, %s on %s)", info.model_id, info.kind.value, info.dtype, info.device
        )
        return core

    async def unload_model(self, name: str) -> str:
        """Stop routing requests to the model ``name`` (id or alias), answer those it already
        accepted (within ``shutdown_grace_s``), then free it; returns its id."""
        async with self._admin_lock:
            core = self._admin().remove(name)
            model_id = core.info.model_id
            await self._publish_health(unloaded=model_id)
            settled = await core.settle(self._settings.shutdown_grace_s)
            await core.close(abandon=not settled)
            metrics.forget_model(model_id)
            log.info("unloaded %s", model_id)
            return model_id

    async def begin_shutdown(self) -> None:
        """Health NOT_SERVING, new calls UNAVAILABLE, batch streams told to wind down (at once)."""
        self._drain.begin()
        await self._health.enter_graceful_shutdown()

    async def drain(self, deadline: float) -> None:
        """:meth:`begin_shutdown`, then wait, transports still open, until the calls in flight
        are answered and callers stopped sending (or answer those still running UNAVAILABLE
        near ``deadline``, event loop time). REST requests of this process are service calls:
        call this before closing either transport. Once it has run, later calls return at once."""
        if self._drained:
            return
        loop = asyncio.get_running_loop()
        await self.begin_shutdown()
        # Leave the end of the grace to answer what is still running and close connections.
        margin = min(_ANSWER_MARGIN_S, max(deadline - loop.time(), 0.0) / 4)
        if await self._drain.wait_idle(deadline - margin - loop.time()):
            await self._drain.wait_quiet(_QUIET_S, deadline - margin)
            log.info("calls in flight answered; %.2fs of the grace left", deadline - loop.time())
        else:
            expired = self._drain.expire()
            log.warning("shutdown grace over: answering %d calls in flight UNAVAILABLE", expired)
            await self._drain.wait_idle(deadline - loop.time())
        self._drained = True

    async def stop(self, grace: float | None = None, *, deadline: float | None = None) -> None:
        """Shut down gracefully, finished by ``deadline`` (event loop time; default: now +
        ``grace``, default ``shutdown_grace_s``): :meth:`drain`, close the transport, release
        the model."""
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + (self._settings.shutdown_grace_s if grace is None else grace)
        await self.drain(deadline)
        if self._started is not None:
            await self._started.server.stop(max(deadline - loop.time(), 0.0))
            log.info("gRPC transport closed; %.2fs of the grace left", deadline - loop.time())
        await self._stop_jobs()
        if self._handle.models is not None:
            # Past the grace, the batch still running answers nobody: interrupt it if the
            # engine can, so that the process exits in time.
            for core in self._handle.models:
                await core.close(abandon=self._drain.expired)
            self._handle.models = None
        if self._threads is not None:
            self._threads.close()
            self._threads = None
        if self._saved_switch_interval is not None:
            sys.setswitchinterval(self._saved_switch_interval)
            self._saved_switch_interval = None
