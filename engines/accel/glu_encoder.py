"""The packed forward of rotary, gated-MLP, post-LayerNorm encoders: Nomic-BERT and GTE.

transformers' ``nomic_bert`` and ``gte`` models have the same block and differ only in which
linear layers carry a bias (GTE: q/k/v/o and the down projection), so one forward serves both.
Built from the base model's weights (``embeddings.{word,token_type}_embeddings`` +
``embeddings.LayerNorm``; per layer ``self_attn.{q,k,v,o}_proj``, ``mlp.{gate,up,down}_proj``,
``post_attention_layernorm``, ``post_mlp_layernorm``; ``rotary_emb``)::

    x = LN(word[ids] + type[types])                 # no position table: rotary positions
    per layer:  q,k,v = rope(x @ [Wq; Wk; Wv].T + b)  # one GEMM, rotate-half RoPE
                x = LN(x + varlen_attention(q, k, v) @ Wo.T + bo)
                x = LN(x + (act(x @ Wg.T) * (x @ Wu.T)) @ Wd.T + bd)   # gate/up: one GEMM

SiLU gates run through :func:`~ember.engines.accel.kernels.silu_mul` (a Triton kernel on CUDA,
fp8 output when the down projection is fp8); other activations use torch ops (:func:`glu`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional

from ember.engines.accel.attention import pack_attention
from ember.engines.accel.decoder import STATIC_ROPE_TYPES, rope_tables
from ember.engines.accel.encoder import Norm, add_token_types
from ember.engines.accel.kernels import Act, qk_norm_rope, silu_mul
from ember.engines.accel.linear import PackedLinear
from ember.engines.accel.packing import DevicePack, check_positions
from ember.engines.errors import ModelLoadError

#: ``model_type`` values this module runs.
GLU_ENCODER_TYPES: frozenset[str] = frozenset({"nomic_bert", "gte"})
#: ``hidden_act`` names that mean SiLU (the fused kernel's activation).
SILU_NAMES: frozenset[str] = frozenset({"silu", "swish"})


def glu(
    gate_up: torch.Tensor,
    act: Callable[[torch.Tensor], torch.Tensor],
    *,
    silu: bool,
    quant: bool,
) -> Act:
    """``act(gate_up[:, :I]) * gate_up[:, I:]`` for a fused ``(M, 2I)`` projection.

    ``silu``: the activation is SiLU, so the fused kernel runs (fp8 output with ``quant``);
    otherwise ``act`` in torch, and a later fp8 GEMM quantizes its input itself.
    """
    if silu:
        return silu_mul(gate_up, quant=quant)
    half = gate_up.shape[-1] // 2
    return Act((act(gate_up[:, :half]) * gate_up[:, half:]).contiguous())


@dataclass
class _Layer:
    qkv: PackedLinear
    o: PackedLinear
    ln1: Norm
    gate_up: PackedLinear
    down: PackedLinear
    ln2: Norm


class PackedGluEncoder:
    """The packed forward of a Nomic-BERT or GTE base model (see the module doc)."""

    causal = False

    def __init__(
        self,
        base: Any,
        *,
        max_positions: int,
        fp8: bool = False,
        fast_accum: bool = False,
    ) -> None:
        config = base.config
        rotary = base.rotary_emb
        rope_type = str(getattr(rotary, "rope_type", "default"))
        if rope_type not in STATIC_ROPE_TYPES:
            raise ModelLoadError(f"packed encoder: rotary type {rope_type!r} is not supported")
        emb = base.embeddings
        self.word: torch.Tensor = emb.word_embeddings.weight
        types = getattr(emb, "token_type_embeddings", None)
        self.token_type: torch.Tensor | None = types.weight if types is not None else None
        self.emb_norm = Norm.of(emb.LayerNorm)
        self.dtype: torch.dtype = self.word.dtype
        self.hidden_size = int(config.hidden_size)
        self.intermediate_size = int(config.intermediate_size)
        self.num_heads = int(config.num_attention_heads)
        first = base.layers[0].self_attn
        self.head_dim = int(first.head_dim)
        self.scale = float(getattr(first, "scaling", self.head_dim**-0.5))
        act_name = str(getattr(config, "hidden_act", "silu"))
        self.silu = act_name in SILU_NAMES
        self.act: Callable[[torch.Tensor], torch.Tensor] = base.layers[0].mlp.act_fn
        self.max_positions = max_positions
        self.cos, self.sin = rope_tables(rotary, max_positions, self.word.device)

        fuse = PackedLinear.fuser(fp8=fp8, fast_accum=fast_accum)
        self.layers = [
            _Layer(
                qkv=fuse(layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj),
                o=fuse(layer.self_attn.o_proj),
                ln1=Norm.of(layer.post_attention_layernorm),
                gate_up=fuse(layer.mlp.gate_proj, layer.mlp.up_proj),
                down=fuse(layer.mlp.down_proj),
                ln2=Norm.of(layer.post_mlp_layernorm),
            )
            for layer in base.layers
        ]

    def activation_bytes_per_token(self) -> int:
        """Peak bytes of live activations per packed token inside one layer."""
        elem = int(self.dtype.itemsize)
        width = self.num_heads * self.head_dim
        attention = 3 * width + 3 * width + width + self.hidden_size
        mlp = 3 * self.intermediate_size
        return elem * (2 * self.hidden_size + max(attention, mlp)) + 4 * self.num_heads

    def __call__(self, pack: DevicePack) -> torch.Tensor:
        """Final hidden states ``(M, hidden)`` in the model dtype."""
        check_positions(pack, self.max_positions)
        x = functional.embedding(pack.input_ids, self.word)
        x = self.emb_norm(add_token_types(x, self.token_type, pack))
        for layer in self.layers:
            q, k, v = qk_norm_rope(
                layer.qkv(Act(x)), pack.position_ids, self.cos, self.sin,
                None, None, 0.0, self.num_heads, self.num_heads,
            )  # fmt: skip
            attn = pack_attention(pack, q, k, v, causal=False, scale=self.scale)
            layer.o.add_into(x, Act(attn.reshape(x.shape[0], -1)))
            x = layer.ln1(x)
            hidden = glu(layer.gate_up(Act(x)), self.act, silu=self.silu, quant=layer.down.fp8)
            layer.down.add_into(x, hidden)
            x = layer.ln2(x)
        return x
