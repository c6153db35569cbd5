"""Bad requests against a real server: each is a clear 4xx in the route's error shape (never a
5xx), and the next request is served."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.gateway.support import Gateway, Served, run_gateway

OPENAI_ROUTES = ("/v1/embeddings", "/embeddings", "/v1/rerank", "/v2/rerank")


def assert_error(response: httpx.Response, status: int, path: str) -> str:
    """The answer is ``status`` in the shape of ``path``; returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    if path in OPENAI_ROUTES:
        assert set(body) == {"error"}
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert body["error"]["type"] in ("invalid_request_error", "authentication_error")
        message = body["error"]["message"]
    else:
        assert set(body) == {"error", "error_type"}
        message = body["error"]
    assert isinstance(message, str)
    assert message
    return message


def assert_still_serving(http: httpx.Client) -> None:
    response = http.post("/v1/embeddings", json={"input": "still here?"})
    assert response.status_code == 200
    assert len(response.json()["data"][0]["embedding"]) == 384


MALFORMED = [b'{"input": ', b"{'input': 'x'}", b"not json at all", b'{"input": "x"}}', b"\xff\xfe{"]


@pytest.mark.parametrize("path", ["/v1/embeddings", "/embed", "/rerank", "/predict", "/"])
@pytest.mark.parametrize("raw", MALFORMED)
def test_malformed_json_is_400(minilm: Served, path: str, raw: bytes) -> None:
    response = minilm.http.post(
        path,
        content=raw,
        headers={"content-type": "application/json"},
    )
    message = assert_error(response, 400, path)
    assert "JSON" in message
    assert_still_serving(minilm.http)


BAD_BODIES: list[tuple[str, Any, str]] = [
    # (route, body, a word the message must contain)
    ("/v1/embeddings", {"input": []}, "input"),
    ("/v1/embeddings", {"input": [[]]}, "input"),
    ("/v1/embeddings", {"input": 42}, "input"),
    ("/v1/embeddings", {"input": ["a", 1]}, "input"),
    ("/v1/embeddings", {}, "input"),
    ("/v1/embeddings", [], "object"),
    ("/v1/embeddings", "text", "object"),
    ("/v1/embeddings", {"input": "x", "encoding_format": "float16"}, "encoding_format"),
    ("/v1/embeddings", {"input": "x", "dimensions": -1}, "dimensions"),
    ("/v1/embeddings", {"input": "x", "dimensions": 0}, "dimensions"),
    ("/v1/embeddings", {"input": "x", "dimensions": "64"}, "dimensions"),
    ("/v1/embeddings", {"input": "x", "dimensions": 385}, "384"),
    ("/v1/embeddings", {"input": [""]}, "empty"),
    ("/embeddings", {"input": None}, "input"),
    ("/embed", {"inputs": []}, "inputs"),
    ("/embed", {"inputs": "x", "normalize": "yes"}, "normalize"),
    ("/embed", {"inputs": "x", "truncation_direction": "up"}, "truncation_direction"),
    ("/embed", {"inputs": "x", "prompt_name": "no-such-prompt"}, "prompt"),
    ("/embed", {"text": "x"}, "inputs"),
    ("/tokenize", {"inputs": []}, "inputs"),
    ("/similarity", {"inputs": {"source_sentence": "", "sentences": ["a"]}}, "source_sentence"),
    ("/similarity", {"inputs": {"source_sentence": "q", "sentences": []}}, "sentences"),
    ("/similarity", {"inputs": {"source_sentence": "q", "sentences": ["a", ""]}}, "input 1"),
    ("/similarity", {"inputs": {"source_sentence": "q"}}, "sentences"),
    ("/similarity", {"inputs": ["q", "a"]}, "inputs"),
    (
        "/similarity",
        {
            "inputs": {"source_sentence": "q", "sentences": ["a"]},
            "parameters": {"prompt_name": "nope"},
        },
        "prompt",
    ),
    ("/decode", {"ids": []}, "ids"),
    ("/decode", {"ids": [[]]}, "ids"),
    ("/decode", {"ids": [101, -5]}, "ids"),
    ("/decode", {"ids": [101, 10**7]}, "vocabulary"),
    ("/decode", {"ids": "hello"}, "ids"),
    ("/rerank", {"query": "q", "texts": []}, "texts"),
    ("/rerank", {"query": "q", "texts": "a"}, "texts"),
    ("/v1/rerank", {"query": "q", "documents": [{"title": "t"}]}, "documents"),
    ("/v1/rerank", {"query": "q", "documents": ["a"], "top_n": 0}, "top_n"),
    ("/predict", {"inputs": ["a", "b", "c"]}, "ONE text pair"),
    ("/predict", {"inputs": [["a", "b", "c"]]}, "inputs"),
    ("/predict_tokens", {"inputs": [[]]}, "inputs"),
    ("/predict_tokens", {"inputs": ["a"], "aggregation_strategy": "mean"}, "aggregation"),
    ("/", {"inputs": []}, "the list is empty"),
    ("/", {"inputs": "x", "dimensions": 0}, "dimensions"),
    ("/", "text", "object"),
    ("/invocations", {"inputs": 5}, "inputs"),
    ("/vertex", {"instances": "x"}, "instances"),
    ("/vertex", {"instances": [{"inputs": []}]}, "instances.0.inputs"),
    ("/v2/rerank", {"query": "q", "documents": []}, "the list is empty"),
    ("/v2/rerank", {"documents": ["a"]}, "query"),
]


@pytest.mark.parametrize(("path", "body", "word"), BAD_BODIES)
def test_invalid_body_is_422(minilm: Served, path: str, body: Any, word: str) -> None:
    response = minilm.http.post(
        path, content=json.dumps(body), headers={"content-type": "application/json"}
    )
    message = assert_error(response, 422, path)
    assert word.lower() in message.lower()
    assert_still_serving(minilm.http)


def test_openai_validation_error_names_the_param(minilm: Served) -> None:
    response = minilm.http.post("/v1/embeddings", json={"input": "x", "encoding_format": "hex"})
    assert response.json()["error"]["param"] == "encoding_format"
    assert response.json()["error"]["code"] == "invalid_argument"


def test_empty_body_is_422(minilm: Served) -> None:
    response = minilm.http.post("/embed", headers={"content-type": "application/json"})
    assert "body is required" in assert_error(response, 422, "/embed")


def test_wrong_method_and_unknown_route(minilm: Served) -> None:
    assert_error(minilm.http.get("/embed"), 405, "/embed")
    assert_error(minilm.http.get("/v1/embeddings"), 405, "/v1/embeddings")
    assert_error(minilm.http.post("/no/such/route", json={}), 404, "/no/such/route")


def test_more_inputs_than_the_client_batch_limit_is_422(minilm: Served) -> None:
    limit = minilm.http.get("/info").json()["max_client_batch_size"]
    response = minilm.http.post("/embed", json={"inputs": ["x"] * (limit + 1)})
    assert str(limit) in assert_error(response, 422, "/embed")
    assert_still_serving(minilm.http)


def test_bodies_over_tei_limits_are_accepted(minilm: Served) -> None:
    # 1024 inputs of 3 kB each (3 MB, over TEI's 2 MB and 32 inputs): whitespace keeps the
    # token count, and so the compute, small.
    texts = [f"text {i}" + " " * 3000 for i in range(1024)]
    body = json.dumps({"input": texts})
    assert len(body) > 3_000_000
    response = minilm.http.post(
        "/v1/embeddings", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text[:300]
    assert len(response.json()["data"]) == 1024


class TestBodyLimit:
    """A gateway in front of the MiniLM server, started with --max-body-bytes 100000."""

    @pytest.mark.parametrize("path", ["/v1/embeddings", "/embed"])
    def test_declared_oversize_body_is_413(self, small_body_gateway: Gateway, path: str) -> None:
        body = json.dumps({"input": ["x" * 1000] * 120, "inputs": "x"})
        response = small_body_gateway.http.post(
            path, content=body, headers={"content-type": "application/json"}
        )
        assert "100000" in assert_error(response, 413, path)
        assert_still_serving(small_body_gateway.http)

    def test_streamed_oversize_body_is_413(self, small_body_gateway: Gateway) -> None:
        chunk = b'{"inputs": ["' + b"x" * 20_000

        def chunks() -> Any:
            yield chunk
            for _ in range(10):
                yield b"y" * 20_000
            yield b'"]}'

        response = small_body_gateway.http.post(
            "/embed", content=chunks(), headers={"content-type": "application/json"}
        )
        assert_error(response, 413, "/embed")
        assert_still_serving(small_body_gateway.http)

    def test_body_under_the_limit_is_served(self, small_body_gateway: Gateway) -> None:
        response = small_body_gateway.http.post("/embed", json={"inputs": ["x" * 1000] * 20})
        assert response.status_code == 200


@pytest.fixture(scope="module")
def keyed(minilm: Served) -> Iterator[Gateway]:
    """The gateway alone in front of the MiniLM server, with an API key."""
    with run_gateway(minilm.endpoints.grpc_target, "--api-key", "s3cret") as gateway:
        yield gateway


class TestApiKey:
    @pytest.mark.parametrize("path", ["/v1/embeddings", "/embed"])
    def test_missing_or_wrong_key_is_401(self, keyed: Gateway, path: str) -> None:
        body = {"input": "x", "inputs": "x"}
        assert_error(keyed.http.post(path, json=body), 401, path)
        wrong = keyed.http.post(path, json=body, headers={"Authorization": "Bearer nope"})
        assert_error(wrong, 401, path)
        assert wrong.headers["www-authenticate"] == "Bearer"

    def test_right_key_is_served_and_health_is_open(self, keyed: Gateway) -> None:
        response = keyed.http.post(
            "/embed", json={"inputs": "x"}, headers={"Authorization": "Bearer s3cret"}
        )
        assert response.status_code == 200
        assert keyed.http.get("/health").status_code == 200
        assert keyed.http.get("/metrics").status_code == 401
