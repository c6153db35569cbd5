"""The engine's configuration: :class:`EngineOptions` (how to run any model, declared once
with the flag, environment variable and help of each option) and :class:`EngineConfig` (those
options for one model folder).

The service's settings hold an ``EngineOptions`` as they are (``ServerSettings.engine``), so an
option is declared here only, and the CLI, the environment and a models file fill the same typed
object. Engines only read it. Pure data, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar

from ember.engines.types import ModelKind, Pooling

Backend = Literal["auto", "torch", "onnx", "tensorrt"]
DType = Literal["auto", "float32", "bfloat16", "float16"]
Quantization = Literal["int8", "fp8"]

BACKENDS: tuple[str, ...] = ("auto", "torch", "onnx", "tensorrt")
DTYPES: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")
QUANTIZATIONS: tuple[str, ...] = ("int8", "fp8")


def option(
    flag: str,
    env: str,
    help_text: str,
    metavar: str | None = None,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
) -> dict[str, Any]:
    """The field metadata of a settings option: its flag, environment variable and help, and
    for a number the range a given value must lie in (``minimum`` and ``maximum`` inclusive,
    ``above`` exclusive), which :mod:`ember.service.options` checks."""
    meta: dict[str, Any] = {"flag": flag, "env": env, "help": help_text}
    if metavar:
        meta["metavar"] = metavar
    bounds = {"minimum": minimum, "maximum": maximum, "above": above}
    meta.update({key: value for key, value in bounds.items() if value is not None})
    return meta


_T = TypeVar("_T")


def setting(
    default: _T, flag: str, env: str, help_text: str, metavar: str | None = None, **bounds: float
) -> _T:
    """A settings dataclass field: ``default``, with :func:`option`'s metadata (``bounds``:
    its ``minimum``, ``maximum`` or ``above``). Typed as its value, so that the field
    declaration reads as the value it holds."""
    return field(default=default, metadata=option(flag, env, help_text, metavar, **bounds))


@dataclass(frozen=True)
class EngineOptions:
    """How to run a model: every option has a working default. Values are checked at
    construction (ValueError naming the option)."""

    backend: Backend = setting(
        "auto",
        "--backend",
        "EMBER_BACKEND",
        "Engine backend: auto (ONNX Runtime for encoder embedding models on the CPU, "
        "exported once and cached, and OpenVINO on that graph for --dtype bfloat16 when "
        "installed; torch otherwise), torch, onnx or tensorrt.",
        "NAME",
    )
    device: str = setting(
        "auto", "--device", "EMBER_DEVICE", "Device: auto, cpu, cuda or cuda:N.", "DEVICE"
    )
    dtype: DType = setting(
        "auto",
        "--dtype",
        "EMBER_DTYPE",
        "Compute precision: auto (float32 on CPU, bfloat16 on CUDA), float32, bfloat16, float16.",
        "DTYPE",
    )
    quantization: Quantization | None = setting(
        None,
        "--quantization",
        "EMBER_QUANTIZATION",
        "Weight quantization: none, int8 (CPU) or fp8 (Hopper GPUs).",
        "MODE",
    )
    packed: bool | None = setting(
        None,
        "--packed",
        "EMBER_PACKED",
        "Packed (variable-length, no padding) execution: true forces it, false forces the "
        "padded engine. Unset: packed on CUDA for the architectures it supports.",
        "BOOL",
    )
    fp8_fast_accum: bool = setting(
        False,
        "--fp8-fast-accum",
        "EMBER_FP8_FAST_ACCUM",
        "With --quantization fp8: accumulate without periodic promotion (faster, a little "
        "less exact).",
        "BOOL",
    )
    compile: bool = setting(
        False,
        "--compile",
        "EMBER_COMPILE",
        "torch backend: compile the model with torch.compile (fused kernels; faster bf16 "
        "forwards in-process on CPU, no end-to-end gain measured on 2 vCPUs; warm-up takes "
        "tens of seconds). Implies the torch backend.",
        "BOOL",
    )
    allow_slow_precision: bool = setting(
        False,
        "--allow-slow-precision",
        "EMBER_ALLOW_SLOW_PRECISION",
        "Serve a --dtype this CPU would emulate (bfloat16 without avx512_bf16/amx_bf16, "
        "float16 without avx512_fp16/amx_fp16: several times slower than float32). Off: "
        "such a dtype is refused at start.",
        "BOOL",
    )
    pooling: Pooling | None = setting(
        None,
        "--pooling",
        "EMBER_POOLING",
        "Override the pooling of an embedding model: cls, mean, max, lasttoken, ... "
        "Unset: from the model's configuration.",
        "MODE",
    )
    kind: ModelKind | None = setting(
        None,
        "--kind",
        "EMBER_KIND",
        "Override the detected model kind: embedding, sparse_embedding, reranker, "
        "classifier, token_classifier or llm_reranker. Unset: detected from the folder.",
        "KIND",
    )
    max_input_length: int | None = setting(
        None,
        "--max-input-length",
        "EMBER_MAX_INPUT_LENGTH",
        "Cap on input tokens. Unset: the model's own maximum.",
        "TOKENS",
    )
    default_prompt_name: str | None = setting(
        None,
        "--default-prompt-name",
        "EMBER_DEFAULT_PROMPT_NAME",
        "The prompt (one of the model's config_sentence_transformers.json prompts, e.g. "
        "query) prepended to the inputs of requests that name none; replaces the model's own "
        "default_prompt_name. Unset: the model's default (usually none).",
        "NAME",
    )
    default_prompt: str | None = setting(
        None,
        "--default-prompt",
        "EMBER_DEFAULT_PROMPT",
        "A text (e.g. 'query: ') prepended to the inputs of requests that name no prompt, "
        "for clients that cannot name one (the OpenAI SDK). Not with --default-prompt-name.",
        "TEXT",
    )
    num_threads: int | None = setting(
        None,
        "--num-threads",
        "EMBER_NUM_THREADS",
        "Compute threads of the CPU engine. Unset: the machine's cores.",
        "N",
    )
    cache_dir: Path | None = setting(
        None,
        "--cache-dir",
        "EMBER_CACHE_DIR",
        "Where exported engine graphs are cached. Unset: ~/.cache/ember.",
        "PATH",
    )

    def __post_init__(self) -> None:
        if self.quantization is not None and str(self.quantization).lower() in ("", "none"):
            object.__setattr__(self, "quantization", None)  # how the flag spells "off"
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.quantization is not None and self.quantization not in QUANTIZATIONS:
            raise ValueError(
                f"quantization must be none or one of {QUANTIZATIONS}, got {self.quantization!r}"
            )
        if self.default_prompt is not None and self.default_prompt_name is not None:
            raise ValueError("give --default-prompt or --default-prompt-name, not both")
        if not _valid_device(self.device):
            raise ValueError(f"device must be cpu, cuda, cuda:N or auto, got {self.device!r}")
        if self.max_input_length is not None and self.max_input_length < 1:
            raise ValueError(f"max_input_length must be >= 1, got {self.max_input_length}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {self.num_threads}")

    def items(self) -> dict[str, Any]:
        """The options by name (to build an :class:`EngineConfig` from them)."""
        return {f.name: getattr(self, f.name) for f in fields(EngineOptions)}


@dataclass(frozen=True, kw_only=True)
class EngineConfig(EngineOptions):
    """How to load and run one model folder: the options, and the folder.

    ``model_path`` is a ``save_pretrained`` / sentence-transformers folder, a Hugging Face cache
    snapshot (``models--org--name/snapshots/<rev>``) or the cache's repo folder
    (``models--org--name``, resolved through ``refs/main`` or the only snapshot).
    ``served_model_name``: the name the server answers with (None: from the folder, ``org/name``
    for a cache folder). ``trust_remote_code``: allow folders that ship their own modelling
    code (off: loading such a folder would run code from it).
    """

    model_path: Path
    served_model_name: str | None = None
    trust_remote_code: bool = False

    @classmethod
    def of(cls, options: EngineOptions, path: Path, served_name: str | None) -> EngineConfig:
        """``options`` applied to the model folder ``path``."""
        return cls(model_path=path, served_model_name=served_name, **options.items())


def _valid_device(device: str) -> bool:
    if device in ("cpu", "cuda", "auto"):
        return True
    prefix, _, index = device.partition(":")
    return prefix == "cuda" and index.isdigit()
