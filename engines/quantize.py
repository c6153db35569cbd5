"""Quantized embedding vectors: sentence-transformers' ``quantize_embeddings`` semantics.

- ``int8`` / ``uint8``: each dimension's range ``[min, max]`` is cut into 255 steps;
  ``uint8 = clip(floor((x - min) / step), 0, 255)`` and ``int8 = uint8 - 128`` (a dimension
  with ``max == min`` uses step 1). The ranges are the caller's, else the per-dimension min and
  max over the request's own vectors, as ``quantize_embeddings`` computes them when given none
  (which needs at least two vectors).
- ``binary`` / ``ubinary``: one bit per dimension (``x > 0``), packed 8 to a byte, most
  significant bit first (``np.packbits``); ``binary`` stores each byte minus 128 as int8.

Pure numpy; the arithmetic runs in float32, as the reference does on float32 embeddings.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ember.engines.errors import InvalidInputError
from ember.engines.types import FloatArray


class Precision(enum.Enum):
    """How each number of a vector is stored."""

    FLOAT32 = "float32"
    INT8 = "int8"
    UINT8 = "uint8"
    BINARY = "binary"
    UBINARY = "ubinary"

    @property
    def scalar(self) -> bool:
        """Whether this precision maps each dimension to one integer (and needs ranges)."""
        return self in (Precision.INT8, Precision.UINT8)


@dataclass(frozen=True)
class Quantized:
    """Quantized vectors: ``data`` is ``(n, cols)`` int8 or uint8 (``cols`` = the dimension
    for int8/uint8, ``ceil(dimension / 8)`` for the binary precisions); ``ranges`` is the
    ``(2, dimension)`` float32 ``[min; max]`` used (int8/uint8 only), so a caller can
    quantize later queries the same way."""

    precision: Precision
    data: npt.NDArray[np.int8] | npt.NDArray[np.uint8]
    dimensions: int
    ranges: FloatArray | None = None


def check_ranges(ranges: FloatArray, dimensions: int) -> None:
    """A caller's ranges must be ``(2, dimensions)``, finite, with ``min <= max`` everywhere;
    raises :class:`InvalidInputError` (field ``ranges``) naming the first bad dimension."""
    if ranges.shape != (2, dimensions):
        raise InvalidInputError(
            f"ranges must hold {dimensions} minimums and {dimensions} maximums (one per output "
            f"dimension), got {ranges.shape[-1] if ranges.ndim == 2 else 0}",
            field="ranges",
            reason="bad_ranges",
        )
    if not np.isfinite(ranges).all():
        raise InvalidInputError(
            "ranges must be finite numbers", field="ranges", reason="bad_ranges"
        )
    bad = np.flatnonzero(ranges[1] < ranges[0])
    if bad.size:
        d = int(bad[0])
        raise InvalidInputError(
            f"ranges: dimension {d} has max {float(ranges[1, d])} below min "
            f"{float(ranges[0, d])}; no maximum may be below its minimum",
            field="ranges",
            index=d,
            reason="bad_ranges",
        )


def check_batch(count: int) -> None:
    """Ranges computed over a request need at least two vectors (the reference refuses one);
    INVALID_ARGUMENT otherwise."""
    if count < 2:
        raise InvalidInputError(
            "int8/uint8 without ranges computes them over the request's vectors, which needs at "
            "least two inputs; send ranges (calibrated on your corpus)",
            field="ranges",
            reason="bad_ranges",
        )


def batch_ranges(vectors: FloatArray) -> FloatArray:
    """The per-dimension ``[min; max]`` over ``vectors`` (at least two, :func:`check_batch`)."""
    check_batch(len(vectors))
    ranges: FloatArray = np.vstack((vectors.min(axis=0), vectors.max(axis=0))).astype(np.float32)
    return ranges


def quantize(vectors: FloatArray, precision: Precision, ranges: FloatArray | None) -> Quantized:
    """Quantize ``(n, d)`` float32 ``vectors`` to ``precision`` (not FLOAT32). ``ranges``
    (int8/uint8): the caller's ``(2, d)``, checked here, or None to compute them from
    ``vectors``."""
    values = np.asarray(vectors, dtype=np.float32)
    dims = values.shape[1]
    if precision is Precision.UBINARY or precision is Precision.BINARY:
        packed = np.packbits(values > 0, axis=1)
        if precision is Precision.UBINARY:
            return Quantized(precision, packed, dims)
        return Quantized(precision, (packed.astype(np.int16) - 128).astype(np.int8), dims)
    if not precision.scalar:
        raise ValueError(f"quantize() cannot produce {precision.value}")
    if ranges is None:
        used = batch_ranges(values)
    else:
        used = np.asarray(ranges, dtype=np.float32)
        check_ranges(used, dims)
    starts = used[0]
    steps = (used[1] - starts) / np.float32(255)
    steps = np.where(steps == 0, np.float32(1), steps)
    levels = np.clip(np.floor((values - starts) / steps), 0, 255)
    data: npt.NDArray[np.int8] | npt.NDArray[np.uint8]
    if precision is Precision.UINT8:
        data = levels.astype(np.uint8)
    else:
        data = (levels - 128).astype(np.int8)
    return Quantized(precision, data, dims, used)
