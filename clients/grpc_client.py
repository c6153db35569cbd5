"""gRPC clients: :class:`EmberClient` (blocking) and :class:`AsyncEmberClient` (asyncio).

Both return numpy arrays and plain tuples, and raise :class:`EmberRpcError` (with the gRPC
status code name) on failure. ``embed_many`` cuts a large input list into batches and keeps
several in flight at once, so one call saturates the server's batcher.

Both balance over replicas: the target may be several ``host:port`` strings or a
``dns:///name:port`` with several addresses; calls go round robin over every replica that is
up, unary calls are retried on ``UNAVAILABLE`` / ``RESOURCE_EXHAUSTED`` with backoff (the
rules are in :mod:`ember.clients.balancing`), optionally hedged, with keep-alive pings, a
client-wide deadline (``timeout``) and a per-call one (each method's ``timeout``).
"""

from __future__ import annotations

import asyncio
import queue
import random
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

import grpc
import numpy as np
import numpy.typing as npt
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ember.clients import requests as rq
from ember.clients.balancing import (
    RETRYABLE_CODES,
    Hedging,
    RetryPolicy,
    channel_options,
    channel_target,
)
from ember.v1 import (
    classify_pb2_grpc,
    embed_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    model_pb2,
    model_pb2_grpc,
    rerank_pb2_grpc,
    token_classification_pb2,
    token_classification_pb2_grpc,
)

_OPTIONS = [
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
]
#: The default retry policy of both clients (see :class:`RetryPolicy`).
DEFAULT_RETRY = RetryPolicy()

T = TypeVar("T")


class EmberRpcError(Exception):
    """A failed call: ``code`` is the gRPC status name (e.g. ``INVALID_ARGUMENT``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _wrap(exc: grpc.RpcError) -> EmberRpcError:
    # Both grpc.Call (sync) and grpc.aio.AioRpcError carry code() and details().
    code_fn = getattr(exc, "code", None)
    details_fn = getattr(exc, "details", None)
    code = code_fn() if callable(code_fn) else None
    details = details_fn() if callable(details_fn) else str(exc)
    name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    return EmberRpcError(name, details or "")


def _code_name(exc: grpc.RpcError) -> str:
    code_fn = getattr(exc, "code", None)
    code = code_fn() if callable(code_fn) else None
    return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"


def _channel_options(
    retry: RetryPolicy | None, keepalive_s: float | None
) -> list[tuple[str, str | int]]:
    return [*_OPTIONS, *channel_options(retry, keepalive_s)]


def _auth(api_key: str | None) -> tuple[tuple[str, str], ...] | None:
    return (("authorization", f"Bearer {api_key}"),) if api_key else None


def _internal_retry(retry: RetryPolicy | None, exc: grpc.RpcError, attempt: int) -> float | None:
    """The wait before retrying a call that ended INTERNAL (``retry.server_errors``), or None
    when it is final. Other retryable statuses were retried by the channel already."""
    if retry is None or not retry.server_errors or attempt >= retry.max_attempts:
        return None
    if _code_name(exc) != "INTERNAL":
        return None
    return random.uniform(0, retry.backoff_s(attempt))


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _hedged(
    method: Any,
    request: Any,
    timeout: float | None,
    hedging: Hedging,
    metadata: Any,
    retryable: tuple[str, ...],
) -> Any:
    """A blocking unary call hedged as ``hedging`` says (see :class:`Hedging`)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    finished: queue.SimpleQueue[Any] = queue.SimpleQueue()
    calls: list[Any] = []

    def launch() -> None:
        call = method.future(request, timeout=_remaining(deadline), metadata=metadata)
        call.add_done_callback(finished.put)
        calls.append(call)

    launch()
    pending = 1
    try:
        while True:
            more = len(calls) < hedging.max_attempts
            try:
                call = finished.get(timeout=hedging.delay_s if more else None)
            except queue.Empty:
                launch()
                pending += 1
                continue
            pending -= 1
            try:
                return call.result()
            except grpc.RpcError as exc:
                # A final status ends the call; a retryable one (the channel's own retries
                # spent) waits for the other attempts, or starts one more.
                if _code_name(exc) not in retryable or (pending == 0 and not more):
                    raise
                if pending == 0:
                    launch()
                    pending += 1
    finally:
        for call in calls:
            call.cancel()


async def _hedged_async(
    method: Any,
    request: Any,
    timeout: float | None,
    hedging: Hedging,
    metadata: Any,
    retryable: tuple[str, ...],
) -> Any:
    """An asyncio unary call hedged as ``hedging`` says (see :class:`Hedging`)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    attempts: set[asyncio.Future[Any]] = set()
    launched = 0

    def launch() -> None:
        nonlocal launched
        call = method(request, timeout=_remaining(deadline), metadata=metadata)
        attempts.add(asyncio.ensure_future(call))
        launched += 1

    launch()
    try:
        while True:
            more = launched < hedging.max_attempts
            done, _ = await asyncio.wait(
                attempts,
                timeout=hedging.delay_s if more else None,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:
                launch()
                continue
            for attempt in done:
                attempts.discard(attempt)
                error = attempt.exception()
                if error is None:
                    return attempt.result()
                if not isinstance(error, grpc.RpcError):
                    raise error
                if _code_name(error) not in retryable or (not attempts and not more):
                    raise error
            if not attempts:
                launch()
    finally:
        for attempt in attempts:
            attempt.cancel()


class _Stubs:
    def __init__(self, channel: Any) -> None:
        self.embed = embed_pb2_grpc.EmbedServiceStub(channel)
        self.classify = classify_pb2_grpc.ClassifyServiceStub(channel)
        self.rerank = rerank_pb2_grpc.RerankServiceStub(channel)
        self.tokens = token_classification_pb2_grpc.TokenClassificationServiceStub(channel)
        self.model = model_pb2_grpc.ModelServiceStub(channel)
        self.jobs = jobs_pb2_grpc.JobServiceStub(channel)
        self.health = health_pb2_grpc.HealthStub(channel)


class EmberClient:
    """Blocking gRPC client. Use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        target: str | Sequence[str] = "localhost:50051",
        *,
        timeout: float | None = 300.0,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        hedging: Hedging | None = None,
        keepalive_s: float | None = 30.0,
        api_key: str | None = None,
    ) -> None:
        """``target``: one gRPC target (``host:port``, ``dns:///name:port``, ``ipv4:a:p,b:p``)
        or several ``host:port`` replicas, balanced round robin. ``timeout``: each call's
        deadline in seconds (None: none) unless the call gives its own ``timeout``. ``retry``:
        the unary calls' retry policy (None: no retries). ``hedging``: hedge the unary calls
        (off by default). ``keepalive_s``: keep-alive ping interval (None: no pings).
        ``api_key``: sent as ``authorization: Bearer <key>`` with every call."""
        self._channel = grpc.insecure_channel(
            channel_target(target), options=_channel_options(retry, keepalive_s)
        )
        self._stubs = _Stubs(self._channel)
        self._timeout = timeout
        self._hedging = hedging
        self._metadata = _auth(api_key)
        self._retryable = RETRYABLE_CODES if retry is None else retry.grpc_codes()
        self._retry = retry

    def __enter__(self) -> EmberClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def _call(self, method: Any, request: Any, timeout: float | None = None) -> Any:
        deadline = self._timeout if timeout is None else timeout
        attempt = 1
        while True:
            try:
                if self._hedging is not None:
                    return _hedged(
                        method, request, deadline, self._hedging, self._metadata, self._retryable
                    )
                return method(request, timeout=deadline, metadata=self._metadata)
            except grpc.RpcError as exc:
                wait = _internal_retry(self._retry, exc, attempt)
                if wait is None:
                    raise _wrap(exc) from None
            time.sleep(wait)
            attempt += 1

    def embed(
        self, inputs: Sequence[rq.EmbedInput], *, timeout: float | None = None, **options: Any
    ) -> npt.NDArray[np.float32]:
        """Embed texts or token-id lists; options as in ``requests.embed_request``."""
        resp = self._call(self._stubs.embed.Embed, rq.embed_request(inputs, **options), timeout)
        return rq.embeddings(resp)

    def embed_quantized(
        self, inputs: Sequence[rq.EmbedInput], precision: str, **options: Any
    ) -> rq.QuantizedVectors:
        """Embed and quantize server-side: ``precision`` is int8, uint8, binary or ubinary;
        ``ranges=[[min...], [max...]]`` (int8/uint8) or computed over this request's vectors;
        other options as in ``requests.embed_request``."""
        request = rq.embed_request(inputs, precision=precision, **options)
        return rq.quantized(self._call(self._stubs.embed.Embed, request))

    def encode(
        self, inputs: Sequence[rq.EmbedInput], outputs: Sequence[str] = ("dense",), **options: Any
    ) -> rq.Encoded:
        """Dense, sparse and/or multi-vector outputs from one forward (``Encode``); options as
        in ``requests.encode_request``."""
        request = rq.encode_request(inputs, outputs, **options)
        return rq.encoded(self._call(self._stubs.embed.Encode, request), outputs)

    def embed_tokens(self, inputs: Sequence[rq.EmbedInput], **options: Any) -> list[rq.TokenStates]:
        """Every token's last hidden state, id and offsets, per input (``EmbedTokens``);
        options as in ``requests.embed_tokens_request``."""
        request = rq.embed_tokens_request(inputs, **options)
        return rq.token_states(self._call(self._stubs.embed.EmbedTokens, request))

    def embed_many(
        self,
        inputs: Sequence[rq.EmbedInput],
        *,
        batch_size: int = 128,
        concurrency: int = 8,
        **options: Any,
    ) -> npt.NDArray[np.float32]:
        """Embed a large list in batches of ``batch_size``, ``concurrency`` requests at a time."""
        parts = rq.chunks(inputs, batch_size)
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            arrays = list(pool.map(lambda part: self.embed(part, **options), parts))
        return np.concatenate(arrays) if arrays else np.zeros((0, 0), dtype=np.float32)

    def classify(
        self, inputs: Sequence[str | Sequence[str]], *, timeout: float | None = None, **options: Any
    ) -> list[list[tuple[str, float]]]:
        """Per input, every (label, score), best first."""
        resp = self._call(
            self._stubs.classify.Classify, rq.classify_request(inputs, **options), timeout
        )
        return rq.label_scores(resp)

    def rerank(
        self, query: str, texts: Sequence[str], *, timeout: float | None = None, **options: Any
    ) -> list[rq.Ranked]:
        """The texts ranked against the query, best first."""
        resp = self._call(
            self._stubs.rerank.Rerank, rq.rerank_request(query, texts, **options), timeout
        )
        return rq.ranks(resp)

    def predict_tokens(
        self, inputs: Sequence[str], *, timeout: float | None = None, **options: Any
    ) -> token_classification_pb2.PredictTokensResponse:
        """Token labels or entity spans (the raw response message)."""
        return self._call(  # type: ignore[no-any-return]
            self._stubs.tokens.PredictTokens, rq.predict_tokens_request(inputs, **options), timeout
        )

    def tokenize(
        self, inputs: Sequence[str], *, timeout: float | None = None
    ) -> model_pb2.TokenizeResponse:
        """The tokens of each text."""
        return self._call(  # type: ignore[no-any-return]
            self._stubs.model.Tokenize, model_pb2.TokenizeRequest(inputs=list(inputs)), timeout
        )

    def similarity(
        self, source: str, sentences: Sequence[str], *, timeout: float | None = None, **options: Any
    ) -> list[float]:
        """The cosine similarity of each sentence to ``source``."""
        resp = self._call(
            self._stubs.embed.Similarity,
            rq.similarity_request(source, sentences, **options),
            timeout,
        )
        return list(resp.scores)

    def decode(
        self,
        inputs: Sequence[Sequence[int]],
        *,
        skip_special_tokens: bool = True,
        timeout: float | None = None,
    ) -> list[str]:
        """The text of each token-id sequence."""
        resp = self._call(
            self._stubs.model.Decode,
            rq.decode_request(inputs, skip_special_tokens=skip_special_tokens),
            timeout,
        )
        return list(resp.texts)

    def model_info(self, *, timeout: float | None = None) -> model_pb2.GetModelInfoResponse:
        """What the server serves and its limits."""
        return self._call(  # type: ignore[no-any-return]
            self._stubs.model.GetModelInfo, model_pb2.GetModelInfoRequest(), timeout
        )

    def submit_job(
        self,
        inputs: Sequence[rq.JobRow] | None = None,
        *,
        timeout: float | None = None,
        **options: Any,
    ) -> jobs_pb2.Job:
        """Store a background job (``SubmitJob``) and return it, queued; ``options`` as in
        ``requests.submit_job_request`` (e.g. ``precision="int8", ranges=[[min...],
        [max...]]``)."""
        request = rq.submit_job_request(inputs, **options)
        return self._call(self._stubs.jobs.SubmitJob, request, timeout).job  # type: ignore[no-any-return]

    def get_job(self, job_id: str, *, timeout: float | None = None) -> jobs_pb2.Job:
        """The job: state, progress, result_location, precision and ranges."""
        request = jobs_pb2.GetJobRequest(id=job_id)
        return self._call(self._stubs.jobs.GetJob, request, timeout).job  # type: ignore[no-any-return]

    def watch_job(self, job_id: str) -> Iterator[jobs_pb2.Job]:
        """The job now and at each change, until it has ended."""
        try:
            for change in self._stubs.jobs.WatchJob(
                jobs_pb2.WatchJobRequest(id=job_id), metadata=self._metadata
            ):
                yield change.job
        except grpc.RpcError as exc:
            raise _wrap(exc) from None

    def cancel_job(self, job_id: str, *, timeout: float | None = None) -> jobs_pb2.Job:
        """Cancel a queued or running job; the job after it."""
        request = jobs_pb2.CancelJobRequest(id=job_id)
        return self._call(self._stubs.jobs.CancelJob, request, timeout).job  # type: ignore[no-any-return]

    def list_jobs(self, limit: int = 0, *, timeout: float | None = None) -> list[jobs_pb2.Job]:
        """The server's jobs, newest first (``limit`` 0: 100)."""
        request = jobs_pb2.ListJobsRequest(limit=limit)
        return list(self._call(self._stubs.jobs.ListJobs, request, timeout).jobs)

    def is_serving(self, service: str = "", *, timeout: float | None = None) -> bool:
        """Whether the health service reports SERVING (for ``service``, or overall)."""
        resp = self._call(
            self._stubs.health.Check, health_pb2.HealthCheckRequest(service=service), timeout
        )
        return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)


class AsyncEmberClient:
    """asyncio gRPC client. Use ``async with`` or await :meth:`close`."""

    def __init__(
        self,
        target: str | Sequence[str] = "localhost:50051",
        *,
        timeout: float | None = 300.0,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        hedging: Hedging | None = None,
        keepalive_s: float | None = 30.0,
        api_key: str | None = None,
    ) -> None:
        """The arguments are :class:`EmberClient`'s."""
        self._channel = grpc.aio.insecure_channel(
            channel_target(target), options=_channel_options(retry, keepalive_s)
        )
        self._stubs = _Stubs(self._channel)
        self._timeout = timeout
        self._hedging = hedging
        self._metadata = _auth(api_key)
        self._retryable = RETRYABLE_CODES if retry is None else retry.grpc_codes()
        self._retry = retry

    async def __aenter__(self) -> AsyncEmberClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close(None)

    async def _call(self, method: Any, request: Any, timeout: float | None = None) -> Any:
        deadline = self._timeout if timeout is None else timeout
        attempt = 1
        while True:
            try:
                if self._hedging is not None:
                    return await _hedged_async(
                        method, request, deadline, self._hedging, self._metadata, self._retryable
                    )
                return await method(request, timeout=deadline, metadata=self._metadata)
            except grpc.RpcError as exc:
                wait = _internal_retry(self._retry, exc, attempt)
                if wait is None:
                    raise _wrap(exc) from None
            await asyncio.sleep(wait)
            attempt += 1

    async def embed(
        self, inputs: Sequence[rq.EmbedInput], *, timeout: float | None = None, **options: Any
    ) -> npt.NDArray[np.float32]:
        """Embed texts (or token-id lists)."""
        resp = await self._call(
            self._stubs.embed.Embed, rq.embed_request(inputs, **options), timeout
        )
        return rq.embeddings(resp)

    async def embed_quantized(
        self, inputs: Sequence[rq.EmbedInput], precision: str, **options: Any
    ) -> rq.QuantizedVectors:
        """Embed and quantize server-side (see :meth:`EmberClient.embed_quantized`)."""
        request = rq.embed_request(inputs, precision=precision, **options)
        return rq.quantized(await self._call(self._stubs.embed.Embed, request))

    async def encode(
        self, inputs: Sequence[rq.EmbedInput], outputs: Sequence[str] = ("dense",), **options: Any
    ) -> rq.Encoded:
        """Dense, sparse and/or multi-vector outputs from one forward (``Encode``)."""
        request = rq.encode_request(inputs, outputs, **options)
        return rq.encoded(await self._call(self._stubs.embed.Encode, request), outputs)

    async def embed_tokens(
        self, inputs: Sequence[rq.EmbedInput], **options: Any
    ) -> list[rq.TokenStates]:
        """Every token's last hidden state, id and offsets, per input (``EmbedTokens``)."""
        request = rq.embed_tokens_request(inputs, **options)
        return rq.token_states(await self._call(self._stubs.embed.EmbedTokens, request))

    async def embed_many(
        self,
        inputs: Sequence[rq.EmbedInput],
        *,
        batch_size: int = 128,
        concurrency: int = 8,
        **options: Any,
    ) -> npt.NDArray[np.float32]:
        """Embed a large list in batches, ``concurrency`` requests in flight."""
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(part: Sequence[rq.EmbedInput]) -> npt.NDArray[np.float32]:
            async with gate:
                return await self.embed(part, **options)

        arrays = await asyncio.gather(*(one(p) for p in rq.chunks(inputs, batch_size)))
        return np.concatenate(arrays) if arrays else np.zeros((0, 0), dtype=np.float32)

    async def classify(
        self, inputs: Sequence[str | Sequence[str]], *, timeout: float | None = None, **options: Any
    ) -> list[list[tuple[str, float]]]:
        """Per input, every (label, score), best first."""
        resp = await self._call(
            self._stubs.classify.Classify, rq.classify_request(inputs, **options), timeout
        )
        return rq.label_scores(resp)

    async def rerank(
        self, query: str, texts: Sequence[str], *, timeout: float | None = None, **options: Any
    ) -> list[rq.Ranked]:
        """The texts ranked against the query, best first."""
        resp = await self._call(
            self._stubs.rerank.Rerank, rq.rerank_request(query, texts, **options), timeout
        )
        return rq.ranks(resp)

    async def predict_tokens(
        self, inputs: Sequence[str], *, timeout: float | None = None, **options: Any
    ) -> token_classification_pb2.PredictTokensResponse:
        """Token labels or entity spans (the raw response message)."""
        return await self._call(  # type: ignore[no-any-return]
            self._stubs.tokens.PredictTokens, rq.predict_tokens_request(inputs, **options), timeout
        )

    async def similarity(
        self, source: str, sentences: Sequence[str], *, timeout: float | None = None, **options: Any
    ) -> list[float]:
        """The cosine similarity of each sentence to ``source``."""
        resp = await self._call(
            self._stubs.embed.Similarity,
            rq.similarity_request(source, sentences, **options),
            timeout,
        )
        return list(resp.scores)

    async def decode(
        self,
        inputs: Sequence[Sequence[int]],
        *,
        skip_special_tokens: bool = True,
        timeout: float | None = None,
    ) -> list[str]:
        """The text of each token-id sequence."""
        resp = await self._call(
            self._stubs.model.Decode,
            rq.decode_request(inputs, skip_special_tokens=skip_special_tokens),
            timeout,
        )
        return list(resp.texts)

    async def model_info(self, *, timeout: float | None = None) -> model_pb2.GetModelInfoResponse:
        """What the server serves and its limits."""
        return await self._call(  # type: ignore[no-any-return]
            self._stubs.model.GetModelInfo, model_pb2.GetModelInfoRequest(), timeout
        )

    async def submit_job(
        self,
        inputs: Sequence[rq.JobRow] | None = None,
        *,
        timeout: float | None = None,
        **options: Any,
    ) -> jobs_pb2.Job:
        """Store a background job (see :meth:`EmberClient.submit_job`)."""
        request = rq.submit_job_request(inputs, **options)
        return (await self._call(self._stubs.jobs.SubmitJob, request, timeout)).job  # type: ignore[no-any-return]

    async def get_job(self, job_id: str, *, timeout: float | None = None) -> jobs_pb2.Job:
        """The job: state, progress, result_location, precision and ranges."""
        request = jobs_pb2.GetJobRequest(id=job_id)
        return (await self._call(self._stubs.jobs.GetJob, request, timeout)).job  # type: ignore[no-any-return]

    async def watch_job(self, job_id: str) -> AsyncIterator[jobs_pb2.Job]:
        """The job now and at each change, until it has ended."""
        try:
            async for change in self._stubs.jobs.WatchJob(
                jobs_pb2.WatchJobRequest(id=job_id), metadata=self._metadata
            ):
                yield change.job
        except grpc.RpcError as exc:
            raise _wrap(exc) from None

    async def cancel_job(self, job_id: str, *, timeout: float | None = None) -> jobs_pb2.Job:
        """Cancel a queued or running job; the job after it."""
        request = jobs_pb2.CancelJobRequest(id=job_id)
        return (await self._call(self._stubs.jobs.CancelJob, request, timeout)).job  # type: ignore[no-any-return]

    async def list_jobs(
        self, limit: int = 0, *, timeout: float | None = None
    ) -> list[jobs_pb2.Job]:
        """The server's jobs, newest first (``limit`` 0: 100)."""
        request = jobs_pb2.ListJobsRequest(limit=limit)
        return list((await self._call(self._stubs.jobs.ListJobs, request, timeout)).jobs)
