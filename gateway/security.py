"""API keys and TLS, shared by both transports (the REST gateway and the gRPC service).

:class:`ApiKeys` holds the configured keys (``--api-key``, comma-separated, and
``--api-key-file``, one per line) and checks an ``Authorization: Bearer <key>`` value against
every one of them in constant time (:func:`hmac.compare_digest`, no early exit), so neither the
answer's timing nor its text tells which part of a guess was right. :class:`TlsFiles` holds the
certificate, key and (for client-certificate authentication) the client CA.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BEARER = b"Bearer "


class ApiKeys:
    """The accepted API keys."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("ApiKeys needs at least one key")
        self._expected = [BEARER + key.encode() for key in keys]
        self.first = keys[0]

    @classmethod
    def load(cls, api_key: str | None, api_key_file: str | None) -> ApiKeys | None:
        """The keys given as ``api_key`` (comma-separated) and in ``api_key_file`` (one per
        line; blank lines and ``#`` comments skipped); None when there are none.

        Raises ValueError for a key file that cannot be read or holds no key."""
        keys = [k.strip() for k in (api_key or "").split(",") if k.strip()]
        if api_key_file:
            try:
                lines = Path(api_key_file).read_text().splitlines()
            except OSError as exc:
                raise ValueError(f"--api-key-file {api_key_file}: {exc.strerror}") from None
            from_file = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
            if not from_file:
                raise ValueError(f"--api-key-file {api_key_file} holds no key")
            keys += from_file
        return cls(keys) if keys else None

    def check(self, authorization: bytes | str | None) -> bool:
        """Whether ``authorization`` (the header's value) is ``Bearer <one of the keys>``."""
        if authorization is None:
            return False
        given = authorization.encode() if isinstance(authorization, str) else authorization
        ok = False
        for expected in self._expected:  # every key, always: no early exit
            ok |= hmac.compare_digest(given, expected)
        return ok


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of the server's TLS: certificate chain, private key and, for client
    certificate authentication (mTLS), the CA that signs client certificates."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    @classmethod
    def load(cls, cert: str | None, key: str | None, client_ca: str | None) -> TlsFiles | None:
        """The TLS files the settings name, None without TLS; raises ValueError when only
        part of it is given or a file is missing."""
        if not cert and not key:
            if client_ca:
                raise ValueError("--tls-client-ca needs --tls-cert and --tls-key")
            return None
        if not (cert and key):
            raise ValueError("TLS needs both --tls-cert and --tls-key")
        files = cls(Path(cert), Path(key), Path(client_ca) if client_ca else None)
        for path in (files.cert, files.key, files.client_ca):
            if path is not None and not path.is_file():
                raise ValueError(f"TLS file not found: {path}")
        return files


@dataclass(frozen=True)
class Transport:
    """What both transports enforce, from the gateway settings: API keys (and the gRPC
    services open without one), TLS, and the header size limit."""

    keys: ApiKeys | None
    open_grpc_services: frozenset[str]
    tls: TlsFiles | None
    max_header_bytes: int
    header_timeout_s: float

    @classmethod
    def from_settings(cls, settings: Any) -> Transport:
        """From :class:`~ember.gateway.settings.GatewaySettings` (raises ValueError for
        unreadable key or TLS files)."""
        return cls(
            keys=ApiKeys.load(settings.api_key, settings.api_key_file),
            open_grpc_services=settings.open_grpc_services(),
            tls=TlsFiles.load(settings.tls_cert, settings.tls_key, settings.tls_client_ca),
            max_header_bytes=settings.max_header_bytes,
            header_timeout_s=settings.http_header_timeout_s,
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) reaches this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
