"""``EngineConfig``: everything needed to load one model folder into an engine.

Parsed once by the service from its settings; engines only read it. Pure data, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ember.engines.types import ModelKind, Pooling

Backend = Literal["auto", "torch", "onnx", "tensorrt"]
DType = Literal["auto", "float32", "bfloat16", "float16"]
Quantization = Literal["int8", "fp8"]

BACKENDS: tuple[str, ...] = ("auto", "torch", "onnx", "tensorrt")
DTYPES: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")
QUANTIZATIONS: tuple[str, ...] = ("int8", "fp8")


@dataclass(frozen=True)
class EngineConfig:
    """How to load and run one model. Every field but ``model_path`` has a working default."""

    #: The model folder: a ``save_pretrained`` / sentence-transformers folder, a Hugging Face cache
    #: snapshot (``models--org--name/snapshots/<rev>``) or the cache's repo folder
    #: (``models--org--name``, resolved through ``refs/main`` or the only snapshot).
    model_path: Path
    #: The name the server answers with; ``None`` derives it from the folder (``org/name`` for a
    #: cache folder, else the folder's name).
    served_model_name: str | None = None
    #: Execution backend. ``"auto"`` runs encoder embedding models on the CPU with ONNX
    #: Runtime (``"onnx"``: a fused graph exported once and cached, faster than eager torch and
    #: starting without torch) when onnxruntime is installed, and everything else with
    #: ``"torch"`` (transformers' own classes; on CUDA the packed engine). ``"tensorrt"`` is
    #: reserved: it raises ``BackendUnavailableError`` naming the extra to install.
    backend: Backend = "auto"
    #: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available, else CPU).
    device: str = "auto"
    #: Compute dtype. ``"auto"`` is float32 on CPU and bfloat16 on CUDA (float16 on GPUs
    #: without bfloat16 support).
    dtype: DType = "auto"
    #: Weight quantization: ``None`` (off), ``"int8"`` (dynamic int8 linear layers, CPU) or
    #: ``"fp8"`` (reserved for CUDA backends; the torch backend refuses it).
    quantization: Quantization | None = None
    #: Overrides the pooling from the folder's ``1_Pooling/config.json`` (embedding models).
    pooling: Pooling | None = None
    #: Lowers (or sets) the longest accepted input, in tokens with special tokens included.
    #: It may not exceed the model's position-embedding limit.
    max_input_length: int | None = None
    #: torch intra-op threads; ``None`` uses every core the process may run on.
    num_threads: int | None = None
    #: Allow model folders that ship their own modelling code. Off by default: loading such a
    #: folder runs code from it.
    trust_remote_code: bool = False
    #: Overrides the detected model kind, e.g. ``ModelKind.SPARSE_EMBEDDING`` for a masked-LM
    #: SPLADE folder without sentence-transformers files, or ``ModelKind.LLM_RERANKER`` for a
    #: causal LM reranker whose folder name does not say "reranker".
    kind: ModelKind | None = None
    #: Packed (varlen, no padding) execution, ``ember.engines.accel.PackedEngine``: ``None``
    #: (auto) uses it on CUDA for the architectures it supports (BERT, RoBERTa, XLM-R, Qwen2,
    #: Qwen3, Llama, Mistral) and for fp8; ``True`` forces it (an unsupported model fails to
    #: load), ``False`` forces the padded ``TorchEngine``.
    packed: bool | None = None
    #: fp8 only: let the tensor cores accumulate without periodic promotion to float32
    #: (measured on an H100 at the Qwen3-4B shape: about 10 % faster, min cosine 0.995 against
    #: the promoted fp8 result on random weights).
    fp8_fast_accum: bool = False
    #: torch backend: compile the model with torch.compile at load (compiled during warm-up,
    #: tens of seconds on a small CPU) for fused elementwise kernels.
    compile: bool = False
    #: Where built artefacts (exported ONNX graphs) are cached; ``None``: ``~/.cache/ember``.
    cache_dir: Path | None = None
    #: Serve a CPU dtype this CPU would emulate (bf16 without AVX-512 BF16 / AMX, fp16 without
    #: AVX-512 FP16 / AMX), several times slower than float32. Off: such a dtype is refused at
    #: load (:func:`ember.engines.precision.check_cpu_dtype`).
    allow_slow_precision: bool = False

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.quantization is not None and self.quantization not in QUANTIZATIONS:
            raise ValueError(
                f"quantization must be none or one of {QUANTIZATIONS}, got {self.quantization!r}"
            )
        if not _valid_device(self.device):
            raise ValueError(f"device must be cpu, cuda, cuda:N or auto, got {self.device!r}")
        if self.max_input_length is not None and self.max_input_length < 1:
            raise ValueError(f"max_input_length must be >= 1, got {self.max_input_length}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {self.num_threads}")


def _valid_device(device: str) -> bool:
    if device in ("cpu", "cuda", "auto"):
        return True
    prefix, _, index = device.partition(":")
    return prefix == "cuda" and index.isdigit()
