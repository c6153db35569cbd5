"""The packed forward of Gemma3 text models: EmbeddingGemma (bidirectional) and causal Gemma3.

Built from the weights of the transformers ``Gemma3TextModel`` (``embed_tokens`` with its
``embed_scale``, per layer ``self_attn.{q,k,v,o}_proj`` + ``q_norm``/``k_norm``,
``mlp.{gate,up,down}_proj`` and four norms, ``norm``, ``rotary_emb``); the transformers forward
is never called. What differs from :mod:`.decoder` (Qwen/Llama), and how it is handled:

* RMSNorm multiplies by ``1 + weight`` (float32): folded into one float32 weight at load, so
  the decoder's :func:`~.kernels.rms_norm` and :func:`~.kernels.qk_norm_rope` run unchanged.
* Embeddings are scaled by ``sqrt(hidden)`` rounded to the model dtype (as transformers does).
* Sandwich norms: the attention and MLP outputs are normalised (``post_attention_layernorm``,
  ``post_feedforward_layernorm``) before the residual add; the add rides in the next
  RMSNorm kernel (``rms_norm(x += delta)``), as fp8 outputs do in the decoder.
* The MLP is ``gelu_tanh(gate) * up`` (:func:`~.kernels.gelu_tanh_mul`).
* Attention scale ``query_pre_attn_scalar ** -0.5``; local (``sliding_attention``) and global
  layers have their own rotary bases (one cos/sin table pair per layer type).
* Sliding-window layers: transformers lets query ``i`` see key ``j`` when ``|i - j| < w``
  (bidirectional, ``use_bidirectional_attention``; ``w`` is the config's ``sliding_window``
  after transformers' ``w // 2 + 1`` conversion, the module's ``self_attn.sliding_window``) or
  ``0 <= i - j < w`` (causal). Here that is ``window=(w - 1, w - 1)`` (or ``(w - 1, 0)``) for
  :func:`~.attention.varlen_attention`: flash-attention's window arguments on CUDA, a band mask
  per sequence on the CPU.

Per layer, for ``M`` packed tokens (residual stream ``x``)::

    h      = rmsnorm(x += delta, 1 + w_in)          # delta: the previous MLP branch
    q,k,v  = qk_norm_rope(h @ [Wq; Wk; Wv].T)       # per-head RMSNorm (1 + w), RoPE of the type
    a      = varlen_attention(q, k, v, causal, window of the layer type)
    delta  = rmsnorm(a @ Wo.T, 1 + w_post_attn)
    h      = rmsnorm(x += delta, 1 + w_pre_ff)
    delta  = rmsnorm(gelu_tanh_mul(h @ [Wg; Wu].T) @ Wdown.T, 1 + w_post_ff)

and at the end ``rmsnorm(x += delta, 1 + w_norm)``. Attention logit soft-capping
(``attn_logit_softcapping``, unused by Gemma3 checkpoints) is not implemented and refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from ember.engines.accel.attention import Window, pack_attention
from ember.engines.accel.decoder import STATIC_ROPE_TYPES, find_rotary, rope_tables_by_type
from ember.engines.accel.kernels import Act, gelu_tanh_mul, qk_norm_rope, rms_norm
from ember.engines.accel.linear import PackedLinear
from ember.engines.accel.packing import DevicePack, check_positions
from ember.engines.errors import ModelLoadError

#: ``model_type`` of the Gemma3 text models this module runs.
GEMMA3_TYPES: frozenset[str] = frozenset({"gemma3_text"})
#: The MLP activation names transformers maps to the tanh-approximated GELU Gemma3 uses.
_GELU_TANH = frozenset({"gelu_pytorch_tanh"})


def gemma3_rope_types(config: Mapping[str, object]) -> dict[str, str]:
    """The rotary type of each layer type, from a raw ``config.json``.

    transformers 5 writes ``rope_parameters`` per layer type; older files have ``rope_theta``
    / ``rope_local_base_freq`` (default rotary) and ``rope_scaling`` for the global layers.
    """
    params = config.get("rope_parameters")
    types = {"full_attention": "default", "sliding_attention": "default"}
    if isinstance(params, Mapping) and params:
        for layer_type, value in params.items():
            if isinstance(value, Mapping):
                kind = value.get("rope_type", value.get("type", "default"))
                types[str(layer_type)] = str(kind)
    scaling = config.get("rope_scaling")
    if isinstance(scaling, Mapping):
        types["full_attention"] = str(scaling.get("rope_type", scaling.get("type", "default")))
    return types


def gemma3_support(config: Mapping[str, object]) -> str | None:
    """None when the packed Gemma3 forward runs a model with this ``config.json``, else why not."""
    act = config.get("hidden_activation", config.get("hidden_act", "gelu_pytorch_tanh"))
    if act not in _GELU_TANH:
        return f"gemma3_text with activation {act!r} has no packed forward"
    if config.get("attn_logit_softcapping") is not None:
        return "gemma3_text with attention logit soft-capping has no packed forward"
    for layer_type, rope in gemma3_rope_types(config).items():
        if rope not in STATIC_ROPE_TYPES:
            return f"gemma3_text with rotary type {rope!r} ({layer_type}) has no packed forward"
    return None


def _one_plus(norm: nn.Module) -> torch.Tensor:
    """Gemma's RMSNorm scale ``1 + weight``, in float32 like its forward computes it."""
    weight = norm.weight
    if not isinstance(weight, torch.Tensor):
        raise ModelLoadError(f"a Gemma3 norm without a weight: {norm!r}")
    return (1.0 + weight.detach().float()).contiguous()


@dataclass
class _Layer:
    ln_in: torch.Tensor
    qkv: PackedLinear
    q_norm: torch.Tensor
    k_norm: torch.Tensor
    o: PackedLinear
    ln_post_attn: torch.Tensor
    ln_pre_ff: torch.Tensor
    gate_up: PackedLinear
    down: PackedLinear
    ln_post_ff: torch.Tensor
    #: The key of this layer's rotary tables (its layer type).
    rope: str
    window: Window | None


class PackedGemma3:
    """The packed forward of a ``Gemma3TextModel`` (see the module doc)."""

    def __init__(
        self,
        base: Any,
        *,
        max_positions: int,
        fp8: bool = False,
        fast_accum: bool = False,
    ) -> None:
        config = base.config
        act = str(getattr(config, "hidden_activation", "gelu_pytorch_tanh"))
        if act not in _GELU_TANH:
            raise ModelLoadError(f"packed Gemma3 supports GELU-tanh MLPs, not {act!r}")
        if getattr(config, "attn_logit_softcapping", None) is not None:
            raise ModelLoadError("packed Gemma3 does not implement attention soft-capping")
        #: Bidirectional (EmbeddingGemma) or causal attention, as the model's config says.
        self.causal = not bool(getattr(config, "use_bidirectional_attention", False))
        rotary = find_rotary(base)
        embed = base.embed_tokens
        self.embed_weight: torch.Tensor = embed.weight
        device = self.embed_weight.device
        self.dtype: torch.dtype = self.embed_weight.dtype
        # transformers multiplies by the scale rounded to the weights' dtype (55.5 in bf16).
        self.embed_scale = embed.embed_scale.to(device=device, dtype=self.dtype)
        first = base.layers[0].self_attn
        self.num_q_heads = int(config.num_attention_heads)
        self.num_kv_heads = int(getattr(config, "num_key_value_heads", None) or self.num_q_heads)
        self.head_dim = int(first.head_dim)
        self.hidden_size = int(config.hidden_size)
        self.intermediate_size = int(config.intermediate_size)
        self.scale = float(first.scaling)
        self.max_positions = max_positions
        rope_types: dict[str, str] = dict(getattr(rotary, "rope_type", {}) or {})
        layer_types = list(config.layer_types)
        self.tables = rope_tables_by_type(
            rotary, layer_types, rope_types, max_positions, device, "Gemma3"
        )
        fuse = PackedLinear.fuser(fp8=fp8, fast_accum=fast_accum)
        self.layers: list[_Layer] = []
        for layer, layer_type in zip(base.layers, layer_types, strict=True):
            attn = layer.self_attn
            mlp = layer.mlp
            self.layers.append(
                _Layer(
                    ln_in=_one_plus(layer.input_layernorm),
                    qkv=fuse(attn.q_proj, attn.k_proj, attn.v_proj),
                    q_norm=_one_plus(attn.q_norm),
                    k_norm=_one_plus(attn.k_norm),
                    o=fuse(attn.o_proj),
                    ln_post_attn=_one_plus(layer.post_attention_layernorm),
                    ln_pre_ff=_one_plus(layer.pre_feedforward_layernorm),
                    gate_up=fuse(mlp.gate_proj, mlp.up_proj),
                    down=fuse(mlp.down_proj),
                    ln_post_ff=_one_plus(layer.post_feedforward_layernorm),
                    rope=layer_type,
                    window=self._window(attn.sliding_window),
                )
            )
        # One epsilon for every norm: Gemma3 builds them all from config.rms_norm_eps.
        self.eps = float(base.norm.eps)
        self.norm = _one_plus(base.norm)

    def _window(self, sliding: object) -> Window | None:
        """The attention band of a layer whose module says ``sliding_window`` (None: global)."""
        if not isinstance(sliding, int):
            return None
        if sliding < 1:
            raise ModelLoadError(f"invalid Gemma3 sliding window {sliding}")
        return (sliding - 1, 0 if self.causal else sliding - 1)

    def activation_bytes_per_token(self) -> int:
        """Peak bytes of live activations per packed token inside one layer (see
        :func:`ember.engines.accel.engine.suggest_batch_tokens`)."""
        elem = int(self.dtype.itemsize)
        qkv_width = (self.num_q_heads + 2 * self.num_kv_heads) * self.head_dim
        attention = 2 * qkv_width + self.num_q_heads * self.head_dim + 2 * self.hidden_size
        mlp = 3 * self.intermediate_size + self.hidden_size
        # Residual stream, normed input and the pending branch output live throughout.
        return elem * (3 * self.hidden_size + max(attention, mlp)) + 4 * self.num_q_heads

    def __call__(self, pack: DevicePack) -> torch.Tensor:
        """Final hidden states ``(M, hidden)`` (after ``model.norm``) in the model dtype."""
        check_positions(pack, self.max_positions)
        x = functional.embedding(pack.input_ids, self.embed_weight) * self.embed_scale
        rows = x.shape[0]
        eps = self.eps
        delta: torch.Tensor | None = None
        for layer in self.layers:
            h = rms_norm(x, layer.ln_in, eps, delta, quant=layer.qkv.fp8)
            cos, sin = self.tables[layer.rope]
            q, k, v = qk_norm_rope(
                layer.qkv(h),
                pack.position_ids,
                cos,
                sin,
                layer.q_norm,
                layer.k_norm,
                eps,
                self.num_q_heads,
                self.num_kv_heads,
            )
            attn = pack_attention(
                pack, q, k, v, causal=self.causal, scale=self.scale, window=layer.window
            )
            out = layer.o(Act(attn.reshape(rows, -1)))
            delta = rms_norm(out, layer.ln_post_attn, eps).x
            h = rms_norm(x, layer.ln_pre_ff, eps, delta, quant=layer.gate_up.fp8)
            act = gelu_tanh_mul(layer.gate_up(h), quant=layer.down.fp8)
            delta = rms_norm(layer.down(act), layer.ln_post_ff, eps).x
        return rms_norm(x, self.norm, eps, delta).x
