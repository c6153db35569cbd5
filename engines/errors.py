"""Ember's error taxonomy: domain exceptions that carry the status they should end a call with.

Every layer raises these; exactly one place (the service's error interceptor) maps them to gRPC
status codes, and the gateway maps gRPC codes to HTTP. Anything that is not an ``EmberError``
is a bug and is reported as INTERNAL, never as a client error.
"""

from __future__ import annotations

import enum

#: The longest message an error carries to a caller (characters). Messages may quote what the
#: caller sent (a prompt name, a label); a 64 kB value echoed into a gRPC status detail would
#: overflow the transport's metadata limit and the caller would see an unrelated error.
MAX_MESSAGE_CHARS = 1024


def cap_message(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``message`` if it fits in ``limit`` characters, else its start and end with the middle
    (usually the offending value) elided, within ``limit`` characters."""
    if len(message) <= limit:
        return message
    marker = f" [... {len(message) - limit} characters elided ...] "
    head = (limit - len(marker)) * 3 // 4
    tail = limit - len(marker) - head
    return message[:head] + marker + message[len(message) - tail :]


class ErrorCode(enum.Enum):
    """The status a failed call ends with; names match gRPC status codes."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    CANCELLED = "CANCELLED"
    INTERNAL = "INTERNAL"


class EmberError(Exception):
    """Base class: an error with a message meant for the caller and a status code."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str) -> None:
        message = cap_message(message)
        super().__init__(message)
        self.message = message


class InvalidInputError(EmberError):
    """The request is malformed or violates a limit (bad text, too long, bad option)."""

    code = ErrorCode.INVALID_ARGUMENT


class UnsupportedTaskError(EmberError):
    """The loaded model cannot serve the requested task (e.g. Rerank on an embedder)."""

    code = ErrorCode.FAILED_PRECONDITION


class OverloadedError(EmberError):
    """The server is at its concurrency budget; the caller should retry later."""

    code = ErrorCode.RESOURCE_EXHAUSTED


class NotReadyError(EmberError):
    """The server is starting or shutting down and cannot take the request."""

    code = ErrorCode.UNAVAILABLE


class DeadlineExceededError(EmberError):
    """The caller's deadline passed before the answer was ready."""

    code = ErrorCode.DEADLINE_EXCEEDED


class EngineError(EmberError):
    """The engine failed on a batch: that batch's requests fail, the server keeps serving."""

    code = ErrorCode.INTERNAL


class ModelLoadError(EmberError):
    """The model folder cannot be loaded (missing files, unsupported architecture, bad config)."""

    code = ErrorCode.FAILED_PRECONDITION


class BackendUnavailableError(ModelLoadError):
    """An optional backend was requested whose extra or hardware is missing."""
