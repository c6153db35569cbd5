"""``HFTokenizer``: the :class:`~ember.engines.base.Tokenizer` for Hugging Face tokenizers.

Wraps a Rust ``tokenizers.Tokenizer`` loaded from the folder's ``tokenizer.json`` (or, when a
folder has none, converted by ``transformers.AutoTokenizer``). The wrapped tokenizer is
configured once at load time with padding and truncation OFF and never mutated afterwards, so
one instance is safe to call from many threads at once; truncation is applied here, on the
encodings, which lets it protect prompts, queries and templates (only the free text is cut).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tokenizers import Encoding as RustEncoding
from tokenizers import Tokenizer as RustTokenizer

from ember.engines.errors import ItemError, ModelLoadError
from ember.engines.model_folder import read_json
from ember.engines.rerank_template import RerankTemplate
from ember.engines.types import Encoding, TokenInfo, TruncationSide

if TYPE_CHECKING:
    from ember.engines.model_folder import ModelFolder

_T = TypeVar("_T")


class HFTokenizer:
    """Thread-safe tokenizer producing :class:`Encoding` objects for one model.

    ``max_input_length`` counts special tokens. ``vocab_size`` is the model's embedding size
    (ids at or above it are rejected). With a ``rerank_template`` (LLM rerankers),
    :meth:`encode_pairs` formats the template around each (query, document).
    """

    def __init__(
        self,
        backend: RustTokenizer,
        *,
        max_input_length: int,
        vocab_size: int | None = None,
        do_lower_case: bool = False,
        pad_token_id: int | None = None,
        unk_token_id: int | None = None,
        rerank_template: RerankTemplate | None = None,
    ) -> None:
        # A private copy, so that nobody else's padding/truncation settings leak in or out.
        tok = RustTokenizer.from_str(backend.to_str())
        tok.no_padding()
        tok.no_truncation()
        self._tok = tok
        self._max = max_input_length
        self._vocab_size = vocab_size or tok.get_vocab_size(with_added_tokens=True)
        self._lower = do_lower_case
        self._pad_id = pad_token_id
        self._unk_id = unk_token_id if unk_token_id is not None else _model_unk_id(tok)
        self._template = rerank_template
        self._lead, self._trail = self._special_layout()
        self._prompt_lengths: dict[str, int] = {}
        if rerank_template is not None:
            self._prefix_ids = self._raw_ids(rerank_template.prefix)
            self._suffix_ids = self._raw_ids(rerank_template.suffix)

    @classmethod
    def from_folder(
        cls, folder: ModelFolder, *, rerank_template: RerankTemplate | None = None
    ) -> HFTokenizer:
        """Load the tokenizer of a parsed model folder (see :func:`load_backend_tokenizer`)."""
        backend = load_backend_tokenizer(folder.path)
        return cls(
            backend,
            max_input_length=folder.max_input_length,
            vocab_size=folder.vocab_size or None,
            do_lower_case=folder.do_lower_case,
            pad_token_id=_pad_token_id(folder.path, backend, folder.config),
            unk_token_id=_special_token_id(folder.path, backend, "unk_token"),
            rerank_template=rerank_template,
        )

    # -- properties -------------------------------------------------------------------------

    @property
    def max_input_length(self) -> int:
        """Longest encoding, special tokens included, the model accepts."""
        return self._max

    @property
    def vocab_size(self) -> int:
        """Size of the model's vocabulary (valid ids are 0 .. vocab_size - 1)."""
        return self._vocab_size

    @property
    def pad_token_id(self) -> int | None:
        """The id to pad batches with, when the tokenizer or model config names one."""
        return self._pad_id

    @property
    def num_leading_special(self) -> int:
        """Special tokens the tokenizer puts before a single text (1 for BERT's [CLS])."""
        return self._lead

    def token_to_id(self, token: str) -> int | None:
        """The id of a vocabulary token, or None."""
        tid = self._tok.token_to_id(token)
        return None if tid is None else int(tid)

    # -- WordDecoder (token classification rebuilds words with these) -----------------------

    @property
    def continuing_subword_prefix(self) -> str | None:
        """The tokenizer model's ``continuing_subword_prefix`` (``"##"`` for WordPiece), or None."""
        prefix = getattr(self._tok.model, "continuing_subword_prefix", None)
        return prefix if isinstance(prefix, str) and prefix else None

    @property
    def unk_token_id(self) -> int | None:
        """The id of the unknown token, or None when the tokenizer has none."""
        return self._unk_id

    def id_to_token(self, token_id: int) -> str:
        """The vocabulary's spelling of ``token_id`` (empty for an id outside the vocabulary)."""
        token = self._tok.id_to_token(token_id)
        return "" if token is None else str(token)

    def tokens_to_string(self, tokens: Sequence[str]) -> str:
        """The tokenizer's decoder applied to token spellings (``" ".join`` without one)."""
        decoder = self._tok.decoder
        if decoder is None:
            return " ".join(tokens)
        return str(decoder.decode(list(tokens)))

    # -- encoding ---------------------------------------------------------------------------

    def encode(
        self,
        texts: Sequence[str],
        *,
        truncate: bool,
        side: TruncationSide,
        prompt: str = "",
        offsets: bool = False,
    ) -> list[Encoding]:
        """Encode single texts (special tokens added), ``prompt`` prepended to each.

        Over-long inputs are cut from ``side`` when ``truncate`` (the prompt and special tokens
        are kept), else rejected. With ``offsets`` each encoding keeps character offsets into
        the original text (not counting the prompt; (0, 0) for special and prompt tokens), the
        special-token marks and the text.
        """
        _check_texts(texts)
        originals = list(texts)
        if self._lower:
            texts = [t.lower() for t in texts]
            prompt = prompt.lower()
        full = [prompt + t for t in texts] if prompt else list(texts)
        prompt_len = self._prompt_length(prompt) if prompt else 0
        raw = self._tok.encode_batch(full, add_special_tokens=True)
        out: list[Encoding] = []
        for i, enc in enumerate(raw):
            ids: list[int] = enc.ids
            keep = None
            if len(ids) > self._max:
                if not truncate:
                    raise _too_long(i, len(ids), self._max)
                keep = self._single_keep(i, len(ids), prompt_len, side)
                ids = _apply(ids, keep)
            if not offsets:
                out.append(Encoding(ids=ids, prompt_length=prompt_len))
                continue
            spans = _shift_offsets(enc.offsets, len(prompt))
            special = [bool(s) for s in enc.special_tokens_mask]
            if keep is not None:
                spans, special = _apply(spans, keep), _apply(special, keep)
            out.append(
                Encoding(
                    ids=ids,
                    offsets=spans,
                    special=special,
                    text=originals[i],
                    prompt_length=prompt_len,
                )
            )
        return out

    def encode_pairs(
        self, pairs: Sequence[tuple[str, str]], *, truncate: bool, side: TruncationSide
    ) -> list[Encoding]:
        """Encode (first, second) pairs, e.g. (query, document); truncation cuts only the second.

        For LLM rerankers the model's prompt template is applied around each pair.
        """
        for i, (first, second) in enumerate(pairs):
            if not first or not second:
                which = "first" if not first else "second"
                raise ItemError(
                    i, f"is empty (its {which} text)", reason="empty", facts={"text": which}
                )
        if self._lower:
            pairs = [(a.lower(), b.lower()) for a, b in pairs]
        if self._template is not None:
            return self._encode_templated(pairs, truncate=truncate, side=side)
        raw = self._tok.encode_batch(list(pairs), add_special_tokens=True)
        out: list[Encoding] = []
        for i, enc in enumerate(raw):
            ids: list[int] = enc.ids
            type_ids: list[int] = enc.type_ids
            if len(ids) > self._max:
                if not truncate:
                    raise _too_long(i, len(ids), self._max)
                seq = enc.sequence_ids
                if 1 in seq:
                    start, stop = seq.index(1), len(seq) - seq[::-1].index(1)
                else:  # the second text has no tokens (e.g. only spaces): nothing to cut
                    start = stop = len(seq)
                keep = _cut_span(i, len(ids), start, stop, self._max, side, "first text")
                ids, type_ids = _apply(ids, keep), _apply(type_ids, keep)
            out.append(Encoding(ids=ids, type_ids=type_ids))
        return out

    def _encode_templated(
        self, pairs: Sequence[tuple[str, str]], *, truncate: bool, side: TruncationSide
    ) -> list[Encoding]:
        template = self._template
        assert template is not None
        heads = [template.body_head(q) for q, _ in pairs]
        bodies = [head + doc for head, (_, doc) in zip(heads, pairs, strict=True)]
        raw = self._tok.encode_batch(bodies, add_special_tokens=False)
        fixed = len(self._prefix_ids) + len(self._suffix_ids)
        out: list[Encoding] = []
        for i, enc in enumerate(raw):
            body: list[int] = enc.ids
            total = fixed + len(body)
            if total > self._max:
                if not truncate:
                    raise _too_long(i, total, self._max)
                # Document tokens: those that reach past the head (a BPE token may carry the
                # separator's space together with the document's first word).
                doc_start = len(heads[i])
                spans = enc.offsets
                start = next((k for k, (_, end) in enumerate(spans) if end > doc_start), len(spans))
                keep = _cut_span(
                    i, total, len(self._prefix_ids) + start, total - len(self._suffix_ids),
                    self._max, side, "query with the prompt template",
                )  # fmt: skip
                ids = _apply(self._prefix_ids + body + self._suffix_ids, keep)
            else:
                ids = self._prefix_ids + body + self._suffix_ids
            out.append(Encoding(ids=ids))
        return out

    def encode_ids(
        self, ids: Sequence[Sequence[int]], *, truncate: bool, side: TruncationSide
    ) -> list[Encoding]:
        """Wrap pre-tokenized inputs, used exactly as given (no special tokens added).

        Every id must be in ``0 .. vocab_size - 1``; over-long inputs are cut from ``side`` when
        ``truncate``, else rejected.
        """
        out: list[Encoding] = []
        for i, row in enumerate(ids):
            values = self._checked_ids(i, row)
            if len(values) > self._max:
                if not truncate:
                    raise _too_long(i, len(values), self._max)
                values = (
                    values[: self._max] if side is TruncationSide.RIGHT else values[-self._max :]
                )
            out.append(Encoding(ids=values))
        return out

    def decode(self, ids: Sequence[Sequence[int]], *, skip_special_tokens: bool) -> list[str]:
        """The text of each id sequence, as the tokenizer's decoder writes it.

        The ``tokenizers`` decoder as TEI's ``/decode`` uses it: no extra clean-up of spaces
        before punctuation (transformers' ``clean_up_tokenization_spaces``). Every sequence must
        be non-empty with every id in ``0 .. vocab_size - 1``.
        """
        rows = [self._checked_ids(i, row) for i, row in enumerate(ids)]
        texts: list[str] = self._tok.decode_batch(rows, skip_special_tokens=skip_special_tokens)
        return texts

    def tokenize(
        self, texts: Sequence[str], *, add_special_tokens: bool, prompt: str = ""
    ) -> list[list[TokenInfo]]:
        """The tokens of each text, as the model would see them (never truncated).

        ``start``/``stop`` are character offsets into the original text (prompt tokens and
        special tokens have 0, 0); ``text`` is the covered substring, or the token itself for
        special tokens.
        """
        _check_texts(texts)
        if self._lower:
            texts = [t.lower() for t in texts]
            prompt = prompt.lower()
        full = [prompt + t for t in texts] if prompt else list(texts)
        raw = self._tok.encode_batch(full, add_special_tokens=add_special_tokens)
        results: list[list[TokenInfo]] = []
        shift = len(prompt)
        for string, enc in zip(full, raw, strict=True):
            tokens: list[TokenInfo] = []
            for tid, token, (start, stop), special in zip(
                enc.ids, enc.tokens, enc.offsets, enc.special_tokens_mask, strict=True
            ):
                is_special = bool(special)
                text = token if is_special else string[start:stop]
                if is_special or stop <= shift:
                    start = stop = 0
                else:
                    start, stop = max(start - shift, 0), stop - shift
                tokens.append(
                    TokenInfo(id=tid, text=text, special=is_special, start=start, stop=stop)
                )
            results.append(tokens)
        return results

    # -- helpers ----------------------------------------------------------------------------

    def _checked_ids(self, index: int, row: Sequence[int]) -> list[int]:
        """``row`` as ints; InvalidInputError naming input ``index`` if empty or outside the
        vocabulary."""
        values = [int(v) for v in row]
        if not values:
            raise ItemError(index, "is empty", reason="empty")
        low, high = min(values), max(values)
        if low < 0 or high >= self._vocab_size:
            bad = low if low < 0 else high
            raise ItemError(
                index,
                f"has token id {bad}, outside the vocabulary "
                f"(valid ids are 0..{self._vocab_size - 1})",
                reason="unknown_token_id",
            )
        return values

    def _raw_ids(self, text: str) -> list[int]:
        ids: list[int] = self._tok.encode(text, add_special_tokens=False).ids
        return ids

    def _prompt_length(self, prompt: str) -> int:
        # Plain dict access is atomic under the GIL; a race only computes the value twice.
        length = self._prompt_lengths.get(prompt)
        if length is None:
            length = len(self._raw_ids(prompt))
            if len(self._prompt_lengths) < 256:
                self._prompt_lengths[prompt] = length
        return length

    def _special_layout(self) -> tuple[int, int]:
        """How many special tokens the post-processor puts before and after a single text."""
        enc: RustEncoding = self._tok.encode("a", add_special_tokens=True)
        seq = enc.sequence_ids
        content = [k for k, s in enumerate(seq) if s is not None]
        if not content:
            return 0, 0
        return content[0], len(seq) - content[-1] - 1

    def _single_keep(
        self, index: int, length: int, prompt_len: int, side: TruncationSide
    ) -> list[tuple[int, int]]:
        start = self._lead + (prompt_len if side is TruncationSide.LEFT else 0)
        return _cut_span(
            index, length, start, length - self._trail, self._max, side,
            "prompt" if prompt_len else "special tokens",
        )  # fmt: skip


def _check_texts(texts: Sequence[str]) -> None:
    for i, text in enumerate(texts):
        if not text:
            raise ItemError(i, "is empty", reason="empty")


def _too_long(index: int, count: int, limit: int) -> ItemError:
    return ItemError(
        index,
        f"has {count} tokens, more than the model's maximum input length of "
        f"{limit}; shorten it or set truncate to true",
        reason="too_long",
        facts={"tokens": count, "limit": limit},
    )


def _cut_span(
    index: int,
    length: int,
    start: int,
    stop: int,
    limit: int,
    side: TruncationSide,
    protected: str,
) -> list[tuple[int, int]]:
    """Ranges to keep so that ``length`` tokens fit ``limit``, cutting only inside [start, stop).

    The cut part is taken from the end of the span (RIGHT) or its beginning (LEFT).
    """
    budget = (stop - start) - (length - limit)
    if budget < 1:
        kept = length - (stop - start)
        raise ItemError(
            index,
            f"cannot be truncated to the model's maximum input length of {limit}: "
            f"the {protected} alone takes {kept} tokens",
            reason="untruncatable",
            facts={"limit": limit, "kept": kept, "protected": protected},
        )
    if side is TruncationSide.RIGHT:
        return [(0, start + budget), (stop, length)]
    return [(0, start), (stop - budget, length)]


def _apply(values: list[_T], keep: list[tuple[int, int]]) -> list[_T]:
    out: list[_T] = []
    for a, b in keep:
        out.extend(values[a:b])
    return out


def _shift_offsets(spans: list[tuple[int, int]], shift: int) -> list[tuple[int, int]]:
    if not shift:
        return list(spans)
    return [(0, 0) if e <= shift else (max(s - shift, 0), e - shift) for s, e in spans]


def load_backend_tokenizer(path: Path) -> RustTokenizer:
    """The folder's Rust tokenizer: ``tokenizer.json``, else converted by transformers.

    Raises ``ModelLoadError`` when neither works (e.g. a slow-only tokenizer without the
    packages its conversion needs).
    """
    file = path / "tokenizer.json"
    if file.is_file():
        try:
            return RustTokenizer.from_file(str(file))
        except Exception as exc:
            raise ModelLoadError(f"cannot load {str(file)!r}: {exc}") from exc
    # transformers would build a tokenizer with a default, near-empty vocabulary from nothing.
    sources = ("vocab.txt", "vocab.json", "tekken.json", "tokenizer.model", "spiece.model")
    if not any((path / name).is_file() for name in sources) and not any(path.glob("*.model")):
        raise ModelLoadError(
            f"{str(path)!r} has no tokenizer.json and no other tokenizer files (vocab.txt, "
            "vocab.json + merges.txt, or a SentencePiece .model)"
        )
    try:
        from transformers import AutoTokenizer

        auto = AutoTokenizer.from_pretrained(str(path))
        backend = getattr(auto, "backend_tokenizer", None)
    except Exception as exc:
        raise ModelLoadError(
            f"{str(path)!r} has no tokenizer.json and transformers cannot load its tokenizer: {exc}"
        ) from exc
    if not isinstance(backend, RustTokenizer):
        raise ModelLoadError(
            f"{str(path)!r} has no tokenizer.json and its tokenizer has no fast (Rust) version"
        )
    return backend


def _token_name(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return str(value["content"])
    return None


def _special_token_id(path: Path, backend: RustTokenizer, key: str) -> int | None:
    """The id of a special token (``"pad_token"``, ``"unk_token"``) named by the tokenizer files."""
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        file = path / name
        if file.is_file():
            token = _token_name(read_json(file).get(key))
            if token is not None:
                tid = backend.token_to_id(token)
                if tid is not None:
                    return int(tid)
    return None


def _model_unk_id(tok: RustTokenizer) -> int | None:
    """The tokenizer model's own unknown token (WordPiece/BPE ``unk_token``, Unigram ``unk_id``)."""
    token = getattr(tok.model, "unk_token", None)
    if isinstance(token, str):
        tid = tok.token_to_id(token)
        return None if tid is None else int(tid)
    if type(tok.model).__name__ == "Unigram":
        # The Python binding does not expose unk_id; the serialized model has it.
        unk = json.loads(tok.to_str()).get("model", {}).get("unk_id")
        return unk if isinstance(unk, int) else None
    return None


def _pad_token_id(path: Path, backend: RustTokenizer, config: Mapping[str, object]) -> int | None:
    """The padding id: the tokenizer's pad token, else config.json's pad_token_id, else None."""
    tid = _special_token_id(path, backend, "pad_token")
    if tid is not None:
        return tid
    pad = config.get("pad_token_id")
    if isinstance(pad, int) and not isinstance(pad, bool):
        return pad
    return None
