"""Parity of Ember's engine outputs with transformers and sentence-transformers (fp32, CPU).

* The real all-MiniLM-L6-v2: Ember's engine + ``vectors.normalize`` against
  ``SentenceTransformer(path).encode`` on inputs of mixed lengths, including inputs longer than
  the 128 tokens baked into its tokenizer.json and longer than its 256-token limit (truncated):
  cosine >= 0.9999 and the same norm within 1e-4.
* Tiny random models of every supported architecture (bert, roberta, xlm-roberta, mpnet,
  modernbert, nomic-bert, gte, qwen2, qwen3, llama, mistral) with cls / mean / last-token
  pooling, against the transformers reference (each input run alone through the HF model, no
  padding, pooled by hand) and against sentence-transformers; decoders are also checked with
  batches of different lengths (padding).
* Other pooling modes, prompts (with and without include_prompt), Dense modules, decoder
  embedders saved as ``*ForCausalLM``.
* SPLADE against a hand computation on the HF masked-LM; sequence-classification and
  token-classification logits against AutoModelFor*Classification; the LLM reranker's yes/no
  log-odds against the causal LM's next-token logits on the documented prompt.

Tolerances: vectors ``rtol=1e-4, atol=1e-5`` (fp32 sums in another order), cosine >= 0.9999.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
from safetensors.torch import save_file
from sentence_transformers import SentenceTransformer
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
)

from ember.engines.config import EngineConfig
from ember.engines.registry import load_engine
from ember.engines.torch_engine import TorchEngine
from ember.engines.types import (
    Encoding,
    ModelKind,
    Pooling,
    SparseOutput,
    TokenLogitsOutput,
    TruncationSide,
    VectorOutput,
)
from ember.engines.vectors import normalize
from tests.tiny_models import (
    ALL_ARCHS,
    CORPUS,
    DECODER_ARCHS,
    ROTARY_ENCODER_ARCHS,
    Arch,
    make_tiny_model,
)

RIGHT = TruncationSide.RIGHT
Floats = npt.NDArray[np.float32]

#: Mixed lengths, scripts and whitespace; the last two exceed 128 and 256 MiniLM tokens.
TEXTS: tuple[str, ...] = (
    *CORPUS[:12],
    "x",
    "word " * 150,
    "A long passage about dense retrieval and reranking. " * 40,
)


def _engine(path: Path, **kwargs: Any) -> TorchEngine:
    engine = load_engine(
        EngineConfig(model_path=path, backend="torch", device="cpu", dtype="float32", **kwargs)
    )
    assert isinstance(engine, TorchEngine)
    return engine


def _rows(engine: TorchEngine, batch: Sequence[Encoding]) -> Floats:
    out = engine.forward(batch)
    assert isinstance(out, VectorOutput)
    assert out.rows.dtype == np.float32
    return out.rows


def _embed(engine: TorchEngine, texts: Sequence[str], prompt: str = "") -> Floats:
    batch = engine.tokenizer.encode(list(texts), truncate=True, side=RIGHT, prompt=prompt)
    return _rows(engine, batch)


def _assert_vectors_close(ours: Floats, ref: Floats) -> None:
    assert ours.shape == ref.shape
    cosine = (normalize(ours) * normalize(ref)).sum(axis=1)
    assert cosine.min() >= 0.9999, cosine
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), np.linalg.norm(ref, axis=1), rtol=1e-4)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


def _hand_pool(hidden: torch.Tensor, mode: Pooling, skip: int = 0) -> torch.Tensor:
    """Pool one unpadded sequence's states (time, dim), leaving out the first ``skip``."""
    states = hidden[skip:]
    if mode is Pooling.CLS:
        return states[0]
    if mode is Pooling.LAST_TOKEN:
        return hidden[-1]
    if mode is Pooling.MEAN:
        return states.mean(dim=0)
    if mode is Pooling.MAX:
        return states.max(dim=0).values
    if mode is Pooling.MEAN_SQRT_LEN:
        return states.sum(dim=0) / math.sqrt(states.shape[0])
    weights = torch.arange(skip + 1, hidden.shape[0] + 1, dtype=torch.float32).unsqueeze(1)
    return (states * weights).sum(dim=0) / weights.sum()


def _reference_embeddings(
    path: Path, texts: Sequence[str], mode: Pooling, max_length: int
) -> Floats:
    """The transformers reference: each input alone (no padding), eager attention, hand-pooled."""
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModel.from_pretrained(str(path), attn_implementation="eager").eval()
    rows = []
    with torch.no_grad():
        for text in texts:
            inputs = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
            hidden = model(**inputs).last_hidden_state[0]
            rows.append(_hand_pool(hidden, mode))
    return torch.stack(rows).numpy()


# -- the real MiniLM -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm_engine(minilm_path: Path) -> TorchEngine:
    return _engine(minilm_path)


def test_minilm_matches_sentence_transformers(
    minilm_engine: TorchEngine, minilm_path: Path
) -> None:
    lengths = [
        len(e) for e in minilm_engine.tokenizer.encode(list(TEXTS), truncate=True, side=RIGHT)
    ]
    assert max(lengths) == 256  # the longest input was truncated at the model's limit
    assert any(128 < n < 256 for n in lengths)  # the 128 trap
    ours = normalize(_embed(minilm_engine, TEXTS))
    reference = SentenceTransformer(str(minilm_path), device="cpu")
    ref = reference.encode(list(TEXTS), convert_to_numpy=True, batch_size=8)
    _assert_vectors_close(ours, ref)


def test_minilm_raw_vectors_match_the_transformers_reference(
    minilm_engine: TorchEngine, minilm_path: Path
) -> None:
    ours = _embed(minilm_engine, TEXTS)
    ref = _reference_embeddings(minilm_path, TEXTS, Pooling.MEAN, 256)
    _assert_vectors_close(ours, ref)


def test_minilm_results_do_not_depend_on_batch_company(minilm_engine: TorchEngine) -> None:
    texts = [TEXTS[0], TEXTS[5], "x", TEXTS[-2], TEXTS[-1]]
    together = _embed(minilm_engine, texts)
    alone = np.concatenate([_embed(minilm_engine, [t]) for t in texts])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)


def test_minilm_token_ids_input_equals_text_input(minilm_engine: TorchEngine) -> None:
    tok = minilm_engine.tokenizer
    encs = tok.encode(list(TEXTS[:4]), truncate=True, side=RIGHT)
    from_ids = tok.encode_ids([list(e.ids) for e in encs], truncate=False, side=RIGHT)
    np.testing.assert_array_equal(_rows(minilm_engine, from_ids), _rows(minilm_engine, encs))


def test_minilm_info_and_warmup(minilm_engine: TorchEngine) -> None:
    info = minilm_engine.info
    assert info.kind is ModelKind.EMBEDDING
    assert (info.dtype, info.device, info.backend) == ("float32", "cpu", "torch")
    assert (info.embedding_dim, info.max_input_length, info.vocab_size) == (384, 256, 30522)
    assert info.pooling is Pooling.MEAN
    minilm_engine.warmup(max_batch_tokens=1024, max_batch_requests=8)


def test_minilm_bfloat16_stays_close(minilm_path: Path) -> None:
    engine = _engine(minilm_path)
    bf16 = load_engine(
        # Numerics, not policy: bf16 is forced where this CPU would emulate it.
        EngineConfig(
            model_path=minilm_path,
            backend="torch",
            device="cpu",
            dtype="bfloat16",
            allow_slow_precision=True,
        )
    )
    assert bf16.info.dtype == "bfloat16"
    texts = list(TEXTS[:6])
    fp32 = normalize(_embed(engine, texts))
    out = bf16.forward(bf16.tokenizer.encode(texts, truncate=True, side=RIGHT))
    assert isinstance(out, VectorOutput)
    assert out.rows.dtype == np.float32
    assert (normalize(out.rows) * fp32).sum(axis=1).min() > 0.99


# -- tiny models of every architecture -----------------------------------------------------------

POOLINGS = (Pooling.CLS, Pooling.MEAN, Pooling.LAST_TOKEN)
#: Decoders make no sense with CLS pooling; encoders are checked with all three.
CASES = [
    (arch, pooling)
    for arch in ALL_ARCHS
    for pooling in POOLINGS
    if not (arch in DECODER_ARCHS and pooling is Pooling.CLS)
]


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("parity-models")


@pytest.mark.parametrize(("arch", "pooling"), CASES, ids=lambda v: getattr(v, "value", v))
def test_tiny_embedders_match_transformers_and_sentence_transformers(
    tiny_root: Path, arch: Arch, pooling: Pooling
) -> None:
    path = make_tiny_model(tiny_root / f"{arch}-{pooling.value}", arch=arch, head="embedding",
                           pooling=pooling)  # fmt: skip
    engine = _engine(path)
    assert engine.info.pooling is pooling
    texts = list(TEXTS)
    ours = _embed(engine, texts)
    _assert_vectors_close(ours, _reference_embeddings(path, texts, pooling, 256))
    st = SentenceTransformer(str(path), device="cpu")
    _assert_vectors_close(normalize(ours), st.encode(texts, convert_to_numpy=True))


@pytest.mark.parametrize("arch", DECODER_ARCHS)
def test_decoder_padding_is_invisible(tiny_root: Path, arch: Arch) -> None:
    path = make_tiny_model(tiny_root / f"{arch}-pad", arch=arch, head="embedding")
    engine = _engine(path)
    short, long = "short text", "a much longer input " * 30
    alone = _embed(engine, [short])
    # Same input next to longer and shorter neighbours, in different positions.
    mixed_a = _embed(engine, [long, short, "mid length text here"])[1:2]
    mixed_b = _embed(engine, [short, long])[0:1]
    np.testing.assert_allclose(mixed_a, alone, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mixed_b, alone, rtol=1e-4, atol=1e-5)
    # The check can fail: different inputs give different vectors.
    assert not np.allclose(_embed(engine, [long]), alone, atol=1e-3)


@pytest.mark.parametrize(
    "pooling", [Pooling.MAX, Pooling.MEAN_SQRT_LEN, Pooling.WEIGHTED_MEAN], ids=lambda p: p.value
)
def test_other_pooling_modes(tiny_root: Path, pooling: Pooling) -> None:
    path = make_tiny_model(tiny_root / f"bert-{pooling.value}", arch="bert", head="embedding",
                           pooling=pooling)  # fmt: skip
    engine = _engine(path)
    texts = list(TEXTS)
    ours = _embed(engine, texts)
    _assert_vectors_close(ours, _reference_embeddings(path, texts, pooling, 256))
    st = SentenceTransformer(str(path), device="cpu")
    _assert_vectors_close(normalize(ours), st.encode(texts, convert_to_numpy=True))


def test_decoder_embedder_saved_as_causal_lm(tiny_root: Path) -> None:
    path = make_tiny_model(tiny_root / "qwen3-embedding", arch="qwen3", head="causal-lm",
                           pooling=Pooling.LAST_TOKEN)  # fmt: skip
    engine = _engine(path)
    assert engine.info.kind is ModelKind.EMBEDDING
    assert engine.info.architecture == "Qwen3ForCausalLM"
    texts = list(TEXTS)
    st = SentenceTransformer(str(path), device="cpu")
    _assert_vectors_close(normalize(_embed(engine, texts)), st.encode(texts))


@pytest.mark.parametrize("include_prompt", [True, False])
@pytest.mark.parametrize(("arch", "pooling"), [("bert", Pooling.MEAN), ("bert", Pooling.CLS),
                                               ("qwen2", Pooling.MEAN)])  # fmt: skip
def test_prompts_match_sentence_transformers(
    tiny_root: Path, arch: Arch, pooling: Pooling, include_prompt: bool
) -> None:
    path = make_tiny_model(tiny_root / f"{arch}-{pooling.value}-prompt-{include_prompt}",
                           arch=arch, head="embedding", pooling=pooling)  # fmt: skip
    config_path = path / "1_Pooling" / "config.json"
    config = json.loads(config_path.read_text())
    config["include_prompt"] = include_prompt
    config_path.write_text(json.dumps(config))
    engine = _engine(path)
    assert engine.info.prompts["query"] == "query: "
    texts = list(TEXTS[:10])
    ours = normalize(_embed(engine, texts, prompt="query: "))
    st = SentenceTransformer(str(path), device="cpu")
    ref = st.encode(texts, prompt_name="query", convert_to_numpy=True)
    _assert_vectors_close(ours, ref)
    # The prompt changes the vectors (so the comparison can fail).
    assert not np.allclose(ours, normalize(_embed(engine, texts)), atol=1e-4)


def test_dense_modules_match_sentence_transformers(tiny_root: Path) -> None:
    path = make_tiny_model(tiny_root / "bert-dense", arch="bert", head="embedding")
    modules = json.loads((path / "modules.json").read_text())
    dense_dir = path / "2_Dense"
    dense_dir.mkdir()
    generator = torch.Generator().manual_seed(3)
    save_file(
        {"linear.weight": torch.randn(16, 32, generator=generator) * 0.3,
         "linear.bias": torch.randn(16, generator=generator) * 0.1},
        str(dense_dir / "model.safetensors"),
    )  # fmt: skip
    (dense_dir / "config.json").write_text(json.dumps({
        "in_features": 32, "out_features": 16, "bias": True,
        "activation_function": "torch.nn.modules.activation.Tanh",
    }))  # fmt: skip
    dense = {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
    modules = [modules[0], modules[1], dense, {**modules[2], "idx": 3, "name": "3"}]
    (path / "modules.json").write_text(json.dumps(modules))
    engine = _engine(path)
    assert engine.info.embedding_dim == 16
    texts = list(TEXTS)
    ours = _embed(engine, texts)
    assert ours.shape == (len(texts), 16)
    st = SentenceTransformer(str(path), device="cpu")
    _assert_vectors_close(normalize(ours), st.encode(texts, convert_to_numpy=True))


@pytest.mark.parametrize("arch", ALL_ARCHS)
def test_tokenization_matches_transformers(tiny_root: Path, arch: Arch) -> None:
    path = make_tiny_model(tiny_root / f"{arch}-tokens", arch=arch, head="embedding")
    engine = _engine(path)
    reference = AutoTokenizer.from_pretrained(str(path))
    texts = [*TEXTS[:-2], "a 3.14 b", "  x  y  ", "Zoë 🤗 東京"]
    ours = engine.tokenizer.encode(texts, truncate=False, side=RIGHT, offsets=True)
    expected = reference(texts, return_offsets_mapping=True)
    for i, enc in enumerate(ours):
        assert list(enc.ids) == list(expected["input_ids"][i])
        assert enc.offsets is not None
        assert [tuple(o) for o in enc.offsets] == [tuple(o) for o in expected["offset_mapping"][i]]


@pytest.mark.parametrize("arch", ALL_ARCHS)
def test_decode_matches_transformers(tiny_root: Path, arch: Arch) -> None:
    # WordPiece, byte-level BPE and Unigram decoders; transformers' extra space clean-up off,
    # as TEI's /decode (the tokenizers decoder) does not apply it either.
    path = make_tiny_model(tiny_root / f"{arch}-decode", arch=arch, head="embedding")
    engine = _engine(path)
    reference = AutoTokenizer.from_pretrained(str(path))
    texts = ["a 3.14 b", "  x  y  ", "Zoë 🤗 東京", "It's a test, isn't it?"]
    ids = [list(row) for row in reference(texts)["input_ids"]]
    for skip in (True, False):
        ours = engine.tokenizer.decode(ids, skip_special_tokens=skip)
        expected = reference.batch_decode(
            ids, skip_special_tokens=skip, clean_up_tokenization_spaces=False
        )
        assert ours == expected


# -- SPLADE --------------------------------------------------------------------------------------


def test_splade_matches_a_hand_computation(tiny_root: Path) -> None:
    path = make_tiny_model(tiny_root / "bert-mlm", arch="bert", head="masked-lm")
    engine = _engine(path, kind=ModelKind.SPARSE_EMBEDDING)
    assert engine.info.kind is ModelKind.SPARSE_EMBEDDING
    texts = list(TEXTS[:8])
    out = engine.forward(engine.tokenizer.encode(texts, truncate=True, side=RIGHT))
    assert isinstance(out, SparseOutput)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForMaskedLM.from_pretrained(str(path)).eval()
    for i, text in enumerate(texts):
        with torch.no_grad():
            logits = model(**tokenizer(text, return_tensors="pt")).logits[0]
        expected = torch.log1p(torch.relu(logits)).max(dim=0).values.numpy()
        nonzero = np.flatnonzero(expected)
        assert nonzero.size > 0
        np.testing.assert_array_equal(out.indices[i], nonzero)
        assert out.indices[i].dtype == np.int64
        assert np.all(np.diff(out.indices[i]) > 0)
        np.testing.assert_allclose(out.values[i], expected[nonzero], rtol=1e-4, atol=1e-5)


# -- classification heads ------------------------------------------------------------------------


def _hf_logits(model: Any, tokenizer: Any, inputs: Sequence[str | tuple[str, str]]) -> Floats:
    rows = []
    with torch.no_grad():
        for item in inputs:
            args = item if isinstance(item, tuple) else (item,)
            rows.append(model(**tokenizer(*args, return_tensors="pt")).logits[0])
    return torch.stack(rows).numpy()


SEQ_CASES: list[tuple[Arch, int]] = [
    ("bert", 3), ("roberta", 1), ("xlm-roberta", 2), ("mpnet", 3), ("qwen3", 1), ("llama", 3)
]  # fmt: skip
SEQ_CASES += [("modernbert", 3), ("nomic-bert", 1), ("gte", 2)]


@pytest.mark.parametrize(("arch", "labels"), SEQ_CASES)
def test_sequence_classification_logits(tiny_root: Path, arch: Arch, labels: int) -> None:
    path = make_tiny_model(tiny_root / f"{arch}-seq-{labels}", arch=arch,
                           head="sequence-classification", num_labels=labels)  # fmt: skip
    engine = _engine(path)
    assert engine.info.kind is (ModelKind.RERANKER if labels == 1 else ModelKind.CLASSIFIER)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForSequenceClassification.from_pretrained(str(path)).eval()
    texts = list(TEXTS[:10])
    ours = _rows(engine, engine.tokenizer.encode(texts, truncate=False, side=RIGHT))
    np.testing.assert_allclose(ours, _hf_logits(model, tokenizer, texts), rtol=1e-4, atol=1e-5)
    pairs = [("which city?", t) for t in texts]
    ours_pairs = _rows(engine, engine.tokenizer.encode_pairs(pairs, truncate=False, side=RIGHT))
    np.testing.assert_allclose(ours_pairs, _hf_logits(model, tokenizer, pairs), rtol=1e-4,
                               atol=1e-5)  # fmt: skip


@pytest.mark.parametrize("arch", ["bert", "roberta", "xlm-roberta", *ROTARY_ENCODER_ARCHS])
def test_token_classification_logits(tiny_root: Path, arch: Arch) -> None:
    path = make_tiny_model(tiny_root / f"{arch}-tok", arch=arch, head="token-classification",
                           id2label={0: "O", 1: "B-PER", 2: "I-PER"})  # fmt: skip
    engine = _engine(path)
    assert engine.info.labels == ("O", "B-PER", "I-PER")
    texts = list(TEXTS[:10])
    encs = engine.tokenizer.encode(texts, truncate=False, side=RIGHT, offsets=True)
    out = engine.forward(encs)
    assert isinstance(out, TokenLogitsOutput)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForTokenClassification.from_pretrained(str(path)).eval()
    for text, enc, logits in zip(texts, encs, out.logits, strict=True):
        assert logits.shape == (len(enc), 3)
        with torch.no_grad():
            expected = model(**tokenizer(text, return_tensors="pt")).logits[0].numpy()
        np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)


# -- LLM reranker --------------------------------------------------------------------------------


def test_llm_reranker_scores_are_yes_no_log_odds(tiny_root: Path) -> None:
    # WordPiece has single "yes"/"no" tokens; the model is a real Qwen3 causal LM.
    path = make_tiny_model(tiny_root / "tiny-qwen3-reranker", arch="qwen3", head="causal-lm",
                           tokenizer="wordpiece")  # fmt: skip
    engine = _engine(path)
    assert engine.info.kind is ModelKind.LLM_RERANKER
    query = "what is the capital of france?"
    docs = ["Paris is the capital of France.", "Bananas are yellow.", "word " * 60]
    ours = _rows(engine, engine.tokenizer.encode_pairs([(query, d) for d in docs],
                                                       truncate=False, side=RIGHT))  # fmt: skip
    assert ours.shape == (3, 1)
    # Reference: Qwen3-Reranker's documented recipe, each pair alone.
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model: Any = AutoModelForCausalLM.from_pretrained(str(path))
    model.eval()
    prefix = ("<|im_start|>system\nJudge whether the Document meets the requirements based on "
              "the Query and the Instruct provided. Note that the answer can only be \"yes\" or "
              "\"no\".<|im_end|>\n<|im_start|>user\n")  # fmt: skip
    suffix = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    instruction = "Given a web search query, retrieve relevant passages that answer the query"
    yes, no = tokenizer.convert_tokens_to_ids("yes"), tokenizer.convert_tokens_to_ids("no")
    encode: Callable[[str], list[int]] = lambda s: tokenizer.encode(s, add_special_tokens=False)  # noqa: E731
    for row, doc in zip(ours, docs, strict=True):
        body = f"<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {doc}"
        ids = torch.tensor([encode(prefix) + encode(body) + encode(suffix)])
        with torch.no_grad():
            last = model(input_ids=ids).logits[0, -1]
        expected = float(last[yes] - last[no])
        assert row[0] == pytest.approx(expected, rel=1e-4, abs=1e-5)
    assert len({round(float(r[0]), 6) for r in ours}) == 3
