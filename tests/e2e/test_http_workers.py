"""End to end: ``ember serve --http-workers 2`` — the REST gateway in two worker processes on
one port: it serves, /metrics sums every process, a dead worker is replaced, and SIGTERM (or
the parent's death) leaves no process and no metrics folder behind."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from ember.clients import EmberClient
from tests.server_process import ServerEndpoints, run_server

WORKER_MODULE = "ember.gateway.workers"


def _workers(parent: int) -> list[int]:
    """Pids of the gateway worker processes whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and WORKER_MODULE in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


def _scrape(server: ServerEndpoints) -> str:
    with httpx.Client(base_url=server.http_url, timeout=30) as http:
        return http.get("/metrics").text


@pytest.fixture(scope="module")
def tmpdir_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("http-workers-tmp")


@pytest.fixture(scope="module")
def server(minilm_path: Path, tmpdir_env: Path) -> Iterator[ServerEndpoints]:
    # TMPDIR: the multiprocess metrics folder is made (and must be removed) in there.
    with run_server(
        minilm_path, "--http-workers", "2", env={"TMPDIR": str(tmpdir_env)}
    ) as endpoints:
        yield endpoints


def test_workers_serve_rest_and_metrics_sum_every_process(server: ServerEndpoints) -> None:
    workers = _workers(server.process.pid)
    assert len(workers) == 2, workers
    texts = [f"request {i} to the gateway workers" for i in range(12)]
    rest = []
    for text in texts:  # a new connection each: SO_REUSEPORT spreads them over the workers
        with httpx.Client(base_url=server.http_url, timeout=60) as http:
            answer = http.post("/v1/embeddings", json={"input": text})
            assert answer.status_code == 200, answer.text
            rest.append(answer.json()["data"][0]["embedding"])
    with EmberClient(server.grpc_target) as client:
        direct = client.embed(texts)
    np.testing.assert_allclose(np.array(rest), direct, atol=1e-6)

    with httpx.Client(base_url=server.http_url, timeout=60) as http:
        assert http.get("/health").json() == {"status": "serving"}
        metrics = http.get("/metrics").text
    # HTTP counts of both workers, summed; the service's own metrics from the parent process.
    assert _metric(metrics, "ember_http_requests_total", route="/v1/embeddings") == len(texts)
    assert (
        _metric(metrics, "ember_grpc_requests_total", method="Embed", code="OK") >= len(texts) + 1
    )
    assert _metric(metrics, "ember_batch_size_count") >= 1
    assert "ember_queue_depth" in metrics


def test_a_dead_worker_is_replaced(server: ServerEndpoints) -> None:
    before = _workers(server.process.pid)
    os.kill(before[0], signal.SIGKILL)
    _wait_until(
        lambda: len(now := _workers(server.process.pid)) == 2 and before[0] not in now,
        30,
        "a replacement worker",
    )
    for _ in range(6):
        with httpx.Client(base_url=server.http_url, timeout=60) as http:
            assert http.post("/embed", json={"inputs": "still served"}).status_code == 200


def test_sigterm_stops_workers_and_removes_the_metrics_folder(
    minilm_path: Path, tmp_path: Path
) -> None:
    with run_server(minilm_path, "--http-workers", "2", env={"TMPDIR": str(tmp_path)}) as endpoints:
        workers = _workers(endpoints.process.pid)
        assert len(workers) == 2
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith("ember-metrics-")]
        endpoints.process.send_signal(signal.SIGTERM)
        assert endpoints.process.wait(timeout=60) == 0, endpoints.log()
        assert not any(_alive(pid) for pid in workers)
        assert not [p for p in tmp_path.iterdir() if p.name.startswith("ember-metrics-")]
        log = endpoints.log()
    assert "Traceback" not in log, log


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_every_process_is_a_clean_shutdown(
    minilm_path: Path, sig: signal.Signals
) -> None:
    """Ctrl-C in a terminal (SIGINT) and systemd's default stop (SIGTERM) signal every process
    of the server at once: the workers' exits are part of the shutdown, not crashes to log and
    restart."""
    texts = [" ".join(["a long input to keep the engine busy"] * 30)] * 600
    with (
        # The call takes ~20 s on 2 quiet cores; a grace beyond the default 30 s keeps a loaded
        # CI machine from turning it into a call cut off by the grace (a CI run saw that).
        run_server(minilm_path, "--http-workers", "2", "--shutdown-grace", "300") as endpoints,
        EmberClient(endpoints.grpc_target) as client,
        ThreadPoolExecutor(1) as pool,
    ):
        workers = _workers(endpoints.process.pid)
        assert len(workers) == 2
        # In flight while the signals arrive: the drain answers it, and lasts long enough for
        # the workers' exits to be seen by the parent.
        inflight = pool.submit(client.embed, texts)
        _wait_until(
            lambda: _metric(_scrape(endpoints), "ember_inflight_requests") > 0, 30, "a call"
        )
        for pid in (*workers, endpoints.process.pid):  # workers first: the worst order
            os.kill(pid, sig)
        assert inflight.result(timeout=300).shape == (len(texts), 384)
        assert endpoints.process.wait(timeout=60) == 0, endpoints.log()
        _wait_until(lambda: not any(_alive(pid) for pid in workers), 30, "the workers' exit")
        assert _workers(endpoints.process.pid) == []
        log = endpoints.log()
    assert "restarting" not in log, log
    assert " ERROR " not in log, log


def test_workers_exit_when_the_parent_is_killed(minilm_path: Path) -> None:
    with run_server(minilm_path, "--http-workers", "2") as endpoints:
        workers = _workers(endpoints.process.pid)
        assert len(workers) == 2
        endpoints.process.kill()
        endpoints.process.wait(timeout=30)
        _wait_until(lambda: not any(_alive(pid) for pid in workers), 30, "orphaned workers")


def test_workers_enforce_the_api_key_without_showing_it(minilm_path: Path) -> None:
    with run_server(minilm_path, "--http-workers", "2", "--api-key", "s3cret-key") as endpoints:
        workers = _workers(endpoints.process.pid)
        assert len(workers) == 2
        for pid in workers:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            assert b"s3cret-key" not in cmdline, "the API key is on a worker's command line"
        with httpx.Client(base_url=endpoints.http_url, timeout=60) as http:
            assert http.post("/embed", json={"inputs": "x"}).status_code == 401
            allowed = http.post(
                "/embed", json={"inputs": "x"}, headers={"Authorization": "Bearer s3cret-key"}
            )
            assert allowed.status_code == 200
