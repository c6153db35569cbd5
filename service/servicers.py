"""The gRPC servicers: each RPC converts its request, calls the core, converts the answer.

Servicers get a request's core through a callable given the request's ``model`` field (see
:mod:`ember.service.models`), because they are registered before the models have loaded; until
they have, the callable raises NotReadyError (UNAVAILABLE). Batch streams end, after answering
every batch they read, when the server's :class:`Drain` begins (shutdown).

No validation or logic lives here (see :mod:`ember.service.core`); errors propagate as
:class:`~ember.engines.errors.EmberError` and the error interceptor maps them to status codes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

import grpc

from ember.engines.cpu_features import cpu_features
from ember.engines.errors import InvalidInputError
from ember.service import convert, streaming
from ember.service.core import Core
from ember.service.drain import Drain
from ember.service.models import ModelsHandle
from ember.service.tasks.classify import CLASSIFY
from ember.service.tasks.embed import EMBED, SIMILARITY
from ember.service.tasks.encode import ENCODE
from ember.service.tasks.rerank import RERANK
from ember.service.tasks.sparse import SPARSE
from ember.service.tasks.token_states import TOKEN_STATES
from ember.service.tasks.tokens import TOKENS
from ember.v1 import (
    admin_pb2,
    admin_pb2_grpc,
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


class _TaskServicer:
    """What the task servicers share: the request's core, and shutdown's signal to streams."""

    def __init__(self, core: Callable[[str], Core], drain: Drain | None = None) -> None:
        self._core = core
        self._stop = drain.started if drain is not None else None


def _stream(unary: str, response_type: Callable[..., Any]) -> Any:
    """The batch-stream RPC of the unary RPC named ``unary``: every batch answered by it."""

    # An async generator (not a returned iterator): the interceptors tell streams by that.
    async def stream(
        self: _TaskServicer, request_iterator: AsyncIterator[Any], context: Ctx
    ) -> AsyncIterator[Any]:
        method = getattr(self, unary)
        async for answer in streaming.batches(
            request_iterator,
            lambda m: method(m.request, context),
            response_type,
            stop=self._stop,
        ):
            yield answer

    return stream


class EmbedServicer(_TaskServicer, embed_pb2_grpc.EmbedServiceServicer):
    """ember.v1.EmbedService."""

    async def Embed(self, request: embed_pb2.EmbedRequest, context: Ctx) -> embed_pb2.EmbedResponse:
        core = self._core(request.model)
        result = await core.run(EMBED, convert.embed_job(request))
        return convert.embed_response(result, request.format, core.info.model_id)

    EmbedStream = _stream("Embed", embed_pb2.EmbedStreamResponse)

    async def EmbedSparse(
        self, request: embed_pb2.EmbedSparseRequest, context: Ctx
    ) -> embed_pb2.EmbedSparseResponse:
        core = self._core(request.model)
        result = await core.run(SPARSE, convert.inputs_job(request))
        return convert.embed_sparse_response(result, core.info.model_id)

    async def Similarity(
        self, request: embed_pb2.SimilarityRequest, context: Ctx
    ) -> embed_pb2.SimilarityResponse:
        core = self._core(request.model)
        result = await core.run(SIMILARITY, convert.similarity_job(request))
        return convert.similarity_response(result, core.info.model_id)

    async def Encode(
        self, request: embed_pb2.EncodeRequest, context: Ctx
    ) -> embed_pb2.EncodeResponse:
        core = self._core(request.model)
        result = await core.run(ENCODE, convert.encode_job(request))
        return convert.encode_response(result, core.info.model_id)

    async def EmbedTokens(
        self, request: embed_pb2.EmbedTokensRequest, context: Ctx
    ) -> embed_pb2.EmbedTokensResponse:
        core = self._core(request.model)
        result = await core.run(TOKEN_STATES, convert.inputs_job(request))
        return convert.embed_tokens_response(result, core.info.model_id)


class ClassifyServicer(_TaskServicer, classify_pb2_grpc.ClassifyServiceServicer):
    """ember.v1.ClassifyService."""

    async def Classify(
        self, request: classify_pb2.ClassifyRequest, context: Ctx
    ) -> classify_pb2.ClassifyResponse:
        core = self._core(request.model)
        result = await core.run(CLASSIFY, convert.classify_job(request))
        return convert.classify_response(result, core.info.model_id)

    ClassifyStream = _stream("Classify", classify_pb2.ClassifyStreamResponse)


class RerankServicer(_TaskServicer, rerank_pb2_grpc.RerankServiceServicer):
    """ember.v1.RerankService."""

    async def Rerank(
        self, request: rerank_pb2.RerankRequest, context: Ctx
    ) -> rerank_pb2.RerankResponse:
        core = self._core(request.model)
        result = await core.run(RERANK, convert.rerank_job(request))
        return convert.rerank_response(result, core.info.model_id)

    RerankStream = _stream("Rerank", rerank_pb2.RerankStreamResponse)


class TokenClassificationServicer(
    _TaskServicer, token_classification_pb2_grpc.TokenClassificationServiceServicer
):
    """ember.v1.TokenClassificationService."""

    async def PredictTokens(
        self, request: token_classification_pb2.PredictTokensRequest, context: Ctx
    ) -> token_classification_pb2.PredictTokensResponse:
        core = self._core(request.model)
        result = await core.run(TOKENS, convert.tokens_job(request))
        return convert.tokens_response(result, core.info.model_id)

    PredictTokensStream = _stream(
        "PredictTokens", token_classification_pb2.PredictTokensStreamResponse
    )


def describe(core: Core, version: str) -> model_pb2.GetModelInfoResponse:
    """GetModelInfo's answer for one model."""
    return convert.model_info_response(
        core.info, core.limits, version, cpu_features(), core.precision_check
    )


class ModelServicer(model_pb2_grpc.ModelServiceServicer):
    """ember.v1.ModelService."""

    def __init__(self, models: ModelsHandle, version: str) -> None:
        self._core = models
        self._version = version

    async def GetModelInfo(
        self, request: model_pb2.GetModelInfoRequest, context: Ctx
    ) -> model_pb2.GetModelInfoResponse:
        return describe(self._core(request.model), self._version)

    async def ListModels(
        self, request: model_pb2.ListModelsRequest, context: Ctx
    ) -> model_pb2.ListModelsResponse:
        return model_pb2.ListModelsResponse(
            models=[describe(core, self._version) for core in self._core.loaded()]
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


class ModelAdmin(Protocol):
    """What loads and unloads models (the server)."""

    async def load_model(self, path: str, name: str | None, aliases: Sequence[str]) -> Core:
        """Load and serve a model."""

    async def unload_model(self, name: str) -> str:
        """Drain and free a model; returns its id."""


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    """ember.v1.AdminService."""

    def __init__(self, admin: ModelAdmin, version: str) -> None:
        self._admin = admin
        self._version = version

    async def LoadModel(
        self, request: admin_pb2.LoadModelRequest, context: Ctx
    ) -> admin_pb2.LoadModelResponse:
        if not request.path:
            raise InvalidInputError(
                "path is required: a model folder or a hub id", reason="missing", field="path"
            )
        core = await self._admin.load_model(request.path, request.name or None, request.aliases)
        return admin_pb2.LoadModelResponse(model=describe(core, self._version))

    async def UnloadModel(
        self, request: admin_pb2.UnloadModelRequest, context: Ctx
    ) -> admin_pb2.UnloadModelResponse:
        if not request.model:
            raise InvalidInputError(
                "model is required: the id or alias of the model to unload",
                reason="missing",
                field="model",
            )
        model_id = await self._admin.unload_model(request.model)
        return admin_pb2.UnloadModelResponse(model_id=model_id)
