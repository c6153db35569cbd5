"""``--log-level`` and ``--log-format``: the JSON formatter's records, and the checks of both
options (a misspelt level was silently served at info)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from ember.service.cli import main
from ember.service.logs import JsonFormatter
from ember.service.settings import ServerSettings


def _record(name: str, msg: str, args: tuple[object, ...], **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_an_access_record_keeps_its_fields() -> None:
    line = JsonFormatter("w1").format(
        _record(
            "ember.access",
            "%s %s",
            ("/ember.v1.EmbedService/Embed", "OK"),
            rpc="/ember.v1.EmbedService/Embed",
            code="OK",
            duration_ms=6.5,
            request_id="abc",
            path=Path("/a/b"),  # not JSON: logged as its text
        )
    )
    entry = json.loads(line)
    assert entry.pop("time").endswith("Z")
    assert entry == {
        "level": "INFO",
        "logger": "ember.access",
        "message": "/ember.v1.EmbedService/Embed OK",
        "worker": "w1",
        "rpc": "/ember.v1.EmbedService/Embed",
        "code": "OK",
        "duration_ms": 6.5,
        "request_id": "abc",
        "path": "/a/b",
    }


def test_an_http_access_record_is_split_into_fields() -> None:
    args = ("127.0.0.1:5000", "POST", "/v1/embeddings", "1.1", 422)
    entry = json.loads(
        JsonFormatter().format(_record("uvicorn.access", '%s - "%s %s HTTP/%s" %d', args))
    )
    assert entry["message"] == '127.0.0.1:5000 - "POST /v1/embeddings HTTP/1.1" 422'
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", "/v1/embeddings", 422)
    assert "worker" not in entry


def test_an_exception_is_one_line_with_its_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "ember", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert 'raise ValueError("boom")' in json.loads(line)["exception"]


def test_levels_are_checked_and_any_case_is_accepted() -> None:
    assert ServerSettings(log_level="DEBUG").log_level == "debug"
    with pytest.raises(ValueError, match="log_level must be one of"):
        ServerSettings(log_level="verbose")
    with pytest.raises(ValueError, match="log_format must be one of"):
        ServerSettings(log_format="xml")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["prepare", "--log-level", "nonsense"], "log_level must be one of"),
        (["gateway", "--log-format", "xml"], "log_format must be one of"),
    ],
)
def test_a_bad_value_stops_the_command(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
