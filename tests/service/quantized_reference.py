"""The reference quantized outputs are checked against: sentence-transformers'
``quantize_embeddings`` of its own float32 MiniLM embeddings of :data:`TEXTS`, int8/uint8 with
ranges calibrated on them. Shared by ``ember batch --precision`` and the quantized job tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

TEXTS = [
    "The cat sat on the mat.",
    "Ember serves encoder models.",
    "Zoë visited Kraków 🚀",
    "Late interaction retrieval with multi-vectors",
    "binary vectors are 32 times smaller",
    "parquet parts land on disk in input order",
    "a café in Zürich serves crème brûlée",
    "each part is written once",
    "quantized vectors, calibrated ranges",
    "one more row so parts differ",
]
DIM = 384
#: ember's float32 vectors differ from sentence-transformers' in the last bits (cosine >=
#: 0.9999), so a value on a bin edge (int8/uint8) or at 0 (binary) may land one step over:
#: allowed on at most this fraction of the numbers, never by more than one step (one bit).
EDGE_FRACTION = 0.002


def reference_embeddings(minilm_path: Path) -> npt.NDArray[np.float32]:
    """sentence-transformers' normalized float32 embeddings of :data:`TEXTS`."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_path), device="cpu")
    return np.asarray(model.encode(TEXTS, normalize_embeddings=True), dtype=np.float32)


def calibrated_ranges(reference: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Ranges calibrated on the corpus, as a user would, a little wider than its extremes."""
    return np.vstack((reference.min(0) - 0.01, reference.max(0) + 0.01)).astype(np.float32)


def assert_quantized_like(got: np.ndarray, expected: np.ndarray, scalar: bool) -> None:
    """``got`` equals ``expected`` (``quantize_embeddings``' output) but for bin-edge values:
    at most :data:`EDGE_FRACTION` of the numbers one step (``scalar``) or bit off."""
    assert got.dtype == expected.dtype
    assert got.shape == expected.shape
    if scalar:
        steps = np.abs(got.astype(np.int16) - expected.astype(np.int16))
    else:  # differing bits
        steps = np.unpackbits((got ^ expected).view(np.uint8), axis=1)
    assert steps.max() <= 1
    assert steps.sum() <= EDGE_FRACTION * steps.size, f"{int(steps.sum())} numbers differ"
