"""The contracts between the service and a model engine: ``Tokenizer`` and ``Engine``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from ember.engines.ner import WordDecoder
from ember.engines.preempt import Preempt
from ember.engines.types import Encoding, EngineOutput, ModelInfo, TokenInfo, TruncationSide

if TYPE_CHECKING:
    from ember.engines.model_folder import ModelFolder
    from ember.engines.tokenizer import HFTokenizer


class Tokenizer(WordDecoder, Protocol):
    """Turns user inputs into :class:`Encoding` objects the engine can run.

    It is also the :class:`~ember.engines.ner.WordDecoder` token classification uses to
    rebuild words from tokens.

    Thread-safe: the service calls it from a pool of threads. Every method validates its inputs
    and raises :class:`~ember.engines.errors.InvalidInputError` naming the offending input (by
    index) for empty texts, token ids outside the vocabulary, and inputs longer than the model's
    maximum input length when ``truncate`` is false.
    """

    @property
    def max_input_length(self) -> int:
        """Longest encoding, special tokens included, the model accepts."""
        ...

    @property
    def vocab_size(self) -> int:
        """Size of the model's vocabulary (valid ids are 0 .. vocab_size - 1)."""
        ...

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

        With ``offsets`` the encodings keep character offsets, special-token marks and the text.
        """
        ...

    def encode_pairs(
        self, pairs: Sequence[tuple[str, str]], *, truncate: bool, side: TruncationSide
    ) -> list[Encoding]:
        """Encode (first, second) pairs, e.g. (query, document); truncation cuts only the second."""
        ...

    def encode_ids(
        self, ids: Sequence[Sequence[int]], *, truncate: bool, side: TruncationSide
    ) -> list[Encoding]:
        """Wrap pre-tokenized inputs, used exactly as given (no special tokens added)."""
        ...

    def decode(self, ids: Sequence[Sequence[int]], *, skip_special_tokens: bool) -> list[str]:
        """The text of each id sequence (the inverse of :meth:`tokenize`)."""
        ...

    def tokenize(
        self, texts: Sequence[str], *, add_special_tokens: bool, prompt: str = ""
    ) -> list[list[TokenInfo]]:
        """The tokens of each text, as the model would see them (never truncated)."""
        ...


class Engine(Protocol):
    """A loaded model: its description, tokenizer and forward pass.

    ``forward`` is called from one dedicated thread per engine, never concurrently; it receives
    a batch of encodings (any lengths, at most the configured batch limits) and returns one
    output per encoding, in order. It may raise; the service fails that batch only. Given a
    :class:`~ember.engines.preempt.Preempt`, it stops early with ``PreemptedError`` once that
    is set (see :mod:`ember.engines.preempt`) and stays ready for the next forward.
    """

    @property
    def info(self) -> ModelInfo:
        """What the model is and serves."""
        ...

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's tokenizer."""
        ...

    def warmup(self, max_batch_tokens: int, max_batch_requests: int) -> None:
        """Run representative batches so the first request pays no compilation or allocation."""
        ...

    def forward(self, batch: Sequence[Encoding], preempt: Preempt | None = None) -> EngineOutput:
        """Run the model on a batch and return per-input outputs in batch order; raise
        ``PreemptedError`` (no output) when ``preempt`` is set before it finished."""
        ...

    def close(self) -> None:
        """Release the model's memory and threads."""
        ...


class FolderEngine:
    """The part of :class:`Engine` that every engine loaded from a model folder shares.

    A subclass sets ``_folder``, ``_tokenizer`` and ``_info`` in its ``__init__``; this class
    serves them as the protocol's properties (plus ``folder``), so there is one way to read them.
    """

    _folder: ModelFolder
    _tokenizer: HFTokenizer
    _info: ModelInfo

    @property
    def info(self) -> ModelInfo:
        """What the model is and serves."""
        return self._info

    @property
    def tokenizer(self) -> HFTokenizer:
        """The model's tokenizer."""
        return self._tokenizer

    @property
    def folder(self) -> ModelFolder:
        """The parsed model folder (Normalize flag, Dense layers, ...)."""
        return self._folder
