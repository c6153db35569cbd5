"""Tiny random Gemma3 text models saved as real model folders: EmbeddingGemma's layout
(bidirectional ``Gemma3TextModel`` + mean pooling + two bias-free Dense layers + Normalize) and
the causal variant.

Kept beside :mod:`tests.tiny_models` (whose tokenizer and sentence-transformers helpers it
reuses) rather than inside it: Gemma3 needs layer types, a sliding window, two rotary bases and
non-zero ``(1 + weight)`` norms, none of which the shared factory's config has.

The shape exercises everything that differs from Llama/Qwen: 4 layers alternating sliding and
global attention, a sliding window shorter than the test inputs (``sliding_window=8`` in
config.json: transformers turns a bidirectional model's window into ``8 // 2 + 1 = 5``, i.e.
``|i - j| < 5``; a causal one keeps ``i - j < 8``), grouped-query attention, a
``query_pre_attn_scalar`` other than the head size, and random norm weights (transformers
initialises them to zero, which would hide a missing ``1 +``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ember.engines.types import Pooling
from tests.tiny_models import (
    TINY_MAX_SEQ_LENGTH,
    _tokenizer_facts,
    build_tokenizer,
    write_sentence_transformers_files,
)

#: The config.json ``sliding_window`` of the tiny models (see the module doc).
TINY_GEMMA3_WINDOW = 8
#: Layer types of the tiny models, in order.
TINY_GEMMA3_LAYERS = ("sliding_attention", "full_attention", "sliding_attention", "full_attention")


def gemma3_config(
    vocab: int, pad: int, bos: int, eos: int, *, bidirectional: bool, **sizes: Any
) -> Any:
    """A small ``Gemma3TextConfig`` (see the module doc); ``sizes`` override its shape."""
    import transformers

    values: dict[str, Any] = {
        "vocab_size": vocab,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": len(TINY_GEMMA3_LAYERS),
        "layer_types": list(TINY_GEMMA3_LAYERS),
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 8,
        "query_pre_attn_scalar": 16,
        "sliding_window": TINY_GEMMA3_WINDOW,
        "max_position_embeddings": 512,
        "rope_parameters": {
            "full_attention": {"rope_type": "default", "rope_theta": 1_000_000.0},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
        },
        "use_bidirectional_attention": bidirectional,
        "pad_token_id": pad,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "initializer_range": 0.2,
        "tie_word_embeddings": True,
        **sizes,
    }
    if "num_hidden_layers" in sizes and "layer_types" not in sizes:
        values["layer_types"] = [
            TINY_GEMMA3_LAYERS[i % len(TINY_GEMMA3_LAYERS)]
            for i in range(int(sizes["num_hidden_layers"]))
        ]
    config = transformers.Gemma3TextConfig(**values)
    config.architectures = ["Gemma3TextModel"]
    return config


def make_tiny_gemma3(
    dst: Path,
    *,
    bidirectional: bool = True,
    dense: bool = True,
    pooling: Pooling | None = None,
    seed: int = 0,
    sizes: dict[str, int] | None = None,
) -> Path:
    """Build and save a tiny random Gemma3 text model; return its folder (``dst``).

    ``bidirectional``: EmbeddingGemma's attention (else causal, like Gemma3 LMs). The
    sentence-transformers files say ``pooling`` (default: mean when bidirectional, last token
    when causal), then with ``dense`` two bias-free Identity Dense layers (hidden -> 2 hidden ->
    hidden, EmbeddingGemma's 768 -> 3072 -> 768 in small), then Normalize. The tokenizer is the
    byte-level BPE of :mod:`tests.tiny_models` (adds ``<s>``/``</s>`` like Gemma's BOS/EOS).
    Same arguments and seed, same weights.
    """
    import torch
    import transformers

    dst = Path(dst)
    build_tokenizer("bpe", dst)
    vocab, pad, bos, eos = _tokenizer_facts(dst)
    config = gemma3_config(vocab, pad, bos, eos, bidirectional=bidirectional, **(sizes or {}))
    torch.manual_seed(seed)
    model = transformers.Gemma3TextModel(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:  # zero-initialised by transformers: make (1 + w) visible
                param.copy_(torch.randn_like(param) * 0.3)
    model.save_pretrained(str(dst))
    hidden = int(config.hidden_size)
    chosen = pooling or (Pooling.MEAN if bidirectional else Pooling.LAST_TOKEN)
    write_sentence_transformers_files(
        dst, pooling=chosen, hidden_size=hidden, max_seq_length=TINY_MAX_SEQ_LENGTH
    )
    if dense:
        _add_dense_layers(dst, hidden, seed)
    return dst


def _add_dense_layers(dst: Path, hidden: int, seed: int) -> None:
    """Insert two Dense modules (sentence-transformers' files: ``config.json`` and
    ``model.safetensors`` with ``linear.weight``) before Normalize."""
    import torch
    from safetensors.torch import save_file

    modules = json.loads((dst / "modules.json").read_text(encoding="utf-8"))
    generator = torch.Generator().manual_seed(seed + 1)
    added = []
    for index, (n_in, n_out) in enumerate(((hidden, 2 * hidden), (2 * hidden, hidden)), start=2):
        name = f"{index}_Dense"
        (dst / name).mkdir(exist_ok=True)
        weight = torch.randn(n_out, n_in, generator=generator) * n_in**-0.5
        save_file({"linear.weight": weight}, str(dst / name / "model.safetensors"))
        config = {
            "in_features": n_in,
            "out_features": n_out,
            "bias": False,
            "activation_function": "torch.nn.modules.linear.Identity",
        }
        (dst / name / "config.json").write_text(json.dumps(config), encoding="utf-8")
        added.append(
            {"idx": index, "name": str(index), "path": name,
             "type": "sentence_transformers.models.Dense"}
        )  # fmt: skip
    rest = [
        {**m, "idx": i, "name": str(i)} for i, m in enumerate(modules[2:], start=2 + len(added))
    ]
    if rest:
        # Normalize moves after the Dense layers: rename its folder to its new index.
        old = dst / str(modules[2]["path"])
        new_path = f"{rest[0]['idx']}_Normalize"
        if old.is_dir():
            old.rename(dst / new_path)
        rest[0]["path"] = new_path
    (dst / "modules.json").write_text(
        json.dumps([*modules[:2], *added, *rest], indent=2), encoding="utf-8"
    )
