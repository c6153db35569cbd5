"""Classification and rerank heads: turn a batch of sequence-level logits into answers.

Owns the score functions (softmax, sigmoid), the rule that picks between them, and the ordering
of results. Pure numpy, deterministic, vectorised over the batch: no torch, no protobuf.

The rules follow the transformers text-classification pipeline and TEI/BEI:

* Classify: every label of the model with its score, highest first (ties keep label-id order).
  Softmax over the labels when there are several, sigmoid when there is one, a sigmoid per label
  for multi-label models (``problem_type: multi_label_classification``), the raw logits when
  ``raw_scores`` is set.
* Rerank: one logit per (query, text) pair; the score is its sigmoid (or the raw logit), texts
  ranked by score, highest first (ties keep input order), cut to ``top_n``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ember.engines.errors import InvalidInputError, UnsupportedTaskError

__all__ = [
    "LabelScore",
    "Ranked",
    "classify",
    "rank",
    "sigmoid",
    "softmax",
]


@dataclass(frozen=True, slots=True)
class LabelScore:
    """One label with its score (a probability, or a raw logit when raw scores were asked)."""

    label: str
    score: float


@dataclass(frozen=True, slots=True)
class Ranked:
    """One text's place in a ranking: its position in the request's texts and its score."""

    index: int
    score: float


def softmax(logits: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Softmax over the last axis in float32, max-subtracted so large logits cannot overflow.

    Computed exactly as the transformers pipelines do (same operations, same precision), so
    argmax ties and scores match the reference bit for bit on the same logits.
    """
    x = np.asarray(logits, dtype=np.float32)
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    out: npt.NDArray[np.float32] = shifted / shifted.sum(axis=-1, keepdims=True)
    return out


def sigmoid(logits: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Elementwise logistic function in float32, without overflow for logits of any magnitude."""
    x = np.asarray(logits, dtype=np.float32)
    # exp(-|x|) is at most 1, so neither branch can overflow (1 / (1 + exp(-x)) would warn for
    # large negative x in float32).
    z = np.exp(-np.abs(x))
    out: npt.NDArray[np.float32] = np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z)).astype(
        np.float32
    )
    return out


def _as_matrix(rows: npt.ArrayLike, what: str) -> npt.NDArray[np.float32]:
    """The logits as a float32 (batch, columns) matrix; anything else is an engine bug."""
    matrix = np.asarray(rows, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(
            f"{what} logits must be a (batch, labels) matrix, got shape {matrix.shape}"
        )
    return matrix


def classify(
    rows: npt.ArrayLike,
    labels: Sequence[str],
    *,
    multi_label: bool = False,
    raw_scores: bool = False,
) -> list[list[LabelScore]]:
    """Score every label of every input; one list per input, in input order.

    ``rows`` is the engine's (n, num_labels) logits matrix and ``labels`` the model's label
    names in id order (``ModelInfo.labels``). Each input's list holds every label once, sorted
    by score, highest first; equal scores keep label-id order.

    Scores are a softmax over the labels when there are several, the sigmoid of the logit when
    there is one, a sigmoid per label when ``multi_label``, and the raw logits when
    ``raw_scores``. Regression heads are not told apart from one-label classifiers (as in
    TEI): ask for ``raw_scores`` to get their value.
    """
    logits = _as_matrix(rows, "classification")
    if logits.shape[1] != len(labels):
        raise ValueError(
            f"the model has {len(labels)} labels but its logits have {logits.shape[1]} columns"
        )
    if raw_scores:
        scores = logits
    elif multi_label or logits.shape[1] == 1:
        scores = sigmoid(logits)
    else:
        scores = softmax(logits)
    # A stable sort of the negated scores: highest first, ties in label-id order.
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=1)
    names = list(labels)
    return [
        [LabelScore(names[j], s) for j, s in zip(row_order, row_scores, strict=True)]
        for row_order, row_scores in zip(order.tolist(), ranked.tolist(), strict=True)
    ]


def rank(
    rows: npt.ArrayLike,
    *,
    raw_scores: bool = False,
    top_n: int | None = None,
) -> list[Ranked]:
    """Rank texts by relevance from one logit per (query, text) pair, best first.

    ``rows`` is the engine's (n, 1) logits matrix for the n texts in request order (a flat
    vector of n logits is accepted too). The score is the sigmoid of the logit, or the logit
    itself with ``raw_scores``. Texts are ordered by logit (so by score as well); equal logits
    keep input order.
    ``top_n`` keeps only the best N (None: all; more than n: all).

    Raises :class:`UnsupportedTaskError` when the model gives more than one logit per pair (a
    multi-label classifier is not a reranker) and :class:`InvalidInputError` for ``top_n`` < 1.
    """
    logits = np.asarray(rows, dtype=np.float32)
    if logits.ndim == 2:
        if logits.shape[1] != 1:
            raise UnsupportedTaskError(
                f"rerank needs a model with a single relevance logit; this one has "
                f"{logits.shape[1]} labels (use Classify instead)"
            )
        logits = logits[:, 0]
    elif logits.ndim != 1:
        raise ValueError(f"rerank logits must be (n, 1) or (n,), got shape {logits.shape}")
    if top_n is not None and top_n < 1:
        raise InvalidInputError(f"top_n must be at least 1, got {top_n}")
    scores = logits if raw_scores else sigmoid(logits)
    # Order by the logit, not the score: the sigmoid saturates to 1.0 in float32 above ~17, and
    # the logit still tells those texts apart. The order is non-increasing in the score too.
    order = np.argsort(-logits, kind="stable")
    if top_n is not None:
        order = order[:top_n]
    return [Ranked(i, s) for i, s in zip(order.tolist(), scores[order].tolist(), strict=True)]
