"""The packed forward of ModernBERT: rotary, pre-LayerNorm, GeGLU, global + local attention.

Built from transformers' ``ModernBertModel`` weights (``embeddings.{tok_embeddings,norm}``; per
layer ``attn_norm`` (an ``Identity`` in layer 0), ``attn.{Wqkv,Wo}``, ``mlp_norm``,
``mlp.{Wi,Wo}``; ``final_norm``; ``rotary_emb`` with one set of frequencies per layer type)::

    x = LN(tok[ids])                                   # no position table, no token types
    per layer:  h = LN_attn(x)                         # layer 0: h = x
                q,k,v = rope_t(h @ Wqkv.T)             # t: the layer's type (its own theta)
                x += varlen_attention(q, k, v, window_t) @ Wo.T
                a, g = split(LN_mlp(x) @ Wi.T)         # Wi: [input | gate], one GEMM
                x += (act(a) * g) @ Wo_mlp.T
    x = LN_final(x)

Layer types come from ``config.layer_types`` (``global_attn_every_n_layers`` in older configs:
every n-th layer is global, the rest local). Local layers attend to keys at most
``local_attention // 2`` positions away on either side (``config.sliding_window``), as
transformers' bidirectional sliding-window mask does; the packed attention applies that band per
sequence (flash's window arguments on CUDA, a band mask on CPU). Linear layers and norms are
bias-free unless the config says otherwise (``attention_bias``/``mlp_bias``/``norm_bias``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional

from ember.engines.accel.attention import Window, pack_attention
from ember.engines.accel.decoder import rope_tables_by_type
from ember.engines.accel.encoder import Norm
from ember.engines.accel.glu_encoder import SILU_NAMES, glu
from ember.engines.accel.kernels import Act, qk_norm_rope
from ember.engines.accel.linear import PackedLinear
from ember.engines.accel.packing import DevicePack, check_positions

SLIDING = "sliding_attention"


@dataclass
class _Layer:
    attn_norm: Norm | None
    qkv: PackedLinear
    o: PackedLinear
    mlp_norm: Norm
    wi: PackedLinear
    wo: PackedLinear
    #: The key of this layer's rotary tables (its layer type).
    rope: str
    #: Local layers: keys within ``local_attention // 2`` on either side; None: global.
    window: Window | None


class PackedModernBert:
    """The packed forward of a ``ModernBertModel`` (see the module doc)."""

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
        emb = base.embeddings
        self.word: torch.Tensor = emb.tok_embeddings.weight
        self.emb_norm = Norm.of(emb.norm)
        self.final_norm = Norm.of(base.final_norm)
        self.dtype: torch.dtype = self.word.dtype
        self.hidden_size = int(config.hidden_size)
        self.intermediate_size = int(config.intermediate_size)
        self.num_heads = int(config.num_attention_heads)
        self.head_dim = self.hidden_size // self.num_heads
        self.scale = self.head_dim**-0.5
        self.silu = str(config.hidden_activation) in SILU_NAMES
        self.act: Callable[[torch.Tensor], torch.Tensor] = base.layers[0].mlp.act
        self.max_positions = max_positions
        reach = int(config.local_attention) // 2
        # One cos/sin table pair per layer type: global and local layers use different thetas.
        self.tables = rope_tables_by_type(
            rotary,
            config.layer_types,
            rotary.rope_type,
            max_positions,
            self.word.device,
            "ModernBERT",
        )

        fuse = PackedLinear.fuser(fp8=fp8, fast_accum=fast_accum)
        self.layers: list[_Layer] = []
        for index, layer in enumerate(base.layers):
            kind = str(config.layer_types[index])
            norm = layer.attn_norm
            self.layers.append(
                _Layer(
                    attn_norm=Norm.of(norm) if isinstance(norm, torch.nn.LayerNorm) else None,
                    qkv=fuse(layer.attn.Wqkv),
                    o=fuse(layer.attn.Wo),
                    mlp_norm=Norm.of(layer.mlp_norm),
                    wi=fuse(layer.mlp.Wi),
                    wo=fuse(layer.mlp.Wo),
                    rope=kind,
                    window=(reach, reach) if kind == SLIDING else None,
                )
            )

    def activation_bytes_per_token(self) -> int:
        """Peak bytes of live activations per packed token inside one layer."""
        elem = int(self.dtype.itemsize)
        attention = 3 * self.hidden_size + 3 * self.hidden_size + 2 * self.hidden_size
        mlp = 3 * self.intermediate_size
        return elem * (2 * self.hidden_size + max(attention, mlp)) + 4 * self.num_heads

    def __call__(self, pack: DevicePack) -> torch.Tensor:
        """Final hidden states ``(M, hidden)`` (after ``final_norm``) in the model dtype."""
        check_positions(pack, self.max_positions)
        x = self.emb_norm(functional.embedding(pack.input_ids, self.word))
        rows = x.shape[0]
        for layer in self.layers:
            h = layer.attn_norm(x) if layer.attn_norm is not None else x
            cos, sin = self.tables[layer.rope]
            q, k, v = qk_norm_rope(
                layer.qkv(Act(h)), pack.position_ids, cos, sin,
                None, None, 0.0, self.num_heads, self.num_heads,
            )  # fmt: skip
            attn = pack_attention(
                pack, q, k, v, causal=False, scale=self.scale, window=layer.window
            )
            layer.o.add_into(x, Act(attn.reshape(rows, -1)))
            hidden = glu(layer.wi(Act(layer.mlp_norm(x))), self.act, silu=self.silu,
                         quant=layer.wo.fp8)  # fmt: skip
            layer.wo.add_into(x, hidden)
        return self.final_norm(x)
