"""Start the installed ``ember`` CLI as a real subprocess on free ports (e2e, gateway tests)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parent.parent
EMBER = Path(sys.executable).parent / "ember"


@dataclass(frozen=True)
class ServerEndpoints:
    """Where a started server listens, and its log file."""

    grpc_target: str
    http_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """The server's combined output so far."""
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_serving(
    target: str,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    credentials: grpc.ChannelCredentials | None = None,
) -> None:
    """Block until the gRPC health service at ``target`` answers SERVING (over TLS with
    ``credentials``)."""
    deadline = time.monotonic() + timeout
    channel = (
        grpc.secure_channel(target, credentials)
        if credentials is not None
        else grpc.insecure_channel(target)
    )
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise TimeoutError(f"{target} not SERVING after {timeout}s")


def serve_args(model_path: Path | None, grpc_port: int, http_port: int, *extra: str) -> list[str]:
    """The ``ember serve`` command line for a server on 127.0.0.1 at these ports."""
    args = [str(EMBER), "serve", "--grpc-host", "127.0.0.1", "--grpc-port", str(grpc_port)]
    args += ["--http-host", "127.0.0.1", "--http-port", str(http_port)]
    if model_path is not None:
        args += ["--model", str(model_path)]
    return args + list(extra)


@contextlib.contextmanager
def run_server(
    model_path: Path | None,
    *extra_args: str,
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
    credentials: grpc.ChannelCredentials | None = None,
) -> Iterator[ServerEndpoints]:
    """Run ``ember serve`` (gRPC + REST) until the block exits; SIGTERM then, SIGKILL if stuck.

    ``credentials``: the gRPC channel credentials to wait for SERVING with (a TLS server); the
    REST URL is then https."""
    grpc_port, http_port = free_port(), free_port()
    args = serve_args(model_path, grpc_port, http_port, *extra_args)
    # Each server its own job folder, unless the test gives one: never the user's default.
    data_dir = None
    if "--data-dir" not in extra_args:
        data_dir = tempfile.mkdtemp(prefix="ember-data-")
        args += ["--data-dir", data_dir]
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - outlives this frame (yielded)
        prefix="ember-server-", suffix=".log", delete=False
    )
    proc_env = {**os.environ, **(env or {})}
    proc = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, env=proc_env)
    endpoints = ServerEndpoints(
        grpc_target=f"127.0.0.1:{grpc_port}",
        http_url=f"{'https' if credentials else 'http'}://127.0.0.1:{http_port}",
        process=proc,
        log_path=Path(log_file.name),
    )
    try:
        try:
            wait_serving(endpoints.grpc_target, timeout, proc, credentials)
        except Exception as exc:
            raise RuntimeError(f"server did not start: {exc}\n{endpoints.log()}") from exc
        yield endpoints
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log_file.close()
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)
