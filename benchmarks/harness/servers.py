"""The servers under test: Ember (``ember serve``) and Infinity, each as its own process.

Both are started on free loopback ports, timed from process start to their first answered
embedding request (the cold start), and stopped with SIGTERM (SIGKILL if stuck). Infinity runs
from its own virtual environment (``.bench/infinity-venv``, made by :func:`ensure_infinity`)
so its pinned dependencies never touch Ember's, offline (``HF_HUB_OFFLINE=1``) on the same
local model folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.server_process import EMBER, free_port, wait_serving

REPO = Path(__file__).resolve().parents[2]
INFINITY_VENV = REPO / ".bench" / "infinity-venv"
INFINITY_VERSION = "0.0.78"
TORCH_VERSION = "2.13.0"


@dataclass(frozen=True)
class Running:
    """A started server: where it answers and how long it took to get there."""

    name: str
    base_url: str
    #: gRPC target (Ember only).
    grpc_target: str | None
    pid: int
    #: Seconds from process start to gRPC health SERVING (Ember only).
    to_serving_s: float | None
    #: Seconds from process start to the first answered /v1/embeddings request.
    to_first_answer_s: float
    log_path: Path

    def log(self) -> str:
        """The server's output so far."""
        return self.log_path.read_text(errors="replace")


def _post_embed(base_url: str, timeout: float) -> bool:
    body = json.dumps({"input": ["cold start probe"], "model": "bench"}).encode()
    request = urllib.request.Request(
        f"{base_url}/v1/embeddings",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": "Bearer bench"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200 and b"embedding" in response.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _wait_first_answer(
    base_url: str, process: subprocess.Popen[bytes], started: float, timeout: float
) -> float:
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        if _post_embed(base_url, timeout=5.0):
            return time.perf_counter() - started
        time.sleep(0.02)
    raise TimeoutError(f"{base_url} gave no embedding within {timeout}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def _process(
    name: str, args: Sequence[str], env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[bytes], Path, float]]:
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - outlives this frame (yielded)
        prefix=f"bench-{name}-", suffix=".log", delete=False
    )
    started = time.perf_counter()
    process = subprocess.Popen(
        list(args), stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, **env}
    )
    try:
        yield process, Path(log_file.name), started
    finally:
        _stop(process)
        log_file.close()


@contextlib.contextmanager
def ember(
    name: str, model: Path, extra_args: Sequence[str], timeout: float = 600.0
) -> Iterator[Running]:
    """Run ``ember serve`` (gRPC + REST gateway) with ``extra_args`` until the block exits."""
    grpc_port, http_port = free_port(), free_port()
    args = [
        str(EMBER),
        "serve",
        "--model",
        str(model),
        "--served-model-name",
        "bench",
        "--grpc-host",
        "127.0.0.1",
        "--grpc-port",
        str(grpc_port),
        "--http-host",
        "127.0.0.1",
        "--http-port",
        str(http_port),
        "--log-level",
        "warning",
        *extra_args,
    ]
    base_url = f"http://127.0.0.1:{http_port}"
    target = f"127.0.0.1:{grpc_port}"
    with _process(name, args, {}) as (process, log_path, started):
        try:
            wait_serving(target, timeout, process)
            to_serving = time.perf_counter() - started
            first = _wait_first_answer(base_url, process, started, timeout)
        except Exception as exc:
            raise RuntimeError(f"{name} did not start: {exc}\n{log_path.read_text()}") from exc
        yield Running(name, base_url, target, process.pid, to_serving, first, log_path)


def infinity_available() -> bool:
    """Whether Infinity's virtual environment is installed."""
    return (INFINITY_VENV / "bin" / "infinity_emb").is_file()


def ensure_infinity() -> None:
    """Create ``.bench/infinity-venv`` with the CPU torch and ``infinity-emb`` (once).

    torch is installed first, pinned, so infinity's dependency on it does not pull the multi-GB
    CUDA build. Takes a few minutes the first time.
    """
    if infinity_available():
        return
    python = INFINITY_VENV / "bin" / "python"
    print(f"bench: creating {INFINITY_VENV} (infinity-emb {INFINITY_VERSION}, once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(INFINITY_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, f"torch=={TORCH_VERSION}"], check=True)
    subprocess.run(
        [*pip, f"infinity-emb[server,torch]=={INFINITY_VERSION}", f"torch=={TORCH_VERSION}"],
        check=True,
    )


@contextlib.contextmanager
def infinity(model: Path, timeout: float = 600.0) -> Iterator[Running]:
    """Run Infinity's torch engine on ``model`` (CPU, offline) until the block exits."""
    port = free_port()
    args = [
        str(INFINITY_VENV / "bin" / "infinity_emb"),
        "v2",
        "--model-id",
        str(model),
        "--served-model-name",
        "bench",
        "--engine",
        "torch",
        "--device",
        "cpu",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--url-prefix",
        "/v1",
        "--log-level",
        "warning",
    ]
    env = {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "INFINITY_ANONYMOUS_USAGE_STATS": "0",
    }
    base_url = f"http://127.0.0.1:{port}"
    with _process("infinity", args, env) as (process, log_path, started):
        try:
            first = _wait_first_answer(base_url, process, started, timeout)
        except Exception as exc:
            raise RuntimeError(f"infinity did not start: {exc}\n{log_path.read_text()}") from exc
        yield Running("infinity", base_url, None, process.pid, None, first, log_path)
