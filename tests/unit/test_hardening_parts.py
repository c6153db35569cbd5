"""The pure parts of production hardening: message caps, API keys, TLS settings, the drain and
the batch stream's stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ember.engines.errors import InvalidInputError, NotReadyError, cap_message
from ember.gateway.security import ApiKeys, TlsFiles, Transport, is_loopback
from ember.gateway.settings import GatewaySettings
from ember.service import streaming
from ember.service.cli import _warn_if_open
from ember.service.drain import Drain


def test_long_messages_are_capped_with_the_middle_elided() -> None:
    short = "unknown prompt_name 'query'"
    assert cap_message(short) == short
    long = "unknown prompt_name '" + "p" * 70_000 + "' (known: query, passage)"
    capped = cap_message(long)
    assert len(capped) == 1024
    assert capped.startswith("unknown prompt_name 'ppp")
    assert capped.endswith("' (known: query, passage)")
    assert "characters elided" in capped
    assert len(InvalidInputError(long).message) == 1024


def test_api_keys_from_the_flag_and_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("# comment\n\nfile-key\n  spaced-key  \n")
    keys = ApiKeys.load(" one, two ,", str(key_file))
    assert keys is not None
    for key in ("one", "two", "file-key", "spaced-key"):
        assert keys.check(f"Bearer {key}")
        assert keys.check(f"Bearer {key}".encode())
    for given in (None, "", "one", "Bearer ", "Bearer one ", "bearer one", "Bearer # comment"):
        assert not keys.check(given)
    assert keys.first == "one"
    assert ApiKeys.load(None, None) is None
    assert ApiKeys.load(" , ", None) is None
    empty = tmp_path / "empty"
    empty.write_text("# nothing\n")
    with pytest.raises(ValueError, match="holds no key"):
        ApiKeys.load(None, str(empty))
    with pytest.raises(ValueError, match="no-such-file"):
        ApiKeys.load(None, str(tmp_path / "no-such-file"))


def test_tls_settings_must_be_whole(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    assert TlsFiles.load(None, None, None) is None
    with pytest.raises(ValueError, match="both"):
        TlsFiles.load(str(cert), None, None)
    with pytest.raises(ValueError, match="needs --tls-cert"):
        TlsFiles.load(None, None, str(cert))
    with pytest.raises(ValueError, match="not found"):
        TlsFiles.load(str(cert), str(key), str(tmp_path / "missing.pem"))
    files = TlsFiles.load(str(cert), str(key), None)
    assert files == TlsFiles(cert, key, None)


def test_non_loopback_without_a_key_warns(caplog: pytest.LogCaptureFixture) -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("10.1.2.3")
    open_transport = Transport.from_settings(GatewaySettings())
    with caplog.at_level(logging.WARNING, logger="ember"):
        _warn_if_open(open_transport, ["127.0.0.1"])
        assert not caplog.records
        _warn_if_open(open_transport, ["0.0.0.0"])
        assert "without an API key" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ember"):
        # gRPC and REST on the same address (the default): one warning, not two.
        _warn_if_open(open_transport, ["0.0.0.0", "0.0.0.0", "10.1.2.3"])
    assert [r.args for r in caplog.records] == [("0.0.0.0",), ("10.1.2.3",)]
    caplog.clear()
    keyed = Transport.from_settings(GatewaySettings(api_key="k"))
    with caplog.at_level(logging.WARNING, logger="ember"):
        _warn_if_open(keyed, ["0.0.0.0"])
    assert not caplog.records


async def test_drain_refuses_waits_and_expires() -> None:
    drain = Drain()
    drain.refuse_if_draining()  # not draining: nothing happens
    release = asyncio.Event()

    async def call() -> str:
        with drain.track():
            try:
                await release.wait()
            except asyncio.CancelledError:
                return "cancelled by the drain"
            return "answered"

    first = asyncio.ensure_future(call())
    await asyncio.sleep(0)
    assert drain.in_flight == 1
    drain.begin()
    with pytest.raises(NotReadyError):
        drain.refuse_if_draining()
    assert not await drain.wait_idle(0.01)
    release.set()
    assert await drain.wait_idle(1.0)
    assert await first == "answered"

    release.clear()
    second = asyncio.ensure_future(call())
    await asyncio.sleep(0)
    assert drain.expire() == 1
    assert drain.expired
    assert await second == "cancelled by the drain"


async def test_stream_stop_answers_every_batch_read_then_ends_unavailable() -> None:
    stop = asyncio.Event()
    read: list[int] = []
    more = asyncio.Event()

    async def requests() -> AsyncIterator[int]:
        for i in range(3):
            read.append(i)
            yield i
        await more.wait()  # the client would send more later
        yield 99

    async def handle(i: int) -> int:
        await asyncio.sleep(0.05)  # still running when the stop comes
        return i * 10

    answers: list[int] = []

    async def consume() -> None:
        async for answer in streaming.ordered(requests(), handle, lambda r, e: -1, stop=stop):
            answers.append(answer)
            if len(answers) == 1:
                stop.set()

    with pytest.raises(NotReadyError, match="resend"):
        await consume()
    assert read == [0, 1, 2]
    assert answers == [0, 10, 20]


async def test_stream_refuses_batches_read_after_stop_then_ends_when_the_caller_closes() -> None:
    """A caller still sending when shutdown begins gets each later batch refused (not run),
    stops, closes its side, and the stream ends normally with every batch answered."""
    stop = asyncio.Event()
    refused = asyncio.Event()
    ran: list[int] = []

    async def requests() -> AsyncIterator[int]:
        i = 0
        while not refused.is_set():
            yield i
            i += 1
            await asyncio.sleep(0.01)

    async def handle(i: int) -> int:
        ran.append(i)
        return i

    def on_error(i: int, exc: BaseException) -> int:
        assert isinstance(exc, NotReadyError)
        refused.set()
        return -1

    answers: list[int] = []
    async for answer in streaming.ordered(requests(), handle, on_error, stop=stop, quiet_s=5.0):
        answers.append(answer)
        if len(answers) == 3:
            stop.set()
    assert answers[:3] == [0, 1, 2]
    assert answers[-1] == -1
    assert -1 not in answers[:-1]
    assert ran == answers[:-1]  # the refused batch never ran


async def test_stream_without_stop_ends_normally() -> None:
    async def requests() -> AsyncIterator[int]:
        for i in range(5):
            yield i

    async def handle(i: int) -> int:
        return i + 1

    got = [
        a async for a in streaming.ordered(requests(), handle, lambda r, e: -1, 2, asyncio.Event())
    ]
    assert got == [1, 2, 3, 4, 5]


async def test_stream_stop_while_idle_ends_unavailable() -> None:
    """The stop comes while every batch read is answered and the reader waits for more."""
    stop = asyncio.Event()
    forever = asyncio.Event()

    async def requests() -> AsyncIterator[int]:
        yield 1
        try:
            await forever.wait()
        finally:
            await asyncio.sleep(0.01)  # a request stream that cleans up when cancelled
        yield 2

    async def handle(i: int) -> int:
        return i

    async def consume() -> list[int]:
        got = []
        async for answer in streaming.ordered(requests(), handle, lambda r, e: -1, stop=stop):
            got.append(answer)
            asyncio.get_running_loop().call_later(0.05, stop.set)
        return got

    with pytest.raises(NotReadyError):
        await consume()
