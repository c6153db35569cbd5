"""The REST gateway's settings: one frozen, typed object parsed once at start-up.

Every field carries its command-line flag, environment variable and help text in its
``dataclasses.field`` metadata; the ``ember`` command line builds its options from them.
Nothing here reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass

from ember.engines.config import setting


@dataclass(frozen=True)
class GatewaySettings:
    """Settings of the REST gateway (OpenAI / TEI / BEI JSON in front of the gRPC service)."""

    http_host: str = setting(
        "0.0.0.0", "--http-host", "EMBER_HTTP_HOST", "Address the REST gateway binds.", "HOST"
    )
    http_port: int = setting(
        8080,
        "--http-port",
        "EMBER_HTTP_PORT",
        "REST port (0 picks a free one).",
        "PORT",
        minimum=0,
        maximum=65535,
    )
    upstream: str = setting(
        "127.0.0.1:50051",
        "--upstream",
        "EMBER_UPSTREAM",
        "The gRPC server the gateway forwards to, as HOST:PORT.",
        "HOST:PORT",
    )
    max_body_bytes: int = setting(
        64 * 1024 * 1024,
        "--max-body-bytes",
        "EMBER_MAX_BODY_BYTES",
        "Largest request body accepted; larger ones answer 413 before they are parsed.",
        "BYTES",
        minimum=1,
    )
    max_header_bytes: int = setting(
        64 * 1024,
        "--max-header-bytes",
        "EMBER_MAX_HEADER_BYTES",
        "Largest request head: REST request line and headers (431 above, read no "
        "further) and gRPC metadata (RESOURCE_EXHAUSTED above).",
        "BYTES",
        minimum=1,
    )
    http_header_timeout_s: float = setting(
        10.0,
        "--http-header-timeout",
        "EMBER_HTTP_HEADER_TIMEOUT",
        "Seconds a client has to send a request's head once it started (REST: 408 and "
        "closed after; gRPC: the connection's handshake).",
        "SECONDS",
        above=0,
    )
    http_body_timeout_s: float = setting(
        60.0,
        "--http-body-timeout",
        "EMBER_HTTP_BODY_TIMEOUT",
        "Seconds a REST request's body may pause: a body that gets no bytes for this long "
        "is answered 408 and its connection closed.",
        "SECONDS",
        above=0,
    )
    http_idle_timeout_s: float = setting(
        5.0,
        "--http-idle-timeout",
        "EMBER_HTTP_IDLE_TIMEOUT",
        "Seconds an idle keep-alive REST connection stays open.",
        "SECONDS",
        above=0,
    )
    request_timeout_s: float = setting(
        300.0,
        "--request-timeout",
        "EMBER_REQUEST_TIMEOUT",
        "Deadline of one request in seconds (0: none). A shorter Request-Timeout-Ms or "
        "Request-Deadline-Ms header wins.",
        "SECONDS",
        minimum=0,
    )
    api_key: str | None = setting(
        None,
        "--api-key",
        "EMBER_API_KEY",
        "API key(s), comma-separated. When set, REST routes but /health, /docs, /redoc and "
        "/openapi.json require 'Authorization: Bearer <key>' (else 401), and so do gRPC "
        "calls, as 'authorization' metadata (else UNAUTHENTICATED), but those to "
        "--grpc-open-services.",
        "KEYS",
    )
    api_key_file: str | None = setting(
        None,
        "--api-key-file",
        "EMBER_API_KEY_FILE",
        "A file of API keys, one per line (blank lines and # comments skipped), accepted "
        "as --api-key's are (both may be given).",
        "PATH",
    )
    grpc_open_services: str = setting(
        "grpc.health.v1.Health,grpc.reflection.v1.ServerReflection,"
        "grpc.reflection.v1alpha.ServerReflection",
        "--grpc-open-services",
        "EMBER_GRPC_OPEN_SERVICES",
        "Comma-separated gRPC services callable without an API key (empty: none).",
        "SERVICES",
    )
    tls_cert: str | None = setting(
        None,
        "--tls-cert",
        "EMBER_TLS_CERT",
        "PEM certificate chain: serve REST (HTTPS) and gRPC over TLS (with --tls-key).",
        "PATH",
    )
    tls_key: str | None = setting(
        None, "--tls-key", "EMBER_TLS_KEY", "PEM private key of --tls-cert.", "PATH"
    )
    tls_client_ca: str | None = setting(
        None,
        "--tls-client-ca",
        "EMBER_TLS_CLIENT_CA",
        "PEM CA certificate(s): require client certificates signed by it (mutual TLS) on "
        "both transports.",
        "PATH",
    )
    cors_allow_origins: str = setting(
        "",
        "--cors-allow-origins",
        "EMBER_CORS_ALLOW_ORIGINS",
        "Comma-separated origins browsers may call from ('*' for any). Empty: no CORS.",
        "ORIGINS",
    )
    http_access_log: bool = setting(
        False,
        "--http-access-log",
        "EMBER_HTTP_ACCESS_LOG",
        "Log one line per HTTP request.",
        "BOOL",
    )
    http_shutdown_grace_s: float = setting(
        30.0,
        "--http-shutdown-grace",
        "EMBER_HTTP_SHUTDOWN_GRACE",
        "Seconds in-flight HTTP requests get to finish when the gateway stops.",
        "SECONDS",
        minimum=0,
    )

    def open_grpc_services(self) -> frozenset[str]:
        """The gRPC services callable without an API key."""
        return frozenset(x.strip() for x in self.grpc_open_services.split(",") if x.strip())

    def cors_origins(self) -> list[str]:
        """The configured CORS origins, without blanks."""
        return [o.strip() for o in self.cors_allow_origins.split(",") if o.strip()]
