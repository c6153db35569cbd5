"""Reading a model folder without loading its weights: what it is, how to pool, how long inputs go.

Owns the parsing of ``config.json``, the sentence-transformers files (``modules.json``,
``sentence_bert_config.json``, ``1_Pooling/config.json``, ``N_Dense/config.json``, Normalize,
``config_sentence_transformers.json``, SPLADE and LogitScore modules), CrossEncoder folders and
the Hugging Face cache layout, and the detection of the :class:`ModelKind`. Pure Python: no
torch, no transformers, so it is cheap and unit-testable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from ember.engines.errors import ModelLoadError
from ember.engines.types import ColbertSettings, ModelKind, Pooling

if TYPE_CHECKING:
    from ember.engines.config import EngineConfig

#: Hugging Face ``model_type`` values of decoder-only (causal) language models.
DECODER_MODEL_TYPES: frozenset[str] = frozenset(
    {
        "qwen2",
        "qwen3",
        "qwen2_moe",
        "qwen3_moe",
        "llama",
        "mistral",
        "mixtral",
        "gemma",
        "gemma2",
        "gemma3_text",
        "phi",
        "phi3",
        "gpt2",
        "gpt_neox",
        "olmo",
        "olmo2",
        "granite",
        "starcoder2",
        "stablelm",
        "falcon",
    }
)

#: Decoder types whose ``use_bidirectional_attention: true`` (EmbeddingGemma) makes them
#: bidirectional encoders (transformers honours the flag; the parity tests check it).
BIDIRECTIONAL_DECODER_TYPES: frozenset[str] = frozenset({"gemma3_text"})

#: Model types whose position ids start after the padding index (RoBERTa's convention), so
#: ``max_position_embeddings - (pad_token_id + 1)`` positions are usable.
_OFFSET_POSITION_TYPES: frozenset[str] = frozenset(
    {
        "roberta",
        "xlm-roberta",
        "xlm-roberta-xl",
        "camembert",
        "mpnet",
        "longformer",
        "data2vec-text",
        "roberta-prelayernorm",
        "bart",
    }
)

#: Model heads Ember cannot serve.
_UNSUPPORTED_HEADS: tuple[str, ...] = (
    "ForQuestionAnswering",
    "ForMultipleChoice",
    "ForConditionalGeneration",
    "ForSeq2SeqLM",
    "ForNextSentencePrediction",
)

#: sentence-transformers Dense activations Ember runs (class name -> short name).
DENSE_ACTIVATIONS: Mapping[str, str] = {
    "Identity": "identity",
    "Tanh": "tanh",
    "ReLU": "relu",
    "GELU": "gelu",
    "Sigmoid": "sigmoid",
    "SiLU": "silu",
    "LeakyReLU": "leaky_relu",
}

#: The order sentence-transformers concatenates pooling modes in.
_POOLING_ORDER: tuple[Pooling, ...] = (
    Pooling.CLS,
    Pooling.MAX,
    Pooling.MEAN,
    Pooling.MEAN_SQRT_LEN,
    Pooling.WEIGHTED_MEAN,
    Pooling.LAST_TOKEN,
)
_LEGACY_POOLING_KEYS: Mapping[str, Pooling] = {
    "pooling_mode_cls_token": Pooling.CLS,
    "pooling_mode_max_tokens": Pooling.MAX,
    "pooling_mode_mean_tokens": Pooling.MEAN,
    "pooling_mode_mean_sqrt_len_tokens": Pooling.MEAN_SQRT_LEN,
    "pooling_mode_weightedmean_tokens": Pooling.WEIGHTED_MEAN,
    "pooling_mode_lasttoken": Pooling.LAST_TOKEN,
}

#: A ``model_max_length`` at or above this is transformers' "unset" sentinel, not a limit.
_INSANE_MAX_LENGTH = 1_000_000


@dataclass(frozen=True)
class PoolingSpec:
    """How token states become one vector: one or more modes (concatenated in order)."""

    modes: tuple[Pooling, ...]
    #: False: prompt tokens (and the leading special tokens) are left out of the pooling.
    include_prompt: bool = True


@dataclass(frozen=True)
class DenseLayer:
    """One sentence-transformers ``Dense`` module: ``activation(x @ W.T + b)`` (+ residual)."""

    path: Path
    in_features: int
    out_features: int
    bias: bool
    #: One of :data:`DENSE_ACTIVATIONS`' values.
    activation: str
    use_residual: bool = False


@dataclass(frozen=True)
class ModelFolder:
    """Everything Ember needs to know about a model folder before loading its weights."""

    #: The folder holding the Hugging Face model (config.json, weights, tokenizer files).
    path: Path
    #: The name to serve the model under when the settings name none.
    model_id: str
    #: ``architectures[0]`` from config.json (or the model type when absent).
    architecture: str
    model_type: str
    kind: ModelKind
    #: Decoder-only (causal) model: last-token pooling by default, BOS/EOS conventions. False
    #: for a decoder architecture configured bidirectional (EmbeddingGemma), an encoder here.
    is_decoder: bool
    #: Longest input in tokens, special tokens included.
    max_input_length: int
    #: The model's embedding-matrix size (valid token ids are below it).
    vocab_size: int
    hidden_size: int
    #: Label names by id (classifiers, rerankers, token classifiers).
    labels: tuple[str, ...] = ()
    multi_label: bool = False
    #: Embedding models: the pooling (never None for EMBEDDING).
    pooling: PoolingSpec | None = None
    dense: tuple[DenseLayer, ...] = ()
    #: The folder's pipeline ends with a Normalize module (the service normalizes per request).
    normalize: bool = False
    prompts: Mapping[str, str] = field(default_factory=dict)
    #: The text prepended when a request names no prompt ("" for none).
    default_prompt: str = ""
    #: sentence-transformers lowercases texts before tokenizing them.
    do_lower_case: bool = False
    #: SPLADE: "max" or "sum" over tokens, and the activation ("relu" or "log1p_relu").
    sparse_pooling: str = "max"
    sparse_activation: str = "relu"
    #: LLM rerankers: the token ids scored as "yes" and "no", when the folder states them
    #: (a sentence-transformers LogitScore module); None means look up "yes"/"no".
    true_token_id: int | None = None
    false_token_id: int | None = None
    #: ``max_position_embeddings`` less RoBERTa's offset (None when config.json has none).
    position_limit: int | None = None
    #: The raw config.json, for the loader.
    config: Mapping[str, object] = field(default_factory=dict)
    #: BGE-M3 heads beside the encoder (FlagEmbedding's ``BGEM3FlagModel`` layout): the files
    #: ``colbert_linear.pt`` (multi-vector projection) and ``sparse_linear.pt`` (token weights).
    m3_heads: tuple[Path, Path] | None = None
    #: ColBERT (PyLate layout: a ``pylate.models.Dense.Dense`` module): its settings.
    colbert: ColbertSettings | None = None

    @property
    def embedding_dim(self) -> int:
        """Width of the dense embedding (after pooling and Dense modules), of each ColBERT
        multi-vector, 0 for other kinds."""
        if self.kind is ModelKind.COLBERT:
            return self.dense[-1].out_features if self.dense else self.hidden_size
        if self.kind is not ModelKind.EMBEDDING or self.pooling is None:
            return 0
        if self.dense:
            return self.dense[-1].out_features
        return self.hidden_size * len(self.pooling.modes)


#: BGE-M3's head files beside the encoder weights (FlagEmbedding's layout).
M3_COLBERT_FILE = "colbert_linear.pt"
M3_SPARSE_FILE = "sparse_linear.pt"

#: A Hugging Face hub model id, ``org/name`` or ``name``, with an optional ``@revision``.
HUB_ID = re.compile(r"(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]*(?:@[\w./-]+)?")


def hub_snapshot(spec: str) -> Path:
    """The local snapshot folder of hub model ``spec`` (``org/name[@revision]``).

    Looked up in the Hugging Face cache first (``HF_HOME`` / ``HF_HUB_CACHE`` as
    ``huggingface_hub`` reads them), then downloaded unless ``HF_HUB_OFFLINE`` is set. Raises
    :class:`ModelLoadError` saying where it looked when neither finds it.
    """
    import huggingface_hub
    from huggingface_hub import constants

    repo_id, _, revision = spec.partition("@")
    try:
        return Path(
            huggingface_hub.snapshot_download(
                repo_id, revision=revision or None, local_files_only=True
            )
        )
    except Exception as cached_error:  # any failure here means: not in the cache
        missing = cached_error
    if not constants.HF_HUB_OFFLINE:
        try:
            return Path(huggingface_hub.snapshot_download(repo_id, revision=revision or None))
        except Exception as exc:
            missing = exc
    where = "offline (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else "online"
    raise ModelLoadError(
        f"model {spec!r} is neither a local folder (no {str(Path(spec).resolve())!r}) nor in "
        f"the Hugging Face cache {constants.HF_HUB_CACHE!r}, and fetching it {where} failed: "
        f"{type(missing).__name__}"
    )


def resolve_model_path(path: Path) -> tuple[Path, str | None]:
    """Resolve a model location to the folder holding its files, and its ``org/name`` if cached.

    Accepts a plain folder, a Hugging Face hub id (``org/name[@revision]``, see
    :func:`hub_snapshot`) when no such folder exists, a Hugging Face cache snapshot
    (``.../models--org--name/snapshots/<rev>``) or the cache's repo folder
    (``.../models--org--name``), resolved through ``refs/main`` or, when there is no ref, the only
    snapshot.
    """
    path = Path(path).expanduser()
    if not path.exists():
        if HUB_ID.fullmatch(str(path)):
            path = hub_snapshot(str(path))
        else:
            raise ModelLoadError(f"model folder {str(path)!r} does not exist")
    if not path.is_dir():
        raise ModelLoadError(f"model path {str(path)!r} is not a folder")
    if path.parent.name == "snapshots" and path.parent.parent.name.startswith("models--"):
        return path, _repo_id(path.parent.parent.name)
    if path.name.startswith("models--") and (path / "snapshots").is_dir():
        snapshots = path / "snapshots"
        ref = path / "refs" / "main"
        if ref.is_file():
            revision = ref.read_text(encoding="utf-8").strip()
            if (snapshots / revision).is_dir():
                return snapshots / revision, _repo_id(path.name)
        found = sorted(p for p in snapshots.iterdir() if p.is_dir())
        if len(found) == 1:
            return found[0], _repo_id(path.name)
        if not found:
            raise ModelLoadError(f"Hugging Face cache folder {str(path)!r} has no snapshots")
        names = ", ".join(p.name for p in found)
        raise ModelLoadError(
            f"Hugging Face cache folder {str(path)!r} has several snapshots ({names}) and no "
            "refs/main; pass the snapshot folder itself"
        )
    return path, None


def _repo_id(cache_name: str) -> str:
    # models--org--name -> org/name (a name without an org has a single part).
    return "/".join(cache_name.removeprefix("models--").split("--"))


def read_json(path: Path) -> dict[str, object]:
    """Read a JSON object from ``path``; a clear ``ModelLoadError`` if it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {str(path)!r}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{str(path)!r} does not hold a JSON object")
    return cast(dict[str, object], data)


def _read_optional_json(path: Path) -> dict[str, object] | None:
    return read_json(path) if path.is_file() else None


def _as_int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def inspect_model_folder(
    path: Path,
    *,
    kind: ModelKind | None = None,
    pooling: Pooling | None = None,
    max_input_length: int | None = None,
    served_model_name: str | None = None,
    default_prompt_name: str | None = None,
    default_prompt: str | None = None,
) -> ModelFolder:
    """Parse a model folder (see the module docstring) into a :class:`ModelFolder`.

    ``kind``, ``pooling`` and ``max_input_length`` override what the folder says, and
    ``default_prompt`` (a text) or ``default_prompt_name`` (one of its prompts) its
    ``default_prompt_name``. Raises :class:`ModelLoadError` for a missing folder, missing or
    invalid config.json, an unsupported architecture, a kind the folder's head cannot serve, an
    unsupported sentence-transformers module, or a default prompt name it does not define.
    """
    root, repo_id = resolve_model_path(path)
    modules = _read_modules(root)
    model_dir = root
    for module_type, module_path in modules:
        if module_type.endswith(("Transformer", "MLMTransformer")) and module_path:
            model_dir = root / module_path
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(
            f"{str(root)!r} is not a model folder: it has no config.json "
            "(expected a Hugging Face save_pretrained or sentence-transformers folder)"
        )
    config = read_json(config_path)
    model_type = str(config.get("model_type", ""))
    if not model_type:
        raise ModelLoadError(f"{str(config_path)!r} has no model_type")
    architectures = config.get("architectures")
    architecture = (
        str(architectures[0]) if isinstance(architectures, list) and architectures else model_type
    )
    if config.get("is_encoder_decoder") is True or architecture.endswith(_UNSUPPORTED_HEADS):
        raise ModelLoadError(
            f"unsupported architecture {architecture!r} ({model_type}): Ember serves encoder "
            "models and decoder-only embedding / reranking models"
        )
    decoder_family = architecture.endswith("ForCausalLM") or model_type in DECODER_MODEL_TYPES
    bidirectional = (
        model_type in BIDIRECTIONAL_DECODER_TYPES
        and config.get("use_bidirectional_attention") is True
    )
    is_decoder = decoder_family and not bidirectional
    module_types = [t for t, _ in modules]
    for module_type in module_types:
        _check_module_supported(module_type)

    labels = _labels(config)
    multi_label = config.get("problem_type") == "multi_label_classification"
    name_hint = " ".join(
        s.lower() for s in (root.name, repo_id or "", str(config.get("_name_or_path", "")))
    )
    has_splade = any(t.endswith("SpladePooling") for t in module_types)
    has_colbert = any(t.startswith("pylate.") for t in module_types)
    has_logit_score = any(t.endswith("LogitScore") for t in module_types)
    detected = (
        ModelKind.COLBERT
        if has_colbert
        else _detect_kind(
            architecture, labels, has_splade, has_logit_score, bool(modules), name_hint
        )
    )
    final_kind = kind if kind is not None else detected
    _check_kind_compatible(final_kind, architecture, labels)

    st_config = _read_optional_json(model_dir / "sentence_bert_config.json") or {}
    if model_dir != root and not st_config:
        st_config = _read_optional_json(root / "sentence_bert_config.json") or {}
    prompts, model_default = _prompts(root)
    if default_prompt is None:
        default_prompt = _named_prompt(prompts, default_prompt_name or model_default)

    pooling_spec: PoolingSpec | None = None
    dense: list[DenseLayer] = []
    normalize = False
    sparse_pooling, sparse_activation = "max", "relu"
    true_id: int | None = None
    false_id: int | None = None
    for module_type, module_path in modules:
        folder = root / module_path
        if module_type.endswith("SpladePooling"):
            splade = _read_optional_json(folder / "config.json") or {}
            sparse_pooling = str(splade.get("pooling_strategy", "max"))
            sparse_activation = str(splade.get("activation_function", "relu"))
        elif module_type.endswith("Pooling"):
            pooling_spec = _read_pooling(folder / "config.json")
        elif module_type.endswith("Dense"):
            dense.append(_read_dense(folder))
        elif module_type.endswith("Normalize"):
            normalize = True
        elif module_type.endswith("LogitScore"):
            score = _read_optional_json(folder / "config.json") or {}
            true_id = _optional_int(score.get("true_token_id"))
            false_id = _optional_int(score.get("false_token_id"))
    if final_kind is ModelKind.EMBEDDING:
        if pooling is not None:
            include = pooling_spec.include_prompt if pooling_spec else True
            pooling_spec = PoolingSpec((pooling,), include)
        elif pooling_spec is None:
            pooling_spec = PoolingSpec((_default_pooling(is_decoder, bidirectional),))
    elif final_kind is not ModelKind.COLBERT:  # ColBERT projects every token with its Dense
        pooling_spec = None
        dense = []
    if sparse_pooling not in ("max", "sum") or sparse_activation not in ("relu", "log1p_relu"):
        raise ModelLoadError(
            f"unsupported SPLADE pooling {sparse_pooling!r} / activation {sparse_activation!r}"
        )

    position_limit = _position_limit(config, model_type)
    if max_input_length is None:
        limit = _max_input_length(model_dir, st_config, position_limit)
    elif position_limit is not None and max_input_length > position_limit:
        raise ModelLoadError(
            f"max_input_length {max_input_length} exceeds the model's position limit "
            f"{position_limit}"
        )
    else:
        limit = max_input_length
    hidden_size = _as_int(config.get("hidden_size", config.get("d_model")), 0)
    if (
        pooling_spec is not None
        and dense
        and dense[0].in_features != hidden_size * len(pooling_spec.modes)
    ):
        raise ModelLoadError(
            f"Dense module expects {dense[0].in_features} inputs but pooling gives "
            f"{hidden_size * len(pooling_spec.modes)}"
        )
    colbert = _colbert_settings(root) if final_kind is ModelKind.COLBERT else None
    colbert_file, sparse_file = model_dir / M3_COLBERT_FILE, model_dir / M3_SPARSE_FILE
    m3_heads = None
    if final_kind is ModelKind.EMBEDDING and colbert_file.is_file() and sparse_file.is_file():
        m3_heads = (colbert_file, sparse_file)
    return ModelFolder(
        path=model_dir,
        model_id=served_model_name or repo_id or root.name,
        architecture=architecture,
        model_type=model_type,
        kind=final_kind,
        is_decoder=is_decoder,
        max_input_length=limit,
        vocab_size=_as_int(config.get("vocab_size"), 0),
        hidden_size=hidden_size,
        labels=labels if final_kind in _LABELLED_KINDS else (),
        multi_label=multi_label and final_kind is ModelKind.CLASSIFIER,
        pooling=pooling_spec,
        dense=tuple(dense),
        normalize=normalize,
        prompts=prompts,
        default_prompt=default_prompt,
        do_lower_case=st_config.get("do_lower_case") is True,
        sparse_pooling=sparse_pooling,
        sparse_activation=sparse_activation,
        true_token_id=true_id,
        false_token_id=false_id,
        m3_heads=m3_heads,
        colbert=colbert,
        position_limit=position_limit,
        config=config,
    )


def inspect_configured_folder(config: EngineConfig) -> ModelFolder:
    """:func:`inspect_model_folder` of ``config.model_path`` with the overrides ``config``
    carries (kind, pooling, max_input_length, served_model_name): what every engine's ``load``
    reads first."""
    return inspect_model_folder(
        config.model_path,
        kind=config.kind,
        pooling=config.pooling,
        max_input_length=config.max_input_length,
        served_model_name=config.served_model_name,
        default_prompt_name=config.default_prompt_name,
        default_prompt=config.default_prompt,
    )


def _default_pooling(is_decoder: bool, bidirectional: bool) -> Pooling:
    """Pooling for an embedding folder that names none: the last token for causal decoders
    (the only one that saw the whole input), mean for decoders made bidirectional (what
    EmbeddingGemma ships; their first token is a plain BOS, never trained as a summary), else
    CLS (BERT-style encoders)."""
    if is_decoder:
        return Pooling.LAST_TOKEN
    return Pooling.MEAN if bidirectional else Pooling.CLS


_LABELLED_KINDS = frozenset({ModelKind.CLASSIFIER, ModelKind.RERANKER, ModelKind.TOKEN_CLASSIFIER})


def _optional_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _read_modules(root: Path) -> list[tuple[str, str]]:
    data_path = root / "modules.json"
    if not data_path.is_file():
        return []
    try:
        data = json.loads(data_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {str(data_path)!r}: {exc}") from exc
    if not isinstance(data, list):
        raise ModelLoadError(f"{str(data_path)!r} must hold a list of modules")
    modules: list[tuple[str, str]] = []
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise ModelLoadError(f"{str(data_path)!r} has a module without a type: {entry!r}")
        modules.append((str(entry["type"]), str(entry.get("path", ""))))
    return modules


def _colbert_settings(root: Path) -> ColbertSettings:
    """PyLate's settings from ``config_sentence_transformers.json`` (its defaults where the
    file says nothing)."""
    data = _read_optional_json(root / "config_sentence_transformers.json") or {}
    default = ColbertSettings()
    words = data.get("skiplist_words")

    def text(key: str, fallback: str) -> str:
        value = data.get(key)
        return value if isinstance(value, str) else fallback

    def flag(key: str, fallback: bool) -> bool:
        value = data.get(key)
        return value if isinstance(value, bool) else fallback

    settings = ColbertSettings(
        query_prefix=text("query_prefix", default.query_prefix),
        document_prefix=text("document_prefix", default.document_prefix),
        query_length=_as_int(data.get("query_length"), default.query_length),
        document_length=_as_int(data.get("document_length"), default.document_length),
        do_query_expansion=flag("do_query_expansion", default.do_query_expansion),
        attend_to_expansion_tokens=flag(
            "attend_to_expansion_tokens", default.attend_to_expansion_tokens
        ),
        skiplist_words=(
            tuple(str(w) for w in words) if isinstance(words, list) else default.skiplist_words
        ),
    )
    if settings.query_length < 3 or settings.document_length < 3:
        raise ModelLoadError("ColBERT query_length and document_length must be at least 3")
    return settings


def _check_module_supported(module_type: str) -> None:
    short = module_type.rsplit(".", 1)[-1]
    if short not in {
        "Transformer",
        "MLMTransformer",
        "Pooling",
        "SpladePooling",
        "Dense",
        "Normalize",
        "LogitScore",
    }:
        raise ModelLoadError(
            f"unsupported sentence-transformers module {module_type!r} in modules.json"
        )


def _labels(config: Mapping[str, object]) -> tuple[str, ...]:
    id2label = config.get("id2label")
    if isinstance(id2label, dict) and id2label:
        try:
            items = sorted((int(k), str(v)) for k, v in id2label.items())
        except ValueError as exc:
            raise ModelLoadError(f"config.json id2label has a non-integer key: {exc}") from exc
        return tuple(v for _, v in items)
    num_labels = _as_int(config.get("num_labels"), 2)
    return tuple(f"LABEL_{i}" for i in range(num_labels))


def _detect_kind(
    architecture: str,
    labels: tuple[str, ...],
    has_splade: bool,
    has_logit_score: bool,
    has_modules: bool,
    name_hint: str,
) -> ModelKind:
    if architecture.endswith("ForSequenceClassification"):
        return ModelKind.RERANKER if len(labels) == 1 else ModelKind.CLASSIFIER
    if architecture.endswith("ForTokenClassification"):
        return ModelKind.TOKEN_CLASSIFIER
    if has_splade or (architecture.endswith("ForMaskedLM") and "splade" in name_hint):
        return ModelKind.SPARSE_EMBEDDING
    if has_logit_score:
        return ModelKind.LLM_RERANKER
    if architecture.endswith("ForCausalLM") and not has_modules and "reranker" in name_hint:
        return ModelKind.LLM_RERANKER
    return ModelKind.EMBEDDING


def _check_kind_compatible(kind: ModelKind, architecture: str, labels: tuple[str, ...]) -> None:
    needed = {
        ModelKind.CLASSIFIER: "ForSequenceClassification",
        ModelKind.RERANKER: "ForSequenceClassification",
        ModelKind.TOKEN_CLASSIFIER: "ForTokenClassification",
        ModelKind.SPARSE_EMBEDDING: "ForMaskedLM",
        ModelKind.LLM_RERANKER: "ForCausalLM",
    }.get(kind)
    if needed is not None and not architecture.endswith(needed):
        raise ModelLoadError(
            f"a {kind.value} model needs a *{needed} architecture, but this folder holds "
            f"{architecture!r}"
        )
    if kind is ModelKind.RERANKER and len(labels) != 1:
        raise ModelLoadError(
            f"a reranker has exactly one output label; this classifier has {len(labels)}"
        )


def _named_prompt(prompts: Mapping[str, str], name: str | None) -> str:
    """The text of the prompt ``name`` ("" for None); ModelLoadError when the model has none
    of that name."""
    if name is None:
        return ""
    if name not in prompts:
        raise ModelLoadError(
            f"the default prompt {name!r} is not one of the model's prompts "
            f"{sorted(prompts)} (config_sentence_transformers.json)"
        )
    return prompts[name]


def _prompts(root: Path) -> tuple[dict[str, str], str | None]:
    data = _read_optional_json(root / "config_sentence_transformers.json") or {}
    raw = data.get("prompts")
    prompts: dict[str, str] = {}
    if isinstance(raw, dict):
        prompts = {str(k): str(v) for k, v in raw.items()}
    elif isinstance(raw, str) and raw:
        # Newer sentence-transformers may store a single prompt string.
        prompts = {"default": raw}
    default = data.get("default_prompt_name")
    return prompts, str(default) if isinstance(default, str) and default else None


def _read_pooling(path: Path) -> PoolingSpec:
    data = read_json(path)
    modes: list[Pooling] = []
    raw_mode = data.get("pooling_mode")
    if raw_mode is not None:
        names = [raw_mode] if isinstance(raw_mode, str) else raw_mode
        if not isinstance(names, list) or not names:
            raise ModelLoadError(f"{str(path)!r}: invalid pooling_mode {raw_mode!r}")
        for name in names:
            try:
                modes.append(Pooling(str(name)))
            except ValueError as exc:
                raise ModelLoadError(f"{str(path)!r}: unknown pooling mode {name!r}") from exc
    else:
        active = {mode for key, mode in _LEGACY_POOLING_KEYS.items() if data.get(key) is True}
        modes = [mode for mode in _POOLING_ORDER if mode in active] or [Pooling.MEAN]
    include_prompt = data.get("include_prompt", True) is not False
    return PoolingSpec(tuple(modes), include_prompt)


def _read_dense(folder: Path) -> DenseLayer:
    data = read_json(folder / "config.json")
    activation_path = str(data.get("activation_function") or "torch.nn.modules.linear.Identity")
    activation = DENSE_ACTIVATIONS.get(activation_path.rsplit(".", 1)[-1])
    if activation is None or not activation_path.startswith("torch."):
        raise ModelLoadError(
            f"{str(folder)!r}: unsupported Dense activation {activation_path!r} "
            f"(supported: torch.nn {sorted(DENSE_ACTIVATIONS)})"
        )
    in_features = _as_int(data.get("in_features"), 0)
    out_features = _as_int(data.get("out_features"), 0)
    if in_features < 1 or out_features < 1:
        raise ModelLoadError(f"{str(folder)!r}: Dense config needs in_features and out_features")
    if not ((folder / "model.safetensors").is_file() or (folder / "pytorch_model.bin").is_file()):
        raise ModelLoadError(f"{str(folder)!r}: Dense module has no weights file")
    return DenseLayer(
        path=folder,
        in_features=in_features,
        out_features=out_features,
        bias=data.get("bias", True) is not False,
        activation=activation,
        use_residual=data.get("use_residual") is True,
    )


def _position_limit(config: Mapping[str, object], model_type: str) -> int | None:
    max_positions = _as_int(config.get("max_position_embeddings"), 0)
    if max_positions <= 0:
        return None
    if model_type in _OFFSET_POSITION_TYPES:
        pad = _as_int(config.get("pad_token_id"), 1)
        return max_positions - (pad + 1)
    return max_positions


def _max_input_length(
    model_dir: Path, st_config: Mapping[str, object], position_limit: int | None
) -> int:
    candidates: list[int] = []
    seq = _as_int(st_config.get("max_seq_length"), 0)
    if seq > 0:
        candidates.append(seq)
    if position_limit is not None:
        candidates.append(position_limit)
    tok_config = _read_optional_json(model_dir / "tokenizer_config.json") or {}
    model_max = tok_config.get("model_max_length")
    if isinstance(model_max, (int, float)) and 0 < model_max < _INSANE_MAX_LENGTH:
        candidates.append(int(model_max))
    if not candidates:
        raise ModelLoadError(
            f"{str(model_dir)!r}: cannot tell the maximum input length (no max_seq_length, "
            "max_position_embeddings or tokenizer model_max_length); set max_input_length"
        )
    return min(candidates)
