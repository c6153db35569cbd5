"""Domain requests and results of the service core: what a servicer hands to
:class:`ember.service.core.Core` and gets back. Plain dataclasses; no protobuf, no torch."""

from __future__ import annotations

from dataclasses import dataclass, field

from ember.engines.ner import AggregationStrategy, TokenPrediction
from ember.engines.quantize import Precision, Quantized
from ember.engines.scores import LabelScore, Ranked
from ember.engines.types import EmbeddingOutput, Encoding, FloatArray, IntArray, TruncationSide

__all__ = [
    "AggregationStrategy",
    "Chunking",
    "ClassifyJob",
    "ClassifyResult",
    "DecodeJob",
    "EmbedItem",
    "EmbedJob",
    "EmbedResult",
    "EmbeddingOutput",
    "EncodeJob",
    "EncodeResult",
    "LabelScore",
    "Precision",
    "Quantized",
    "Ranked",
    "RerankJob",
    "RerankResult",
    "SimilarityJob",
    "SimilarityResult",
    "SparseResult",
    "Timing",
    "TokenPrediction",
    "TokenStatesResult",
    "TokenizeJob",
    "TokensJob",
    "TokensResult",
    "Truncation",
    "Usage",
]


@dataclass(frozen=True)
class Truncation:
    """What to do with over-long inputs. ``truncate=None`` means the server default."""

    truncate: bool | None = None
    side: TruncationSide = TruncationSide.RIGHT


#: One embedding input: a text, or token ids used as given.
EmbedItem = str | list[int]


@dataclass(frozen=True)
class EmbedJob:
    """Dense or sparse embedding of a batch of inputs."""

    inputs: list[EmbedItem]
    normalize: bool = True
    dimensions: int | None = None
    truncation: Truncation = field(default_factory=Truncation)
    prompt_name: str | None = None
    #: Dense only: quantize the vectors (after ``dimensions`` and ``normalize``).
    precision: Precision = Precision.FLOAT32
    #: int8/uint8 only: the ``(2, dim)`` [min; max] per dimension; None = over the batch.
    ranges: FloatArray | None = None


@dataclass(frozen=True)
class Chunking:
    """Long texts cut into windows of ``size`` tokens (None: the model's maximum) overlapping
    by ``overlap``; ``mean`` answers one result per input instead of one per window."""

    size: int | None = None
    overlap: int = 0
    mean: bool = False


@dataclass(frozen=True)
class EncodeJob:
    """Several outputs (dense, sparse, multi-vector) of a batch of inputs, from one forward."""

    inputs: list[EmbedItem]
    outputs: frozenset[EmbeddingOutput]
    normalize: bool = True
    truncation: Truncation = field(default_factory=Truncation)
    prompt_name: str | None = None
    #: ColBERT models: encode as queries (else documents).
    query: bool = False
    chunking: Chunking | None = None


@dataclass(frozen=True)
class SimilarityJob:
    """Cosine similarity of sentences to a source sentence."""

    source: str
    sentences: list[str]
    truncation: Truncation = field(default_factory=Truncation)
    prompt_name: str | None = None


@dataclass(frozen=True)
class ClassifyJob:
    """Classification of single texts or text pairs (each input: 1 or 2 texts)."""

    inputs: list[list[str]]
    raw_scores: bool = False
    truncation: Truncation = field(default_factory=Truncation)


@dataclass(frozen=True)
class RerankJob:
    """Ranking of texts by relevance to a query."""

    query: str
    texts: list[str]
    raw_scores: bool = False
    return_text: bool = False
    top_n: int | None = None
    truncation: Truncation = field(default_factory=Truncation)


@dataclass(frozen=True)
class TokensJob:
    """Token classification (NER) of a batch of texts."""

    inputs: list[str]
    raw_scores: bool = False
    aggregation: AggregationStrategy = AggregationStrategy.NONE
    truncation: Truncation = field(default_factory=Truncation)


@dataclass(frozen=True)
class TokenizeJob:
    """Tokenization of a batch of texts, as the model would see them."""

    inputs: list[str]
    add_special_tokens: bool = True
    prompt_name: str | None = None


@dataclass(frozen=True)
class DecodeJob:
    """Token-id sequences to turn back into text."""

    inputs: list[list[int]]
    skip_special_tokens: bool = True


@dataclass(frozen=True)
class Usage:
    """Tokens a request fed to the model."""

    prompt_tokens: int


@dataclass(frozen=True)
class Timing:
    """Where a request's time went, in nanoseconds."""

    queue_ns: int = 0
    tokenization_ns: int = 0
    inference_ns: int = 0
    total_ns: int = 0


@dataclass(frozen=True, kw_only=True)
class Measured:
    """What every task result carries (keyword-only, after the result's own fields)."""

    usage: Usage
    timing: Timing


@dataclass(frozen=True)
class EmbedResult(Measured):
    """Dense vectors, one row per input, float32, already normalized/truncated as asked;
    ``quantized`` holds them quantized when the job asked for another precision."""

    vectors: FloatArray
    quantized: Quantized | None = None


@dataclass(frozen=True)
class SimilarityResult(Measured):
    """One cosine similarity per sentence, in sentence order."""

    scores: FloatArray


@dataclass(frozen=True)
class SparseResult(Measured):
    """Sparse vectors: per input, increasing indices and their values."""

    indices: list[IntArray]
    values: list[FloatArray]


@dataclass(frozen=True)
class EncodeResult(Measured):
    """Per output asked for, one result per input; None for outputs not asked for.
    ``sparse`` is (indices, values) per input; ``multi`` one ``(vectors, dim)`` matrix per
    input."""

    dense: FloatArray | None
    sparse: tuple[list[IntArray], list[FloatArray]] | None
    multi: list[FloatArray] | None
    #: With chunking: per window, (input index, start char, end char).
    chunks: list[tuple[int, int, int]] | None = None


@dataclass(frozen=True)
class TokenStatesResult(Measured):
    """Per input, its ``(tokens, hidden)`` last hidden states and the encoding they belong to
    (ids, and offsets/special marks for text inputs)."""

    states: list[FloatArray]
    encodings: list[Encoding]


@dataclass(frozen=True)
class ClassifyResult(Measured):
    """Per input, every label with its score, best first."""

    results: list[list[LabelScore]]


@dataclass(frozen=True)
class RerankResult(Measured):
    """The ranking, best first (cut to top_n); ``texts`` are the ranked texts when asked for."""

    ranks: list[Ranked]
    texts: list[str] | None


@dataclass(frozen=True)
class TokensResult(Measured):
    """Per input, the token predictions or entity spans in text order."""

    results: list[list[TokenPrediction]]
