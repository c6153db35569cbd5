"""The GPU benchmark's FLOP accounting for the rotary encoders (benchmarks/gpu/shapes.py)."""

from __future__ import annotations

import pytest

from benchmarks.gpu.shapes import FULL_SHAPES, TINY_SHAPES, _band_keys, rotary_parity_shapes


def test_published_parameter_counts() -> None:
    # ModernBERT-base 149M, nomic-embed-text-v1.5 137M (linear layers + input embeddings).
    assert FULL_SHAPES["modernbert-base"].total_params() == pytest.approx(149e6, rel=0.01)
    assert FULL_SHAPES["nomic-v1.5"].total_params() == pytest.approx(137e6, rel=0.01)
    # Gated MLPs count three matrices.
    gte = FULL_SHAPES["gte-base-v1.5"]
    assert gte.linear_params_per_layer() == 4 * 768 * 768 + 3 * 768 * 3072


def test_modernbert_local_layers_cost_less_attention() -> None:
    shape = FULL_SHAPES["modernbert-base"]
    windows = shape.windows()
    # 22 layers, every third global; local layers see 64 tokens either side.
    assert windows[:4] == [None, 64, 64, None]
    assert windows.count(64) == 14
    d_attn = shape.heads * shape.head_dim
    assert shape.attention_flops_per_token(100) == pytest.approx(
        4 * d_attn * (8 * 100 + 14 * _band_keys(100, 64, causal=False))
    )
    assert shape.attention_flops_per_token(60) == pytest.approx(4 * d_attn * 22 * 60)
    assert FULL_SHAPES["nomic-v1.5"].windows() == [None] * 12


def test_tiny_twins_keep_the_architecture() -> None:
    for name, shape in TINY_SHAPES.items():
        assert shape.arch == FULL_SHAPES[name].arch
    assert set(rotary_parity_shapes(tiny=True)) == {"modernbert", "nomic_bert", "gte"}
    assert set(rotary_parity_shapes(tiny=False)) == {"modernbert", "nomic_bert", "gte"}
