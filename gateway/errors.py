"""The gateway's one error table: gRPC status -> HTTP status and JSON error body.

Every error the gateway answers, whether it comes from the upstream gRPC service or from the
gateway itself (malformed JSON, oversize body, bad key, a request the models reject), is an
:class:`ErrorKind` from this module, rendered in the shape of the route it hit:

* OpenAI and Cohere routes (``/v1/*``, ``/v2/*``, ``/embeddings``):
  ``{"error": {"message", "type", "param", "code"}}``
* TEI/BEI routes (everything else): ``{"error": "...", "error_type": "..."}``
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import grpc
import orjson

from ember.engines.errors import cap_message


class ErrorShape(enum.Enum):
    """The JSON shape an error body takes."""

    OPENAI = "openai"
    TEI = "tei"


def shape_for_path(path: str) -> ErrorShape:
    """OpenAI shape for ``/v1/*``, ``/v2/*`` (Cohere v2: its SDK reads the status and keeps
    the body) and ``/embeddings``; TEI shape for every other route."""
    if path.startswith(("/v1/", "/v2/")) or path == "/embeddings":
        return ErrorShape.OPENAI
    return ErrorShape.TEI


@dataclass(frozen=True)
class ErrorKind:
    """One row of the table: how one kind of failure is answered over HTTP."""

    status: int
    """The HTTP status code."""
    tei_type: str
    """``error_type`` in the TEI shape."""
    openai_type: str
    """``error.type`` in the OpenAI shape."""
    code: str
    """``error.code`` in the OpenAI shape: a stable, machine-readable name."""


# Failures the gateway decides itself, before or without calling upstream.
MALFORMED_JSON = ErrorKind(400, "Validation", "invalid_request_error", "malformed_json")
BAD_HEADER = ErrorKind(400, "Validation", "invalid_request_error", "invalid_header")
UNAUTHORIZED = ErrorKind(401, "Unauthorized", "authentication_error", "invalid_api_key")
NOT_FOUND = ErrorKind(404, "NotFound", "invalid_request_error", "not_found")
METHOD_NOT_ALLOWED = ErrorKind(
    405, "MethodNotAllowed", "invalid_request_error", "method_not_allowed"
)
BODY_TOO_LARGE = ErrorKind(413, "PayloadTooLarge", "invalid_request_error", "payload_too_large")
HEADERS_TOO_LARGE = ErrorKind(
    431, "PayloadTooLarge", "invalid_request_error", "request_header_fields_too_large"
)
REQUEST_TIMEOUT = ErrorKind(408, "Timeout", "invalid_request_error", "request_timeout")
VALIDATION = ErrorKind(422, "Validation", "invalid_request_error", "invalid_argument")
CLIENT_CLOSED = ErrorKind(499, "Cancelled", "invalid_request_error", "client_closed_request")
INTERNAL = ErrorKind(500, "Backend", "server_error", "internal")

# Upstream gRPC status codes.
UNSUPPORTED_TASK = ErrorKind(424, "Unsupported", "invalid_request_error", "failed_precondition")
OVERLOADED = ErrorKind(429, "Overloaded", "rate_limit_error", "resource_exhausted")
UNAVAILABLE = ErrorKind(503, "Unhealthy", "server_error", "unavailable")
DEADLINE_EXCEEDED = ErrorKind(504, "Timeout", "server_error", "deadline_exceeded")

_BY_GRPC: dict[grpc.StatusCode, ErrorKind] = {
    grpc.StatusCode.INVALID_ARGUMENT: VALIDATION,
    grpc.StatusCode.OUT_OF_RANGE: VALIDATION,
    grpc.StatusCode.FAILED_PRECONDITION: UNSUPPORTED_TASK,
    grpc.StatusCode.RESOURCE_EXHAUSTED: OVERLOADED,
    grpc.StatusCode.UNAVAILABLE: UNAVAILABLE,
    # The upstream cancels calls when it shuts down; a caller that went away never reads this.
    grpc.StatusCode.CANCELLED: UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: DEADLINE_EXCEEDED,
    grpc.StatusCode.NOT_FOUND: NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS: ErrorKind(409, "Conflict", "invalid_request_error", "conflict"),
    grpc.StatusCode.UNAUTHENTICATED: UNAUTHORIZED,
    grpc.StatusCode.PERMISSION_DENIED: ErrorKind(
        403, "Unauthorized", "permission_error", "permission_denied"
    ),
    grpc.StatusCode.UNIMPLEMENTED: ErrorKind(501, "Unsupported", "server_error", "unimplemented"),
}

_BY_HTTP_STATUS: dict[int, ErrorKind] = {
    k.status: k
    for k in (
        MALFORMED_JSON,
        UNAUTHORIZED,
        NOT_FOUND,
        METHOD_NOT_ALLOWED,
        BODY_TOO_LARGE,
        VALIDATION,
        UNSUPPORTED_TASK,
        OVERLOADED,
        INTERNAL,
        UNAVAILABLE,
        DEADLINE_EXCEEDED,
    )
}


def retry_headers(kind: ErrorKind) -> dict[str, str] | None:
    """``Retry-After`` (seconds) for the statuses a client should retry (429, 503)."""
    if kind.status in (OVERLOADED.status, UNAVAILABLE.status):
        return {"retry-after": "1"}
    return None


def kind_for_grpc(code: grpc.StatusCode | None) -> ErrorKind:
    """The row for an upstream status; anything unknown (INTERNAL, UNKNOWN, ...) is a 500."""
    if code is None:
        return INTERNAL
    return _BY_GRPC.get(code, INTERNAL)


def kind_for_http_status(status: int) -> ErrorKind:
    """The row for an HTTP status raised by the web framework (404, 405, 413, ...)."""
    kind = _BY_HTTP_STATUS.get(status)
    if kind is not None:
        return kind
    if status >= 500:
        return ErrorKind(status, "Backend", "server_error", "internal")
    return ErrorKind(status, "Validation", "invalid_request_error", "invalid_request")


class ApiError(Exception):
    """An error answered to the HTTP caller; raise it anywhere below a route handler."""

    def __init__(self, kind: ErrorKind, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.param = param

    @classmethod
    def from_rpc(cls, error: grpc.RpcError) -> ApiError:
        """The answer for a failed upstream call, keeping the service's message."""
        code: grpc.StatusCode | None = error.code()
        details: str | None = error.details()
        kind = kind_for_grpc(code)
        if not details:
            name = code.name if code is not None else "UNKNOWN"
            details = f"upstream call failed with {name}"
        return cls(kind, details)


def error_body(
    shape: ErrorShape, kind: ErrorKind, message: str, param: str | None = None
) -> dict[str, object]:
    """The JSON error object of ``kind`` in ``shape`` (the message capped at 1 kB: it may quote
    what the caller sent)."""
    message = cap_message(message)
    if shape is ErrorShape.OPENAI:
        return {
            "error": {
                "message": message,
                "type": kind.openai_type,
                "param": param,
                "code": kind.code,
            }
        }
    return {"error": message, "error_type": kind.tei_type}


def error_json(path: str, kind: ErrorKind, message: str, param: str | None = None) -> bytes:
    """The error body for a request to ``path``, encoded."""
    return orjson.dumps(error_body(shape_for_path(path), kind, message, param))
