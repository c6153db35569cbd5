"""The GPU benchmark plan's EmbeddingGemma shape: its config as transformers reads it, the
FLOPs it counts (sliding-window layers count only the keys in the window), and the plan's
sections that measure it."""

from __future__ import annotations

import pytest

from benchmarks.gpu.shapes import FULL_SHAPES, _band_keys, parity_shapes, shapes


def test_band_keys_counts_the_keys_in_the_window() -> None:
    # Length 5, reach 1: the ends see 2 keys, the middle 3.
    assert _band_keys(5, 1, causal=False) == pytest.approx(13 / 5)
    assert _band_keys(5, 1, causal=True) == pytest.approx(9 / 5)
    # A window wider than the sequence is full attention.
    assert _band_keys(5, 4, causal=False) == 5.0
    assert _band_keys(5, 9, causal=True) == 3.0


def test_embeddinggemma_shape() -> None:
    from benchmarks.gpu.models import transformers_config

    shape = FULL_SHAPES["embeddinggemma"]
    config = transformers_config(shape)
    assert config.model_type == "gemma3_text"
    assert config.use_bidirectional_attention
    assert config.sliding_window == 257  # transformers' 512 // 2 + 1: |i - j| < 257
    assert not shape.causal
    assert 300e6 < shape.total_params() < 310e6  # "300m"
    windows = shape.windows()
    assert windows.count(256) == 20
    assert windows.count(None) == 4
    # Inside the window every layer attends to all keys; past it the local layers see fewer.
    per_layer_full = 4.0 * 3 * 256
    assert shape.attention_flops_per_token(200) == pytest.approx(24 * 200 * per_layer_full)
    assert shape.attention_flops_per_token(2048) < 24 * 2048 * per_layer_full


@pytest.mark.parametrize("tiny", [True, False])
def test_the_plan_measures_embeddinggemma(tiny: bool) -> None:
    from benchmarks.gpu import run as gpu_run

    names = [name for name, _, _ in gpu_run.plan_sections(None)]  # type: ignore[arg-type]
    assert {"embeddinggemma/engine", "embeddinggemma/peers"} <= set(names)
    assert shapes(tiny)["embeddinggemma"].arch == "gemma3"
    assert parity_shapes(tiny)["gemma3"].arch == "gemma3"
    # The tiny dry run's 64-token inputs run past its window too.
    if tiny:
        assert shapes(tiny)["embeddinggemma"].windows()[0] == 8
