"""Post-processing of dense embedding rows in numpy: L2 normalization and Matryoshka truncation.

Pure functions on float32 arrays; the caller validates request options (e.g. that ``dimensions``
is between 1 and the model's embedding size) before calling.
"""

from __future__ import annotations

import numpy as np

from ember.engines.types import FloatArray

#: Rows whose norm is below this are left as they are (all-zero rows stay zero, never NaN).
_EPS = 1e-12


def normalize(rows: FloatArray) -> FloatArray:
    """Return ``rows`` (shape ``(n, d)``) scaled to unit L2 norm per row, as a new float32 array.

    Matches ``torch.nn.functional.normalize`` (sentence-transformers' ``Normalize`` module): a row
    with norm below 1e-12 is divided by 1e-12, so an all-zero row stays zero.
    """
    values = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(values, axis=-1, keepdims=True)
    scaled: FloatArray = (values / np.maximum(norms, _EPS)).astype(np.float32, copy=False)
    return scaled


def truncate_dimensions(rows: FloatArray, dimensions: int, *, renormalize: bool) -> FloatArray:
    """Keep the first ``dimensions`` columns of each row (Matryoshka embeddings).

    With ``renormalize`` the truncated rows are scaled back to unit norm, as OpenAI's
    ``dimensions`` option does. ``dimensions`` must be in ``1 .. rows.shape[1]`` (the caller's
    validation); a value equal to the width returns the rows unchanged (normalized if asked).
    """
    if not 1 <= dimensions <= rows.shape[-1]:
        raise ValueError(f"dimensions must be in 1..{rows.shape[-1]}, got {dimensions}")
    kept = np.ascontiguousarray(rows[..., :dimensions], dtype=np.float32)
    return normalize(kept) if renormalize else kept


def postprocess(rows: FloatArray, *, normalize_rows: bool, dimensions: int | None) -> FloatArray:
    """The usual order for an embed request: truncate to ``dimensions`` (if given), then normalize.

    Truncating first and normalizing after is what Matryoshka models expect; with
    ``dimensions=None`` this is plain normalization (or nothing).
    """
    if dimensions is not None and dimensions != rows.shape[-1]:
        return truncate_dimensions(rows, dimensions, renormalize=normalize_rows)
    return normalize(rows) if normalize_rows else np.asarray(rows, dtype=np.float32)
