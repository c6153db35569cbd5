"""Numeric options are checked against their declared range when given (flag or environment
variable): a port past 65535, a zero batch limit or a negative timeout is refused with a
message naming the flag (or variable), before anything starts."""

from __future__ import annotations

import os
import subprocess

import pytest

from ember.gateway.settings import GatewaySettings
from ember.service import options
from ember.service.cli import _parser
from ember.service.settings import ServerSettings
from tests.server_process import EMBER


def build(cls: type, argv: list[str], env: dict[str, str] | None = None) -> object:
    args = _parser().parse_args(["serve", *argv])
    return options.build(cls, args, env or {})


@pytest.mark.parametrize(
    ("cls", "argv", "message"),
    [
        (ServerSettings, ["--grpc-port", "99999"], "--grpc-port must be at most 65535, got 99999"),
        (ServerSettings, ["--grpc-port", "-1"], "--grpc-port must be at least 0, got -1"),
        (ServerSettings, ["--max-batch-tokens", "0"], "--max-batch-tokens must be at least 1"),
        (ServerSettings, ["--max-batch-requests", "-5"], "--max-batch-requests must be at least 1"),
        (ServerSettings, ["--shutdown-grace", "-1"], "--shutdown-grace must be at least 0"),
        (ServerSettings, ["--gil-switch-interval", "0"], "--gil-switch-interval must be greater"),
        (GatewaySettings, ["--http-port", "70000"], "--http-port must be at most 65535"),
        (GatewaySettings, ["--request-timeout", "-1"], "--request-timeout must be at least 0"),
        (GatewaySettings, ["--http-idle-timeout", "0"], "--http-idle-timeout must be greater"),
    ],
)
def test_out_of_range_flags_are_refused(cls: type, argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(cls, argv)


def test_out_of_range_environment_values_name_the_variable() -> None:
    with pytest.raises(ValueError, match="EMBER_MAX_BATCH_TOKENS must be at least 1, got 0"):
        build(ServerSettings, [], {"EMBER_MAX_BATCH_TOKENS": "0"})


def test_edges_and_unset_values_are_accepted() -> None:
    server = build(ServerSettings, ["--grpc-port", "65535", "--max-batch-tokens", "1"])
    assert isinstance(server, ServerSettings)
    assert (server.grpc_port, server.max_batch_tokens, server.max_batch_requests) == (
        65535,
        1,
        None,
    )
    gateway = build(GatewaySettings, ["--http-port", "0", "--request-timeout", "0"])
    assert isinstance(gateway, GatewaySettings)
    assert (gateway.http_port, gateway.request_timeout_s) == (0, 0.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--grpc-port", "99999"], "--grpc-port must be at most 65535, got 99999"),
        (["serve", "--http-workers", "0"], "--http-workers must be at least 1, got 0"),
        (
            ["batch", "in.jsonl", "out", "--rows-per-part", "0"],
            "--rows-per-part must be at least 1",
        ),
    ],
)
def test_the_command_fails_with_one_line(argv: list[str], message: str) -> None:
    done = subprocess.run([str(EMBER), *argv], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().startswith(f"ember: error: {message}"), done.stderr
    assert "Traceback" not in done.stderr


def test_a_malformed_environment_value_is_one_line() -> None:
    done = subprocess.run(
        [str(EMBER), "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "EMBER_HTTP": "maybe"},
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "ember: error: invalid value for EMBER_HTTP: expected a boolean (true/false), got 'maybe'"
    )
