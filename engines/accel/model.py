"""Which models the packed engine runs, and building their packed forward.

:func:`packed_support` decides from the parsed folder alone (no weights), so the registry can
choose an engine before loading anything; :func:`build_packed_model` builds the forward from a
loaded transformers model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import torch
from torch import nn

from ember.engines.accel.decoder import STATIC_ROPE_TYPES, PackedDecoder
from ember.engines.accel.encoder import PackedEncoder
from ember.engines.accel.gemma3 import GEMMA3_TYPES, PackedGemma3, gemma3_support
from ember.engines.accel.glu_encoder import GLU_ENCODER_TYPES, PackedGluEncoder
from ember.engines.accel.modernbert import PackedModernBert
from ember.engines.accel.packing import DevicePack, PositionRule
from ember.engines.errors import ModelLoadError
from ember.engines.model_folder import ModelFolder
from ember.engines.types import ModelKind

#: ``model_type`` values with a packed forward.
ENCODER_TYPES: frozenset[str] = frozenset({"bert", "roberta", "xlm-roberta"})
DECODER_TYPES: frozenset[str] = frozenset({"qwen2", "qwen3", "llama", "mistral"})
#: Encoders with rotary positions (no position table), built from their own modules.
ROTARY_ENCODER_TYPES: frozenset[str] = GLU_ENCODER_TYPES | {"modernbert"}
#: Encoders whose position ids start after the padding index.
_OFFSET_TYPES: frozenset[str] = frozenset({"roberta", "xlm-roberta"})

_ENCODER_KINDS = frozenset(
    {ModelKind.EMBEDDING, ModelKind.CLASSIFIER, ModelKind.RERANKER, ModelKind.TOKEN_CLASSIFIER}
)
_DECODER_KINDS = _ENCODER_KINDS | {ModelKind.LLM_RERANKER}


class PackedModel(Protocol):
    """A packed forward: token ids of a packed batch in, final hidden states ``(M, H)`` out."""

    hidden_size: int
    dtype: torch.dtype
    causal: bool

    def __call__(self, pack: DevicePack) -> torch.Tensor:
        """Final hidden states of every packed token, in the model dtype."""
        ...

    def activation_bytes_per_token(self) -> int:
        """Peak live activation bytes per token inside one layer."""
        ...


def _rope_type(config: Mapping[str, object]) -> str:
    for key in ("rope_parameters", "rope_scaling"):
        value = config.get(key)
        if isinstance(value, Mapping):
            kind = value.get("rope_type", value.get("type"))
            if isinstance(kind, str):
                return kind
    return "default"


def packed_support(folder: ModelFolder) -> str | None:
    """None when the packed engine runs ``folder``, else the reason it does not."""
    model_type = folder.model_type
    config = folder.config
    if folder.m3_heads is not None:
        return "BGE-M3's sparse and multi-vector heads run on the padded torch engine"
    if model_type in ENCODER_TYPES:
        if folder.kind not in _ENCODER_KINDS:
            return f"{folder.kind.value} {model_type} models run on the padded torch engine"
        position = config.get("position_embedding_type") or "absolute"
        if position != "absolute":
            return f"{model_type} with {position!r} position embeddings has no packed forward"
        if config.get("is_decoder") is True or config.get("add_cross_attention") is True:
            return f"{model_type} configured as a decoder has no packed forward"
        return None
    if model_type in DECODER_TYPES:
        if folder.kind not in _DECODER_KINDS:
            return f"{folder.kind.value} {model_type} models run on the padded torch engine"
        act = config.get("hidden_act", "silu")
        if act != "silu":
            return f"{model_type} with activation {act!r} has no packed forward"
        rotary = _rotary_reason(model_type, [_rope_type(config)], config)
        if rotary is not None:
            return rotary
        window = config.get("sliding_window")
        uses_window = config.get("use_sliding_window", model_type == "mistral")
        if (
            isinstance(window, int)
            and uses_window is not False
            and window < folder.max_input_length
        ):
            return (
                f"{model_type} with a {window}-token sliding window shorter than the "
                f"{folder.max_input_length}-token input limit has no packed forward"
            )
        return None
    if model_type in GEMMA3_TYPES:
        if folder.kind is not ModelKind.EMBEDDING:
            return f"{folder.kind.value} {model_type} models run on the padded torch engine"
        return gemma3_support(config)
    if model_type in ROTARY_ENCODER_TYPES:
        return _rotary_encoder_support(folder)
    packed = ENCODER_TYPES | DECODER_TYPES | GEMMA3_TYPES | ROTARY_ENCODER_TYPES
    supported = ", ".join(sorted(packed))
    return f"{model_type} has no packed forward (packed: {supported})"


def _rotary_encoder_support(folder: ModelFolder) -> str | None:
    """:func:`packed_support` for ModernBERT, Nomic-BERT and GTE."""
    model_type = folder.model_type
    config = folder.config
    if folder.kind not in _ENCODER_KINDS:
        return f"{folder.kind.value} {model_type} models run on the padded torch engine"
    if isinstance(config.get("auto_map"), Mapping):
        # Remote modeling code (e.g. nomic-ai's own NomicBertModel) lays its modules out
        # differently from transformers' class the packed forward reads.
        return f"{model_type} with its own modeling code (auto_map) runs on the padded engine"
    params = config.get("rope_parameters")
    if model_type == "modernbert" and isinstance(params, Mapping):
        # One set of rotary parameters per layer type (global, local).
        kinds = [_rope_type({"rope_parameters": entry}) for entry in params.values()]
    else:
        kinds = [_rope_type(config)]
    return _rotary_reason(model_type, kinds, config)


def _rotary_reason(
    model_type: str, kinds: Iterable[str], config: Mapping[str, object]
) -> str | None:
    """Why the packed forward cannot rotate like ``config`` says (None: it can): a rotary
    variant in ``kinds`` whose frequencies are not fixed at load, or partial rotary."""
    for rope in kinds:
        if rope not in STATIC_ROPE_TYPES:
            return f"{model_type} with rotary type {rope!r} has no packed forward"
    factor = config.get("partial_rotary_factor", 1.0)
    if factor not in (None, 1, 1.0):
        return f"{model_type} with partial rotary embeddings has no packed forward"
    return None


def position_rule(folder: ModelFolder, base: Any = None) -> PositionRule:
    """How the packed batch numbers positions for this model."""
    if folder.model_type in _OFFSET_TYPES:
        pad = None
        if base is not None:
            pad = getattr(getattr(base, "embeddings", None), "padding_idx", None)
        if not isinstance(pad, int):
            raw = folder.config.get("pad_token_id", 1)
            pad = raw if isinstance(raw, int) else 1
        return PositionRule(padding_idx=pad)
    return PositionRule()


def build_packed_model(
    folder: ModelFolder,
    base: nn.Module,
    *,
    fp8: bool = False,
    fast_accum: bool = False,
) -> PackedModel:
    """The packed forward of ``base`` (the transformers base model, e.g. ``model.base_model``).

    Raises :class:`ModelLoadError` when the folder or the module structure is not supported.
    With ``fp8`` the linear layers are quantized (and the model's own weights for them freed).
    """
    reason = packed_support(folder)
    if reason is not None:
        raise ModelLoadError(reason)
    try:
        if folder.model_type in ENCODER_TYPES:
            return PackedEncoder(base, fp8=fp8, fast_accum=fast_accum)
        positions = max(folder.max_input_length, 1)
        if folder.model_type in GEMMA3_TYPES:
            return PackedGemma3(base, max_positions=positions, fp8=fp8, fast_accum=fast_accum)
        if folder.model_type == "modernbert":
            return PackedModernBert(base, max_positions=positions, fp8=fp8, fast_accum=fast_accum)
        if folder.model_type in GLU_ENCODER_TYPES:
            return PackedGluEncoder(base, max_positions=positions, fp8=fp8, fast_accum=fast_accum)
        return PackedDecoder(base, max_positions=positions, fp8=fp8, fast_accum=fast_accum)
    except AttributeError as exc:
        raise ModelLoadError(
            f"the {folder.architecture} model's modules are not laid out as the packed "
            f"forward expects: {exc}"
        ) from exc
