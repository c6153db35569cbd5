"""Choosing the packed engine, which folders it runs, and the batch-size suggestion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from ember.engines.accel.engine import choose_packed, suggest_batch_tokens
from ember.engines.accel.model import packed_support, position_rule
from ember.engines.config import EngineConfig
from ember.engines.model_folder import ModelFolder
from ember.engines.types import ModelKind

GIB = 1 << 30


def _folder(model_type: str, kind: ModelKind = ModelKind.EMBEDDING, **config: Any) -> ModelFolder:
    return ModelFolder(
        path=Path("/nowhere"),
        model_id="m",
        architecture=f"{model_type}Model",
        model_type=model_type,
        kind=kind,
        is_decoder=model_type in ("qwen2", "qwen3", "llama", "mistral"),
        max_input_length=512,
        vocab_size=100,
        hidden_size=32,
        config={"model_type": model_type, **config},
    )


@pytest.mark.parametrize("model_type", ["bert", "roberta", "xlm-roberta", "qwen2", "qwen3",
                                        "llama", "mistral"])  # fmt: skip
def test_supported_architectures(model_type: str) -> None:
    assert packed_support(_folder(model_type)) is None
    assert packed_support(_folder(model_type, ModelKind.CLASSIFIER)) is None


@pytest.mark.parametrize(
    ("folder", "reason"),
    [
        (_folder("mpnet"), "mpnet has no packed forward"),
        (_folder("bert", ModelKind.SPARSE_EMBEDDING), "padded torch engine"),
        (_folder("bert", ModelKind.LLM_RERANKER), "padded torch engine"),
        (_folder("bert", position_embedding_type="relative_key"), "position embeddings"),
        (_folder("llama", hidden_act="gelu"), "activation 'gelu'"),
        (_folder("llama", rope_parameters={"rope_type": "dynamic"}), "rotary type 'dynamic'"),
        (_folder("qwen2", rope_scaling={"type": "longrope"}), "rotary type 'longrope'"),
        (_folder("llama", partial_rotary_factor=0.5), "partial rotary"),
        (_folder("mistral", sliding_window=128), "128-token sliding window"),
        (_folder("qwen2", sliding_window=128, use_sliding_window=True), "sliding window"),
    ],
)
def test_unsupported_folders_say_why(folder: ModelFolder, reason: str) -> None:
    message = packed_support(folder)
    assert message is not None
    assert reason in message


def test_windows_that_cannot_bind_are_fine() -> None:
    assert packed_support(_folder("mistral", sliding_window=4096)) is None
    assert packed_support(_folder("qwen2", sliding_window=128, use_sliding_window=False)) is None
    assert packed_support(_folder("llama", rope_parameters={"rope_type": "llama3"})) is None


def test_position_rules() -> None:
    assert position_rule(_folder("bert")).padding_idx is None
    assert position_rule(_folder("qwen3")).padding_idx is None
    assert position_rule(_folder("roberta", pad_token_id=1)).padding_idx == 1
    assert position_rule(_folder("xlm-roberta", pad_token_id=3)).padding_idx == 3


def test_choose_packed(minilm_path: Path) -> None:
    base = EngineConfig(model_path=minilm_path, device="cpu")
    assert not choose_packed(base)
    assert choose_packed(EngineConfig(model_path=minilm_path, device="cpu", packed=True))
    assert not choose_packed(EngineConfig(model_path=minilm_path, device="cuda", packed=False))
    # fp8 always goes to the packed engine, which explains what hardware it needs.
    assert choose_packed(EngineConfig(model_path=minilm_path, device="cpu", quantization="fp8"))
    # Auto on CUDA: packed for supported folders (MiniLM is a BERT) in bf16/fp16 only.
    assert choose_packed(EngineConfig(model_path=minilm_path, device="cuda"))
    assert choose_packed(EngineConfig(model_path=minilm_path, device="cuda", dtype="float16"))
    assert not choose_packed(EngineConfig(model_path=minilm_path, device="cuda", dtype="float32"))
    expected = torch.cuda.is_available()
    assert choose_packed(EngineConfig(model_path=minilm_path, device="auto")) is expected


def test_suggest_batch_tokens_formula() -> None:
    per_token = 100_000  # ~ the 4B decoder's peak bytes per token
    tokens = suggest_batch_tokens(
        40 * GIB, per_token, total_bytes=80 * GIB, min_tokens=512, cap=1 << 20
    )
    reserve = int(0.08 * 80 * GIB)
    assert tokens == int((40 * GIB - reserve) / (per_token * 1.5)) // 256 * 256
    assert tokens % 256 == 0
    # Capped, and never below one full-length input.
    assert suggest_batch_tokens(40 * GIB, per_token, total_bytes=80 * GIB, min_tokens=512) == 32768
    assert suggest_batch_tokens(0, per_token, total_bytes=80 * GIB, min_tokens=512) == 512
    # The reserve is at least 1 GiB on small devices.
    small = suggest_batch_tokens(2 * GIB, 1000, total_bytes=4 * GIB, min_tokens=1, cap=1 << 30)
    assert small == int(GIB / 1500) // 256 * 256
