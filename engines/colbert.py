"""ColBERT (PyLate layout) inputs: queries and documents as PyLate's ``ColBERT.tokenize`` makes
them, and the vocabulary facts they need.

- Every input is cut to its length less one (``query_length`` / ``document_length``), keeping
  the closing special token, and the prefix token (``[Q] `` / ``[D] ``) goes right after the
  first token.
- With query expansion, a query is padded with the mask token to exactly ``query_length``
  tokens; those positions get vectors but are not attended to unless
  ``attend_to_expansion_tokens``.
- Documents leave their skip-list tokens (punctuation) out of their vectors
  (:func:`document_keep`); queries keep every vector.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ember.engines.base import Tokenizer
from ember.engines.errors import ModelLoadError
from ember.engines.tokenizer import HFTokenizer
from ember.engines.types import ColbertSettings, Encoding, Output, TruncationSide

__all__ = ["ColbertSettings", "document_keep", "encode", "resolve"]


def resolve(
    settings: ColbertSettings, tokenizer: HFTokenizer, mask_id: int | None
) -> ColbertSettings:
    """``settings`` with the token ids filled in from the model's tokenizer. A prefix or
    skip-list word outside the vocabulary maps to the unknown token, as PyLate's
    ``convert_tokens_to_ids`` does."""

    def token_id(word: str) -> int | None:
        found = tokenizer.token_to_id(word)
        return found if found is not None else tokenizer.unk_token_id

    expansion = mask_id if mask_id is not None else tokenizer.pad_token_id
    if expansion is None:
        raise ModelLoadError("a ColBERT model needs a mask (or pad) token to expand queries with")
    return dataclasses.replace(
        settings,
        query_prefix_id=token_id(settings.query_prefix) if settings.query_prefix else None,
        document_prefix_id=token_id(settings.document_prefix) if settings.document_prefix else None,
        expansion_id=expansion,
        skip_ids=frozenset(i for i in map(token_id, settings.skiplist_words) if i is not None),
    )


def encode(
    tokenizer: Tokenizer,
    settings: ColbertSettings,
    texts: Sequence[str],
    *,
    query: bool,
) -> list[Encoding]:
    """The engine inputs for ``texts`` as queries or documents (see the module docstring);
    every encoding asks for :attr:`Output.MULTI`."""
    length = settings.query_length if query else settings.document_length
    prefix = settings.query_prefix_id if query else settings.document_prefix_id
    room = length - 1 if prefix is not None else length
    out: list[Encoding] = []
    for enc in tokenizer.encode(texts, truncate=True, side=TruncationSide.RIGHT):
        ids = list(enc.ids)
        if len(ids) > room:
            ids = ids[: room - 1] + ids[-1:]
        attended = 0
        if query and settings.do_query_expansion and len(ids) < room:
            real = len(ids) + (prefix is not None)
            ids += [settings.expansion_id] * (room - len(ids))
            attended = 0 if settings.attend_to_expansion_tokens else real
        if prefix is not None:
            ids.insert(1, prefix)
        out.append(Encoding(ids=ids, output=Output.MULTI, attended=attended))
    return out


def document_keep(ids: Sequence[int], settings: ColbertSettings) -> npt.NDArray[np.bool_]:
    """Which of a document's token vectors PyLate keeps: those not in the skip-list."""
    skip = settings.skip_ids
    return np.fromiter((i not in skip for i in ids), dtype=np.bool_, count=len(ids))
