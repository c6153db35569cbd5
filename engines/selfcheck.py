"""The start-up accuracy self-check of reduced-precision CPU modes.

Owns one step of loading: when an engine runs on the CPU in a reduced precision (bf16, fp16,
int8), run a small fixed probe set through it and through a float32 reference of the same
model (loaded only for the check, then closed), and refuse the mode when its agreement is
below the documented floor (:data:`ember.engines.precision.ACCURACY_FLOORS`). The server calls
it after warm-up and before reporting SERVING, so a mode that is wrong on this CPU never serves.

Agreement is the cosine similarity of each probe's output to the reference's: pooled vectors
(embeddings, multi-label logits), per-token logit rows (token classification), vocabulary-sized
sparse vectors; for single-score models (rerankers, one-label classifiers) the Pearson
correlation of the probe scores, since the cosine of two scalars says nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence

import numpy as np

from ember.engines.base import Engine
from ember.engines.config import EngineConfig
from ember.engines.precision import ACCURACY_FLOORS, PrecisionUnsupportedError
from ember.engines.types import (
    Encoding,
    EngineOutput,
    FloatArray,
    ModelKind,
    SparseOutput,
    TokenLogitsOutput,
    TruncationSide,
    VectorOutput,
)

log = logging.getLogger(__name__)

_SENTENCE = (
    "Ember serves embedding, reranking and classification models over gRPC and REST, and "
    "every reduced-precision mode is compared with float32 before it answers a request. "
)

#: Fixed probes of varied length and script; the last reaches the model's max length, since
#: int8 error grows with the input length.
PROBE_TEXTS: tuple[str, ...] = (
    "hello",
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "The quick brown fox jumps over the lazy dog near the river bank at dawn.",
    "Les modèles quantifiés doivent rester fidèles aux résultats en précision complète.",
    "Die Hauptstadt von Deutschland ist Berlin, eine Stadt mit langer Geschichte.",
    "東京は日本の首都であり、世界最大の都市圏の一つです。",
    "def add(a, b):\n    return a + b  # numbers, code and punctuation: 3.14, 42, {x: y}",
    "Photosynthesis converts light energy into chemical energy stored in glucose molecules.",
    _SENTENCE * 3,
    _SENTENCE * 12,
    _SENTENCE * 60,
)


@dataclasses.dataclass(frozen=True)
class SelfCheckResult:
    """How a reduced mode agreed with float32 on the probe set."""

    dtype: str
    min_cosine: float
    mean_cosine: float
    probes: int
    seconds: float


def needs_self_check(engine: Engine) -> bool:
    """Whether ``engine`` runs a reduced precision on the CPU (a mode with a floor)."""
    info = engine.info
    return info.device == "cpu" and info.dtype in ACCURACY_FLOORS


def reference_config(config: EngineConfig, engine: Engine) -> EngineConfig:
    """The float32 configuration of the same model on the same backend family (the ONNX graph
    on ONNX Runtime for the onnx and openvino engines)."""
    backend = {"onnx": "onnx", "openvino": "onnx"}.get(engine.info.backend, "torch")
    return dataclasses.replace(
        config,
        backend=backend,  # type: ignore[arg-type]  # one of the Backend literals
        dtype="float32",
        quantization=None,
        compile=False,
        device="cpu",
    )


def probe_encodings(engine: Engine) -> list[Encoding]:
    """The probe set encoded for ``engine``'s kind (pairs for rerankers), truncated to its
    max length, shortest first."""
    tokenizer = engine.tokenizer
    if engine.info.kind in (ModelKind.RERANKER, ModelKind.LLM_RERANKER):
        query = PROBE_TEXTS[1]
        pairs = [(query, text) for text in PROBE_TEXTS]
        encodings = tokenizer.encode_pairs(pairs, truncate=True, side=TruncationSide.RIGHT)
    else:
        encodings = tokenizer.encode(PROBE_TEXTS, truncate=True, side=TruncationSide.RIGHT)
    return sorted(encodings, key=len)


#: Probes per forward: the probes run in length-sorted batches, as the scheduler forms them
#: (it never pads a 3-token input to 256), which also keeps the check short.
_BATCH = 4


def _run(engine: Engine, encodings: Sequence[Encoding]) -> EngineOutput:
    """``engine``'s outputs for ``encodings`` (already in length order), batch by batch."""
    parts = [
        engine.forward(list(encodings[start : start + _BATCH]))
        for start in range(0, len(encodings), _BATCH)
    ]
    first = parts[0]
    if isinstance(first, VectorOutput):
        return VectorOutput(np.concatenate([p.rows for p in parts if isinstance(p, VectorOutput)]))
    if isinstance(first, TokenLogitsOutput):
        return TokenLogitsOutput(
            [row for p in parts if isinstance(p, TokenLogitsOutput) for row in p.logits]
        )
    sparse = [p for p in parts if isinstance(p, SparseOutput)]
    return SparseOutput(
        [i for p in sparse for i in p.indices], [v for p in sparse for v in p.values]
    )


def _row_cosines(reference: FloatArray, candidate: FloatArray) -> FloatArray:
    ref = reference.astype(np.float64)
    cand = candidate.astype(np.float64)
    dots = (ref * cand).sum(axis=1)
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(cand, axis=1)
    # Two all-zero rows agree exactly; one zero row against a non-zero one does not.
    both_zero = norms == 0
    cosines = np.where(both_zero, 1.0, dots / np.maximum(norms, 1e-30))
    return cosines.astype(np.float32)


def _pearson(reference: FloatArray, candidate: FloatArray) -> float:
    ref = reference.astype(np.float64).ravel()
    cand = candidate.astype(np.float64).ravel()
    spread = float(ref.std())
    if spread < 1e-6:
        # Constant reference scores: agreement is closeness, not correlation.
        return 1.0 if float(np.abs(ref - cand).max()) <= 1e-3 else 0.0
    return float(np.corrcoef(ref, cand)[0, 1])


def _dense_sparse(output: SparseOutput, width: int) -> FloatArray:
    rows = np.zeros((len(output.indices), width), dtype=np.float32)
    for row, (indices, values) in enumerate(zip(output.indices, output.values, strict=True)):
        rows[row, indices] = values
    return rows


def agreement(reference: EngineOutput, candidate: EngineOutput) -> tuple[float, float]:
    """(min, mean) agreement of two outputs of the same inputs (see the module docstring)."""
    if isinstance(reference, VectorOutput) and isinstance(candidate, VectorOutput):
        if reference.rows.shape[1] == 1:
            score = _pearson(reference.rows, candidate.rows)
            return score, score
        cosines = _row_cosines(reference.rows, candidate.rows)
    elif isinstance(reference, TokenLogitsOutput) and isinstance(candidate, TokenLogitsOutput):
        cosines = _row_cosines(np.concatenate(reference.logits), np.concatenate(candidate.logits))
    elif isinstance(reference, SparseOutput) and isinstance(candidate, SparseOutput):
        width = 1 + max(
            (int(i.max()) for i in [*reference.indices, *candidate.indices] if i.size), default=0
        )
        cosines = _row_cosines(_dense_sparse(reference, width), _dense_sparse(candidate, width))
    else:
        raise TypeError(f"outputs of different kinds: {type(reference)} vs {type(candidate)}")
    return float(cosines.min()), float(cosines.mean())


def self_check(
    engine: Engine, config: EngineConfig, load: Callable[[EngineConfig], Engine]
) -> SelfCheckResult | None:
    """Compare ``engine`` (loaded from ``config``) with its float32 reference on the probe set.

    Returns ``None`` when the engine needs no check (float32, or not on the CPU). Raises
    :class:`PrecisionUnsupportedError` naming the mode, the measured agreement and what to use
    instead when the floor is not met. ``load`` loads the reference (closed before returning).
    """
    if not needs_self_check(engine):
        return None
    started = time.monotonic()
    dtype = engine.info.dtype
    encodings = probe_encodings(engine)
    reference_engine = load(reference_config(config, engine))
    try:
        expected = _run(reference_engine, encodings)
    finally:
        reference_engine.close()
    low, mean = agreement(expected, _run(engine, encodings))
    result = SelfCheckResult(dtype, low, mean, len(encodings), time.monotonic() - started)
    floor = ACCURACY_FLOORS[dtype]
    if low < floor.min_cosine or mean < floor.mean_cosine:
        from ember.engines.cpu_features import cpu_features

        raise PrecisionUnsupportedError(
            f"{dtype} ({engine.info.backend} backend) fails its accuracy self-check on this CPU "
            f"({cpu_features().isa}): min cosine {low:.4f} / mean {mean:.4f} against float32 on "
            f"{len(encodings)} probe inputs, below the floor {floor.min_cosine} / "
            f"{floor.mean_cosine}. Serve float32 (the default) instead"
            + (", or int8 with the onnx backend (--backend auto)" if dtype == "int8" else "")
            + "; --precision-check false serves it anyway."
        )
    log.info(
        "precision self-check: %s agrees with float32 at min cosine %.5f, mean %.5f "
        "(%d probes, %.2fs)",
        dtype,
        low,
        mean,
        len(encodings),
        result.seconds,
    )
    return result
