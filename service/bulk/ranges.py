"""``ember batch --ranges PATH``: the per-dimension ``[min; max]`` that int8/uint8 output is
quantized with, read from a ``.npy`` array or a JSON ``[[min, ...], [max, ...]]``.

A bulk run always quantizes with the caller's ranges, never with ranges computed over each
part: those would differ from part to part, so equal vectors in two parts would quantize to
different integers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ember.engines.errors import InvalidInputError
from ember.engines.quantize import check_ranges
from ember.engines.types import FloatArray
from ember.service.bulk.errors import BatchError


def load_ranges(path: str, dimensions: int) -> FloatArray:
    """The ``(2, dimensions)`` float32 ranges in ``path`` (``.npy``, else JSON); a
    :class:`BatchError` naming the file if it cannot be read or does not fit ``dimensions``."""
    where = f"--ranges {path!r}"
    try:
        if path.endswith(".npy"):
            raw: object = np.load(path, allow_pickle=False)
        else:
            raw = json.loads(Path(path).read_text("utf-8"))
        ranges = np.asarray(raw, dtype=np.float32)
    except (OSError, ValueError, TypeError) as exc:
        raise BatchError(
            f"{where}: cannot read it ({exc}); give a .npy array or a JSON "
            "[[min, ...], [max, ...]] of shape (2, dimensions)",
            field="ranges",
        ) from None
    try:
        check_ranges(ranges, dimensions)
    except InvalidInputError as exc:
        shape = "x".join(str(n) for n in ranges.shape) or "a scalar"
        raise BatchError(
            f"{where} (shape {shape}): {exc.message}",
            field="ranges",
        ) from None
    return ranges


def ranges_digest(ranges: FloatArray) -> str:
    """A SHA-256 of the ranges' float32 values, for the run's manifest (a rerun with other
    ranges is another run)."""
    data = np.ascontiguousarray(ranges, dtype="<f4")
    return hashlib.sha256(data.tobytes()).hexdigest()
