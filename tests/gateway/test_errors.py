"""Unit tests of ember.gateway.errors: the one table from gRPC status to HTTP status and body."""

from __future__ import annotations

import json

import grpc
import grpc.aio
import pytest

from ember.gateway import errors


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 422),
        (grpc.StatusCode.FAILED_PRECONDITION, 424),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
        (grpc.StatusCode.INTERNAL, 500),
        (grpc.StatusCode.UNKNOWN, 500),
        (grpc.StatusCode.DATA_LOSS, 500),
        (grpc.StatusCode.UNIMPLEMENTED, 501),
        (grpc.StatusCode.UNAUTHENTICATED, 401),
        (grpc.StatusCode.CANCELLED, 503),
        (None, 500),
    ],
)
def test_grpc_status_to_http_status(code: grpc.StatusCode | None, status: int) -> None:
    assert errors.kind_for_grpc(code).status == status


def test_retryable_and_client_errors_are_told_apart() -> None:
    # Clients retry 429 and 503 and do not retry other 4xx.
    assert (
        errors.kind_for_grpc(grpc.StatusCode.RESOURCE_EXHAUSTED).openai_type == "rate_limit_error"
    )
    assert errors.kind_for_grpc(grpc.StatusCode.UNAVAILABLE).tei_type == "Unhealthy"
    assert errors.kind_for_grpc(grpc.StatusCode.INVALID_ARGUMENT).tei_type == "Validation"


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/v1/embeddings", errors.ErrorShape.OPENAI),
        ("/embeddings", errors.ErrorShape.OPENAI),
        ("/v1/rerank", errors.ErrorShape.OPENAI),
        ("/v1/models", errors.ErrorShape.OPENAI),
        ("/v1/anything/else", errors.ErrorShape.OPENAI),
        ("/embed", errors.ErrorShape.TEI),
        ("/rerank", errors.ErrorShape.TEI),
        ("/predict", errors.ErrorShape.TEI),
        ("/predict_tokens", errors.ErrorShape.TEI),
        ("/embeddings/x", errors.ErrorShape.TEI),
        ("/", errors.ErrorShape.TEI),
    ],
)
def test_shape_follows_the_route(path: str, shape: errors.ErrorShape) -> None:
    assert errors.shape_for_path(path) is shape


def test_openai_body() -> None:
    body = errors.error_body(errors.ErrorShape.OPENAI, errors.VALIDATION, "bad", "input")
    assert body == {
        "error": {
            "message": "bad",
            "type": "invalid_request_error",
            "param": "input",
            "code": "invalid_argument",
        }
    }


def test_tei_body() -> None:
    body = errors.error_body(errors.ErrorShape.TEI, errors.OVERLOADED, "busy")
    assert body == {"error": "busy", "error_type": "Overloaded"}


def test_error_json_picks_the_shape_from_the_path() -> None:
    assert json.loads(errors.error_json("/v1/embeddings", errors.INTERNAL, "x"))["error"] == {
        "message": "x",
        "type": "server_error",
        "param": None,
        "code": "internal",
    }
    assert json.loads(errors.error_json("/embed", errors.BODY_TOO_LARGE, "x")) == {
        "error": "x",
        "error_type": "PayloadTooLarge",
    }


def rpc_error(code: grpc.StatusCode, details: str | None) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


def test_from_rpc_keeps_the_service_message() -> None:
    error = errors.ApiError.from_rpc(
        rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "input 3 is longer than 256 tokens")
    )
    assert error.kind.status == 422
    assert error.message == "input 3 is longer than 256 tokens"


def test_from_rpc_without_details_names_the_status() -> None:
    error = errors.ApiError.from_rpc(rpc_error(grpc.StatusCode.UNAVAILABLE, None))
    assert error.kind.status == 503
    assert "UNAVAILABLE" in error.message


@pytest.mark.parametrize(
    ("status", "tei_type"),
    [
        (400, "Validation"),
        (401, "Unauthorized"),
        (404, "NotFound"),
        (405, "MethodNotAllowed"),
        (413, "PayloadTooLarge"),
        (415, "Validation"),
        (502, "Backend"),
    ],
)
def test_framework_statuses(status: int, tei_type: str) -> None:
    kind = errors.kind_for_http_status(status)
    assert kind.status == status
    assert kind.tei_type == tei_type
