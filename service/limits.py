"""Resolve the service's limits from settings, the loaded model and its device."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ember.engines.types import ModelInfo
from ember.service.settings import ServerSettings

log = logging.getLogger(__name__)

_CPU_BATCH_TOKENS = 8192
_CPU_BATCH_REQUESTS = 64
_CPU_OVERHEAD_TOKENS = 64
_GPU_BATCH_TOKENS = 65536
_GPU_BATCH_REQUESTS = 512
_GPU_OVERHEAD_TOKENS = 2048


@dataclass(frozen=True)
class ServiceLimits:
    """The limits in force, resolved from settings, model and device at start-up."""

    max_input_length: int
    max_batch_tokens: int
    max_batch_requests: int
    max_client_batch_size: int
    max_concurrent_requests: int
    batch_overhead_tokens: int
    auto_truncate: bool


def resolve_limits(
    settings: ServerSettings, info: ModelInfo, suggested_batch_tokens: int | None = None
) -> ServiceLimits:
    """Fill the unset limits with device defaults; the token budget always fits one input.

    ``suggested_batch_tokens`` is the engine's estimate from free device memory (CUDA); it is
    used when the setting is unset.
    """
    on_gpu = info.device.startswith("cuda")
    batch_tokens = (
        settings.max_batch_tokens
        or suggested_batch_tokens
        or (_GPU_BATCH_TOKENS if on_gpu else _CPU_BATCH_TOKENS)
    )
    if batch_tokens < info.max_input_length:
        log.warning(
            "max batch tokens %d is below the model's max input length %d; raising it",
            batch_tokens,
            info.max_input_length,
        )
        batch_tokens = info.max_input_length
    return ServiceLimits(
        max_input_length=info.max_input_length,
        max_batch_tokens=batch_tokens,
        max_batch_requests=settings.max_batch_requests
        or (_GPU_BATCH_REQUESTS if on_gpu else _CPU_BATCH_REQUESTS),
        max_client_batch_size=settings.max_client_batch_size,
        max_concurrent_requests=settings.max_concurrent_requests,
        batch_overhead_tokens=settings.batch_overhead_tokens
        if settings.batch_overhead_tokens is not None
        else (_GPU_OVERHEAD_TOKENS if on_gpu else _CPU_OVERHEAD_TOKENS),
        auto_truncate=settings.auto_truncate,
    )
