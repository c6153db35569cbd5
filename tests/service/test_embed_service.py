"""Service tests: a real in-process gRPC server (port 0) with the real MiniLM engine."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ember.clients import EmberRpcError
from ember.clients import requests as rq
from ember.engines.types import TruncationSide
from ember.v1 import classify_pb2, classify_pb2_grpc, embed_pb2, embed_pb2_grpc

from .conftest import ServeFn, SpyEngine

TEXTS = [f"sentence number {i} about {'cats' if i % 2 else 'databases'}" for i in range(24)]


def token_id(spy: SpyEngine, word: str) -> int:
    enc = spy.tokenizer.encode([word], truncate=False, side=TruncationSide.RIGHT)[0]
    return int(enc.ids[1])  # after [CLS]


async def test_concurrent_callers_share_batches_and_get_their_own_answers(
    serve: ServeFn, spy: SpyEngine
) -> None:
    async with serve(spy) as (client, _):
        solo = await client.embed(TEXTS)
        spy.batches.clear()
        answers = await asyncio.gather(*(client.embed([t]) for t in TEXTS))
    assert len(spy.batches) < len(TEXTS), "concurrent single-input calls were not batched"
    assert sum(len(b) for b in spy.batches) == len(TEXTS)
    got = np.concatenate(answers)
    cosine = (got * solo).sum(axis=1)
    assert cosine.min() > 0.99999, "an answer went to the wrong caller or batching changed it"


async def test_cancelled_request_never_reaches_the_engine(serve: ServeFn, spy: SpyEngine) -> None:
    marker = token_id(spy, "zebra")
    async with serve(spy) as (client, _):
        spy.gate.clear()
        first = asyncio.ensure_future(client.embed(["first request holds the engine"]))
        assert await asyncio.to_thread(spy.entered.wait, 10)
        doomed = asyncio.ensure_future(client.embed(["zebra"]))
        later = asyncio.ensure_future(client.embed(["a later request"]))
        await asyncio.sleep(0.3)  # both are queued (one prefetched) behind the held batch
        doomed.cancel()
        await asyncio.sleep(0.3)  # the server sees the cancellation
        spy.gate.set()
        await first
        assert (await later).shape == (1, 384)
    seen = [enc for batch in spy.batches for enc in batch]
    assert all(marker not in enc.ids for enc in seen), "a cancelled input was computed"


async def test_engine_failure_fails_that_batch_only_and_server_keeps_serving(
    serve: ServeFn, spy: SpyEngine
) -> None:
    poison = token_id(spy, "poison")
    spy.fail_when = lambda batch: any(poison in enc.ids for enc in batch)
    async with serve(spy) as (client, server):
        with pytest.raises(EmberRpcError) as err:
            await client.embed(["poison"])
        assert err.value.code == "INTERNAL"
        assert "engine failed" in err.value.message
        vectors = await client.embed(["healthy request"])
        assert vectors.shape == (1, 384)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            status = await health.Check(health_pb2.HealthCheckRequest(service=""))
            assert status.status == health_pb2.HealthCheckResponse.SERVING


async def test_stream_answers_in_order_and_survives_a_bad_batch(
    serve: ServeFn, spy: SpyEngine
) -> None:
    batches = [TEXTS[i : i + 1 + i % 5] for i in range(0, 20)]
    async with serve(spy) as (client, server):
        expected = [await client.embed(b) for b in batches]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = embed_pb2_grpc.EmbedServiceStub(channel)

            async def requests() -> Any:
                for i, b in enumerate(batches):
                    yield embed_pb2.EmbedStreamRequest(
                        batch_id=f"b{i}", request=rq.embed_request(b)
                    )
                    if i == 7:
                        bad = embed_pb2.EmbedRequest()  # no inputs
                        yield embed_pb2.EmbedStreamRequest(batch_id="bad", request=bad)

            answers = [a async for a in stub.EmbedStream(requests())]
    ids = [a.batch_id for a in answers]
    assert ids == [f"b{i}" for i in range(8)] + ["bad"] + [f"b{i}" for i in range(8, 20)]
    bad = answers[8]
    assert bad.WhichOneof("result") == "error"
    assert bad.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "no inputs" in bad.error.message
    good = [a for a in answers if a.batch_id != "bad"]
    for answer, want in zip(good, expected, strict=True):
        got = rq.embeddings(answer.response)
        assert np.allclose(got, want, atol=1e-5)


BAD_EMBEDS: list[tuple[dict[str, Any], str]] = [
    ({"inputs": []}, "no inputs"),
    ({"inputs": [""]}, "input 0 is empty"),
    ({"inputs": ["ok", [1, 2, 10**9]]}, "input 1 has token id 1000000000"),
    ({"inputs": [[5, -3]]}, "token id -3"),
    ({"inputs": ["word " * 400], "truncate": False}, "maximum input length of 256"),
    ({"inputs": ["x"], "dimensions": 0}, "dimensions must be between 1 and"),
    ({"inputs": ["x"], "dimensions": -4}, "dimensions must be between 1 and"),
    ({"inputs": ["x"], "dimensions": 385}, "dimensions must be between 1 and"),
    ({"inputs": ["x"], "prompt_name": "query"}, "unknown prompt_name 'query'"),
    ({"inputs": ["x"] * 5}, "over the server's limit of 4"),
]


@pytest.mark.parametrize(("options", "message"), BAD_EMBEDS)
async def test_bad_input_is_invalid_argument_and_next_request_is_served(
    serve: ServeFn, spy: SpyEngine, options: dict[str, Any], message: str
) -> None:
    async with serve(spy, max_client_batch_size=4) as (client, _):
        inputs = options.pop("inputs")
        with pytest.raises(EmberRpcError) as err:
            await client.embed(inputs, **options)
        assert err.value.code == "INVALID_ARGUMENT"
        assert message in err.value.message
        assert (await client.embed(["the next request"])).shape == (1, 384)


async def test_truncation_and_matryoshka_options(serve: ServeFn, spy: SpyEngine) -> None:
    long = "word " * 400
    async with serve(spy) as (client, _):
        right = await client.embed([long + "tail"], truncate=True)
        left = await client.embed(["head " + long], truncate=True, truncation_direction="left")
        assert right.shape == left.shape == (1, 384)
        full = await client.embed(["matryoshka"], normalize=False)
        cut = await client.embed(["matryoshka"], dimensions=64)
        raw_cut = await client.embed(["matryoshka"], dimensions=64, normalize=False)
    assert np.linalg.norm(full) != pytest.approx(1.0, abs=1e-3)
    assert np.linalg.norm(cut) == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(raw_cut[0], full[0, :64], atol=1e-6)
    assert np.allclose(cut[0], full[0, :64] / np.linalg.norm(full[0, :64]), atol=1e-5)


async def test_overload_is_refused_at_once(serve: ServeFn, spy: SpyEngine) -> None:
    async with serve(spy, max_concurrent_requests=1) as (client, _):
        spy.gate.clear()
        first = asyncio.ensure_future(client.embed(["holds the only slot"]))
        assert await asyncio.to_thread(spy.entered.wait, 10)
        with pytest.raises(EmberRpcError) as err:
            await client.embed(["one too many"])
        assert err.value.code == "RESOURCE_EXHAUSTED"
        spy.gate.set()
        assert (await first).shape == (1, 384)


async def test_wrong_task_is_failed_precondition_and_health_is_per_service(
    serve: ServeFn, spy: SpyEngine
) -> None:
    async with (
        serve(spy) as (_, server),
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        health = health_pb2_grpc.HealthStub(channel)
        embed = await health.Check(health_pb2.HealthCheckRequest(service="ember.v1.EmbedService"))
        classify = await health.Check(
            health_pb2.HealthCheckRequest(service="ember.v1.ClassifyService")
        )
        assert embed.status == health_pb2.HealthCheckResponse.SERVING
        assert classify.status == health_pb2.HealthCheckResponse.NOT_SERVING
        stub = classify_pb2_grpc.ClassifyServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Classify(
                classify_pb2.ClassifyRequest(inputs=[classify_pb2.ClassifyInput(texts=["x"])])
            )
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "serves: Embed" in (err.value.details() or "")


async def test_usage_timing_and_request_id(serve: ServeFn, spy: SpyEngine) -> None:
    async with (
        serve(spy) as (_, server),
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        stub = embed_pb2_grpc.EmbedServiceStub(channel)
        call = stub.Embed(
            rq.embed_request(["hello world", "a second input"]),
            metadata=(("x-request-id", "req-42"),),
        )
        resp = await call
        trailers = dict(await call.trailing_metadata() or ())
    assert trailers.get("x-request-id") == "req-42"
    assert resp.usage.prompt_tokens == 4 + 5  # [CLS] hello world [SEP] / [CLS] a second input [SEP]
    assert resp.timing.total_ns >= resp.timing.inference_ns > 0
    assert resp.timing.tokenization_ns > 0
    assert resp.model


async def test_graceful_shutdown_finishes_in_flight_requests(
    serve: ServeFn, spy: SpyEngine
) -> None:
    async with serve(spy) as (client, server):
        spy.gate.clear()
        inflight = asyncio.ensure_future(client.embed(["finish me during shutdown"]))
        assert await asyncio.to_thread(spy.entered.wait, 10)
        stopping = asyncio.ensure_future(server.stop(grace=10))
        await asyncio.sleep(0.2)
        spy.gate.set()
        assert (await inflight).shape == (1, 384)
        await stopping


async def test_shutdown_drains_once(
    serve: ServeFn, spy: SpyEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """`ember serve` drains before closing either transport, then stops the server: the
    server's own drain in stop() is then a no-op (it logged the drain a second time and
    waited for quiet again)."""
    caplog.set_level(logging.INFO, "ember.service.server")
    async with serve(spy) as (client, server):
        assert (await client.embed(["before the shutdown"])).shape == (1, 384)
        deadline = asyncio.get_running_loop().time() + 10
        await server.drain(deadline)
        await server.stop(deadline=deadline)
    drained = [r for r in caplog.records if r.getMessage().startswith("calls in flight answered")]
    assert len(drained) == 1


async def test_matrix_format_sends_one_block_equal_to_the_per_row_formats(
    serve: ServeFn, spy: SpyEngine
) -> None:
    async with (
        serve(spy) as (_, server),
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        stub = embed_pb2_grpc.EmbedServiceStub(channel)
        answers = {}
        for fmt in (
            embed_pb2.EMBEDDING_FORMAT_MATRIX,
            embed_pb2.EMBEDDING_FORMAT_FLOAT32_LE,
            embed_pb2.EMBEDDING_FORMAT_FLOAT,
        ):
            request = rq.embed_request(TEXTS[:5])
            request.format = fmt
            answers[fmt] = await stub.Embed(request)
    matrix = answers[embed_pb2.EMBEDDING_FORMAT_MATRIX]
    assert not matrix.embeddings, "the matrix format sends no per-row messages"
    assert (matrix.matrix.rows, matrix.matrix.cols) == (5, 384)
    assert len(matrix.matrix.float32_le) == 5 * 384 * 4
    got = rq.embeddings(matrix)
    np.testing.assert_array_equal(
        got, rq.embeddings(answers[embed_pb2.EMBEDDING_FORMAT_FLOAT32_LE])
    )
    np.testing.assert_allclose(got, rq.embeddings(answers[embed_pb2.EMBEDDING_FORMAT_FLOAT]))
    assert not answers[embed_pb2.EMBEDDING_FORMAT_FLOAT].HasField("matrix")
    broken = embed_pb2.EmbedResponse()
    broken.matrix.rows, broken.matrix.cols, broken.matrix.float32_le = 2, 3, b"\0" * 20
    with pytest.raises(ValueError, match="not 2 x 3 float32"):
        rq.embeddings(broken)
