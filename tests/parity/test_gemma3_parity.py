"""Gemma3 text models (EmbeddingGemma's bidirectional layout and causal Gemma3) against the
references, on tiny random models whose inputs run past the sliding window (float32, CPU).

* The torch backend (``TorchEngine``): a bidirectional folder is an encoder-style embedder
  (mean pooling + two Dense layers + Normalize, as EmbeddingGemma ships), equal to
  sentence-transformers and to the transformers model run on each input alone and pooled by
  hand; a causal Gemma3 embedder keeps last-token pooling and also equals sentence-transformers.
  Vectors ``rtol=1e-4, atol=1e-5``, cosine >= 0.9999.
* The packed forward (:mod:`ember.engines.accel.gemma3`) against the transformers model, each
  input alone and the right-padded batch: cosine >= 0.9999 per token, max abs error <= 1e-4,
  on lengths up to 33 tokens (windows of 5 and 8); narrowing/widening the window by one or
  dropping it breaks the match, so the check pins transformers' exact window.
* ``PackedEngine`` against ``TorchEngine`` on real tokenized text (rtol 1e-4 / atol 1e-5).
* fp8 (``torch._scaled_mm``'s CPU kernel) against float32: cosine >= 0.98 per token.
* ``packed_support``: what it refuses and why.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
import transformers
from sentence_transformers import SentenceTransformer

from ember.engines.accel.engine import PackedEngine
from ember.engines.accel.gemma3 import PackedGemma3
from ember.engines.accel.model import build_packed_model, packed_support
from ember.engines.accel.packing import DevicePack, DeviceStager, PositionRule, pack_encodings
from ember.engines.config import EngineConfig
from ember.engines.dense import load_dense
from ember.engines.model_folder import inspect_model_folder
from ember.engines.registry import load_engine
from ember.engines.torch_engine import TorchEngine
from ember.engines.types import Encoding, ModelKind, Pooling, TruncationSide, VectorOutput
from ember.engines.vectors import normalize
from tests.tiny_gemma3 import gemma3_config, make_tiny_gemma3
from tests.tiny_models import CORPUS

RIGHT = TruncationSide.RIGHT
Floats = npt.NDArray[np.float32]
#: Mixed lengths; the last ones are far longer than the tiny models' windows (5 and 8).
TEXTS: tuple[str, ...] = (*CORPUS[:10], "x", "word " * 40, "A passage about retrieval. " * 12)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gemma3")


@pytest.fixture(scope="module")
def bidirectional(root: Path) -> Path:
    return make_tiny_gemma3(root / "embeddinggemma", bidirectional=True)


@pytest.fixture(scope="module")
def causal(root: Path) -> Path:
    return make_tiny_gemma3(root / "gemma3-causal", bidirectional=False)


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1).min())


def _engine(path: Path, packed: bool) -> TorchEngine:
    config = EngineConfig(
        model_path=path, backend="torch", device="cpu", dtype="float32", packed=packed
    )
    engine = load_engine(config)
    assert isinstance(engine, TorchEngine)
    assert isinstance(engine, PackedEngine) is packed
    return engine


def _rows(engine: TorchEngine, batch: Sequence[Encoding]) -> Floats:
    out = engine.forward(batch)
    assert isinstance(out, VectorOutput)
    return out.rows


def _embed(engine: TorchEngine, texts: Sequence[str]) -> Floats:
    return _rows(engine, engine.tokenizer.encode(list(texts), truncate=True, side=RIGHT))


def _assert_vectors_close(ours: Floats, ref: Floats) -> None:
    assert ours.shape == ref.shape
    cosine = (normalize(ours) * normalize(ref)).sum(axis=1)
    assert cosine.min() >= 0.9999, cosine
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


# -- the torch backend -------------------------------------------------------------------------


def test_bidirectional_gemma3_is_an_encoder_style_embedder(bidirectional: Path) -> None:
    folder = inspect_model_folder(bidirectional)
    assert folder.model_type == "gemma3_text"
    assert not folder.is_decoder
    assert folder.pooling is not None
    assert folder.pooling.modes == (Pooling.MEAN,)
    assert [d.out_features for d in folder.dense] == [64, 32]
    assert folder.normalize
    # Without sentence-transformers files the default is mean pooling, not CLS or last token.
    bare = bidirectional.parent / "embeddinggemma-bare"
    bare.mkdir(exist_ok=True)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (bare / name).write_bytes((bidirectional / name).read_bytes())
    bare_folder = inspect_model_folder(bare)
    assert bare_folder.pooling is not None
    assert bare_folder.pooling.modes == (Pooling.MEAN,)
    # The causal config stays a decoder.
    config = json.loads((bidirectional / "config.json").read_text())
    config["use_bidirectional_attention"] = False
    (bare / "config.json").write_text(json.dumps(config))
    causal_folder = inspect_model_folder(bare)
    assert causal_folder.is_decoder
    assert causal_folder.pooling is not None
    assert causal_folder.pooling.modes == (Pooling.LAST_TOKEN,)
    # Only types whose transformers class reads the flag become bidirectional.
    config.update(model_type="qwen3", use_bidirectional_attention=True)
    (bare / "config.json").write_text(json.dumps(config))
    assert inspect_model_folder(bare).is_decoder


def _hand_reference(path: Path, texts: Sequence[str]) -> Floats:
    """transformers' Gemma3TextModel on each input alone (eager attention), mean-pooled by hand,
    through the folder's Dense layers."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
    model = transformers.AutoModel.from_pretrained(str(path), attn_implementation="eager").eval()
    assert model.config.use_bidirectional_attention
    dense = [load_dense(layer) for layer in inspect_model_folder(path).dense]
    rows = []
    with torch.no_grad():
        for text in texts:
            inputs = tokenizer(text, truncation=True, max_length=256, return_tensors="pt")
            pooled = model(**inputs).last_hidden_state[0].mean(dim=0, keepdim=True)
            for layer in dense:
                pooled = layer(pooled)
            rows.append(pooled[0])
    return torch.stack(rows).numpy()


def test_torch_engine_matches_transformers_and_sentence_transformers(
    bidirectional: Path,
) -> None:
    engine = _engine(bidirectional, packed=False)
    assert engine.info.pooling is Pooling.MEAN
    assert engine.info.embedding_dim == 32
    texts = list(TEXTS)
    batch = engine.tokenizer.encode(texts, truncate=True, side=RIGHT)
    assert max(len(e) for e in batch) > 40  # well past the 5-token window
    ours = _rows(engine, batch)
    _assert_vectors_close(ours, _hand_reference(bidirectional, texts))
    st = SentenceTransformer(str(bidirectional), device="cpu")
    _assert_vectors_close(normalize(ours), st.encode(texts, convert_to_numpy=True))
    # Padding is invisible: one input alone gives its row in the batch.
    np.testing.assert_allclose(_rows(engine, batch[11:12])[0], ours[11], rtol=1e-4, atol=1e-5)


def test_causal_gemma3_embedder_keeps_working(causal: Path) -> None:
    engine = _engine(causal, packed=False)
    assert engine.folder.is_decoder
    assert engine.info.pooling is Pooling.LAST_TOKEN
    texts = list(TEXTS)
    ours = _embed(engine, texts)
    st = SentenceTransformer(str(causal), device="cpu")
    _assert_vectors_close(normalize(ours), st.encode(texts, convert_to_numpy=True))


def test_auto_backend_serves_bidirectional_gemma3_with_torch(bidirectional: Path) -> None:
    """The ONNX path refuses decoder architectures even when bidirectional; auto falls back."""
    engine = load_engine(EngineConfig(model_path=bidirectional, device="cpu"))
    assert engine.info.backend == "torch"


# -- the packed forward against transformers -----------------------------------------------


def _pack(batch: Sequence[Encoding]) -> DevicePack:
    host = pack_encodings(batch, PositionRule(), token_types=False)
    return DeviceStager(torch.device("cpu")).stage(host)


def _random_batch(vocab: int, lengths: Sequence[int], seed: int) -> list[Encoding]:
    gen = torch.Generator().manual_seed(seed)
    return [Encoding(ids=torch.randint(3, vocab, (n,), generator=gen).tolist()) for n in lengths]


@pytest.mark.parametrize("kind", ["bidirectional", "causal"])
def test_packed_forward_matches_transformers(request: pytest.FixtureRequest, kind: str) -> None:
    path: Path = request.getfixturevalue(kind)
    folder = inspect_model_folder(path)
    assert packed_support(folder) is None
    model = transformers.AutoModel.from_pretrained(str(path), attn_implementation="sdpa").eval()
    lengths = [5, 17, 1, 9, 33, 2, 6]
    batch = _random_batch(model.config.vocab_size, lengths, seed=3)
    pack = _pack(batch)
    packed = build_packed_model(folder, copy.deepcopy(model).base_model)
    assert isinstance(packed, PackedGemma3)
    assert packed.causal is (kind == "causal")
    windows = {layer.window for layer in packed.layers}
    assert windows == {None, (4, 4) if kind == "bidirectional" else (7, 0)}
    with torch.no_grad():
        out = packed(pack)
        alone = torch.cat(
            [model(input_ids=torch.tensor([list(e.ids)])).last_hidden_state[0] for e in batch]
        )
        ids = torch.full((len(batch), max(lengths)), int(model.config.pad_token_id))
        mask = torch.zeros_like(ids)
        for i, enc in enumerate(batch):
            ids[i, : len(enc)] = torch.tensor(list(enc.ids))
            mask[i, : len(enc)] = 1
        padded = model(input_ids=ids, attention_mask=mask).last_hidden_state
    assert out.shape == alone.shape == (sum(lengths), 32)
    assert _cos(out, alone) >= 0.9999
    assert float((out - alone).abs().max()) <= 1e-4
    padded_real = torch.cat([padded[i, :n] for i, n in enumerate(lengths)])
    assert _cos(out, padded_real) >= 0.9999
    # The window is transformers' exactly: one token narrower or wider, or none, differs.
    for change in (-1, 1, None):
        other = copy.copy(packed)
        other.layers = [
            dataclasses.replace(layer, window=_shifted(layer.window, change))
            for layer in packed.layers
        ]
        with torch.no_grad():
            assert float((other(pack) - alone).abs().max()) > 1e-3, change


def _shifted(window: tuple[int, int] | None, change: int | None) -> tuple[int, int] | None:
    if window is None or change is None:
        return None
    left, right = window
    return (left + change, right + change if right else 0)


# -- PackedEngine against TorchEngine ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["bidirectional", "causal"])
def test_packed_engine_matches_torch_engine(request: pytest.FixtureRequest, kind: str) -> None:
    path: Path = request.getfixturevalue(kind)
    packed, padded = _engine(path, packed=True), _engine(path, packed=False)
    assert packed.info.backend == "torch-packed"
    assert dataclasses.replace(packed.info, backend="x") == dataclasses.replace(
        padded.info, backend="x"
    )
    batch = packed.tokenizer.encode(list(TEXTS), truncate=True, side=RIGHT)
    assert len({len(e) for e in batch}) > 5
    ours = _rows(packed, batch)
    np.testing.assert_allclose(ours, _rows(padded, batch), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_rows(packed, batch[12:13])[0], ours[12], rtol=1e-4, atol=1e-5)


# -- fp8 on CPU --------------------------------------------------------------------------------


def test_fp8_forward_stays_close_to_float32(root: Path) -> None:
    """Quantized GEMMs (``torch._scaled_mm`` on the CPU) at fp8-friendly sizes."""
    config = gemma3_config(1000, 0, 2, 1, bidirectional=True, hidden_size=256,
                           intermediate_size=768, num_attention_heads=4, num_key_value_heads=2,
                           head_dim=64, query_pre_attn_scalar=64)  # fmt: skip
    torch.manual_seed(0)
    model = transformers.Gemma3TextModel(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.copy_(torch.randn_like(param) * 0.3)
    path = root / "small-gemma3"
    model.save_pretrained(str(path))
    (path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
    folder = inspect_model_folder(path)
    pack = _pack(_random_batch(1000, [5, 60, 1, 33], seed=1))
    with torch.no_grad():
        ref = build_packed_model(folder, copy.deepcopy(model))(pack)
        fp8_model = build_packed_model(folder, copy.deepcopy(model).bfloat16(), fp8=True)
        out = fp8_model(pack)
    assert isinstance(fp8_model, PackedGemma3)
    assert all(
        layer.qkv.fp8 and layer.o.fp8 and layer.gate_up.fp8 and layer.down.fp8
        for layer in fp8_model.layers
    )
    assert out.dtype == torch.bfloat16
    assert _cos(out.float(), ref) >= 0.98


# -- what packed_support refuses ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"attn_logit_softcapping": 50.0}, "soft-capping"),
        ({"hidden_activation": "silu"}, "activation 'silu'"),
        (
            {"rope_parameters": {
                "full_attention": {"rope_type": "dynamic", "rope_theta": 1e6, "factor": 2.0},
                "sliding_attention": {"rope_type": "default", "rope_theta": 1e4},
            }},
            "rotary type 'dynamic' (full_attention)",
        ),
        ({"rope_scaling": {"rope_type": "longrope"}}, "rotary type 'longrope'"),
    ],
)  # fmt: skip
def test_packed_support_refuses_what_it_does_not_run(
    bidirectional: Path, change: dict[str, Any], reason: str
) -> None:
    folder = inspect_model_folder(bidirectional)
    config = {**folder.config, **change}
    found = packed_support(dataclasses.replace(folder, config=config))
    assert found is not None
    assert reason in found


def test_packed_support_accepts_embeddings_only(bidirectional: Path) -> None:
    folder = inspect_model_folder(bidirectional)
    assert packed_support(folder) is None
    for kind in (ModelKind.CLASSIFIER, ModelKind.LLM_RERANKER):
        reason = packed_support(dataclasses.replace(folder, kind=kind))
        assert reason == f"{kind.value} gemma3_text models run on the padded torch engine"
