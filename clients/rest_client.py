"""A small REST client for Ember's OpenAI- and TEI-compatible routes (httpx, no grpc needed).

It balances over replicas: requests go round robin over the base URLs; a 429 or 503 answer
or a lost connection is retried on the next replica with backoff, and a replica that said
``Retry-After: N`` gets no request for N seconds. Every Ember route is idempotent (the rules
are in :mod:`ember.clients.balancing`).
"""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from ember.clients.balancing import RETRYABLE_HTTP, RetryPolicy, retry_after_s

#: The default retry policy (see :class:`RetryPolicy`).
DEFAULT_RETRY = RetryPolicy()
#: The longest ``Retry-After`` honoured: a longer one would hang a blocking call.
MAX_RETRY_AFTER_S = 30.0
#: Transport failures that mean "this replica did not answer": retried on the next one.
_LOST = (httpx.TransportError,)
#: How long a replica that did not answer gets no request (it is likely down).
LOST_COOLDOWN_S = 1.0


class EmberRestClient:
    """Blocking REST client; ``base_url`` like ``http://localhost:8080``, or several."""

    def __init__(
        self,
        base_url: str | Sequence[str] = "http://localhost:8080",
        *,
        api_key: str | None = None,
        timeout: float = 300.0,
        retry: RetryPolicy | None = DEFAULT_RETRY,
    ) -> None:
        """``base_url``: one replica or several, used round robin. ``retry``: the retry
        policy on 429 / 503 / lost connections (None: no retries)."""
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls:
            raise ValueError("no base URL given")
        self._urls = [url.rstrip("/") for url in urls]
        self._not_before = [0.0] * len(self._urls)  # monotonic time each replica is free again
        self._next = 0
        self._retry = retry
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(headers=headers, timeout=timeout)

    def __enter__(self) -> EmberRestClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _pick(self) -> int:
        """The next replica round robin, skipping those inside their ``Retry-After``; when all
        are, wait for the first to be free."""
        now = time.monotonic()
        count = len(self._urls)
        for step in range(count):
            index = (self._next + step) % count
            if self._not_before[index] <= now:
                self._next = index + 1
                return index
        index = min(range(count), key=self._not_before.__getitem__)
        time.sleep(self._not_before[index] - now)
        self._next = index + 1
        return index

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        attempts = 1 if self._retry is None else self._retry.max_attempts
        for attempt in range(1, attempts + 1):
            index = self._pick()
            last = attempt == attempts
            try:
                resp = self._http.post(self._urls[index] + path, json=body)
            except _LOST:
                if last:
                    raise
                if len(self._urls) > 1:
                    self._not_before[index] = time.monotonic() + LOST_COOLDOWN_S
                else:
                    self._backoff(attempt)
                continue
            retryable = RETRYABLE_HTTP if self._retry is None else self._retry.http_statuses()
            if resp.status_code not in retryable or last:
                resp.raise_for_status()
                return resp.json()
            wait = retry_after_s(resp.headers.get("retry-after"))
            if wait is not None:
                self._not_before[index] = time.monotonic() + min(wait, MAX_RETRY_AFTER_S)
            if wait is None:
                self._backoff(attempt)
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _backoff(self, attempt: int) -> None:
        assert self._retry is not None
        time.sleep(random.uniform(0, self._retry.backoff_s(attempt)))

    def embeddings(
        self,
        inputs: str | Sequence[str],
        *,
        dimensions: int | None = None,
        model: str | None = None,
    ) -> npt.NDArray[np.float32]:
        """OpenAI ``/v1/embeddings`` with base64 transfer, as one (n, dim) array. ``model``: the
        served model's id or alias (None: the server's first model)."""
        body = _with_model({"input": inputs, "encoding_format": "base64"}, model)
        if dimensions is not None:
            body["dimensions"] = dimensions
        data = self._post("/v1/embeddings", body)["data"]
        rows = [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in data]
        return np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def embed_quantized(
        self,
        inputs: str | Sequence[str],
        precision: str,
        *,
        ranges: Sequence[Sequence[float]] | None = None,
        model: str | None = None,
    ) -> npt.NDArray[np.int8] | npt.NDArray[np.uint8]:
        """``/v1/embeddings`` with ``encoding_format`` int8, uint8, binary or ubinary, as one
        int8 / uint8 array (packed bits for the binary precisions); ``model`` as in
        :meth:`embeddings`."""
        body = _with_model({"input": inputs, "encoding_format": precision}, model)
        if ranges is not None:
            body["ranges"] = [list(map(float, ranges[0])), list(map(float, ranges[1]))]
        data = self._post("/v1/embeddings", body)["data"]
        signed = precision in ("int8", "binary")
        rows = [d["embedding"] for d in data]
        if signed:
            return np.array(rows, dtype=np.int8)
        return np.array(rows, dtype=np.uint8)

    def encode(
        self, inputs: str | Sequence[str], outputs: Sequence[str] = ("dense",), **options: Any
    ) -> dict[str, Any]:
        """``/encode``: the ``outputs`` (dense, sparse, multi_vector) of each input from one
        forward, as the JSON answer; options (``normalize``, ``query``, ``chunking``, ...) as
        the route takes them."""
        answer: dict[str, Any] = self._post(
            "/encode", {"inputs": inputs, "outputs": list(outputs), **options}
        )
        return answer

    def embed_all(self, inputs: str | Sequence[str]) -> list[npt.NDArray[np.float32]]:
        """TEI ``/embed_all``: per input, a ``(tokens, hidden)`` array of token states."""
        return [np.array(m, dtype=np.float32) for m in self._post("/embed_all", {"inputs": inputs})]

    def rerank(self, query: str, texts: Sequence[str], **options: Any) -> list[dict[str, Any]]:
        """TEI ``/rerank``: a list of {index, score, text?}, best first."""
        result: list[dict[str, Any]] = self._post(
            "/rerank", {"query": query, "texts": list(texts), **options}
        )
        return result

    def predict(self, inputs: Any, **options: Any) -> Any:
        """TEI/BEI ``/predict``."""
        return self._post("/predict", {"inputs": inputs, **options})

    def predict_tokens(self, inputs: Sequence[str], **options: Any) -> Any:
        """BEI ``/predict_tokens``."""
        return self._post("/predict_tokens", {"inputs": [list(inputs)], **options})

    def decode(self, ids: Sequence[Sequence[int]], *, skip_special_tokens: bool = True) -> Any:
        """TEI ``/decode``: one text per token-id sequence."""
        return self._post(
            "/decode",
            {"ids": [list(row) for row in ids], "skip_special_tokens": skip_special_tokens},
        )

    def similarity(self, source: str, sentences: Sequence[str]) -> Any:
        """TEI ``/similarity``: the cosine similarity of each sentence to ``source``."""
        return self._post(
            "/similarity",
            {"inputs": {"source_sentence": source, "sentences": list(sentences)}},
        )


def _with_model(body: dict[str, Any], model: str | None) -> dict[str, Any]:
    """``body`` with ``model`` when one is named. Without one the field is left out, so that
    the server picks its first model: any fixed name would be refused (404) by a server of
    several models that does not serve it."""
    return body if model is None else {**body, "model": model}
