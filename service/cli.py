"""The ``ember`` command line: ``ember serve``, ``ember prepare``, ``ember gateway`` and
``ember info``.

``ember serve`` runs the gRPC service and, unless ``--http false``, the REST gateway in the
same process and event loop (the gateway talks to the service over loopback gRPC, so every
request passes the same validation and admission); with ``--http-workers N`` (N > 1) the
gateway runs instead in N worker processes on the same HTTP port (:mod:`ember.gateway.workers`).
``ember gateway`` runs the gateway alone in front of a remote service. SIGTERM/SIGINT shut down
gracefully: health goes NOT_SERVING, new requests are refused, in-flight ones finish (gateway
workers first, then the service).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from ember.engines.config import setting
from ember.engines.errors import EmberError
from ember.gateway.security import Transport, is_loopback
from ember.gateway.settings import GatewaySettings
from ember.service import options
from ember.service.async_jobs.settings import JobSettings
from ember.service.bulk.settings import SERVER_ONLY, BatchSettings
from ember.service.logs import (
    check_log_settings,
    configure_logging,
    log_format_setting,
    log_level_setting,
)
from ember.service.ray_settings import RaySettings
from ember.service.runtime import resolve_event_loop, run_event_loop, settle_heap
from ember.service.settings import ServerSettings

if TYPE_CHECKING:
    from ember.gateway.server import GatewayServer
    from ember.gateway.workers import GatewayWorkers
    from ember.service.local import LocalCalls

log = logging.getLogger("ember")


@dataclass(frozen=True)
class ProcessSettings:
    """What ``ember serve`` runs besides the gRPC service, and how the process runs."""

    http: bool = setting(
        True,
        "--http",
        "EMBER_HTTP",
        "Also serve the REST gateway (OpenAI / TEI / BEI routes).",
        "BOOL",
    )
    http_workers: int = setting(
        1,
        "--http-workers",
        "EMBER_HTTP_WORKERS",
        "REST gateway processes. 1: the gateway runs in the server's own process "
        "and event loop. N > 1: N worker processes share the HTTP port (SO_REUSEPORT on "
        "Linux), each with its own gRPC channel to the service; /metrics on any of them "
        "shows the sum over all workers and the service. More workers serve more small "
        "REST requests per second on machines with cores to spare (about one core each).",
        "N",
        minimum=1,
    )
    http_direct: bool = setting(
        True,
        "--http-direct",
        "EMBER_HTTP_DIRECT",
        "With the gateway in the server's own process (--http-workers 1), REST "
        "requests call the service directly instead of over loopback gRPC: the same "
        "servicers, admission, validation, errors and metrics, without a second protocol "
        "stack per request. false: every REST request is a gRPC call.",
        "BOOL",
    )
    otlp_endpoint: str | None = setting(
        None,
        "--otlp-endpoint",
        "EMBER_OTLP_ENDPOINT",
        "OpenTelemetry collector (OTLP/gRPC, e.g. http://localhost:4317) to send "
        "request traces to: a span per REST request and gRPC call, with tokenize, queue and "
        "forward stages; a W3C traceparent header or metadata entry continues the caller's "
        "trace. Unset: no tracing (and no cost).",
        "URL",
    )
    otlp_service_name: str = setting(
        "ember",
        "--otlp-service-name",
        "EMBER_OTLP_SERVICE_NAME",
        "service.name of the traces sent to --otlp-endpoint.",
        "NAME",
    )
    event_loop: str = setting(
        "auto",
        "--event-loop",
        "EMBER_EVENT_LOOP",
        "Event loop of the server (and gateway workers): auto (uvloop when "
        "installed), uvloop or asyncio.",
        "LOOP",
    )


#: Gateway settings ``ember serve`` sets itself: the upstream is its own gRPC port, and one
#: shutdown grace (--shutdown-grace) covers both transports.
SERVE_EXCLUDED_GATEWAY_SETTINGS = frozenset({"upstream", "http_shutdown_grace_s"})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ember",
        description="Ember: gRPC + REST inference server for embedding, reranking, "
        "classification and NER models.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="serve a model over gRPC (and REST)",
        description="Serve a model over gRPC and, by default, the REST gateway. Every option "
        "can also be set by its environment variable.",
    )
    options.add_arguments(serve, ServerSettings, "model and gRPC service")
    options.add_arguments(
        serve, GatewaySettings, "REST gateway", exclude=SERVE_EXCLUDED_GATEWAY_SETTINGS
    )
    options.add_arguments(serve, ProcessSettings, "process")
    options.add_arguments(serve, JobSettings, "async jobs")
    options.add_arguments(serve, RaySettings, "Ray Serve (scale out)")
    prepare = sub.add_parser(
        "prepare",
        help="load a model once to build its caches (e.g. the exported ONNX graph), then exit",
        description="Load the model the same options would serve, building any cached "
        "artefacts (such as the exported ONNX graph), so the next `ember serve` starts fast.",
    )
    options.add_arguments(prepare, ServerSettings, "model and engine")
    gateway = sub.add_parser(
        "gateway",
        help="run only the REST gateway in front of a remote gRPC service",
        description="Run the REST gateway alone, forwarding to --upstream.",
    )
    options.add_arguments(gateway, GatewaySettings, "REST gateway")
    options.add_arguments(
        gateway,
        ProcessSettings,
        "process",
        exclude=frozenset({"http", "http_workers", "http_direct"}),
    )
    options.add_arguments(gateway, _LogSettings, "logging")
    batch = sub.add_parser(
        "batch",
        help="run a model over a corpus (Parquet, JSONL or CSV) into Parquet parts, resumably",
        description="Run every row of INPUT (a .parquet, .jsonl or .csv file, or a folder of "
        "them read in name order) through the model, as `ember serve` would run it, and write "
        "the results in input order to the folder OUTPUT as Parquet parts, each written "
        "atomically. Rerun the same command after an interruption (even kill -9): the parts "
        "already written are kept and only the others are computed.",
    )
    batch.add_argument(
        "input",
        metavar="INPUT",
        help="input file or folder (with --ray-address, also a URI: s3://, gs://, file://, ...)",
    )
    batch.add_argument("output", type=Path, metavar="OUTPUT", help="output folder of parts")
    options.add_arguments(batch, BatchSettings, "batch")
    options.add_arguments(batch, ServerSettings, "model and engine", exclude=SERVER_ONLY)
    info = sub.add_parser(
        "info",
        help="show this machine's CPU features and which precision modes suit it",
        description="Print the CPU's instruction-set class and flags as Ember reads them, and "
        "which CPU precision modes it serves (and how), without loading a model.",
    )
    info.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


@dataclass(frozen=True)
class _LogSettings:
    log_level: str = log_level_setting()
    log_format: str = log_format_setting()

    def __post_init__(self) -> None:
        check_log_settings(self)


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def _start_gateway(
    settings: GatewaySettings, local: LocalCalls | None = None
) -> GatewayServer:
    from ember.gateway.server import GatewayServer

    gateway = GatewayServer(settings, local=local)
    await gateway.start()
    return gateway


async def serve(
    server_settings: ServerSettings,
    gateway_settings: GatewaySettings | None,
    stop: asyncio.Event,
    *,
    http_workers: int = 1,
    event_loop: str = "auto",
    http_direct: bool = True,
    otlp: tuple[str, str] | None = None,
    transport: Transport | None = None,
    jobs: JobSettings | None = None,
) -> None:
    """Run the service (and gateway) until ``stop`` is set, then shut down gracefully.

    ``jobs``: where async jobs are kept (None: no JobService).

    ``transport``: API keys, TLS and header limits of the gRPC service (the gateway takes
    them from ``gateway_settings``).

    ``http_workers`` > 1 runs the gateway in that many worker processes instead of this one
    (``otlp``: the tracing endpoint and service name they trace to, when tracing is on); with
    one, ``http_direct`` has it call the service in-process (:mod:`ember.service.local`).
    """
    from ember.service.server import EmberServer

    server = EmberServer(server_settings, transport=transport, jobs=jobs)
    grpc_port = await server.start()
    gateway: GatewayServer | GatewayWorkers | None = None
    load = asyncio.ensure_future(server.load())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        if gateway_settings is not None:
            gateway_settings = dataclasses.replace(
                gateway_settings,
                upstream=server.local_target,
                http_shutdown_grace_s=server_settings.shutdown_grace_s,
            )
            if http_workers > 1:
                from ember.gateway.workers import GatewayWorkers

                gateway = GatewayWorkers(
                    gateway_settings,
                    http_workers,
                    event_loop=event_loop,
                    log_level=server_settings.log_level,
                    log_format=server_settings.log_format,
                    otlp=otlp,
                )
                await gateway.start()
            else:
                direct = server.local_calls() if http_direct else None
                gateway = await _start_gateway(gateway_settings, direct)
        done, _ = await asyncio.wait({load, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if load in done:
            load.result()  # re-raise a load failure
            settle_heap()
            print(
                f"ember: ready grpc_port={grpc_port}"
                + (f" http_port={gateway.port}" if gateway is not None else ""),
                flush=True,
            )
            await stopping
    finally:
        # One grace for both transports, from the signal: the service refuses new calls and
        # tells streams to end at once (REST answers carry Connection: close); once what was
        # accepted is answered (REST requests are service calls) and callers stopped sending,
        # both transports close, all by the same deadline.
        deadline = asyncio.get_running_loop().time() + server_settings.shutdown_grace_s
        log.info("shutting down (grace %.1fs)", server_settings.shutdown_grace_s)
        load.cancel()
        stopping.cancel()
        await server.begin_shutdown()
        if gateway is not None:
            gateway.begin_shutdown()
        await server.drain(deadline)
        stops = [server.stop(deadline=deadline)]
        if gateway is not None:
            stops.append(gateway.stop(deadline=deadline))
        await asyncio.gather(*stops)


def _prepare(settings: ServerSettings) -> None:
    from ember.engines.onnx_export import check_cache_writable, graph_cache
    from ember.engines.registry import load_engine
    from ember.service.model_entries import engine_configs

    for config in engine_configs(settings):
        # Preparing is writing the cache: where it cannot be written, say so (serve would fall
        # back to torch, and "prepared" would be untrue).
        check_cache_writable(graph_cache(config.cache_dir))
        started = time.monotonic()
        engine = load_engine(config)
        try:
            info = engine.info
            print(
                f"ember: prepared {info.model_id} ({info.backend}, {info.dtype} on "
                f"{info.device}) in {time.monotonic() - started:.1f}s",
                flush=True,
            )
        finally:
            engine.close()


async def _gateway_only(settings: GatewaySettings, stop: asyncio.Event) -> None:
    gateway = await _start_gateway(settings)
    settle_heap()
    print(f"ember: gateway ready http_port={gateway.port} upstream={settings.upstream}", flush=True)
    try:
        await stop.wait()
    finally:
        await gateway.stop()


async def _serve_command(
    server_settings: ServerSettings,
    gateway_settings: GatewaySettings | None,
    process: ProcessSettings,
    transport: Transport,
    jobs: JobSettings,
) -> None:
    stop = asyncio.Event()
    _install_signal_handlers(stop)
    with _tracing(process):
        await serve(
            server_settings,
            gateway_settings,
            stop,
            http_workers=process.http_workers,
            event_loop=process.event_loop,
            http_direct=process.http_direct,
            otlp=_otlp(process),
            transport=transport,
            jobs=jobs,
        )


def _warn_if_open(transport: Transport, hosts: Sequence[str]) -> None:
    """Warn once per non-loopback address served without an API key (binding all interfaces
    stays the default: the container convention). gRPC and REST usually bind the same
    address, which gets one warning, not one per transport."""
    if transport.keys is not None:
        return
    for host in dict.fromkeys(hosts):
        if not is_loopback(host):
            log.warning(
                "serving %s without an API key: anyone who can reach this address can use "
                "the model; set --api-key / --api-key-file, or bind 127.0.0.1",
                host,
            )


async def _gateway_command(settings: GatewaySettings, process: ProcessSettings) -> None:
    stop = asyncio.Event()
    _install_signal_handlers(stop)
    with _tracing(process):
        await _gateway_only(settings, stop)


def _otlp(process: ProcessSettings) -> tuple[str, str] | None:
    if not process.otlp_endpoint:
        return None
    return process.otlp_endpoint, process.otlp_service_name


@contextlib.contextmanager
def _tracing(process: ProcessSettings) -> Iterator[None]:
    """Tracing on for the block when --otlp-endpoint is set; buffered spans sent at the end."""
    if not process.otlp_endpoint:
        yield
        return
    from ember.gateway import tracing

    try:
        tracing.configure(process.otlp_endpoint, process.otlp_service_name)
    except tracing.TracingUnavailableError as exc:
        _fail(str(exc))
    log.info("tracing to %s as %s", process.otlp_endpoint, process.otlp_service_name)
    try:
        yield
    finally:
        tracing.shutdown()


@contextlib.contextmanager
def _multiprocess_metrics() -> Iterator[None]:
    """Point prometheus_client at a fresh folder shared by this process and its gateway workers
    (unless PROMETHEUS_MULTIPROC_DIR is set already: then that folder is used, and the caller
    keeps it clean between runs). Must run before anything imports prometheus_client."""
    if os.environ.get(_MULTIPROC_ENV):
        yield
        return
    folder = tempfile.mkdtemp(prefix="ember-metrics-")
    os.environ[_MULTIPROC_ENV] = folder
    try:
        yield
    finally:
        os.environ.pop(_MULTIPROC_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _check_engine_options(settings: ServerSettings) -> None:
    """Raise ValueError (which :func:`main` answers with a one-line error) before anything
    starts when the engine options are invalid, e.g. an unknown --dtype or --device value."""
    from ember.service.model_entries import engine_configs

    engine_configs(settings)


def _info(as_json: bool) -> None:
    import json

    from ember.engines.cpu_features import cpu_features
    from ember.engines.openvino_int8 import openvino_int8_available
    from ember.engines.precision import cpu_modes

    features = cpu_features()
    modes = cpu_modes(features, openvino=openvino_int8_available())
    if as_json:
        report = {
            "cpu": {
                "isa": features.isa,
                "model_name": features.model_name,
                "flags": features.ordered_flags(),
            },
            "precision_modes": [dataclasses.asdict(mode) for mode in modes],
        }
        print(json.dumps(report, indent=2))
        return
    print(f"cpu: {features.describe()}")
    print("precision modes on this CPU:")
    for mode in modes:
        print(f"  {mode.name:<10} {'serves' if mode.served else 'refused':<8} {mode.note}")


def _batch(args: argparse.Namespace, env: Mapping[str, str]) -> None:
    from ember.service.bulk.command import batch

    settings = options.build(ServerSettings, args, env)
    _check_engine_options(settings)
    configure_logging(settings.log_level, settings.log_format)
    batch_settings = options.build(BatchSettings, args, env)
    try:
        if batch_settings.ray_address is not None:
            try:
                from ember.service.bulk.ray_data import batch_on_ray
            except ImportError as exc:
                _fail(f"--ray-address needs Ray Data: pip install 'ember-serve[ray]' ({exc})")
            summary = batch_on_ray(args.input, args.output, settings, batch_settings)
        else:
            summary = run_event_loop(
                batch(args.input, args.output, settings, batch_settings), "auto"
            )
    except KeyboardInterrupt:
        # Ctrl-C: each part is written whole or not at all, so what is on disk stands.
        print(
            f"ember batch: interrupted; the parts written so far are kept in {args.output}: "
            "run the same command again to finish",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
    print(
        f"ember batch: done: {summary.rows:,} rows in {args.output} "
        f"({summary.computed_rows:,} computed now in {summary.written_parts} parts, "
        f"{summary.tokens:,} tokens)",
        flush=True,
    )


def _fail(message: str) -> NoReturn:
    print(f"ember: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def parse_serve_settings(
    argv: Sequence[str], env: Mapping[str, str] | None = None
) -> tuple[ServerSettings, GatewaySettings, RaySettings]:
    """``ember serve``'s settings from its flags (and ``env``): what the Ray Serve application
    builder uses, so ``serve run`` takes the same options."""
    args = _parser().parse_args(["serve", *argv])
    environ = os.environ if env is None else env
    return (
        options.build(ServerSettings, args, environ),
        options.build(GatewaySettings, args, environ),
        options.build(RaySettings, args, environ),
    )


def _serve_on_ray(server: ServerSettings, gateway: GatewaySettings, ray: RaySettings) -> None:
    ray.scale()  # a ValueError is answered by main
    try:
        from ember.service.ray_serve import serve_on_ray
    except ImportError as exc:
        _fail(f"--ray-address needs Ray Serve: pip install 'ember-serve[ray]' ({exc})")
    serve_on_ray(server, gateway, ray)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``ember`` command."""
    args = _parser().parse_args(argv)
    env = os.environ
    try:
        process = options.build(ProcessSettings, args, env)
        resolve_event_loop(process.event_loop)
        if args.command == "info":
            _info(args.json)
        elif args.command == "prepare":
            settings = options.build(ServerSettings, args, env)
            _check_engine_options(settings)
            configure_logging(settings.log_level, settings.log_format)
            _prepare(settings)
        elif args.command == "batch":
            _batch(args, env)
        elif args.command == "serve":
            server_settings = options.build(ServerSettings, args, env)
            _check_engine_options(server_settings)
            shared = options.build(GatewaySettings, args, env)
            transport = Transport.from_settings(shared)
            if server_settings.enable_admin and transport.keys is None:
                _fail(
                    "--enable-admin needs an API key (--api-key or --api-key-file): the admin "
                    "API loads and unloads models"
                )
            ray_settings = options.build(RaySettings, args, env)
            if ray_settings.ray_address is not None:
                configure_logging(server_settings.log_level, server_settings.log_format)
                _serve_on_ray(server_settings, shared, ray_settings)
                return
            gateway_settings = shared if process.http else None
            configure_logging(server_settings.log_level, server_settings.log_format)
            hosts = [server_settings.grpc_host]
            if gateway_settings is not None:
                hosts.append(gateway_settings.http_host)
            _warn_if_open(transport, hosts)
            workers = process.http_workers if gateway_settings is not None else 1
            metrics = _multiprocess_metrics() if workers > 1 else contextlib.nullcontext()
            with metrics:
                run_event_loop(
                    _serve_command(
                        server_settings,
                        gateway_settings,
                        process,
                        transport,
                        options.build(JobSettings, args, env),
                    ),
                    process.event_loop,
                )
        else:
            logs = options.build(_LogSettings, args, env)
            configure_logging(logs.log_level, logs.log_format)
            gateway_only = options.build(GatewaySettings, args, env)
            Transport.from_settings(gateway_only)  # key and TLS files readable: fail early
            run_event_loop(_gateway_command(gateway_only, process), process.event_loop)
    except EmberError as exc:
        _fail(exc.message)
    except (OSError, ValueError) as exc:  # unbindable address, unreadable key or TLS file
        _fail(str(exc))
    except KeyboardInterrupt:  # Ctrl-C in a one-shot command (`ember serve` handles SIGINT)
        print("ember: interrupted", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
