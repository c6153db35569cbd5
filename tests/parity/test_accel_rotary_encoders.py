"""The packed forward of the rotary encoders (ModernBERT, Nomic-BERT, GTE) on the CPU.

* Each family's packed forward against transformers (each input alone, and a padded batch) on
  tiny random models, float32, mixed lengths including inputs far longer than the tiny
  ModernBERT's local window (4 tokens either side): cosine >= 0.9999 per token, max abs error
  <= 1e-4. The window is checked to matter (dropping it changes the long inputs' states).
* The CPU twin of windowed attention against a dense masked softmax computed by hand.
* ``PackedEngine`` against ``TorchEngine`` (itself checked against transformers and
  sentence-transformers in test_embedding_parity.py) for embeddings, sequence classification
  (ModernBERT's cls and mean ``classifier_pooling``) and token classification; rtol 1e-4 /
  atol 1e-5.
* fp8 (weights and activations E4M3, ``torch._scaled_mm``'s CPU kernel) of a small ModernBERT
  and GTE against float32: cosine >= 0.98 per token.
* ``packed_support`` refusing what the forwards do not run, with the reason.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import transformers

from ember.engines.accel.attention import reference_varlen_attention
from ember.engines.accel.model import build_packed_model, packed_support
from ember.engines.model_folder import inspect_model_folder
from ember.engines.types import ModelKind, Pooling, TokenLogitsOutput, TruncationSide
from tests.parity.test_accel_parity import TEXTS, _cos, _engines, _random_batch, _rows, _stage
from tests.tiny_models import ROTARY_ENCODER_ARCHS, TINY_LOCAL_ATTENTION, Arch, make_tiny_model

RIGHT = TruncationSide.RIGHT


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("accel-rotary")


def _hf_states(model: Any, batch: list[Any], pairs: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Token states from transformers: each input alone, and the real rows of a padded batch."""
    alone = []
    for enc in batch:
        kwargs = {"input_ids": torch.tensor([list(enc.ids)])}
        if pairs:
            kwargs["token_type_ids"] = torch.tensor([list(enc.type_ids)])
        alone.append(model(**kwargs).last_hidden_state[0])
    lengths = [len(enc) for enc in batch]
    ids = torch.full((len(batch), max(lengths)), model.config.pad_token_id or 0)
    mask = torch.zeros_like(ids)
    types = torch.zeros_like(ids)
    for i, enc in enumerate(batch):
        ids[i, : len(enc)] = torch.tensor(list(enc.ids))
        mask[i, : len(enc)] = 1
        if pairs:
            types[i, : len(enc)] = torch.tensor(list(enc.type_ids))
    extra = {"token_type_ids": types} if pairs else {}
    padded = model(input_ids=ids, attention_mask=mask, **extra).last_hidden_state
    return torch.cat(alone), torch.cat([padded[i, :n] for i, n in enumerate(lengths)])


@pytest.mark.parametrize("arch", ROTARY_ENCODER_ARCHS)
def test_packed_forward_matches_transformers(tiny_root: Path, arch: Arch) -> None:
    path = make_tiny_model(tiny_root / f"{arch}-emb", arch=arch, head="embedding")
    folder = inspect_model_folder(path)
    assert packed_support(folder) is None
    model = transformers.AutoModel.from_pretrained(str(path), attn_implementation="sdpa").eval()
    lengths = [5, 17, 1, 9, 33, 2, 70]
    assert max(lengths) > 4 * TINY_LOCAL_ATTENTION
    pairs = arch != "modernbert"  # Nomic-BERT and GTE have token type embeddings
    batch = _random_batch(model.config.vocab_size, lengths, seed=len(arch), pairs=pairs)
    pack = _stage(batch, folder, model.base_model, types=pairs)
    packed = build_packed_model(folder, copy.deepcopy(model).base_model)
    with torch.no_grad():
        out = packed(pack)
        alone, padded = _hf_states(model, batch, pairs)
    assert out.shape == alone.shape == (sum(lengths), model.config.hidden_size)
    assert _cos(out, alone) >= 0.9999
    assert float((out - alone).abs().max()) <= 1e-4
    assert _cos(out, padded) >= 0.9999
    assert float((out - padded).abs().max()) <= 1e-4


def test_modernbert_local_layers_use_the_window(tiny_root: Path) -> None:
    path = make_tiny_model(tiny_root / "modernbert-window", arch="modernbert", head="embedding")
    folder = inspect_model_folder(path)
    model = transformers.AutoModel.from_pretrained(str(path)).eval()
    assert model.config.layer_types == ["full_attention", "sliding_attention"]
    packed = build_packed_model(folder, copy.deepcopy(model).base_model)
    layers: list[Any] = getattr(packed, "layers")  # noqa: B009
    reach = TINY_LOCAL_ATTENTION // 2
    assert [layer.window for layer in layers] == [None, (reach, reach)]
    # 5 tokens: every distance is within the 4-token half-window.
    batch = _random_batch(model.config.vocab_size, [40, 5], seed=3)
    pack = _stage(batch, folder, model.base_model)
    with torch.no_grad():
        windowed = packed(pack)
        layers[1].window = None
        unwindowed = packed(pack)
    # Inputs within the window are unaffected; the 40-token one changes without it.
    assert torch.allclose(windowed[40:], unwindowed[40:], atol=1e-6)
    assert not torch.allclose(windowed[:40], unwindowed[:40], atol=1e-3)


@pytest.mark.parametrize("window", [0, 1, 3, 50])
def test_windowed_reference_attention_matches_a_dense_mask(window: int) -> None:
    gen = torch.Generator().manual_seed(window)
    lengths = [7, 1, 12]
    q, k, v = (torch.randn(sum(lengths), 2, 8, generator=gen) for _ in range(3))
    out = reference_varlen_attention(q, k, v, lengths=lengths, causal=False, scale=0.3,
                                     window=(window, window))  # fmt: skip
    start = 0
    for n in lengths:
        pos = torch.arange(n)
        allowed = (pos[:, None] - pos[None, :]).abs() <= window
        qs, ks, vs = (t[start : start + n].transpose(0, 1) for t in (q, k, v))
        scores = (qs @ ks.transpose(1, 2) * 0.3).masked_fill(~allowed, float("-inf"))
        expected = (scores.softmax(-1) @ vs).transpose(0, 1)
        torch.testing.assert_close(out[start : start + n], expected, rtol=1e-5, atol=1e-6)
        start += n


# -- PackedEngine against TorchEngine --------------------------------------------------------


@pytest.mark.parametrize(
    ("arch", "pooling"),
    [("modernbert", Pooling.MEAN), ("nomic-bert", Pooling.MEAN), ("gte", Pooling.CLS)],
)
def test_embeddings_match_torch_engine(tiny_root: Path, arch: Arch, pooling: Pooling) -> None:
    path = make_tiny_model(
        tiny_root / f"{arch}-{pooling.value}", arch=arch, head="embedding", pooling=pooling
    )
    packed, padded = _engines(path)
    batch = packed.tokenizer.encode(list(TEXTS), truncate=True, side=RIGHT)
    assert max(len(e) for e in batch) > 4 * TINY_LOCAL_ATTENTION
    ours, ref = _rows(packed, batch), _rows(padded, batch)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_rows(packed, batch[3:4])[0], ours[3], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("arch", "classifier_pooling"),
    [("modernbert", "cls"), ("modernbert", "mean"), ("nomic-bert", None), ("gte", None)],
)
def test_sequence_classification_matches_torch_engine(
    tiny_root: Path, arch: Arch, classifier_pooling: str | None
) -> None:
    path = make_tiny_model(tiny_root / f"{arch}-{classifier_pooling}-cls", arch=arch,
                           head="sequence-classification", num_labels=3)  # fmt: skip
    if classifier_pooling is not None:
        config = json.loads((path / "config.json").read_text())
        config["classifier_pooling"] = classifier_pooling
        (path / "config.json").write_text(json.dumps(config))
    packed, padded = _engines(path)
    singles = packed.tokenizer.encode(list(TEXTS), truncate=True, side=RIGHT)
    pairs = packed.tokenizer.encode_pairs(
        [("which city?", t) for t in TEXTS], truncate=True, side=RIGHT
    )
    for batch in (singles, pairs):
        ours = _rows(packed, batch)
        assert ours.shape == (len(TEXTS), 3)
        np.testing.assert_allclose(ours, _rows(padded, batch), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch", ROTARY_ENCODER_ARCHS)
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


# -- fp8 on CPU --------------------------------------------------------------------------------


def _small(arch: str) -> Any:
    """A small random model at the default initializer range (the tiny models' 0.2 makes
    activations too wide for a meaningful fp8 check)."""
    common: dict[str, Any] = {"vocab_size": 1000, "hidden_size": 256, "intermediate_size": 768,
              "num_hidden_layers": 2, "num_attention_heads": 4,
              "max_position_embeddings": 512}  # fmt: skip
    config: Any
    if arch == "modernbert":
        config = transformers.ModernBertConfig(
            global_attn_every_n_layers=2, local_attention=16, pad_token_id=0, **common
        )
    else:
        config = transformers.GteConfig(**common)
    torch.manual_seed(0)
    auto: Any = transformers.AutoModel
    return auto.from_config(config).eval()


@pytest.mark.parametrize("arch", ["modernbert", "gte"])
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


# -- what the packed engine refuses ------------------------------------------------------------


def _edit_config(path: Path, **changes: object) -> None:
    config = json.loads((path / "config.json").read_text())
    config.update(changes)
    (path / "config.json").write_text(json.dumps(config))


def test_packed_support_gives_reasons(tiny_root: Path) -> None:
    path = make_tiny_model(tiny_root / "modernbert-dynamic", arch="modernbert", head="embedding")
    rope = json.loads((path / "config.json").read_text())["rope_parameters"]
    rope["sliding_attention"]["rope_type"] = "dynamic"
    _edit_config(path, rope_parameters=rope)
    assert packed_support(inspect_model_folder(path)) == (
        "modernbert with rotary type 'dynamic' has no packed forward"
    )
    path = make_tiny_model(tiny_root / "gte-partial", arch="gte", head="embedding")
    _edit_config(path, partial_rotary_factor=0.5)
    assert packed_support(inspect_model_folder(path)) == (
        "gte with partial rotary embeddings has no packed forward"
    )
    path = make_tiny_model(tiny_root / "nomic-remote", arch="nomic-bert", head="embedding")
    _edit_config(path, auto_map={"AutoModel": "modeling_hf_nomic_bert.NomicBertModel"})
    assert packed_support(inspect_model_folder(path)) == (
        "nomic_bert with its own modeling code (auto_map) runs on the padded engine"
    )
    path = make_tiny_model(tiny_root / "nomic-mlm", arch="nomic-bert", head="masked-lm")
    sparse = inspect_model_folder(path, kind=ModelKind.SPARSE_EMBEDDING)
    assert packed_support(sparse) == (
        "sparse_embedding nomic_bert models run on the padded torch engine"
    )
