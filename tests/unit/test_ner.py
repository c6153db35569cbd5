"""Unit tests for the token classification head (ember.engines.ner): pure logic on hand-made
encodings and logits. Parity with the transformers pipeline on real tokenizers and models is in
tests/parity/test_ner_parity.py."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from ember.engines.errors import InvalidInputError
from ember.engines.ner import (
    AggregationStrategy,
    TokenPrediction,
    check_aggregation,
    parse_aggregation_strategy,
    predict_tokens,
    predict_tokens_batch,
)
from ember.engines.scores import LabelScore, softmax
from ember.engines.types import Encoding

LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")
L = {name: i for i, name in enumerate(LABELS)}
S = AggregationStrategy


class FakeDecoder:
    """A WordPiece-like tokenizer: ids index VOCAB, ``##`` marks continuations."""

    def __init__(self, vocab: Sequence[str], prefix: str | None = "##", unk: int | None = 1):
        self.vocab = list(vocab)
        self._prefix = prefix
        self._unk = unk

    @property
    def continuing_subword_prefix(self) -> str | None:
        return self._prefix

    @property
    def unk_token_id(self) -> int | None:
        return self._unk

    def id_to_token(self, token_id: int) -> str:
        return self.vocab[token_id]

    def tokens_to_string(self, tokens: Sequence[str]) -> str:
        return " ".join(tokens).replace(" ##", "")


def encode(text: str, pieces: Sequence[tuple[str, int, int]], decoder: FakeDecoder) -> Encoding:
    """[CLS] pieces [SEP]; each piece is (token spelling, start, end), added to the vocab."""
    ids = [0]
    offsets = [(0, 0)]
    for token, start, end in pieces:
        if token not in decoder.vocab:
            decoder.vocab.append(token)
        ids.append(decoder.vocab.index(token))
        offsets.append((start, end))
    ids.append(0)
    offsets.append((0, 0))
    special = [True] + [False] * len(pieces) + [True]
    return Encoding(ids=ids, offsets=offsets, special=special, text=text)


def logits_for(labels: Sequence[tuple[str, float]]) -> npt.NDArray[np.float32]:
    """One row per token incl. [CLS]/[SEP] (zeros): the named label gets the given logit."""
    rows = np.zeros((len(labels) + 2, len(LABELS)), dtype=np.float32)
    for i, (label, strength) in enumerate(labels, start=1):
        rows[i, L[label]] = strength
    return rows


def prob(strength: float) -> float:
    """Probability of the boosted label when the other labels have logit 0."""
    return float(np.exp(strength) / (np.exp(strength) + len(LABELS) - 1))


def run(
    enc: Encoding,
    logits: npt.NDArray[np.float32],
    strategy: AggregationStrategy,
    decoder: FakeDecoder,
) -> list[tuple[str, str, int, int, float]]:
    out = predict_tokens(enc, logits, labels=LABELS, strategy=strategy, decoder=decoder)
    return [(p.token, p.results[0].label, p.start, p.end, p.results[0].score) for p in out]


# "angela merkel visited zurich": merkel and zurich are two sub-words each.
TEXT = "angela merkel visited zurich"
PIECES = [
    ("angela", 0, 6),
    ("mer", 7, 10),
    ("##kel", 10, 13),
    ("visited", 14, 21),
    ("zu", 22, 24),
    ("##rich", 24, 28),
]


@pytest.fixture
def decoder() -> FakeDecoder:
    return FakeDecoder(["[CLS]", "[UNK]"])


def test_parse_aggregation_strategy() -> None:
    assert parse_aggregation_strategy(None) is S.NONE
    assert parse_aggregation_strategy("") is S.NONE
    assert parse_aggregation_strategy("MAX") is S.MAX
    assert parse_aggregation_strategy(" Average ") is S.AVERAGE
    with pytest.raises(InvalidInputError, match=r"'longest'.*none, simple, first, average, max"):
        parse_aggregation_strategy("longest")


def test_none_keeps_non_special_tokens_and_drops_o(decoder: FakeDecoder) -> None:
    enc = encode(TEXT, PIECES, decoder)
    logits = logits_for(
        [("B-PER", 3), ("I-PER", 2), ("I-PER", 1), ("O", 4), ("B-LOC", 2), ("O", 1)]
    )
    got = run(enc, logits, S.NONE, decoder)
    assert [g[:4] for g in got] == [
        ("angela", "B-PER", 0, 6),
        ("mer", "I-PER", 7, 10),
        ("##kel", "I-PER", 10, 13),
        ("zu", "B-LOC", 22, 24),
    ]
    assert got[0][4] == pytest.approx(prob(3), abs=1e-6)
    full = predict_tokens(enc, logits, labels=LABELS, strategy=S.NONE, decoder=decoder)
    assert [p.token_id for p in full] == [enc.ids[i] for i in (1, 2, 3, 5)]


def test_none_with_raw_scores_returns_every_token_and_label(decoder: FakeDecoder) -> None:
    enc = encode(TEXT, PIECES, decoder)
    logits = logits_for([("O", 4)] * 6)
    logits[3, 2] = -1.5
    out = predict_tokens(
        enc, logits, labels=LABELS, strategy=S.NONE, decoder=decoder, raw_scores=True
    )
    assert len(out) == 6  # "O" tokens included: raw scores drop nothing
    assert out[2] == TokenPrediction(
        "##kel", enc.ids[3], 10, 13, LABELS, (4.0, 0.0, -1.5, 0.0, 0.0)
    )
    assert out[2].results[2] == LabelScore("I-PER", -1.5)
    assert all(p.labels is out[0].labels for p in out)  # one shared tuple for the batch


def test_simple_resolves_b_and_i_tags(decoder: FakeDecoder) -> None:
    enc = encode(TEXT, PIECES, decoder)
    logits = logits_for(
        [("B-PER", 3), ("I-PER", 2), ("I-PER", 1), ("O", 4), ("I-LOC", 2), ("B-LOC", 1)]
    )
    got = run(enc, logits, S.SIMPLE, decoder)
    assert [g[:4] for g in got] == [
        ("angela merkel", "PER", 0, 13),
        ("zu", "LOC", 22, 24),  # I-LOC opens a group; the next B-LOC starts another
        ("##rich", "LOC", 24, 28),  # a lone continuation keeps its prefix, as WordPiece does
    ]
    assert got[0][4] == pytest.approx(np.mean([prob(3), prob(2), prob(1)]), abs=1e-6)


def test_simple_two_b_tags_are_two_entities_and_i_after_other_type_splits(
    decoder: FakeDecoder,
) -> None:
    enc = encode(TEXT, PIECES, decoder)
    logits = logits_for(
        [("B-PER", 3), ("B-PER", 2), ("I-LOC", 1), ("I-PER", 4), ("I-PER", 2), ("I-PER", 1)]
    )
    got = run(enc, logits, S.SIMPLE, decoder)
    assert [g[:4] for g in got] == [
        ("angela", "PER", 0, 6),
        ("mer", "PER", 7, 10),
        ("##kel", "LOC", 10, 13),
        ("visited zurich", "PER", 14, 28),  # I- without a B- still forms an entity
    ]


def test_word_strategies_differ_on_a_disputed_word(decoder: FakeDecoder) -> None:
    enc = encode(TEXT, PIECES, decoder)
    # "merkel" = mer (I-PER, weak) + ##kel (B-LOC, strong): FIRST, MAX and AVERAGE disagree.
    logits = logits_for(
        [("B-PER", 3), ("I-PER", 1), ("B-LOC", 5), ("O", 4), ("B-LOC", 2), ("I-LOC", 3)]
    )
    first = run(enc, logits, S.FIRST, decoder)
    assert [g[:4] for g in first] == [("angela merkel", "PER", 0, 13), ("zurich", "LOC", 22, 28)]
    # The word takes its first token's label and score; the group averages word scores.
    assert first[0][4] == pytest.approx((prob(3) + prob(1)) / 2, abs=1e-6)
    assert first[1][4] == pytest.approx(prob(2), abs=1e-6)

    biggest = run(enc, logits, S.MAX, decoder)
    assert [g[:4] for g in biggest] == [
        ("angela", "PER", 0, 6),
        ("merkel", "LOC", 7, 13),
        ("zurich", "LOC", 22, 28),  # a B-LOC word after a B-LOC word: separate entities
    ]
    assert biggest[1][4] == pytest.approx(prob(5), abs=1e-6)
    assert biggest[2][4] == pytest.approx(prob(3), abs=1e-6)

    average = run(enc, logits, S.AVERAGE, decoder)
    p = softmax(logits)
    merkel = p[2:4].mean(axis=0)
    assert LABELS[int(merkel.argmax())] == "B-LOC"
    zurich = p[5:7].mean(axis=0)
    assert LABELS[int(zurich.argmax())] == "I-LOC"
    assert [g[:4] for g in average] == [
        ("angela", "PER", 0, 6),
        ("merkel", "LOC", 7, 13),
        ("zurich", "LOC", 22, 28),  # "visited" (O) lies between: two entities
    ]
    assert average[1][4] == pytest.approx(merkel.max(), abs=1e-6)


def test_ties_pick_the_first_label_and_max_the_first_token(decoder: FakeDecoder) -> None:
    enc = encode("zurich", [("zu", 0, 2), ("##rich", 2, 6)], decoder)
    logits = np.zeros((4, len(LABELS)), dtype=np.float32)
    logits[1, [L["I-LOC"], L["B-PER"]]] = 2.0  # tie: B-PER has the lower id
    logits[2, [L["B-LOC"], L["I-LOC"]]] = 2.0  # the same max probability as token 1
    p = softmax(logits)
    assert p[1].max() == p[2].max()
    assert run(enc, logits, S.NONE, decoder)[0][1] == "B-PER"
    assert run(enc, logits, S.MAX, decoder)[0][:2] == ("zurich", "PER")


def test_all_o_and_only_special_tokens_give_empty_results(decoder: FakeDecoder) -> None:
    enc = encode(TEXT, PIECES, decoder)
    logits = logits_for([("O", 2)] * 6)
    for strategy in S:
        assert run(enc, logits, strategy, decoder) == []
    only_special = Encoding(ids=[0, 0], offsets=[(0, 0), (0, 0)], special=[True, True], text="")
    zeros = np.zeros((2, len(LABELS)), dtype=np.float32)
    for strategy in S:
        assert run(only_special, zeros, strategy, decoder) == []


def test_ignore_labels_can_keep_o(decoder: FakeDecoder) -> None:
    enc = encode(TEXT, PIECES, decoder)
    logits = logits_for([("O", 2)] * 6)
    out = predict_tokens(
        enc, logits, labels=LABELS, strategy=S.SIMPLE, decoder=decoder, ignore_labels=()
    )
    assert [(p.token, p.results[0].label, p.token_id) for p in out] == [
        ("angela merkel visited zurich", "O", 0)
    ]


def test_unknown_token_takes_the_text_and_starts_a_word(decoder: FakeDecoder) -> None:
    text = "x☃y ok"
    enc = encode(text, [("x", 0, 1), ("[UNK]", 1, 2), ("##y", 2, 3), ("ok", 4, 6)], decoder)
    enc = Encoding(ids=[0, 2, 1, 3, 4, 0], offsets=enc.offsets, special=enc.special, text=text)
    decoder.vocab[:5] = ["[CLS]", "[UNK]", "x", "##y", "ok"]
    logits = logits_for([("B-PER", 3), ("I-PER", 3), ("I-PER", 3), ("B-LOC", 3)])
    none = run(enc, logits, S.NONE, decoder)
    assert none[1][:4] == ("☃", "I-PER", 1, 2)
    # The unknown token is a word of its own; "##y" continues it.
    first = run(enc, logits, S.FIRST, decoder)
    assert [g[:4] for g in first] == [("x ☃y", "PER", 0, 3), ("ok", "LOC", 4, 6)]


def test_fallback_heuristic_without_subword_prefix() -> None:
    # Byte-level BPE / Unigram style: no prefix; a token continues a word unless it starts the
    # text or touches a U+0020 space. A tab does not separate words (as in the pipeline).
    text = "ab cd\tef"
    dec = FakeDecoder(["[CLS]", "[UNK]"], prefix=None)
    dec.tokens_to_string = lambda tokens: "".join(tokens)  # type: ignore[method-assign]
    enc = encode(text, [("a", 0, 1), ("b", 1, 2), ("cd", 3, 5), ("ef", 6, 8)], dec)
    logits = logits_for([("B-PER", 2), ("I-LOC", 5), ("B-LOC", 1), ("I-LOC", 1)])
    got = run(enc, logits, S.FIRST, dec)
    assert [g[:4] for g in got] == [("ab", "PER", 0, 2), ("cdef", "LOC", 3, 8)]
    assert [g[:2] for g in run(enc, logits, S.MAX, dec)] == [("ab", "LOC"), ("cdef", "LOC")]


def test_empty_prefix_means_heuristic() -> None:
    text = "ab"
    dec = FakeDecoder(["[CLS]", "[UNK]"], prefix="")
    enc = encode(text, [("a", 0, 1), ("b", 1, 2)], dec)
    logits = logits_for([("B-PER", 2), ("B-LOC", 3)])
    # With a non-empty prefix "b" (same length as the text) would start a new word.
    assert [g[1] for g in run(enc, logits, S.FIRST, dec)] == ["PER"]


def test_plain_tags_are_grouped_like_i_tags() -> None:
    labels = ("NOUN", "VERB", "O-X")
    dec = FakeDecoder(["[CLS]", "[UNK]"])
    enc = encode("a b c d", [("a", 0, 1), ("b", 2, 3), ("c", 4, 5), ("d", 6, 7)], dec)
    logits = np.zeros((6, 3), dtype=np.float32)
    logits[[1, 2, 3, 4], [0, 0, 1, 2]] = 3.0
    out = predict_tokens(enc, logits, labels=labels, strategy=S.SIMPLE, decoder=dec)
    # The group name drops everything up to the first "-", as the pipeline does: "O-X" -> "X".
    assert [(p.token, p.results[0].label) for p in out] == [
        ("a b", "NOUN"),
        ("c", "VERB"),
        ("d", "X"),
    ]


@pytest.mark.parametrize("strategy", [S.SIMPLE, S.FIRST, S.AVERAGE, S.MAX])
def test_raw_scores_with_aggregation_is_invalid(
    strategy: AggregationStrategy, decoder: FakeDecoder
) -> None:
    enc = encode(TEXT, PIECES, decoder)
    with pytest.raises(InvalidInputError, match="raw_scores"):
        predict_tokens(
            enc,
            logits_for([("O", 1)] * 6),
            labels=LABELS,
            strategy=strategy,
            decoder=decoder,
            raw_scores=True,
        )


@pytest.mark.parametrize("labels", [("O", "B-PER", "E-PER", "S-PER"), ("O", "U-LOC", "L-LOC")])
def test_aggregation_refused_for_other_tagging_schemes(labels: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInputError, match="tagging scheme other than B-/I-"):
        check_aggregation(labels, S.SIMPLE)
    check_aggregation(labels, S.NONE)  # token-level predictions still work


def test_word_strategies_need_offsets() -> None:
    for strategy in (S.FIRST, S.AVERAGE, S.MAX):
        with pytest.raises(InvalidInputError, match="word boundaries"):
            check_aggregation(LABELS, strategy, has_offsets=False)
    check_aggregation(LABELS, S.SIMPLE, has_offsets=False)


def test_simple_without_offsets_reports_zero_spans(decoder: FakeDecoder) -> None:
    enc = encode(TEXT, PIECES, decoder)
    bare = Encoding(ids=enc.ids, special=enc.special)
    logits = logits_for([("B-PER", 3), ("I-PER", 3), ("I-PER", 3), ("O", 3), ("O", 3), ("O", 3)])
    assert run(bare, logits, S.SIMPLE, decoder)[0][:4] == ("angela merkel", "PER", 0, 0)
    with pytest.raises(InvalidInputError):
        run(bare, logits, S.FIRST, decoder)


def test_shape_mismatch_is_an_engine_bug(decoder: FakeDecoder) -> None:
    enc = encode(TEXT, PIECES, decoder)
    with pytest.raises(ValueError, match="do not fit"):
        predict_tokens(
            enc, np.zeros((3, 5), np.float32), labels=LABELS, strategy=S.NONE, decoder=decoder
        )
    no_mask = Encoding(ids=enc.ids, offsets=enc.offsets, text=enc.text)
    with pytest.raises(ValueError, match="special-token mask"):
        predict_tokens(
            no_mask, logits_for([("O", 1)] * 6), labels=LABELS, strategy=S.NONE, decoder=decoder
        )


@pytest.mark.parametrize("strategy", list(S))
def test_batch_equals_single_calls(strategy: AggregationStrategy, decoder: FakeDecoder) -> None:
    rng = np.random.default_rng(0)
    encs = [
        encode(TEXT, PIECES, decoder),
        encode("zurich", [("zu", 0, 2), ("##rich", 2, 6)], decoder),
        encode("", [], decoder),  # special tokens only
        encode("rich", [("##rich", 0, 4)], decoder),  # starts like a continuation
        encode(TEXT, PIECES[:2], decoder),
    ]
    logits = [(rng.normal(size=(len(e), len(LABELS))) * 3).astype(np.float32) for e in encs]
    batch = predict_tokens_batch(encs, logits, labels=LABELS, strategy=strategy, decoder=decoder)
    single = [
        predict_tokens(e, lg, labels=LABELS, strategy=strategy, decoder=decoder)
        for e, lg in zip(encs, logits, strict=True)
    ]
    assert batch == single
    assert any(batch)  # the random logits produce some entities
    assert predict_tokens_batch([], [], labels=LABELS, strategy=strategy, decoder=decoder) == []


@pytest.mark.parametrize("strategy", list(S))
def test_entities_never_cross_inputs(strategy: AggregationStrategy, decoder: FakeDecoder) -> None:
    encs = [
        encode("zurich", [("zu", 0, 2), ("##rich", 2, 6)], decoder),
        encode("rich", [("##rich", 0, 4)], decoder),
    ]
    logits = [logits_for([("I-LOC", 3), ("I-LOC", 3)]), logits_for([("I-LOC", 3)])]
    out = predict_tokens_batch(encs, logits, labels=LABELS, strategy=strategy, decoder=decoder)
    expected = (["zu", "##rich"], ["##rich"]) if strategy is S.NONE else (["zurich"], ["##rich"])
    assert [[p.token for p in result] for result in out] == list(expected)
    assert [p.start for p in out[1]] == [0]
