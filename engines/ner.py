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
from itertools import chain, repeat
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
    original text. ``token_id`` is 0 for aggregated spans. ``labels``/``scores`` (parallel
    tuples) hold the best label with its probability (NONE), the entity group with its score
    (aggregation), or every label with its raw logit in label-id order (``raw_scores``; the
    ``labels`` tuple is then shared by all tokens of the batch, which keeps large raw answers
    cheap). ``results`` pairs them up.
    """

    token: str
    token_id: int
    start: int
    end: int
    labels: tuple[str, ...]
    scores: tuple[float, ...]

    @property
    def results(self) -> tuple[LabelScore, ...]:
        """The labels with their scores, as :class:`LabelScore` pairs."""
        return tuple(map(LabelScore, self.labels, self.scores))


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
    (out,) = predict_tokens_batch(
        [encoding],
        [logits],
        labels=labels,
        strategy=strategy,
        decoder=decoder,
        raw_scores=raw_scores,
        ignore_labels=ignore_labels,
    )
    return out


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
    per input in input order. The softmax and best labels are computed once for the whole
    batch, and token spellings and decoded words are cached across its inputs."""
    if len(encodings) != len(logits):
        raise ValueError(f"{len(encodings)} encodings but {len(logits)} logit matrices")
    matrices = [np.asarray(m, dtype=np.float32) for m in logits]
    for enc, m in zip(encodings, matrices, strict=True):
        n = len(enc.ids)
        if m.ndim != 2 or m.shape != (n, len(labels)):
            raise ValueError(
                f"token logits of shape {m.shape} do not fit an encoding of {n} tokens and "
                f"a model with {len(labels)} labels"
            )
        if enc.special is None or len(enc.special) != n:
            raise ValueError("token classification needs the encoding's special-token mask")
        if enc.offsets is not None and (len(enc.offsets) != n or enc.text is None):
            raise ValueError("token classification needs one offset pair per token and the text")
    check_aggregation(
        labels,
        strategy,
        raw_scores=raw_scores,
        has_offsets=all(enc.offsets is not None for enc in encodings),
    )
    if not encodings:
        return []
    return _Batch(encodings, matrices, labels, decoder, ignore_labels).predict(strategy, raw_scores)


IntVector = npt.NDArray[np.int64]


def _segments(starts: IntVector, size: int) -> tuple[IntVector, IntVector]:
    """(first, one-past-last) positions of the runs that begin at ``starts`` in ``size`` items."""
    stops = np.empty_like(starts)
    stops[:-1] = starts[1:]
    if len(stops):
        stops[-1] = size
    return starts, stops


class _Batch:
    """One batch, flattened: every token of every input is a row of the batch arrays.

    All per-token work (scores, best labels, sub-word tests, word scores, entity boundaries) is
    vectorised over the whole batch; Python loops run only over the results that are returned,
    and only those are spelled and decoded (with caches shared across the batch).
    """

    def __init__(
        self,
        encodings: Sequence[Encoding],
        matrices: Sequence[npt.NDArray[np.float32]],
        labels: Sequence[str],
        decoder: WordDecoder,
        ignore: Collection[str],
    ) -> None:
        self.encodings = encodings
        self.labels = tuple(labels)
        self.decoder = decoder
        self.unk = decoder.unk_token_id
        self._spellings: dict[int, str] = {}
        self._strings: dict[tuple[str, ...], str] = {}
        # Per label id: the pipeline's B-/I- resolution, entity group and filtering.
        tags = [label[2:] if label.startswith(("B-", "I-")) else label for label in labels]
        tag_ids = {tag: i for i, tag in enumerate(dict.fromkeys(tags))}
        self.is_b = np.array([label.startswith("B-") for label in labels], dtype=bool)
        self.tag = np.array([tag_ids[tag] for tag in tags], dtype=np.int64)
        self.group = [label.split("-", 1)[-1] for label in labels]
        self.drop_token = np.array([label in ignore for label in labels], dtype=bool)
        self.drop_group = np.array([group in ignore for group in self.group], dtype=bool)

        lengths = [len(enc.ids) for enc in encodings]
        n = sum(lengths)
        self.logits = np.concatenate(matrices, axis=0)
        # The softmax is row-wise, so one call over the batch equals per-input calls.
        self.probs = softmax(self.logits)
        best = self.probs.argmax(axis=1)
        scores = self.probs[np.arange(n), best]
        ids = np.fromiter(chain.from_iterable(enc.ids for enc in encodings), np.int64, n)
        special = np.fromiter(
            chain.from_iterable(enc.special or () for enc in encodings), np.bool_, n
        )
        spans = np.fromiter(
            chain.from_iterable(
                chain.from_iterable(
                    enc.offsets if enc.offsets is not None else repeat((0, 0), len(enc.ids))
                )
                for enc in encodings
            ),
            np.int64,
            2 * n,
        ).reshape(n, 2)
        owner = np.repeat(np.arange(len(encodings), dtype=np.int64), lengths)
        has_offsets = np.array([enc.offsets is not None for enc in encodings], dtype=bool)

        # From here on, arrays are over the kept (non-special) tokens only, in batch order.
        self.rows = np.flatnonzero(~special)
        self.owner = owner[self.rows]
        self.ids = ids[self.rows]
        self.best = best[self.rows]
        self.scores = scores[self.rows]
        self.start = spans[self.rows, 0]
        self.end = spans[self.rows, 1]
        self.first = np.ones(len(self.rows), dtype=bool)  # first kept token of its input
        self.first[1:] = self.owner[1:] != self.owner[:-1]
        # Unknown tokens report the text they cover (only when the offsets say which).
        self.unknown = np.zeros(len(self.rows), dtype=bool)
        if self.unk is not None:
            self.unknown = (self.ids == self.unk) & has_offsets[self.owner]

    # -- text ----------------------------------------------------------------------------

    def spelling(self, token_id: int) -> str:
        text = self._spellings.get(token_id)
        if text is None:
            text = self._spellings[token_id] = self.decoder.id_to_token(token_id)
        return text

    def string(self, tokens: tuple[str, ...]) -> str:
        text = self._strings.get(tokens)
        if text is None:
            text = self._strings[tokens] = self.decoder.tokens_to_string(tokens)
        return text

    def token_texts(self, tokens: IntVector) -> list[str]:
        """The texts of the given kept tokens: their spellings, or the text an unknown covers."""
        texts = [self.spelling(t) for t in self.ids[tokens].tolist()]
        for j in np.flatnonzero(self.unknown[tokens]).tolist():
            k = int(tokens[j])
            text = self.encodings[int(self.owner[k])].text or ""
            texts[j] = text[int(self.start[k]) : int(self.end[k])]
        return texts

    # -- strategies ----------------------------------------------------------------------

    def predict(
        self, strategy: AggregationStrategy, raw_scores: bool
    ) -> list[list[TokenPrediction]]:
        out: list[list[TokenPrediction]] = [[] for _ in self.encodings]
        if strategy is AggregationStrategy.NONE:
            self._tokens(out, raw_scores)
            return out
        size = len(self.rows)
        if strategy is AggregationStrategy.SIMPLE:
            every = np.arange(size, dtype=np.int64)
            self._entities(out, _Items(every, every + 1, self.best, self.scores), decode=False)
            return out
        is_start = self._word_starts()
        starts, stops = _segments(np.flatnonzero(is_start), size)
        if strategy is AggregationStrategy.FIRST:
            labels, scores = self.best[starts], self.scores[starts]
        elif strategy is AggregationStrategy.MAX:
            # The word's most confident token; the first one on ties.
            chosen = starts
            if size:
                top = np.maximum.reduceat(self.scores, starts)
                word_of = np.cumsum(is_start) - 1
                position = np.where(self.scores == top[word_of], np.arange(size), size)
                chosen = np.minimum.reduceat(position, starts)
            labels, scores = self.best[chosen], self.scores[chosen]
        else:  # AVERAGE: the best label of the word's mean probabilities
            means = np.zeros((0, len(self.labels)), dtype=np.float32)
            if size:
                means = np.add.reduceat(self.probs[self.rows], starts, axis=0)
                means /= (stops - starts)[:, None].astype(np.float32)
            labels = means.argmax(axis=1)
            scores = means[np.arange(len(labels)), labels]
        self._entities(out, _Items(starts, stops, labels, scores), decode=True)
        return out

    def _entities(self, out: list[list[TokenPrediction]], items: _Items, *, decode: bool) -> None:
        """Group items (tokens or words, in batch order) into entities; append the kept ones.

        With ``decode`` an item is a word whose text is decoded from its tokens; else it is a
        token and its text is the token's. An entity's text is decoded from its items' texts.
        """
        size = len(items.labels)
        if not size:
            return
        labels = items.labels
        # A new entity starts at an input's first item, at a B- item, or where the tag changes.
        new = self.first[items.first_token] | self.is_b[labels]
        new[1:] |= self.tag[labels[1:]] != self.tag[labels[:-1]]
        starts, stops = _segments(np.flatnonzero(new), size)
        group_labels = labels[starts]
        means = np.add.reduceat(items.scores.astype(np.float64), starts) / (stops - starts)
        kept = np.flatnonzero(~self.drop_group[group_labels])
        starts, stops, group_labels, means = (
            starts[kept],
            stops[kept],
            group_labels[kept],
            means[kept],
        )
        first_token = items.first_token[starts]
        stop_token = items.stop_token[stops - 1]
        # The texts of the tokens inside kept entities (a run of tokens per entity).
        inside = np.zeros(len(self.rows) + 1, dtype=np.int64)
        np.add.at(inside, first_token, 1)
        np.add.at(inside, stop_token, -1)
        needed = np.flatnonzero(np.cumsum(inside[:-1]) > 0)
        texts: list[str] = [""] * len(self.rows)
        for k, text in zip(needed.tolist(), self.token_texts(needed), strict=True):
            texts[k] = text
        item_first = items.first_token.tolist()
        item_stop = items.stop_token.tolist()
        string = self.string
        for a, b, label, score, owner, start, end, fa, fb in zip(
            starts.tolist(),
            stops.tolist(),
            group_labels.tolist(),
            means.tolist(),
            self.owner[first_token].tolist(),
            self.start[first_token].tolist(),
            self.end[stop_token - 1].tolist(),
            first_token.tolist(),
            stop_token.tolist(),
            strict=True,
        ):
            if decode:
                parts = tuple(
                    string(tuple(texts[item_first[i] : item_stop[i]])) for i in range(a, b)
                )
            else:  # items are tokens: the entity's tokens are a contiguous run
                parts = tuple(texts[fa:fb])
            out[owner].append(
                TokenPrediction(string(parts), 0, start, end, (self.group[label],), (score,))
            )

    def _word_starts(self) -> npt.NDArray[np.bool_]:
        """Whether each kept token starts a word (the pipeline's is_subword rule, negated)."""
        starts = self.first | self.unknown
        if bool(self.decoder.continuing_subword_prefix):
            # Word-aware tokenizers: a sub-word's spelling (with its prefix) is longer or
            # shorter than the text it covers.
            unique, inverse = np.unique(self.ids, return_inverse=True)
            spelled = np.array([len(self.spelling(int(t))) for t in unique.tolist()], np.int64)
            text_len = np.array([len(enc.text or "") for enc in self.encodings], np.int64)
            limit = text_len[self.owner]
            covered = np.maximum(np.minimum(self.end, limit) - np.minimum(self.start, limit), 0)
            aware: npt.NDArray[np.bool_] = starts | (spelled[inverse.reshape(-1)] == covered)
            return aware
        # Heuristic: a token continues a word unless it starts the text or it or the character
        # before it is a U+0020 space.
        texts = [enc.text or "" for enc in self.encodings]
        base = np.zeros(len(texts) + 1, dtype=np.int64)
        base[1:] = np.cumsum([len(t) for t in texts])
        # One flag per character of all texts, plus a False sentinel for out-of-range reads.
        space = np.concatenate(
            [np.frombuffer(t.encode("utf-32-le"), dtype="<u4") == 32 for t in texts]
            + [np.zeros(1, dtype=bool)]
        )
        sentinel = len(space) - 1
        limit = base[self.owner + 1] - base[self.owner]
        at = base[self.owner] + self.start

        def flag(offset: int) -> npt.NDArray[np.bool_]:
            position = self.start + offset
            valid = (position >= 0) & (position < limit)
            spaced: npt.NDArray[np.bool_] = space[np.where(valid, at + offset, sentinel)]
            return spaced

        heuristic: npt.NDArray[np.bool_] = starts | (self.start == 0) | flag(-1) | flag(0)
        return heuristic

    def _tokens(self, out: list[list[TokenPrediction]], raw_scores: bool) -> None:
        """NONE: one result per kept token (labels in ``ignore`` dropped unless raw)."""
        chosen = (
            np.arange(len(self.rows)) if raw_scores else np.flatnonzero(~self.drop_token[self.best])
        )
        texts = self.token_texts(chosen)
        rows = zip(
            self.owner[chosen].tolist(),
            texts,
            self.ids[chosen].tolist(),
            self.start[chosen].tolist(),
            self.end[chosen].tolist(),
            strict=True,
        )
        if raw_scores:
            names = self.labels
            values = self.logits[self.rows[chosen]].tolist()
            for (owner, text, token_id, start, end), row in zip(rows, values, strict=True):
                out[owner].append(TokenPrediction(text, token_id, start, end, names, tuple(row)))
            return
        labels = self.labels
        for (owner, text, token_id, start, end), label, score in zip(
            rows, self.best[chosen].tolist(), self.scores[chosen].tolist(), strict=True
        ):
            out[owner].append(
                TokenPrediction(text, token_id, start, end, (labels[label],), (score,))
            )


@dataclass(frozen=True, slots=True)
class _Items:
    """Tokens or words on their way to entities, in batch order (parallel arrays).

    Item ``i`` covers the kept tokens ``first_token[i] .. stop_token[i] - 1``.
    """

    first_token: IntVector
    stop_token: IntVector
    labels: IntVector
    scores: npt.NDArray[np.float32]
