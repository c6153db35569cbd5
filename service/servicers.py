"""The gRPC servicers: each RPC converts its request, calls the core, converts the answer.

Servicers get a request's core through a callable given the request's ``model`` field (see
:mod:`ember.service.models`), because they are registered before the models have loaded; until
they have, the callable raises NotReadyError (UNAVAILABLE). Batch streams end, after answering
every batch they read, when the server's :class:`Drain` begins (shutdown).

No validation or logic lives here (see :mod:`ember.service.core`); errors propagate as
:class:`~ember.engines.errors.EmberError` and the error interceptor maps them to status codes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from ember.engines.cpu_features import cpu_features
from ember.service import convert, streaming
from ember.service.core import Core
from ember.service.drain import Drain
from ember.service.models import ModelsHandle
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

Ctx = grpc.aio.ServicerContext[Any, Any]


class EmbedServicer(embed_pb2_grpc.EmbedServiceServicer):
    """ember.v1.EmbedService."""

    def __init__(self, core: Callable[[str], Core], drain: Drain | None = None) -> None:
        self._core = core
        self._stop = drain.started if drain is not None else None

    async def Embed(self, request: embed_pb2.EmbedRequest, context: Ctx) -> embed_pb2.EmbedResponse:
        core = self._core(request.model)
        result = await core.embed(convert.embed_job(request))
        return convert.embed_response(result, request.format, core.info.model_id)

    async def EmbedStream(
        self, request_iterator: AsyncIterator[embed_pb2.EmbedStreamRequest], context: Ctx
    ) -> AsyncIterator[embed_pb2.EmbedStreamResponse]:
        # An async generator (not a returned iterator): the interceptors tell streams by that.
        async for answer in streaming.batches(
            request_iterator,
            lambda m: self.Embed(m.request, context),
            embed_pb2.EmbedStreamResponse,
            stop=self._stop,
        ):
            yield answer

    async def EmbedSparse(
        self, request: embed_pb2.EmbedSparseRequest, context: Ctx
    ) -> embed_pb2.EmbedSparseResponse:
        core = self._core(request.model)
        result = await core.embed_sparse(convert.embed_sparse_job(request))
        return convert.embed_sparse_response(result, core.info.model_id)

    async def Similarity(
        self, request: embed_pb2.SimilarityRequest, context: Ctx
    ) -> embed_pb2.SimilarityResponse:
        core = self._core(request.model)
        result = await core.similarity(convert.similarity_job(request))
        return convert.similarity_response(result, core.info.model_id)

    async def Encode(
        self, request: embed_pb2.EncodeRequest, context: Ctx
    ) -> embed_pb2.EncodeResponse:
        core = self._core(request.model)
        result = await core.encode(convert.encode_job(request))
        return convert.encode_response(result, core.info.model_id)

    async def EmbedTokens(
        self, request: embed_pb2.EmbedTokensRequest, context: Ctx
    ) -> embed_pb2.EmbedTokensResponse:
        core = self._core(request.model)
        result = await core.embed_tokens(convert.embed_tokens_job(request))
        return convert.embed_tokens_response(result, core.info.model_id)


class ClassifyServicer(classify_pb2_grpc.ClassifyServiceServicer):
    """ember.v1.ClassifyService."""

    def __init__(self, core: Callable[[str], Core], drain: Drain | None = None) -> None:
        self._core = core
        self._stop = drain.started if drain is not None else None

    async def Classify(
        self, request: classify_pb2.ClassifyRequest, context: Ctx
    ) -> classify_pb2.ClassifyResponse:
        core = self._core(request.model)
        result = await core.classify(convert.classify_job(request))
        return convert.classify_response(result, core.info.model_id)

    async def ClassifyStream(
        self, request_iterator: AsyncIterator[classify_pb2.ClassifyStreamRequest], context: Ctx
    ) -> AsyncIterator[classify_pb2.ClassifyStreamResponse]:
        # An async generator (not a returned iterator): the interceptors tell streams by that.
        async for answer in streaming.batches(
            request_iterator,
            lambda m: self.Classify(m.request, context),
            classify_pb2.ClassifyStreamResponse,
            stop=self._stop,
        ):
            yield answer


class RerankServicer(rerank_pb2_grpc.RerankServiceServicer):
    """ember.v1.RerankService."""

    def __init__(self, core: Callable[[str], Core], drain: Drain | None = None) -> None:
        self._core = core
        self._stop = drain.started if drain is not None else None

    async def Rerank(
        self, request: rerank_pb2.RerankRequest, context: Ctx
    ) -> rerank_pb2.RerankResponse:
        core = self._core(request.model)
        result = await core.rerank(convert.rerank_job(request))
        return convert.rerank_response(result, core.info.model_id)

    async def RerankStream(
        self, request_iterator: AsyncIterator[rerank_pb2.RerankStreamRequest], context: Ctx
    ) -> AsyncIterator[rerank_pb2.RerankStreamResponse]:
        # An async generator (not a returned iterator): the interceptors tell streams by that.
        async for answer in streaming.batches(
            request_iterator,
            lambda m: self.Rerank(m.request, context),
            rerank_pb2.RerankStreamResponse,
            stop=self._stop,
        ):
            yield answer


class TokenClassificationServicer(token_classification_pb2_grpc.TokenClassificationServiceServicer):
    """ember.v1.TokenClassificationService."""

    def __init__(self, core: Callable[[str], Core], drain: Drain | None = None) -> None:
        self._core = core
        self._stop = drain.started if drain is not None else None

    async def PredictTokens(
        self, request: token_classification_pb2.PredictTokensRequest, context: Ctx
    ) -> token_classification_pb2.PredictTokensResponse:
        core = self._core(request.model)
        result = await core.predict_tokens(convert.tokens_job(request))
        return convert.tokens_response(result, core.info.model_id)

    async def PredictTokensStream(
        self,
        request_iterator: AsyncIterator[token_classification_pb2.PredictTokensStreamRequest],
        context: Ctx,
    ) -> AsyncIterator[token_classification_pb2.PredictTokensStreamResponse]:
        # An async generator (not a returned iterator): the interceptors tell streams by that.
        async for answer in streaming.batches(
            request_iterator,
            lambda m: self.PredictTokens(m.request, context),
            token_classification_pb2.PredictTokensStreamResponse,
            stop=self._stop,
        ):
            yield answer


class ModelServicer(model_pb2_grpc.ModelServiceServicer):
    """ember.v1.ModelService."""

    def __init__(self, models: ModelsHandle, version: str) -> None:
        self._core = models
        self._version = version

    async def GetModelInfo(
        self, request: model_pb2.GetModelInfoRequest, context: Ctx
    ) -> model_pb2.GetModelInfoResponse:
        return self._describe(self._core(request.model))

    async def ListModels(
        self, request: model_pb2.ListModelsRequest, context: Ctx
    ) -> model_pb2.ListModelsResponse:
        return model_pb2.ListModelsResponse(
            models=[self._describe(core) for core in self._core.loaded()]
        )

    def _describe(self, core: Core) -> model_pb2.GetModelInfoResponse:
        return convert.model_info_response(
            core.info, core.limits, self._version, cpu_features(), core.precision_check
        )

    async def Tokenize(
        self, request: model_pb2.TokenizeRequest, context: Ctx
    ) -> model_pb2.TokenizeResponse:
        tokens = await self._core(request.model).tokenize(convert.tokenize_job(request))
        return convert.tokenize_response(tokens)

    async def Decode(
        self, request: model_pb2.DecodeRequest, context: Ctx
    ) -> model_pb2.DecodeResponse:
        texts = await self._core(request.model).decode(convert.decode_job(request))
        return convert.decode_response(texts)
