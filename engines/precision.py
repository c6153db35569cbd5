"""Which reduced-precision CPU modes this CPU serves well, and the accuracy each must reach.

Owns the policy, in one place, that the engines and the start-up self-check apply:

- a CPU mode that the processor would emulate (bf16 without AVX-512 BF16 / AMX-BF16, fp16
  without AVX-512 FP16 / AMX-FP16) is several times slower than float32, so it is refused at
  load with a message naming the missing instructions and the alternatives, unless the
  configuration forces it (``EngineConfig.allow_slow_precision``);
- the int8 quantization scheme suited to the CPU (:func:`int8_scheme`);
- the documented accuracy floor of each reduced mode (:data:`ACCURACY_FLOORS`), checked by
  :mod:`ember.engines.selfcheck` before the server reports SERVING and by the parity tests.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ember.engines.cpu_features import CpuFeatures
from ember.engines.errors import ModelLoadError


class PrecisionUnsupportedError(ModelLoadError):
    """The requested precision would be emulated (slower than float32) on this CPU, or does
    not reach its accuracy floor here."""


@dataclass(frozen=True)
class AccuracyFloor:
    """What a reduced-precision mode promises against float32 on the same inputs (up to the
    model's max length): the minimum and mean cosine similarity of the outputs."""

    min_cosine: float
    mean_cosine: float


#: Each reduced CPU mode's documented floor (README "Precision modes"), keyed by the dtype name
#: an engine reports (``ModelInfo.dtype``).
ACCURACY_FLOORS: dict[str, AccuracyFloor] = {
    "bfloat16": AccuracyFloor(0.999, 0.9995),
    "float16": AccuracyFloor(0.999, 0.9995),
    "int8": AccuracyFloor(0.99, 0.995),
}


class Int8Scheme(enum.Enum):
    """How a model is quantized to int8 for this CPU.

    ``OPENVINO_STATIC``: static int8 on OpenVINO (:mod:`ember.engines.openvino_int8`): NNCF
    calibrates every activation scale once, SmoothQuant on the MatMuls, the QKV projections in
    int8 too, and the FFN down-projections with the widest outliers kept in higher precision until
    the build's accuracy check passes. For CPUs with int8 dot products (VNNI, AMX) where the
    ``openvino`` extra is installed: on Zen 4 about 1.6x ONNX Runtime's best scheme, at a
    better accuracy (``benchmarks/results-avx512/analysis.md``).

    ONNX Runtime's schemes quantize the attention and FFN up-projection MatMuls dynamically
    (per-channel int8 weights, one uint8 activation scale per batch); they differ in the
    weights' range and in the FFN down-projections, whose GELU outputs carry outliers that one
    activation scale per batch cannot follow (they cost min cosine 0.95 -> 0.99 when quantized
    that way):

    ``FULL_RANGE_BLOCKWISE_FFN``: 8-bit weights, and the FFN down-projections as
    ``MatMulNBits`` with 8-bit weights and int8 activations quantized per 32-value block of
    each row (``accuracy_level`` 4), for AVX-512 VNNI CPUs without AMX: on Zen 4 that keeps
    the accuracy of fp32 FFN down-projections (min cosine 0.9952 vs 0.9951) and is about 1.3x
    faster (``benchmarks/results-avx512/analysis.md``).
    ``FULL_RANGE``: 8-bit weights, FFN down-projections in fp32, for the other CPUs with int8
    dot products (AMX, AVX-VNNI), where the block-wise kernel has not been measured.
    ``REDUCED_RANGE``: 7-bit weights (``reduce_range``), FFN down-projections in fp32, for CPUs
    without int8 dot products: ONNX Runtime's AVX2 u8s8 kernel adds pairs of u8*s8 products in
    int16 (``vpmaddubsw``), which saturates with full-range weights (measured on an AVX2-only
    EPYC: min cosine 0.937 vs 0.99+ with 7-bit weights); 7-bit weights keep every pair sum
    within int16 (and the block-wise FFN kernel was slower than fp32 there).
    """

    OPENVINO_STATIC = "ov8"
    FULL_RANGE_BLOCKWISE_FFN = "s8b"
    FULL_RANGE = "s8"
    REDUCED_RANGE = "s7"

    @property
    def reduce_range(self) -> bool:
        """Whether weights use 7 bits (ONNX Runtime's ``reduce_range``)."""
        return self is Int8Scheme.REDUCED_RANGE

    @property
    def blockwise_ffn(self) -> bool:
        """Whether FFN down-projections run as block-wise 8-bit ``MatMulNBits`` (else fp32)."""
        return self is Int8Scheme.FULL_RANGE_BLOCKWISE_FFN


def int8_scheme(features: CpuFeatures, *, openvino: bool) -> Int8Scheme:
    """The int8 scheme for a CPU with ``features``; ``openvino``: whether the packages of
    ``OPENVINO_STATIC`` are installed. Without int8 dot products that scheme is not used: it was
    not measured there, and the u8s8 kernels of such CPUs saturate (``REDUCED_RANGE``)."""
    if openvino and features.int8_dot:
        return Int8Scheme.OPENVINO_STATIC
    if features.isa == "avx512-vnni":
        return Int8Scheme.FULL_RANGE_BLOCKWISE_FFN
    return Int8Scheme.FULL_RANGE if features.int8_dot else Int8Scheme.REDUCED_RANGE


def check_cpu_dtype(dtype: str, features: CpuFeatures, *, allow_slow: bool) -> None:
    """Refuse a CPU compute ``dtype`` (``float32``, ``bfloat16``, ``float16``) that this CPU
    would emulate, unless ``allow_slow``. Raises :class:`PrecisionUnsupportedError`."""
    if allow_slow or dtype == "float32":
        return
    if dtype == "bfloat16" and not features.native_bf16:
        missing, slowdown = "avx512_bf16 or amx_bf16", "about 6x slower than float32"
    elif dtype == "float16" and not features.native_fp16:
        missing, slowdown = "avx512_fp16 or amx_fp16", "several times slower than float32"
    else:
        return
    raise PrecisionUnsupportedError(
        f"--dtype {dtype} on this CPU ({features.isa}: {features.model_name or 'unknown'}) would "
        f"be emulated: it lacks {missing}, so {dtype} matrix products run {slowdown}. "
        "Use float32 (--dtype auto, the default) or --quantization int8 for speed, or pass "
        "--allow-slow-precision true to run it anyway."
    )


@dataclass(frozen=True)
class CpuMode:
    """Whether one CPU precision mode is served on a CPU, and how (for ``ember info``)."""

    name: str
    flags: str
    served: bool
    note: str


def cpu_modes(features: CpuFeatures, *, openvino: bool) -> list[CpuMode]:
    """Each CPU precision mode's verdict on a CPU with ``features``; ``openvino``: whether the
    ``openvino`` extra is installed."""
    scheme = int8_scheme(features, openvino=openvino)
    int8_note = {
        Int8Scheme.OPENVINO_STATIC: "OpenVINO, static int8 (calibrated scales), VNNI/AMX int8 "
        "dot products",
        Int8Scheme.FULL_RANGE_BLOCKWISE_FFN: "8-bit weights, VNNI int8 dot products; FFN "
        "down-projections with block-wise int8 activations",
        Int8Scheme.FULL_RANGE: "8-bit weights, VNNI/AMX int8 dot products; FFN "
        "down-projections in fp32",
        Int8Scheme.REDUCED_RANGE: "7-bit weights (no VNNI: ONNX Runtime's int16 pair sums "
        "would saturate 8-bit ones); FFN down-projections in fp32",
    }[scheme]
    if scheme is not Int8Scheme.OPENVINO_STATIC:
        int8_note = "ONNX Runtime, " + int8_note
    modes = [
        CpuMode("float32", "--dtype auto", True, "the default; exact"),
        CpuMode("int8", "--quantization int8", True, int8_note),
    ]
    for dtype, flags in (("bfloat16", "--dtype bfloat16"), ("float16", "--dtype float16")):
        try:
            check_cpu_dtype(dtype, features, allow_slow=False)
        except PrecisionUnsupportedError as exc:
            modes.append(CpuMode(dtype, flags, False, exc.message.split(". Use")[0]))
        else:
            note = "native matrix instructions"
            if dtype == "bfloat16":
                note += "; OpenVINO for encoder embedding models when installed, else torch"
            modes.append(CpuMode(dtype, flags, True, note))
    return modes
