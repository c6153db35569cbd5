"""End to end: a second ``ember serve`` on a port a running one holds ends at once with exit
status 2 and one line naming the address and the flags to change, never a traceback; and
with ``--http-workers`` (SO_REUSEPORT) it does not quietly share the running server's REST
port, taking part of its connections."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.server_process import ServerEndpoints, free_port, run_server, serve_args


@pytest.fixture(scope="module")
def running(minilm_path: Path) -> Iterator[ServerEndpoints]:
    with run_server(minilm_path, "--http-workers", "2") as endpoints:
        yield endpoints


def second_server(minilm_path: Path, grpc_port: int, http_port: int, *extra: str) -> str:
    """Run a second server to its end; its output (it must fail, exit status 2)."""
    done = subprocess.run(
        serve_args(minilm_path, grpc_port, http_port, "--jobs", "false", *extra),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output, output
    return output


def test_grpc_port_in_use(running: ServerEndpoints, minilm_path: Path) -> None:
    grpc_port = int(running.grpc_target.rsplit(":", 1)[1])
    output = second_server(minilm_path, grpc_port, free_port())
    assert f"ember: error: cannot bind gRPC to 127.0.0.1:{grpc_port}" in output
    assert "--grpc-port" in output


@pytest.mark.parametrize("workers", ["1", "2"])
def test_rest_port_in_use(running: ServerEndpoints, minilm_path: Path, workers: str) -> None:
    http_port = urlsplit(running.http_url).port
    assert http_port is not None
    output = second_server(minilm_path, free_port(), http_port, "--http-workers", workers)
    assert f"ember: error: cannot bind REST to 127.0.0.1:{http_port}" in output
    assert "Address already in use" in output
    assert "--http-port" in output
