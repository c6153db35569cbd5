"""The process runtime helpers: which event loop runs, and the heap settled after start-up."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from ember.service import runtime


def test_auto_picks_uvloop_when_installed() -> None:
    expected = "uvloop" if runtime.uvloop_available() else "asyncio"
    assert runtime.resolve_event_loop("auto") == expected
    assert runtime.resolve_event_loop(" AsyncIO ") == "asyncio"


def test_unknown_loop_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event loop"):
        runtime.resolve_event_loop("trio")


def test_uvloop_refused_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "uvloop_available", lambda: False)
    with pytest.raises(ValueError, match="not installed"):
        runtime.resolve_event_loop("uvloop")
    assert runtime.resolve_event_loop("auto") == "asyncio"


@pytest.mark.parametrize("kind", ["asyncio", "auto"])
def test_run_event_loop_runs_on_the_chosen_loop(kind: str) -> None:
    async def loop_type() -> str:
        return type(asyncio.get_running_loop()).__module__

    module = runtime.run_event_loop(loop_type(), kind)
    if runtime.resolve_event_loop(kind) == "uvloop":
        assert module.startswith("uvloop")
    else:
        assert module.startswith("asyncio")


def test_a_refused_loop_leaves_no_unawaited_coroutine() -> None:
    async def never() -> None:  # pragma: no cover - must not run
        raise AssertionError

    coro = never()
    with pytest.raises(ValueError, match="unknown event loop"):
        runtime.run_event_loop(coro, "nope")
    assert coro.cr_frame is None  # closed, not left pending


@pytest.fixture
def unfreeze() -> Iterator[None]:
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfreeze")
def test_settle_heap_freezes_what_is_alive() -> None:
    kept = [[i] for i in range(1000)]
    gc.unfreeze()
    runtime.settle_heap()
    assert gc.get_freeze_count() >= len(kept)
