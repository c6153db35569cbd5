"""``OpenVinoSession``: Ember's fused ONNX graph (or its static int8 IR,
:mod:`ember.engines.openvino_int8`) compiled by OpenVINO for the CPU, behind the one call
:class:`~ember.engines.onnx_engine.OnnxEngine` makes of an ONNX Runtime session.

Why: on CPUs with native bf16 (AVX-512 BF16; measured on AMD Zen 4) OpenVINO's CPU plugin runs
the graph's matrix products in bf16 with fp32 accumulation and fused attention, about 1.7x
faster than torch's bf16 (eager or compiled) at a better min cosine against fp32 (0.99997 vs
0.9999; ``benchmarks/results-avx512/analysis.md``). ONNX Runtime has no bf16 kernels on x86.
OpenVINO reads the com.microsoft fused operators of the exported graph, so the same cached
graph serves fp32 (ONNX Runtime) and bf16 (OpenVINO).

The ``openvino`` package is optional (``pip install 'ember-serve[openvino]'``);
:func:`openvino_available` says whether it is installed, without importing it. Ember imports
it through :func:`~ember.engines.runtimes.import_openvino`, with its usage telemetry off.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ember.engines.runtimes import import_openvino

#: Ember's dtype names -> OpenVINO's ``INFERENCE_PRECISION_HINT`` values. The hint is always
#: set: without it OpenVINO silently runs bf16 on CPUs that have it.
_PRECISION_HINTS = {"float32": "f32", "bfloat16": "bf16"}


def openvino_available() -> bool:
    """Whether the ``openvino`` package is installed."""
    return importlib.util.find_spec("openvino") is not None


class OpenVinoSession:
    """A graph (a path OpenVINO reads: ONNX or IR ``.xml``; or an ``openvino.Model``) compiled
    by OpenVINO for the CPU on ``threads`` threads, tuned for one batch at a time
    (``PERFORMANCE_HINT`` LATENCY). ``dtype`` (``float32`` or ``bfloat16``) is the precision of
    the operations the graph does not quantize itself.

    :meth:`run` must be called from one thread at a time. A run is never cancelled once it
    started: with openvino 2026.4 an ``InferRequest.cancel()`` (even one that arrives after the
    run ended) leaves the compiled model's per-stream graph broken, and every later run fails
    (``parentPaddElemCount == childPaddElemCount``), a new infer request included; measured by
    ``tests/parity/test_cpu_precision.py``'s preemption test in CI and a stress loop.
    """

    def __init__(self, graph: Path | Any, dtype: str, threads: int) -> None:
        openvino = import_openvino()
        config = {
            "INFERENCE_PRECISION_HINT": _PRECISION_HINTS[dtype],
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
        }
        source = str(graph) if isinstance(graph, Path) else graph
        compiled = openvino.Core().compile_model(source, "CPU", config)
        self._request = compiled.create_infer_request()

    def run(self, _outputs: object, feeds: Mapping[str, Any], options: object) -> list[Any]:
        """The graph's single output (the last hidden states) for ``feeds``, as ONNX Runtime's
        ``InferenceSession.run`` returns it. Raises ``RuntimeError`` at once when ``options``
        (ONNX Runtime's RunOptions) says terminate: a preempted forward that had not started."""
        if getattr(options, "terminate", False):
            raise RuntimeError("the OpenVINO run was terminated before it started")
        result = self._request.infer(dict(feeds), share_inputs=True)
        # copy: the output tensor's memory belongs to the request and is reused by the next run
        return [next(iter(result.values())).copy()]
