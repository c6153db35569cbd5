"""Ember on Ray Serve: replicas of the same server core behind Ray Serve's HTTP and gRPC proxies.

Each replica (:class:`EmberReplica`, one Ray actor) owns an :class:`EmberServer` — its
engines, schedulers and admission, loaded once — exactly as ``ember serve`` builds it:

- REST: the gateway's FastAPI app (:func:`ember.gateway.app.create_app`, the same routes,
  middleware and errors) is the replica's ASGI app (``serve.ingress``), calling its server in
  process; Ray Serve's HTTP proxy routes requests to replicas.
- gRPC: every unary RPC, and the health check, through Ray Serve's gRPC proxy
  (:data:`GRPC_SERVICER_FUNCTIONS` registers them; each lands on the replica method of its
  name, which makes the same in-process call the gateway makes: admission, validation, errors,
  API key and metrics of one server). The batch streams (``EmbedStream``, ...) are not carried
  by the proxy: each replica serves them, and everything else, on its own gRPC port
  (``--replica-grpc-port``).

Overload answers RESOURCE_EXHAUSTED / 429 from each replica's own admission: Ray's per-replica
cap (``max_ongoing_requests``) is set above ``--max-concurrent-requests`` so that Ember speaks
first. Autoscaling follows the requests in flight per replica, with one engine batch
(``--max-batch-requests``) as the target. Scaling down (and ``serve.delete``) stops routing to
a replica, waits for its requests, then drains its server as SIGTERM does.

Run by ``ember serve --ray-address ...`` (:func:`serve_on_ray`) or as an application:
``serve run ember.service.ray_serve:app model=/path autoscale=1:4`` (:func:`app`; any
``ember serve`` option, by its flag name without dashes).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ray import serve
from ray.serve.handle import DeploymentHandle

from ember.clients.balancing import unary_methods
from ember.gateway.app import create_app
from ember.gateway.security import Transport
from ember.gateway.settings import GatewaySettings
from ember.service.interceptors import REQUEST_ID_KEY, RETRY_AFTER_MS, RETRY_PUSHBACK_KEY, lenient
from ember.service.local import LocalRpcError
from ember.service.logs import configure_logging
from ember.service.ray_settings import RaySettings, no_usage_stats_for_local_cluster
from ember.service.server import EmberServer
from ember.service.settings import ServerSettings

log = logging.getLogger("ember")

APP_NAME = "ember"
#: Ember's gRPC services as Ray Serve's gRPC proxy registers them (``grpc_servicer_functions``).
GRPC_SERVICER_FUNCTIONS = ["ember.service.ray_serve.add_unary_services_to_server"]
#: Ray's cap on requests in a replica, in multiples of --max-concurrent-requests: above it, so
#: that overload is answered by the replica's admission (RESOURCE_EXHAUSTED / 429).
_ONGOING_PER_ADMITTED = 2
_DEFAULT_BATCH_REQUESTS = 64


def add_unary_services_to_server(servicer: Any, server: Any) -> None:
    """Register every unary RPC of Ember (and ``grpc.health.v1.Health/Check``) on ``server``
    for ``servicer``. Ray Serve's proxy replaces the behaviours with routing to the replicas and
    keeps the deserializers: lenient ones, so that bytes which do not parse reach the replica
    and answer INVALID_ARGUMENT as on one server."""
    by_service: dict[str, dict[str, grpc.RpcMethodHandler[Any, Any]]] = {}
    for service, method in unary_methods():
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        by_service.setdefault(service, {})[method.name] = grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name),
            request_deserializer=lenient(request_class.FromString),
            response_serializer=response_class.SerializeToString,
        )
    # One call per service: Ray's server reroutes only the first handler of each call.
    for service, handlers in by_service.items():
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))


_PATHS = {method.name: f"/{service}/{method.name}" for service, method in unary_methods()}
_RESPONSES = {
    method.name: message_factory.GetMessageClass(method.output_type)
    for _, method in unary_methods()
}


class _Replica:
    """One Ember server in a Ray Serve replica (see the module docstring)."""

    # Ray Serve awaits an async constructor (the model loads on the replica's event loop).
    async def __init__(  # type: ignore[misc]
        self, server_settings: ServerSettings, gateway_settings: GatewaySettings, grpc_port: int
    ) -> None:
        configure_logging(server_settings.log_level, server_settings.log_format)
        transport = Transport.from_settings(gateway_settings)
        settings = dataclasses.replace(server_settings, grpc_port=grpc_port)
        self._server = EmberServer(settings, transport=transport)
        port = await self._server.start()
        await self._server.load()
        self._keys = transport.keys
        self._open = transport.open_grpc_services
        self._local = self._server.local_calls()
        self._gateway_settings = dataclasses.replace(
            gateway_settings,
            upstream=self._server.local_target,
            http_shutdown_grace_s=server_settings.shutdown_grace_s,
        )
        self._health_channel = grpc.aio.insecure_channel(self._server.local_target)
        self._health = health_pb2_grpc.HealthStub(self._health_channel)
        self._grace = server_settings.shutdown_grace_s
        log.info("ember replica serving; its own gRPC port (batch streams): %d", port)

    def __serve_build_asgi_app__(self) -> Any:
        """The REST gateway, calling this replica's server in process."""
        return create_app(self._gateway_settings, self._local)

    async def check_health(self) -> None:
        """Ray Serve's health probe: the replica's own health service reports SERVING."""
        answer = await self._health.Check(health_pb2.HealthCheckRequest(), timeout=10)
        if answer.status != health_pb2.HealthCheckResponse.SERVING:
            raise RuntimeError("ember replica not SERVING")

    async def __del__(self) -> None:
        """Scaled down or deleted: Ray stopped routing here and waited for the requests in
        flight; drain and stop the server as SIGTERM does."""
        await self._health_channel.close(None)
        await self._server.stop(self._grace)

    async def _unary(self, name: str, request: Any, context: Any) -> Any:
        """The unary RPC ``name`` on this replica's server: the call the REST gateway makes."""
        path = _PATHS[name]
        metadata = dict(context.invocation_metadata() or ())
        service = path[1:].split("/", 1)[0]
        keys = self._keys if service not in self._open else None
        if keys is not None and not keys.check(metadata.get("authorization")):
            return _failed(
                context, name, grpc.StatusCode.UNAUTHENTICATED, "missing or invalid API key"
            )
        if name == "Check":
            try:
                return await self._health.Check(request, timeout=10)
            except grpc.aio.AioRpcError as error:
                return _failed(context, name, error.code(), error.details() or "")
        request_id = metadata.get(REQUEST_ID_KEY) or context.request_id() or ""
        try:
            return await self._local.call(path, request, timeout=None, request_id=request_id)
        except LocalRpcError as error:
            return _failed(context, name, error.code(), error.details())


def _rpc_method(name: str) -> Callable[[_Replica, Any, Any], Awaitable[Any]]:
    """The replica method Ray Serve's gRPC proxy calls for the unary RPC ``name``."""

    async def method(self: _Replica, request: Any, grpc_context: Any) -> Any:
        return await self._unary(name, request, grpc_context)

    method.__name__ = method.__qualname__ = name
    return method


# One method per unary RPC, derived from the descriptors, so that a new RPC is reachable
# through the proxy without a hand-written copy.
for _name in _PATHS:
    setattr(_Replica, _name, _rpc_method(_name))


def _failed(context: Any, name: str, code: grpc.StatusCode, details: str) -> Any:
    """End the call with ``code`` (and a retry pushback for the retryable ones), as the
    service's interceptor does; the proxy sends the status, not the empty message."""
    context.set_code(code)
    context.set_details(details)
    retry_ms = RETRY_AFTER_MS.get(code)
    if retry_ms is not None:
        context.set_trailing_metadata(((RETRY_PUSHBACK_KEY, str(retry_ms)),))
    return _RESPONSES[name]()


EmberReplica = serve.ingress()(_Replica)


def deployment_options(server: ServerSettings, ray: RaySettings) -> dict[str, Any]:
    """Ray Serve's options for the replicas (ValueError for malformed scale options)."""
    scale = ray.scale()
    options: dict[str, Any] = {
        "name": "Ember",
        "max_ongoing_requests": _ONGOING_PER_ADMITTED * server.max_concurrent_requests,
        "ray_actor_options": {"num_cpus": ray.replica_cpus, "num_gpus": ray.replica_gpus},
        "graceful_shutdown_timeout_s": server.shutdown_grace_s,
        "health_check_period_s": 5,
    }
    if scale is None:
        options["num_replicas"] = ray.replicas
    else:
        # One engine batch in flight per replica is its working point: more wait for the next
        # batch, so that is when another replica helps.
        target = server.max_batch_requests or _DEFAULT_BATCH_REQUESTS
        options["autoscaling_config"] = {
            "min_replicas": scale[0],
            "max_replicas": scale[1],
            "initial_replicas": max(scale[0], 1),
            "target_ongoing_requests": target,
            "upscale_delay_s": 3.0,
            "downscale_delay_s": 15.0,
        }
    return options


def application(
    server: ServerSettings, gateway: GatewaySettings, ray: RaySettings
) -> serve.Application:
    """The Ember application (bind it with ``serve.run``)."""
    deployment = serve.deployment(**deployment_options(server, ray))(EmberReplica)
    bound: serve.Application = deployment.bind(server, gateway, ray.replica_grpc_port)
    return bound


def app(args: Mapping[str, str]) -> serve.Application:
    """The application builder of ``serve run ember.service.ray_serve:app key=value ...``: the
    keys are ``ember serve``'s flags without the leading dashes (``model``, ``autoscale``,
    ``max-batch-requests`` or ``max_batch_requests``, ...), parsed by the same options."""
    from ember.service.cli import parse_serve_settings

    argv: list[str] = []
    for key, value in args.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    server, gateway, ray = parse_serve_settings(argv)
    return application(server, gateway, ray)


def serve_on_ray(
    server: ServerSettings, gateway: GatewaySettings, ray_settings: RaySettings
) -> None:
    """``ember serve --ray-address``: start (or join) the cluster, run the application with the
    proxies on --http-port and --grpc-port, and delete it on SIGTERM/SIGINT."""
    import ray

    no_usage_stats_for_local_cluster(ray_settings.ray_address)
    if ray_settings.ray_address == "local":
        # One endpoint for every replica: the proxy spreads over all nodes (Ray's default
        # prefers its own node's replicas, for a load balancer over every node's proxy).
        os.environ.setdefault("RAY_SERVE_PROXY_PREFER_LOCAL_NODE_ROUTING", "0")
        ray.init(include_dashboard=False)
    else:
        ray.init(address=ray_settings.ray_address)
    try:
        serve.start(
            http_options={"host": gateway.http_host, "port": gateway.http_port},
            grpc_options={
                "port": server.grpc_port,
                "grpc_servicer_functions": GRPC_SERVICER_FUNCTIONS,
            },
        )
        handle: DeploymentHandle[Any] = serve.run(
            application(server, gateway, ray_settings), name=APP_NAME, route_prefix="/"
        )
        del handle
        print(
            f"ember: ready on ray grpc_port={server.grpc_port} http_port={gateway.http_port}",
            flush=True,
        )
        _wait_for_signal()
        log.info("deleting the ember application (draining its replicas)")
        serve.delete(APP_NAME)
        if not serve.status().applications:
            # Nothing else on the cluster's Serve: stop its proxies too, so that the next
            # start applies its own HTTP and gRPC options (Serve keeps the first ones).
            serve.shutdown()  # type: ignore[no-untyped-call]
    finally:
        ray.shutdown()


def _wait_for_signal(signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT)) -> None:
    stop = threading.Event()
    for sig in signals:
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass


__all__ = [
    "GRPC_SERVICER_FUNCTIONS",
    "EmberReplica",
    "add_unary_services_to_server",
    "app",
    "application",
    "deployment_options",
    "serve_on_ray",
]
