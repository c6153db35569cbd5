"""The packed forward of BERT-style encoders: BERT, RoBERTa, XLM-RoBERTa.

Built from the transformers base model's weights (``embeddings.{word,position,token_type}_
embeddings`` + ``embeddings.LayerNorm``; per layer ``attention.self.{query,key,value}``,
``attention.output.{dense,LayerNorm}``, ``intermediate.{dense,intermediate_act_fn}``,
``output.{dense,LayerNorm}``); the transformers forward is never called. Post-LayerNorm
blocks, absolute positions (RoBERTa's padding offset is applied when packing, see
:class:`~ember.engines.accel.packing.PositionRule`), bidirectional attention per sequence::

    x = LN(word[ids] + type[types] + pos[positions])
    per layer:  q,k,v = views of x @ [Wq; Wk; Wv].T + b      # one GEMM, no copies
                x = LN(x + varlen_attention(q, k, v) @ Wo.T + bo)
                x = LN(x + act(x @ Wi.T + bi) @ Wout.T + bout)

Encoders are small next to the GEMM-bound decoders; the elementwise steps use torch ops.
MPNet (relative position buckets) is not packed: it runs on the padded ``TorchEngine``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from ember.engines.accel.attention import pack_attention
from ember.engines.accel.kernels import Act
from ember.engines.accel.linear import PackedLinear
from ember.engines.accel.packing import DevicePack
from ember.engines.errors import EngineError, ModelLoadError


@dataclass
class Norm:
    """A LayerNorm's weights (``bias`` None for bias-free norms) applied over the last axis."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    eps: float

    @classmethod
    def of(cls, module: nn.LayerNorm) -> Norm:
        return cls(module.weight, module.bias, float(module.eps))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return functional.layer_norm(x, (x.shape[-1],), self.weight, self.bias, self.eps)


def add_token_types(x: torch.Tensor, table: torch.Tensor | None, pack: DevicePack) -> torch.Tensor:
    """``x`` plus each token's row of the token type embedding ``table`` (row 0 where the pack
    carries no type ids); ``x`` itself when the model has no such table."""
    if table is None:
        return x
    if pack.token_type_ids is None:
        return x + table[0]
    return x + functional.embedding(pack.token_type_ids, table)


@dataclass
class _Layer:
    qkv: PackedLinear
    o: PackedLinear
    ln1: Norm
    inter: PackedLinear
    act: Callable[[torch.Tensor], torch.Tensor]
    out: PackedLinear
    ln2: Norm


class PackedEncoder:
    """The packed forward of a BERT/RoBERTa/XLM-R base model (see the module doc)."""

    causal = False

    def __init__(
        self,
        base: Any,
        *,
        fp8: bool = False,
        fast_accum: bool = False,
    ) -> None:
        config = base.config
        kind = getattr(config, "position_embedding_type", None) or "absolute"
        if kind != "absolute":
            raise ModelLoadError(f"packed encoder supports absolute positions, not {kind!r}")
        if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
            raise ModelLoadError("packed encoder does not run decoder/cross-attention BERTs")
        emb = base.embeddings
        self.word: torch.Tensor = emb.word_embeddings.weight
        self.position: torch.Tensor = emb.position_embeddings.weight
        self.token_type: torch.Tensor | None = (
            emb.token_type_embeddings.weight if hasattr(emb, "token_type_embeddings") else None
        )
        self.emb_norm = Norm.of(emb.LayerNorm)
        self.dtype: torch.dtype = self.word.dtype
        self.hidden_size = int(config.hidden_size)
        self.intermediate_size = int(config.intermediate_size)
        self.num_heads = int(config.num_attention_heads)
        self.head_dim = self.hidden_size // self.num_heads
        first = base.encoder.layer[0].attention.self
        self.scale = float(getattr(first, "scaling", self.head_dim**-0.5))
        self.max_positions = int(self.position.shape[0])
        fuse = PackedLinear.fuser(fp8=fp8, fast_accum=fast_accum)
        self.layers: list[_Layer] = []
        for layer in base.encoder.layer:
            attn = layer.attention
            self.layers.append(
                _Layer(
                    qkv=fuse(attn.self.query, attn.self.key, attn.self.value),
                    o=fuse(attn.output.dense),
                    ln1=Norm.of(attn.output.LayerNorm),
                    inter=fuse(layer.intermediate.dense),
                    act=layer.intermediate.intermediate_act_fn,
                    out=fuse(layer.output.dense),
                    ln2=Norm.of(layer.output.LayerNorm),
                )
            )

    def activation_bytes_per_token(self) -> int:
        """Peak bytes of live activations per packed token inside one layer."""
        elem = int(self.dtype.itemsize)
        attention = 3 * self.hidden_size + 2 * self.hidden_size
        mlp = 2 * self.intermediate_size
        return elem * (2 * self.hidden_size + max(attention, mlp)) + 4 * self.num_heads

    def __call__(self, pack: DevicePack) -> torch.Tensor:
        """Final hidden states ``(M, hidden)`` in the model dtype."""
        # An out-of-range row would be a device-side fault: refuse on the host.
        if pack.max_position >= self.max_positions:
            raise EngineError(
                f"a sequence of {pack.max_seqlen} tokens needs position {pack.max_position}, "
                f"beyond the model's {self.max_positions} position embeddings"
            )
        x = functional.embedding(pack.input_ids, self.word)
        x = x + functional.embedding(pack.position_ids, self.position)
        x = self.emb_norm(add_token_types(x, self.token_type, pack))
        rows = x.shape[0]
        for layer in self.layers:
            qkv = layer.qkv(Act(x)).view(rows, 3, self.num_heads, self.head_dim)
            q, k, v = qkv.unbind(1)
            attn = pack_attention(pack, q, k, v, causal=False, scale=self.scale)
            x = layer.ln1(layer.o(Act(attn.reshape(rows, -1))) + x)
            x = layer.ln2(layer.out(Act(layer.act(layer.inter(Act(x))).contiguous())) + x)
        return x
