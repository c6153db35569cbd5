"""Loading one model into a service core: engine, limits, warm-up and precision self-check.

The server (:mod:`ember.service.server`) and ``ember batch`` (:mod:`ember.service.bulk`) load
models the same way, so a model behaves the same served or run over a corpus.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from ember.engines.base import Engine
from ember.engines.config import EngineConfig
from ember.service.core import Core
from ember.service.limits import ServiceLimits, resolve_limits
from ember.service.settings import ServerSettings
from ember.service.threads import SharedThreads

EngineLoader = Callable[[EngineConfig], Engine]


def default_loader(config: EngineConfig) -> Engine:
    """The registry's engine for ``config`` (heavy imports happen in the calling thread)."""
    from ember.engines.registry import load_engine

    return load_engine(config)


async def load_core(
    config: EngineConfig,
    settings: ServerSettings,
    threads: SharedThreads,
    loader: EngineLoader = default_loader,
    *,
    min_client_batch_size: int = 0,
) -> Core:
    """Load, warm up and (for a reduced CPU precision) self-check one model off the event loop.

    ``settings``: the settings with that model's own options. ``min_client_batch_size`` raises
    the per-call input limit (``ember batch`` sends a whole part in one call).
    """
    loop = asyncio.get_running_loop()
    engine = await loop.run_in_executor(None, loader, config)
    info = engine.info
    # Engines that know their device's free memory (CUDA) size the token budget.
    suggest = getattr(engine, "suggested_batch_tokens", None)
    suggested = suggest() if callable(suggest) else None
    limits: ServiceLimits = resolve_limits(
        settings, info, suggested_batch_tokens=suggested if isinstance(suggested, int) else None
    )
    if limits.max_client_batch_size < min_client_batch_size:
        limits = dataclasses.replace(limits, max_client_batch_size=min_client_batch_size)
    try:
        await loop.run_in_executor(
            None, engine.warmup, limits.max_batch_tokens, limits.max_batch_requests
        )
        check = None
        if settings.precision_check:
            # The float32 reference is always a real engine (never the injected loader's).
            from ember.engines.registry import load_engine
            from ember.engines.selfcheck import self_check

            check = await loop.run_in_executor(None, self_check, engine, config, load_engine)
    except BaseException:
        engine.close()
        raise
    return Core(engine, limits, threads, check)
