"""TEI's task routes: ``POST /`` and ``POST /invocations`` (SageMaker) run the loaded model's
task, ``POST /vertex`` (Vertex AI) a batch of such requests.

A body is routed by :func:`ember.gateway.dispatch.target_for` (the model's kind, asked from the
service once, and the body's shape), validated by the target route's own request model and
answered by the target route's own handler: the same validation, errors and answers as calling
that route directly. Validation errors name the field as the route would (``inputs``), or
within the batch (``instances.1.inputs``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from enum import Enum
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from ember.gateway import errors
from ember.gateway.dispatch import Target, target_for
from ember.gateway.models import VertexRequest, VertexResponse

Handler = Callable[[Any, Request], Awaitable[Response]]
Handlers = Mapping[Target, tuple[type[BaseModel], Handler]]

#: The bodies ``POST /`` documents (the HF pipeline shapes are these with ``parameters``).
_DOCUMENTED = (
    "TEIEmbedRequest",
    "TEISimilarityRequest",
    "TEIEmbedSparseRequest",
    "TEIRerankRequest",
    "PredictRequest",
    "PredictTokensRequest",
)

_ANY_JSON: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The answer of the route the request went to.",
        "content": {"application/json": {"schema": {}}},
    }
}


def install(
    app: FastAPI,
    handlers: Handlers,
    model_kind: Callable[[Request], Awaitable[int]],
    *,
    tags: list[str | Enum],
    error_responses: dict[int | str, dict[str, Any]],
) -> None:
    """Add the task routes to ``app``. ``handlers``: each target's request model and handler
    (the routes' own); ``model_kind``: asks the service for its ``model_pb2.ModelKind`` (called
    until it succeeds once: the model of a running service does not change)."""
    kinds: list[int] = []

    async def run(request: Request, body: object, where: tuple[str | int, ...]) -> Response:
        if not isinstance(body, dict):
            raise errors.ApiError(
                errors.VALIDATION,
                f"{'.'.join(map(str, where)) or 'the request body'} must be a JSON object",
                param=str(where[0]) if where else None,
            )
        if not kinds:
            kinds.append(await model_kind(request))
        model, handler = handlers[target_for(kinds[0], body)]
        try:
            parsed = model.model_validate_json(orjson.dumps(body))
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": (*where, *e["loc"])} for e in exc.errors()]
            ) from None
        return await handler(parsed, request)

    documented = {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "anyOf": [{"$ref": f"#/components/schemas/{n}"} for n in _DOCUMENTED]
                    }
                }
            },
        }
    }
    responses = {**_ANY_JSON, **error_responses}

    @app.post("/", tags=tags, responses=responses, openapi_extra=documented)
    @app.post("/invocations", tags=tags, responses=responses, openapi_extra=documented)
    async def tei_task(request: Request) -> Response:
        """The loaded model's task, as TEI's ``POST /`` and SageMaker's ``/invocations``:
        ``/embed`` (``/similarity`` for ``{"inputs": {"source_sentence", "sentences"}}``),
        ``/embed_sparse``, ``/rerank`` (a body with ``query``), ``/predict`` or
        ``/predict_tokens``. With ``parameters`` (huggingface_hub's ``InferenceClient``),
        classification answers ``[[{label, score}]]`` and token classification
        ``[{entity_group, score, word, start, end}]``, as the Hugging Face pipelines do."""
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise errors.ApiError(errors.MALFORMED_JSON, f"malformed JSON body: {exc}") from None
        return await run(request, body, ())

    @app.post("/vertex", tags=tags, response_model=VertexResponse, responses=error_responses)
    async def tei_vertex(body: VertexRequest, request: Request) -> Response:
        """Vertex AI's prediction shape: each instance is a ``POST /`` body, run concurrently;
        the answers come back in order as ``predictions``. A failing instance fails the
        request."""
        answers = await asyncio.gather(
            *(run(request, instance, ("instances", i)) for i, instance in enumerate(body.instances))
        )
        predictions = b",".join(bytes(a.body) for a in answers)
        return Response(b'{"predictions":[' + predictions + b"]}", media_type="application/json")
