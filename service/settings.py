"""The gRPC service's settings: one frozen, typed object parsed once at start-up.

Every field has a command-line flag and an environment variable (see ``ember serve --help``).
Values left as ``None`` are derived from the model and device when the server starts
(see :func:`ember.service.limits.resolve_limits`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ember.engines.config import EngineConfig
from ember.engines.types import ModelKind, Pooling


def _opt(flag: str, env: str, help_text: str, metavar: str | None = None) -> dict[str, str]:
    meta = {"flag": flag, "env": env, "help": help_text}
    if metavar:
        meta["metavar"] = metavar
    return meta


@dataclass(frozen=True)
class ServerSettings:
    """Settings of the gRPC service and its model engine."""

    model: tuple[str, ...] = field(
        default=(),
        metadata=_opt(
            "--model",
            "EMBER_MODEL",
            "Local model folder (Hugging Face / sentence-transformers layout, or an HF cache "
            "repo folder), or a Hugging Face hub id org/name[@revision] resolved from the HF "
            "cache (HF_HOME / HF_HUB_CACHE; downloaded when online unless HF_HUB_OFFLINE=1); "
            "NAME=PATH serves it as NAME. Repeat the flag (or comma-separate the variable) to "
            "serve several models, routed by each request's model field. Unset: the embedded "
            "all-MiniLM-L6-v2.",
            "PATH",
        ),
    )
    models_file: Path | None = field(
        default=None,
        metadata=_opt(
            "--models",
            "EMBER_MODELS",
            "A YAML or TOML file listing models to serve (after those of --model), each with "
            "path, name, aliases and its own engine and batch options (backend, device, dtype, "
            "quantization, max_input_length, max_batch_tokens, ...; see the README).",
            "FILE",
        ),
    )
    served_model_name: str | None = field(
        default=None,
        metadata=_opt(
            "--served-model-name",
            "EMBER_SERVED_MODEL_NAME",
            "Model id reported to clients (of the first --model). Unset: the model folder's name.",
            "NAME",
        ),
    )
    enable_admin: bool = field(
        default=False,
        metadata=_opt(
            "--enable-admin",
            "EMBER_ENABLE_ADMIN",
            "Serve the admin API that loads and unloads models at run time (gRPC AdminService; "
            "REST POST /admin/models, DELETE /admin/models/{id}). Needs an API key "
            "(--api-key or --api-key-file). Off: those calls answer PERMISSION_DENIED / 403.",
            "BOOL",
        ),
    )
    grpc_host: str = field(
        default="0.0.0.0",
        metadata=_opt("--grpc-host", "EMBER_GRPC_HOST", "Address the gRPC server binds.", "HOST"),
    )
    grpc_port: int = field(
        default=50051,
        metadata=_opt("--grpc-port", "EMBER_GRPC_PORT", "gRPC port (0 picks a free one).", "PORT"),
    )
    backend: str = field(
        default="auto",
        metadata=_opt(
            "--backend",
            "EMBER_BACKEND",
            "Engine backend: auto (ONNX Runtime for encoder embedding models on the CPU, "
            "exported once and cached; torch otherwise), torch, onnx or tensorrt.",
            "NAME",
        ),
    )
    device: str = field(
        default="auto",
        metadata=_opt("--device", "EMBER_DEVICE", "Device: auto, cpu, cuda or cuda:N.", "DEVICE"),
    )
    dtype: str = field(
        default="auto",
        metadata=_opt(
            "--dtype",
            "EMBER_DTYPE",
            "Compute precision: auto (float32 on CPU, bfloat16 on CUDA), float32, bfloat16, "
            "float16.",
            "DTYPE",
        ),
    )
    quantization: str | None = field(
        default=None,
        metadata=_opt(
            "--quantization",
            "EMBER_QUANTIZATION",
            "Weight quantization: none, int8 (CPU) or fp8 (Hopper GPUs).",
            "MODE",
        ),
    )
    packed: bool | None = field(
        default=None,
        metadata=_opt(
            "--packed",
            "EMBER_PACKED",
            "Packed (variable-length, no padding) execution: true forces it, false forces the "
            "padded engine. Unset: packed on CUDA for the architectures it supports.",
            "BOOL",
        ),
    )
    fp8_fast_accum: bool = field(
        default=False,
        metadata=_opt(
            "--fp8-fast-accum",
            "EMBER_FP8_FAST_ACCUM",
            "With --quantization fp8: accumulate without periodic promotion (faster, a little "
            "less exact).",
            "BOOL",
        ),
    )
    compile: bool = field(
        default=False,
        metadata=_opt(
            "--compile",
            "EMBER_COMPILE",
            "torch backend: compile the model with torch.compile (fused kernels; faster bf16 "
            "forwards in-process on CPU, no end-to-end gain measured on 2 vCPUs; warm-up takes "
            "tens of seconds). Implies the torch backend.",
            "BOOL",
        ),
    )
    allow_slow_precision: bool = field(
        default=False,
        metadata=_opt(
            "--allow-slow-precision",
            "EMBER_ALLOW_SLOW_PRECISION",
            "Serve a --dtype this CPU would emulate (bfloat16 without avx512_bf16/amx_bf16, "
            "float16 without avx512_fp16/amx_fp16: several times slower than float32). Off: "
            "such a dtype is refused at start.",
            "BOOL",
        ),
    )
    precision_check: bool = field(
        default=True,
        metadata=_opt(
            "--precision-check",
            "EMBER_PRECISION_CHECK",
            "Before reporting SERVING, compare a reduced-precision CPU mode (bfloat16, float16, "
            "int8) with float32 on a fixed probe set and refuse to start below its documented "
            "accuracy floor (under 1 s for MiniLM int8).",
            "BOOL",
        ),
    )
    pooling: Pooling | None = field(
        default=None,
        metadata=_opt(
            "--pooling",
            "EMBER_POOLING",
            "Override the pooling of an embedding model: cls, mean, max, lasttoken, ... "
            "Unset: from the model's configuration.",
            "MODE",
        ),
    )
    kind: ModelKind | None = field(
        default=None,
        metadata=_opt(
            "--kind",
            "EMBER_KIND",
            "Override the detected model kind: embedding, sparse_embedding, reranker, "
            "classifier, token_classifier or llm_reranker. Unset: detected from the folder.",
            "KIND",
        ),
    )
    max_input_length: int | None = field(
        default=None,
        metadata=_opt(
            "--max-input-length",
            "EMBER_MAX_INPUT_LENGTH",
            "Cap on input tokens. Unset: the model's own maximum.",
            "TOKENS",
        ),
    )
    max_batch_tokens: int | None = field(
        default=None,
        metadata=_opt(
            "--max-batch-tokens",
            "EMBER_MAX_BATCH_TOKENS",
            "Most tokens in one engine batch, padding counted. Unset: 8192 on CPU, derived "
            "from free memory on CUDA.",
            "TOKENS",
        ),
    )
    max_batch_requests: int | None = field(
        default=None,
        metadata=_opt(
            "--max-batch-requests",
            "EMBER_MAX_BATCH_REQUESTS",
            "Most inputs in one engine batch. Unset: 64 on CPU, 512 on CUDA.",
            "N",
        ),
    )
    max_client_batch_size: int = field(
        default=2048,
        metadata=_opt(
            "--max-client-batch-size",
            "EMBER_MAX_CLIENT_BATCH_SIZE",
            "Most inputs one client request may carry.",
            "N",
        ),
    )
    max_concurrent_requests: int = field(
        default=1024,
        metadata=_opt(
            "--max-concurrent-requests",
            "EMBER_MAX_CONCURRENT_REQUESTS",
            "Requests (or stream batches) admitted at once; more answer RESOURCE_EXHAUSTED.",
            "N",
        ),
    )
    max_message_bytes: int = field(
        default=256 * 1024 * 1024,
        metadata=_opt(
            "--max-message-bytes",
            "EMBER_MAX_MESSAGE_BYTES",
            "Largest gRPC message accepted or sent.",
            "BYTES",
        ),
    )
    auto_truncate: bool = field(
        # On by default, as in TEI since 1.9: clients such as LlamaIndex send chunks longer
        # than small models take and do not ask for truncation.
        default=True,
        metadata=_opt(
            "--auto-truncate",
            "EMBER_AUTO_TRUNCATE",
            "Cut over-long inputs to the model's maximum when a request does not say "
            "(truncate / truncation_direction per request win). false: reject them with "
            "INVALID_ARGUMENT / 422 instead.",
            "BOOL",
        ),
    )
    tokenizer_workers: int = field(
        default=2,
        metadata=_opt(
            "--tokenizer-workers", "EMBER_TOKENIZER_WORKERS", "Tokenization threads.", "N"
        ),
    )
    batch_overhead_tokens: int | None = field(
        default=None,
        metadata=_opt(
            "--batch-overhead-tokens",
            "EMBER_BATCH_OVERHEAD_TOKENS",
            "Fixed cost of one engine batch, in token-equivalents, used to choose between "
            "batch shapes. Unset: 64 on CPU, 2048 on CUDA.",
            "TOKENS",
        ),
    )
    num_threads: int | None = field(
        default=None,
        metadata=_opt(
            "--num-threads",
            "EMBER_NUM_THREADS",
            "Compute threads of the CPU engine. Unset: the machine's cores.",
            "N",
        ),
    )
    shutdown_grace_s: float = field(
        default=30.0,
        metadata=_opt(
            "--shutdown-grace",
            "EMBER_SHUTDOWN_GRACE",
            "Seconds in-flight requests get to finish on SIGTERM/SIGINT.",
            "SECONDS",
        ),
    )
    cache_dir: Path | None = field(
        default=None,
        metadata=_opt(
            "--cache-dir",
            "EMBER_CACHE_DIR",
            "Where exported engine graphs are cached. Unset: ~/.cache/ember.",
            "PATH",
        ),
    )
    gil_switch_interval_ms: float | None = field(
        default=None,
        metadata=_opt(
            "--gil-switch-interval",
            "EMBER_GIL_SWITCH_INTERVAL",
            "How long (ms) a thread may keep Python's interpreter lock while another waits "
            "(sys.setswitchinterval; Python's default is 5). The engine thread gives the lock up "
            "around every torch operation and waits for it again; behind a busy event loop each "
            "wait can last the whole interval, which stretches a GPU forward of a few hundred "
            "kernel launches many times over. Unset: 1 on CUDA, Python's default otherwise.",
            "MS",
        ),
    )
    log_level: str = field(
        default="info",
        metadata=_opt("--log-level", "EMBER_LOG_LEVEL", "debug, info, warning or error.", "LEVEL"),
    )
    access_log: bool = field(
        default=False,
        metadata=_opt("--access-log", "EMBER_ACCESS_LOG", "Log one line per gRPC call.", "BOOL"),
    )

    def __post_init__(self) -> None:
        # One model may be given as a plain path (``ServerSettings(model=folder)``).
        if isinstance(self.model, (str, Path)):
            object.__setattr__(self, "model", (str(self.model),))


def engine_config(settings: ServerSettings, path: Path, served_name: str | None) -> EngineConfig:
    """The engine configuration of the model at ``path`` with the settings' engine options."""
    quantization = settings.quantization
    if quantization is not None and quantization.lower() in ("", "none"):
        quantization = None
    return EngineConfig(
        model_path=path,
        served_model_name=served_name,
        backend=settings.backend,  # type: ignore[arg-type]  # validated by EngineConfig
        device=settings.device,
        dtype=settings.dtype,  # type: ignore[arg-type]
        quantization=quantization,  # type: ignore[arg-type]
        pooling=settings.pooling,
        max_input_length=settings.max_input_length,
        num_threads=settings.num_threads,
        kind=settings.kind,
        packed=settings.packed,
        fp8_fast_accum=settings.fp8_fast_accum,
        cache_dir=settings.cache_dir,
        compile=settings.compile,
        allow_slow_precision=settings.allow_slow_precision,
    )
