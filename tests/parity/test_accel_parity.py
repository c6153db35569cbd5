"""Parity of the packed (varlen) forward and ``PackedEngine`` with transformers and TorchEngine.

* The packed forward of every packed architecture (bert, roberta, xlm-roberta, qwen2, qwen3,
  llama, mistral; tiny random models, float32, CPU) on one batch of mixed lengths, against the
  transformers model run on each input alone and on the padded batch: cosine >= 0.9999 per
  token, max abs error <= 1e-4.
* ``PackedEngine`` against ``TorchEngine`` (itself checked against transformers and
  sentence-transformers in test_embedding_parity.py) on real tokenized text: embeddings with
  each pooling mode, prompts left out of pooling, sequence classification, token
  classification, the LLM reranker; rtol 1e-4 / atol 1e-5.
* The fp8 forward (weights and activations quantized, ``torch._scaled_mm``'s CPU kernel) of a
  small Qwen3 and BERT against float32: cosine >= 0.98 per token (an fp8 quality floor; the GPU
  test reports the real number).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
import transformers

from ember.engines.accel.engine import PackedEngine
from ember.engines.accel.model import build_packed_model, position_rule
from ember.engines.accel.packing import DevicePack, DeviceStager, PositionRule, pack_encodings
from ember.engines.config import EngineConfig
from ember.engines.errors import ModelLoadError
from ember.engines.model_folder import inspect_model_folder
from ember.engines.registry import load_engine
from ember.engines.torch_engine import TorchEngine
from ember.engines.types import (
    Encoding,
    ModelKind,
    Pooling,
    TokenLogitsOutput,
    TruncationSide,
    VectorOutput,
)
from tests.tiny_models import CORPUS, Arch, make_tiny_model

RIGHT = TruncationSide.RIGHT
Floats = npt.NDArray[np.float32]
PACKED_ARCHS: tuple[Arch, ...] = ("bert", "roberta", "xlm-roberta", "qwen2", "qwen3", "llama",
                                  "mistral")  # fmt: skip
ENCODERS: tuple[Arch, ...] = ("bert", "roberta", "xlm-roberta")
TEXTS: tuple[str, ...] = (*CORPUS[:10], "x", "word " * 120)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("accel-tiny")


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1).min())


def _stage(batch: Sequence[Encoding], folder: Any, base: Any, types: bool = False) -> DevicePack:
    host = pack_encodings(batch, position_rule(folder, base), token_types=types)
    return DeviceStager(torch.device("cpu")).stage(host)


def _random_batch(vocab: int, lengths: Sequence[int], seed: int, pairs: bool = False
                  ) -> list[Encoding]:  # fmt: skip
    gen = torch.Generator().manual_seed(seed)
    batch = []
    for n in lengths:
        ids = torch.randint(3, vocab, (n,), generator=gen).tolist()
        types = [0] * (n // 2) + [1] * (n - n // 2) if pairs else None
        batch.append(Encoding(ids=ids, type_ids=types))
    return batch


# -- the packed forward against transformers -----------------------------------------------


@pytest.mark.parametrize("arch", PACKED_ARCHS)
def test_packed_forward_matches_transformers(tiny_root: Path, arch: Arch) -> None:
    path = make_tiny_model(tiny_root / f"{arch}-emb", arch=arch, head="embedding")
    folder = inspect_model_folder(path)
    model = transformers.AutoModel.from_pretrained(str(path), attn_implementation="sdpa").eval()
    lengths = [5, 17, 1, 9, 33, 2]
    pairs = arch == "bert"
    batch = _random_batch(model.config.vocab_size, lengths, seed=len(arch), pairs=pairs)
    pack = _stage(batch, folder, model.base_model, types=pairs)
    packed = build_packed_model(folder, copy.deepcopy(model).base_model)
    with torch.no_grad():
        out = packed(pack)
        alone = []
        for enc in batch:
            kwargs: dict[str, torch.Tensor] = {"input_ids": torch.tensor([list(enc.ids)])}
            if enc.type_ids is not None:
                kwargs["token_type_ids"] = torch.tensor([list(enc.type_ids)])
            alone.append(model(**kwargs).last_hidden_state[0])
        ids = torch.full((len(batch), max(lengths)), model.config.pad_token_id or 0)
        mask = torch.zeros_like(ids)
        types = torch.zeros_like(ids)
        for i, enc in enumerate(batch):
            ids[i, : len(enc)] = torch.tensor(list(enc.ids))
            mask[i, : len(enc)] = 1
            if enc.type_ids is not None:
                types[i, : len(enc)] = torch.tensor(list(enc.type_ids))
        extra = {"token_type_ids": types} if pairs else {}
        padded = model(input_ids=ids, attention_mask=mask, **extra).last_hidden_state
    ref = torch.cat(alone)
    assert out.shape == ref.shape == (sum(lengths), model.config.hidden_size)
    assert _cos(out, ref) >= 0.9999
    assert float((out - ref).abs().max()) <= 1e-4
    padded_real = torch.cat([padded[i, :n] for i, n in enumerate(lengths)])
    assert _cos(out, padded_real) >= 0.9999


def test_mpnet_stays_on_the_padded_engine(tiny_root: Path) -> None:
    path = make_tiny_model(tiny_root / "mpnet-emb", arch="mpnet", head="embedding")
    engine = load_engine(EngineConfig(model_path=path, backend="torch", device="cpu"))
    assert type(engine) is TorchEngine
    with pytest.raises(ModelLoadError, match="mpnet has no packed forward"):
        load_engine(EngineConfig(model_path=path, backend="torch", device="cpu", packed=True))


# -- PackedEngine against TorchEngine --------------------------------------------------------


def _engines(path: Path, **kwargs: Any) -> tuple[PackedEngine, TorchEngine]:
    packed = load_engine(
        EngineConfig(model_path=path, backend="torch", device="cpu", packed=True, **kwargs)
    )
    padded = load_engine(
        EngineConfig(model_path=path, backend="torch", device="cpu", packed=False, **kwargs)
    )
    assert isinstance(packed, PackedEngine)
    assert type(padded) is TorchEngine
    assert packed.info.backend == "torch-packed"
    assert dataclass_fields_equal(packed, padded)
    return packed, padded


def dataclass_fields_equal(a: PackedEngine, b: TorchEngine) -> bool:
    """Both engines describe the model the same way (except the backend name)."""
    import dataclasses

    return dataclasses.replace(a.info, backend="x") == dataclasses.replace(b.info, backend="x")


def _rows(engine: TorchEngine, batch: Sequence[Encoding]) -> Floats:
    out = engine.forward(batch)
    assert isinstance(out, VectorOutput)
    assert out.rows.dtype == np.float32
    return out.rows


@pytest.mark.parametrize(
    ("arch", "pooling"),
    [
        ("bert", Pooling.MEAN),
        ("bert", Pooling.CLS),
        ("bert", Pooling.MAX),
        ("roberta", Pooling.MEAN),
        ("xlm-roberta", Pooling.WEIGHTED_MEAN),
        ("qwen2", Pooling.LAST_TOKEN),
        ("qwen3", Pooling.LAST_TOKEN),
        ("qwen3", Pooling.MEAN),
        ("llama", Pooling.LAST_TOKEN),
        ("mistral", Pooling.MEAN_SQRT_LEN),
    ],
)
def test_embeddings_match_torch_engine(tiny_root: Path, arch: Arch, pooling: Pooling) -> None:
    path = make_tiny_model(
        tiny_root / f"{arch}-{pooling.value}", arch=arch, head="embedding", pooling=pooling
    )
    packed, padded = _engines(path)
    batch = packed.tokenizer.encode(list(TEXTS), truncate=True, side=RIGHT)
    assert len({len(e) for e in batch}) > 3  # mixed lengths
    ours, ref = _rows(packed, batch), _rows(padded, batch)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)
    # One input alone gives the same row as inside the batch.
    np.testing.assert_allclose(_rows(packed, batch[3:4])[0], ours[3], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch", ["bert", "qwen3"])
def test_prompt_left_out_of_pooling(tiny_root: Path, arch: Arch) -> None:
    path = make_tiny_model(tiny_root / f"{arch}-prompt", arch=arch, head="embedding",
                           pooling=Pooling.MEAN)  # fmt: skip
    config_path = path / "1_Pooling" / "config.json"
    pooling = json.loads(config_path.read_text())
    pooling["include_prompt"] = False
    config_path.write_text(json.dumps(pooling))
    packed, padded = _engines(path)
    batch = packed.tokenizer.encode(list(TEXTS[:6]), truncate=True, side=RIGHT, prompt="query: ")
    plain = packed.tokenizer.encode(list(TEXTS[6:9]), truncate=True, side=RIGHT)
    mixed = [*batch, *plain]
    assert batch[0].prompt_length > 0
    ours = _rows(packed, mixed)
    np.testing.assert_allclose(ours, _rows(padded, mixed), rtol=1e-4, atol=1e-5)
    # Excluding the prompt changed the vectors.
    included = [Encoding(ids=e.ids) for e in batch]
    assert not np.allclose(_rows(packed, included), ours[: len(batch)], atol=1e-4)


@pytest.mark.parametrize("arch", ["bert", "roberta", "xlm-roberta", "qwen3", "llama"])
def test_sequence_classification_matches_torch_engine(tiny_root: Path, arch: Arch) -> None:
    path = make_tiny_model(tiny_root / f"{arch}-cls", arch=arch, head="sequence-classification",
                           num_labels=3)  # fmt: skip
    packed, padded = _engines(path)
    singles = packed.tokenizer.encode(list(TEXTS), truncate=True, side=RIGHT)
    pairs = packed.tokenizer.encode_pairs(
        [("which city?", t) for t in TEXTS], truncate=True, side=RIGHT
    )
    for batch in (singles, pairs):
        ours = _rows(packed, batch)
        assert ours.shape == (len(TEXTS), 3)
        np.testing.assert_allclose(ours, _rows(padded, batch), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch", ["bert", "roberta", "xlm-roberta"])
def test_token_classification_matches_torch_engine(tiny_root: Path, arch: Arch) -> None:
    path = make_tiny_model(tiny_root / f"{arch}-tok", arch=arch, head="token-classification",
                           id2label={0: "O", 1: "B-PER", 2: "I-PER"})  # fmt: skip
    packed, padded = _engines(path)
    batch = packed.tokenizer.encode(list(TEXTS), truncate=True, side=RIGHT, offsets=True)
    ours, ref = packed.forward(batch), padded.forward(batch)
    assert isinstance(ours, TokenLogitsOutput)
    assert isinstance(ref, TokenLogitsOutput)
    for enc, a, b in zip(batch, ours.logits, ref.logits, strict=True):
        assert a.shape == (len(enc), 3)
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_llm_reranker_matches_torch_engine(tiny_root: Path) -> None:
    path = make_tiny_model(tiny_root / "tiny-qwen3-reranker", arch="qwen3", head="causal-lm",
                           tokenizer="wordpiece")  # fmt: skip
    packed, padded = _engines(path)
    assert packed.info.kind is ModelKind.LLM_RERANKER
    docs = ["Paris is the capital of France.", "Bananas are yellow.", "word " * 60]
    batch = packed.tokenizer.encode_pairs(
        [("what is the capital of france?", d) for d in docs], truncate=True, side=RIGHT
    )
    ours = _rows(packed, batch)
    assert ours.shape == (3, 1)
    np.testing.assert_allclose(ours, _rows(padded, batch), rtol=1e-4, atol=1e-5)


def test_suggested_batch_tokens_is_none_on_cpu_and_close_releases(tiny_root: Path) -> None:
    path = make_tiny_model(tiny_root / "qwen3-close", arch="qwen3", head="embedding")
    engine, _ = _engines(path)
    assert engine.suggested_batch_tokens() is None
    assert engine.accel_status() == {"flash": None, "triton": None}
    engine.warmup(max_batch_tokens=512, max_batch_requests=8)
    engine.close()
    with pytest.raises(Exception, match="closed"):
        engine.forward(engine.tokenizer.encode(["x"], truncate=True, side=RIGHT))


def test_from_model_with_a_weightless_folder(tiny_root: Path) -> None:
    """What the GPU benchmark does: a model built in memory, a folder without weights."""
    path = make_tiny_model(tiny_root / "qwen3-weightless", arch="qwen3", head="embedding")
    model = transformers.AutoModel.from_pretrained(str(path)).eval()
    reference = load_engine(
        EngineConfig(model_path=path, backend="torch", device="cpu", packed=False)
    )
    for weights in path.glob("*.safetensors"):
        weights.unlink()
    engine = PackedEngine.from_model(path, None, model, "cpu", torch.float32)
    batch = engine.tokenizer.encode(list(TEXTS), truncate=True, side=RIGHT)
    assert isinstance(reference, TorchEngine)
    np.testing.assert_allclose(_rows(engine, batch), _rows(reference, batch), rtol=1e-4,
                               atol=1e-5)  # fmt: skip
    # The transformers model still runs (its q/k/v and gate/up weights are views now).
    with torch.no_grad():
        model(input_ids=torch.tensor([[5, 6, 7]]))


# -- fp8 on CPU --------------------------------------------------------------------------------


def _small(arch: str) -> Any:
    common: dict[str, Any] = {"vocab_size": 1000, "hidden_size": 256, "intermediate_size": 768,
              "num_hidden_layers": 2, "num_attention_heads": 4,
              "max_position_embeddings": 512}  # fmt: skip
    config: Any
    if arch == "qwen3":
        config = transformers.Qwen3Config(num_key_value_heads=2, head_dim=64, **common)
    else:
        config = transformers.BertConfig(**common)
    torch.manual_seed(0)
    auto: Any = transformers.AutoModel
    return auto.from_config(config).eval()


@pytest.mark.parametrize("arch", ["qwen3", "bert"])
def test_fp8_forward_stays_close_to_float32(tiny_root: Path, arch: str) -> None:
    model = _small(arch)
    path = tiny_root / f"small-{arch}"
    model.save_pretrained(str(path))
    (path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
    folder = inspect_model_folder(path)
    batch = _random_batch(1000, [5, 60, 1, 33], seed=1)
    pack = _stage(batch, folder, model.base_model)
    with torch.no_grad():
        ref = build_packed_model(folder, copy.deepcopy(model).base_model)(pack)
        fp8_model = build_packed_model(folder, copy.deepcopy(model).bfloat16().base_model,
                                       fp8=True)  # fmt: skip
        out = fp8_model(pack)
    layers: list[Any] = getattr(fp8_model, "layers")  # noqa: B009
    assert all(layer.qkv.fp8 and layer.o.fp8 for layer in layers)
    assert out.dtype == torch.bfloat16
    assert _cos(out.float(), ref) >= 0.98


def test_positions_beyond_the_tables_are_refused_on_the_host(tiny_root: Path) -> None:
    """An out-of-range embedding/rotary row would be a device-side fault on CUDA."""
    from ember.engines.accel.decoder import PackedDecoder
    from ember.engines.errors import EngineError

    path = make_tiny_model(tiny_root / "roberta-limit", arch="roberta", head="embedding")
    engine = load_engine(EngineConfig(model_path=path, backend="torch", device="cpu", packed=True))
    assert isinstance(engine, PackedEngine)
    fits = Encoding(ids=[5] * 512)  # positions 2 .. 513 of 514
    assert _rows(engine, [fits]).shape[0] == 1
    with pytest.raises(EngineError, match="position 514"):
        engine.forward([fits, Encoding(ids=[5] * 513)])
    model = transformers.AutoModel.from_pretrained(
        str(make_tiny_model(tiny_root / "qwen3-limit", arch="qwen3", head="embedding"))
    )
    decoder = PackedDecoder(model, max_positions=16)
    host = pack_encodings([Encoding(ids=[5] * 17)], PositionRule(), token_types=False)
    with pytest.raises(EngineError, match="exceeds the 16 positions"):
        decoder(DeviceStager(torch.device("cpu")).stage(host))
