"""The structured detail every failed call carries: a ``google.rpc.Status`` with an ``ErrorInfo``.

gRPC clients in any language read it from the ``grpc-status-details-bin`` trailer (Go's
``status.Details()``, Java's ``StatusProto.fromThrowable``, Connect's ``findDetails``, Python's
``grpc_status.rpc_status``), as AIP-193 describes. The ``ErrorInfo`` says why the call failed in a
word a program can switch on (``reason``, stable: see :data:`REASONS`), in the ``ember`` domain,
with the call's request id in ``metadata``.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from ember.engines.errors import (
    BackendUnavailableError,
    EngineError,
    InvalidInputError,
    ModelLoadError,
    ModelNotFoundError,
    NotReadyError,
    OverloadedError,
    UnsupportedTaskError,
)

#: The trailer gRPC clients read a ``google.rpc.Status`` from.
DETAILS_KEY = "grpc-status-details-bin"
#: ``ErrorInfo.domain`` of every Ember error.
DOMAIN = "ember"
#: ``ErrorInfo.reason`` by error class (the most derived class listed wins); anything else,
#: a bug in the server, is ``INTERNAL``.
REASONS: dict[type[BaseException], str] = {
    InvalidInputError: "INVALID_INPUT",
    UnsupportedTaskError: "UNSUPPORTED_TASK",
    OverloadedError: "OVERLOADED",
    NotReadyError: "NOT_READY",
    ModelNotFoundError: "MODEL_NOT_FOUND",
    EngineError: "ENGINE_FAILED",
    BackendUnavailableError: "BACKEND_UNAVAILABLE",
    ModelLoadError: "MODEL_LOAD_FAILED",
}
# The message is sent twice (grpc-message and the Status): the copy in the Status is cut here so
# that one long message cannot push the trailers past the client's metadata size limit.
_MAX_DETAIL_MESSAGE = 1024


def reason_for(exc: BaseException) -> str:
    """The ``ErrorInfo.reason`` for ``exc``."""
    for cls in type(exc).__mro__:
        reason = REASONS.get(cls)
        if reason is not None:
            return reason
    return "INTERNAL"


def status_details(
    code: grpc.StatusCode, message: str, exc: BaseException, request_id: str
) -> bytes:
    """The serialized ``google.rpc.Status`` for a call ending with ``code`` and ``message``."""
    info = error_details_pb2.ErrorInfo(
        reason=reason_for(exc), domain=DOMAIN, metadata={"request_id": request_id}
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(
        code=code.value[0], message=message[:_MAX_DETAIL_MESSAGE], details=[detail]
    )
    return status.SerializeToString()
