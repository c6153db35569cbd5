"""The REST gateway's FastAPI application: routes, error handlers, OpenAPI.

Each route is thin: the validated body goes through :mod:`ember.gateway.translate` to a proto
request, one upstream gRPC call (:class:`ember.gateway.upstream.Upstream`), and back through
``translate`` to JSON, written by orjson (numpy arrays included). Every failure is answered
from the one table in :mod:`ember.gateway.errors`, in the route's error shape.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import PlainTextResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ember.gateway import errors, job_routes, metrics, task_routes, tracing, translate
from ember.gateway.dispatch import Target
from ember.gateway.fastpath import FastPathMiddleware, HotRoute
from ember.gateway.middleware import (
    REQUEST_ID_KEY,
    AuthMiddleware,
    BodyLimitMiddleware,
    ObservabilityMiddleware,
    TracingMiddleware,
)
from ember.gateway.models import (
    AdminLoadRequest,
    AdminUnloaded,
    CohereRerankRequest,
    CohereRerankResponse,
    CohereV2RerankRequest,
    CohereV2RerankResponse,
    EncodeRequest,
    EncodeResponse,
    Health,
    HFClassifyRequest,
    HFTokensRequest,
    Info,
    LabelScore,
    ModelDescription,
    OpenAIEmbeddingsRequest,
    OpenAIEmbeddingsResponse,
    OpenAIError,
    OpenAIModelList,
    PredictRequest,
    PredictTokensRequest,
    SparseValue,
    TEIDecodeRequest,
    TEIEmbedAllRequest,
    TEIEmbedRequest,
    TEIEmbedSparseRequest,
    TEIError,
    TEIRank,
    TEIRerankRequest,
    TEISimilarityRequest,
    TEIToken,
    TEITokenizeRequest,
    TokenPrediction,
)
from ember.gateway.security import ApiKeys
from ember.gateway.settings import GatewaySettings
from ember.gateway.upstream import LocalCaller, Req, Resp, Rpc, Upstream
from ember.v1 import admin_pb2, model_pb2

logger = logging.getLogger("ember.gateway")

_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY

_ERROR_DOCS = {
    400: "Malformed JSON or an unreadable header.",
    401: "Missing or wrong API key (only when the server has one).",
    403: "Admin calls on a server started without --enable-admin.",
    404: "No such job, or no such model.",
    409: "A model with that id or alias is already served.",
    413: "The request body is over the size limit.",
    422: "The request is invalid (validation by the gateway or the service).",
    424: "The loaded model cannot serve this route.",
    429: "The server is overloaded; retry later.",
    500: "Internal error.",
    503: "The service is not ready or is shutting down.",
    504: "The request's deadline passed.",
}
_READ_ERRORS = (401, 500, 503, 504)
_ADMIN = (403, 404, 409)  # answered by the admin routes only
_COMMON = tuple(status for status in _ERROR_DOCS if status not in _ADMIN)
#: The job routes: no model route answers (424); unknown jobs and models are 404.
_JOB_ERRORS = (400, 401, 404, 413, 422, 429, 500, 503, 504)


def _error_responses(
    model: type, statuses: tuple[int, ...] = _COMMON
) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": model, "description": _ERROR_DOCS[s]} for s in statuses}


_OPENAI_ERRORS = _error_responses(OpenAIError)
_TEI_ERRORS = _error_responses(TEIError)


def json_response(content: object, status_code: int = 200) -> Response:
    """``content`` (dicts, lists, numpy arrays) encoded by orjson."""
    return Response(
        orjson.dumps(content, option=_ORJSON_OPTIONS),
        status_code=status_code,
        media_type="application/json",
    )


def _error_response(request: Request, error: errors.ApiError) -> Response:
    body = errors.error_json(request.url.path, error.kind, error.message, error.param)
    return Response(
        body,
        status_code=error.kind.status,
        media_type="application/json",
        headers=errors.retry_headers(error.kind),
    )


def _validation_message(exc: RequestValidationError) -> tuple[errors.ErrorKind, str, str | None]:
    details = exc.errors()
    for d in details:
        if d.get("type") == "json_invalid":
            reason = (d.get("ctx") or {}).get("error", "invalid JSON")
            return errors.MALFORMED_JSON, f"malformed JSON body: {reason}", None
    parts: dict[str, str] = {}
    depth: dict[str, int] = {}
    for d in details:
        loc = [p for p in d.get("loc", ()) if p != "body"]
        field = str(loc[0]) if loc else ""
        if d.get("type") == "missing" and not loc:
            message = "a JSON request body is required"
        elif d.get("type") == "model_attributes_type" and not loc:
            message = "the request body must be a JSON object (Content-Type: application/json)"
        else:
            # A value matching no member of a union (``input``: text | texts | ids | ...) gets
            # one error per member, each with the member's name in its location: report only
            # the member that got furthest, without the name, e.g. "input.0: ...".
            where = ".".join(str(p) for p in loc if not _is_union_member(p))
            text = str(d.get("msg", "invalid")).removeprefix("Value error, ")
            message = f"{where}: {text}" if where else text
        if field not in parts or len(loc) > depth[field]:
            parts[field], depth[field] = message, len(loc)
    param = next((f for f in parts if f), None)
    return errors.VALIDATION, "; ".join(parts.values()) or "invalid request", param


def _is_union_member(part: object) -> bool:
    # pydantic names union members by type ("str", "list[constrained-int]") or model class
    # ("RerankDocument"); the request models' own field names are all lower case.
    return isinstance(part, str) and (
        part in ("str", "int", "bool", "float") or "[" in part or part[:1].isupper()
    )


class _Calls:
    """What the routes share: the upstream and the per-request call options."""

    def __init__(self, settings: GatewaySettings, upstream: Upstream) -> None:
        self.settings = settings
        self.upstream = upstream

    async def __call__(self, request: Request, method: Rpc[Req, Resp], message: Req) -> Resp:
        headers = request.headers
        timeout = translate.grpc_timeout(
            headers.get("request-timeout-ms"),
            headers.get("request-deadline-ms"),
            self.settings.request_timeout_s,
            time.time(),
        )
        return await self.upstream.call(
            method,
            message,
            timeout=timeout,
            request_id=request.scope.get(REQUEST_ID_KEY, ""),
            receive=request.receive,
        )


class _TextRequest(Request):
    """A request whose JSON body is decoded with ``surrogateescape``: bytes that are not UTF-8
    become lone surrogates, which the request models reject with 422 naming the field
    (``_Request._valid_unicode``), instead of a 400 for the whole body."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            self._json = json.loads(body.decode("utf-8", "surrogateescape"))
        return self._json


class _TextRoute(APIRoute):
    """Routes that hand FastAPI a :class:`_TextRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(_TextRequest(request.scope, request.receive))

        return route


def create_app(settings: GatewaySettings, local: LocalCaller | None = None) -> FastAPI:
    """The gateway app; its lifespan opens and closes the channel to ``settings.upstream``.

    ``local``: the service in this process, called directly instead of over the channel (see
    :mod:`ember.service.local`); the channel then carries only the health checks."""
    keys = ApiKeys.load(settings.api_key, settings.api_key_file)
    upstream = Upstream(settings.upstream, local, keys)
    call = _Calls(settings, upstream)
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await upstream.open()
        try:
            yield
        finally:
            await upstream.close()

    app = FastAPI(
        title="Ember",
        summary="OpenAI-, TEI- and BEI-compatible REST API of the Ember inference server.",
        version=_version(),
        lifespan=lifespan,
        strict_content_type=False,
        # Ember's tracing is its own (--otlp-endpoint, ember.gateway.tracing) and its metrics
        # Prometheus': FastAPI's native telemetry would add spans of its own whenever a
        # process-wide provider is set, and checks for one (an os.environ lookup) per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # Both served below from packaged files: FastAPI's own pages load them from a CDN.
        docs_url=None,
        redoc_url=None,
        openapi_tags=[
            {"name": "OpenAI", "description": "OpenAI-compatible routes."},
            {"name": "TEI / BEI", "description": "text-embeddings-inference and BEI routes."},
            {"name": "Cohere / Jina", "description": "Rerank as RAG frameworks call it."},
            {"name": "Server", "description": "Health, model info and metrics."},
            {"name": "Admin", "description": "Load and unload models (--enable-admin)."},
        ],
    )
    app.router.route_class = _TextRoute
    on_error = _install_error_handlers(app)
    _install_routes(app, call, upstream, created)
    _install_docs(app)

    # Added innermost first: Tracing (when on) wraps Observability wraps CORS wraps Auth wraps
    # BodyLimit wraps the fast path of the hot routes (in front of FastAPI; see
    # ember.gateway.fastpath).
    app.add_middleware(FastPathMiddleware, routes=_hot_routes(app), on_error=on_error)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if keys is not None:
        app.add_middleware(AuthMiddleware, keys=keys)
    if settings.cors_origins():
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins(),
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
            expose_headers=["x-request-id"],
        )
    app.add_middleware(ObservabilityMiddleware)
    if tracing.enabled():
        app.add_middleware(TracingMiddleware)
    return app


def _install_docs(app: FastAPI) -> None:
    """Interactive docs at /docs (Swagger UI 5) and /redoc (ReDoc 2), their files served by the
    gateway itself from the fastapi-offline package, so they work without internet access.

    Swagger UI 5 is needed: version 4 renders a blank page for the OpenAPI 3.1 document
    FastAPI emits."""
    from importlib.resources import files

    from fastapi.openapi.docs import (
        get_redoc_html,
        get_swagger_ui_html,
        get_swagger_ui_oauth2_redirect_html,
    )
    from fastapi.staticfiles import StaticFiles

    assets = files("fastapi_offline") / "static"
    app.mount(_DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Ember API",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{_DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{_DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{_DOCS_ASSETS}/favicon.png",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def oauth2_redirect() -> Response:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> Response:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="Ember API",
            redoc_js_url=f"{_DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{_DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )


_DOCS_ASSETS = "/docs/assets"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ember-serve")
    except PackageNotFoundError:
        return "0.0.0"


#: Routes served by the fast path for valid requests, with their request models.
_HOT_ROUTES: dict[str, type[BaseModel]] = {
    "/v1/embeddings": OpenAIEmbeddingsRequest,
    "/embeddings": OpenAIEmbeddingsRequest,
    "/embed": TEIEmbedRequest,
}


def _hot_routes(app: FastAPI) -> dict[str, HotRoute]:
    """The fast path's table: each hot route's model, its FastAPI endpoint and route object."""
    table = {}
    for route in app.routes:
        if (
            isinstance(route, APIRoute)
            and route.path in _HOT_ROUTES
            and "POST" in (route.methods or ())
        ):
            table[route.path] = HotRoute(_HOT_ROUTES[route.path], route.endpoint, route)
    return table


def _install_error_handlers(app: FastAPI) -> Callable[[Request, Exception], Awaitable[Response]]:
    """Install the app's exception handlers; returns one function that answers any exception
    as they would (for the fast path, which runs outside FastAPI's exception middleware)."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, errors.ApiError)
        return _error_response(request, exc)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        kind, message, param = _validation_message(exc)
        return _error_response(request, errors.ApiError(kind, message, param=param))

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        kind = errors.kind_for_http_status(exc.status_code)
        message = str(exc.detail)
        if kind is errors.MALFORMED_JSON:
            # FastAPI's answer to a body that is not even text (e.g. invalid UTF-8).
            message = f"malformed JSON body: the body could not be decoded ({message})"
        response = _error_response(request, errors.ApiError(kind, message))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s", request.url.path)
        error = errors.ApiError(errors.INTERNAL, f"internal error ({type(exc).__name__})")
        return _error_response(request, error)

    app.add_exception_handler(errors.ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)

    async def on_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, errors.ApiError):
            return await on_api_error(request, exc)
        if isinstance(exc, StarletteHTTPException):
            return await on_http_error(request, exc)
        return await on_unexpected(request, exc)

    return on_error


def _install_routes(app: FastAPI, call: _Calls, upstream: Upstream, created: int) -> None:
    # ------------------------------------------------------------ OpenAI

    def openai_post(path: str, **kwargs: Any) -> Callable[[Any], Any]:
        return app.post(path, tags=["OpenAI"], responses=_OPENAI_ERRORS, **kwargs)

    @openai_post("/v1/embeddings", response_model=OpenAIEmbeddingsResponse)
    @openai_post("/embeddings", response_model=OpenAIEmbeddingsResponse)
    async def openai_embeddings(body: OpenAIEmbeddingsRequest, request: Request) -> Response:
        """Create embeddings (OpenAI). ``encoding_format=base64`` returns little-endian
        float32 bytes in base64; ``int8``, ``uint8``, ``binary`` and ``ubinary`` return
        quantized integers (sentence-transformers' ``quantize_embeddings``), with ``ranges``
        or ranges computed over the request's vectors."""
        response = await call(request, upstream.embed, translate.openai_embed_request(body))
        fmt = body.encoding_format or "float"
        return json_response(translate.openai_embed_response(response, fmt))

    @app.get(
        "/v1/models",
        tags=["OpenAI"],
        response_model=OpenAIModelList,
        responses=_error_responses(OpenAIError, _READ_ERRORS),
    )
    async def openai_models(request: Request) -> Response:
        """List the served models (OpenAI)."""
        models = await call(request, upstream.list_models, model_pb2.ListModelsRequest())
        return json_response(translate.models_response(models, created))

    # ------------------------------------------------------------ Cohere / Jina

    def cohere_post(path: str, **kwargs: Any) -> Callable[[Any], Any]:
        return app.post(path, tags=["Cohere / Jina"], responses=_OPENAI_ERRORS, **kwargs)

    @cohere_post("/v1/rerank", response_model=CohereRerankResponse)
    async def cohere_rerank(body: CohereRerankRequest, request: Request) -> Response:
        """Rank documents by relevance to the query, best first (Cohere / Jina shape)."""
        response = await call(request, upstream.rerank, translate.cohere_rerank_request(body))
        rid = request.scope.get(REQUEST_ID_KEY, "")
        return json_response(translate.cohere_rerank_response(response, rid))

    @cohere_post("/v2/rerank", response_model=CohereV2RerankResponse)
    async def cohere_v2_rerank(body: CohereV2RerankRequest, request: Request) -> Response:
        """Rank documents by relevance to the query, best first (Cohere v2 shape, as
        ``cohere.ClientV2.rerank`` sends it)."""
        response = await call(request, upstream.rerank, translate.cohere_rerank_request(body))
        rid = request.scope.get(REQUEST_ID_KEY, "")
        return json_response(translate.cohere_v2_rerank_response(response, rid))

    # ------------------------------------------------------------ TEI / BEI

    def tei_post(path: str, **kwargs: Any) -> Callable[[Any], Any]:
        return app.post(path, tags=["TEI / BEI"], responses=_TEI_ERRORS, **kwargs)

    @tei_post("/embed", response_model=list[list[float]] | list[list[int]] | list[str])
    async def tei_embed(body: TEIEmbedRequest, request: Request) -> Response:
        """Dense embeddings, one vector per input (TEI); ``encoding_format`` as on
        ``/v1/embeddings`` (quantized integers, base64 float32 bytes)."""
        response = await call(request, upstream.embed, translate.tei_embed_request(body))
        return json_response(translate.tei_embed_response(response, body.encoding_format))

    @tei_post("/encode", response_model=EncodeResponse, response_model_exclude_none=True)
    async def encode(body: EncodeRequest, request: Request) -> Response:
        """Dense, sparse and/or multi-vector outputs of each input from one forward (BGE-M3's
        three outputs, ColBERT's multi-vectors); only the outputs asked for are answered."""
        response = await call(request, upstream.encode, translate.encode_request(body))
        return json_response(translate.encode_response(response, body.outputs))

    @tei_post("/embed_all", response_model=list[list[list[float]]])
    async def tei_embed_all(body: TEIEmbedAllRequest, request: Request) -> Response:
        """Every token's last hidden state (special tokens included), per input (TEI). The
        EmbedTokens RPC also gives each token's id and character offsets."""
        message = translate.tei_embed_all_request(body)
        response = await call(request, upstream.embed_tokens, message)
        return json_response(translate.tei_embed_all_response(response))

    @tei_post("/similarity", response_model=list[float])
    async def tei_similarity(body: TEISimilarityRequest, request: Request) -> Response:
        """The cosine similarity of each sentence to the source sentence (TEI)."""
        response = await call(request, upstream.similarity, translate.similarity_request(body))
        return json_response(list(response.scores))

    @tei_post("/embed_sparse", response_model=list[list[SparseValue]])
    async def tei_embed_sparse(body: TEIEmbedSparseRequest, request: Request) -> Response:
        """Sparse (SPLADE) embeddings: the non-zero entries of each vector (TEI)."""
        message = translate.tei_embed_sparse_request(body)
        response = await call(request, upstream.embed_sparse, message)
        return json_response(translate.tei_embed_sparse_response(response))

    @tei_post("/rerank", response_model=list[TEIRank])
    async def tei_rerank(body: TEIRerankRequest, request: Request) -> Response:
        """Rank texts by relevance to the query, best first (TEI / BEI)."""
        response = await call(request, upstream.rerank, translate.tei_rerank_request(body))
        return json_response(translate.tei_rerank_response(response))

    @tei_post("/predict", response_model=list[LabelScore] | list[list[LabelScore]])
    async def tei_predict(body: PredictRequest, request: Request) -> Response:
        """Classify one text, ONE text pair, or a batch of texts and pairs (TEI / BEI).

        One input answers ``[{label, score}]`` best first; a batch answers a list of those."""
        message, single = translate.predict_request(body)
        response = await call(request, upstream.classify, message)
        return json_response(translate.predict_response(response, single))

    @tei_post(
        "/predict_tokens",
        response_model=list[list[list[TokenPrediction]]]
        | list[list[TokenPrediction]]
        | list[TokenPrediction],
    )
    async def bei_predict_tokens(body: PredictTokensRequest, request: Request) -> Response:
        """Token classification / NER (BEI-Bert). The answer nests as ``inputs`` did: one list
        of tokens per text."""
        message, layout = translate.predict_tokens_request(body)
        response = await call(request, upstream.predict_tokens, message)
        return json_response(translate.predict_tokens_response(response, layout))

    @tei_post("/tokenize", response_model=list[list[TEIToken]])
    async def tei_tokenize(body: TEITokenizeRequest, request: Request) -> Response:
        """The tokens the model sees for each input (TEI)."""
        response = await call(request, upstream.tokenize, translate.tokenize_request(body))
        return json_response(translate.tokenize_response(response))

    @tei_post("/decode", response_model=list[str])
    async def tei_decode(body: TEIDecodeRequest, request: Request) -> Response:
        """Token ids back to text, one text per sequence (TEI)."""
        response = await call(request, upstream.decode, translate.decode_request(body))
        return json_response(list(response.texts))

    # ------------------------------------------------------------ task routes

    async def hf_classify(body: HFClassifyRequest, request: Request) -> Response:
        message, _ = translate.hf_classify_request(body)
        response = await call(request, upstream.classify, message)
        return json_response(translate.hf_classify_response(response, body.parameters))

    async def hf_tokens(body: HFTokensRequest, request: Request) -> Response:
        message, single = translate.hf_tokens_request(body)
        response = await call(request, upstream.predict_tokens, message)
        return json_response(translate.hf_tokens_response(response, body.parameters, single))

    async def model_kind(request: Request) -> int:
        info = await call(request, upstream.model_info, model_pb2.GetModelInfoRequest())
        return info.kind

    task_routes.install(
        app,
        {
            Target.EMBED: (TEIEmbedRequest, tei_embed),
            Target.SIMILARITY: (TEISimilarityRequest, tei_similarity),
            Target.EMBED_SPARSE: (TEIEmbedSparseRequest, tei_embed_sparse),
            Target.RERANK: (TEIRerankRequest, tei_rerank),
            Target.PREDICT: (PredictRequest, tei_predict),
            Target.PREDICT_TOKENS: (PredictTokensRequest, bei_predict_tokens),
            Target.HF_CLASSIFY: (HFClassifyRequest, hf_classify),
            Target.HF_TOKENS: (HFTokensRequest, hf_tokens),
        },
        model_kind,
        tags=["TEI / BEI"],
        error_responses=_TEI_ERRORS,
    )

    # ------------------------------------------------------------ jobs

    job_routes.install(
        app, call, upstream, json_response, errors=_error_responses(OpenAIError, _JOB_ERRORS)
    )

    # ------------------------------------------------------------ server

    @app.get(
        "/info",
        tags=["Server"],
        response_model=Info,
        responses=_error_responses(TEIError, (*_READ_ERRORS, 404)),
        # Read from the query string below: a declared parameter would add FastAPI's own 422.
        openapi_extra={
            "parameters": [
                {"name": "model", "in": "query", "required": False, "schema": {"type": "string"}}
            ]
        },
    )
    async def info(request: Request) -> Response:
        """The served models and the server's limits (TEI-like): the first model at the top
        level and every model in ``models``; ``?model=NAME``: that model alone."""
        model = request.query_params.get("model")
        if model is not None:
            one = model_pb2.GetModelInfoRequest(model=model)
            return json_response(
                translate.info_response(await call(request, upstream.model_info, one))
            )
        models = await call(request, upstream.list_models, model_pb2.ListModelsRequest())
        described = [translate.info_response(m) for m in models.models]
        return json_response({**described[0], "models": described})

    # ------------------------------------------------------------ admin

    admin_errors = _error_responses(TEIError, tuple(_ERROR_DOCS))

    @app.post(
        "/admin/models", tags=["Admin"], response_model=ModelDescription, responses=admin_errors
    )
    async def admin_load(body: AdminLoadRequest, request: Request) -> Response:
        """Load a model (a folder or a cached hub id) and serve it, as start-up would
        (``--enable-admin``; the API key when the server has one)."""
        message = admin_pb2.LoadModelRequest(
            path=body.path, name=body.name or "", aliases=body.aliases
        )
        loaded = await call(request, upstream.load_model, message)
        return json_response(translate.info_response(loaded.model))

    @app.delete(
        "/admin/models/{model_id:path}",
        tags=["Admin"],
        response_model=AdminUnloaded,
        responses=admin_errors,
    )
    async def admin_unload(model_id: str, request: Request) -> Response:
        """Stop serving a model: requests it already accepted are answered, then it is freed."""
        message = admin_pb2.UnloadModelRequest(model=model_id)
        unloaded = await call(request, upstream.unload_model, message)
        return json_response({"id": unloaded.model_id, "object": "model", "deleted": True})

    @app.get(
        "/health",
        tags=["Server"],
        response_model=Health,
        responses={503: {"model": TEIError, "description": "The service is not serving."}},
    )
    async def health() -> Response:
        """200 when the gRPC service reports SERVING, else 503."""
        if await upstream.serving():
            return json_response({"status": "serving"})
        body = errors.error_body(
            errors.ErrorShape.TEI, errors.UNAVAILABLE, "the model service is not serving"
        )
        return json_response(body, status_code=503)

    @app.get(
        "/metrics",
        tags=["Server"],
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text."}},
    )
    async def prometheus_metrics() -> Response:
        """Prometheus metrics: HTTP requests and latencies, and the service's own."""
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)
