"""Unit tests of ember.engines.tokenizer.HFTokenizer on real WordPiece, BPE and Unigram tokenizers.

Covers the MiniLM 128 trap, truncation (sides, prompts, pairs, LLM templates), offsets into the
original text (accents, CJK, emoji, whitespace runs), pre-tokenized ids, Tokenize, thread safety
and every error message.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tokenizers import Tokenizer as RustTokenizer

from ember.engines.errors import InvalidInputError, ItemError
from ember.engines.model_folder import inspect_model_folder
from ember.engines.rerank_template import qwen3_reranker_template
from ember.engines.tokenizer import HFTokenizer, load_backend_tokenizer
from ember.engines.types import TruncationSide
from tests.tiny_models import build_tokenizer

RIGHT, LEFT = TruncationSide.RIGHT, TruncationSide.LEFT
KINDS = ("wordpiece", "bpe", "unigram")

TRICKY = (
    "Café crème brûlée, naïve façade — déjà vu.",
    "東京は日本の首都です。北京是中国的首都。",
    "Emoji 🚀🔥 family 👨‍👩‍👧 flags 🇫🇷🇯🇵 end",
    "Runs   of    spaces\tand\ttabs\n\nnewlines  ",
    "  leading and trailing spaces  ",
    "Mixed: Paris, 巴黎, Париж, باريس.",
)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tokenizers")
    out = {}
    for kind in KINDS:
        build_tokenizer(kind, root / kind)  # type: ignore[arg-type]
        out[kind] = root / kind
    return out


def _tok(folder: Path, max_len: int = 64, **kwargs: object) -> HFTokenizer:
    return HFTokenizer(load_backend_tokenizer(folder), max_input_length=max_len, **kwargs)  # type: ignore[arg-type]


def _raw(folder: Path) -> RustTokenizer:
    tok = RustTokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return tok


@pytest.fixture(scope="module")
def minilm(minilm_path: Path) -> HFTokenizer:
    return HFTokenizer.from_folder(inspect_model_folder(minilm_path))


# -- the MiniLM tokenizer.json trap ------------------------------------------------------------


def test_minilm_is_neither_padded_nor_truncated_at_128(minilm: HFTokenizer) -> None:
    assert minilm.max_input_length == 256
    short, long = minilm.encode(["hello world", "word " * 200], truncate=False, side=RIGHT)
    assert list(short.ids) == [101, 7592, 2088, 102]
    assert len(long) == 202


def test_minilm_truncates_at_the_model_limit(minilm: HFTokenizer) -> None:
    (enc,) = minilm.encode(["word " * 400], truncate=True, side=RIGHT)
    assert len(enc) == 256
    assert enc.ids[0] == 101
    assert enc.ids[-1] == 102


def test_folder_settings(minilm: HFTokenizer) -> None:
    assert minilm.vocab_size == 30522
    assert minilm.pad_token_id == 0
    assert minilm.num_leading_special == 1


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_empty_text_names_its_index(folders: dict[str, Path], kind: str) -> None:
    tok = _tok(folders[kind])
    with pytest.raises(InvalidInputError, match=r"^input 3 is empty$"):
        tok.encode(["a", "b", "c", "", "d"], truncate=True, side=RIGHT)
    with pytest.raises(InvalidInputError, match=r"^input 0 is empty$"):
        tok.tokenize([""], add_special_tokens=True)


def test_too_long_without_truncate_names_index_count_and_limit(minilm: HFTokenizer) -> None:
    with pytest.raises(InvalidInputError) as info:
        minilm.encode(["ok", "word " * 300], truncate=False, side=RIGHT)
    assert info.value.message == (
        "input 1 has 302 tokens, more than the model's maximum input length of 256; "
        "shorten it or set truncate to true"
    )


def test_prompt_longer_than_the_limit_cannot_be_truncated(folders: dict[str, Path]) -> None:
    tok = _tok(folders["wordpiece"], max_len=8)
    with pytest.raises(InvalidInputError, match=r"input 0 cannot be truncated .* the prompt alone"):
        tok.encode(["text " * 20], truncate=True, side=LEFT, prompt="a very long prompt here ok")


# -- truncation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("side", [RIGHT, LEFT])
def test_truncation_matches_the_tokenizers_library(
    folders: dict[str, Path], kind: str, side: TruncationSide
) -> None:
    tok = _tok(folders[kind], max_len=16)
    ref = _raw(folders[kind])
    ref.enable_truncation(16, direction=side.value)
    texts = [*TRICKY, "short"]
    ours = tok.encode(texts, truncate=True, side=side)
    for text, enc in zip(texts, ours, strict=True):
        assert list(enc.ids) == ref.encode(text).ids
        assert len(enc) <= 16


def test_left_truncation_keeps_special_tokens(minilm: HFTokenizer) -> None:
    (enc,) = minilm.encode(["one two three " * 100 + "last"], truncate=True, side=LEFT)
    assert len(enc) == 256
    assert enc.ids[0] == 101
    assert enc.ids[-1] == 102
    assert enc.ids[-2] == minilm.token_to_id("last")


# -- prompts -------------------------------------------------------------------------------------


def test_prompt_is_prepended_and_counted(folders: dict[str, Path]) -> None:
    tok = _tok(folders["wordpiece"])
    raw = _raw(folders["wordpiece"])
    (enc,) = tok.encode(["Hello there"], truncate=True, side=RIGHT, prompt="query: ")
    assert list(enc.ids) == raw.encode("query: Hello there").ids
    assert enc.prompt_length == len(raw.encode("query: ", add_special_tokens=False).ids) == 2
    (plain,) = tok.encode(["Hello there"], truncate=True, side=RIGHT)
    assert plain.prompt_length == 0


def test_left_truncation_keeps_the_prompt(folders: dict[str, Path]) -> None:
    tok = _tok(folders["wordpiece"], max_len=10)
    raw = _raw(folders["wordpiece"])
    (enc,) = tok.encode(["one two three four five six seven eight nine ten"], truncate=True,
                        side=LEFT, prompt="query: ")  # fmt: skip
    prompt_ids = raw.encode("query: ", add_special_tokens=False).ids
    assert len(enc) == 10
    assert list(enc.ids[1:3]) == prompt_ids
    assert enc.ids[-2] == raw.token_to_id("ten")


# -- offsets -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_offsets_are_code_points_into_the_original_text(
    folders: dict[str, Path], kind: str
) -> None:
    tok = _tok(folders[kind], max_len=256)
    raw = _raw(folders[kind])
    encs = tok.encode(list(TRICKY), truncate=False, side=RIGHT, offsets=True)
    for text, enc in zip(TRICKY, encs, strict=True):
        assert enc.text == text
        assert enc.offsets is not None
        assert enc.special is not None
        assert len(enc.offsets) == len(enc.special) == len(enc.ids)
        assert list(enc.offsets) == raw.encode(text).offsets
        for (start, end), special in zip(enc.offsets, enc.special, strict=True):
            if special:
                assert (start, end) == (0, 0)
            else:
                # Byte-level BPE trims space-only tokens to empty spans.
                assert 0 <= start <= end <= len(text)
                if kind != "bpe":
                    assert text[start:end].strip() == text[start:end]
        assert enc.special[0]
        assert enc.special[-1]


def test_offsets_count_code_points_not_bytes(folders: dict[str, Path]) -> None:
    tok = _tok(folders["wordpiece"])
    text = "🚀🚀 naïve 東京 end"
    (enc,) = tok.encode([text], truncate=False, side=RIGHT, offsets=True)
    assert enc.offsets is not None
    assert enc.offsets[-2] == (text.index("end"), len(text))


@pytest.mark.parametrize("kind", KINDS)
def test_offsets_exclude_the_prompt(folders: dict[str, Path], kind: str) -> None:
    tok = _tok(folders[kind], max_len=256)
    text = "Zoë went to 東京 🚀 today"
    (enc,) = tok.encode([text], truncate=False, side=RIGHT, prompt="query: ", offsets=True)
    assert enc.offsets is not None
    assert enc.special is not None
    assert enc.text == text
    covered = [span for span, special in zip(enc.offsets, enc.special, strict=True)
               if not special and span != (0, 0)]  # fmt: skip
    assert all(0 <= s <= e <= len(text) for s, e in covered)
    # Every non-space character of the text is covered by some token.
    chars = {i for s, e in covered for i in range(s, e)}
    assert {i for i, c in enumerate(text) if not c.isspace()} <= chars
    # The prompt's own tokens map to (0, 0).
    lead = tok.num_leading_special
    assert all(span == (0, 0) for span in enc.offsets[lead : lead + enc.prompt_length])


def test_offsets_survive_truncation(minilm: HFTokenizer) -> None:
    text = "alpha beta gamma " * 200
    (enc,) = minilm.encode([text], truncate=True, side=LEFT, offsets=True)
    assert enc.offsets is not None
    assert len(enc.offsets) == len(enc.ids) == 256
    assert enc.offsets[1] != (0, 0)
    assert enc.offsets[-2] == (len(text) - len("gamma "), len(text) - 1)


def test_no_offsets_unless_asked(minilm: HFTokenizer) -> None:
    (enc,) = minilm.encode(["hello"], truncate=True, side=RIGHT)
    assert enc.offsets is None
    assert enc.special is None
    assert enc.text is None


# -- lower case ----------------------------------------------------------------------------------


def test_do_lower_case_lowercases_text_and_prompt(folders: dict[str, Path]) -> None:
    tok = _tok(folders["bpe"], do_lower_case=True)
    raw = _raw(folders["bpe"])
    (enc,) = tok.encode(["Hello WORLD"], truncate=True, side=RIGHT, prompt="Query: ", offsets=True)
    assert list(enc.ids) == raw.encode("query: hello world").ids
    assert enc.text == "Hello WORLD"


# -- pairs ---------------------------------------------------------------------------------------


def test_pairs_have_segment_ids(minilm: HFTokenizer) -> None:
    (enc,) = minilm.encode_pairs([("what is up", "the sky")], truncate=False, side=RIGHT)
    assert enc.type_ids is not None
    assert list(enc.type_ids) == [0, 0, 0, 0, 0, 1, 1, 1]
    assert enc.ids[0] == 101
    assert list(enc.ids).count(102) == 2


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("side", [RIGHT, LEFT])
def test_pair_truncation_cuts_only_the_second_text(
    folders: dict[str, Path], kind: str, side: TruncationSide
) -> None:
    tok = _tok(folders[kind], max_len=24)
    ref = _raw(folders[kind])
    ref.enable_truncation(24, strategy="only_second", direction=side.value)
    pairs = [("a short query", "document " * 50), ("query", "tiny doc")]
    for (query, doc), enc in zip(
        pairs, tok.encode_pairs(pairs, truncate=True, side=side), strict=True
    ):
        expected = ref.encode(query, doc)
        assert list(enc.ids) == expected.ids
        assert enc.type_ids is not None
        assert list(enc.type_ids) == expected.type_ids
    assert len(tok.encode_pairs(pairs[:1], truncate=True, side=side)[0]) == 24


def test_pair_errors(minilm: HFTokenizer) -> None:
    with pytest.raises(InvalidInputError, match=r"^input 1 is empty \(its second text\)$"):
        minilm.encode_pairs([("q", "d"), ("q", "")], truncate=True, side=RIGHT)
    with pytest.raises(InvalidInputError, match=r"^input 0 is empty \(its first text\)$"):
        minilm.encode_pairs([("", "d")], truncate=True, side=RIGHT)
    with pytest.raises(InvalidInputError, match="input 0 has 304 tokens, more than"):
        minilm.encode_pairs([("q", "word " * 300)], truncate=False, side=RIGHT)
    with pytest.raises(InvalidInputError, match=r"input 0 cannot be truncated .* first text alone"):
        minilm.encode_pairs([("word " * 300, "doc")], truncate=True, side=RIGHT)


def test_pair_whose_second_text_has_no_tokens_is_an_input_error(minilm: HFTokenizer) -> None:
    with pytest.raises(InvalidInputError, match=r"^input 0 cannot be truncated"):
        minilm.encode_pairs([("word " * 300, "   ")], truncate=True, side=RIGHT)


# -- LLM reranker template -----------------------------------------------------------------------


def test_llm_template_wraps_query_and_document(folders: dict[str, Path]) -> None:
    template = qwen3_reranker_template()
    tok = _tok(folders["bpe"], max_len=4096, rerank_template=template)
    raw = _raw(folders["bpe"])
    (enc,) = tok.encode_pairs([("what is ember?", "Ember serves models.")], truncate=False,
                              side=RIGHT)  # fmt: skip
    body = template.body_head("what is ember?") + "Ember serves models."
    assert "<Instruct>: Given a web search query" in body
    assert "\n<Query>: what is ember?\n<Document>: Ember serves models." in body
    expected = (
        raw.encode(template.prefix, add_special_tokens=False).ids
        + raw.encode(body, add_special_tokens=False).ids
        + raw.encode(template.suffix, add_special_tokens=False).ids
    )
    assert list(enc.ids) == expected
    assert template.suffix.endswith("<think>\n\n</think>\n\n")
    assert enc.type_ids is None


@pytest.mark.parametrize("side", [RIGHT, LEFT])
def test_llm_template_truncates_only_the_document(
    folders: dict[str, Path], side: TruncationSide
) -> None:
    template = qwen3_reranker_template()
    raw = _raw(folders["bpe"])
    full = HFTokenizer(load_backend_tokenizer(folders["bpe"]), max_input_length=100_000,
                       rerank_template=template)  # fmt: skip
    query, doc = "which city?", "Paris is lovely. " * 40 + "THE END"
    (whole,) = full.encode_pairs([(query, doc)], truncate=False, side=side)
    limit = len(whole) - 30
    tok = HFTokenizer(load_backend_tokenizer(folders["bpe"]), max_input_length=limit,
                      rerank_template=template)  # fmt: skip
    (enc,) = tok.encode_pairs([(query, doc)], truncate=True, side=side)
    assert len(enc) == limit
    head = (
        raw.encode(template.prefix, add_special_tokens=False).ids
        + raw.encode(template.body_head(query), add_special_tokens=False).ids
    )
    suffix = raw.encode(template.suffix, add_special_tokens=False).ids
    ids = list(enc.ids)
    # Template and query intact (up to the token that joins the document's first word).
    assert ids[: len(head) - 1] == head[: len(head) - 1]
    assert ids[-len(suffix) :] == suffix
    decoded = raw.decode(ids)
    assert "<Query>: which city?\n<Document>:" in decoded
    if side is RIGHT:
        assert "THE END" not in decoded
    else:
        assert "THE END" in decoded
    with pytest.raises(InvalidInputError, match=r"input 0 has .* tokens, more than"):
        tok.encode_pairs([(query, doc)], truncate=False, side=side)
    with pytest.raises(InvalidInputError, match="query with the prompt template alone"):
        tok.encode_pairs([("long query " * 200, "doc")], truncate=True, side=side)
    with pytest.raises(InvalidInputError, match="query with the prompt template alone"):
        tok.encode_pairs([("long query " * 200, "  ")], truncate=True, side=side)


# -- pre-tokenized ids ---------------------------------------------------------------------------


def test_ids_are_used_as_given(minilm: HFTokenizer) -> None:
    encs = minilm.encode_ids([[7592, 2088], [101, 5, 102]], truncate=False, side=RIGHT)
    assert [list(e.ids) for e in encs] == [[7592, 2088], [101, 5, 102]]


def test_ids_outside_the_vocabulary_name_index_and_id(minilm: HFTokenizer) -> None:
    with pytest.raises(InvalidInputError) as info:
        minilm.encode_ids([[1, 2], [3, -5, 4]], truncate=True, side=RIGHT)
    assert info.value.message == (
        "input 1 has token id -5, outside the vocabulary (valid ids are 0..30521)"
    )
    with pytest.raises(InvalidInputError, match=r"^input 0 has token id 30522, outside"):
        minilm.encode_ids([[30522]], truncate=True, side=RIGHT)
    with pytest.raises(InvalidInputError, match=r"^input 2 is empty$"):
        minilm.encode_ids([[1], [2], []], truncate=True, side=RIGHT)


def test_long_ids_truncate_or_fail(minilm: HFTokenizer) -> None:
    row = list(range(1000, 1300))
    with pytest.raises(InvalidInputError, match=r"input 0 has 300 tokens, more than .* 256"):
        minilm.encode_ids([row], truncate=False, side=RIGHT)
    (right,) = minilm.encode_ids([row], truncate=True, side=RIGHT)
    (left,) = minilm.encode_ids([row], truncate=True, side=LEFT)
    assert list(right.ids) == row[:256]
    assert list(left.ids) == row[-256:]


# -- Tokenize ------------------------------------------------------------------------------------


def test_tokenize_reports_tokens_with_offsets(minilm: HFTokenizer) -> None:
    (tokens,) = minilm.tokenize(["Hello, Zoë!"], add_special_tokens=True)
    assert [t.text for t in tokens] == ["[CLS]", "Hello", ",", "Zoë", "!", "[SEP]"]
    assert [t.special for t in tokens] == [True, False, False, False, False, True]
    assert [(t.start, t.stop) for t in tokens] == [(0, 0), (0, 5), (5, 6), (7, 10), (10, 11),
                                                   (0, 0)]  # fmt: skip
    assert tokens[1].id == 7592
    (bare,) = minilm.tokenize(["Hello"], add_special_tokens=False)
    assert [t.id for t in bare] == [7592]


def test_tokenize_with_a_prompt_is_never_truncated(minilm: HFTokenizer) -> None:
    (tokens,) = minilm.tokenize(["word " * 300], add_special_tokens=True, prompt="query: ")
    assert len(tokens) == 1 + 2 + 300 + 1
    assert [t.text for t in tokens[1:3]] == ["query", ":"]
    assert (tokens[1].start, tokens[1].stop) == (0, 0)
    assert (tokens[3].start, tokens[3].stop) == (0, 4)


# -- WordDecoder ---------------------------------------------------------------------------------


def test_word_decoder_members(folders: dict[str, Path]) -> None:
    wp = _tok(folders["wordpiece"])
    bpe = _tok(folders["bpe"])
    uni = _tok(folders["unigram"])
    assert wp.continuing_subword_prefix == "##"
    assert bpe.continuing_subword_prefix is None
    assert uni.continuing_subword_prefix is None
    assert wp.unk_token_id == 100
    assert uni.unk_token_id == 3
    assert wp.id_to_token(7592) == "hello"
    assert wp.tokens_to_string(["em", "##oj", "##i", "time"]) == "emoji time"
    ids = bpe.encode(["Hello world"], truncate=False, side=RIGHT)[0].ids[1:-1]
    assert bpe.tokens_to_string([bpe.id_to_token(i) for i in ids]) == "Hello world"


# -- thread safety -------------------------------------------------------------------------------


def test_concurrent_calls_with_different_settings_agree_with_sequential_ones(
    folders: dict[str, Path],
) -> None:
    tok = _tok(folders["bpe"], max_len=12)
    texts = [*TRICKY, "word " * 40]
    jobs = [(side, truncate) for side in (RIGHT, LEFT) for truncate in (True,)] * 20

    def run(job: tuple[TruncationSide, bool]) -> list[list[int]]:
        side, truncate = job
        encs = tok.encode(texts, truncate=truncate, side=side)
        pairs = tok.encode_pairs([("q", t) for t in texts], truncate=truncate, side=side)
        return [list(e.ids) for e in encs + pairs]

    expected = {job: run(job) for job in set(jobs)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, jobs))
    for job, result in zip(jobs, results, strict=True):
        assert result == expected[job]
    # The two sides really differ, so the comparison above can fail.
    assert expected[(RIGHT, True)] != expected[(LEFT, True)]


def test_sharing_the_backend_does_not_leak_settings(folders: dict[str, Path]) -> None:
    backend = load_backend_tokenizer(folders["wordpiece"])
    tok = HFTokenizer(backend, max_input_length=512)
    backend.enable_truncation(3)
    backend.enable_padding(length=50)
    (enc,) = tok.encode(["one two three four five"], truncate=False, side=RIGHT)
    assert len(enc) == 7
    assert re.fullmatch(r"\d+", str(enc.ids[1]))


def test_folder_without_tokenizer_json_falls_back_to_transformers(
    tmp_path: Path, minilm_path: Path
) -> None:
    pytest.importorskip("transformers")
    import shutil

    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(minilm_path / name, tmp_path / name)
    converted = HFTokenizer(load_backend_tokenizer(tmp_path), max_input_length=256)
    original = HFTokenizer(load_backend_tokenizer(minilm_path), max_input_length=256)
    texts = list(TRICKY)
    assert [list(e.ids) for e in converted.encode(texts, truncate=False, side=RIGHT)] == [
        list(e.ids) for e in original.encode(texts, truncate=False, side=RIGHT)
    ]


def test_folder_without_any_tokenizer_is_a_load_error(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from ember.engines.errors import ModelLoadError

    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(
        ModelLoadError, match=r"has no tokenizer\.json and no other tokenizer files"
    ):
        load_backend_tokenizer(tmp_path)


def test_decode_is_the_inverse_of_tokenize(minilm: HFTokenizer) -> None:
    ids = [
        [t.id for t in row] for row in minilm.tokenize(["Hello, world!"], add_special_tokens=True)
    ]
    assert minilm.decode(ids, skip_special_tokens=True) == ["hello, world!"]
    assert minilm.decode(ids, skip_special_tokens=False) == ["[CLS] hello, world! [SEP]"]


@pytest.mark.parametrize(
    ("ids", "words"),
    [
        ([[101], []], ("input 1", "empty")),
        ([[101, 10**6]], ("input 0", "1000000", "vocabulary")),
        ([[-1]], ("input 0", "-1", "vocabulary")),
    ],
)
def test_decode_rejects_bad_ids(
    minilm: HFTokenizer, ids: list[list[int]], words: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        minilm.decode(ids, skip_special_tokens=True)
    for word in words:
        assert word in str(raised.value)


def test_errors_carry_their_reason_field_and_index(minilm: HFTokenizer) -> None:
    """Structured fields are set where the error is found; nothing parses the message."""
    with pytest.raises(ItemError) as empty:
        minilm.encode_pairs([("q", "d"), ("q", "")], truncate=True, side=RIGHT)
    assert (empty.value.reason, empty.value.field, empty.value.index) == ("empty", "input", 1)
    with pytest.raises(ItemError) as long:
        minilm.encode(["a", "word " * 300], truncate=False, side=RIGHT)
    assert (long.value.reason, long.value.index) == ("too_long", 1)
    assert long.value.facts == {"tokens": 302, "limit": minilm.max_input_length}
    with pytest.raises(ItemError) as vocab:
        minilm.encode_ids([[1], [10**9]], truncate=False, side=RIGHT)
    assert (vocab.value.reason, vocab.value.index) == ("unknown_token_id", 1)
    moved = long.value.renamed(7, field="text")
    assert moved.message == f"text 7 {long.value.detail}"
    assert (moved.reason, moved.field, moved.index) == ("too_long", "text", 7)
