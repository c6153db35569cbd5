"""Static int8 for OpenVINO: Ember's fused fp32 graph quantized once by NNCF into an OpenVINO IR
that runs the projection MatMuls (QKV, attention output, FFN) with int8 dot products and
activation scales calibrated once; attention scores and softmax stay in the companion
precision (:func:`companion_dtype`).

Why: on an AVX-512 VNNI CPU (AMD Zen 4) ONNX Runtime's dynamic int8 reaches about 2x
sentence-transformers fp32, held back by what it leaves in fp32 (attention inside
``QAttention``, the FFN down-projections) and by quantizing activations on every run. NNCF's
static quantization (activation scales calibrated once, SmoothQuant on the MatMuls) on
OpenVINO's CPU plugin runs 2.7-3.0x at the same accuracy
(``benchmarks/results-avx512/analysis.md``).

Accuracy is checked while building, not assumed: the FFN down-projections (fed by a GELU) carry
the widest activation outliers, and a static per-tensor scale on them is what costs accuracy
(on MiniLM, layer 0's alone: min cosine 0.984 -> 0.996). The build quantizes, compares the
result with ONNX Runtime fp32 on held-out texts and the self-check's probes, and while the
worst cosine is under :data:`CHECK_MIN_COSINE`, keeps one more FFN down-projection in higher
precision, the one with the widest outliers first. A model that misses it even with all of
them kept is refused (``ModelLoadError``).

Needs the ``openvino`` extra (``openvino`` and ``nncf``): :func:`openvino_int8_available`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ember.engines.cpu_features import CpuFeatures
from ember.engines.errors import ModelLoadError
from ember.engines.model_folder import ModelFolder
from ember.engines.openvino_session import OpenVinoSession, openvino_available
from ember.engines.runtimes import import_nncf, import_onnxruntime, import_openvino

log = logging.getLogger(__name__)

#: The worst cosine to ONNX Runtime fp32 a build must reach on its check texts: the int8 floor
#: (0.99) with a margin for texts the check does not see.
CHECK_MIN_COSINE = 0.993
#: SmoothQuant migration strength for NNCF (measured on MiniLM with layer 0's FFN
#: down-projection kept: alpha 0.5 -> min cosine 0.983, 0.7 -> 0.995, 0.8 -> 0.996, 0.95 -> 0.989).
_SMOOTH_ALPHA = 0.8


def openvino_int8_available() -> bool:
    """Whether the packages this scheme needs (``openvino``, ``nncf``) are installed."""
    return openvino_available() and importlib.util.find_spec("nncf") is not None


def companion_dtype(features: CpuFeatures) -> str:
    """The precision OpenVINO runs the int8 graph's other operations in (softmax, LayerNorm,
    GELU, the MatMuls kept out of int8): bf16 where the CPU has it natively (about 1.1x faster
    at the same accuracy on Zen 4), else fp32."""
    return "bfloat16" if features.native_bf16 else "float32"


def quantized_ir(folder: ModelFolder, fp32: Path, target: Path, features: CpuFeatures) -> Path:
    """``target`` (an OpenVINO IR ``.xml`` with its ``.bin``), built from the fp32 graph
    ``fp32`` when missing: static int8, checked as the module says. Both files are written
    beside ``target`` under temporary names and renamed, weights first, so a reader never sees
    an IR without its weights. Raises ``ModelLoadError`` when the check cannot be met."""
    weights = target.with_suffix(".bin")
    if target.is_file() and weights.is_file():
        return target
    from ember.engines.onnx_export import check_cache_writable

    check_cache_writable(target.parent)
    log.info("quantizing %s to static int8 for OpenVINO (once per model)", folder.model_id)
    model, kept = _build(folder, fp32, companion_dtype(features))
    openvino = import_openvino()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".int8-ov.") as temp:
        staged = Path(temp) / target.name
        openvino.save_model(model, str(staged), compress_to_fp16=False)
        os.replace(staged.with_suffix(".bin"), weights)
        os.replace(staged, target)
    log.info("int8 (OpenVINO): FFN down-projections kept in higher precision: %s", kept or "none")
    return target


def _build(folder: ModelFolder, fp32: Path, dtype: str) -> tuple[Any, list[str]]:
    """The quantized OpenVINO model and the FFN down-projections it keeps out of int8."""
    import onnx

    from ember.engines.onnx_export import (
        CALIBRATION_TEXTS,
        activation_ranges,
        calibration_texts,
        ffn_down_projections,
        text_feeds,
    )
    from ember.engines.selfcheck import PROBE_TEXTS

    import_nncf().set_log_level(logging.ERROR)
    texts = calibration_texts()
    calibration = text_feeds(folder, texts[:CALIBRATION_TEXTS])
    # held out: the texts calibration did not see, and the start-up self-check's probes
    check = text_feeds(folder, [*texts[CALIBRATION_TEXTS:], *PROBE_TEXTS])
    downs = ffn_down_projections(onnx.load(str(fp32)))
    ranges = activation_ranges(fp32, downs, calibration)
    # widest outliers first: the peak channel over the typical one
    ranked = sorted(downs, key=lambda name: -float(ranges[name].max() / _median(ranges[name])))
    reference = _reference_rows(fp32, check)
    worst = 0.0
    for count in range(len(ranked) + 1):
        kept = ranked[:count]
        model = _quantize(fp32, calibration, kept)
        worst = _worst_cosine(reference, OpenVinoSession(model, dtype, _threads()), check)
        log.info("int8 (OpenVINO) with %d FFN down-projections kept: min cosine %.5f", count, worst)
        if worst >= CHECK_MIN_COSINE:
            return model, kept
    raise ModelLoadError(
        f"static int8 of {folder.model_id} on OpenVINO stays below min cosine "
        f"{CHECK_MIN_COSINE} against fp32 ({worst:.4f}) even with every FFN down-projection in "
        "higher precision; serve it in float32 or bfloat16"
    )


def _quantize(fp32: Path, calibration: list[dict[str, Any]], kept: Sequence[str]) -> Any:
    openvino = import_openvino()
    nncf = import_nncf()

    parameters = nncf.AdvancedQuantizationParameters(
        smooth_quant_alphas=nncf.AdvancedSmoothQuantParameters(matmul=_SMOOTH_ALPHA)
    )
    # NNCF draws progress bars on stdout/stderr (rich), which would litter a server's log
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        return nncf.quantize(
            openvino.Core().read_model(str(fp32)),
            nncf.Dataset(calibration),
            preset=nncf.QuantizationPreset.MIXED,
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=sum(len(feed["input_ids"]) for feed in calibration),
            # the exporter's node names survive OpenVINO's ONNX reader for plain MatMuls
            ignored_scope=nncf.IgnoredScope(names=list(kept)),
            advanced_parameters=parameters,
        )


def _reference_rows(fp32: Path, feeds: list[dict[str, Any]]) -> list[Any]:
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(fp32), options, providers=["CPUExecutionProvider"])
    return [_summaries(session.run(None, feed)[0], feed) for feed in feeds]


def _worst_cosine(
    reference: list[Any], session: OpenVinoSession, feeds: list[dict[str, Any]]
) -> float:
    import numpy as np

    worst = 1.0
    for expected, feed in zip(reference, feeds, strict=True):
        got = _summaries(session.run(None, feed, None)[0], feed)
        cosine = (expected * got).sum(-1) / (
            np.linalg.norm(expected, axis=-1) * np.linalg.norm(got, axis=-1) + 1e-12
        )
        worst = min(worst, float(cosine.min()))
    return worst


def _summaries(hidden: Any, feed: dict[str, Any]) -> Any:
    """Each row's masked mean and first-token state, ``[2, batch, hidden]``: what mean- and
    CLS-pooled embeddings are made of."""
    import numpy as np

    mask = feed["attention_mask"][:, :, None].astype(np.float32)
    mean = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1.0)
    return np.stack([mean, hidden[:, 0, :]])


def _median(values: Any) -> float:
    import numpy as np

    return max(float(np.median(values)), 1e-6)


def _threads() -> int:
    return len(os.sched_getaffinity(0))
