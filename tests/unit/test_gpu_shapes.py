"""The GPU benchmark's FLOP accounting for the rotary encoders (benchmarks/gpu/shapes.py)."""

from __future__ import annotations

import pytest

from benchmarks.gpu.shapes import FULL_SHAPES, TINY_SHAPES, _band, rotary_parity_shapes


def test_published_parameter_counts() -> None:
    # ModernBERT-base 149M, nomic-embed-text-v1.5 137M (linear layers + input embeddings).
    assert FULL_SHAPES["modernbert-base"].total_params() == pytest.approx(149e6, rel=0.01)
    assert FULL_SHAPES["nomic-v1.5"].total_params() == pytest.approx(137e6, rel=0.01)
    # Gated MLPs count three matrices.
    gte = FULL_SHAPES["gte-base-v1.5"]
    assert gte.linear_params_per_layer() == 4 * 768 * 768 + 3 * 768 * 3072


def test_band_counts_the_keys_inside_the_window() -> None:
    assert _band(5, 64) == 5.0  # shorter than the window: every key
    assert _band(3, 1) == pytest.approx(7 / 3)  # rows see 2, 3, 2 keys
    assert _band(10_000, 64) == pytest.approx(129, rel=0.01)


def test_modernbert_local_layers_cost_less_attention() -> None:
    shape = FULL_SHAPES["modernbert-base"]
    local, window = shape.local_layers()
    assert (local, window) == (14, 64)  # 22 layers, every third global
    d_attn = shape.heads * shape.head_dim
    assert shape.attention_flops_per_token(100) == pytest.approx(
        4 * d_attn * (8 * 100 + 14 * _band(100, 64))
    )
    assert FULL_SHAPES["bert-base"].local_layers() == (0, 0)


def test_tiny_twins_keep_the_architecture() -> None:
    for name, shape in TINY_SHAPES.items():
        assert shape.arch == FULL_SHAPES[name].arch
    assert set(rotary_parity_shapes(tiny=True)) == {"modernbert", "nomic_bert", "gte"}
    assert set(rotary_parity_shapes(tiny=False)) == {"modernbert", "nomic_bert", "gte"}
