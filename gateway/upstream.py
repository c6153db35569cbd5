"""The gateway's connection to the Ember gRPC service: one ``grpc.aio`` channel, typed stubs.

The channel is opened in the event loop that serves HTTP (``Upstream.open`` from the app's
lifespan) and closed with it. :meth:`Upstream.call` runs one unary call for one HTTP request,
over the channel or, for the methods the service in this process has, directly (see
:mod:`ember.service.local`), with the same error and cancellation handling:
it carries the request id as ``x-request-id`` metadata, applies the request's deadline, and
cancels the call when the HTTP caller disconnects (hedging clients cancel their losers), so
the service drops work nobody waits for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any, Generic, Protocol, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2
from starlette.types import Receive

from ember.gateway import errors, tracing
from ember.gateway.security import ApiKeys
from ember.v1 import (
    admin_pb2,
    classify_pb2,
    embed_pb2,
    jobs_pb2,
    model_pb2,
    rerank_pb2,
    token_classification_pb2,
)

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)
T_co = TypeVar("T_co", covariant=True)

# Vectors of 1024 inputs at 4096 dimensions are 16 MiB; the service bounds sizes itself.
_CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    # Pings only while calls are in flight, at a pace the default server policy accepts,
    # so a dead upstream fails in-flight calls instead of hanging them.
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 0),
]

_HEALTH_TIMEOUT_S = 5.0


def _serialize(message: Message) -> bytes:
    # The bound method: ``Message.SerializeToString`` itself is the abstract base's.
    return message.SerializeToString()


class LocalCaller(Protocol):
    """The service's unary RPCs in this process, called without the transport (what
    :class:`ember.service.local.LocalCalls` provides). A failed call raises a
    ``grpc.RpcError`` with ``code()`` and ``details()``."""

    def __contains__(self, path: object) -> bool: ...

    async def call(
        self, path: str, request: Message, *, timeout: float | None, request_id: str
    ) -> Any: ...


class Running(Protocol[T_co]):
    """A call in progress, on either transport: awaited for its answer, cancellable."""

    def cancel(self) -> bool: ...

    def __await__(self) -> Generator[Any, None, T_co]: ...


class Rpc(Generic[Req, Resp]):
    """One unary RPC of the upstream, typed, bound to the channel once."""

    def __init__(self, channel: grpc.aio.Channel, path: str, response_type: type[Resp]) -> None:
        self.path = path
        self.callable: grpc.aio.UnaryUnaryMultiCallable[Req, Resp] = channel.unary_unary(
            path,
            request_serializer=_serialize,
            response_deserializer=response_type.FromString,
        )


def _path(service: str, method: str) -> str:
    return f"/{service}/{method}"


class Upstream:
    """The channel to the gRPC service and one bound callable per RPC the gateway uses."""

    def __init__(
        self, target: str, local: LocalCaller | None = None, keys: ApiKeys | None = None
    ) -> None:
        """``local``: the service in this process, called directly for the RPCs it has (the
        channel to ``target`` still carries the health checks). ``keys``: the gateway's API
        keys; calls over the channel carry the first (the service checks the same keys)."""
        self.target = target
        self._channel: grpc.aio.Channel | None = None
        self._local = local
        self._auth: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {keys.first}"),) if keys is not None else ()
        )

    async def open(self) -> None:
        """Create the channel (it connects lazily) and bind the RPCs. Call in the serving loop."""
        channel = grpc.aio.insecure_channel(self.target, options=_CHANNEL_OPTIONS)
        self._channel = channel
        embed, classify = "ember.v1.EmbedService", "ember.v1.ClassifyService"
        rerank, tokens = "ember.v1.RerankService", "ember.v1.TokenClassificationService"
        model = "ember.v1.ModelService"
        self.embed: Rpc[embed_pb2.EmbedRequest, embed_pb2.EmbedResponse] = Rpc(
            channel, _path(embed, "Embed"), embed_pb2.EmbedResponse
        )
        self.embed_sparse: Rpc[embed_pb2.EmbedSparseRequest, embed_pb2.EmbedSparseResponse] = Rpc(
            channel, _path(embed, "EmbedSparse"), embed_pb2.EmbedSparseResponse
        )
        self.similarity: Rpc[embed_pb2.SimilarityRequest, embed_pb2.SimilarityResponse] = Rpc(
            channel, _path(embed, "Similarity"), embed_pb2.SimilarityResponse
        )
        self.encode: Rpc[embed_pb2.EncodeRequest, embed_pb2.EncodeResponse] = Rpc(
            channel, _path(embed, "Encode"), embed_pb2.EncodeResponse
        )
        self.embed_tokens: Rpc[embed_pb2.EmbedTokensRequest, embed_pb2.EmbedTokensResponse] = Rpc(
            channel, _path(embed, "EmbedTokens"), embed_pb2.EmbedTokensResponse
        )
        self.classify: Rpc[classify_pb2.ClassifyRequest, classify_pb2.ClassifyResponse] = Rpc(
            channel, _path(classify, "Classify"), classify_pb2.ClassifyResponse
        )
        self.rerank: Rpc[rerank_pb2.RerankRequest, rerank_pb2.RerankResponse] = Rpc(
            channel, _path(rerank, "Rerank"), rerank_pb2.RerankResponse
        )
        self.predict_tokens: Rpc[
            token_classification_pb2.PredictTokensRequest,
            token_classification_pb2.PredictTokensResponse,
        ] = Rpc(
            channel,
            _path(tokens, "PredictTokens"),
            token_classification_pb2.PredictTokensResponse,
        )
        self.model_info: Rpc[model_pb2.GetModelInfoRequest, model_pb2.GetModelInfoResponse] = Rpc(
            channel, _path(model, "GetModelInfo"), model_pb2.GetModelInfoResponse
        )
        self.list_models: Rpc[model_pb2.ListModelsRequest, model_pb2.ListModelsResponse] = Rpc(
            channel, _path(model, "ListModels"), model_pb2.ListModelsResponse
        )
        self.tokenize: Rpc[model_pb2.TokenizeRequest, model_pb2.TokenizeResponse] = Rpc(
            channel, _path(model, "Tokenize"), model_pb2.TokenizeResponse
        )
        self.decode: Rpc[model_pb2.DecodeRequest, model_pb2.DecodeResponse] = Rpc(
            channel, _path(model, "Decode"), model_pb2.DecodeResponse
        )
        admin = "ember.v1.AdminService"
        self.load_model: Rpc[admin_pb2.LoadModelRequest, admin_pb2.LoadModelResponse] = Rpc(
            channel, _path(admin, "LoadModel"), admin_pb2.LoadModelResponse
        )
        self.unload_model: Rpc[admin_pb2.UnloadModelRequest, admin_pb2.UnloadModelResponse] = Rpc(
            channel, _path(admin, "UnloadModel"), admin_pb2.UnloadModelResponse
        )
        jobs = "ember.v1.JobService"
        self.submit_job: Rpc[jobs_pb2.SubmitJobRequest, jobs_pb2.SubmitJobResponse] = Rpc(
            channel, _path(jobs, "SubmitJob"), jobs_pb2.SubmitJobResponse
        )
        self.get_job: Rpc[jobs_pb2.GetJobRequest, jobs_pb2.GetJobResponse] = Rpc(
            channel, _path(jobs, "GetJob"), jobs_pb2.GetJobResponse
        )
        self.cancel_job: Rpc[jobs_pb2.CancelJobRequest, jobs_pb2.CancelJobResponse] = Rpc(
            channel, _path(jobs, "CancelJob"), jobs_pb2.CancelJobResponse
        )
        self.list_jobs: Rpc[jobs_pb2.ListJobsRequest, jobs_pb2.ListJobsResponse] = Rpc(
            channel, _path(jobs, "ListJobs"), jobs_pb2.ListJobsResponse
        )
        self._health: Rpc[Message, Message] = Rpc(
            channel, "/grpc.health.v1.Health/Check", health_pb2.HealthCheckResponse
        )

    async def close(self) -> None:
        """Close the channel; in-flight calls end with CANCELLED."""
        if self._channel is not None:
            await self._channel.close(None)
            self._channel = None

    async def call(
        self,
        method: Rpc[Req, Resp],
        request: Req,
        *,
        timeout: float | None,
        request_id: str,
        receive: Receive | None = None,
    ) -> Resp:
        """Run one unary call; failures become :class:`~ember.gateway.errors.ApiError`.

        ``timeout`` is the gRPC deadline in seconds (None: none). ``receive`` is the HTTP
        request's ASGI receive, read only after its body was consumed: when it reports the
        caller gone, the call is cancelled and CLIENT_CLOSED is raised.
        """
        running = self._start(method, request, timeout, request_id)
        watcher: asyncio.Task[None] | None = None
        if receive is not None:
            watcher = asyncio.ensure_future(_wait_for_disconnect(receive))
            watcher.add_done_callback(lambda w: w.cancelled() or running.cancel())
        try:
            return await running
        except grpc.RpcError as error:
            if _caller_gone(watcher):
                raise _client_closed() from None
            raise errors.ApiError.from_rpc(error) from None
        except asyncio.CancelledError:
            if _caller_gone(watcher):
                raise _client_closed() from None
            raise
        finally:
            if watcher is not None:
                watcher.cancel()

    def _start(
        self, method: Rpc[Req, Resp], request: Req, timeout: float | None, request_id: str
    ) -> Running[Resp]:
        """Start the call on its transport: the service in this process when it has the
        method, else the channel. Either fails with a ``grpc.RpcError``."""
        local = self._local
        if local is not None and method.path in local:
            return asyncio.ensure_future(
                local.call(method.path, request, timeout=timeout, request_id=request_id)
            )
        metadata: tuple[tuple[str, str], ...] = (("x-request-id", request_id), *self._auth)
        if tracing.enabled():
            metadata += tracing.outgoing_metadata()
        return method.callable(request, timeout=timeout, metadata=metadata)

    async def serving(self) -> bool:
        """Whether the upstream's overall health status is SERVING."""
        try:
            response = await self._health.callable(
                health_pb2.HealthCheckRequest(service=""),
                timeout=_HEALTH_TIMEOUT_S,
                metadata=self._auth,
            )
        except grpc.RpcError:
            return False
        status: int = getattr(response, "status", 0)
        return bool(status == health_pb2.HealthCheckResponse.SERVING)


def _caller_gone(watcher: asyncio.Task[None] | None) -> bool:
    return watcher is not None and watcher.done() and not watcher.cancelled()


def _client_closed() -> errors.ApiError:
    return errors.ApiError(errors.CLIENT_CLOSED, "the client closed the request")


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
