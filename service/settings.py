"""The gRPC service's settings: one frozen, typed object parsed once at start-up.

Every field has a command-line flag and an environment variable (see ``ember serve --help``).
Values left as ``None`` are derived from the model and device when the server starts
(see :func:`ember.service.limits.resolve_limits`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ember.engines.config import EngineOptions, setting
from ember.service.logs import check_log_settings, log_format_setting, log_level_setting


@dataclass(frozen=True)
class ServerSettings:
    """Settings of the gRPC service; ``engine``: the options of its models' engines."""

    model: tuple[str, ...] = setting(
        (),
        "--model",
        "EMBER_MODEL",
        "Local model folder (Hugging Face / sentence-transformers layout, or an HF cache "
        "repo folder), or a Hugging Face hub id org/name[@revision] resolved from the HF "
        "cache (HF_HOME / HF_HUB_CACHE; downloaded when online unless HF_HUB_OFFLINE=1); "
        "NAME=PATH serves it as NAME. Repeat the flag (or comma-separate the variable) to "
        "serve several models, routed by each request's model field. Unset: the embedded "
        "all-MiniLM-L6-v2.",
        "PATH",
    )
    models_file: Path | None = setting(
        None,
        "--models",
        "EMBER_MODELS",
        "A YAML or TOML file listing models to serve (after those of --model), each with "
        "path, name, aliases and its own engine and batch options (backend, device, dtype, "
        "quantization, max_input_length, max_batch_tokens, ...; see the README).",
        "FILE",
    )
    served_model_name: str | None = setting(
        None,
        "--served-model-name",
        "EMBER_SERVED_MODEL_NAME",
        "Model id reported to clients (of the first --model). Unset: the model folder's name.",
        "NAME",
    )
    enable_admin: bool = setting(
        False,
        "--enable-admin",
        "EMBER_ENABLE_ADMIN",
        "Serve the admin API that loads and unloads models at run time (gRPC AdminService; "
        "REST POST /admin/models, DELETE /admin/models/{id}). Needs an API key "
        "(--api-key or --api-key-file). Off: those calls answer PERMISSION_DENIED / 403.",
        "BOOL",
    )
    grpc_host: str = setting(
        "0.0.0.0", "--grpc-host", "EMBER_GRPC_HOST", "Address the gRPC server binds.", "HOST"
    )
    grpc_port: int = setting(
        50051,
        "--grpc-port",
        "EMBER_GRPC_PORT",
        "gRPC port (0 picks a free one).",
        "PORT",
        minimum=0,
        maximum=65535,
    )
    engine: EngineOptions = field(default_factory=EngineOptions, metadata={"nested": True})
    precision_check: bool = setting(
        True,
        "--precision-check",
        "EMBER_PRECISION_CHECK",
        "Before reporting SERVING, compare a reduced-precision CPU mode (bfloat16, float16, "
        "int8) with float32 on a fixed probe set and refuse to start below its documented "
        "accuracy floor (under 1 s for MiniLM int8).",
        "BOOL",
    )
    max_batch_tokens: int | None = setting(
        None,
        "--max-batch-tokens",
        "EMBER_MAX_BATCH_TOKENS",
        "Most tokens in one engine batch, padding counted. Unset: 8192 on CPU, derived "
        "from free memory on CUDA.",
        "TOKENS",
        minimum=1,
    )
    max_batch_requests: int | None = setting(
        None,
        "--max-batch-requests",
        "EMBER_MAX_BATCH_REQUESTS",
        "Most inputs in one engine batch. Unset: 64 on CPU, 512 on CUDA.",
        "N",
        minimum=1,
    )
    max_client_batch_size: int = setting(
        2048,
        "--max-client-batch-size",
        "EMBER_MAX_CLIENT_BATCH_SIZE",
        "Most inputs one client request may carry.",
        "N",
        minimum=1,
    )
    max_concurrent_requests: int = setting(
        1024,
        "--max-concurrent-requests",
        "EMBER_MAX_CONCURRENT_REQUESTS",
        "Requests (or stream batches) admitted at once; more answer RESOURCE_EXHAUSTED.",
        "N",
        minimum=1,
    )
    max_message_bytes: int = setting(
        256 * 1024 * 1024,
        "--max-message-bytes",
        "EMBER_MAX_MESSAGE_BYTES",
        "Largest gRPC message accepted or sent.",
        "BYTES",
        minimum=1,
    )
    # On by default, as in TEI since 1.9: clients such as LlamaIndex send chunks longer than
    # small models take and do not ask for truncation.
    auto_truncate: bool = setting(
        True,
        "--auto-truncate",
        "EMBER_AUTO_TRUNCATE",
        "Cut over-long inputs to the model's maximum when a request does not say "
        "(truncate / truncation_direction per request win). false: reject them with "
        "INVALID_ARGUMENT / 422 instead.",
        "BOOL",
    )
    tokenizer_workers: int = setting(
        2, "--tokenizer-workers", "EMBER_TOKENIZER_WORKERS", "Tokenization threads.", "N", minimum=1
    )
    batch_overhead_tokens: int | None = setting(
        None,
        "--batch-overhead-tokens",
        "EMBER_BATCH_OVERHEAD_TOKENS",
        "Fixed cost of one engine batch, in token-equivalents, used to choose between "
        "batch shapes. Unset: 64 on CPU, 2048 on CUDA.",
        "TOKENS",
        minimum=0,
    )
    shutdown_grace_s: float = setting(
        30.0,
        "--shutdown-grace",
        "EMBER_SHUTDOWN_GRACE",
        "Seconds in-flight requests get to finish on SIGTERM/SIGINT.",
        "SECONDS",
        minimum=0,
    )
    gil_switch_interval_ms: float | None = setting(
        None,
        "--gil-switch-interval",
        "EMBER_GIL_SWITCH_INTERVAL",
        "How long (ms) a thread may keep Python's interpreter lock while another waits "
        "(sys.setswitchinterval; Python's default is 5). The engine thread gives the lock up "
        "around every torch operation and waits for it again; behind a busy event loop each "
        "wait can last the whole interval, which stretches a GPU forward of a few hundred "
        "kernel launches many times over. Unset: 1 on CUDA, Python's default otherwise.",
        "MS",
        above=0,
    )
    log_level: str = log_level_setting()
    log_format: str = log_format_setting()
    access_log: bool = setting(
        False, "--access-log", "EMBER_ACCESS_LOG", "Log one line per gRPC call.", "BOOL"
    )

    def __post_init__(self) -> None:
        check_log_settings(self)
        # One model may be given as a plain path (``ServerSettings(model=folder)``).
        if isinstance(self.model, (str, Path)):
            object.__setattr__(self, "model", (str(self.model),))
