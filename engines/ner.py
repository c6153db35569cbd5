"""Token classification (NER) head: turn per-token logits into token or entity predictions.

Owns the post-processing of PredictTokens: scores per token, the aggregation strategies that
merge sub-word tokens into words and words into entity spans, B-/I- tag resolution, and the
validation of aggregation requests. Pure numpy + python, deterministic: no torch, no protobuf.

The results equal ``transformers.pipeline("token-classification", aggregation_strategy=...)`` on
the same tokenization and logits, for all five strategies (same labels, words, offsets; scores
computed with the same float32 operations). The pipeline's rules, restated:

* Scores: a float32 softmax over the labels, max-subtracted. Special tokens are skipped.
* A token's text is the vocabulary's spelling of its id (``convert_ids_to_tokens``), except an
  unknown token, which takes the original text under its offsets.
* NONE: every token with its best label and that label's probability.
* SIMPLE: tokens labelled as in NONE, then grouped into entities (see below).
* FIRST / AVERAGE / MAX: tokens are first merged into words, then words are grouped. A token
  continues the previous word when it is a sub-word:

  - tokenizers with a ``continuing_subword_prefix`` (WordPiece's ``##``): when the token's
    spelling and the text under its offsets differ in length;
  - all others (byte-level BPE, Unigram/SentencePiece): a heuristic — the token does not start
    the text and neither the character before it nor its first character is a space (only
    U+0020 counts, as in the pipeline);
  - an unknown token never continues a word.

  A word's text is the tokenizer's ``convert_tokens_to_string`` of its tokens; its label is the
  best label of its first token (FIRST), the best label of its most confident token (MAX, the
  first such token on ties), or the best label of the mean of its tokens' probabilities
  (AVERAGE), with that label's (mean) probability as the score.
* Grouping: an entity continues while the next item has the same tag and is not a ``B-`` item
  (labels without a ``B-``/``I-`` prefix count as ``I-`` of themselves). The group's
  ``entity_group`` is its first item's label with everything up to the first ``-`` removed, its
  score the mean of its items' scores, its text ``convert_tokens_to_string`` of the items' texts,
  its span from the first item's start to the last item's end.
* Items whose label (NONE) or entity group (other strategies) is in ``ignore_labels`` (default
  ``("O",)``) are dropped.

Ember adds two rules where the pipeline has none:

* ``raw_scores`` (aggregation NONE only) returns every non-special token with every label's raw
  logit, in label-id order; nothing is dropped. With an aggregation strategy it is an error:
  raw logits exist per token only.
* Aggregation cannot apply, and is refused with :class:`InvalidInputError`, when the model's
  labels use another tagging scheme (``E-``/``S-``/``L-``/``U-``/``M-`` prefixes, as in
  BIOES, BILOU, BMES: the B-/I- grouping would cut every entity at its ``E-``/``L-`` tag), or,
  for FIRST / AVERAGE / MAX, when the tokenizer gives no character offsets (the pipeline refuses
  those strategies for tokenizers without offsets). Plain tags without prefixes (e.g. POS tags)
  are grouped as the pipeline groups them.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from ember.engines.errors import InvalidInputError
from ember.engines.scores import LabelScore, softmax
from ember.engines.types import Encoding

__all__ = [
    "DEFAULT_IGNORE_LABELS",
    "AggregationStrategy",
    "TokenPrediction",
    "WordDecoder",
    "check_aggregation",
    "parse_aggregation_strategy",
    "predict_tokens",
    "predict_tokens_batch",
]

#: Labels whose items are dropped from the results, as in the pipeline.
DEFAULT_IGNORE_LABELS: tuple[str, ...] = ("O",)


class AggregationStrategy(enum.Enum):
    """How sub-word tokens are merged into entities (the pipeline's strategies)."""

    NONE = "none"
    SIMPLE = "simple"
    FIRST = "first"
    AVERAGE = "average"
    MAX = "max"


#: Strategies that merge tokens into words first and so need word boundaries.
_WORD_STRATEGIES = frozenset(
    {AggregationStrategy.FIRST, AggregationStrategy.AVERAGE, AggregationStrategy.MAX}
)

#: Prefixes of tagging schemes other than BIO, which B-/I- grouping cannot merge correctly.
_OTHER_SCHEME = re.compile(r"^[ESLUM]-.")


def parse_aggregation_strategy(name: str | None) -> AggregationStrategy:
    """The strategy named ``name`` (any case; None or empty means NONE).

    Raises :class:`InvalidInputError` naming the valid strategies for anything else.
    """
    if not name:
        return AggregationStrategy.NONE
    try:
        return AggregationStrategy(name.strip().lower())
    except ValueError:
        valid = ", ".join(s.value for s in AggregationStrategy)
        raise InvalidInputError(
            f"unknown aggregation_strategy {name!r}; expected one of: {valid}"
        ) from None


class WordDecoder(Protocol):
    """What token classification needs from the model's tokenizer beyond the encoding.

    Implemented by the engine's tokenizer; each member mirrors the transformers fast-tokenizer
    call the pipeline makes, so results match it.
    """

    @property
    def continuing_subword_prefix(self) -> str | None:
        """The tokenizer model's ``continuing_subword_prefix`` (``"##"`` for WordPiece), or None
        when the model has none (Unigram) or it is unset (most BPE models). An empty prefix is
        treated as none."""
        ...

    @property
    def unk_token_id(self) -> int | None:
        """The id of the unknown token, or None when the tokenizer has none."""
        ...

    def id_to_token(self, token_id: int) -> str:
        """The vocabulary's spelling of ``token_id`` (``convert_ids_to_tokens``), e.g.
        ``"##ing"``, ``"Ġworld"``, ``"▁Hello"``."""
        ...

    def tokens_to_string(self, tokens: Sequence[str]) -> str:
        """``convert_tokens_to_string``: the tokenizer's decoder applied to token spellings
        (``" ".join(tokens)`` when the tokenizer has no decoder)."""
        ...


@dataclass(frozen=True, slots=True)
class TokenPrediction:
    """One token, or one entity span, with its label scores.

    ``start``/``end`` are character offsets (Unicode code points, end exclusive) into the
    original text. ``token_id`` is 0 for aggregated spans. ``results`` holds the best label with
    its probability (NONE), the entity group with its score (aggregation), or every label with
    its raw logit in label-id order (``raw_scores``).
    """

    token: str
    token_id: int
    start: int
    end: int
    results: tuple[LabelScore, ...]


def check_aggregation(
    labels: Sequence[str],
    strategy: AggregationStrategy,
    *,
    raw_scores: bool = False,
    has_offsets: bool = True,
) -> None:
    """Refuse, with :class:`InvalidInputError`, a request whose strategy cannot apply.

    Call it before running the model to fail fast; :func:`predict_tokens` calls it too.
    ``has_offsets`` says whether the tokenizer gives character offsets.
    """
    if strategy is AggregationStrategy.NONE:
        return
    if raw_scores:
        raise InvalidInputError(
            f"raw_scores is only available with aggregation_strategy none (raw logits exist "
            f"per token, not per entity); got aggregation_strategy {strategy.value}"
        )
    other = [label for label in labels if _OTHER_SCHEME.match(label)]
    if other:
        raise InvalidInputError(
            f"aggregation_strategy {strategy.value} cannot apply to this model: its labels "
            f"(e.g. {other[0]!r}) use a tagging scheme other than B-/I- (BIOES, BILOU or BMES), "
            f"so entities cannot be merged; use aggregation_strategy none"
        )
    if strategy in _WORD_STRATEGIES and not has_offsets:
        raise InvalidInputError(
            f"aggregation_strategy {strategy.value} needs word boundaries, which this model's "
            f"tokenizer does not give (no character offsets); use simple or none"
        )


@dataclass(slots=True)
class _Item:
    """A token or word on its way to an entity: text, label id, score, span."""

    text: str
    label: int
    score: float
    start: int
    end: int


def _tag(label: str) -> tuple[bool, str]:
    """(is a B- label, entity type): the pipeline's B-/I- resolution."""
    if label.startswith("B-"):
        return True, label[2:]
    if label.startswith("I-"):
        return False, label[2:]
    return False, label


def _group(
    items: Sequence[_Item],
    labels: Sequence[str],
    decoder: WordDecoder,
    ignore: Collection[str],
) -> list[TokenPrediction]:
    """Merge adjacent items of one entity into spans; drop ignored groups."""
    out: list[TokenPrediction] = []
    run: list[_Item] = []

    def flush() -> None:
        group = labels[run[0].label].split("-", 1)[-1]
        if group in ignore:
            return
        score = float(np.mean(np.asarray([it.score for it in run], dtype=np.float32)))
        text = decoder.tokens_to_string([it.text for it in run])
        out.append(TokenPrediction(text, 0, run[0].start, run[-1].end, (LabelScore(group, score),)))

    for item in items:
        if run:
            is_b, tag = _tag(labels[item.label])
            _, last_tag = _tag(labels[run[-1].label])
            if is_b or tag != last_tag:
                flush()
                run = []
        run.append(item)
    if run:
        flush()
    return out


def predict_tokens(
    encoding: Encoding,
    logits: npt.ArrayLike,
    *,
    labels: Sequence[str],
    strategy: AggregationStrategy,
    decoder: WordDecoder,
    raw_scores: bool = False,
    ignore_labels: Collection[str] = DEFAULT_IGNORE_LABELS,
) -> list[TokenPrediction]:
    """The token or entity predictions of one input, in text order.

    ``encoding`` is the input as the engine ran it, with ``offsets``, ``special`` and ``text``
    (encode with ``offsets=True``); ``logits`` its (len(encoding), len(labels)) token logits;
    ``labels`` the model's label names in id order. See the module docstring for the rules.

    Raises :class:`InvalidInputError` when the strategy cannot apply (:func:`check_aggregation`)
    and ``ValueError`` when the encoding and logits do not fit together (an engine bug).
    """
    matrix = np.asarray(logits, dtype=np.float32)
    n = len(encoding.ids)
    if matrix.ndim != 2 or matrix.shape != (n, len(labels)):
        raise ValueError(
            f"token logits of shape {matrix.shape} do not fit an encoding of {n} tokens and "
            f"a model with {len(labels)} labels"
        )
    return _predict(
        encoding, matrix, softmax(matrix), labels, strategy, decoder, raw_scores, ignore_labels
    )


def predict_tokens_batch(
    encodings: Sequence[Encoding],
    logits: Sequence[npt.ArrayLike],
    *,
    labels: Sequence[str],
    strategy: AggregationStrategy,
    decoder: WordDecoder,
    raw_scores: bool = False,
    ignore_labels: Collection[str] = DEFAULT_IGNORE_LABELS,
) -> list[list[TokenPrediction]]:
    """:func:`predict_tokens` for a batch (``logits`` = ``TokenLogitsOutput.logits``), one list
    per input in input order; the softmax runs once over the whole batch."""
    if len(encodings) != len(logits):
        raise ValueError(f"{len(encodings)} encodings but {len(logits)} logit matrices")
    if not encodings:
        return []
    matrices = [np.asarray(m, dtype=np.float32) for m in logits]
    for enc, m in zip(encodings, matrices, strict=True):
        if m.ndim != 2 or m.shape != (len(enc.ids), len(labels)):
            raise ValueError(
                f"token logits of shape {m.shape} do not fit an encoding of {len(enc.ids)} "
                f"tokens and a model with {len(labels)} labels"
            )
    check_aggregation(
        labels,
        strategy,
        raw_scores=raw_scores,
        has_offsets=all(enc.offsets is not None for enc in encodings),
    )
    # One softmax over all tokens of the batch: it is row-wise, so this equals per-input calls.
    probs = softmax(np.concatenate(matrices, axis=0))
    bounds = np.cumsum([len(m) for m in matrices])[:-1]
    return [
        _predict(enc, m, p, labels, strategy, decoder, raw_scores, ignore_labels)
        for enc, m, p in zip(encodings, matrices, np.split(probs, bounds), strict=True)
    ]


def _predict(
    encoding: Encoding,
    logits: npt.NDArray[np.float32],
    probs: npt.NDArray[np.float32],
    labels: Sequence[str],
    strategy: AggregationStrategy,
    decoder: WordDecoder,
    raw_scores: bool,
    ignore: Collection[str],
) -> list[TokenPrediction]:
    """One input's predictions from its logits and their softmax (shapes already checked)."""
    offsets = encoding.offsets
    check_aggregation(labels, strategy, raw_scores=raw_scores, has_offsets=offsets is not None)
    if encoding.special is None or len(encoding.special) != len(encoding.ids):
        raise ValueError("token classification needs the encoding's special-token mask")
    if offsets is not None and len(offsets) != len(encoding.ids):
        raise ValueError("the encoding has one offset pair per token, or none")
    text = encoding.text
    if offsets is not None and text is None:
        raise ValueError("token classification needs the encoding's text with its offsets")

    ids = [int(i) for i in encoding.ids]
    keep = [i for i, special in enumerate(encoding.special) if not special]
    best = probs.argmax(axis=1).tolist() if len(probs) else []
    best_scores = probs.max(axis=1).tolist() if len(probs) else []
    unk = decoder.unk_token_id

    # Each kept token's text and span, as the pipeline gathers them.
    texts: list[str] = []
    spans: list[tuple[int, int]] = []
    for i in keep:
        token = decoder.id_to_token(ids[i])
        start, end = (int(offsets[i][0]), int(offsets[i][1])) if offsets is not None else (0, 0)
        if offsets is not None and text is not None and ids[i] == unk:
            token = text[start:end]
        texts.append(token)
        spans.append((start, end))

    if strategy is AggregationStrategy.NONE:
        if raw_scores:
            rows = logits[keep].tolist()
            return [
                TokenPrediction(
                    texts[k],
                    ids[i],
                    *spans[k],
                    tuple(LabelScore(name, v) for name, v in zip(labels, rows[k], strict=True)),
                )
                for k, i in enumerate(keep)
            ]
        return [
            TokenPrediction(
                texts[k], ids[i], *spans[k], (LabelScore(labels[best[i]], best_scores[i]),)
            )
            for k, i in enumerate(keep)
            if labels[best[i]] not in ignore
        ]

    if strategy is AggregationStrategy.SIMPLE:
        items = [_Item(texts[k], best[i], best_scores[i], *spans[k]) for k, i in enumerate(keep)]
        return _group(items, labels, decoder, ignore)

    assert text is not None  # check_aggregation refused word strategies without offsets
    words = _words(keep, ids, texts, spans, text, unk, decoder)
    items = []
    for members in words:
        rows = [keep[k] for k in members]
        if strategy is AggregationStrategy.FIRST:
            label, score = best[rows[0]], best_scores[rows[0]]
        elif strategy is AggregationStrategy.MAX:
            top = rows[int(np.argmax([best_scores[r] for r in rows]))]
            label, score = best[top], best_scores[top]
        else:
            mean = probs[rows].mean(axis=0)
            label = int(mean.argmax())
            score = float(mean[label])
        items.append(
            _Item(
                decoder.tokens_to_string([texts[k] for k in members]),
                label,
                score,
                spans[members[0]][0],
                spans[members[-1]][1],
            )
        )
    return _group(items, labels, decoder, ignore)


def _words(
    keep: Sequence[int],
    ids: Sequence[int],
    texts: Sequence[str],
    spans: Sequence[tuple[int, int]],
    text: str,
    unk: int | None,
    decoder: WordDecoder,
) -> list[list[int]]:
    """Split the kept tokens (positions into ``keep``) into words with the pipeline's rule."""
    word_aware = bool(decoder.continuing_subword_prefix)
    words: list[list[int]] = []
    for k, i in enumerate(keep):
        start, end = spans[k]
        if ids[i] == unk:
            continues = False
        elif word_aware:
            continues = len(texts[k]) != len(text[start:end])
        else:
            continues = start > 0 and " " not in text[start - 1 : start + 1]
        if continues and words:
            words[-1].append(k)
        else:
            words.append([k])
    return words
