"""Accuracy of each CPU precision mode: cosine similarity to the fp32 reference embeddings.

One definition shared by the benchmark's accuracy table and
``tests/parity/test_cpu_precision.py``: the modes, how each is loaded, and the documented
minimum cosine each must reach on :func:`benchmarks.corpus.accuracy_corpus`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ember.engines.base import Engine
from ember.engines.config import EngineConfig
from ember.engines.precision import ACCURACY_FLOORS, PrecisionUnsupportedError
from ember.engines.registry import load_engine
from ember.engines.types import TruncationSide, VectorOutput

Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Mode:
    """One way to run the model on the CPU, with its documented accuracy floor."""

    name: str
    #: ``ember serve`` flags selecting this mode.
    flags: tuple[str, ...]
    #: Documented minimum cosine vs fp32 (torch) over the accuracy corpus.
    min_cosine: float
    #: Documented minimum mean cosine.
    mean_cosine: float
    config: dict[str, str | bool] = field(default_factory=dict)
    note: str = ""

    def engine_config(self, model: Path, cache_dir: Path | None = None) -> EngineConfig:
        """The engine configuration for ``model`` in this mode (graphs cached in ``cache_dir``)."""
        return EngineConfig(  # type: ignore[arg-type]
            model_path=model, device="cpu", cache_dir=cache_dir, **self.config
        )


#: The reference: the torch backend in float32 (transformers' own BERT, eager).
REFERENCE = Mode("fp32-torch", ("--backend", "torch"), 1.0, 1.0, {"backend": "torch"})

_BF16 = ACCURACY_FLOORS["bfloat16"]
_INT8 = ACCURACY_FLOORS["int8"]

MODES: tuple[Mode, ...] = (
    Mode(
        "bf16",
        ("--dtype", "bfloat16"),
        _BF16.min_cosine,
        _BF16.mean_cosine,
        {"dtype": "bfloat16"},
        "OpenVINO on the fused ONNX graph (torch where openvino is not installed); needs "
        "avx512_bf16 or amx_bf16: refused on other CPUs",
    ),
    Mode(
        "bf16-torch",
        ("--backend", "torch", "--dtype", "bfloat16"),
        _BF16.min_cosine,
        _BF16.mean_cosine,
        {"backend": "torch", "dtype": "bfloat16"},
        "transformers eager in bf16 weights; needs native bf16",
    ),
    Mode(
        "bf16-compile",
        ("--dtype", "bfloat16", "--compile", "true"),
        _BF16.min_cosine,
        _BF16.mean_cosine,
        {"dtype": "bfloat16", "compile": True},
        "torch.compile (inductor): fused elementwise kernels; needs native bf16",
    ),
    # The CPU default (backend auto) for encoder embedding models.
    Mode("onnx-fp32", ("--backend", "onnx"), 0.9999, 0.9999, {"backend": "onnx"}),
    Mode(
        "onnx-int8",
        ("--backend", "onnx", "--quantization", "int8"),
        _INT8.min_cosine,
        _INT8.mean_cosine,
        {"backend": "onnx", "quantization": "int8"},
        "VNNI/AMX with the openvino extra: static int8 on OpenVINO (NNCF, calibrated scales), the "
        "FFN down-projections with the widest outliers kept out of int8; else ONNX Runtime: "
        "SmoothQuant, per-channel int8 weights (7-bit without VNNI/AMX), dynamic activations",
    ),
    Mode(
        "torch-int8",
        ("--backend", "torch", "--quantization", "int8"),
        0.70,
        0.90,
        {"backend": "torch", "quantization": "int8"},
        "torch quantize_dynamic (per-tensor, 7-bit activations): below the 0.99 bar, so the "
        "start-up self-check refuses it; use onnx-int8",
    ),
)


def embed(engine: Engine, texts: Sequence[str], batch_size: int = 32) -> Matrix:
    """Unit-normalized embeddings of ``texts`` (truncated to the model's limit), in order,
    computed in length-sorted batches as the server forms them."""
    encodings = engine.tokenizer.encode(texts, truncate=True, side=TruncationSide.RIGHT)
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i]))
    rows: Matrix | None = None
    for start in range(0, len(order), batch_size):
        part = order[start : start + batch_size]
        output = engine.forward([encodings[i] for i in part])
        assert isinstance(output, VectorOutput)
        if rows is None:
            rows = np.zeros((len(texts), output.rows.shape[1]), dtype=np.float32)
        rows[part] = output.rows
    assert rows is not None
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    normalized: Matrix = (rows / np.maximum(norms, 1e-12)).astype(np.float32)
    return normalized


@dataclass(frozen=True)
class Agreement:
    """Cosine agreement of one mode with the reference over the corpus."""

    mode: str
    min_cosine: float
    mean_cosine: float
    texts: int
    #: Why the mode did not run on this CPU (refused by the precision policy), else "".
    refused: str = ""


def agreement(mode: str, reference: Matrix, candidate: Matrix) -> Agreement:
    """Row-wise cosine of two unit-normalized embedding matrices."""
    cosines = (reference * candidate).sum(axis=1)
    return Agreement(mode, float(cosines.min()), float(cosines.mean()), len(cosines))


def measure(model: Path, texts: Sequence[str], modes: Sequence[Mode] = MODES) -> list[Agreement]:
    """Agreement of each mode (and of sentence-transformers) with Ember's fp32 reference."""
    reference_engine = load_engine(REFERENCE.engine_config(model))
    reference = embed(reference_engine, texts)
    reference_engine.close()
    results: list[Agreement] = []
    try:
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(model), device="cpu")
        st_rows = st.encode(list(texts), batch_size=32, normalize_embeddings=True)
        results.append(agreement("sentence-transformers", reference, np.asarray(st_rows)))
    except ImportError:  # pragma: no cover - dev extra missing
        pass
    for mode in modes:
        try:
            engine = load_engine(mode.engine_config(model))
        except PrecisionUnsupportedError as exc:
            results.append(Agreement(mode.name, float("nan"), float("nan"), 0, exc.message))
            continue
        results.append(agreement(mode.name, reference, embed(engine, texts)))
        engine.close()
    return results
