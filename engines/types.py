"""Plain domain types shared by the engines and the service: tasks, model descriptions,
tokenized inputs and engine outputs. No torch, no protobuf."""

from __future__ import annotations

import enum
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


class Task(enum.Enum):
    """Something a loaded model can be asked to do."""

    EMBED = "embed"
    EMBED_SPARSE = "embed_sparse"
    CLASSIFY = "classify"
    RERANK = "rerank"
    PREDICT_TOKENS = "predict_tokens"


class ModelKind(enum.Enum):
    """What a model folder holds, as detected at load time."""

    EMBEDDING = "embedding"
    SPARSE_EMBEDDING = "sparse_embedding"
    RERANKER = "reranker"
    CLASSIFIER = "classifier"
    TOKEN_CLASSIFIER = "token_classifier"
    LLM_RERANKER = "llm_reranker"
    COLBERT = "colbert"


#: The tasks each kind of model serves.
KIND_TASKS: Mapping[ModelKind, frozenset[Task]] = {
    ModelKind.EMBEDDING: frozenset({Task.EMBED}),
    ModelKind.SPARSE_EMBEDDING: frozenset({Task.EMBED_SPARSE}),
    ModelKind.RERANKER: frozenset({Task.RERANK, Task.CLASSIFY}),
    ModelKind.CLASSIFIER: frozenset({Task.CLASSIFY}),
    ModelKind.TOKEN_CLASSIFIER: frozenset({Task.PREDICT_TOKENS}),
    ModelKind.LLM_RERANKER: frozenset({Task.RERANK}),
    ModelKind.COLBERT: frozenset({Task.RERANK}),
}


class EmbeddingOutput(enum.Enum):
    """A kind of vector an embedding model can give per input."""

    DENSE = "dense"
    SPARSE = "sparse"
    MULTI_VECTOR = "multi_vector"


#: The outputs each kind of model gives (before any extra heads, see ``ModelInfo.heads``).
KIND_OUTPUTS: Mapping[ModelKind, frozenset[EmbeddingOutput]] = {
    ModelKind.EMBEDDING: frozenset({EmbeddingOutput.DENSE}),
    ModelKind.SPARSE_EMBEDDING: frozenset({EmbeddingOutput.SPARSE}),
    ModelKind.COLBERT: frozenset({EmbeddingOutput.MULTI_VECTOR}),
}


class Pooling(enum.Enum):
    """How token states become one vector (sentence-transformers' pooling modes)."""

    CLS = "cls"
    MEAN = "mean"
    MAX = "max"
    MEAN_SQRT_LEN = "mean_sqrt_len_tokens"
    WEIGHTED_MEAN = "weightedmean"
    LAST_TOKEN = "lasttoken"


class Output(enum.Flag):
    """What the engine computes for one input besides (or instead of) its model's own output."""

    #: The model's own output: a pooled row, logits, or a sparse vector.
    DEFAULT = 0
    #: The last hidden state of every token, ``(len(encoding), hidden size)`` (embedding models).
    TOKENS = enum.auto()
    #: The pooled row, as part of an :class:`Outputs` (with SPARSE and/or MULTI).
    DENSE = enum.auto()
    #: Lexical weights (BGE-M3's sparse head), as part of an :class:`Outputs`.
    SPARSE = enum.auto()
    #: One vector per token (BGE-M3's ColBERT head), as part of an :class:`Outputs`.
    MULTI = enum.auto()

    @property
    def combined(self) -> bool:
        """Whether the engine answers this input with an :class:`Outputs`."""
        return bool(self & (Output.DENSE | Output.SPARSE | Output.MULTI))


class TruncationSide(enum.Enum):
    """Which end of an over-long input is cut."""

    RIGHT = "right"
    LEFT = "left"


@dataclass(frozen=True)
class ColbertSettings:
    """A PyLate ColBERT model's settings (its ``config_sentence_transformers.json``)."""

    query_prefix: str = "[Q] "
    document_prefix: str = "[D] "
    query_length: int = 32
    document_length: int = 180
    do_query_expansion: bool = True
    attend_to_expansion_tokens: bool = False
    #: Tokens left out of document multi-vectors (PyLate's default: ASCII punctuation).
    skiplist_words: tuple[str, ...] = tuple(string.punctuation)
    #: Resolved by the engine from the tokenizer: the prefix tokens' ids (None: no prefix),
    #: the id queries are expanded with (the mask token) and the skip-list's ids.
    query_prefix_id: int | None = None
    document_prefix_id: int | None = None
    expansion_id: int = 0
    skip_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class ModelInfo:
    """What the loaded model is and serves. Built once by the engine at load time."""

    model_id: str
    kind: ModelKind
    architecture: str
    #: Longest input in tokens (special tokens included) the model accepts.
    max_input_length: int
    #: Compute precision as a short name: float32, bfloat16, float16, int8, fp8.
    dtype: str
    #: Device string: cpu, cuda, cuda:0, ...
    device: str
    backend: str
    vocab_size: int
    #: Label names in id order (classifiers, token classifiers, rerankers); empty otherwise.
    labels: tuple[str, ...] = ()
    #: True for multi-label classifiers (sigmoid per label instead of softmax).
    multi_label: bool = False
    #: Dense embedding dimension after any Dense modules (embedding models), else 0.
    embedding_dim: int = 0
    pooling: Pooling | None = None
    #: Named prompts from config_sentence_transformers.json.
    prompts: Mapping[str, str] = field(default_factory=dict)
    #: The text prepended when a request names no prompt ("" for none): the model's
    #: default_prompt_name's prompt, or the server's --default-prompt(-name).
    default_prompt: str = ""
    #: Outputs of heads beside the model's own (BGE-M3: sparse and multi-vector).
    heads: frozenset[EmbeddingOutput] = frozenset()
    #: ColBERT models: their query/document settings.
    colbert: ColbertSettings | None = None

    @property
    def tasks(self) -> frozenset[Task]:
        """The tasks this model serves."""
        tasks = KIND_TASKS[self.kind]
        if EmbeddingOutput.SPARSE in self.heads:
            tasks = tasks | {Task.EMBED_SPARSE}
        return tasks

    @property
    def outputs(self) -> frozenset[EmbeddingOutput]:
        """The embedding outputs this model gives (empty for models that embed nothing)."""
        return KIND_OUTPUTS.get(self.kind, frozenset()) | self.heads


@dataclass(frozen=True, slots=True)
class Encoding:
    """One model input after tokenization: exactly what the engine will see.

    ``offsets`` are (start, end) character offsets into ``text`` (Unicode code points), (0, 0)
    for special tokens; they are kept only when the caller asked for them (token classification,
    Tokenize). ``special`` marks tokens the tokenizer added.
    """

    ids: Sequence[int]
    type_ids: Sequence[int] | None = None
    offsets: Sequence[tuple[int, int]] | None = None
    special: Sequence[bool] | None = None
    text: str | None = None
    #: Leading tokens (after special tokens) that belong to a prompt and are excluded from
    #: pooling when the model's pooling config says include_prompt=false.
    prompt_length: int = 0
    #: What the engine returns for this input (the model's own output unless asked otherwise).
    output: Output = Output.DEFAULT
    #: Positions attended to: the first ``attended`` tokens (0: all). ColBERT queries compute
    #: states for their mask-token expansion without attending to it.
    attended: int = 0
    #: Chunked inputs: the request input this window came from and the characters it covers.
    source: int = 0
    span: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """One token as reported by Tokenize."""

    id: int
    text: str
    special: bool
    start: int
    stop: int


@dataclass(frozen=True, slots=True)
class VectorOutput:
    """One row per input: pooled embeddings (before normalization) or classification logits.

    For LLM rerankers each row holds one logit (log-odds of "yes" over "no").
    """

    rows: FloatArray


@dataclass(frozen=True, slots=True)
class TokenLogitsOutput:
    """Per input, the logits of every token: shape (len(encoding), num_labels)."""

    logits: list[FloatArray]


@dataclass(frozen=True, slots=True)
class SparseOutput:
    """Per input, the non-zero entries of a vocabulary-sized sparse vector, by increasing index."""

    indices: list[IntArray]
    values: list[FloatArray]


@dataclass(frozen=True, slots=True)
class Outputs:
    """Several outputs of one input from one forward: those its encoding asked for."""

    #: The pooled row (before normalization).
    dense: FloatArray | None = None
    #: Lexical weights: token ids, increasing, and their weights (all above zero).
    sparse: tuple[IntArray, FloatArray] | None = None
    #: ``(vectors, dim)`` multi-vectors (before normalization).
    multi: FloatArray | None = None


@dataclass(frozen=True, slots=True)
class ItemsOutput:
    """Per input, what its :attr:`Encoding.output` asked for: a pooled row, a
    ``(tokens, hidden)`` matrix of token states, or :class:`Outputs`. Returned when a batch
    mixes outputs."""

    values: list[FloatArray | Outputs]


EngineOutput = VectorOutput | TokenLogitsOutput | SparseOutput | ItemsOutput
