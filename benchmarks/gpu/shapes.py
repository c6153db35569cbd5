"""The model shapes the GPU benchmark measures, and the FLOPs each one costs per token.

Shapes are transformers config dictionaries written out from the published hyper-parameters
(no weights are ever downloaded: models get seeded random weights on the device). Each shape has
a ``tiny`` twin of the same architecture for the CPU dry run.

FLOP counting (what "MFU" means in the report):

* Linear layers: ``2 * P_linear`` FLOPs per token, where ``P_linear`` counts the weights of every
  matrix product a token goes through (attention q/k/v/o projections and the MLP; BERT's
  up/down projections, Qwen3's gate/up/down). Embedding lookups, norms, biases, activations,
  rotary embeddings and BERT's pooler (one token per sequence) are left out: they are not matrix
  work, or negligible.
* Attention: per layer and token, ``QK^T`` and ``PV`` cost ``2 * 2 * ctx * d_attn`` FLOPs with
  ``d_attn = heads * head_dim`` and ``ctx`` the keys a query attends to. Bidirectional (BERT):
  ``ctx = L``, i.e. ``4 * L * d_attn``. Causal (Qwen3): only the unmasked keys are useful work,
  ``ctx = (L + 1) / 2`` on average, i.e. ``2 * (L + 1) * d_attn``, whether or not the kernel skips
  the masked blocks (flash-style varlen kernels do; SDPA with an explicit mask does not, and then
  burns the other half without it being counted). Gemma3's sliding-window layers count only
  the keys inside the window (EmbeddingGemma: ``|i - j| <= 256``, 5 of every 6 layers).

So a request of ``L`` tokens costs ``L * (2 * P_linear) + layers * L * attn_per_token(L)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Arch = Literal["bert", "qwen3", "gemma3"]


@dataclass(frozen=True)
class Shape:
    """One model shape: its transformers config and how it pools."""

    name: str
    arch: Arch
    #: transformers config keyword arguments (``model_type`` decides the class).
    config: Mapping[str, object]
    #: sentence-transformers pooling mode name written to the folder.
    pooling: Literal["mean", "cls", "lasttoken"]
    #: max_seq_length written to sentence_bert_config.json.
    max_seq_length: int
    #: Parameter count as published, for the report only.
    label: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def hidden(self) -> int:
        return int(_num(self.config["hidden_size"]))

    @property
    def layers(self) -> int:
        return int(_num(self.config["num_hidden_layers"]))

    @property
    def heads(self) -> int:
        return int(_num(self.config["num_attention_heads"]))

    @property
    def kv_heads(self) -> int:
        return int(_num(self.config.get("num_key_value_heads", self.heads)))

    @property
    def head_dim(self) -> int:
        value = self.config.get("head_dim")
        return int(_num(value)) if value is not None else self.hidden // self.heads

    @property
    def intermediate(self) -> int:
        return int(_num(self.config["intermediate_size"]))

    @property
    def vocab(self) -> int:
        return int(_num(self.config["vocab_size"]))

    @property
    def causal(self) -> bool:
        if self.arch == "gemma3":
            return self.config.get("use_bidirectional_attention") is not True
        return self.arch == "qwen3"

    def linear_params_per_layer(self) -> int:
        """Weights of the matrix products one token goes through in one layer."""
        d, hd = self.hidden, self.head_dim
        q_out, kv_out = self.heads * hd, self.kv_heads * hd
        attention = d * q_out + 2 * d * kv_out + q_out * d
        mlp = (3 if self.arch in ("qwen3", "gemma3") else 2) * d * self.intermediate
        return attention + mlp

    def windows(self) -> list[int | None]:
        """Per layer, how far a query sees (keys with ``|i - j| <= w``; None: everywhere).

        Gemma3's ``sliding_attention`` layers: transformers turns a bidirectional model's
        config ``sliding_window`` ``W`` into ``|i - j| < W // 2 + 1``, a causal one's into
        ``i - j < W``."""
        types = self.config.get("layer_types")
        window = self.config.get("sliding_window")
        if self.arch != "gemma3" or not isinstance(types, list) or not isinstance(window, int):
            return [None] * self.layers
        reach = window // 2 if not self.causal else window - 1
        return [reach if t == "sliding_attention" else None for t in types]

    def linear_params(self) -> int:
        """``P_linear``: all layers."""
        return self.layers * self.linear_params_per_layer()

    def total_params(self) -> int:
        """Approximate parameter count (linear layers + input embeddings), for the report."""
        return self.linear_params() + self.vocab * self.hidden

    def attention_flops_per_token(self, length: int) -> float:
        """Useful attention FLOPs per token, all layers, for a sequence of ``length`` tokens."""
        d_attn = self.heads * self.head_dim
        full = (length + 1) / 2 if self.causal else float(length)
        total = 0.0
        for reach in self.windows():
            ctx = full if reach is None else _band_keys(length, reach, self.causal)
            total += 4.0 * ctx * d_attn
        return total

    def flops_per_token(self, length: int) -> float:
        """Useful FLOPs per token for requests of ``length`` tokens (see the module doc)."""
        return 2.0 * self.linear_params() + self.attention_flops_per_token(length)

    def flops_for_lengths(self, lengths: list[int]) -> float:
        """Useful FLOPs of a batch of sequences of these lengths."""
        return sum(n * self.flops_per_token(n) for n in lengths)


def _band_keys(length: int, reach: int, causal: bool) -> float:
    """Mean number of keys a query sees with ``|i - j| <= reach`` (``0 <= i - j <= reach``
    when causal) in a ``length``-token sequence."""
    if reach >= length - 1:
        return (length + 1) / 2 if causal else float(length)
    total = 0
    for i in range(length):
        before = min(i, reach)
        after = 0 if causal else min(length - 1 - i, reach)
        total += before + after + 1
    return total / length


def _num(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


_BERT_BASE: dict[str, object] = {
    "model_type": "bert",
    "architectures": ["BertModel"],
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
}

_QWEN3_COMMON: dict[str, object] = {
    "model_type": "qwen3",
    "architectures": ["Qwen3Model"],
    "num_key_value_heads": 8,
    "head_dim": 128,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-6,
    "rope_theta": 1_000_000.0,
    "attention_bias": False,
    "tie_word_embeddings": True,
    "bos_token_id": 151643,
    "eos_token_id": 151643,
    # The published configs say true; an embedding forward never reuses the cache, and a
    # DynamicCache only holds references on a single forward, so off changes no FLOPs.
    "use_cache": False,
}

#: Qwen3-Embedding-0.6B (Qwen/Qwen3-Embedding-0.6B config.json).
_QWEN3_06B: dict[str, object] = {
    **_QWEN3_COMMON,
    "vocab_size": 151669,
    "hidden_size": 1024,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "intermediate_size": 3072,
    "max_position_embeddings": 32768,
}

#: Qwen3-Embedding-4B (Qwen/Qwen3-Embedding-4B config.json).
_QWEN3_4B: dict[str, object] = {
    **_QWEN3_COMMON,
    "vocab_size": 151665,
    "hidden_size": 2560,
    "num_hidden_layers": 36,
    "num_attention_heads": 32,
    "intermediate_size": 9728,
    "max_position_embeddings": 40960,
}

#: Qwen3-Embedding-8B, only for the FLOP reading of the seed's BEI figures (never built).
QWEN3_8B = Shape(
    name="qwen3-8b",
    arch="qwen3",
    config={
        **_QWEN3_COMMON,
        "vocab_size": 151665,
        "hidden_size": 4096,
        "num_hidden_layers": 36,
        "num_attention_heads": 32,
        "intermediate_size": 12288,
        "max_position_embeddings": 40960,
    },
    pooling="lasttoken",
    max_seq_length=8192,
    label="Qwen3-Embedding-8B",
)

_EMBEDDINGGEMMA_TYPES = [
    "full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(24)
]
#: EmbeddingGemma-300m (google/embeddinggemma-300m config.json: a bidirectional Gemma3 text
#: model, 24 layers of which every 6th is global, local windows of 512 (|i - j| <= 256), mean
#: pooling; its two Dense layers (768 -> 3072 -> 768) are not part of the benchmark folder).
_EMBEDDINGGEMMA: dict[str, object] = {
    "model_type": "gemma3_text",
    "architectures": ["Gemma3TextModel"],
    "vocab_size": 262144,
    "hidden_size": 768,
    "num_hidden_layers": 24,
    "num_attention_heads": 3,
    "num_key_value_heads": 1,
    "head_dim": 256,
    "intermediate_size": 1152,
    "hidden_activation": "gelu_pytorch_tanh",
    "query_pre_attn_scalar": 256,
    "rms_norm_eps": 1e-6,
    "rope_theta": 1_000_000.0,
    "rope_local_base_freq": 10_000.0,
    "sliding_window": 512,
    "layer_types": _EMBEDDINGGEMMA_TYPES,
    "max_position_embeddings": 2048,
    "use_bidirectional_attention": True,
    "attention_bias": False,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "bos_token_id": 2,
    "use_cache": False,
}

FULL_SHAPES: dict[str, Shape] = {
    "qwen3-4b": Shape("qwen3-4b", "qwen3", _QWEN3_4B, "lasttoken", 8192, "Qwen3-Embedding-4B"),
    "qwen3-0.6b": Shape(
        "qwen3-0.6b", "qwen3", _QWEN3_06B, "lasttoken", 8192, "Qwen3-Embedding-0.6B"
    ),
    "bert-base": Shape("bert-base", "bert", _BERT_BASE, "mean", 512, "BERT-base (110M)"),
    "embeddinggemma": Shape(
        "embeddinggemma", "gemma3", _EMBEDDINGGEMMA, "mean", 2048, "EmbeddingGemma-300m"
    ),
}

#: Parity shapes: real head dimensions, few layers (cheap fp32 reference).
FULL_PARITY: dict[str, Shape] = {
    "bert": Shape(
        "bert-minilm-l6",
        "bert",
        {**_BERT_BASE, "hidden_size": 384, "num_hidden_layers": 6, "intermediate_size": 1536},
        "mean",
        512,
        "all-MiniLM-L6-v2 shape",
    ),
    "qwen3": Shape(
        "qwen3-0.6b-4layers",
        "qwen3",
        {**_QWEN3_06B, "num_hidden_layers": 4},
        "lasttoken",
        8192,
        "Qwen3-Embedding-0.6B shape, 4 layers",
    ),
    "gemma3": Shape(
        "embeddinggemma-6layers",
        "gemma3",
        {**_EMBEDDINGGEMMA, "num_hidden_layers": 6, "layer_types": _EMBEDDINGGEMMA_TYPES[:6]},
        "mean",
        2048,
        "EmbeddingGemma-300m shape, 6 layers (5 local, 1 global)",
    ),
}


def _tiny(shape: Shape, **overrides: object) -> Shape:
    config = {**shape.config, **overrides}
    return Shape(
        name=shape.name + "-tiny",
        arch=shape.arch,
        config=config,
        pooling=shape.pooling,
        max_seq_length=min(shape.max_seq_length, 512),
        label=f"tiny {shape.label}",
    )


_TINY_QWEN = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "intermediate_size": 128,
    "vocab_size": 2048,
}
_TINY_BERT = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "vocab_size": 30522,  # the WordPiece tokenizer's ids must fit
}

_TINY_GEMMA = {
    "hidden_size": 64,
    "num_hidden_layers": 3,
    "layer_types": ["sliding_attention", "sliding_attention", "full_attention"],
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "query_pre_attn_scalar": 16,
    "intermediate_size": 128,
    "vocab_size": 2048,
    "sliding_window": 16,  # |i - j| <= 8: the tiny plan's 64-token inputs run past it
}

TINY_SHAPES: dict[str, Shape] = {
    "qwen3-4b": _tiny(FULL_SHAPES["qwen3-4b"], **{**_TINY_QWEN, "num_hidden_layers": 3}),
    "qwen3-0.6b": _tiny(FULL_SHAPES["qwen3-0.6b"], **_TINY_QWEN),
    "bert-base": _tiny(FULL_SHAPES["bert-base"], **_TINY_BERT),
    "embeddinggemma": _tiny(FULL_SHAPES["embeddinggemma"], **_TINY_GEMMA),
}
TINY_PARITY: dict[str, Shape] = {
    "bert": _tiny(FULL_PARITY["bert"], **_TINY_BERT),
    "qwen3": _tiny(FULL_PARITY["qwen3"], **_TINY_QWEN),
    "gemma3": _tiny(FULL_PARITY["gemma3"], **_TINY_GEMMA),
}


def shapes(tiny: bool) -> dict[str, Shape]:
    """The throughput shapes, by name."""
    return TINY_SHAPES if tiny else FULL_SHAPES


def parity_shapes(tiny: bool) -> dict[str, Shape]:
    """The parity shapes, by architecture."""
    return TINY_PARITY if tiny else FULL_PARITY
