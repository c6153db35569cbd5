"""Interleaved in-process throughput: sentence-transformers fp32 ``encode`` against Ember's CPU
engines (ONNX Runtime fp32 and int8) on the same long inputs, alternating rounds, medians.

No server and no client: what the engines themselves do, measured so that drift on a shared
machine hits every contender alike. ``python -m benchmarks.inprocess [--rounds N]``; prints
the CPU (as the server reads it), tok/s per contender and the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from ember.engines.base import Engine
from ember.engines.config import EngineConfig
from ember.engines.cpu_features import cpu_features
from ember.engines.registry import load_engine
from ember.engines.types import TruncationSide
from ember.service.default_model import default_model_path


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inprocess", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--texts", type=int, default=64)
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    model = Path(default_model_path())
    st = SentenceTransformer(str(model), device="cpu")
    fp32 = load_engine(EngineConfig(model_path=model))
    int8 = load_engine(EngineConfig(model_path=model, quantization="int8"))
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
        "ember-int8": engine(int8),
    }
    for run in contenders.values():
        run()  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, run in contenders.items():
            samples[name].append(run())
    median = {name: statistics.median(values) for name, values in samples.items()}
    print(f"cpu: {cpu_features().describe()}")
    print(f"{len(texts)} inputs x {tokens // len(texts)} tokens, {args.rounds} rounds, medians")
    for name, value in median.items():
        print(
            f"  {name:<11} {value:8,.0f} tok/s  {value / median['st']:.2f}x sentence-transformers"
        )


if __name__ == "__main__":
    main()
