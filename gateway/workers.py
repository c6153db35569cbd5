"""The REST gateway in several worker processes on one HTTP port (``ember serve --http-workers``).

One Python process runs one event loop on one core; past a few hundred small requests a second
the gateway's per-request work (HTTP parsing, JSON, the gRPC client call) fills it. With
``--http-workers N`` (N > 1) the parent (which keeps the gRPC service and the model) starts N
gateway processes, each an ordinary gateway (:class:`~ember.gateway.server.GatewayServer`)
with its own gRPC channel to the service.

The port: on systems with SO_REUSEPORT (Linux, BSDs) the parent binds the address without
listening (so the port is reserved and ``--http-port 0`` is resolved once) and every worker
binds its own listening socket on it with SO_REUSEPORT; the kernel spreads new connections
evenly over the workers. Elsewhere the parent listens and the workers share its socket.

Lifecycle: :meth:`GatewayWorkers.start` returns once every worker accepts requests. A worker
that dies while serving is started again after a short pause. :meth:`GatewayWorkers.stop`
sends SIGTERM to every worker (each lets its in-flight requests finish, up to
``http_shutdown_grace_s``) and waits, then SIGKILLs any that is stuck. A worker whose parent
disappears (its stdin pipe closes) stops by itself, so no worker outlives the server.

Metrics: each worker counts its own requests. When ``PROMETHEUS_MULTIPROC_DIR`` is set (``ember
serve`` sets it to a fresh folder before anything creates a metric), every process of the
server writes its metrics there and ``GET /metrics`` on any worker renders the sum over all
workers and the service: HTTP request counts and latencies of all workers together, and the
service's queue, batch and gRPC metrics. Per-process metrics (``process_*``) are not included.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

from ember.gateway.settings import GatewaySettings

logger = logging.getLogger("ember.gateway")

_READY = b"ember-gateway-worker: ready\n"
_START_TIMEOUT_S = 60.0
_RESTART_PAUSE_S = 1.0
_POLL_S = 0.25


def reuse_port_supported() -> bool:
    """Whether workers can each bind the port with SO_REUSEPORT."""
    return hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith(("linux", "freebsd"))


class GatewayWorkers:
    """N gateway processes serving one HTTP address; see the module docstring."""

    def __init__(
        self,
        settings: GatewaySettings,
        count: int,
        *,
        event_loop: str = "auto",
        log_level: str = "info",
        log_format: str = "text",
        otlp: tuple[str, str] | None = None,
    ) -> None:
        """``otlp``: (endpoint, service name) the workers send traces to; None: no tracing."""
        if count < 2:
            raise ValueError("GatewayWorkers is for 2 or more workers")
        self.settings = settings
        self.count = count
        self._event_loop = event_loop
        self._log_level = log_level
        self._log_format = log_format
        self._otlp = otlp
        self._socket: socket.socket | None = None
        self._reuse_port = reuse_port_supported()
        self._procs: list[subprocess.Popen[bytes] | None] = [None] * count
        self._monitor: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def port(self) -> int:
        """The HTTP port every worker serves (the real one when ``http_port`` is 0)."""
        if self._socket is None:
            raise RuntimeError("the gateway workers are not started")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def pids(self) -> list[int]:
        """Process ids of the running workers."""
        return [p.pid for p in self._procs if p is not None and p.poll() is None]

    async def start(self) -> None:
        """Bind the address, start every worker and return once all of them accept requests.

        Raises ``OSError`` when the address cannot be bound and ``RuntimeError`` when a worker
        fails to start (the others are stopped then).
        """
        from ember.gateway.server import bind

        s = self.settings
        self._socket = bind(
            s.http_host, s.http_port, reuse_port=self._reuse_port, listen=not self._reuse_port
        )
        try:
            started = await asyncio.gather(
                *(self._spawn(i) for i in range(self.count)), return_exceptions=True
            )
            errors = [e for e in started if isinstance(e, BaseException)]
            if errors:
                raise RuntimeError(f"a REST gateway worker failed to start: {errors[0]}")
        except BaseException:
            await self.stop()
            raise
        self._monitor = asyncio.create_task(self._watch(), name="ember-gateway-workers")
        logger.info(
            "REST gateway on http://%s:%d -> gRPC %s: %d worker processes (%s)",
            s.http_host,
            self.port,
            s.upstream,
            self.count,
            "SO_REUSEPORT" if self._reuse_port else "one shared socket",
        )

    async def _spawn(self, index: int) -> None:
        assert self._socket is not None
        settings = dataclasses.replace(self.settings, http_port=self.port)
        spec = {
            "settings": dataclasses.asdict(settings),
            "event_loop": self._event_loop,
            "log_level": self._log_level,
            "log_format": self._log_format,
            "otlp": self._otlp,
            "index": index,
            # Shared socket: its descriptor number (inherited); SO_REUSEPORT: the worker binds.
            "fd": None if self._reuse_port else self._socket.fileno(),
        }
        env = dict(os.environ)
        # The worker imports Ember exactly as this process did (installed, editable, or from a
        # source tree put on sys.path by a launcher).
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        # subprocess (vfork/posix_spawn), not the event loop's subprocess support: uvloop forks,
        # which runs gRPC's fork handlers in this process for nothing (and logs about it).
        proc = subprocess.Popen(  # noqa: ASYNC220 - a few ms, at start-up or restart only
            [sys.executable, "-m", "ember.gateway.workers"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=() if self._reuse_port else (self._socket.fileno(),),
            env=env,
        )
        self._procs[index] = proc
        assert proc.stdin is not None
        assert proc.stdout is not None
        # The settings go through the pipe, not the command line: they may hold the API key,
        # and any user can read a process's command line.
        proc.stdin.write(json.dumps(spec).encode() + b"\n")
        proc.stdin.flush()
        loop = asyncio.get_running_loop()
        try:
            # A blocking read on a helper thread; killing the worker ends it (end of file).
            line = await asyncio.wait_for(
                loop.run_in_executor(None, proc.stdout.readline), _START_TIMEOUT_S
            )
        except (asyncio.TimeoutError, TimeoutError):
            line = b""
        if line != _READY:
            proc.kill()
            code = await self._wait(proc, _START_TIMEOUT_S)
            raise RuntimeError(f"gateway worker {index} did not start (exit code {code})")

    @staticmethod
    async def _wait(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
        """The exit code once ``proc`` has exited, or None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(_POLL_S)
        return proc.returncode

    async def _watch(self) -> None:
        """Start a worker again whenever one dies while the gateway is serving."""
        while not self._stopping:
            await asyncio.sleep(_POLL_S)
            for index, proc in enumerate(self._procs):
                if self._stopping or proc is None or proc.poll() is None:
                    continue
                # Ctrl-C in a terminal and systemd's default stop signal every process at once:
                # a worker may end before this process has begun its own shutdown. Leave that
                # the pause to begin before calling the exit a crash.
                await asyncio.sleep(_RESTART_PAUSE_S)
                if self._stopping:
                    return
                logger.error(
                    "REST gateway worker %d (pid %d) exited with %s; restarting it",
                    index,
                    proc.pid,
                    proc.returncode,
                )
                _close_pipes(proc)
                self._procs[index] = None
                try:
                    await self._spawn(index)
                except (RuntimeError, OSError) as exc:
                    logger.error("restarting REST gateway worker %d failed: %s", index, exc)

    def begin_shutdown(self) -> None:
        """Stop replacing workers that end (they may be ending on the same signal). Their
        requests are service calls, which the service refuses once it drains; :meth:`stop`
        stops them."""
        self._stopping = True

    async def stop(self, *, deadline: float | None = None) -> None:
        """SIGTERM every worker, wait for them to finish in-flight requests, release the port.

        Each worker finishes by its ``http_shutdown_grace_s`` from the signal; ``deadline`` (event
        loop time, the same instant when the caller set the grace) is accepted for symmetry with
        :meth:`GatewayServer.stop`."""
        self._stopping = True
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        procs = [p for p in self._procs if p is not None]
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        limit = self.settings.http_shutdown_grace_s + 10.0
        for proc in procs:
            if await self._wait(proc, limit) is None:
                logger.error("gateway worker %d did not stop in %.0fs; killing it", proc.pid, limit)
                proc.kill()
                await self._wait(proc, 10.0)
            _close_pipes(proc)
        self._procs = [None] * self.count
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


# -- the worker process -------------------------------------------------------------------


def _watch_parent(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Stop when stdin closes: the parent is gone (or closed it on purpose)."""
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            stop.set()

    os.set_blocking(fd, False)
    loop.add_reader(fd, readable)


async def _serve_worker(spec: dict[str, object]) -> None:
    from ember.gateway.server import GatewayServer, bind
    from ember.service.runtime import settle_heap

    settings = GatewaySettings(**spec["settings"])  # type: ignore[arg-type]
    fd = spec["fd"]
    if isinstance(fd, int):
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
    else:
        sock = bind(settings.http_host, settings.http_port, reuse_port=True, first=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _watch_parent(loop, stop)
    otlp = spec.get("otlp")
    if isinstance(otlp, list):
        from ember.gateway import tracing

        tracing.configure(str(otlp[0]), str(otlp[1]))
    gateway = GatewayServer(settings, sock=sock)
    await gateway.start()
    settle_heap()
    sys.stdout.buffer.write(_READY)
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await gateway.stop()
        if otlp:
            from ember.gateway import tracing

            tracing.shutdown()


def worker_main() -> None:
    """Entry point of one worker process: ``python -m ember.gateway.workers``, its spec (JSON:
    settings, event loop, log level, index, inherited socket) as the first line of stdin; the
    rest of stdin stays open until the parent goes."""
    from ember.service.logs import configure_logging
    from ember.service.runtime import run_event_loop

    spec = json.loads(_read_line(sys.stdin.fileno()))
    configure_logging(str(spec["log_level"]), str(spec["log_format"]), f"w{spec['index']}")
    run_event_loop(_serve_worker(spec), str(spec["event_loop"]))


def _read_line(fd: int) -> bytes:
    """One line from ``fd``, read byte by byte so that nothing after it is consumed (the rest of
    the pipe is watched for the parent's end)."""
    line = bytearray()
    while not line.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            break
        line += chunk
    return bytes(line)


if __name__ == "__main__":
    worker_main()
