"""The packed forward of decoder-only models: Qwen2, Qwen3, Llama, Mistral.

Built from the weights of the transformers base model (``model.embed_tokens``,
``model.layers[i].self_attn.{q,k,v,o}_proj`` (+ Qwen3's ``q_norm``/``k_norm``),
``model.layers[i].mlp.{gate,up,down}_proj``, ``input_layernorm``, ``post_attention_layernorm``,
``model.norm``, ``model.rotary_emb``); the transformers forward itself is never called, so
changes in how transformers threads attention arguments do not reach this path.

Per layer, for ``M`` packed tokens (pre-norm residual stream ``x``)::

    h      = rmsnorm(x)                   # one kernel; fp8 + scales when qkv is fp8
    qkv    = h @ [Wq; Wk; Wv].T (+ b)     # one GEMM
    q,k,v  = qk_norm_rope(qkv)            # one kernel: per-head RMSNorm (Qwen3), RoPE, split
    a      = varlen_attention(q, k, v, causal=True)
    x     += a @ Wo.T                     # bf16: in the GEMM epilogue (addmm_, beta=1)
    h      = rmsnorm(x)
    gu     = h @ [Wgate; Wup].T           # one GEMM
    x     += silu_mul(gu) @ Wdown.T       # silu_mul writes fp8 + scales when down is fp8

and at the end ``rmsnorm(x)`` with ``model.norm``. With fp8 GEMMs (no C input) the residual
add moves into the next RMSNorm kernel instead (``rmsnorm(x += delta)``, one pass).
Embeddings, norms, attention and the rotary tables stay in the model dtype / float32 whatever
the GEMM precision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from ember.engines.accel.attention import pack_attention
from ember.engines.accel.kernels import Act, qk_norm_rope, rms_norm, silu_mul
from ember.engines.accel.linear import PackedLinear
from ember.engines.accel.packing import DevicePack, check_positions
from ember.engines.errors import ModelLoadError

#: Rotary variants whose frequencies are fixed at load time (what the tables below assume).
STATIC_ROPE_TYPES: frozenset[str] = frozenset({"default", "linear", "llama3", "yarn"})


def _eps(norm: nn.Module) -> float:
    value = getattr(norm, "variance_epsilon", None)
    if value is None:
        value = getattr(norm, "eps", 1e-6)
    return float(value) if isinstance(value, (int, float)) else 1e-6


@dataclass
class _Layer:
    ln1: torch.Tensor
    ln1_eps: float
    qkv: PackedLinear
    q_norm: torch.Tensor | None
    k_norm: torch.Tensor | None
    qk_eps: float
    o: PackedLinear
    ln2: torch.Tensor
    ln2_eps: float
    gate_up: PackedLinear
    down: PackedLinear


def rope_tables(
    rotary: nn.Module, positions: int, device: torch.device, layer_type: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(positions, head_dim / 2)`` float32 cos and sin tables of a transformers rotary module.

    Same arithmetic as the module's forward (``freqs = pos * inv_freq`` in float32, times its
    ``attention_scaling``); the rotate-half layout repeats them for the second half. A module
    with one set of frequencies per layer type (Gemma3: ``sliding_attention_inv_freq``, ...)
    is read for ``layer_type``.
    """
    prefix = f"{layer_type}_" if layer_type is not None else ""
    inv_freq = getattr(rotary, f"{prefix}inv_freq", None)
    if not isinstance(inv_freq, torch.Tensor):
        raise ModelLoadError(f"the model's rotary embedding has no {prefix}inv_freq buffer")
    scaling = float(getattr(rotary, f"{prefix}attention_scaling", 1.0))
    pos = torch.arange(positions, device=device, dtype=torch.float32)
    freqs = pos[:, None] * inv_freq.to(device=device, dtype=torch.float32)[None, :]
    return (freqs.cos() * scaling).contiguous(), (freqs.sin() * scaling).contiguous()


def rope_tables_by_type(
    rotary: nn.Module,
    layer_types: Iterable[str],
    rope_types: Mapping[str, str],
    max_positions: int,
    device: torch.device,
    model: str,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """:func:`rope_tables` for each distinct layer type (models whose global and local layers
    rotate with different frequencies: ModernBERT, Gemma3), keyed by the type.

    ``rope_types`` maps a layer type to its rotary variant (missing: ``"default"``); a variant
    outside :data:`STATIC_ROPE_TYPES` raises :class:`ModelLoadError` naming ``model``.
    """
    tables: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for layer_type in sorted(set(layer_types)):
        kind = str(rope_types.get(layer_type, "default"))
        if kind not in STATIC_ROPE_TYPES:
            raise ModelLoadError(
                f"packed {model} supports rotary types {sorted(STATIC_ROPE_TYPES)}, not "
                f"{kind!r} ({layer_type})"
            )
        tables[layer_type] = rope_tables(rotary, max_positions, device, layer_type)
    return tables


def find_rotary(base: Any) -> nn.Module:
    """The model's rotary embedding module (model level in transformers 5)."""
    rotary = getattr(base, "rotary_emb", None)
    if rotary is None:
        layers = getattr(base, "layers", None)
        if layers:
            rotary = getattr(layers[0].self_attn, "rotary_emb", None)
    if not isinstance(rotary, nn.Module):
        raise ModelLoadError("cannot find the model's rotary embedding (rotary_emb)")
    return rotary


class PackedDecoder:
    """The packed forward of a Qwen2/Qwen3/Llama/Mistral base model (see the module doc)."""

    causal = True

    def __init__(
        self,
        base: Any,
        *,
        max_positions: int,
        fp8: bool = False,
        fast_accum: bool = False,
    ) -> None:
        config = base.config
        act = str(getattr(config, "hidden_act", "silu"))
        if act != "silu":
            raise ModelLoadError(f"packed decoder supports SiLU MLPs, not {act!r}")
        rotary = find_rotary(base)
        rope_type = str(getattr(rotary, "rope_type", "default"))
        if rope_type not in STATIC_ROPE_TYPES:
            raise ModelLoadError(
                f"packed decoder supports rotary types {sorted(STATIC_ROPE_TYPES)}, "
                f"not {rope_type!r}"
            )
        embed = base.embed_tokens
        self.embed_weight: torch.Tensor = embed.weight
        device = self.embed_weight.device
        self.dtype: torch.dtype = self.embed_weight.dtype
        first = base.layers[0].self_attn
        self.num_q_heads = int(config.num_attention_heads)
        self.num_kv_heads = int(getattr(config, "num_key_value_heads", None) or self.num_q_heads)
        self.head_dim = int(first.head_dim)
        self.hidden_size = int(config.hidden_size)
        self.intermediate_size = int(config.intermediate_size)
        self.scale = float(getattr(first, "scaling", self.head_dim**-0.5))
        self.max_positions = max_positions
        self.cos, self.sin = rope_tables(rotary, max_positions, device)
        fuse = PackedLinear.fuser(fp8=fp8, fast_accum=fast_accum)
        self.layers: list[_Layer] = []
        for layer in base.layers:
            attn = layer.self_attn
            mlp = layer.mlp
            q_norm = getattr(attn, "q_norm", None)
            k_norm = getattr(attn, "k_norm", None)
            self.layers.append(
                _Layer(
                    ln1=layer.input_layernorm.weight,
                    ln1_eps=_eps(layer.input_layernorm),
                    qkv=fuse(attn.q_proj, attn.k_proj, attn.v_proj),
                    q_norm=q_norm.weight if q_norm is not None else None,
                    k_norm=k_norm.weight if k_norm is not None else None,
                    qk_eps=_eps(q_norm) if q_norm is not None else 1e-6,
                    o=fuse(attn.o_proj),
                    ln2=layer.post_attention_layernorm.weight,
                    ln2_eps=_eps(layer.post_attention_layernorm),
                    gate_up=fuse(mlp.gate_proj, mlp.up_proj),
                    down=fuse(mlp.down_proj),
                )
            )
        self.norm = base.norm.weight
        self.norm_eps = _eps(base.norm)

    def activation_bytes_per_token(self) -> int:
        """Peak bytes of live activations per packed token inside one layer (see
        :func:`ember.engines.accel.engine.suggest_batch_tokens`)."""
        elem = int(self.dtype.itemsize)
        qkv_width = (self.num_q_heads + 2 * self.num_kv_heads) * self.head_dim
        attention = 2 * qkv_width + self.num_q_heads * self.head_dim + self.hidden_size
        mlp = 3 * self.intermediate_size
        # Residual stream, normed input and the previous layer's output live throughout.
        return elem * (3 * self.hidden_size + max(attention, mlp)) + 4 * self.num_q_heads

    def __call__(self, pack: DevicePack) -> torch.Tensor:
        """Final hidden states ``(M, hidden)`` (after ``model.norm``) in the model dtype."""
        check_positions(pack, self.max_positions)
        x = functional.embedding(pack.input_ids, self.embed_weight)
        rows = x.shape[0]
        # A pending residual add: fp8 GEMM outputs are added by the next RMSNorm kernel;
        # bf16 GEMMs add into x themselves (PackedLinear.add_into).
        delta: torch.Tensor | None = None
        for layer in self.layers:
            h = rms_norm(x, layer.ln1, layer.ln1_eps, delta, quant=layer.qkv.fp8)
            qkv = layer.qkv(h)
            q, k, v = qk_norm_rope(
                qkv,
                pack.position_ids,
                self.cos,
                self.sin,
                layer.q_norm,
                layer.k_norm,
                layer.qk_eps,
                self.num_q_heads,
                self.num_kv_heads,
            )
            attn = pack_attention(pack, q, k, v, causal=True, scale=self.scale)
            attn_act = Act(attn.reshape(rows, -1))
            delta = None
            if layer.o.fp8:
                delta = layer.o(attn_act)
            else:
                layer.o.add_into(x, attn_act)
            h = rms_norm(x, layer.ln2, layer.ln2_eps, delta, quant=layer.gate_up.fp8)
            act = silu_mul(layer.gate_up(h), quant=layer.down.fp8)
            delta = None
            if layer.down.fp8:
                delta = layer.down(act)
            else:
                layer.down.add_into(x, act)
        return rms_norm(x, self.norm, self.norm_eps, delta).x
