"""A preempted forward on the real MiniLM engines (ONNX Runtime and torch): it stops with
PreemptedError, and the engine's next forward is exactly right (no timing asserted)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ember.engines.base import Engine
from ember.engines.config import EngineConfig
from ember.engines.preempt import Preempt, PreemptedError
from ember.engines.registry import load_engine
from ember.engines.torch_engine import TorchEngine, _layers
from ember.engines.types import Encoding, TruncationSide, VectorOutput


def _batch(engine: Engine) -> list[Encoding]:
    texts = [f"row {i}: " + "ember stops a background batch for an interactive one " * 20
             for i in range(32)]  # fmt: skip
    return engine.tokenizer.encode(texts, truncate=True, side=TruncationSide.RIGHT)


def _rows(output: Any) -> np.ndarray[Any, Any]:
    assert isinstance(output, VectorOutput)
    return output.rows


def test_onnx_runtime_terminates_the_run_and_serves_the_next(minilm_engine: Engine) -> None:
    assert minilm_engine.info.backend == "onnx"
    batch = _batch(minilm_engine)
    expected = _rows(minilm_engine.forward(batch[:4]))
    preempt = Preempt()
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            minilm_engine.forward(batch, preempt)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    # Set the preempt once the run has registered its terminate action, so that it is
    # ONNX Runtime's terminate flag (not the check before the run) that stops it.
    with preempt.on_set(lambda: None):
        thread.start()
        while not outcome and len(preempt._actions) < 2:
            threading.Event().wait(0.001)
        preempt.set()
    thread.join(60)
    assert len(outcome) == 1
    assert isinstance(outcome[0], PreemptedError), outcome
    again = _rows(minilm_engine.forward(batch[:4]))
    np.testing.assert_array_equal(again, expected)


def test_a_preempt_set_before_the_forward_stops_it_at_once(minilm_engine: Engine) -> None:
    preempt = Preempt()
    preempt.set()
    with pytest.raises(PreemptedError):
        minilm_engine.forward(_batch(minilm_engine), preempt)


def test_torch_stops_before_the_next_encoder_layer_and_serves_the_next(minilm_path: Path) -> None:
    engine = load_engine(EngineConfig(model_path=minilm_path, device="cpu", backend="torch"))
    assert isinstance(engine, TorchEngine)
    batch = _batch(engine)
    expected = _rows(engine.forward(batch[:4]))
    layers = _layers(engine._model)
    assert len(layers) == 6
    ran: list[int] = []
    preempt = Preempt()

    def after_layer(module: Any, args: Any, output: Any) -> None:
        ran.append(1)
        preempt.set()  # as another thread would, while the model runs

    hook = layers[0].register_forward_hook(after_layer)
    try:
        with pytest.raises(PreemptedError):
            engine.forward(batch, preempt)
    finally:
        hook.remove()
    assert ran == [1]  # the first layer ran, the second never started
    np.testing.assert_array_equal(_rows(engine.forward(batch[:4])), expected)
    engine.close()
