"""Runs the gateway app with uvicorn inside the caller's running asyncio event loop.

The ``ember`` command line owns the process's signals: the gateway installs no signal
handlers. It binds its socket itself (so a busy port raises ``OSError`` here instead of
uvicorn exiting the process, and ``--http-port 0`` reports the port it got), and stops when
:meth:`GatewayServer.stop` is called or the task running :func:`serve_gateway` is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator
from ssl import CERT_REQUIRED
from typing import Any

import uvicorn
from fastapi import FastAPI

from ember.gateway.app import create_app
from ember.gateway.protocol import bounded_protocol
from ember.gateway.security import TlsFiles
from ember.gateway.settings import GatewaySettings
from ember.gateway.upstream import LocalCaller

logger = logging.getLogger("ember.gateway")


#: The end of the shutdown grace kept for uvicorn's own graceful close once clients left.
_CLOSE_MARGIN_S = 0.5


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handling (the embedding program owns signals)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind(
    host: str, port: int, *, reuse_port: bool = False, listen: bool = True, first: bool = True
) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0 picks one), listening unless ``listen`` is
    false. With ``reuse_port`` (SO_REUSEPORT, Linux and BSDs), other sockets that set it too
    can bind the same port: the kernel spreads new connections over those that listen. Then
    ``first`` (a server's own socket, not a worker joining it) also requires that nothing holds
    the port yet: any other process of this user setting SO_REUSEPORT, such as a second Ember
    server, could share it otherwise and silently take part of the connections. Raises
    ``OSError`` naming the address."""
    try:
        if reuse_port and first:
            # Nothing else may hold the port: a socket without SO_REUSEPORT cannot share it.
            claim = _bind(host, port, reuse_port=False, listen=False)
            port = claim.getsockname()[1]
            claim.close()
        return _bind(host, port, reuse_port=reuse_port, listen=listen)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OSError(
            f"cannot bind REST to {host}:{port} (--http-host, --http-port): {reason}"
        ) from exc


def _bind(host: str, port: int, *, reuse_port: bool, listen: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose proto
    # says TCP, and accepted sockets inherit it. With proto 0 every answer written in two parts
    # (headers, body) waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
        if listen:
            sock.listen(2048)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class GatewayServer:
    """The REST gateway served by uvicorn in the current event loop.

    ``await start()`` binds and returns once requests are accepted (``port`` is then the bound
    port); ``await stop()`` stops accepting, lets in-flight requests finish (up to
    ``settings.http_shutdown_grace_s``) and closes the upstream channel.
    """

    def __init__(
        self,
        settings: GatewaySettings,
        app: FastAPI | None = None,
        *,
        sock: socket.socket | None = None,
        local: LocalCaller | None = None,
    ) -> None:
        """``sock``: a listening socket to serve on instead of binding ``settings``' address
        (a gateway worker process gets its own SO_REUSEPORT socket this way). ``local``: the
        service in this process, called directly (see :func:`ember.gateway.app.create_app`)."""
        self.settings = settings
        self.app = app if app is not None else create_app(settings, local)
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        self._given_socket = sock

    @property
    def port(self) -> int:
        """The bound port (the real one when ``http_port`` is 0)."""
        if self._socket is None:
            raise RuntimeError("the gateway is not started")
        port: int = self._socket.getsockname()[1]
        return port

    async def start(self) -> None:
        """Bind, run the app's startup, and return once the gateway accepts requests.

        Raises ``OSError`` when the address cannot be bound and ``RuntimeError`` when the app
        fails to start.
        """
        if self._task is not None:
            raise RuntimeError("the gateway is already started")
        sock = self._given_socket or bind(self.settings.http_host, self.settings.http_port)
        s = self.settings
        tls = TlsFiles.load(s.tls_cert, s.tls_key, s.tls_client_ca)
        tls_options: dict[str, Any] = {}
        if tls is not None:
            tls_options = {"ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)}
            if tls.client_ca is not None:
                tls_options |= {"ssl_ca_certs": str(tls.client_ca), "ssl_cert_reqs": CERT_REQUIRED}
        config = uvicorn.Config(
            self.app,
            lifespan="on",
            log_config=None,
            access_log=self.settings.http_access_log,
            server_header=False,
            http=bounded_protocol(
                s.max_header_bytes, s.http_header_timeout_s, s.http_body_timeout_s
            ),
            timeout_keep_alive=s.http_idle_timeout_s,  # type: ignore[arg-type]
            # The bounded protocol answers 431 first; this is h11's limit, unused with httptools.
            h11_max_incomplete_event_size=s.max_header_bytes,
            **tls_options,
            timeout_graceful_shutdown=self.settings.http_shutdown_grace_s,  # type: ignore[arg-type]
        )
        server = _Server(config)
        self._socket, self._server = sock, server
        self._task = asyncio.create_task(self._serve(server, sock), name="ember-gateway")
        while not server.started:
            if self._task.done():
                error = self._task.exception()
                self._task = None
                sock.close()
                raise RuntimeError("the REST gateway failed to start") from error
            await asyncio.sleep(0.005)
        logger.info(
            "REST gateway on %s://%s:%d -> gRPC %s",
            "https" if tls is not None else "http",
            self.settings.http_host,
            self.port,
            self.settings.upstream,
        )

    @staticmethod
    async def _serve(server: _Server, sock: socket.socket) -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit as exit_:
            # uvicorn exits the process when the app's startup fails: turn that into an error.
            raise RuntimeError(f"uvicorn stopped with exit code {exit_.code}") from None

    async def wait(self) -> None:
        """Return when the server has stopped (after :meth:`stop`)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    def begin_shutdown(self) -> None:
        """From now on every answer carries ``Connection: close``: keep-alive clients leave
        before the listening socket closes, instead of finding their connection gone."""
        self.app.state.draining = True

    @staticmethod
    async def _wait_for_clients_to_leave(server: _Server, until: float) -> None:
        """Wait (until ``until``, event loop time) for the clients to close their connections.

        After :meth:`begin_shutdown` every answer says ``Connection: close``, so busy clients
        leave after their next answer and idle ones at ``--http-idle-timeout``. Closing a
        keep-alive connection earlier races a request already on its way over it: the client
        would see the connection reset with no answer (not even a 503) for a request the
        server never read."""
        loop = asyncio.get_running_loop()
        # uvicorn offers no event for a connection closing: poll its set.
        while server.server_state.connections and loop.time() < until:  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    async def stop(self, *, deadline: float | None = None) -> None:
        """Stop gracefully; returns when in-flight requests are done and the channel closed.

        ``deadline`` (event loop time) bounds the wait for in-flight requests instead of
        ``settings.http_shutdown_grace_s``."""
        server, task = self._server, self._task
        if server is None or task is None:
            return
        if deadline is not None:
            await self._wait_for_clients_to_leave(server, deadline - _CLOSE_MARGIN_S)
            remaining = deadline - asyncio.get_running_loop().time()
            server.config.timeout_graceful_shutdown = max(remaining, 0.1)  # type: ignore[assignment]
        server.should_exit = True
        try:
            await task
        finally:
            self._task = None
            if self._socket is not None:
                self._socket.close()


async def serve_gateway(settings: GatewaySettings, *, started: asyncio.Event | None = None) -> None:
    """Serve the gateway until cancelled; ``started`` is set once requests are accepted.

    Cancelling the task that runs this stops the gateway gracefully before the cancellation
    propagates.
    """
    server = GatewayServer(settings)
    await server.start()
    if started is not None:
        started.set()
    try:
        await server.wait()
    finally:
        await asyncio.shield(server.stop())
