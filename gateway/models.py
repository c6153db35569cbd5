"""The REST gateway's JSON request and response models (OpenAI, TEI and BEI shapes).

Request models validate what clients send (see shared/REFERENCE.md: the exact bodies real
clients send) and are the source of the OpenAPI document. Response models document the
answers; handlers serialize plain dicts and numpy arrays with orjson, so the response models
are never instantiated on the hot path.

Unknown request fields are ignored, as the peers do: clients send extras (``user``,
``max_chunks_per_doc``, ...).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

# ---------------------------------------------------------------- shared pieces


def _not_an_empty_list(value: object) -> object:
    # An empty list matches no member of an input union, and pydantic would report the first
    # member's complaint ("Input should be a valid string"): say what is wrong instead.
    if isinstance(value, list) and not value:
        raise ValueError("the list is empty: send at least one input")
    return value


NotEmpty = BeforeValidator(_not_an_empty_list)
"""Rejects ``[]`` with a message that says the list is empty (for input unions)."""

TokenId = Annotated[int, Field(ge=0, le=2**63 - 1)]
NonEmptyStrList = Annotated[list[str], Field(min_length=1)]
NonEmptyIdList = Annotated[list[TokenId], Field(min_length=1)]

EmbedInputs = Annotated[
    str
    | Annotated[list[str], Field(min_length=1)]
    | NonEmptyIdList
    | Annotated[list[NonEmptyIdList], Field(min_length=1)],
    NotEmpty,
]
"""A text, a batch of texts, one input as token ids, or a batch of token-id inputs."""

TruncationDirection = Annotated[
    str,
    Field(
        pattern=r"^([Rr][Ii][Gg][Hh][Tt]|[Ll][Ee][Ff][Tt])$",
        description="Which end of an over-long input is cut: Right or Left, in any case.",
        examples=["Right"],
    ),
]

_TRUNCATE_DOC = (
    "Cut inputs longer than the model's maximum instead of rejecting them. "
    "Unset: the server's default (--auto-truncate)."
)


def _invalid_text(value: object, where: str) -> str | None:
    """Where in ``value`` (``where`` + indexes) a string holds a lone surrogate, else None."""
    if isinstance(value, str):
        if value.isascii():
            return None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"{where} (character {exc.start})"
        return None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _invalid_text(item, f"{where}[{i}]")
            if found:
                return found
    return None


class _Request(BaseModel):
    # Strict: no silent coercion of "1" to 1 or 1.0 to True; unknown fields are ignored.
    model_config = ConfigDict(strict=True, extra="ignore")

    @field_validator("*", mode="after")
    @classmethod
    def _valid_unicode(cls, value: object, info: ValidationInfo) -> object:
        """Text must be valid Unicode: JSON may escape a lone surrogate (``"\\ud800"``), and
        the gateway reads invalid UTF-8 bytes as lone surrogates too; neither can be encoded
        for the model. Parsed from JSON by pydantic (``mode == "json"``, the fast path) a
        string is always valid already."""
        if info.mode != "json":
            found = _invalid_text(value, info.field_name or "")
            if found:
                raise ValueError(
                    f"invalid text at {found}: a lone surrogate or invalid UTF-8; "
                    "text must be valid Unicode"
                )
        return value


class Usage(BaseModel):
    """Tokens a request fed to the model (special tokens included)."""

    prompt_tokens: int
    total_tokens: int


# ---------------------------------------------------------------- OpenAI embeddings

#: How vectors are written: float32 (numbers or base64 bytes) or quantized integers.
EncodingFormat = Literal["float", "base64", "int8", "uint8", "binary", "ubinary"]
#: ``[[min per dimension], [max per dimension]]``, as sentence-transformers'
#: ``quantize_embeddings`` takes them.
QuantizationRanges = Annotated[list[list[float]], Field(min_length=2, max_length=2)]

_FORMAT_DOC = (
    "'float' (lists of numbers), 'base64' (little-endian float32 bytes), or quantized as "
    "sentence-transformers' quantize_embeddings does: 'int8' / 'uint8' (one integer per "
    "dimension, scaled over ranges), 'binary' / 'ubinary' (x > 0 as bits, packed 8 to a number, "
    "most significant first; binary stores each byte minus 128)."
)
_RANGES_DOC = (
    "int8/uint8 only: [[min per dimension], [max per dimension]] of the output vectors, e.g. "
    "calibrated on your corpus. Omitted: computed over this request's own vectors (then at "
    "least two inputs are needed). max must be above min in every dimension (else 422)."
)


class OpenAIEmbeddingsRequest(_Request):
    """``POST /v1/embeddings`` (and ``/embeddings``): the OpenAI embeddings request."""

    input: EmbedInputs = Field(
        description="A text, a list of texts, one input as token ids, or a list of token-id "
        "inputs. Not empty."
    )
    model: str | None = Field(
        default=None,
        description="The served model's id or alias; with one model served, any name. "
        "Answered with the model's id.",
    )
    encoding_format: EncodingFormat | None = Field(default="float", description=_FORMAT_DOC)
    ranges: QuantizationRanges | None = Field(default=None, description=_RANGES_DOC)
    dimensions: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="Keep the first N dimensions (Matryoshka), then re-normalize.",
    )
    user: str | None = Field(default=None, description="Ignored.")
    truncate: bool | None = Field(
        default=None,
        description=_TRUNCATE_DOC + " Not an OpenAI field: OpenAI SDKs send it in extra_body.",
    )
    truncation_direction: TruncationDirection | None = "Right"


class OpenAIEmbedding(BaseModel):
    """One vector of an OpenAI embeddings answer."""

    object: Literal["embedding"]
    index: int
    embedding: list[float] | str | list[int] = Field(
        description="The vector; its little-endian float32 bytes in base64 (base64); or its "
        "integers (int8, uint8; binary, ubinary: the packed bits, 8 dimensions a number)."
    )


class OpenAIEmbeddingsResponse(BaseModel):
    """The OpenAI embeddings answer."""

    object: Literal["list"]
    data: list[OpenAIEmbedding]
    model: str
    usage: Usage


class OpenAIModel(BaseModel):
    """One model of ``GET /v1/models``."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class OpenAIModelList(BaseModel):
    """``GET /v1/models``: the served model."""

    object: Literal["list"]
    data: list[OpenAIModel]


# ---------------------------------------------------------------- rerank


_MODEL_DOC = "The served model's id or alias; with one model served, any name."


class TEIRerankRequest(_Request):
    """``POST /rerank``: the TEI/BEI rerank request."""

    query: str
    texts: Annotated[list[str], Field(min_length=1)]
    raw_scores: bool = Field(default=False, description="Raw logits instead of sigmoid.")
    return_text: bool = Field(default=False, description="Echo each text in its result.")
    truncate: bool | None = Field(default=None, description=_TRUNCATE_DOC)
    truncation_direction: TruncationDirection | None = "Right"
    model: str | None = Field(default=None, description=_MODEL_DOC)


class TEIRank(BaseModel):
    """One text's place in a TEI rerank answer."""

    index: int
    score: float
    text: str | None = Field(default=None, description="Present when return_text was set.")


class RerankDocument(_Request):
    """A document given as an object (Cohere/Jina style)."""

    text: str


class CohereRerankRequest(_Request):
    """``POST /v1/rerank``: the Cohere (v1) / Jina rerank request."""

    query: str
    documents: Annotated[list[str | RerankDocument], NotEmpty]
    top_n: int | None = Field(default=None, ge=1, le=2**32 - 1, description="Best N only.")
    return_documents: bool = Field(default=False, description="Echo each document.")
    model: str | None = Field(default=None, description=_MODEL_DOC)
    truncate: bool | None = Field(default=None, description=_TRUNCATE_DOC)
    truncation_direction: TruncationDirection | None = "Right"


class CohereV2RerankRequest(_Request):
    """``POST /v2/rerank``: the Cohere v2 rerank request (documents are plain texts)."""

    query: str
    documents: Annotated[list[str], NotEmpty]
    top_n: int | None = Field(default=None, ge=1, le=2**32 - 1, description="Best N only.")
    model: str | None = Field(default=None, description=_MODEL_DOC)
    max_tokens_per_doc: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="Accepted for compatibility; each query + document pair is cut to the "
        "model's maximum input length when truncation is on.",
    )
    truncate: bool | None = Field(default=None, description=_TRUNCATE_DOC)
    truncation_direction: TruncationDirection | None = "Right"


class CohereRerankDocument(BaseModel):
    """A document echoed in a Cohere/Jina rerank answer."""

    text: str


class CohereRerankResult(BaseModel):
    """One document's place in a Cohere/Jina rerank answer."""

    index: int
    relevance_score: float
    document: CohereRerankDocument | None = Field(
        default=None, description="Present when return_documents was set."
    )


class CohereRerankResponse(BaseModel):
    """The Cohere/Jina rerank answer, best first."""

    id: str
    results: list[CohereRerankResult]
    model: str
    usage: Usage


class CohereV2RerankResult(BaseModel):
    """One document's place in a Cohere v2 rerank answer."""

    index: int
    relevance_score: float


class CohereV2BilledUnits(BaseModel):
    """Cohere's billing counts: one search unit per request here."""

    search_units: int


class CohereV2ApiVersion(BaseModel):
    """The API version Cohere reports."""

    version: str


class CohereV2Meta(BaseModel):
    """The ``meta`` member of a Cohere v2 answer."""

    api_version: CohereV2ApiVersion
    billed_units: CohereV2BilledUnits


class CohereV2RerankResponse(BaseModel):
    """The Cohere v2 rerank answer, best first."""

    id: str
    results: list[CohereV2RerankResult]
    meta: CohereV2Meta


# ---------------------------------------------------------------- classification

PredictPair = Annotated[list[str], Field(min_length=2, max_length=2)]
PredictBatchItem = Annotated[list[str], Field(min_length=1, max_length=2)]


class PredictRequest(_Request):
    """``POST /predict``: the TEI/BEI classification request."""

    inputs: Annotated[
        str | PredictPair | Annotated[list[PredictBatchItem], Field(min_length=1)], NotEmpty
    ] = Field(
        description="One text; ONE text pair [a, b]; or a batch [[text] | [text_a, text_b], ...]."
    )
    raw_scores: bool = Field(default=False, description="Raw logits instead of probabilities.")
    truncate: bool | None = Field(default=None, description=_TRUNCATE_DOC)
    truncation_direction: TruncationDirection | None = "Right"
    model: str | None = Field(default=None, description=_MODEL_DOC)

    @field_validator("inputs", mode="before")
    @classmethod
    def _flat_list_is_one_pair(cls, value: object) -> object:
        # A flat list of strings is ONE pair (REFERENCE.md). Any other length is almost always
        # a batch sent without its inner lists: say so instead of guessing.
        value = _not_an_empty_list(value)
        if isinstance(value, list) and all(isinstance(v, str) for v in value) and len(value) != 2:
            raise ValueError(
                f"a flat list of texts is ONE text pair and must hold 2 texts, got {len(value)}; "
                'send a batch as [["text 0"], ["text 1"], ...] or pairs as [["a", "b"], ...]'
            )
        return value


class LabelScore(BaseModel):
    """One label with its score."""

    label: str
    score: float


# ---------------------------------------------------------------- token classification


class PredictTokensRequest(_Request):
    """``POST /predict_tokens``: the BEI-Bert token classification (NER) request."""

    inputs: Annotated[
        Annotated[list[NonEmptyStrList], Field(min_length=1)]
        | Annotated[list[str], Field(min_length=1)]
        | str,
        NotEmpty,
    ] = Field(description="Batches of texts [[text, ...], ...], a flat [text, ...], or one text.")
    raw_scores: bool = Field(
        default=False, description="Every label's raw logit per token (aggregation none)."
    )
    truncate: bool | None = Field(default=None, description=_TRUNCATE_DOC)
    truncation_direction: TruncationDirection | None = "Right"
    aggregation_strategy: Literal["none", "simple", "first", "average", "max"] | None = Field(
        default=None,
        description="How sub-word tokens merge into entities, as in "
        "transformers.pipeline('ner'). Unset: none.",
    )
    model: str | None = Field(default=None, description=_MODEL_DOC)


class TokenPrediction(BaseModel):
    """One token, or one merged entity span, with its label scores."""

    token: str
    token_id: int
    start: int
    end: int
    results: dict[str, float]


# ---------------------------------------------------------------- Hugging Face pipelines


class HFClassifyParameters(_Request):
    """The options of a Hugging Face text-classification request."""

    function_to_apply: Literal["sigmoid", "softmax", "none"] | None = Field(
        default=None,
        description="Applied to the logits. Unset: the model's own (softmax, or sigmoid for "
        "one label and multi-label models).",
    )
    top_k: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="Best K labels only. Unset: all."
    )


class HFClassifyRequest(_Request):
    """``POST /`` to a classifier with ``parameters``: what ``InferenceClient.
    text_classification`` sends. Answers ``[[{label, score}]]``, one list per input."""

    inputs: Annotated[str | Annotated[list[str], Field(min_length=1)], NotEmpty]
    parameters: HFClassifyParameters
    truncate: bool | None = Field(default=None, description=_TRUNCATE_DOC)
    truncation_direction: TruncationDirection | None = "Right"


class HFTokensParameters(_Request):
    """The options of a Hugging Face token-classification request."""

    aggregation_strategy: Literal["none", "simple", "first", "average", "max"] | None = Field(
        default=None, description="As in transformers.pipeline('ner'). Unset: simple."
    )
    ignore_labels: list[str] | None = Field(
        default=None, description="Labels left out of the answer besides 'O' (always left out)."
    )
    stride: int | None = Field(
        default=None, ge=0, description="Accepted for compatibility; long texts are truncated."
    )


class HFTokensRequest(_Request):
    """``POST /`` to a token classifier with ``parameters``: what ``InferenceClient.
    token_classification`` sends. Answers ``[{entity_group, score, word, start, end}]``
    (``entity`` instead of ``entity_group`` without aggregation)."""

    inputs: Annotated[str | Annotated[list[str], Field(min_length=1)], NotEmpty]
    parameters: HFTokensParameters
    truncate: bool | None = Field(default=None, description=_TRUNCATE_DOC)
    truncation_direction: TruncationDirection | None = "Right"


class VertexRequest(_Request):
    """``POST /vertex``: a batch of task-route requests (Vertex AI's prediction shape)."""

    instances: Annotated[list[dict[str, object]], NotEmpty] = Field(
        description="Each a request body as POST / takes it."
    )


class VertexResponse(BaseModel):
    """The answer to each instance, in order."""

    predictions: list[object]


# ---------------------------------------------------------------- TEI embeddings and tokens


class TEIEmbedRequest(_Request):
    """``POST /embed``: the TEI dense embedding request."""

    inputs: EmbedInputs = Field(description="A text, a list of texts, or token ids.")
    normalize: bool = Field(default=True, description="L2-normalize the vectors.")
    truncate: bool | None = Field(default=None, description=_TRUNCATE_DOC)
    truncation_direction: TruncationDirection | None = "Right"
    prompt_name: str | None = Field(
        default=None, description="A prompt of the model's configuration, prepended to texts."
    )
    dimensions: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="Keep the first N dimensions."
    )
    encoding_format: EncodingFormat | None = Field(
        default="float", description=_FORMAT_DOC + " Not a TEI field."
    )
    ranges: QuantizationRanges | None = Field(default=None, description=_RANGES_DOC)


OutputName = Literal["dense", "sparse", "multi_vector"]


class ChunkingOptions(_Request):
    """How ``/encode`` cuts long texts into token windows."""

    size: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="Tokens per window, special tokens included (default: the model's maximum).",
    )
    overlap: int = Field(
        default=0, ge=0, le=2**31 - 1, description="Tokens a window shares with the one before."
    )
    mean: bool = Field(
        default=False,
        description="One result per input: the mean of its windows' dense vectors "
        "(re-normalized), the mean weight per token id of their sparse vectors, all their "
        "multi-vectors in order.",
    )


class ChunkSpanModel(BaseModel):
    """One window of a chunked ``/encode``: its input and the characters it covers."""

    input: int
    start: int
    end: int


def _dense_only() -> list[OutputName]:
    return ["dense"]


class EncodeRequest(_Request):
    """``POST /encode``: several outputs of each input from one forward (not a TEI route)."""

    inputs: EmbedInputs = Field(description="A text, a list of texts, or token ids.")
    outputs: Annotated[list[OutputName], Field(min_length=1)] = Field(
        default_factory=_dense_only,
        description="The outputs wanted; each must be one the model gives (GET /info "
        "'outputs'), else 424. BGE-M3 gives all three from one forward.",
    )
    normalize: bool = Field(
        default=True, description="L2-normalize dense vectors and each multi-vector."
    )
    truncate: bool | None = Field(default=None, description=_TRUNCATE_DOC)
    truncation_direction: TruncationDirection | None = "Right"
    prompt_name: str | None = Field(
        default=None, description="A prompt of the model's configuration, prepended to texts."
    )
    model: str | None = Field(default=None, description="The served model's id or alias.")
    query: bool = Field(
        default=False,
        description="ColBERT models: encode as queries (query prefix, mask-token expansion) "
        "rather than documents (document prefix, punctuation skipped).",
    )
    chunking: ChunkingOptions | None = Field(
        default=None,
        description="Cut each text into token windows embedded as inputs of their own (one "
        "result per window unless mean; 'chunks' says where each window is).",
    )


class EncodeResponse(BaseModel):
    """``POST /encode``: the outputs asked for, one result per input each."""

    dense: list[list[float]] | None = Field(default=None, description="One vector per input.")
    sparse: list[list[SparseValue]] | None = Field(
        default=None, description="Per input, its non-zero entries by increasing index."
    )
    multi_vector: list[list[list[float]]] | None = Field(
        default=None, description="Per input, its vectors (one per token)."
    )
    chunks: list[ChunkSpanModel] | None = Field(
        default=None, description="With chunking: every window, in order."
    )
    model: str
    usage: Usage


class TEIEmbedAllRequest(_Request):
    """``POST /embed_all``: TEI's request for every token's last hidden state."""

    inputs: EmbedInputs = Field(description="A text, a list of texts, or token ids.")
    truncate: bool | None = Field(default=None, description=_TRUNCATE_DOC)
    truncation_direction: TruncationDirection | None = "Right"
    prompt_name: str | None = Field(
        default=None, description="A prompt of the model's configuration, prepended to texts."
    )


class TEIEmbedSparseRequest(_Request):
    """``POST /embed_sparse``: the TEI sparse embedding request."""

    inputs: EmbedInputs = Field(description="A text, a list of texts, or token ids.")
    truncate: bool | None = Field(default=None, description=_TRUNCATE_DOC)
    truncation_direction: TruncationDirection | None = "Right"
    prompt_name: str | None = None


class SimilarityInputs(_Request):
    """The sentences of a TEI similarity request."""

    source_sentence: str = Field(description="The sentence the others are compared with.")
    sentences: NonEmptyStrList = Field(description="The sentences to compare with it.")


class SimilarityParameters(_Request):
    """The options of a TEI similarity request."""

    truncate: bool | None = Field(default=None, description=_TRUNCATE_DOC)
    truncation_direction: TruncationDirection | None = "Right"
    prompt_name: str | None = Field(
        default=None, description="A prompt of the model's configuration, prepended to texts."
    )


class TEISimilarityRequest(_Request):
    """``POST /similarity``: the TEI sentence-similarity request."""

    inputs: SimilarityInputs
    parameters: SimilarityParameters | None = None


class SparseValue(BaseModel):
    """One non-zero entry of a sparse vector."""

    index: int
    value: float


class TEITokenizeRequest(_Request):
    """``POST /tokenize``: the TEI tokenize request."""

    inputs: Annotated[str | Annotated[list[str], Field(min_length=1)], NotEmpty]
    add_special_tokens: bool = True
    prompt_name: str | None = None


class TEIDecodeRequest(_Request):
    """``POST /decode``: the TEI decode request (token ids back to text)."""

    ids: Annotated[
        NonEmptyIdList | Annotated[list[NonEmptyIdList], Field(min_length=1)], NotEmpty
    ] = Field(description="One sequence of token ids, or a list of sequences.")
    skip_special_tokens: bool = Field(
        default=True, description="Leave special tokens ([CLS], <s>, ...) out of the text."
    )


class TEIToken(BaseModel):
    """One token of a tokenized text (TEI ``SimpleToken``)."""

    id: int
    text: str
    special: bool
    start: int | None = Field(description="Start character offset; null for special tokens.")
    stop: int | None = Field(description="End character offset; null for special tokens.")


# ---------------------------------------------------------------- info and health


class ModelDescription(BaseModel):
    """One served model and its limits, as ``GET /info`` and ``POST /admin/models`` give it."""

    model_id: str
    model_sha: str | None
    model_dtype: str
    model_type: dict[str, object] = Field(
        description='TEI-style: {"embedding": {"pooling": ...}}, {"classifier": {...}}, '
        '{"reranker": {...}}, ...'
    )
    kind: str
    tasks: list[str]
    labels: list[str]
    dtype: str
    device: str
    backend: str
    architecture: str
    pooling: str | None
    embedding_dimensions: int | None
    prompt_names: list[str]
    max_input_length: int
    max_batch_tokens: int
    max_batch_requests: int
    max_client_batch_size: int
    version: str
    cpu: dict[str, object]
    precision_check: dict[str, object] | None = Field(
        description="The start-up accuracy self-check of a reduced CPU precision (dtype, "
        "min_cosine, mean_cosine, probes); null when none ran."
    )


class Info(ModelDescription):
    """``GET /info``: the default (first) model at the top level, as TEI's ``/info`` has it,
    and every served model in ``models``; ``?model=NAME`` describes that model alone."""

    models: list[ModelDescription] | None = Field(
        default=None, description="Every served model, in order (absent with ?model=)."
    )


class AdminLoadRequest(_Request):
    """``POST /admin/models``: load a model and serve it (needs ``--enable-admin``)."""

    path: str = Field(min_length=1, description="A model folder or a hub id org/name[@rev].")
    name: str | None = Field(default=None, description="The id to serve it as.")
    aliases: list[str] = Field(default=[], description="Further names requests may use.")


class AdminUnloaded(BaseModel):
    """``DELETE /admin/models/{id}``: the model unloaded (OpenAI's delete shape)."""

    id: str
    object: Literal["model"]
    deleted: bool


class Health(BaseModel):
    """``GET /health``: the upstream's serving status."""

    status: str


# ---------------------------------------------------------------- errors


class OpenAIErrorDetail(BaseModel):
    """The ``error`` member of an OpenAI error."""

    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIError(BaseModel):
    """An error on an OpenAI route."""

    error: OpenAIErrorDetail


class TEIError(BaseModel):
    """An error on a TEI/BEI route."""

    error: str
    error_type: str
