"""How every Ember process logs: ``--log-level`` and ``--log-format`` (``text``, one line per
record, or ``json``, one JSON object per line for log collectors such as Loki, Elasticsearch
or Cloud Logging), set up by :func:`configure_logging` in the server, the gateway's worker
processes and Ray replicas alike.

A JSON record holds ``time`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``,
``message``, ``worker`` (a gateway worker's tag) when set, ``exception`` (the traceback) when
the record has one, and the record's own fields: a gRPC access line's ``rpc``, ``code``,
``duration_ms`` and ``request_id``; an HTTP access line's ``client``, ``method``, ``path``,
``http_version`` and ``status``. Python warnings become records; what native libraries write
to stderr themselves (a C++ runtime's own warning) stays as they write it.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from ember.engines.config import setting

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")

#: The attributes every LogRecord has; anything else on a record is a field of its own.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
#: uvicorn's access records carry their fields as the message's arguments, in this order.
_HTTP_ACCESS = ("client", "method", "path", "http_version", "status")


def log_level_setting() -> Any:
    """The ``--log-level`` field of a settings class (the server's and ``ember gateway``'s)."""
    return setting(
        "info", "--log-level", "EMBER_LOG_LEVEL", "debug, info, warning or error.", "LEVEL"
    )


def log_format_setting() -> Any:
    """The ``--log-format`` field of a settings class."""
    return setting(
        "text",
        "--log-format",
        "EMBER_LOG_FORMAT",
        "text (one line per record) or json (one JSON object per line, for log collectors: "
        "time, level, logger, message, and an access line's fields such as rpc, code, "
        "duration_ms, request_id, method, path and status).",
        "FORMAT",
    )


def check_log_settings(settings: Any) -> None:
    """Lower-case ``settings.log_level`` in place (a frozen dataclass) and check both fields:
    ValueError naming the allowed values."""
    level = settings.log_level.strip().lower()
    if level not in LOG_LEVELS:
        raise ValueError(f"log_level must be one of {LOG_LEVELS}, got {settings.log_level!r}")
    object.__setattr__(settings, "log_level", level)
    if settings.log_format not in LOG_FORMATS:
        raise ValueError(f"log_format must be one of {LOG_FORMATS}, got {settings.log_format!r}")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (the module docstring lists the keys)."""

    def __init__(self, tag: str = "") -> None:
        super().__init__()
        self._tag = tag

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self._tag:
            entry["worker"] = self._tag
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            entry.update(zip(_HTTP_ACCESS, args, strict=True))
        entry.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: a field that is not JSON (a path, an enum) is logged as its text
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str, fmt: str, tag: str = "") -> None:
    """Log records at ``level`` and above to stderr in ``fmt``; ``tag`` names the process (a
    gateway worker's ``w0``, ``w1``...). Like ``logging.basicConfig``, it does nothing where the
    root logger already has a handler (a Ray worker's own)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(tag))
        # Python warnings (a library's DeprecationWarning) as records too, not raw stderr lines
        logging.captureWarnings(True)
    else:
        name = f"%(name)s[{tag}]" if tag else "%(name)s"
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {name}: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler])
