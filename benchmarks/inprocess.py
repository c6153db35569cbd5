"""Interleaved in-process throughput: sentence-transformers fp32 ``encode`` against Ember's CPU
engines (ONNX Runtime fp32 and int8, and bf16 where the CPU has it) on the same long inputs,
alternating rounds, medians.

No server and no client: what the engines themselves do, measured so that drift on a shared
machine hits every contender alike. ``python -m benchmarks.inprocess [--rounds N] [--openvino]
[--torch-bf16]``; prints the CPU (as the server reads it), the load, the versions and the
command, then tok/s per contender and the ratios. On a CPU with native bf16, Ember's
``--dtype bfloat16`` engine (OpenVINO when installed) runs too. Where Ember's int8 runs on
OpenVINO (static int8, the ``openvino`` extra), ONNX Runtime's int8 scheme for this CPU runs
beside it as ``ort-int8``. ``--openvino`` adds OpenVINO in
fp32 on Ember's fused graph (a candidate fp32 runtime, not Ember's: on the AVX2-only EPYC it was
no faster than ONNX Runtime, ``benchmarks/results-avx2/analysis.md``); ``--torch-bf16`` adds the
torch backend's bf16 for comparison.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.harness.machine import cpu_summary, load_average, now, versions
from ember.engines.base import Engine
from ember.engines.config import EngineConfig
from ember.engines.cpu_features import cpu_features
from ember.engines.onnx_engine import OnnxEngine, ort_session
from ember.engines.onnx_export import graph_path, uses_token_types
from ember.engines.openvino_session import OpenVinoSession
from ember.engines.precision import int8_scheme
from ember.engines.registry import load_engine
from ember.engines.types import TruncationSide
from ember.service.default_model import default_model_path


def _openvino_fp32(fp32: OnnxEngine) -> OnnxEngine:
    folder = fp32.folder
    session = OpenVinoSession(graph_path(folder, None), "float32", len(os.sched_getaffinity(0)))
    return OnnxEngine(folder, fp32.tokenizer, session, "float32", uses_token_types(folder))


def _ort_int8(fp32: OnnxEngine) -> OnnxEngine:
    folder = fp32.folder
    path = graph_path(folder, int8_scheme(cpu_features(), openvino=False))
    session = ort_session(str(path), len(os.sched_getaffinity(0)))
    return OnnxEngine(folder, fp32.tokenizer, session, "int8", uses_token_types(folder))


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inprocess", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--texts", type=int, default=64)
    parser.add_argument("--openvino", action="store_true", help="add OpenVINO on the fp32 graph")
    parser.add_argument("--torch-bf16", action="store_true", help="add the torch backend in bf16")
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    model = Path(default_model_path())
    st = SentenceTransformer(str(model), device="cpu")
    fp32 = load_engine(EngineConfig(model_path=model, backend="onnx"))
    int8 = load_engine(EngineConfig(model_path=model, backend="onnx", quantization="int8"))
    texts = [
        " ".join(f"word{i} number {j} of the benchmark text" for j in range(60))
        for i in range(args.texts)
    ]
    encodings = fp32.tokenizer.encode(texts, truncate=True, side=TruncationSide.RIGHT)
    tokens = sum(len(e) for e in encodings)

    def sentence_transformers() -> float:
        started = time.perf_counter()
        st.encode(texts, batch_size=32)
        return tokens / (time.perf_counter() - started)

    def engine(e: Engine) -> Callable[[], float]:
        def run() -> float:
            started = time.perf_counter()
            for start in range(0, len(encodings), 32):
                e.forward(encodings[start : start + 32])
            return tokens / (time.perf_counter() - started)

        return run

    contenders = {
        "st": sentence_transformers,
        "ember-fp32": engine(fp32),
        f"ember-int8-{int8.info.backend}": engine(int8),
    }
    if int8.info.backend == "openvino":
        assert isinstance(fp32, OnnxEngine)
        contenders["ort-int8"] = engine(_ort_int8(fp32))
    if cpu_features().native_bf16:
        bf16 = load_engine(EngineConfig(model_path=model, dtype="bfloat16"))
        contenders[f"ember-bf16-{bf16.info.backend}"] = engine(bf16)
    if args.torch_bf16:
        torch_bf16 = EngineConfig(model_path=model, backend="torch", dtype="bfloat16")
        contenders["torch-bf16"] = engine(load_engine(torch_bf16))
    if args.openvino:
        assert isinstance(fp32, OnnxEngine)
        contenders["openvino-fp32"] = engine(_openvino_fp32(fp32))
    for run in contenders.values():
        run()  # warm-up
    load_before = load_average()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, run in contenders.items():
            samples[name].append(run())
    median = {name: statistics.median(values) for name, values in samples.items()}
    print(f"date: {now()}")
    print(f"command: python -m benchmarks.inprocess {shlex.join(sys.argv[1:])}".rstrip())
    print(f"cpu: {cpu_summary()}")
    print(f"load (1/5/15 min): {load_before} before, {load_average()} after")
    print(f"versions: {versions()}")
    print(f"{len(texts)} inputs x {tokens // len(texts)} tokens, {args.rounds} rounds, medians")
    for name, value in median.items():
        print(
            f"  {name:<19} {value:8,.0f} tok/s  {value / median['st']:.2f}x sentence-transformers"
            f"  (rounds {min(samples[name]):,.0f}-{max(samples[name]):,.0f})"
        )


if __name__ == "__main__":
    main()
