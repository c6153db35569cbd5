"""Ember's error taxonomy: domain exceptions that carry the status they should end a call with.

Every layer raises these; exactly one place (the service's error interceptor) maps them to gRPC
status codes, and the gateway maps gRPC codes to HTTP. Anything that is not an ``EmberError``
is a bug and is reported as INTERNAL, never as a client error.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

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
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    CANCELLED = "CANCELLED"
    INTERNAL = "INTERNAL"


class EmberError(Exception):
    """Base class: an error with a message meant for the caller and a status code.

    Besides the message an error may carry structured fields, set where it is raised and never
    parsed back out of the message: ``reason`` (a stable snake_case word such as ``too_long``),
    ``field`` (the request field at fault) and ``index`` (which item of that field).
    """

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        reason: str = "",
        field: str | None = None,
        index: int | None = None,
    ) -> None:
        message = cap_message(message)
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.field = field
        self.index = index


class InvalidInputError(EmberError):
    """The request is malformed or violates a limit (bad text, too long, bad option)."""

    code = ErrorCode.INVALID_ARGUMENT


class ItemError(InvalidInputError):
    """One input of a request is bad; the message is ``"{field} {index} {detail}"``.

    ``facts`` hold the numbers the detail speaks of (e.g. ``tokens`` and ``limit``), so a layer
    that knows the request better can name the item differently (:meth:`renamed`) or say it
    another way without reading the message.
    """

    def __init__(
        self,
        index: int,
        detail: str,
        *,
        reason: str,
        field: str = "input",
        facts: Mapping[str, int | str] | None = None,
    ) -> None:
        super().__init__(f"{field} {index} {detail}", reason=reason, field=field, index=index)
        self.position = index
        self.detail = detail
        self.facts: Mapping[str, int | str] = dict(facts or {})

    def renamed(
        self, index: int | None = None, *, field: str | None = None, detail: str | None = None
    ) -> ItemError:
        """The same error about item ``index`` of ``field`` (by default the same item and
        field), the detail optionally reworded."""
        return ItemError(
            self.position if index is None else index,
            self.detail if detail is None else detail,
            reason=self.reason,
            field=(self.field or "input") if field is None else field,
            facts=self.facts,
        )


class UnsupportedTaskError(EmberError):
    """The loaded model cannot serve the requested task (e.g. Rerank on an embedder)."""

    code = ErrorCode.FAILED_PRECONDITION


class ModelNotFoundError(EmberError):
    """The request names a model the server does not serve."""

    code = ErrorCode.NOT_FOUND


class AdminDisabledError(EmberError):
    """An admin call (load or unload a model) to a server started without ``--enable-admin``."""

    code = ErrorCode.PERMISSION_DENIED


class OverloadedError(EmberError):
    """The server is at its concurrency budget; the caller should retry later."""

    code = ErrorCode.RESOURCE_EXHAUSTED


class NotReadyError(EmberError):
    """The server is starting or shutting down and cannot take the request."""

    code = ErrorCode.UNAVAILABLE


class EngineError(EmberError):
    """The engine failed on a batch: that batch's requests fail, the server keeps serving."""

    code = ErrorCode.INTERNAL


class ModelLoadError(EmberError):
    """The model folder cannot be loaded (missing files, unsupported architecture, bad config)."""

    code = ErrorCode.FAILED_PRECONDITION


class CacheUnwritableError(ModelLoadError):
    """The graph cache folder cannot be created or written (a read-only home folder)."""


class ModelExistsError(ModelLoadError):
    """A model to load has the id or an alias of a model already served."""

    code = ErrorCode.ALREADY_EXISTS


class BackendUnavailableError(ModelLoadError):
    """An optional backend was requested whose extra or hardware is missing."""
