"""The process's event loop (uvloop when it is installed, the default, else asyncio's own) and
its heap once started.

uvloop (libuv) runs the same asyncio programs with a cheaper loop: fewer Python-level steps per
callback, socket read and write. grpc.aio works on it unchanged (it drives its completion queue
from its own poller thread and wakes the loop like any other thread would). Measured with
``benchmarks/overhead.py``; ``--event-loop asyncio`` keeps the standard loop.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

EVENT_LOOPS = ("auto", "uvloop", "asyncio")


def uvloop_available() -> bool:
    """Whether uvloop can be imported."""
    return importlib.util.find_spec("uvloop") is not None


def resolve_event_loop(kind: str) -> str:
    """``uvloop`` or ``asyncio`` for a setting of ``auto``, ``uvloop`` or ``asyncio``.

    Raises ValueError for an unknown name, or for ``uvloop`` when it is not installed.
    """
    name = kind.strip().lower()
    if name not in EVENT_LOOPS:
        raise ValueError(f"unknown event loop {kind!r}; expected one of {', '.join(EVENT_LOOPS)}")
    if name == "auto":
        return "uvloop" if uvloop_available() else "asyncio"
    if name == "uvloop" and not uvloop_available():
        raise ValueError("--event-loop uvloop: uvloop is not installed (pip install uvloop)")
    return name


def run_event_loop(main: Coroutine[Any, Any, T], kind: str = "auto") -> T:
    """Run ``main`` to completion on a new event loop of the given kind (see
    :func:`resolve_event_loop`), like :func:`asyncio.run`."""
    try:
        resolved = resolve_event_loop(kind)
    except ValueError:
        main.close()  # never started: no "coroutine was never awaited" warning
        raise
    if resolved == "uvloop":
        try:
            import uvloop
        except ImportError:  # found but broken: asyncio's loop rather than no server
            if kind.strip().lower() == "uvloop":
                main.close()
                raise
            return asyncio.run(main)
        runner = getattr(asyncio, "Runner", None)  # Python 3.11+
        if runner is not None:
            with runner(loop_factory=uvloop.new_event_loop) as loop_runner:
                result: T = loop_runner.run(main)
                return result
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # Python 3.10
        try:
            return asyncio.run(main)
        finally:
            asyncio.set_event_loop_policy(None)
    return asyncio.run(main)


def settle_heap() -> None:
    """Call once start-up is over: collect, then take every object alive now (the model, torch,
    transformers, the web framework: millions of objects) out of the cyclic garbage collector's
    reach (``gc.freeze``). Otherwise every full collection walks them all while the event loop
    waits: with a torch engine that showed as a 5-token REST request's p99 at ~3x its p50, and
    ~15 % of the loop's CPU (``benchmarks/OVERHEAD.md``). Objects are still freed by reference
    counting as usual; only cycles among objects alive now are never collected."""
    gc.collect()
    gc.freeze()
