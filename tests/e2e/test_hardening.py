"""Production hardening against the installed ``ember serve`` (real MiniLM, real clients):

* fuzz batteries: mutated protobuf bytes on every gRPC method, hypothesis-generated JSON bodies
  (lone surrogates and invalid UTF-8 included) on every REST POST route: never UNKNOWN,
  INTERNAL or a 5xx, and the connection stays usable after each 4xx;
* API keys on both transports; header size and header-read time limits; the overload mix
  (only answers, RESOURCE_EXHAUSTED with a retry pushback, or 429 with Retry-After);
* TLS on both transports with client certificates, from a CA generated here.

Figures for the record print with ``-s``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import random
import socket
import ssl
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import descriptor as pb_descriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ember.v1 import (
    classify_pb2,
    embed_pb2,
    embed_pb2_grpc,
    model_pb2,
    rerank_pb2,
    token_classification_pb2,
)
from tests.server_process import ServerEndpoints, run_server
from tests.tls_certs import Certs, make_certs

KEYS = ("key-one", "key-two")
FILE_KEY = "key-from-file"
MAX_HEADER_BYTES = 16384
BODY_TIMEOUT_S = 2.0
HEAD_TIMEOUT_S = 1.0
MAX_CONCURRENT = 8
AUTH = (("authorization", f"Bearer {KEYS[1]}"),)
REST_AUTH = {"authorization": f"Bearer {FILE_KEY}"}
#: Ends of a call that are answers or client errors: anything else is a server fault.
GRPC_FINE = {"OK", "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"}
TALLY: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="module")
def keyed(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerEndpoints]:
    """MiniLM behind two keys given on the command line and one in a key file, a small
    admission limit, a 16 kB header limit, a 1 s header-read timeout and a 2 s body-pause
    timeout."""
    key_file = tmp_path_factory.mktemp("keys") / "keys.txt"
    key_file.write_text(f"# Ember API keys\n\n{FILE_KEY}\n")
    with run_server(
        minilm_path,
        "--api-key",
        ",".join(KEYS),
        "--api-key-file",
        str(key_file),
        "--max-concurrent-requests",
        str(MAX_CONCURRENT),
        "--max-header-bytes",
        str(MAX_HEADER_BYTES),
        "--http-header-timeout",
        str(HEAD_TIMEOUT_S),
        "--http-body-timeout",
        str(BODY_TIMEOUT_S),
    ) as server:
        yield server
    print(f"\nhardening battery: {dict(TALLY)}")


def ember_methods() -> list[tuple[str, pb_descriptor.MethodDescriptor]]:
    """(path, descriptor) of every method of Ember's five services."""
    out = []
    for module in (embed_pb2, classify_pb2, rerank_pb2, token_classification_pb2, model_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                out.append((f"/{service.full_name}/{method.name}", method))
    return out


def _identity(data: bytes) -> bytes:
    return data


def call_raw(
    channel: grpc.Channel,
    method: pb_descriptor.MethodDescriptor,
    path: str,
    payload: bytes,
    metadata: Any = AUTH,
) -> str:
    """Send ``payload`` as the request (or the stream's one message); the status name."""
    try:
        if method.client_streaming:
            call = channel.stream_stream(path, _identity, _identity)
            for _ in call(iter([payload]), timeout=30, metadata=metadata):
                pass
        else:
            channel.unary_unary(path, _identity, _identity)(payload, timeout=30, metadata=metadata)
    except grpc.RpcError as error:
        return str(error.code().name)
    return "OK"


# ----------------------------------------------------------------- gRPC: bad bytes


def _filled(descriptor: pb_descriptor.Descriptor, depth: int = 0) -> dict[str, Any]:
    """A JSON-like value for ``descriptor`` with every string, number and message field set."""
    value: dict[str, Any] = {}
    oneofs: set[str] = set()
    for field in descriptor.fields:
        oneof = field.containing_oneof
        if oneof is not None:
            if oneof.name in oneofs:
                continue  # one member of each oneof
            oneofs.add(oneof.name)
        repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == 3
        if field.message_type is not None:
            if depth > 2:
                continue
            item: Any = _filled(field.message_type, depth + 1)
        elif field.type == field.TYPE_STRING:
            item = "hello world"
        elif field.type == field.TYPE_BOOL:
            item = True
        elif field.type == field.TYPE_ENUM:
            item = 1
        elif field.type in (field.TYPE_FLOAT, field.TYPE_DOUBLE):
            item = 0.5
        else:
            item = 7
        value[field.name] = [item] if repeated else item
    return value


def _seed(method: pb_descriptor.MethodDescriptor) -> bytes:
    from google.protobuf import json_format, message_factory

    cls = message_factory.GetMessageClass(method.input_type)
    message = json_format.ParseDict(_filled(method.input_type), cls())
    return bytes(message.SerializeToString())


def _mutations(seed: bytes, other: bytes, rng: random.Random, count: int) -> list[bytes]:
    """Bad and odd variants of a valid request: flipped, cut, spliced, random, wrong type."""
    cases = [
        b"\xff",
        b"\x0f\x00",
        b"\x0a\xff\xff\xff\xff\x0f",
        other,
        seed.replace(b"hello", b"h\xff\xfeo"),
    ]
    while len(cases) < count:
        data = bytearray(seed)
        kind = rng.randrange(5)
        if kind == 0 and data:
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif kind == 1 and data:
            del data[rng.randrange(len(data)) :]
        elif kind == 2:
            at = rng.randrange(len(data) + 1)
            data[at:at] = rng.randbytes(rng.randint(1, 16))
        elif kind == 3:
            data = bytearray(rng.randbytes(rng.randint(1, 64)))
        else:
            data = bytearray(seed + other)
        cases.append(bytes(data))
    return cases


def test_grpc_mutated_bytes_never_fault(keyed: ServerEndpoints) -> None:
    methods = ember_methods()
    rng = random.Random(12)
    faults: list[tuple[str, str]] = []
    with grpc.insecure_channel(keyed.grpc_target) as channel:
        for i, (path, method) in enumerate(methods):
            seed = _seed(method)
            other = _seed(methods[(i + 3) % len(methods)][1])
            for payload in _mutations(seed, other, rng, 30):
                status = call_raw(channel, method, path, payload)
                TALLY[f"grpc fuzz {status}"] += 1
                if status not in GRPC_FINE:
                    faults.append((path, status))
        # Still serving after the battery.
        stub = embed_pb2_grpc.EmbedServiceStub(channel)
        request = embed_pb2.EmbedRequest(inputs=[embed_pb2.EmbedInput(text="still here")])
        assert len(stub.Embed(request, metadata=AUTH).embeddings) == 1
    assert faults == []
    assert TALLY["grpc fuzz INVALID_ARGUMENT"] > 0


# ----------------------------------------------------------------- REST: generated bodies

SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\udc80\udc80", "ok \ud83d"])
TEXTS = st.text(max_size=12) | SURROGATES
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | TEXTS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXTS, children, max_size=3),
    max_leaves=8,
)
POST_ROUTES = {
    "/v1/embeddings": ("input", "model", "encoding_format", "dimensions", "user"),
    "/embeddings": ("input", "model", "encoding_format", "dimensions"),
    "/v1/rerank": ("query", "documents", "top_n", "return_documents", "model"),
    "/embed": (
        "inputs",
        "normalize",
        "truncate",
        "truncation_direction",
        "prompt_name",
        "dimensions",
    ),
    "/embed_sparse": ("inputs", "truncate", "truncation_direction", "prompt_name"),
    "/similarity": ("inputs", "truncate", "prompt_name"),
    "/rerank": ("query", "texts", "raw_scores", "return_text", "truncate", "truncation_direction"),
    "/predict": ("inputs", "raw_scores", "truncate", "truncation_direction"),
    "/predict_tokens": ("inputs", "raw_scores", "truncate", "aggregation_strategy"),
    "/tokenize": ("inputs", "add_special_tokens", "prompt_name"),
    "/decode": ("ids", "skip_special_tokens"),
}


@st.composite
def bodies(draw: st.DrawFn, fields: tuple[str, ...]) -> bytes:
    """A JSON object over ``fields`` (escaped surrogates included), sometimes with an invalid
    UTF-8 byte spliced in."""
    body = draw(st.fixed_dictionaries({}, optional={f: JSON_VALUES for f in fields}))
    raw = json.dumps(body).encode()
    if draw(st.booleans()) and b'"' in raw:
        quotes = [i for i, c in enumerate(raw) if c == ord('"')]
        at = draw(st.sampled_from(quotes)) + 1
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80"])) + raw[at:]
    return raw


@pytest.fixture(scope="module")
def rest(keyed: ServerEndpoints) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=keyed.http_url, timeout=60, headers=REST_AUTH) as client:
        yield client


@pytest.mark.parametrize("path", sorted(POST_ROUTES))
def test_rest_generated_bodies_never_5xx(rest: httpx.Client, path: str) -> None:
    @settings(
        max_examples=30,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(raw=bodies(POST_ROUTES[path]))
    def check(raw: bytes) -> None:
        response = rest.post(path, content=raw, headers={"content-type": "application/json"})
        TALLY[f"rest fuzz {response.status_code // 100}xx"] += 1
        assert response.status_code < 500, (raw, response.text)
        if response.status_code >= 400:
            assert response.json()  # a JSON error body in the route's shape
            assert response.headers.get("connection") != "close"

    check()


@pytest.mark.parametrize("path", sorted(POST_ROUTES))
def test_lone_surrogate_and_invalid_utf8_are_422_naming_the_field(
    rest: httpx.Client, path: str
) -> None:
    field = POST_ROUTES[path][0]
    for raw in (
        json.dumps({field: "\ud800"}).encode(),
        b'{"' + field.encode() + b'": ["ok", "a\xffb"]}',
    ):
        response = rest.post(path, content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 422, response.text
        assert field in response.text
        # The same keep-alive connection answers the next request.
        assert rest.post("/embed", json={"inputs": "fine"}).status_code == 200


# ----------------------------------------------------------------- API keys


def test_grpc_calls_need_a_key_health_and_reflection_do_not(keyed: ServerEndpoints) -> None:
    seed_calls = [(path, method, _seed(method)) for path, method in ember_methods()]
    with grpc.insecure_channel(keyed.grpc_target) as channel:
        for path, method, seed in seed_calls:
            for metadata in (
                (),
                (("authorization", "Bearer wrong"),),
                (("authorization", KEYS[0]),),
            ):
                status = call_raw(channel, method, path, seed, metadata)
                TALLY[f"grpc auth refused {status}"] += 1
                assert status == "UNAUTHENTICATED", (path, metadata)
        stub = embed_pb2_grpc.EmbedServiceStub(channel)
        request = embed_pb2.EmbedRequest(inputs=[embed_pb2.EmbedInput(text="with a key")])
        for key in (*KEYS, FILE_KEY):
            answer = stub.Embed(request, metadata=(("authorization", f"Bearer {key}"),))
            assert len(answer.embeddings) == 1
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = list(
            reflection.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            )
        )
        names = {s.name for s in answers[0].list_services_response.service}
        assert "ember.v1.EmbedService" in names
        with pytest.raises(grpc.RpcError) as refused:
            stub.Embed(request, metadata=(("authorization", f"Bearer {KEYS[0]}x"),))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert not any(key in (refused.value.details() or "") for key in (*KEYS, FILE_KEY))


def test_rest_needs_a_key(keyed: ServerEndpoints) -> None:
    with httpx.Client(base_url=keyed.http_url, timeout=30) as http:
        for headers in ({}, {"authorization": "Bearer nope"}, {"authorization": KEYS[0]}):
            response = http.post("/embed", json={"inputs": "x"}, headers=headers)
            assert response.status_code == 401
            assert KEYS[0] not in response.text
        for key in (*KEYS, FILE_KEY):
            response = http.post(
                "/embed", json={"inputs": "x"}, headers={"authorization": f"Bearer {key}"}
            )
            assert response.status_code == 200
        assert http.get("/health").status_code == 200


# ----------------------------------------------------------------- header limits


def _raw_request(url: str, head: bytes, read_timeout: float = 10.0) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=read_timeout) as sock:
        with contextlib.suppress(OSError):  # the server answered and closed before the end
            sock.sendall(head)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_oversized_headers_are_refused(keyed: ServerEndpoints, rest: httpx.Client) -> None:
    big = b"x" * (MAX_HEADER_BYTES * 4)
    answer = _raw_request(
        keyed.http_url, b"GET /health HTTP/1.1\r\nHost: a\r\nX-Big: " + big + b"\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    response = rest.post(
        "/embed", json={"inputs": "x"}, headers={"x-pad": "y" * (MAX_HEADER_BYTES * 2)}
    )
    assert response.status_code == 431
    assert rest.post("/embed", json={"inputs": "x"}).status_code == 200
    with grpc.insecure_channel(keyed.grpc_target) as channel:
        stub = embed_pb2_grpc.EmbedServiceStub(channel)
        request = embed_pb2.EmbedRequest(inputs=[embed_pb2.EmbedInput(text="x")])
        with pytest.raises(grpc.RpcError) as refused:
            stub.Embed(
                request, metadata=(*AUTH, ("x-pad", "y" * (MAX_HEADER_BYTES * 2))), timeout=30
            )
        TALLY[f"grpc big metadata {refused.value.code().name}"] += 1
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert len(stub.Embed(request, metadata=AUTH).embeddings) == 1


def test_slow_head_is_timed_out(keyed: ServerEndpoints) -> None:
    started = time.monotonic()
    answer = _raw_request(keyed.http_url, b"POST /embed HTTP/1.1\r\nHost: a\r\nX-Slow: ")
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert time.monotonic() - started < HEAD_TIMEOUT_S + 5


@pytest.mark.parametrize(
    ("path", "shape"), [("/v1/embeddings", b'"error":{'), ("/embed", b'"error":"')]
)
def test_stalled_body_is_timed_out(keyed: ServerEndpoints, path: str, shape: bytes) -> None:
    """A body that stops arriving is answered 408 (in the route's error shape) and closed."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {KEYS[0]}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    started = time.monotonic()
    answer = _raw_request(keyed.http_url, head.encode() + b'{"input": "half a bo')
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"body stopped arriving" in answer
    assert shape in answer
    assert time.monotonic() - started < BODY_TIMEOUT_S + 5


def test_a_slow_steady_body_is_served(keyed: ServerEndpoints) -> None:
    """Pauses shorter than the limit, however many, are fine: the limit is per pause."""
    body = b'{"inputs": "sent a few bytes at a time"}'
    head = (
        f"POST /embed HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {KEYS[0]}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    host, port = keyed.http_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode())
        for start in range(0, len(body), 8):  # 3 s in all, more than the 2 s limit
            time.sleep(BODY_TIMEOUT_S / 4)
            sock.sendall(body[start : start + 8])
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


def _p50(http: httpx.Client, count: int) -> float:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        assert http.post("/embed", json={"inputs": "a short text"}).status_code == 200
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_abusive_header_does_not_stall_others(keyed: ServerEndpoints, rest: httpx.Client) -> None:
    """A client streaming a 64 MB header is cut off after the limit; normal requests meanwhile
    are all served (their p50 is printed next to the baseline's)."""
    baseline = _p50(rest, 20)
    sent = {"bytes": 0}

    def abuse() -> None:
        host, port = keyed.http_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\nX-Huge: ")
            chunk = b"z" * 65536
            try:
                for _ in range(1024):  # 64 MB
                    sock.sendall(chunk)
                    sent["bytes"] += len(chunk)
            except OSError:
                return

    thread = threading.Thread(target=abuse)
    thread.start()
    during = _p50(rest, 20)
    thread.join(30)
    print(
        f"\nREST p50 baseline {baseline * 1e3:.1f} ms, with a 64 MB header in flight "
        f"{during * 1e3:.1f} ms; the abuser sent {sent['bytes'] / 1e6:.1f} MB before the cut"
    )
    TALLY["abusive header MB sent before cut"] = round(sent["bytes"] / 1e6)
    assert sent["bytes"] < 64 * 1024 * 1024  # cut off before the end


# ----------------------------------------------------------------- overload mix


async def test_overload_mix_is_refused_with_a_retry_hint(keyed: ServerEndpoints) -> None:
    statuses: collections.Counter[str] = collections.Counter()
    request = embed_pb2.EmbedRequest(inputs=[embed_pb2.EmbedInput(text="overload " * 30)] * 4)

    async def grpc_call(stub: embed_pb2_grpc.EmbedServiceStub) -> None:
        try:
            await stub.Embed(request, metadata=AUTH, timeout=60)
            statuses["grpc OK"] += 1
        except grpc.aio.AioRpcError as error:
            statuses[f"grpc {error.code().name}"] += 1
            if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                trailers = dict(error.trailing_metadata() or ())
                assert int(trailers["grpc-retry-pushback-ms"]) > 0

    async def rest_call(http: httpx.AsyncClient) -> None:
        response = await http.post("/embed", json={"inputs": ["overload " * 30] * 4})
        statuses[f"rest {response.status_code}"] += 1
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) > 0

    channels = [grpc.aio.insecure_channel(keyed.grpc_target) for _ in range(2)]
    try:
        stubs = [embed_pb2_grpc.EmbedServiceStub(c) for c in channels]
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(
            base_url=keyed.http_url, headers=REST_AUTH, timeout=60, limits=limits
        ) as http:
            await asyncio.gather(
                *(grpc_call(stubs[i % 2]) for i in range(600)),
                *(rest_call(http) for _ in range(80)),
            )
    finally:
        for channel in channels:
            await channel.close()
    TALLY.update({f"overload {k}": v for k, v in statuses.items()})
    print(f"\noverload mix: {dict(statuses)}")
    assert set(statuses) <= {"grpc OK", "grpc RESOURCE_EXHAUSTED", "rest 200", "rest 429"}
    assert statuses["grpc RESOURCE_EXHAUSTED"] > 0
    assert statuses["grpc OK"] > 0


# ----------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("tls"))


def _client_credentials(certs: Certs, with_cert: bool = True) -> grpc.ChannelCredentials:
    if not with_cert:
        return grpc.ssl_channel_credentials(certs.ca.read_bytes())
    return grpc.ssl_channel_credentials(
        certs.ca.read_bytes(), certs.client_key.read_bytes(), certs.client_cert.read_bytes()
    )


@pytest.fixture(scope="module")
def tls_server(minilm_path: Path, certs: Certs) -> Iterator[ServerEndpoints]:
    with run_server(
        minilm_path,
        "--tls-cert",
        str(certs.server_cert),
        "--tls-key",
        str(certs.server_key),
        "--tls-client-ca",
        str(certs.ca),
        credentials=_client_credentials(certs),
    ) as server:
        yield server


def test_tls_with_client_certificates_on_both_transports(
    tls_server: ServerEndpoints, certs: Certs
) -> None:
    request = embed_pb2.EmbedRequest(inputs=[embed_pb2.EmbedInput(text="over TLS")])
    with grpc.secure_channel(tls_server.grpc_target, _client_credentials(certs)) as channel:
        assert len(embed_pb2_grpc.EmbedServiceStub(channel).Embed(request).embeddings) == 1
    with grpc.secure_channel(tls_server.grpc_target, _client_credentials(certs, False)) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            embed_pb2_grpc.EmbedServiceStub(channel).Embed(request, timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    with grpc.insecure_channel(tls_server.grpc_target) as channel, pytest.raises(grpc.RpcError):
        embed_pb2_grpc.EmbedServiceStub(channel).Embed(request, timeout=10)

    context = ssl.create_default_context(cafile=str(certs.ca))
    context.load_cert_chain(str(certs.client_cert), str(certs.client_key))
    with httpx.Client(base_url=tls_server.http_url, verify=context, timeout=30) as http:
        response = http.post("/embed", json={"inputs": "over HTTPS"})
        assert response.status_code == 200
        assert len(response.json()[0]) == 384
        assert http.get("/health").status_code == 200  # the gateway reaches the service
    without_cert = ssl.create_default_context(cafile=str(certs.ca))
    with (
        httpx.Client(base_url=tls_server.http_url, verify=without_cert, timeout=30) as http,
        pytest.raises(httpx.TransportError),
    ):
        http.post("/embed", json={"inputs": "no client certificate"})
    plain = tls_server.http_url.replace("https://", "http://")
    with httpx.Client(base_url=plain, timeout=30) as http, pytest.raises(httpx.TransportError):
        http.post("/embed", json={"inputs": "plaintext to a TLS port"})
