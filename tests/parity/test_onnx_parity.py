"""The CPU default path (``backend auto`` = ONNX Runtime for encoder embedding models) against
the torch engine on small random-weight models of every encoder architecture, bf16 on the same
graph through OpenVINO, and the fallback to torch for what ONNX does not serve.

The torch engine itself is checked against transformers and sentence-transformers in
``test_embedding_parity.py``; here the exported, fused graph must give the same vectors
(cosine >= 0.9999 in fp32) on inputs of mixed lengths, including the position-id schemes of
RoBERTa/XLM-R (offset by the padding index), MPNet (relative buckets) and the rotary encoders
(ModernBERT with its sliding-window layers, Nomic-BERT, GTE).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ember.engines import registry
from ember.engines.base import Engine
from ember.engines.config import EngineConfig
from ember.engines.onnx_engine import OnnxEngine
from ember.engines.registry import load_engine
from ember.engines.torch_engine import TorchEngine
from ember.engines.types import Pooling, TruncationSide, VectorOutput
from tests.cpu_flags import NATIVE_BF16
from tests.tiny_models import CORPUS, make_tiny_model

TEXTS = (*CORPUS[:10], "x", "word " * 120)


def _vectors(engine: Engine) -> np.ndarray:
    encodings = engine.tokenizer.encode(list(TEXTS), truncate=True, side=TruncationSide.RIGHT)
    out = engine.forward(encodings)
    assert isinstance(out, VectorOutput)
    rows = out.rows / np.linalg.norm(out.rows, axis=1, keepdims=True)
    return rows


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.mark.parametrize(
    ("arch", "pooling"),
    [
        ("bert", Pooling.MEAN),
        ("bert", Pooling.CLS),
        ("roberta", Pooling.MEAN),
        ("xlm-roberta", Pooling.CLS),
        ("mpnet", Pooling.MEAN),
        # Rotary encoders; ModernBERT's local layers see 4 tokens either side in the tiny model.
        ("modernbert", Pooling.MEAN),
        ("nomic-bert", Pooling.MEAN),
        ("gte", Pooling.CLS),
    ],
)
def test_auto_backend_on_cpu_matches_the_torch_engine(
    tmp_path: Path, cache: Path, arch: str, pooling: Pooling
) -> None:
    path = make_tiny_model(tmp_path / arch, arch=arch, head="embedding", pooling=pooling)  # type: ignore[arg-type]
    auto = load_engine(EngineConfig(model_path=path, device="cpu", cache_dir=cache))
    torch_engine = load_engine(EngineConfig(model_path=path, backend="torch", device="cpu"))
    try:
        assert isinstance(auto, OnnxEngine), "the CPU default for encoder embedders is ONNX"
        assert auto.info.backend == "onnx"
        cosine = (_vectors(auto) * _vectors(torch_engine)).sum(axis=1)
        assert cosine.min() >= 0.9999, cosine
    finally:
        auto.close()
        torch_engine.close()


def test_auto_backend_falls_back_to_torch_for_other_kinds(tmp_path: Path, cache: Path) -> None:
    path = make_tiny_model(
        tmp_path / "clf", arch="bert", head="sequence-classification", num_labels=3
    )
    engine = load_engine(EngineConfig(model_path=path, device="cpu", cache_dir=cache))
    try:
        assert isinstance(engine, TorchEngine)
    finally:
        engine.close()


@pytest.mark.skipif(not NATIVE_BF16, reason="bf16 is emulated on this CPU: refused")
@pytest.mark.parametrize("arch", ["bert", "xlm-roberta"])
def test_auto_backend_runs_bfloat16_on_openvino(tmp_path: Path, cache: Path, arch: str) -> None:
    """bf16 on the CPU: the fused graph on OpenVINO, within the bf16 floor of torch fp32."""
    path = make_tiny_model(tmp_path / arch, arch=arch, head="embedding", pooling=Pooling.MEAN)  # type: ignore[arg-type]
    engine = load_engine(
        EngineConfig(model_path=path, device="cpu", dtype="bfloat16", cache_dir=cache)
    )
    fp32 = load_engine(EngineConfig(model_path=path, backend="torch", device="cpu"))
    try:
        assert isinstance(engine, OnnxEngine)
        assert (engine.info.backend, engine.info.dtype) == ("openvino", "bfloat16")
        cosine = (_vectors(engine) * _vectors(fp32)).sum(axis=1)
        assert cosine.min() >= 0.999, cosine
    finally:
        engine.close()
        fp32.close()


def test_auto_backend_uses_torch_for_bfloat16_without_openvino(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "openvino_available", lambda: False)
    path = make_tiny_model(tmp_path / "b", arch="bert", head="embedding", pooling=Pooling.MEAN)
    engine = load_engine(
        EngineConfig(
            model_path=path,
            device="cpu",
            dtype="bfloat16",
            cache_dir=cache,
            allow_slow_precision=True,  # backend choice, not CPU policy
        )
    )
    try:
        assert isinstance(engine, TorchEngine)
        assert engine.info.dtype == "bfloat16"
    finally:
        engine.close()
